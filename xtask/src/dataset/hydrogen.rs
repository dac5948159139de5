//! A sampler for Hydrogen drum kits (`drumkit.xml` + WAV/FLAC/AIFF samples), so the training
//! data has real multi-sampled acoustic and electronic kits besides SoundFont percussion.
//!
//! Hydrogen kits name their instruments freely ("Kick Lite 1", "Sabian Hat Pedal", "c3 - bass
//! drum 1") and many leave `midiOutNote` unset, so instruments are mapped to drum [`Part`]s by
//! name. A kit is usable when it has at least a kick, a snare and a closed hi-hat. Where a kit has
//! several instruments for one part (e.g. twelve kicks), the song's generator picks one per song
//! ([`HydrogenKit::variant`]), which multiplies the number of distinct kits the model hears.
//!
//! Playback follows Hydrogen's defaults: one-shot samples (note-offs are ignored), the velocity
//! layer whose `[min, max]` range holds `velocity / 127`, linear velocity gain, the layer's and
//! instrument's pitch offsets (semitones, by resampling), instrument volume/gain/pan, and an open
//! hi-hat choked by the next closed or pedal hi-hat.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::compose::Note;

/// Where the Debian packages `hydrogen-drumkits` and `hydrogen-data` put the kits.
pub const HYDROGEN_DIR: &str = "/usr/share/hydrogen/data/drumkits";

/// Kits never used for training: "The Black Pearl 1.0" is the same kit as the AVL Black Pearl
/// test kit.
pub const EXCLUDED_KITS: [&str; 1] = ["The Black Pearl 1.0"];

/// Kits of real recorded acoustic drums held out of training for the real-recording split
/// (`cargo xtask dataset --real N`): [`HydrogenKit::discover`] never returns them; only
/// [`HydrogenKit::discover_named`] does.
pub const REAL_KITS: [&str; 3] = ["BJA_Pacific", "ColomboAcousticDrumkit", "Millo_MultiLayered3"];

/// The drum parts the composer plays (by GM percussion key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Kick,
    SideStick,
    Snare,
    Clap,
    ClosedHat,
    PedalHat,
    OpenHat,
    LowTom,
    MidTom,
    HighTom,
    Crash,
    Ride,
    RideBell,
    Cowbell,
}

impl Part {
    /// The part a GM percussion key asks for, or `None` for keys no drum kit covers.
    pub fn of_key(key: u8) -> Option<Part> {
        Some(match key {
            35 | 36 => Part::Kick,
            37 => Part::SideStick,
            38 | 40 => Part::Snare,
            39 => Part::Clap,
            42 => Part::ClosedHat,
            44 => Part::PedalHat,
            46 => Part::OpenHat,
            41 | 43 => Part::LowTom,
            45 | 47 => Part::MidTom,
            48 | 50 => Part::HighTom,
            49 | 52 | 55 | 57 => Part::Crash,
            51 | 59 => Part::Ride,
            53 => Part::RideBell,
            56 => Part::Cowbell,
            _ => return None,
        })
    }

    /// Parts to try, in order, when a kit lacks this one.
    fn fallbacks(self) -> &'static [Part] {
        match self {
            Part::Kick => &[Part::Kick],
            Part::SideStick => &[Part::SideStick, Part::Snare],
            Part::Snare => &[Part::Snare],
            Part::Clap => &[Part::Clap, Part::Snare],
            Part::ClosedHat => &[Part::ClosedHat, Part::PedalHat],
            Part::PedalHat => &[Part::PedalHat, Part::ClosedHat],
            Part::OpenHat => &[Part::OpenHat, Part::ClosedHat],
            Part::LowTom => &[Part::LowTom, Part::MidTom, Part::HighTom],
            Part::MidTom => &[Part::MidTom, Part::LowTom, Part::HighTom],
            Part::HighTom => &[Part::HighTom, Part::MidTom, Part::LowTom],
            Part::Crash => &[Part::Crash, Part::Ride],
            Part::Ride => &[Part::Ride, Part::Crash, Part::ClosedHat],
            Part::RideBell => &[Part::RideBell, Part::Ride, Part::Cowbell],
            Part::Cowbell => &[Part::Cowbell, Part::RideBell],
        }
    }

    /// The part an instrument name describes, if any.
    pub fn from_name(name: &str) -> Option<Part> {
        let n = name.to_lowercase();
        let words: Vec<&str> = n.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let has = |s: &str| n.contains(s);
        let word = |s: &str| words.contains(&s);
        // Order matters: "ride bell" before "bell", "side stick" before "snare", "hat" before "open".
        if has("cowbell") {
            Some(Part::Cowbell)
        } else if has("kick") || has("bass drum") || has("bassdrum") || word("bd") {
            Some(Part::Kick)
        } else if has("stick") || has("rim click") || has("rimclick") {
            Some(Part::SideStick)
        } else if has("clap") {
            Some(Part::Clap)
        } else if has("snare") || word("sd") {
            Some(Part::Snare)
        } else if has("hat") || word("hh") || word("ohh") || word("chh") {
            if has("pedal") || word("pd") || has("foot") {
                Some(Part::PedalHat)
            } else if has("open") || word("op") || word("ohh") {
                Some(Part::OpenHat)
            } else if has("choke") || has("swish") {
                None
            } else {
                Some(Part::ClosedHat)
            }
        } else if has("tom") {
            if has("floor") || word("low") || word("lo") {
                Some(Part::LowTom)
            } else if word("mid") || word("2") {
                Some(Part::MidTom)
            } else {
                Some(Part::HighTom)
            }
        } else if has("ride") {
            if has("bell") || has("cup") {
                Some(Part::RideBell)
            } else {
                Some(Part::Ride)
            }
        } else if has("crash") || has("splash") || has("cymbal") || has("china") {
            Some(Part::Crash)
        } else if word("bell") {
            Some(Part::RideBell)
        } else {
            None
        }
    }
}

/// One velocity layer of an instrument.
#[derive(Debug, Clone)]
struct Layer {
    /// Velocity range (0–1) the layer answers.
    min: f32,
    max: f32,
    /// Linear gain.
    gain: f32,
    /// Pitch offset in semitones.
    pitch: f32,
    /// Sample file.
    file: PathBuf,
}

/// One instrument of a kit.
#[derive(Debug, Clone)]
pub struct Instrument {
    /// Name as the kit gives it.
    pub name: String,
    /// The part it plays.
    pub part: Part,
    /// Linear gain (volume × gain × component gain).
    gain: f32,
    /// Pan −1 (left) … +1 (right).
    pan: f32,
    /// Pitch offset in semitones.
    pitch: f32,
    /// Velocity layers.
    layers: Vec<Layer>,
}

/// A decoded sample at the render rate: `[ch][frame]`, stereo.
type Sample = Arc<[Vec<f32>; 2]>;

/// A parsed Hydrogen kit. Samples are decoded lazily, once per sample rate.
pub struct HydrogenKit {
    /// Kit name (the folder name).
    pub name: String,
    /// Kit folder.
    pub dir: PathBuf,
    /// Instruments grouped by part, in kit order.
    pub parts: BTreeMap<Part, Vec<Instrument>>,
    samples: Mutex<BTreeMap<(PathBuf, u32), Sample>>,
}

impl std::fmt::Debug for HydrogenKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HydrogenKit").field("name", &self.name).field("parts", &self.parts.keys()).finish()
    }
}

/// The instruments a song uses: one per part.
#[derive(Debug, Clone)]
pub struct Variant {
    chosen: BTreeMap<Part, usize>,
    /// Human-readable description for the song metadata.
    pub description: String,
}

fn child<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<roxmltree::Node<'a, 'a>> {
    node.children().find(|c| c.tag_name().name() == name)
}

fn text<'a>(node: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|c| c.text()).map(str::trim)
}

fn num(node: roxmltree::Node<'_, '_>, name: &str, default: f32) -> f32 {
    text(node, name).and_then(|t| t.parse::<f32>().ok()).filter(|v| v.is_finite()).unwrap_or(default)
}

fn layer_of(node: roxmltree::Node<'_, '_>, dir: &Path) -> Option<Layer> {
    let file = text(node, "filename").filter(|f| !f.is_empty())?;
    let path = dir.join(file);
    path.is_file().then(|| Layer {
        min: num(node, "min", 0.0),
        max: num(node, "max", 1.0),
        gain: num(node, "gain", 1.0),
        pitch: num(node, "pitch", 0.0),
        file: path,
    })
}

impl HydrogenKit {
    /// Parses `dir/drumkit.xml` (Hydrogen 0.9.3 and later formats: layers directly in the
    /// instrument, in `instrumentComponent`s, or a single `filename`).
    pub fn open(dir: &Path) -> Result<Self> {
        let xml_path = dir.join("drumkit.xml");
        let xml = std::fs::read_to_string(&xml_path).with_context(|| format!("cannot read {}", xml_path.display()))?;
        let doc =
            roxmltree::Document::parse(&xml).with_context(|| format!("{} is not valid XML", xml_path.display()))?;
        let root = doc.root_element();
        if root.tag_name().name() != "drumkit_info" {
            bail!("{}: not a Hydrogen drumkit (root <{}>)", xml_path.display(), root.tag_name().name());
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let list =
            child(root, "instrumentList").ok_or_else(|| anyhow!("{}: no <instrumentList>", xml_path.display()))?;
        let mut parts: BTreeMap<Part, Vec<Instrument>> = BTreeMap::new();
        for ins in list.children().filter(|c| c.tag_name().name() == "instrument") {
            let iname = text(ins, "name").unwrap_or("").to_string();
            let Some(part) = Part::from_name(&iname) else { continue };
            if text(ins, "isMuted") == Some("true") {
                continue;
            }
            let mut layers = Vec::new();
            let mut comp_gain = 1.0;
            for c in ins.children() {
                match c.tag_name().name() {
                    "layer" => layers.extend(layer_of(c, dir)),
                    "instrumentComponent" => {
                        comp_gain = num(c, "gain", 1.0);
                        layers.extend(
                            c.children().filter(|l| l.tag_name().name() == "layer").filter_map(|l| layer_of(l, dir)),
                        );
                    }
                    _ => {}
                }
            }
            if layers.is_empty() {
                // Oldest format: one sample per instrument.
                layers.extend(layer_of(ins, dir));
            }
            if layers.is_empty() {
                continue;
            }
            let pan = if child(ins, "pan").is_some() {
                num(ins, "pan", 0.0).clamp(-1.0, 1.0)
            } else {
                // pan_L / pan_R are per-side gains in 0–1.
                let (l, r) = (num(ins, "pan_L", 1.0), num(ins, "pan_R", 1.0));
                if l + r > 0.0 {
                    (r - l) / (l.max(r))
                } else {
                    0.0
                }
            };
            layers.sort_by(|a, b| a.min.total_cmp(&b.min));
            parts.entry(part).or_default().push(Instrument {
                name: iname,
                part,
                gain: num(ins, "volume", 1.0) * num(ins, "gain", 1.0) * comp_gain,
                pan,
                pitch: num(ins, "pitchOffset", 0.0),
                layers,
            });
        }
        Ok(HydrogenKit { name, dir: dir.to_path_buf(), parts, samples: Mutex::new(BTreeMap::new()) })
    }

    /// Whether the kit can play a drum-set groove: kick, snare and closed hi-hat.
    pub fn is_drum_set(&self) -> bool {
        [Part::Kick, Part::Snare, Part::ClosedHat].iter().all(|p| self.parts.contains_key(p))
    }

    /// Every usable training kit under `dir` (sorted by name), except [`EXCLUDED_KITS`],
    /// [`REAL_KITS`] and kits without a full drum set (hand percussion, djembe ensembles). Kits
    /// that fail to parse are skipped with a note on stderr.
    pub fn discover(dir: &Path) -> Result<Vec<Arc<HydrogenKit>>> {
        Self::scan(dir, |name| !EXCLUDED_KITS.contains(&name) && !REAL_KITS.contains(&name))
    }

    /// The kits under `dir` named in `names` (e.g. [`REAL_KITS`]); an error names any that is
    /// missing or not a full drum set.
    pub fn discover_named(dir: &Path, names: &[&str]) -> Result<Vec<Arc<HydrogenKit>>> {
        let kits = Self::scan(dir, |name| names.contains(&name))?;
        for n in names {
            if !kits.iter().any(|k| k.name == *n) {
                anyhow::bail!(
                    "Hydrogen kit {n:?} is not a usable kit in {} (install hydrogen-drumkits)",
                    dir.display()
                );
            }
        }
        Ok(kits)
    }

    fn scan(dir: &Path, wanted: impl Fn(&str) -> bool) -> Result<Vec<Arc<HydrogenKit>>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("drumkit.xml").is_file())
            .collect();
        names.sort();
        let mut kits = Vec::new();
        for p in names {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !wanted(&name) {
                continue;
            }
            match HydrogenKit::open(&p) {
                Ok(k) if k.is_drum_set() => kits.push(Arc::new(k)),
                Ok(_) => {}
                Err(e) => eprintln!("note: skipping Hydrogen kit {}: {e:#}", p.display()),
            }
        }
        Ok(kits)
    }

    /// Picks one instrument per part for a song.
    pub fn variant(&self, rng: &mut ChaCha8Rng) -> Variant {
        let mut chosen = BTreeMap::new();
        let mut names = Vec::new();
        for (part, list) in &self.parts {
            let i = if list.len() > 1 { rng.gen_range(0..list.len()) } else { 0 };
            chosen.insert(*part, i);
            names.push(list[i].name.clone());
        }
        Variant { chosen, description: format!("hydrogen:{} [{}]", self.name, names.join(", ")) }
    }

    fn instrument(&self, v: &Variant, part: Part) -> Option<&Instrument> {
        part.fallbacks().iter().find_map(|p| self.parts.get(p).map(|list| &list[v.chosen.get(p).copied().unwrap_or(0)]))
    }

    fn sample(&self, file: &Path, rate: u32) -> Result<Sample> {
        let key = (file.to_path_buf(), rate);
        if let Some(s) = self.samples.lock().map_err(|_| anyhow!("sample cache poisoned"))?.get(&key) {
            return Ok(s.clone());
        }
        let (from, chans) = decode(file)?;
        let chans = if from == rate {
            chans
        } else {
            dsp_core::resample::resample_offline(&chans, from, rate)
                .map_err(|e| anyhow!("{}: cannot resample {from} → {rate} Hz: {e}", file.display()))?
        };
        let stereo = match chans.len() {
            1 => [chans[0].clone(), chans[0].clone()],
            _ => [chans[0].clone(), chans[1].clone()],
        };
        let s: Sample = Arc::new(stereo);
        self.samples.lock().map_err(|_| anyhow!("sample cache poisoned"))?.insert(key, s.clone());
        Ok(s)
    }

    /// Renders drum `notes` (GM percussion keys) with the instruments of `variant`, `frames`
    /// long at `rate`, panned around `pan` (MIDI 0–127, 64 = centre). Keys no part covers are
    /// skipped.
    pub fn render(
        &self,
        notes: &[Note],
        variant: &Variant,
        rate: u32,
        frames: usize,
        pan: u8,
    ) -> Result<[Vec<f32>; 2]> {
        let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
        let onset = |n: &Note| (n.start * rate as f64).round().max(0.0) as usize;
        // Chokes: an open hi-hat stops at the next closed or pedal hi-hat.
        let hat_closes: Vec<usize> = notes
            .iter()
            .filter(|n| matches!(Part::of_key(n.key), Some(Part::ClosedHat | Part::PedalHat)))
            .map(onset)
            .collect();
        let fade = (rate as usize / 200).max(1); // 5 ms
        let track_pan = (pan as f32 - 64.0) / 64.0;
        for n in notes {
            let Some(part) = Part::of_key(n.key) else { continue };
            let Some(ins) = self.instrument(variant, part) else { continue };
            let start = onset(n);
            if start >= frames {
                continue;
            }
            let v = n.vel as f32 / 127.0;
            let layer = ins
                .layers
                .iter()
                .find(|l| v >= l.min && v <= l.max)
                .or_else(|| {
                    ins.layers.iter().min_by(|a, b| {
                        let d = |l: &Layer| (l.min - v).abs().min((l.max - v).abs());
                        d(a).total_cmp(&d(b))
                    })
                })
                .ok_or_else(|| anyhow!("{}: instrument {} has no layers", self.name, ins.name))?;
            let sample = self.sample(&layer.file, rate)?;
            let mut end = (start + sample[0].len()).min(frames);
            if ins.part == Part::OpenHat {
                if let Some(&c) = hat_closes.iter().find(|&&c| c > start) {
                    end = end.min(c + fade);
                }
            }
            let p = (ins.pan + track_pan).clamp(-1.0, 1.0);
            let angle = (p + 1.0) * std::f32::consts::FRAC_PI_4;
            let g = v * layer.gain * ins.gain * std::f32::consts::SQRT_2;
            let (gl, gr) = (g * angle.cos(), g * angle.sin());
            let step = 2f64.powf((layer.pitch + ins.pitch) as f64 / 12.0);
            let choke_at = end.saturating_sub(fade);
            for (i, t) in (start..end).enumerate() {
                let pos = i as f64 * step;
                let k = pos as usize;
                if k + 1 >= sample[0].len() {
                    break;
                }
                let frac = (pos - k as f64) as f32;
                let env =
                    if end < start + sample[0].len() && t >= choke_at { (end - t) as f32 / fade as f32 } else { 1.0 };
                let l = sample[0][k] + frac * (sample[0][k + 1] - sample[0][k]);
                let r = sample[1][k] + frac * (sample[1][k + 1] - sample[1][k]);
                out[0][t] += l * gl * env;
                out[1][t] += r * gr * env;
            }
        }
        Ok(out)
    }
}

/// Decodes a WAV, FLAC or AIFF file to `(sample rate, [channel][frame])`.
pub fn decode(path: &Path) -> Result<(u32, Vec<Vec<f32>>)> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::DecoderOptions;
    use symphonia::core::errors::Error;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &FormatOptions::default(), &MetadataOptions::default())
        .with_context(|| format!("{}: unsupported or corrupt audio file", path.display()))?;
    let mut format = probed.format;
    let track = format.default_track().ok_or_else(|| anyhow!("{}: no audio track", path.display()))?;
    let id = track.id;
    let rate = track.codec_params.sample_rate.ok_or_else(|| anyhow!("{}: unknown sample rate", path.display()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .with_context(|| format!("{}: unsupported codec", path.display()))?;
    let mut chans: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
        };
        if packet.track_id() != id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            Err(Error::DecodeError(_)) => continue, // a damaged packet: skip it, as players do
            Err(e) => return Err(e).with_context(|| format!("{}: cannot decode", path.display())),
        };
        let spec = *decoded.spec();
        let n = spec.channels.count();
        if chans.is_empty() {
            chans = vec![Vec::new(); n];
        }
        let mut buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        for frame in buf.samples().chunks_exact(n) {
            for (c, x) in chans.iter_mut().zip(frame) {
                c.push(*x);
            }
        }
    }
    if chans.is_empty() || chans[0].is_empty() {
        bail!("{}: no audio decoded", path.display());
    }
    Ok((rate, chans))
}
