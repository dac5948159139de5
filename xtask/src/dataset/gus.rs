//! A sampler for Gravis UltraSound patches (`.pat`, "GF1PATCH110"), so the training data also
//! hears the freepats instruments (Debian package `freepats`): another grand piano, Rhodes and DX
//! pianos, a Hammond, guitars, basses, strings, brass, reeds and pads recorded and looped by
//! other people than the SoundFonts' authors. rustysynth reads only SoundFonts.
//!
//! Playback follows TiMidity's reading of the format, reduced to what shapes a timbre:
//! - the sample whose key range holds the note's frequency (else the one with the nearest root),
//!   pitched by `note / root × sample rate / output rate` with linear interpolation, honouring the
//!   patch's keyboard scaling (`scale_frequency`, `scale_factor`);
//! - 8/16-bit, signed/unsigned data; forward and ping-pong loops (loop points with their 1/16
//!   fractions);
//! - the six-stage GUS envelope: stages 0–2 (attack, decay, sustain) run at note-on and, in
//!   sustain mode, hold at the third offset until note-off, which starts stages 3–5 (release);
//!   the voice ends after stage 5. Offsets are GUS volume levels, 16 per octave of amplitude
//!   (gain `2^((level − 255) / 16)`), rates the GUS rate bytes (6-bit increment, 2-bit range)
//!   converted as TiMidity does at 44.1 kHz;
//! - without envelope mode, note-off stops the loop and the sample plays out;
//! - linear velocity, the patch's balance plus the track's pan (equal power).
//!
//! Left out: tremolo and vibrato (LFO) settings, reverse playback, per-patch `amp=` from
//! freepats' `.txt` files (every rendered track is level-normalized anyway).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};

use super::compose::Note;

/// Where the Debian package `freepats` puts the patches (`Tone_000/NNN_Name.pat`).
pub const FREEPATS_DIR: &str = "/usr/share/midi/freepats";

const HEADER: usize = 129;
const INSTRUMENT_HEADER: usize = 63;
const LAYER_HEADER: usize = 47;
const SAMPLE_HEADER: usize = 96;

const MODE_16BIT: u8 = 1;
const MODE_UNSIGNED: u8 = 2;
const MODE_LOOP: u8 = 4;
const MODE_PINGPONG: u8 = 8;
const MODE_SUSTAIN: u8 = 32;
const MODE_ENVELOPE: u8 = 64;

/// Longest a released voice may ring on (seconds), whatever its envelope says.
const MAX_RELEASE_S: f64 = 4.0;

/// One sample (wave) of a patch.
#[derive(Debug, Clone)]
pub struct GusSample {
    /// Name stored in the patch (up to 7 characters).
    pub name: String,
    /// Mono data in −1…1.
    pub data: Vec<f32>,
    /// Sample rate in Hz.
    pub rate: f64,
    /// Frequency range this sample plays, Hz.
    pub low: f64,
    pub high: f64,
    /// Frequency of the recorded note, Hz.
    pub root: f64,
    /// Loop points in frames (with fractions).
    pub loop_start: f64,
    pub loop_end: f64,
    /// GUS mode bits.
    pub modes: u8,
    /// Envelope rates in levels per second, stages 0–5.
    pub rates: [f64; 6],
    /// Envelope target levels (0–255), stages 0–5.
    pub offsets: [f64; 6],
    /// Pan from the patch's balance byte, −1 (left) … 1 (right).
    pub balance: f32,
    /// Keyboard scaling: the note at which the sample plays at `root`, and the factor (1 = a
    /// semitone per key).
    pub scale_note: u8,
    pub scale_factor: f64,
}

impl GusSample {
    fn looping(&self) -> bool {
        self.modes & MODE_LOOP != 0 && self.loop_end > self.loop_start + 1.0
    }

    /// The frequency a MIDI key plays on this sample.
    fn key_freq(&self, key: u8) -> f64 {
        let semis = if (self.scale_factor - 1.0).abs() < 1e-9 {
            key as f64 - 69.0
        } else {
            self.scale_note as f64 - 69.0 + (key as f64 - self.scale_note as f64) * self.scale_factor
        };
        440.0 * 2f64.powf(semis / 12.0)
    }
}

/// GUS envelope rate byte → levels per second (TiMidity's conversion at 44.1 kHz: the 6-bit
/// increment shifted by 3 × (3 − range) bits in 1/8192-level units per sample).
pub fn rate_levels_per_second(byte: u8) -> f64 {
    let shift = 3 * (3 - ((byte >> 6) & 3) as u32);
    let r = ((byte & 0x3f) as u64) << shift;
    r as f64 * 44_100.0 / 8192.0
}

/// A parsed `.pat` file: one instrument, its first layer's samples.
#[derive(Debug, Clone)]
pub struct GusPatch {
    /// File stem (e.g. "000_Acoustic_Grand_Piano").
    pub name: String,
    pub samples: Vec<GusSample>,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl GusPatch {
    /// Parses patch `bytes`; `name` is used in error messages and as the patch name.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self> {
        let b = bytes;
        if b.len() < HEADER + INSTRUMENT_HEADER + LAYER_HEADER {
            bail!("{name}: {} bytes is too short for a GUS patch", b.len());
        }
        if &b[..8] != b"GF1PATCH" || !(&b[8..12] == b"110\0" || &b[8..12] == b"100\0") {
            bail!("{name}: not a GUS patch (no GF1PATCH110/100 header)");
        }
        let instruments = b[82];
        if instruments == 0 {
            bail!("{name}: the patch holds no instrument");
        }
        let layers = b[HEADER + 22];
        if layers == 0 {
            bail!("{name}: the instrument has no layer");
        }
        let count = b[HEADER + INSTRUMENT_HEADER + 6] as usize;
        if count == 0 {
            bail!("{name}: the layer has no samples");
        }
        let mut off = HEADER + INSTRUMENT_HEADER + LAYER_HEADER;
        let mut samples = Vec::with_capacity(count);
        for i in 0..count {
            if off + SAMPLE_HEADER > b.len() {
                bail!("{name}: truncated at the header of sample {i} of {count}");
            }
            let h = &b[off..off + SAMPLE_HEADER];
            let wave_name: String = h[..7]
                .iter()
                .take_while(|c| **c != 0)
                .map(|&c| if c.is_ascii_graphic() { c as char } else { '?' })
                .collect();
            let fractions = h[7];
            let len = u32_at(h, 8) as usize;
            let (loop_start, loop_end) = (u32_at(h, 12) as f64, u32_at(h, 16) as f64);
            let rate = u16_at(h, 20) as f64;
            let (low, high, root) =
                (u32_at(h, 22) as f64 / 1000.0, u32_at(h, 26) as f64 / 1000.0, u32_at(h, 30) as f64 / 1000.0);
            let balance = h[36];
            let rate_bytes = &h[37..43];
            let offset_bytes = &h[43..49];
            let modes = h[55];
            let scale_note = u16_at(h, 56);
            let scale_factor = u16_at(h, 58);
            let data_at = off + SAMPLE_HEADER;
            if data_at + len > b.len() {
                bail!(
                    "{name}: sample {i} ({wave_name}) claims {len} bytes, the file ends {} bytes after its header",
                    b.len() - data_at
                );
            }
            if rate < 1000.0 || root <= 0.0 {
                bail!("{name}: sample {i} ({wave_name}) has sample rate {rate} Hz and root {root} Hz");
            }
            let raw = &b[data_at..data_at + len];
            let wide = modes & MODE_16BIT != 0;
            let unsigned = modes & MODE_UNSIGNED != 0;
            let data: Vec<f32> = if wide {
                raw.chunks_exact(2)
                    .map(|c| {
                        let v = u16::from_le_bytes([c[0], c[1]]);
                        let s = if unsigned { (v ^ 0x8000) as i16 } else { v as i16 };
                        s as f32 / 32768.0
                    })
                    .collect()
            } else {
                raw.iter().map(|&v| (if unsigned { (v ^ 0x80) as i8 } else { v as i8 }) as f32 / 128.0).collect()
            };
            if data.len() < 2 {
                bail!("{name}: sample {i} ({wave_name}) has no audio");
            }
            let width = if wide { 2.0 } else { 1.0 };
            let mut rates = [0.0; 6];
            let mut offsets = [0.0; 6];
            for s in 0..6 {
                rates[s] = rate_levels_per_second(rate_bytes[s]);
                offsets[s] = offset_bytes[s] as f64;
            }
            let last = (data.len() - 1) as f64;
            samples.push(GusSample {
                name: wave_name,
                rate,
                low,
                high,
                root,
                loop_start: (loop_start / width + (fractions & 0x0f) as f64 / 16.0).min(last),
                loop_end: (loop_end / width + (fractions >> 4) as f64 / 16.0).min(last),
                modes,
                rates,
                offsets,
                // TiMidity: MIDI pan = balance × 8 + 4.
                balance: ((balance.min(15) as f32 * 8.0 + 4.0) - 64.0) / 64.0,
                scale_note: scale_note.min(127) as u8,
                scale_factor: if scale_factor == 0 { 1.0 } else { scale_factor as f64 / 1024.0 },
                data,
            });
            off = data_at + len;
        }
        Ok(GusPatch { name: name.to_string(), samples })
    }

    /// Reads and parses a `.pat` file.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
        GusPatch::parse(&bytes, &name).with_context(|| format!("{}", path.display()))
    }

    /// The sample a key plays: the first whose range holds its frequency, else the one whose
    /// root is nearest (in octaves).
    pub fn sample_for(&self, key: u8) -> &GusSample {
        let f = self.samples[0].key_freq(key);
        self.samples.iter().find(|s| f >= s.low && f <= s.high).unwrap_or_else(|| {
            self.samples
                .iter()
                .min_by(|a, b| (f / a.root).log2().abs().total_cmp(&(f / b.root).log2().abs()))
                .unwrap_or(&self.samples[0])
        })
    }

    /// Renders one note into `out` (added), starting at frame `start`, released at frame `off`.
    fn voice(&self, n: &Note, start: usize, off: usize, rate: u32, pan: f32, out: &mut [Vec<f32>; 2]) {
        let s = self.sample_for(n.key);
        let frames = out[0].len();
        let step = s.key_freq(n.key) / s.root * s.rate / rate as f64;
        let gain = n.vel as f32 / 127.0;
        let p = (pan + s.balance).clamp(-1.0, 1.0);
        let angle = (p + 1.0) * std::f32::consts::FRAC_PI_4;
        let (gl, gr) = (gain * angle.cos() * std::f32::consts::SQRT_2, gain * angle.sin() * std::f32::consts::SQRT_2);
        let envelope = s.modes & MODE_ENVELOPE != 0;
        let sustain = s.modes & MODE_SUSTAIN != 0;
        let pingpong = s.modes & MODE_PINGPONG != 0;
        let mut looping = s.looping();
        let last = (s.data.len() - 1) as f64;
        let end = frames.min(off + (MAX_RELEASE_S * rate as f64) as usize);
        let (mut pos, mut dir) = (0.0f64, 1.0f64);
        let (mut stage, mut level) = (0usize, 0.0f64);
        let per_frame = 1.0 / rate as f64;
        let [left, right] = out;
        let outs = left[start..end].iter_mut().zip(right[start..end].iter_mut());
        for (t, (l, r)) in (start..end).zip(outs) {
            let released = t >= off;
            if envelope {
                if released && stage < 3 {
                    stage = 3;
                }
                if stage < 6 {
                    let target = s.offsets[stage];
                    let delta = s.rates[stage] * per_frame;
                    if level < target {
                        level = (level + delta).min(target);
                    } else {
                        level = (level - delta).max(target);
                    }
                    // Stage done: advance, except that sustain mode holds stage 2's level
                    // until note-off.
                    if level == target && !(stage == 2 && sustain && !released) {
                        stage += 1;
                    }
                } else {
                    break;
                }
            } else if released {
                looping = false;
            }
            let amp = if envelope { 2f64.powf((level - 255.0) / 16.0) as f32 } else { 1.0 };
            let k = pos as usize;
            if k as f64 >= last {
                break;
            }
            let frac = (pos - k as f64) as f32;
            let x = s.data[k] + frac * (s.data[k + 1] - s.data[k]);
            *l += x * amp * gl;
            *r += x * amp * gr;
            pos += step * dir;
            if looping {
                if dir > 0.0 && pos >= s.loop_end {
                    if pingpong {
                        pos = 2.0 * s.loop_end - pos;
                        dir = -1.0;
                    } else {
                        pos -= s.loop_end - s.loop_start;
                    }
                } else if dir < 0.0 && pos <= s.loop_start {
                    pos = 2.0 * s.loop_start - pos;
                    dir = 1.0;
                }
                pos = pos.clamp(0.0, last);
            }
            if pos < 0.0 {
                break;
            }
        }
    }

    /// Renders `notes` (MIDI keys, seconds) `frames` long at `rate`, panned around `pan` (MIDI
    /// 0–127, 64 = centre). Every note is its own voice.
    pub fn render(&self, notes: &[Note], rate: u32, frames: usize, pan: u8) -> [Vec<f32>; 2] {
        let mut out = [vec![0.0f32; frames], vec![0.0f32; frames]];
        let track_pan = (pan as f32 - 64.0) / 64.0;
        for n in notes {
            let start = (n.start * rate as f64).round().max(0.0) as usize;
            if start >= frames {
                continue;
            }
            let off = (((n.start + n.dur) * rate as f64).round() as usize).max(start + 1);
            self.voice(n, start, off, rate, track_pan, &mut out);
        }
        out
    }
}

/// A bank of GUS patches by General MIDI program: freepats' `Tone_000/NNN_Name.pat`.
#[derive(Debug)]
pub struct GusBank {
    /// Display name ("freepats").
    pub name: String,
    /// Folder the patches were read from.
    pub dir: PathBuf,
    patches: BTreeMap<u8, Arc<GusPatch>>,
}

impl GusBank {
    /// Reads every `NNN_*.pat` under `dir/Tone_000` (or `dir` itself), NNN being the 0-based GM
    /// program. A patch that does not parse is an error naming the file.
    pub fn open(dir: &Path) -> Result<Self> {
        let tones = if dir.join("Tone_000").is_dir() { dir.join("Tone_000") } else { dir.to_path_buf() };
        let mut patches = BTreeMap::new();
        let entries = std::fs::read_dir(&tones).with_context(|| format!("cannot list {}", tones.display()))?;
        for e in entries {
            let path = e?.path();
            if path.extension().and_then(|x| x.to_str()) != Some("pat") {
                continue;
            }
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            let Some(program) = stem.get(..3).and_then(|p| p.parse::<u8>().ok()).filter(|p| *p < 128) else {
                continue;
            };
            patches.insert(program, Arc::new(GusPatch::open(&path)?));
        }
        if patches.is_empty() {
            bail!("no NNN_*.pat patches in {}", tones.display());
        }
        let name = dir.file_name().map_or_else(|| "gus".to_string(), |n| n.to_string_lossy().into_owned());
        Ok(GusBank { name, dir: dir.to_path_buf(), patches })
    }

    /// The patch for a GM program (0-based), if the bank has one.
    pub fn patch(&self, program: u8) -> Option<&Arc<GusPatch>> {
        self.patches.get(&program)
    }

    /// The programs the bank has.
    pub fn programs(&self) -> impl Iterator<Item = u8> + '_ {
        self.patches.keys().copied()
    }

    /// Renders `notes` with program `program` (see [`GusPatch::render`]).
    pub fn render(&self, program: u8, notes: &[Note], rate: u32, frames: usize, pan: u8) -> Result<[Vec<f32>; 2]> {
        let p = self.patch(program).ok_or_else(|| anyhow!("{} has no patch for program {program}", self.name))?;
        Ok(p.render(notes, rate, frames, pan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-sample patch: `data` at `rate`, root `root` Hz, with the given modes, envelope and
    /// loop (in frames).
    pub fn synth_patch(
        data: &[i16],
        rate: u16,
        root: f64,
        modes: u8,
        env: ([u8; 6], [u8; 6]),
        lp: (u32, u32),
    ) -> Vec<u8> {
        let mut b = vec![0u8; HEADER + INSTRUMENT_HEADER + LAYER_HEADER];
        b[..12].copy_from_slice(b"GF1PATCH110\0");
        b[12..22].copy_from_slice(b"ID#000002\0");
        b[82] = 1; // instruments
        b[85..87].copy_from_slice(&1u16.to_le_bytes()); // waveforms
        b[HEADER + 22] = 1; // layers
        b[HEADER + INSTRUMENT_HEADER + 6] = 1; // samples
        let mut h = vec![0u8; SAMPLE_HEADER];
        h[..4].copy_from_slice(b"test");
        let wide = modes & MODE_16BIT != 0;
        let bytes: Vec<u8> = if wide {
            data.iter().flat_map(|v| v.to_le_bytes()).collect()
        } else {
            data.iter().map(|v| ((v >> 8) as i8) as u8).collect()
        };
        let w = if wide { 2 } else { 1 };
        h[8..12].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(lp.0 * w).to_le_bytes());
        h[16..20].copy_from_slice(&(lp.1 * w).to_le_bytes());
        h[20..22].copy_from_slice(&rate.to_le_bytes());
        h[22..26].copy_from_slice(&8_176u32.to_le_bytes());
        h[26..30].copy_from_slice(&12_543_854u32.to_le_bytes());
        h[30..34].copy_from_slice(&((root * 1000.0) as u32).to_le_bytes());
        h[36] = 7;
        h[37..43].copy_from_slice(&env.0);
        h[43..49].copy_from_slice(&env.1);
        h[55] = modes;
        h[56..58].copy_from_slice(&60u16.to_le_bytes());
        h[58..60].copy_from_slice(&1024u16.to_le_bytes());
        b.extend_from_slice(&h);
        b.extend_from_slice(&bytes);
        b
    }

    fn sine(freq: f64, rate: f64, n: usize) -> Vec<i16> {
        (0..n).map(|i| ((2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin() * 20000.0) as i16).collect()
    }

    /// Frequency from positive-going zero crossings of `x`.
    fn zc_freq(x: &[f32], rate: f64) -> f64 {
        let idx: Vec<usize> = (1..x.len()).filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0).collect();
        (idx.len() - 1) as f64 * rate / (idx[idx.len() - 1] - idx[0]) as f64
    }

    fn rms(x: &[f32]) -> f32 {
        (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
    }

    const FLAT: ([u8; 6], [u8; 6]) = ([0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f], [0xf6, 0xf6, 0xf6, 0, 0, 0]);

    #[test]
    fn pitch_follows_the_key_and_loops_sustain_the_note() {
        // 0.25 s of 440 Hz at 32 kHz, looped over whole periods (4000 frames = 55 periods).
        let data = sine(440.0, 32_000.0, 8000);
        let bytes = synth_patch(
            &data,
            32_000,
            440.0,
            MODE_16BIT | MODE_LOOP | MODE_SUSTAIN | MODE_ENVELOPE,
            FLAT,
            (4000, 8000),
        );
        let p = GusPatch::parse(&bytes, "sine").unwrap();
        let rate = 22_050;
        for (key, want) in [(69u8, 440.0), (81, 880.0), (57, 220.0)] {
            let notes = [Note { start: 0.0, dur: 1.5, key, vel: 100 }];
            let out = p.render(&notes, rate, 2 * rate as usize, 64);
            // Still sounding after 1.4 s: six times the sample's own length, so the loop works.
            let late = &out[0][(1.3 * rate as f64) as usize..(1.45 * rate as f64) as usize];
            assert!(rms(late) > 0.2, "key {key}: loop did not sustain (rms {})", rms(late));
            let f = zc_freq(&out[0][..rate as usize], rate as f64);
            assert!((f / want - 1.0).abs() < 0.005, "key {key}: {f:.1} Hz, want {want}");
            // Released at 1.5 s with rate 0x3f (fast): silent 20 ms later.
            let tail = &out[0][(1.52 * rate as f64) as usize..];
            assert!(rms(tail) < 1e-4, "key {key}: rings on after release (rms {})", rms(tail));
        }
    }

    #[test]
    fn envelope_release_rate_sets_the_fade() {
        // Release rate 0x8d: range 2, increment 13 → 13·8·44100/8192 = 560 levels/s, so from
        // level 246 to 0 in 0.44 s; the gain falls 6 dB per 16 levels.
        let env = ([0x3f, 0x3f, 0x3f, 0x8d, 0x3f, 0x3f], [0xf6, 0xf6, 0xf6, 0, 0, 0]);
        assert!((rate_levels_per_second(0x8d) - 560.0).abs() < 1.0);
        let data = sine(440.0, 32_000.0, 8000);
        let bytes =
            synth_patch(&data, 32_000, 440.0, MODE_16BIT | MODE_LOOP | MODE_SUSTAIN | MODE_ENVELOPE, env, (4000, 8000));
        let p = GusPatch::parse(&bytes, "sine").unwrap();
        let rate = 22_050u32;
        let out = p.render(&[Note { start: 0.0, dur: 0.5, key: 69, vel: 127 }], rate, rate as usize * 2, 64);
        let at = |t: f64| rms(&out[0][(t * rate as f64) as usize..((t + 0.02) * rate as f64) as usize]);
        let held = at(0.4);
        // 0.1 s into the release: 56 levels down, −21 dB.
        let db = 20.0 * (at(0.6) / held).log10();
        assert!((db + 21.0).abs() < 2.5, "0.1 s into the release: {db:.1} dB");
        assert!(at(1.0) < 1e-5, "released voice still sounds after the envelope ended");
    }

    #[test]
    fn unlooped_eight_bit_unsigned_samples_play_once() {
        let data = sine(220.0, 16_000.0, 1600); // 0.1 s
        let mut bytes = synth_patch(&data, 16_000, 220.0, MODE_UNSIGNED, FLAT, (0, 0));
        // synth_patch wrote signed 8-bit; flip to unsigned.
        let at = bytes.len() - data.len();
        bytes[at..].iter_mut().for_each(|v| *v ^= 0x80);
        let p = GusPatch::parse(&bytes, "once").unwrap();
        let rate = 16_000;
        let out = p.render(&[Note { start: 0.0, dur: 1.0, key: 57, vel: 127 }], rate, rate as usize, 64);
        assert!(rms(&out[0][..1500]) > 0.3);
        let f = zc_freq(&out[0][..1500], rate as f64);
        assert!((f / 220.0 - 1.0).abs() < 0.01, "{f}");
        assert!(rms(&out[0][1700..]) == 0.0, "a one-shot sample must stop at its end");
    }

    #[test]
    fn pingpong_loops_stay_in_range_and_sound() {
        let data = sine(440.0, 32_000.0, 4000);
        let modes = MODE_16BIT | MODE_LOOP | MODE_PINGPONG | MODE_SUSTAIN | MODE_ENVELOPE;
        let bytes = synth_patch(&data, 32_000, 440.0, modes, FLAT, (1000, 3000));
        let p = GusPatch::parse(&bytes, "pp").unwrap();
        let out = p.render(&[Note { start: 0.0, dur: 2.0, key: 76, vel: 90 }], 22_050, 44_100, 30);
        assert!(out.iter().flatten().all(|x| x.is_finite()));
        assert!(rms(&out[0][30_000..40_000]) > 0.1);
        assert!(rms(&out[0][30_000..40_000]) > rms(&out[1][30_000..40_000]), "pan 30 is left of centre");
    }

    #[test]
    fn corrupt_patches_are_clear_errors() {
        let data = sine(440.0, 32_000.0, 800);
        let good = synth_patch(&data, 32_000, 440.0, MODE_16BIT, FLAT, (0, 0));
        let e = GusPatch::parse(&good[..good.len() - 10], "cut").unwrap_err().to_string();
        assert!(e.contains("cut") && e.contains("claims"), "{e}");
        let e = GusPatch::parse(&good[..260], "short").unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut bad = good.clone();
        bad[..8].copy_from_slice(b"RIFFxxxx");
        assert!(GusPatch::parse(&bad, "riff").unwrap_err().to_string().contains("not a GUS patch"));
        let e = GusPatch::parse(b"GF1PATCH110\0", "tiny").unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");
    }
}
