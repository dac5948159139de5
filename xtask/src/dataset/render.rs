//! Rendering composed songs to multitrack audio with SoundFonts (rustysynth), per-stem
//! augmentation, master processing applied identically to every stem, and labels derived from
//! the stems.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use biquad::{Biquad, Coefficients, DirectForm2Transposed, ToHertz, Type};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rustysynth::{SoundFont, Synthesizer, SynthesizerSettings};

use super::chain::{self, Chain};
use super::classes::{ActivityRow, Class, CLASSES, PROGRAMS, VARIATIONS};
use super::compose::{Role, Song, Track};
use super::gus::GusBank;
use super::hydrogen::HydrogenKit;

/// Frames per second of the activity labels.
pub const LABEL_RATE: usize = 100;

/// A drum kit: a percussion preset (bank 128) of a SoundFont, or a whole single-kit SoundFont
/// whose only preset (bank 0, program 0) maps GM drum keys (the AVL kits).
#[derive(Debug, Clone)]
pub struct Kit {
    /// Index into [`TimbreSet::fonts`].
    pub font: usize,
    /// Percussion preset number, or `None` for a single-kit font played on a melodic channel.
    pub preset: Option<u8>,
    /// Display name.
    pub name: String,
    /// A Hydrogen kit played by the sampler instead of a SoundFont preset (`font` unused).
    pub hydrogen: Option<Arc<HydrogenKit>>,
}

/// Which SoundFont synthesizer renders a timbre set's fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Engine {
    /// rustysynth: fast, but ignores the fonts' modulators (SoundFont 2.01 §8.2); fonts that
    /// shape their sound with them (MuseScore General's pianos open a 300 Hz low-pass by
    /// velocity) come out muffled.
    RustySynth,
    /// oxisynth, a port of FluidSynth: applies the default and the fonts' own modulators, so
    /// fonts made for FluidSynth/MuseScore sound as their authors voiced them.
    OxiSynth,
    /// Either, by a fair coin per track: the same presets in two renderings, so a model does not
    /// learn one engine's voicing of a font as the instrument.
    Mixed,
}

/// The synthesizer that renders one track: what [`Engine`] resolves to per track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackEngine {
    RustySynth,
    OxiSynth,
}

impl Engine {
    /// Parses `rustysynth`, `oxisynth` or `mixed`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "rustysynth" => Ok(Engine::RustySynth),
            "oxisynth" => Ok(Engine::OxiSynth),
            "mixed" => Ok(Engine::Mixed),
            other => bail!("unknown synthesizer {other:?} (rustysynth, oxisynth, mixed)"),
        }
    }
}

/// A SoundFont for oxisynth. oxisynth's synthesizer owns the fonts it plays and a font cannot
/// be cloned, so loaded copies are kept in a pool: a track takes one (loading it the first
/// time a worker needs it), its synthesizer gives it back.
pub struct OxiFont {
    path: PathBuf,
    pool: Mutex<Vec<oxisynth::SoundFont>>,
}

impl OxiFont {
    /// Loads `path` once (so a broken file fails here, not in a worker) and pools the copy.
    pub fn open(path: &Path) -> Result<Self> {
        let first = Self::load(path)?;
        Ok(OxiFont { path: path.to_path_buf(), pool: Mutex::new(vec![first]) })
    }

    fn load(path: &Path) -> Result<oxisynth::SoundFont> {
        let mut f = std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        );
        oxisynth::SoundFont::load(&mut f)
            .map_err(|e| anyhow::anyhow!("{} is not a usable SoundFont: {e:?}", path.display()))
    }

    fn take(&self) -> Result<oxisynth::SoundFont> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        match pooled {
            Some(f) => Ok(f),
            None => Self::load(&self.path),
        }
    }

    fn give(&self, f: oxisynth::SoundFont) {
        if let Ok(mut p) = self.pool.lock() {
            p.push(f);
        }
    }
}

/// The timbres one split may use.
pub struct TimbreSet {
    /// Split name this set belongs to.
    pub name: &'static str,
    /// Loaded SoundFonts with their file names.
    pub fonts: Vec<(String, Arc<SoundFont>)>,
    /// Indices of fonts used for melodic instruments.
    pub melodic: Vec<usize>,
    /// Drum kits.
    pub kits: Vec<Kit>,
    /// Variation presets the melodic fonts offer: `(font index, bank, program, class)`.
    pub variations: Vec<(usize, u16, u8, Class)>,
    /// Probability that a melodic track whose font offers variations of its class plays one
    /// of them instead of its GM program.
    pub variation_prob: f64,
    /// A bank of GUS patches (freepats) played by the sampler in [`super::gus`], one more
    /// melodic source beside the fonts for every class it has a program of.
    pub gus: Option<Arc<GusBank>>,
    /// The synthesizer that renders [`Self::fonts`].
    pub engine: Engine,
    /// With [`Engine::OxiSynth`] or [`Engine::Mixed`]: the fonts for oxisynth, same order as [`Self::fonts`] (which
    /// still lists presets and kits).
    pub oxi: Vec<Arc<OxiFont>>,
}

/// Default for [`TimbreSet::variation_prob`] (`cargo xtask dataset --variations`).
pub const DEFAULT_VARIATION_PROB: f64 = 0.35;

/// Where the Debian packages put the SoundFonts.
pub const SF2_DIR: &str = "/usr/share/sounds/sf2";

fn load_font(dir: &Path, file: &str, package: &str) -> Result<Arc<SoundFont>> {
    let path = dir.join(file);
    let mut f = std::fs::File::open(&path)
        .with_context(|| format!("cannot open {} (install the Debian package {package})", path.display()))?;
    let sf =
        SoundFont::new(&mut f).map_err(|e| anyhow::anyhow!("{} is not a usable SoundFont: {e:?}", path.display()))?;
    Ok(Arc::new(sf))
}

impl TimbreSet {
    /// Training/validation timbres: FluidR3 GM, TimGM6mb and csound's sf_GMbank, with all their
    /// percussion kits. The test timbres (MuseScore General, AVL kits) are never loaded here.
    ///
    /// Fonts that are not installed are skipped (with a note), so a small machine can render
    /// with just TimGM6mb; `dataset.json` records which fonts were used. At least one is needed.
    pub fn training(dir: &Path) -> Result<Self> {
        let specs = [
            ("FluidR3_GM.sf2", "fluid-soundfont-gm"),
            ("TimGM6mb.sf2", "timgm6mb-soundfont"),
            ("sf_GMbank.sf2", "csound-soundfont"),
        ];
        let mut fonts = Vec::new();
        let mut missing = Vec::new();
        for (file, pkg) in specs {
            if dir.join(file).is_file() {
                fonts.push((file.to_string(), load_font(dir, file, pkg)?));
            } else {
                missing.push(format!("{file} (package {pkg})"));
            }
        }
        if fonts.is_empty() {
            bail!("no training SoundFont in {}: install at least one of {}", dir.display(), missing.join(", "));
        }
        if !missing.is_empty() {
            eprintln!("note: training timbres without {}", missing.join(", "));
        }
        let mut kits = Vec::new();
        for (i, (name, sf)) in fonts.iter().enumerate() {
            for p in sf.get_presets() {
                // Percussion kits only; the SFX and orchestra kits are not drum kits.
                if p.get_bank_number() == 128 && !matches!(p.get_patch_number(), 48 | 56) {
                    kits.push(Kit {
                        font: i,
                        preset: Some(p.get_patch_number() as u8),
                        name: format!("{name}:{}", p.get_name()),
                        hydrogen: None,
                    });
                }
            }
        }
        kits.sort_by(|a, b| a.name.cmp(&b.name));
        let mut variations = Vec::new();
        for (i, (_, sf)) in fonts.iter().enumerate() {
            for &(bank, program, class) in VARIATIONS {
                let present = sf
                    .get_presets()
                    .iter()
                    .any(|p| p.get_bank_number() == bank as i32 && p.get_patch_number() == program as i32);
                if present {
                    variations.push((i, bank, program, class));
                }
            }
        }
        Ok(TimbreSet {
            name: "train",
            melodic: (0..fonts.len()).collect(),
            fonts,
            kits,
            variations,
            variation_prob: DEFAULT_VARIATION_PROB,
            gus: None,
            engine: Engine::RustySynth,
            oxi: Vec::new(),
        })
    }

    /// Test timbres, never used for training or tuning: MuseScore General (lossless) for melodic
    /// instruments and the AVL Black Pearl and Red Zeppelin kits for drums, rendered by oxisynth
    /// (MuseScore General is voiced for FluidSynth's modulators, see [`Engine`]).
    pub fn test(dir: &Path) -> Result<Self> {
        let fonts = vec![
            (
                "MuseScore_General_Full.sf2".to_string(),
                load_font(dir, "MuseScore_General_Full.sf2", "musescore-general-soundfont-lossless")?,
            ),
            ("Black_Pearl_4_LV2.sf2".to_string(), load_font(dir, "Black_Pearl_4_LV2.sf2", "avldrums.lv2-soundfont")?),
            ("Red_Zeppelin_4_LV2.sf2".to_string(), load_font(dir, "Red_Zeppelin_4_LV2.sf2", "avldrums.lv2-soundfont")?),
        ];
        let kits = vec![
            Kit { font: 1, preset: None, name: "AVL Black Pearl".into(), hydrogen: None },
            Kit { font: 2, preset: None, name: "AVL Red Zeppelin".into(), hydrogen: None },
        ];
        TimbreSet {
            name: "test",
            melodic: vec![0],
            fonts,
            kits,
            variations: Vec::new(),
            variation_prob: 0.0,
            gus: None,
            engine: Engine::RustySynth,
            oxi: Vec::new(),
        }
        .with_engine(dir, Engine::OxiSynth)
    }

    /// Real-recording timbres, never used for training or tuning: the freepats GUS patches
    /// (samples of real instruments, played by the GUS sampler in [`super::gus`]) for every
    /// melodic class, and the Hydrogen kits in [`super::hydrogen::REAL_KITS`] (recorded acoustic
    /// drums) for drums. No SoundFont is loaded: the split measures how a model trained on
    /// SoundFont renders copes with recorded instruments.
    pub fn real(gus_dir: &Path, hydrogen_dir: &Path) -> Result<Self> {
        if !gus_dir.is_dir() {
            bail!(
                "the real-recording split needs the freepats GUS patches in {} (install freepats)",
                gus_dir.display()
            );
        }
        let kits = HydrogenKit::discover_named(hydrogen_dir, &super::hydrogen::REAL_KITS)?
            .into_iter()
            .map(|k| Kit { font: 0, preset: None, name: format!("hydrogen:{}", k.name), hydrogen: Some(k) })
            .collect();
        Ok(TimbreSet {
            name: "real",
            fonts: Vec::new(),
            melodic: Vec::new(),
            kits,
            variations: Vec::new(),
            variation_prob: 0.0,
            gus: Some(Arc::new(GusBank::open(gus_dir)?)),
            engine: Engine::RustySynth,
            oxi: Vec::new(),
        })
    }

    /// Adds the Hydrogen kits under `dir` (see [`HydrogenKit::discover`]) to a training set.
    /// Returns how many were added; a missing folder adds none (with a note).
    pub fn add_hydrogen_kits(&mut self, dir: &Path) -> Result<usize> {
        if !self.accepts_training_dir(dir, "Hydrogen kits", "hydrogen-drumkits hydrogen-data")? {
            return Ok(0);
        }
        let found = HydrogenKit::discover(dir)?;
        let n = found.len();
        for k in found {
            self.kits.push(Kit { font: 0, preset: None, name: format!("hydrogen:{}", k.name), hydrogen: Some(k) });
        }
        Ok(n)
    }

    /// Whether a training-timbre folder of `what` can be added: an error for the held-out sets
    /// (test and real, which have their own timbres), `false` with a note naming the Debian
    /// `packages` when `dir` is missing.
    fn accepts_training_dir(&self, dir: &Path, what: &str, packages: &str) -> Result<bool> {
        if self.name == "test" || self.name == "real" {
            bail!("{what} are training timbres; the {} split has its own held-out timbres", self.name);
        }
        if !dir.is_dir() {
            eprintln!("note: no {what} ({} missing: install {packages})", dir.display());
            return Ok(false);
        }
        Ok(true)
    }

    /// Renders this set's fonts (read again from `dir`) with `engine`.
    pub fn with_engine(mut self, dir: &Path, engine: Engine) -> Result<Self> {
        self.oxi = match engine {
            Engine::RustySynth => Vec::new(),
            Engine::OxiSynth | Engine::Mixed => self
                .fonts
                .iter()
                .map(|(file, _)| OxiFont::open(&dir.join(file)).map(Arc::new))
                .collect::<Result<_>>()?,
        };
        self.engine = engine;
        Ok(self)
    }

    /// The engine that renders the next font track: the set's own, or with [`Engine::Mixed`] a
    /// fair coin (drawn from `rng` only then, so the other engines' renders stay as they were).
    fn draw_engine(&self, rng: &mut ChaCha8Rng) -> TrackEngine {
        match self.engine {
            Engine::Mixed if rng.gen_bool(0.5) => TrackEngine::OxiSynth,
            Engine::Mixed | Engine::RustySynth => TrackEngine::RustySynth,
            Engine::OxiSynth => TrackEngine::OxiSynth,
        }
    }

    /// Timbre description suffix naming the engine, where a set mixes them.
    fn engine_note(&self, engine: TrackEngine) -> &'static str {
        match (self.engine, engine) {
            (Engine::Mixed, TrackEngine::RustySynth) => " [rustysynth]",
            (Engine::Mixed, TrackEngine::OxiSynth) => " [oxisynth]",
            _ => "",
        }
    }

    /// The programs of `class`'s GM pool the GUS bank has (empty without a bank).
    pub fn gus_programs(&self, class: Class) -> Vec<u8> {
        match &self.gus {
            Some(g) => PROGRAMS[class.0].iter().copied().filter(|p| g.patch(*p).is_some()).collect(),
            None => Vec::new(),
        }
    }
}

/// Which augmentations to apply (all drawn from the song's seeded generator).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Augment {
    /// Random per-track gain (±, dB) on top of the composer's balance.
    pub gain: bool,
    /// Random peaking EQ per stem.
    pub eq: bool,
    /// Random reverb/chorus send per track (the SoundFont synthesizer's effects).
    pub reverb: bool,
    /// Master compression, gain computed on the mix and applied identically to every stem.
    pub compress: bool,
    /// Transposition of the whole song by −5…+6 semitones (exact pitch shift for MIDI data).
    pub pitch: bool,
    /// The recording chain ([`super::chain`]): rooms, microphones, compression, drive, noise,
    /// the player's velocity and note lengths, master colouration (`--chain`; off by default).
    #[serde(skip_serializing_if = "Chain::is_off")]
    pub chain: Chain,
    /// Fraction of the songs rendered without the recording chain (`--chain-clean`).
    #[serde(skip_serializing_if = "is_zero")]
    pub chain_clean: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Augment {
    /// Parses `gain,eq,reverb,compress,pitch` (or `all`, `none`).
    pub fn parse(s: &str) -> Result<Self> {
        let mut a = Augment::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => a = Augment { gain: true, eq: true, reverb: true, compress: true, pitch: true, ..a },
                "none" => a = Augment::default(),
                "gain" => a.gain = true,
                "eq" => a.eq = true,
                "reverb" => a.reverb = true,
                "compress" => a.compress = true,
                "pitch" => a.pitch = true,
                other => bail!("unknown augmentation {other:?} (gain, eq, reverb, compress, pitch, all, none)"),
            }
        }
        Ok(a)
    }
}

/// A rendered song: class stems, the mix, and labels.
pub struct Rendered {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Stereo stems per class (`None` for classes not in the song): `[class][ch][frame]`.
    pub stems: Vec<Option<[Vec<f32>; 2]>>,
    /// The mix, exactly the sum of the stems.
    pub mix: [Vec<f32>; 2],
    /// Activity labels at [`LABEL_RATE`]: `[frame][class]` as 0/1.
    pub activity: Vec<ActivityRow>,
    /// Which font / kit each track used.
    pub timbres: Vec<String>,
    /// Semitones the song was transposed by.
    pub transpose: i32,
}

/// Renders `song` with timbres drawn from `set`, `frames` long at `rate`.
pub fn render(
    song: &mut Song,
    set: &TimbreSet,
    rate: u32,
    frames: usize,
    aug: &Augment,
    rng: &mut ChaCha8Rng,
) -> Result<Rendered> {
    let chain = aug.chain.for_song(aug.chain_clean, rng);
    let transpose = if aug.pitch { rng.gen_range(-5..=6) } else { 0 };
    let mut stems: Vec<Option<[Vec<f32>; 2]>> = vec![None; CLASSES.len()];
    let mut timbres = Vec::new();
    for tr in &mut song.tracks {
        chain::play(&mut tr.notes, tr.class, &chain, rng);
        if tr.role != Role::Drums && transpose != 0 {
            for n in &mut tr.notes {
                n.key = (n.key as i32 + transpose).clamp(0, 127) as u8;
            }
        }
        // Melodic sources: the fonts, plus the GUS bank where it has a program of the class
        // (the pick index past the fonts). The test set has one font and no bank, so its draws
        // never change.
        let gus_programs = if tr.class.0 == 0 { Vec::new() } else { set.gus_programs(tr.class) };
        let (font_idx, kit, gus) = if tr.class.0 == 0 {
            let k = &set.kits[rng.gen_range(0..set.kits.len())];
            (k.font, Some(k), None)
        } else {
            let sources = set.melodic.len() + usize::from(!gus_programs.is_empty());
            if sources == 0 {
                bail!("the {} timbres have no instrument of class {}", set.name, tr.class.name());
            }
            let pick = rng.gen_range(0..sources);
            match set.gus.as_ref().filter(|_| pick == set.melodic.len()) {
                Some(g) => (0, None, Some(g)),
                None => (set.melodic[pick], None, None),
            }
        };
        // Re-pitched sample playback: the synthesizer at its own rate, the notes it plays there.
        let repitched = chain::repitch(&tr.notes, tr.class, rate, &chain, rng);
        let (play_rate, played, repitch_note) = match repitched {
            Some((r, notes, k)) => (r, Cow::Owned(Track { notes, ..tr.clone() }), format!("repitch {k:+}")),
            None => (rate, Cow::Borrowed(&*tr), String::new()),
        };
        let send = if aug.reverb { rng.gen_range(0..=90) } else { 40 };
        let mut audio = match (kit, gus) {
            (Some(k), _) => {
                let (mut a, name) = render_kit(set, k, &played, play_rate, frames, send, rng)?;
                if play_rate != rate {
                    normalize_track(&mut a, rate);
                }
                timbres.push(name);
                a
            }
            (None, Some(g)) => {
                let program = if gus_programs.contains(&tr.program) {
                    tr.program
                } else {
                    gus_programs[rng.gen_range(0..gus_programs.len())]
                };
                let patch = g.patch(program).map_or("?", |p| p.name.as_str());
                timbres.push(format!("{}:program {program} ({patch})", g.name));
                let mut a = g.render(program, &played.notes, play_rate, frames, tr.pan)?;
                normalize_track(&mut a, rate);
                a
            }
            (None, None) => {
                let offered: Vec<_> = set.variations.iter().filter(|v| v.0 == font_idx && v.3 == tr.class).collect();
                let (bank, program) = if !offered.is_empty() && rng.gen_bool(set.variation_prob.clamp(0.0, 1.0)) {
                    let v = offered[rng.gen_range(0..offered.len())];
                    (v.1, v.2)
                } else {
                    (0, tr.program)
                };
                let engine = set.draw_engine(rng);
                let note = set.engine_note(engine);
                timbres.push(if bank == 0 {
                    format!("{}:program {program}{note}", set.fonts[font_idx].0)
                } else {
                    format!("{}:bank {bank} program {program}{note}", set.fonts[font_idx].0)
                });
                let mut a =
                    render_font_track(set, engine, font_idx, &played, None, (bank, program), play_rate, frames, send)?;
                normalize_track(&mut a, rate);
                a
            }
        };
        let recorded = chain::record(&mut audio, tr.class, rate, &chain, rng);
        let recorded = [repitch_note, recorded].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ");
        if let (false, Some(t)) = (recorded.is_empty(), timbres.last_mut()) {
            *t = format!("{t} [{recorded}]");
        }
        let mut gain_db = tr.gain_db;
        if aug.gain {
            gain_db += rng.gen_range(-3.0..=3.0);
        }
        let g = 10f32.powf(gain_db / 20.0);
        for ch in &mut audio {
            ch.iter_mut().for_each(|x| *x *= g);
        }
        let slot = &mut stems[tr.class.0];
        match slot {
            Some(s) => {
                for (d, a) in s.iter_mut().zip(&audio) {
                    d.iter_mut().zip(a).for_each(|(x, y)| *x += y);
                }
            }
            None => *slot = Some(audio),
        }
    }
    if aug.eq {
        for s in stems.iter_mut().flatten() {
            let f0 = 10f32.powf(rng.gen_range(2.3..3.9)); // 200 Hz – 8 kHz
            let gain = rng.gen_range(-6.0..6.0);
            if let Ok(c) = Coefficients::<f32>::from_params(
                Type::PeakingEQ(gain),
                (rate as f32).hz(),
                f0.min(rate as f32 * 0.45).hz(),
                0.9,
            ) {
                for ch in s.iter_mut() {
                    let mut f = DirectForm2Transposed::<f32>::new(c);
                    ch.iter_mut().for_each(|x| *x = f.run(*x));
                }
            }
        }
    }
    if chain.mix {
        let master = chain::draw_master(rng);
        stems.iter_mut().flatten().for_each(|s| chain::apply_master(s, rate, &master));
    }
    let mut mix = [vec![0.0f32; frames], vec![0.0f32; frames]];
    for s in stems.iter().flatten() {
        for (m, a) in mix.iter_mut().zip(s) {
            m.iter_mut().zip(a).for_each(|(x, y)| *x += y);
        }
    }
    // Master processing, identical for the mix and every stem, so mix == sum(stems) holds.
    let mut master = vec![1.0f32; frames];
    if aug.compress {
        compressor_gain(&mix, rate, rng.gen_range(-24.0..-12.0), rng.gen_range(2.0..6.0), &mut master);
    }
    let peak =
        mix[0].iter().chain(&mix[1]).zip(master.iter().chain(&master)).fold(0.0f32, |p, (x, g)| p.max((x * g).abs()));
    let target = 10f32.powf(rng.gen_range(-6.0..-1.0) / 20.0);
    let norm = if peak > 1e-9 { target / peak } else { 1.0 };
    for g in &mut master {
        *g *= norm;
    }
    let apply = |a: &mut [Vec<f32>; 2]| {
        for ch in a.iter_mut() {
            ch.iter_mut().zip(&master).for_each(|(x, g)| *x *= g);
        }
    };
    apply(&mut mix);
    stems.iter_mut().flatten().for_each(apply);
    let activity = activity_labels(&stems, rate, frames);
    Ok(Rendered { sample_rate: rate, stems, mix, activity, timbres, transpose })
}

/// Renders a drum track with `kit` (SoundFont preset or Hydrogen sampler); returns the audio and
/// a description of the timbre. Hydrogen kits draw their per-part instruments from `rng`.
pub fn render_kit(
    set: &TimbreSet,
    kit: &Kit,
    tr: &Track,
    rate: u32,
    frames: usize,
    send: i32,
    rng: &mut ChaCha8Rng,
) -> Result<([Vec<f32>; 2], String)> {
    match &kit.hydrogen {
        Some(h) => {
            let v = h.variant(rng);
            let mut a = h.render(&tr.notes, &v, rate, frames, tr.pan)?;
            normalize_track(&mut a, rate);
            Ok((a, v.description))
        }
        None => {
            let engine = set.draw_engine(rng);
            let mut a = render_font_track(set, engine, kit.font, tr, Some(kit), (0, tr.program), rate, frames, send)?;
            normalize_track(&mut a, rate);
            Ok((a, format!("{}{}", kit.name, set.engine_note(engine))))
        }
    }
}

/// Level (active RMS, dBFS) every rendered track is brought to before the composer's track
/// gain. SoundFonts differ wildly in preset volume (MuseScore General's piano sits ~11 dB lower
/// against the rest of its font than the training fonts' pianos do, Hydrogen samples are
/// normalized near full scale), so without this the same arrangement would bury an instrument in
/// one font and not in another, and labels would mark inaudible parts as active. A mix engineer
/// balances tracks by ear; the composer's per-track gain then sets the balance.
pub const TRACK_RMS_DB: f32 = -20.0;

/// Active level in dBFS of a stereo signal: the RMS over its 10 ms frames within 40 dB of the
/// loudest frame, i.e. its level while it sounds (−inf for silence).
pub fn active_rms_db(a: &[Vec<f32>; 2], rate: u32) -> f32 {
    let hop = (rate as usize / 100).max(1);
    let powers: Vec<f64> = a[0]
        .chunks(hop)
        .zip(a[1].chunks(hop))
        .map(|(l, r)| l.iter().zip(r).map(|(x, y)| 0.5 * (x * x + y * y) as f64).sum::<f64>() / l.len() as f64)
        .collect();
    let loudest = powers.iter().copied().fold(0.0f64, f64::max);
    if loudest <= 1e-20 {
        return f32::NEG_INFINITY;
    }
    let gate = loudest * 1e-4; // −40 dB
    let (sum, n) = powers.iter().filter(|p| **p > gate).fold((0.0, 0usize), |(s, n), p| (s + p, n + 1));
    (10.0 * (sum / n as f64).log10()) as f32
}

/// Scales a track to [`TRACK_RMS_DB`] active RMS (silence stays silent).
pub fn normalize_track(a: &mut [Vec<f32>; 2], rate: u32) {
    let db = active_rms_db(a, rate);
    if db.is_finite() {
        let g = 10f32.powf((TRACK_RMS_DB - db) / 20.0);
        a.iter_mut().for_each(|c| c.iter_mut().for_each(|x| *x *= g));
    }
}

/// Peak level of a preset playing each of `keys` for 0.3 s at velocity 100 (0 if it is silent
/// there): the check that a variation preset really sounds across its class's range.
pub fn preset_peak(font: &Arc<SoundFont>, bank: u16, program: u8, keys: &[u8], rate: u32) -> Result<f32> {
    let mut synth = Synthesizer::new(font, &SynthesizerSettings::new(rate as i32))
        .map_err(|e| anyhow::anyhow!("synthesizer: {e:?}"))?;
    synth.process_midi_message(0, 0xB0, 0, bank as i32);
    synth.process_midi_message(0, 0xC0, program as i32, 0);
    let n = (0.3 * rate as f64) as usize;
    let (mut left, mut right) = (vec![0.0f32; n], vec![0.0f32; n]);
    let mut peak = 0.0f32;
    for &k in keys {
        synth.note_on(0, k as i32, 100);
        synth.render(&mut left, &mut right);
        synth.note_off(0, k as i32);
        peak = left.iter().chain(&right).fold(peak, |m, x| m.max(x.abs()));
    }
    Ok(peak)
}

/// Renders one track with font `font` of `set` on `engine` ([`TimbreSet::draw_engine`]'s pick
/// for this track).
#[allow(clippy::too_many_arguments)]
fn render_font_track(
    set: &TimbreSet,
    engine: TrackEngine,
    font: usize,
    tr: &Track,
    kit: Option<&Kit>,
    preset: (u16, u8),
    rate: u32,
    frames: usize,
    send: i32,
) -> Result<[Vec<f32>; 2]> {
    match engine {
        TrackEngine::RustySynth => render_track(&set.fonts[font].1, tr, kit, preset, rate, frames, send),
        TrackEngine::OxiSynth => render_track_oxi(&set.oxi[font], tr, kit, preset, rate, frames, send),
    }
}

/// A synthesizer a track's notes are played on: both engines, driven by [`play`].
trait TrackSynth {
    /// Renders the next `left.len()` frames.
    fn render(&mut self, left: &mut [f32], right: &mut [f32]);
    /// A note-on (`on`) or note-off at the current frame.
    fn note(&mut self, on: bool, key: u8, vel: u8);
}

impl TrackSynth for (Synthesizer, i32) {
    fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        self.0.render(left, right);
    }

    fn note(&mut self, on: bool, key: u8, vel: u8) {
        if on {
            self.0.note_on(self.1, key as i32, vel as i32);
        } else {
            self.0.note_off(self.1, key as i32);
        }
    }
}

impl TrackSynth for (oxisynth::Synth, u8) {
    fn render(&mut self, left: &mut [f32], right: &mut [f32]) {
        self.0.write((left, right));
    }

    fn note(&mut self, on: bool, key: u8, vel: u8) {
        let channel = self.1;
        let ev = if on {
            oxisynth::MidiEvent::NoteOn { channel, key, vel }
        } else {
            oxisynth::MidiEvent::NoteOff { channel, key }
        };
        let _ = self.0.send_event(ev);
    }
}

/// Plays a track's notes on `synth`, `frames` long at `rate`. Offs sort before ons at the same
/// frame, so repeated notes retrigger.
fn play(synth: &mut impl TrackSynth, tr: &Track, rate: u32, frames: usize) -> [Vec<f32>; 2] {
    let mut events: Vec<(usize, bool, u8, u8)> = Vec::with_capacity(tr.notes.len() * 2);
    for n in &tr.notes {
        let on = (n.start * rate as f64).round() as usize;
        let off = ((n.start + n.dur) * rate as f64).round() as usize;
        if on < frames {
            events.push((on, true, n.key, n.vel));
            events.push((off.max(on + 1), false, n.key, 0));
        }
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut left = vec![0.0f32; frames];
    let mut right = vec![0.0f32; frames];
    let mut pos = 0usize;
    for (frame, on, key, vel) in events {
        let frame = frame.min(frames);
        if frame > pos {
            synth.render(&mut left[pos..frame], &mut right[pos..frame]);
            pos = frame;
        }
        synth.note(on, key, vel);
    }
    if pos < frames {
        synth.render(&mut left[pos..], &mut right[pos..]);
    }
    [left, right]
}

/// [`render_track`] with oxisynth.
fn render_track_oxi(
    font: &OxiFont,
    tr: &Track,
    kit: Option<&Kit>,
    preset: (u16, u8),
    rate: u32,
    frames: usize,
    send: i32,
) -> Result<[Vec<f32>; 2]> {
    use oxisynth::{MidiEvent, Synth, SynthDescriptor};
    let desc = SynthDescriptor { sample_rate: rate as f32, gain: 1.0, ..SynthDescriptor::default() };
    let mut synth = Synth::new(desc).map_err(|e| anyhow::anyhow!("oxisynth: {e:?}"))?;
    let id = synth.add_font(font.take()?, true);
    let selected = match kit {
        Some(Kit { preset: Some(p), .. }) => synth.select_program(9, id, 128, *p).map(|_| 9),
        Some(Kit { preset: None, .. }) => synth.select_program(0, id, 0, 0).map(|_| 0),
        None => synth.select_program(0, id, preset.0 as u32, preset.1).map(|_| 0),
    };
    let channel = match selected {
        Ok(c) => c,
        Err(e) => {
            if let Some(f) = synth.remove_font(id, false) {
                font.give(f);
            }
            bail!("{}: no preset bank {} program {} ({e:?})", font.path.display(), preset.0, preset.1);
        }
    };
    let cc = |synth: &mut Synth, ctrl: u8, value: i32| {
        let _ = synth.send_event(MidiEvent::ControlChange { channel, ctrl, value: value.clamp(0, 127) as u8 });
    };
    cc(&mut synth, 10, tr.pan as i32);
    cc(&mut synth, 91, send);
    cc(&mut synth, 93, send / 3);
    let mut voice = (synth, channel);
    let audio = play(&mut voice, tr, rate, frames);
    if let Some(f) = voice.0.remove_font(id, false) {
        font.give(f);
    }
    Ok(audio)
}

/// Renders one track's notes with its own synthesizer (so stems stay separate).
fn render_track(
    font: &Arc<SoundFont>,
    tr: &Track,
    kit: Option<&Kit>,
    preset: (u16, u8),
    rate: u32,
    frames: usize,
    send: i32,
) -> Result<[Vec<f32>; 2]> {
    let settings = SynthesizerSettings::new(rate as i32);
    let mut synth = Synthesizer::new(font, &settings).map_err(|e| anyhow::anyhow!("synthesizer: {e:?}"))?;
    let channel = match kit {
        Some(Kit { preset: Some(p), .. }) => {
            synth.process_midi_message(9, 0xC0, *p as i32, 0);
            9
        }
        Some(Kit { preset: None, .. }) => {
            synth.process_midi_message(0, 0xC0, 0, 0);
            0
        }
        None => {
            synth.process_midi_message(0, 0xB0, 0, preset.0 as i32); // bank select
            synth.process_midi_message(0, 0xC0, preset.1 as i32, 0);
            0
        }
    };
    synth.process_midi_message(channel, 0xB0, 10, tr.pan as i32); // pan
    synth.process_midi_message(channel, 0xB0, 91, send); // reverb send
    synth.process_midi_message(channel, 0xB0, 93, send / 3); // chorus send
    Ok(play(&mut (synth, channel), tr, rate, frames))
}

/// A feed-forward RMS compressor's gain curve computed on the mix (writes `gain`).
fn compressor_gain(mix: &[Vec<f32>; 2], rate: u32, threshold_db: f32, ratio: f32, gain: &mut [f32]) {
    let att = (-1.0 / (0.010 * rate as f32)).exp();
    let rel = (-1.0 / (0.150 * rate as f32)).exp();
    let mut env = 0.0f32;
    for (i, g) in gain.iter_mut().enumerate() {
        let x = 0.5 * (mix[0][i] * mix[0][i] + mix[1][i] * mix[1][i]);
        let k = if x > env { att } else { rel };
        env = k * env + (1.0 - k) * x;
        let level_db = 10.0 * env.max(1e-12).log10();
        let over = level_db - threshold_db;
        *g = if over > 0.0 { 10f32.powf(-over * (1.0 - 1.0 / ratio) / 20.0) } else { 1.0 };
    }
}

/// Level of the 10 ms label frames of a stereo signal, smoothed over 50 ms, in dB.
fn frame_levels(s: &[Vec<f32>; 2], rate: u32, frames: usize) -> Vec<f32> {
    let n = frames * LABEL_RATE / rate as usize;
    let energy: Vec<f32> = (0..n)
        .map(|i| {
            let a = i * rate as usize / LABEL_RATE;
            let b = ((i + 1) * rate as usize / LABEL_RATE).min(frames);
            let sum: f32 = (a..b).map(|j| 0.5 * (s[0][j] * s[0][j] + s[1][j] * s[1][j])).sum();
            sum / (b - a).max(1) as f32
        })
        .collect();
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(2), (i + 3).min(n));
            10.0 * (energy[a..b].iter().sum::<f32>() / (b - a) as f32).max(1e-12).log10()
        })
        .collect()
}

/// Activity from stem envelopes, as the thesis derives labels from multitracks: a class is
/// active in a 10 ms frame when its stem's 50 ms-smoothed level is within 30 dB of the stem's
/// loud level (99th percentile), above −60 dBFS, and — so that labels mean "audible in the
/// mix" rather than "has some signal" — no more than 25 dB below the mix at that moment.
pub fn activity_labels(stems: &[Option<[Vec<f32>; 2]>], rate: u32, frames: usize) -> Vec<[u8; CLASSES.len()]> {
    let n = frames * LABEL_RATE / rate as usize;
    let mut mix = [vec![0.0f32; frames], vec![0.0f32; frames]];
    for s in stems.iter().flatten() {
        for (m, a) in mix.iter_mut().zip(s) {
            m.iter_mut().zip(a).for_each(|(x, y)| *x += y);
        }
    }
    let mix_db = frame_levels(&mix, rate, frames);
    let mut out = vec![[0u8; CLASSES.len()]; n];
    for (c, s) in stems.iter().enumerate() {
        let Some(s) = s else { continue };
        let db = frame_levels(s, rate, frames);
        let mut sorted = db.clone();
        sorted.sort_by(f32::total_cmp);
        let loud = sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)];
        let thr = (loud - 30.0).max(-60.0);
        for (i, d) in db.iter().enumerate() {
            out[i][c] = (*d > thr && *d > mix_db[i] - 25.0) as u8;
        }
    }
    out
}

/// Writes 16-bit PCM WAV (stereo).
pub fn write_pcm16(path: &Path, rate: u32, ch: &[Vec<f32>; 2]) -> Result<()> {
    let spec =
        hound::WavSpec { channels: 2, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).with_context(|| format!("cannot create {}", path.display()))?;
    for i in 0..ch[0].len() {
        for c in ch {
            w.write_sample((c[i].clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
        }
    }
    w.finalize()?;
    Ok(())
}

/// Writes `cols`-wide u8 rows as a `[rows, cols]` `.npy` matrix.
pub fn write_npy_u8<'a>(path: &Path, rows: impl ExactSizeIterator<Item = &'a [u8]>, cols: usize) -> Result<()> {
    let file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    use npyz::WriterBuilder;
    let mut w =
        npyz::WriteOptions::new().default_dtype().shape(&[rows.len() as u64, cols as u64]).writer(file).begin_nd()?;
    for r in rows {
        anyhow::ensure!(r.len() == cols, "{}: a row of {} values in a {cols}-column matrix", path.display(), r.len());
        w.extend(r.iter().copied())?;
    }
    w.finish()?;
    Ok(())
}

/// Writes `data` (row-major) as a `.npy` f32 array of `shape`.
pub fn write_npy_f32(path: &Path, shape: &[u64], data: impl IntoIterator<Item = f32>) -> Result<()> {
    use npyz::WriterBuilder;
    let file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(file).begin_nd()?;
    w.extend(data)?;
    w.finish()?;
    Ok(())
}

/// The song folder for index `i` of a split.
pub fn song_dir(root: &Path, split: &str, i: usize) -> PathBuf {
    root.join(split).join(format!("{split}-{i:05}"))
}

/// Class of a label column (for callers that need names).
pub fn class_name(c: usize) -> &'static str {
    Class(c).name()
}
