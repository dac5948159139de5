//! The recording chain: what happens to a real instrument between the player and the mix, and
//! what a SoundFont render lacks. Applied per track (each instrument is recorded on its own),
//! seeded from the song's generator, and only for the parts that are switched on, so a render
//! without a chain draws nothing and stays bit-identical.
//!
//! Parts (`cargo xtask dataset --chain room,mic,comp,drive,noise,velocity,mix | all | none`):
//! * `velocity`: the player: a random velocity curve per track (other velocity layers and
//!   brightness) and note lengths scaled (shorter or longer releases). Changes the notes before
//!   rendering, so labels and drum onsets follow.
//! * `room`: a generated room impulse response per track (pre-delay, 6–12 early reflections,
//!   a late tail of exponentially decaying, low-passed noise, decorrelated per channel; RT60
//!   0.2–1.2 s), mixed with the direct sound by FFT convolution.
//! * `mic`: microphone and placement colouration: high-pass 30–120 Hz, low shelf ±4 dB, one
//!   or two peaks ±5 dB at 400 Hz–6 kHz, high shelf −9…+3 dB (distant or dark mics).
//! * `comp`: a per-track compressor (threshold 8–20 dB under the track's active level, ratio
//!   2–6), as a mix engineer compresses single tracks.
//! * `drive`: amp-style saturation (pre-gain, tanh, cabinet band-pass) for distorted guitar
//!   (always, 6–24 dB of drive) and sometimes clean guitar, bass and organ (0–9 dB).
//! * `noise`: microphone/preamp noise per track, pinkish, 45–65 dB under the track's active
//!   level (under the labels' floor, so labels do not change).
//! * `mix`: a master-bus colouration (tilt and a wide peak) applied identically to every stem,
//!   so the mix stays the exact sum of the stems.
//! * `repitch`: sample playback further from the sample's root, as sparser multisamples sound:
//!   a track (probability 0.7) plays every note as the instrument plays the key `k` semitones
//!   lower (melodic `k` = ±1…4, drums ±1…2: retuned drums), sped up by `r = 2^(k/12)`, so pitch
//!   and timing stay. Where that key has another multisample, its formants and body resonances
//!   come along, `k` semitones off; within one sample zone the playback is the same (a sampler
//!   already resamples there), except that the synthesizer's times and frequencies (envelopes,
//!   filters, LFOs) scale by `r`. Reading a signal `r` times faster is rendering it at
//!   `rate / r` and playing the frames at `rate` ([`repitch`]: keys −k, note times ×r, the
//!   synthesizer at `round(rate / r)` Hz); labels and drum onsets keep the song's times.
//!
//! `--chain-clean P` renders a fraction `P` of the training songs without any part (one draw per
//! song), so the model sees clean renders beside recorded ones.
//!
//! Each part keeps the track's active level where it changes it (renormalized), so the
//! composer's balance holds; everything stays finite.

use anyhow::{bail, Result};
use biquad::{Biquad, Coefficients, DirectForm2Transposed, ToHertz, Type};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;

use super::classes::{Class, BASS, CLEAN_GUITAR, DIST_GUITAR, DRUMS, ORGAN};
use super::compose::Note;
use super::render::{active_rms_db, normalize_track};

/// Which parts of the recording chain run (all drawn from the song's seeded generator).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Chain {
    /// Velocity curve and note lengths per track.
    pub velocity: bool,
    /// Generated room impulse response per track.
    pub room: bool,
    /// Microphone colouration EQ per track.
    pub mic: bool,
    /// Per-track compressor.
    pub comp: bool,
    /// Amp-style saturation for guitars (and sometimes bass, organ).
    pub drive: bool,
    /// Microphone noise per track.
    pub noise: bool,
    /// Master-bus colouration, identical on every stem.
    pub mix: bool,
    /// Sample playback re-pitched by resampling (pitch and timing stay; another multisample's
    /// formants where the shifted key has one).
    pub repitch: bool,
}

impl Chain {
    /// Every part.
    pub const ALL: Chain =
        Chain { velocity: true, room: true, mic: true, comp: true, drive: true, noise: true, mix: true, repitch: true };

    /// Parses `room,mic,comp,drive,noise,velocity,mix,repitch` (or `all`, `none`).
    pub fn parse(s: &str) -> Result<Self> {
        let mut c = Chain::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => c = Chain::ALL,
                "none" => c = Chain::default(),
                "velocity" => c.velocity = true,
                "room" => c.room = true,
                "mic" => c.mic = true,
                "comp" => c.comp = true,
                "drive" => c.drive = true,
                "noise" => c.noise = true,
                "mix" => c.mix = true,
                "repitch" => c.repitch = true,
                other => bail!(
                    "unknown recording-chain part {other:?} (room, mic, comp, drive, noise, velocity, mix, repitch, all, none)"
                ),
            }
        }
        Ok(c)
    }

    /// This chain with re-pitching off.
    pub fn without_repitch(self) -> Chain {
        Chain { repitch: false, ..self }
    }

    /// Whether every part is off (the default).
    pub fn is_off(&self) -> bool {
        *self == Chain::default()
    }

    /// The chain one song is rendered with: all parts off for a fraction `clean` of the songs
    /// (one draw, only when some part is on, so renders without a chain draw nothing).
    pub fn for_song(&self, clean: f64, rng: &mut ChaCha8Rng) -> Chain {
        if self.is_off() || !rng.gen_bool(1.0 - clean.clamp(0.0, 1.0)) {
            Chain::default()
        } else {
            *self
        }
    }

    /// Whether any per-track audio part is on.
    fn any_audio(&self) -> bool {
        self.room || self.mic || self.comp || self.drive || self.noise
    }
}

/// The player part: a random velocity curve (`v·a + b`) and note lengths scaled by one factor
/// per track (drums keep their lengths: one-shots ignore them).
pub fn play(notes: &mut [Note], class: Class, chain: &Chain, rng: &mut ChaCha8Rng) {
    if !chain.velocity {
        return;
    }
    let a = rng.gen_range(0.6..1.3);
    let b = rng.gen_range(-20.0..20.0);
    let len = rng.gen_range(0.7..1.3);
    for n in notes {
        n.vel = (n.vel as f64 * a + b).round().clamp(1.0, 127.0) as u8;
        if class != DRUMS {
            n.dur *= len;
        }
    }
}

/// The `repitch` part's playback of one track: `None` when it is off or the draw keeps the
/// sample's own pitch; otherwise the synthesizer rate `round(rate / r)` and the notes to play
/// there: keys `k` semitones lower (melodic classes only: drum keys pick instruments) and times
/// scaled by the exact `r = rate / synth_rate`, so that frame `n` of the render, played at
/// `rate`, is the sample read `r` times faster: every note sounds at its own key, at its own
/// time (to the frame), with its spectrum's envelope moved up by `k` semitones.
pub fn repitch(
    notes: &[Note],
    class: Class,
    rate: u32,
    chain: &Chain,
    rng: &mut ChaCha8Rng,
) -> Option<(u32, Vec<Note>, i32)> {
    if !chain.repitch || !rng.gen_bool(0.7) {
        return None;
    }
    let reach = if class == DRUMS { 2 } else { 4 };
    let k = rng.gen_range(1..=reach) * if rng.gen_bool(0.5) { 1 } else { -1 };
    let synth_rate = (rate as f64 / 2f64.powf(k as f64 / 12.0)).round() as u32;
    let r = rate as f64 / synth_rate as f64;
    let played = notes
        .iter()
        .map(|n| Note {
            start: n.start * r,
            dur: n.dur * r,
            key: if class == DRUMS { n.key } else { (n.key as i32 - k).clamp(0, 127) as u8 },
            vel: n.vel,
        })
        .collect();
    Some((synth_rate, played, k))
}

/// The per-track audio parts, in signal order (drive, mic, comp, room, noise). Returns a short
/// description of what was applied (for meta.json), empty when nothing was.
pub fn record(audio: &mut [Vec<f32>; 2], class: Class, rate: u32, chain: &Chain, rng: &mut ChaCha8Rng) -> String {
    if !chain.any_audio() || audio[0].is_empty() {
        return String::new();
    }
    let mut notes = Vec::new();
    if chain.drive {
        let drive_db = match class {
            DIST_GUITAR => Some(rng.gen_range(6.0..24.0)),
            CLEAN_GUITAR | BASS | ORGAN if rng.gen_bool(0.4) => Some(rng.gen_range(0.0..9.0)),
            _ => None,
        };
        if let Some(d) = drive_db {
            drive(audio, rate, d, rng.gen_range(2500.0..6000.0));
            notes.push(format!("drive {d:.0} dB"));
        }
    }
    if chain.mic {
        mic(audio, rate, rng);
        notes.push("mic".into());
    }
    if chain.comp {
        let below = rng.gen_range(8.0..20.0);
        let ratio = rng.gen_range(2.0..6.0);
        compress(audio, rate, below, ratio);
        notes.push(format!("comp {ratio:.1}:1"));
    }
    if chain.room {
        let rt60 = rng.gen_range(0.2..1.2);
        let wet = rng.gen_range(0.15..0.6);
        let ir = room_ir(rate, rt60, rng);
        convolve_wet(audio, &ir, wet);
        notes.push(format!("room {rt60:.2} s"));
    }
    renormalize(audio, rate);
    if chain.noise {
        let below = rng.gen_range(45.0..65.0);
        add_noise(audio, rate, below, rng);
        notes.push(format!("noise -{below:.0} dB"));
    }
    notes.join(", ")
}

/// Brings a processed track back to the render's track level (where it has any signal).
fn renormalize(audio: &mut [Vec<f32>; 2], rate: u32) {
    if active_rms_db(audio, rate).is_finite() {
        normalize_track(audio, rate);
    }
}

fn filter(audio: &mut [Vec<f32>; 2], rate: u32, kind: Type<f32>, f0: f32, q: f32) {
    let f0 = f0.min(rate as f32 * 0.45);
    if let Ok(c) = Coefficients::<f32>::from_params(kind, (rate as f32).hz(), f0.hz(), q) {
        for ch in audio.iter_mut() {
            let mut f = DirectForm2Transposed::<f32>::new(c);
            ch.iter_mut().for_each(|x| *x = f.run(*x));
        }
    }
}

/// Amp-style saturation: `drive_db` of pre-gain into tanh, then a cabinet (high-pass 80 Hz,
/// low-pass at `cab_hz`), level restored to the input's active level.
pub fn drive(audio: &mut [Vec<f32>; 2], rate: u32, drive_db: f32, cab_hz: f32) {
    let level = active_rms_db(audio, rate);
    if !level.is_finite() {
        return;
    }
    // Drive relative to a −12 dBFS reference, so the amount does not depend on the track level.
    let g = 10f32.powf((drive_db - 12.0 - level) / 20.0);
    for ch in audio.iter_mut() {
        ch.iter_mut().for_each(|x| *x = (*x * g).tanh());
    }
    filter(audio, rate, Type::HighPass, 80.0, 0.707);
    filter(audio, rate, Type::LowPass, cab_hz, 0.9);
    let gain = 10f32.powf((level - active_rms_db(audio, rate)) / 20.0);
    audio.iter_mut().flatten().for_each(|x| *x *= gain);
}

/// Microphone and placement colouration.
pub fn mic(audio: &mut [Vec<f32>; 2], rate: u32, rng: &mut ChaCha8Rng) {
    filter(audio, rate, Type::HighPass, rng.gen_range(30.0..120.0), 0.707);
    filter(audio, rate, Type::LowShelf(rng.gen_range(-4.0..4.0)), rng.gen_range(100.0..300.0), 0.707);
    for _ in 0..rng.gen_range(1..=2) {
        let f0 = 10f32.powf(rng.gen_range(2.6..3.78)); // 400 Hz – 6 kHz
        filter(audio, rate, Type::PeakingEQ(rng.gen_range(-5.0..5.0)), f0, rng.gen_range(0.7..2.0));
    }
    filter(audio, rate, Type::HighShelf(rng.gen_range(-9.0..3.0)), rng.gen_range(6000.0..10000.0), 0.707);
}

/// A feed-forward RMS compressor with its threshold `below_db` under the track's active level.
pub fn compress(audio: &mut [Vec<f32>; 2], rate: u32, below_db: f32, ratio: f32) {
    let level = active_rms_db(audio, rate);
    if !level.is_finite() {
        return;
    }
    let threshold = level - below_db;
    let att = (-1.0 / (0.005 * rate as f32)).exp();
    let rel = (-1.0 / (0.100 * rate as f32)).exp();
    let mut env = 0.0f32;
    for i in 0..audio[0].len() {
        let x = 0.5 * (audio[0][i] * audio[0][i] + audio[1][i] * audio[1][i]);
        let k = if x > env { att } else { rel };
        env = k * env + (1.0 - k) * x;
        let over = 10.0 * env.max(1e-12).log10() - threshold;
        let g = if over > 0.0 { 10f32.powf(-over * (1.0 - 1.0 / ratio) / 20.0) } else { 1.0 };
        audio[0][i] *= g;
        audio[1][i] *= g;
    }
}

/// A generated stereo room impulse response (`[left, right]`, wet part only): pre-delay, early
/// reflections and a late tail of decaying low-passed noise with the given RT60, unit energy.
pub fn room_ir(rate: u32, rt60: f32, rng: &mut ChaCha8Rng) -> [Vec<f32>; 2] {
    let r = rate as f32;
    let len = ((rt60 * 1.2 + 0.03) * r) as usize;
    let pre = (rng.gen_range(0.005..0.025) * r) as usize;
    let decay = 6.9078 / (rt60 * r); // amplitude e-folding per sample for −60 dB at rt60
    let cutoff = rng.gen_range(3000.0f32..8000.0).min(r * 0.45);
    let a = (-2.0 * std::f32::consts::PI * cutoff / r).exp();
    let mut ir = [vec![0.0f32; len], vec![0.0f32; len]];
    for ch in ir.iter_mut() {
        // Late tail: noise × exp decay, one-pole low-passed, starting after the pre-delay.
        let mut lp = 0.0f32;
        for (i, x) in ch.iter_mut().enumerate().skip(pre) {
            let n: f32 = rng.gen_range(-1.0..1.0);
            lp = a * lp + (1.0 - a) * n;
            *x = lp * (-decay * (i - pre) as f32).exp();
        }
        // Early reflections: sparse taps in the first 5–60 ms after the pre-delay.
        for _ in 0..rng.gen_range(6..=12) {
            let t = pre + (rng.gen_range(0.005..0.06) * r) as usize;
            if t < len {
                let g = rng.gen_range(0.2..0.7) * (-decay * (t - pre) as f32).exp();
                ch[t] += if rng.gen_bool(0.5) { g } else { -g };
            }
        }
    }
    let energy: f32 = ir.iter().flatten().map(|x| x * x).sum::<f32>() / 2.0;
    if energy > 0.0 {
        let k = 1.0 / energy.sqrt();
        ir.iter_mut().flatten().for_each(|x| *x *= k);
    }
    ir
}

/// `audio += wet · (audio ⊛ ir)` per channel (FFT convolution, tail cut at the track's end).
pub fn convolve_wet(audio: &mut [Vec<f32>; 2], ir: &[Vec<f32>; 2], wet: f32) {
    let n = audio[0].len();
    let size = (n + ir[0].len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let (fwd, inv) = (planner.plan_fft_forward(size), planner.plan_fft_inverse(size));
    for (ch, h) in audio.iter_mut().zip(ir) {
        let mut x = vec![0.0f32; size];
        x[..n].copy_from_slice(ch);
        let mut hx = vec![0.0f32; size];
        hx[..h.len()].copy_from_slice(h);
        let (mut xs, mut hs) = (fwd.make_output_vec(), fwd.make_output_vec());
        // Lengths match the plans by construction.
        if fwd.process(&mut x, &mut xs).is_err() || fwd.process(&mut hx, &mut hs).is_err() {
            continue;
        }
        xs.iter_mut().zip(&hs).for_each(|(a, b)| *a *= b);
        let mut y = vec![0.0f32; size];
        if inv.process(&mut xs, &mut y).is_err() {
            continue;
        }
        let k = wet / size as f32;
        ch.iter_mut().zip(&y).for_each(|(d, w)| *d += k * w);
    }
}

/// Adds pinkish noise `below_db` under the track's active level, independent per channel.
pub fn add_noise(audio: &mut [Vec<f32>; 2], rate: u32, below_db: f32, rng: &mut ChaCha8Rng) {
    let level = active_rms_db(audio, rate);
    if !level.is_finite() {
        return;
    }
    let mut noise = [vec![0.0f32; audio[0].len()], vec![0.0f32; audio[0].len()]];
    for ch in noise.iter_mut() {
        // Paul Kellet's economy pink filter over white noise.
        let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
        for x in ch.iter_mut() {
            let w: f32 = rng.gen_range(-1.0..1.0);
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            *x = b0 + b1 + b2 + w * 0.1848;
        }
    }
    let rms = (noise.iter().flatten().map(|x| x * x).sum::<f32>() / (2 * noise[0].len()).max(1) as f32).sqrt();
    if rms <= 0.0 {
        return;
    }
    let k = 10f32.powf((level - below_db) / 20.0) / rms;
    for (d, n) in audio.iter_mut().zip(&noise) {
        d.iter_mut().zip(n).for_each(|(x, y)| *x += k * y);
    }
}

/// The master-bus colouration: one random tilt and a wide peak, the same filters for every
/// stem (linear, so the mix stays their sum). Returns the filter settings to apply with
/// [`apply_master`].
pub fn draw_master(rng: &mut ChaCha8Rng) -> [(f32, f32); 2] {
    [(rng.gen_range(-3.0..3.0), rng.gen_range(200.0..800.0)), (rng.gen_range(-3.0..3.0), rng.gen_range(1000.0..5000.0))]
}

/// Applies [`draw_master`]'s settings to one stem: a low shelf, then a wide peak.
pub fn apply_master(audio: &mut [Vec<f32>; 2], rate: u32, m: &[(f32, f32); 2]) {
    filter(audio, rate, Type::LowShelf(m[0].0), m[0].1, 0.707);
    filter(audio, rate, Type::PeakingEQ(m[1].0), m[1].1, 0.5);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const RATE: u32 = 22_050;

    fn tone(freq: f32, seconds: f32, amp: f32) -> [Vec<f32>; 2] {
        let n = (seconds * RATE as f32) as usize;
        let ch: Vec<f32> =
            (0..n).map(|i| amp * (2.0 * std::f32::consts::PI * freq * i as f32 / RATE as f32).sin()).collect();
        [ch.clone(), ch]
    }

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum()
    }

    /// Energy of `x` at `freq` (one DFT bin, Hann-free over a whole number of periods).
    fn bin(x: &[f32], freq: f32) -> f32 {
        let (mut re, mut im) = (0.0f64, 0.0f64);
        for (i, v) in x.iter().enumerate() {
            let p = 2.0 * std::f64::consts::PI * freq as f64 * i as f64 / RATE as f64;
            re += *v as f64 * p.cos();
            im += *v as f64 * p.sin();
        }
        ((re * re + im * im).sqrt() / x.len() as f64) as f32
    }

    #[test]
    fn parse_names_every_part_and_refuses_others() {
        assert_eq!(Chain::parse("all").unwrap(), Chain::ALL);
        assert_eq!(Chain::parse("none").unwrap(), Chain::default());
        assert_eq!(
            Chain::parse("velocity,room,mic,comp,drive,noise,mix,repitch").unwrap(),
            Chain::ALL,
            "a part of ALL has no name"
        );
        let c = Chain::parse("room, drive").unwrap();
        assert!(c.room && c.drive && !c.mic && !c.velocity);
        assert!(Chain::parse("reverb").unwrap_err().to_string().contains("reverb"));
    }

    #[test]
    fn room_adds_a_decaying_tail_after_the_direct_sound() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ir = room_ir(RATE, 0.8, &mut rng);
        assert!(ir.iter().flatten().all(|x| x.is_finite()));
        // Decays: each 100 ms window after the first holds less energy than the one before.
        let w = RATE as usize / 10;
        let e: Vec<f32> = (0..6).map(|k| energy(&ir[0][k * w..(k + 1) * w])).collect();
        assert!(e.windows(2).all(|p| p[1] < p[0]), "{e:?}");
        // ~60 dB in 0.8 s: 0.4 s later the energy is roughly 30 dB lower.
        let drop = 10.0 * (e[1] / e[5]).log10();
        assert!((20.0..40.0).contains(&drop), "{drop} dB");
        // An impulse gains a tail; left and right tails differ (decorrelated).
        let mut a = [vec![0.0f32; RATE as usize], vec![0.0f32; RATE as usize]];
        a[0][100] = 1.0;
        a[1][100] = 1.0;
        convolve_wet(&mut a, &ir, 0.5);
        assert_eq!(a[0][100], 1.0 + 0.5 * ir[0][0]);
        assert!(energy(&a[0][2000..]) > 0.01 && a[0][2000..] != a[1][2000..]);
    }

    #[test]
    fn drive_adds_harmonics_and_keeps_the_level() {
        let mut a = tone(220.0, 1.0, 0.1);
        let before = active_rms_db(&a, RATE);
        let h3 = bin(&a[0], 660.0);
        drive(&mut a, RATE, 18.0, 5000.0);
        assert!(a.iter().flatten().all(|x| x.is_finite() && x.abs() < 1.0));
        assert!(bin(&a[0], 660.0) > 50.0 * h3.max(1e-6), "no third harmonic");
        assert!((active_rms_db(&a, RATE) - before).abs() < 0.5);
    }

    #[test]
    fn compressor_narrows_the_dynamics() {
        // A loud second then a quiet one, 20 dB apart.
        let loud = tone(440.0, 1.0, 0.5);
        let quiet = tone(440.0, 1.0, 0.05);
        let mut a = [[loud[0].clone(), quiet[0].clone()].concat(), [loud[1].clone(), quiet[1].clone()].concat()];
        let n = RATE as usize;
        compress(&mut a, RATE, 10.0, 4.0);
        let ratio_db = 10.0 * (energy(&a[0][n / 2..n]) / energy(&a[0][n + n / 2..])).log10();
        assert!(ratio_db < 17.0 && ratio_db > 3.0, "{ratio_db} dB between loud and quiet parts");
    }

    #[test]
    fn noise_sits_at_its_level_and_mic_changes_the_colour() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut a = tone(440.0, 1.0, 0.1);
        a[0].extend(vec![0.0; RATE as usize]);
        a[1].extend(vec![0.0; RATE as usize]);
        let level = active_rms_db(&a, RATE);
        add_noise(&mut a, RATE, 50.0, &mut rng);
        let n = RATE as usize;
        let tail = 10.0 * (energy(&a[0][n..]) / n as f32).log10();
        assert!((tail - (level - 50.0)).abs() < 3.0, "noise at {tail:.1} dBFS, track {level:.1}");
        let mut b = tone(3000.0, 0.5, 0.1);
        let before = b.clone();
        mic(&mut b, RATE, &mut rng);
        assert!(b[0] != before[0] && b.iter().flatten().all(|x| x.is_finite()));
    }

    #[test]
    fn repitch_lowers_keys_and_stretches_times_to_land_on_the_same_frames() {
        let notes: Vec<Note> =
            (0..8).map(|i| Note { start: 0.25 * i as f64, dur: 0.2, key: 60 + i as u8, vel: 90 }).collect();
        let on = Chain { repitch: true, ..Chain::default() };
        let (mut seen, mut kept) = (std::collections::BTreeSet::new(), 0);
        for seed in 0..200 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let Some((synth_rate, played, k)) = repitch(&notes, CLEAN_GUITAR, RATE, &on, &mut rng) else {
                kept += 1;
                continue;
            };
            assert!((1..=4).contains(&k.abs()), "{k}");
            seen.insert(k);
            // The synthesizer runs r = 2^(k/12) slower (to the Hz) ...
            let r = RATE as f64 / synth_rate as f64;
            assert!((r.log2() * 12.0 - k as f64).abs() < 0.01, "rate {synth_rate} for k = {k}");
            for (n, p) in notes.iter().zip(&played) {
                // ... plays each note k semitones lower, and its onset and end land on the
                // song's frames when the render is played at RATE.
                assert_eq!(p.key as i32, n.key as i32 - k);
                assert!((p.start * synth_rate as f64 - n.start * RATE as f64).abs() < 1e-6);
                assert!(((p.start + p.dur) * synth_rate as f64 - (n.start + n.dur) * RATE as f64).abs() < 1e-6);
            }
        }
        assert_eq!(seen.len(), 8, "not every shift of ±1…4 was drawn: {seen:?}");
        assert!((30..90).contains(&kept), "{kept} of 200 tracks kept their pitch (about 60 expected)");
        // Drums keep their keys (they pick instruments) and retune by at most 2 semitones.
        for seed in 0..50 {
            if let Some((_, played, k)) = repitch(&notes, DRUMS, RATE, &on, &mut ChaCha8Rng::seed_from_u64(seed)) {
                assert!(k.abs() <= 2 && played.iter().zip(&notes).all(|(p, n)| p.key == n.key));
            }
        }
        // Off: nothing drawn.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert!(repitch(&notes, BASS, RATE, &Chain::ALL.without_repitch(), &mut rng).is_none());
        assert_eq!(rng.gen::<u64>(), ChaCha8Rng::seed_from_u64(1).gen::<u64>());
    }

    #[test]
    fn a_clean_fraction_of_songs_skips_the_chain_and_no_chain_draws_nothing() {
        let draws = |clean: f64| {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            (0..1000).filter(|_| Chain::ALL.for_song(clean, &mut rng).is_off()).count()
        };
        assert_eq!(draws(0.0), 0);
        assert_eq!(draws(1.0), 1000);
        assert!((250..350).contains(&draws(0.3)), "{}", draws(0.3));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert!(Chain::default().for_song(0.5, &mut rng).is_off());
        assert_eq!(rng.gen::<u64>(), ChaCha8Rng::seed_from_u64(5).gen::<u64>());
    }

    #[test]
    fn record_is_deterministic_and_draws_nothing_when_off() {
        let run = |chain: Chain, seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut a = tone(196.0, 2.0, 0.2);
            let note = record(&mut a, DIST_GUITAR, RATE, &chain, &mut rng);
            (a, note, rng.gen::<u64>())
        };
        let (a, note, _) = run(Chain::ALL, 3);
        assert_eq!((a.clone(), note.clone()), {
            let (b, n, _) = run(Chain::ALL, 3);
            (b, n)
        });
        assert!(note.contains("drive") && note.contains("room") && note.contains("noise"), "{note}");
        assert!(a.iter().flatten().all(|x| x.is_finite()));
        // Off: no change, and the generator is where it was (renders without a chain unchanged).
        let (b, note, next) = run(Chain::default(), 3);
        let mut fresh = ChaCha8Rng::seed_from_u64(3);
        assert_eq!((b, note, next), (tone(196.0, 2.0, 0.2), String::new(), fresh.gen::<u64>()));
    }
}
