//! The procedural composer: multitrack songs with a real arrangement.
//!
//! A song has a style (rock, pop, funk, jazz, ballad, electronic, chamber), a tempo (60–180 BPM),
//! a key and mode, and a form of sections (intro, verse, chorus, bridge, outro) over chord
//! progressions. Tracks take roles — drums, bass, harmony, melody, pad, and an occasional extra
//! colour — and instruments enter and leave between sections, so activity varies over time.
//! Timing and velocity are humanized; drum grooves end sections with fills and start them with
//! crashes. Everything is drawn from one seeded generator, so a seed is a song.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::classes::{drum_keys as dk, Class, *};

/// A note in seconds (humanized), with a MIDI key and velocity.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Note {
    /// Onset in seconds from the song start.
    pub start: f64,
    /// Duration in seconds.
    pub dur: f64,
    /// MIDI key (GM percussion key for drum tracks).
    pub key: u8,
    /// MIDI velocity 1–127.
    pub vel: u8,
}

/// What a track does in the arrangement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    Drums,
    Bass,
    Harmony,
    Melody,
    Pad,
    Extra,
}

/// One instrument track.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Track {
    /// Instrument class (the label).
    pub class: Class,
    /// Class name, for the metadata.
    pub class_name: &'static str,
    /// Role in the arrangement.
    pub role: Role,
    /// GM program (0-based); for drums, the index of the kit in the timbre set.
    pub program: u8,
    /// Stereo position 0–127 (64 = centre).
    pub pan: u8,
    /// Track gain in dB applied at mixdown (augmentation).
    pub gain_db: f32,
    /// Notes, sorted by onset.
    pub notes: Vec<Note>,
}

/// A section of the form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Section {
    /// intro, verse, chorus, bridge or outro.
    pub name: &'static str,
    /// Start in seconds.
    pub start: f64,
    /// Length in bars.
    pub bars: usize,
    /// Which tracks play (same order as [`Song::tracks`]).
    pub active: Vec<bool>,
}

/// A whole song.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Song {
    /// Style name.
    pub style: &'static str,
    /// Tempo in BPM.
    pub tempo: f64,
    /// Beats per bar (4, or 3 for waltzes).
    pub beats_per_bar: usize,
    /// Tonic as a pitch class (0 = C).
    pub tonic: u8,
    /// Mode name.
    pub mode: &'static str,
    /// Length in seconds (end of the last section).
    pub seconds: f64,
    /// The form.
    pub sections: Vec<Section>,
    /// The tracks.
    pub tracks: Vec<Track>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Rock,
    Pop,
    Funk,
    Jazz,
    Ballad,
    Electronic,
    Chamber,
}

const STYLES: [Style; 7] =
    [Style::Rock, Style::Pop, Style::Funk, Style::Jazz, Style::Ballad, Style::Electronic, Style::Chamber];

impl Style {
    fn name(self) -> &'static str {
        match self {
            Style::Rock => "rock",
            Style::Pop => "pop",
            Style::Funk => "funk",
            Style::Jazz => "jazz",
            Style::Ballad => "ballad",
            Style::Electronic => "electronic",
            Style::Chamber => "chamber",
        }
    }

    fn tempo(self) -> (f64, f64) {
        match self {
            Style::Rock => (100.0, 170.0),
            Style::Pop => (85.0, 130.0),
            Style::Funk => (88.0, 118.0),
            Style::Jazz => (90.0, 180.0),
            Style::Ballad => (60.0, 84.0),
            Style::Electronic => (110.0, 140.0),
            Style::Chamber => (60.0, 126.0),
        }
    }

    /// (drums probability, bass classes+programs, harmony, melody, pad) instrument pools.
    fn pools(self) -> (f64, &'static [u8], &'static [Class], &'static [Class], &'static [Class]) {
        match self {
            Style::Rock => (
                0.95,
                &[33, 34, 35],
                &[DIST_GUITAR, CLEAN_GUITAR, ORGAN, PIANO, AC_GUITAR],
                &[VOICE, DIST_GUITAR, SYNTH_LEAD, BRASS],
                &[STRINGS, ORGAN, SYNTH_PAD],
            ),
            Style::Pop => (
                0.9,
                &[33, 34, 38],
                &[PIANO, EPIANO, AC_GUITAR, CLEAN_GUITAR, SYNTH_PAD],
                &[VOICE, SYNTH_LEAD, WOODWINDS, STRINGS, BRASS],
                &[STRINGS, SYNTH_PAD, ORGAN, VOICE],
            ),
            Style::Funk => (
                1.0,
                &[36, 37, 33],
                &[CLEAN_GUITAR, EPIANO, ORGAN],
                &[BRASS, WOODWINDS, SYNTH_LEAD, VOICE],
                &[SYNTH_PAD, STRINGS, ORGAN],
            ),
            Style::Jazz => (
                0.9,
                &[32, 35],
                &[PIANO, CLEAN_GUITAR, EPIANO, ORGAN],
                &[WOODWINDS, BRASS, VOICE, CLEAN_GUITAR],
                &[STRINGS, WOODWINDS],
            ),
            Style::Ballad => (
                0.5,
                &[32, 33, 35],
                &[PIANO, AC_GUITAR, EPIANO],
                &[VOICE, STRINGS, WOODWINDS],
                &[STRINGS, SYNTH_PAD, VOICE],
            ),
            Style::Electronic => {
                (1.0, &[38, 39], &[SYNTH_PAD, EPIANO, PIANO], &[SYNTH_LEAD, VOICE], &[SYNTH_PAD, STRINGS])
            }
            Style::Chamber => (
                0.0,
                &[32],
                &[PIANO, STRINGS, ORGAN],
                &[WOODWINDS, STRINGS, BRASS, VOICE],
                &[STRINGS, BRASS, WOODWINDS],
            ),
        }
    }
}

const MODES: [(&str, [u8; 7]); 4] = [
    ("major", [0, 2, 4, 5, 7, 9, 11]),
    ("minor", [0, 2, 3, 5, 7, 8, 10]),
    ("dorian", [0, 2, 3, 5, 7, 9, 10]),
    ("mixolydian", [0, 2, 4, 5, 7, 9, 10]),
];

/// Chord progressions as scale degrees (0-based), one chord per bar.
const PROGRESSIONS: [&[usize]; 8] = [
    &[0, 4, 5, 3],
    &[0, 5, 3, 4],
    &[5, 3, 0, 4],
    &[0, 3, 4, 4],
    &[1, 4, 0, 0],
    &[0, 3, 0, 4],
    &[0, 6, 5, 4],
    &[3, 4, 2, 5],
];

struct Ctx {
    beat: f64,
    bpb: usize,
    scale: [u8; 7],
    tonic: u8,
    swing: bool,
}

impl Ctx {
    /// Seconds at a beat position, with swing on off-beat eighths.
    fn t(&self, beats: f64) -> f64 {
        let mut b = beats;
        if self.swing {
            let frac = b - b.floor();
            if (frac - 0.5).abs() < 1e-6 {
                b = b.floor() + 2.0 / 3.0;
            }
        }
        b * self.beat
    }

    /// MIDI key of scale degree `deg` (any integer, wraps octaves) above octave `oct`.
    fn degree(&self, deg: i32, oct: i32) -> i32 {
        let d = deg.rem_euclid(7) as usize;
        let o = deg.div_euclid(7);
        12 * (oct + o + 1) + self.tonic as i32 + self.scale[d] as i32
    }

    /// Chord tones (root, third, fifth, seventh) of degree `root` near `oct`.
    fn chord(&self, root: usize, oct: i32, seventh: bool) -> Vec<i32> {
        let n = if seventh { 4 } else { 3 };
        (0..n).map(|i| self.degree(root as i32 + 2 * i, oct)).collect()
    }
}

fn clamp_key(k: i32, (lo, hi): (u8, u8)) -> u8 {
    let mut k = k;
    while k < lo as i32 {
        k += 12;
    }
    while k > hi as i32 {
        k -= 12;
    }
    k.clamp(0, 127) as u8
}

struct Writer<'a> {
    rng: &'a mut ChaCha8Rng,
    notes: Vec<Note>,
    jitter: f64,
}

impl Writer<'_> {
    fn add(&mut self, start: f64, dur: f64, key: u8, vel: f64) {
        let j = self.rng.gen_range(-self.jitter..=self.jitter);
        let v = (vel + self.rng.gen_range(-10.0..=10.0)).clamp(1.0, 127.0) as u8;
        self.notes.push(Note { start: (start + j).max(0.0), dur: dur.max(0.03), key, vel: v });
    }
}

/// Composes a song of about `seconds` seconds from `rng`.
pub fn compose(rng: &mut ChaCha8Rng, seconds: f64) -> Song {
    let style = *STYLES.choose(rng).expect("styles");
    let (lo, hi) = style.tempo();
    let tempo = rng.gen_range(lo..=hi).round();
    let bpb = if matches!(style, Style::Ballad | Style::Jazz | Style::Chamber) && rng.gen_bool(0.2) { 3 } else { 4 };
    let (mode, scale) = *MODES.choose(rng).expect("modes");
    let tonic = rng.gen_range(0..12u8);
    let ctx = Ctx { beat: 60.0 / tempo, bpb, scale, tonic, swing: style == Style::Jazz && bpb == 4 };

    // Instruments.
    let (p_drums, bass_programs, harmony, melody, pad) = style.pools();
    let mut roles: Vec<(Role, Class, u8)> = Vec::new();
    if rng.gen_bool(p_drums) {
        roles.push((Role::Drums, DRUMS, 0));
    }
    if style == Style::Chamber && rng.gen_bool(0.5) {
        roles.push((Role::Bass, STRINGS, 42)); // cello
    } else if !(style == Style::Ballad && rng.gen_bool(0.3)) {
        roles.push((Role::Bass, BASS, *bass_programs.choose(rng).expect("bass")));
    }
    let n_harmony = if rng.gen_bool(0.4) { 2 } else { 1 };
    let pick = |pool: &[Class], rng: &mut ChaCha8Rng, roles: &[(Role, Class, u8)]| -> Option<Class> {
        let free: Vec<Class> = pool.iter().copied().filter(|c| !roles.iter().any(|r| r.1 == *c)).collect();
        free.choose(rng).copied()
    };
    for _ in 0..n_harmony {
        if let Some(c) = pick(harmony, rng, &roles) {
            roles.push((Role::Harmony, c, program_for(c, rng)));
        }
    }
    if let Some(c) = pick(melody, rng, &roles) {
        roles.push((Role::Melody, c, program_for(c, rng)));
    }
    if rng.gen_bool(0.6) {
        if let Some(c) = pick(pad, rng, &roles) {
            roles.push((Role::Pad, c, program_for(c, rng)));
        }
    }
    // An occasional extra colour from any melodic class, so every class appears in every style.
    if rng.gen_bool(0.45) {
        let all: Vec<Class> = (1..CLASSES.len()).map(Class).collect();
        if let Some(c) = pick(&all, rng, &roles) {
            roles.push((Role::Extra, c, program_for(c, rng)));
        }
    }

    // Form.
    let bar = ctx.beat * bpb as f64;
    let plan: &[(&str, usize)] =
        &[("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("bridge", 4), ("chorus", 8), ("outro", 4)];
    let mut sections = Vec::new();
    let mut t = 0.0;
    let start_at = if rng.gen_bool(0.5) { 0 } else { 1 };
    for &(name, bars) in plan.iter().skip(start_at).cycle() {
        if t >= seconds {
            break;
        }
        let bars = if rng.gen_bool(0.25) { bars / 2 } else { bars }.max(2);
        let active = arrange(rng, name, &roles);
        sections.push(Section { name, start: t, bars, active });
        t += bars as f64 * bar;
    }

    // Parts.
    let mut tracks: Vec<Track> = roles
        .iter()
        .map(|&(role, class, program)| Track {
            class,
            class_name: class.name(),
            role,
            program,
            pan: if role == Role::Drums || role == Role::Bass { 64 } else { rng.gen_range(24..=104) },
            gain_db: rng.gen_range(-6.0..=2.0),
            notes: Vec::new(),
        })
        .collect();
    let mut bar_index = 0usize;
    for (si, sec) in sections.iter().enumerate() {
        let prog = PROGRESSIONS.choose(rng).expect("progressions");
        let seventh = style == Style::Jazz || rng.gen_bool(0.2);
        let last_section = si + 1 == sections.len();
        for b in 0..sec.bars {
            let root = prog[b % prog.len()];
            let t0 = sec.start + b as f64 * bar;
            let beat0 = t0 / ctx.beat;
            let fill = b + 1 == sec.bars && !last_section;
            for (ti, tr) in tracks.iter_mut().enumerate() {
                if !sec.active[ti] {
                    continue;
                }
                let mut w = Writer { rng, notes: std::mem::take(&mut tr.notes), jitter: 0.008 };
                match tr.role {
                    Role::Drums => drums(&mut w, &ctx, style, beat0, b == 0, fill),
                    Role::Bass => bass(&mut w, &ctx, style, beat0, root, tr.class),
                    Role::Harmony => harmony_part(&mut w, &ctx, style, beat0, root, seventh, tr.class),
                    Role::Pad => pad_part(&mut w, &ctx, beat0, root, seventh, tr.class),
                    Role::Melody | Role::Extra => {
                        melody_part(&mut w, &ctx, beat0, root, tr.class, b, tr.role == Role::Extra)
                    }
                }
                tr.notes = w.notes;
            }
            bar_index += 1;
        }
    }
    let _ = bar_index;
    for tr in &mut tracks {
        tr.notes.sort_by(|a, b| a.start.total_cmp(&b.start));
    }
    Song { style: style.name(), tempo, beats_per_bar: bpb, tonic, mode, seconds: t, sections, tracks }
}

fn program_for(class: Class, rng: &mut ChaCha8Rng) -> u8 {
    *PROGRAMS[class.0].choose(rng).unwrap_or(&0)
}

/// Which tracks play in a section: a role-dependent probability plus randomness, never fewer
/// than two tracks.
fn arrange(rng: &mut ChaCha8Rng, section: &str, roles: &[(Role, Class, u8)]) -> Vec<bool> {
    loop {
        let active: Vec<bool> = roles
            .iter()
            .map(|(role, _, _)| {
                let p = match (section, role) {
                    ("intro", Role::Harmony | Role::Pad) => 0.8,
                    ("intro", _) => 0.3,
                    ("outro", Role::Harmony | Role::Pad) => 0.8,
                    ("outro", _) => 0.35,
                    ("verse", Role::Pad | Role::Extra) => 0.35,
                    ("verse", _) => 0.85,
                    ("chorus", _) => 0.92,
                    ("bridge", Role::Drums) => 0.4,
                    ("bridge", _) => 0.6,
                    _ => 0.7,
                };
                rng.gen_bool(p)
            })
            .collect();
        if active.iter().filter(|a| **a).count() >= 2.min(roles.len()) {
            return active;
        }
    }
}

fn drums(w: &mut Writer, ctx: &Ctx, style: Style, b0: f64, first: bool, fill: bool) {
    let bpb = ctx.bpb as f64;
    let soft = matches!(style, Style::Ballad | Style::Jazz);
    let base = if soft { 70.0 } else { 100.0 };
    if first && w.rng.gen_bool(0.7) {
        w.add(ctx.t(b0), ctx.beat * 2.0, dk::CRASH, base + 10.0);
    }
    let groove_end = if fill { bpb - 1.0 } else { bpb };
    // Cymbal pulse.
    let (cym, step) = match style {
        Style::Jazz => (dk::RIDE, 0.5),
        Style::Funk | Style::Electronic => (dk::HH_CLOSED, 0.25),
        Style::Ballad => (dk::HH_CLOSED, 1.0),
        _ => (if w.rng.gen_bool(0.2) { dk::RIDE } else { dk::HH_CLOSED }, 0.5),
    };
    let mut x = 0.0;
    while x < groove_end - 1e-9 {
        let accent = if (x - x.floor()).abs() < 1e-9 { 12.0 } else { 0.0 };
        let key = if style == Style::Electronic && (x - x.floor() - 0.5).abs() < 1e-9 { dk::HH_OPEN } else { cym };
        w.add(ctx.t(b0 + x), ctx.beat * step, key, base - 20.0 + accent);
        x += step;
    }
    // Kick and snare.
    let (kicks, snares): (Vec<f64>, Vec<f64>) = match (style, ctx.bpb) {
        (_, 3) => (vec![0.0], vec![1.0, 2.0]),
        (Style::Electronic, _) => (vec![0.0, 1.0, 2.0, 3.0], vec![1.0, 3.0]),
        (Style::Funk, _) => (vec![0.0, 0.75, 2.5], vec![1.0, 3.0, 3.75]),
        (Style::Jazz, _) => (vec![0.0, 2.5], vec![1.5, 3.5]),
        (Style::Ballad, _) => (vec![0.0, 2.0], vec![2.0]),
        _ => {
            if w.rng.gen_bool(0.5) {
                (vec![0.0, 2.0, 2.5], vec![1.0, 3.0])
            } else {
                (vec![0.0, 1.5, 2.0], vec![1.0, 3.0])
            }
        }
    };
    let snare_key = if style == Style::Ballad && w.rng.gen_bool(0.5) {
        dk::SIDE_STICK
    } else if style == Style::Electronic && w.rng.gen_bool(0.5) {
        dk::CLAP
    } else {
        dk::SNARE
    };
    for k in kicks.into_iter().filter(|k| *k < groove_end) {
        w.add(ctx.t(b0 + k), ctx.beat * 0.5, dk::KICK, base);
    }
    for s in snares.into_iter().filter(|s| *s < groove_end) {
        w.add(ctx.t(b0 + s), ctx.beat * 0.5, snare_key, base - 5.0);
    }
    if fill {
        let toms = [dk::TOM_HIGH, dk::TOM_MID, dk::TOM_LOW, dk::TOM_FLOOR];
        let use_toms = w.rng.gen_bool(0.6);
        for (i, tom) in toms.into_iter().enumerate() {
            let key = if use_toms { tom } else { dk::SNARE };
            w.add(ctx.t(b0 + groove_end + i as f64 * 0.25), ctx.beat * 0.25, key, base - 10.0 + 5.0 * i as f64);
        }
    }
}

fn bass(w: &mut Writer, ctx: &Ctx, style: Style, b0: f64, root: usize, class: Class) {
    let range = class.range();
    let r = ctx.degree(root as i32, 1);
    let fifth = ctx.degree(root as i32 + 4, 1);
    let bpb = ctx.bpb as f64;
    let vel = 92.0;
    let pattern: Vec<(f64, f64, i32)> = match style {
        Style::Rock => (0..(ctx.bpb * 2)).map(|i| (i as f64 * 0.5, 0.45, r)).collect(),
        Style::Funk => vec![
            (0.0, 0.4, r),
            (0.75, 0.2, r + 12),
            (1.5, 0.25, r),
            (2.0, 0.4, fifth),
            (2.75, 0.2, r + 12),
            (3.5, 0.4, r),
        ],
        Style::Jazz => {
            (0..ctx.bpb).map(|i| (i as f64, 0.9, ctx.degree(root as i32 + [0, 2, 4, 5][i % 4], 1))).collect()
        }
        Style::Electronic => (0..ctx.bpb).map(|i| (i as f64 + 0.5, 0.4, r)).collect(),
        Style::Ballad | Style::Chamber => vec![(0.0, bpb * 0.5 - 0.1, r), (bpb * 0.5, bpb * 0.5 - 0.1, fifth)],
        Style::Pop => (0..ctx.bpb).map(|i| (i as f64, 0.9, if i % 2 == 0 { r } else { fifth })).collect(),
    };
    for (pos, dur, key) in pattern.into_iter().filter(|p| p.0 < bpb) {
        w.add(ctx.t(b0 + pos), dur * ctx.beat, clamp_key(key, range), vel);
    }
}

fn harmony_part(w: &mut Writer, ctx: &Ctx, style: Style, b0: f64, root: usize, seventh: bool, class: Class) {
    let range = class.range();
    let mut tones = ctx.chord(root, 3, seventh);
    if class == DIST_GUITAR {
        // Power chord: root, fifth, octave.
        let r = ctx.degree(root as i32, 2);
        tones = vec![r, r + 7, r + 12];
    }
    let keys: Vec<u8> = tones.iter().map(|&k| clamp_key(k, range)).collect();
    let bpb = ctx.bpb as f64;
    let arpeggiate = matches!(class, PIANO | AC_GUITAR | EPIANO) && w.rng.gen_bool(0.4);
    if arpeggiate {
        let step = if w.rng.gen_bool(0.5) { 0.5 } else { 0.25 };
        let mut x = 0.0;
        let mut i = 0;
        while x < bpb - 1e-9 {
            w.add(ctx.t(b0 + x), step * 1.5 * ctx.beat, keys[i % keys.len()], 75.0);
            x += step;
            i += 1;
        }
        return;
    }
    let hits: Vec<(f64, f64)> = match (style, class) {
        (Style::Funk, _) | (_, CLEAN_GUITAR) if w.rng.gen_bool(0.6) => {
            (0..ctx.bpb).map(|i| (i as f64 + 0.5, 0.3)).collect()
        }
        (_, DIST_GUITAR | AC_GUITAR) => (0..ctx.bpb * 2).map(|i| (i as f64 * 0.5, 0.45)).collect(),
        (Style::Jazz, _) => vec![(0.0, 1.4), (1.5, 0.4), (2.5, 1.2)],
        (Style::Rock | Style::Pop, _) if w.rng.gen_bool(0.5) => (0..ctx.bpb).map(|i| (i as f64, 0.9)).collect(),
        _ => vec![(0.0, bpb - 0.1)],
    };
    for (pos, dur) in hits.into_iter().filter(|h| h.0 < bpb) {
        for &k in &keys {
            w.add(ctx.t(b0 + pos), dur * ctx.beat, k, 72.0);
        }
    }
}

fn pad_part(w: &mut Writer, ctx: &Ctx, b0: f64, root: usize, seventh: bool, class: Class) {
    let range = class.range();
    let tones = ctx.chord(root, 3, seventh);
    for k in tones {
        w.add(ctx.t(b0), ctx.bpb as f64 * ctx.beat * 0.98, clamp_key(k, range), 64.0);
    }
}

fn melody_part(w: &mut Writer, ctx: &Ctx, b0: f64, root: usize, class: Class, bar: usize, sparse: bool) {
    // Two-bar phrases; some phrases rest, so the melody breathes inside a section.
    if bar.is_multiple_of(2) && w.rng.gen_bool(if sparse { 0.45 } else { 0.2 }) {
        return;
    }
    let range = class.range();
    let centre = (range.0 as i32 + range.1 as i32) / 2;
    let cells: [&[f64]; 5] = [
        &[1.0, 1.0, 1.0, 1.0],
        &[0.5, 0.5, 1.0, 2.0],
        &[1.5, 0.5, 1.0, 1.0],
        &[0.5, 0.5, 0.5, 0.5, 2.0],
        &[2.0, 1.0, 1.0],
    ];
    let cell = cells.choose(w.rng).expect("cells");
    let mut deg = root as i32 + 2 * w.rng.gen_range(0..3);
    let mut x = 0.0;
    let bpb = ctx.bpb as f64;
    for &d in cell.iter() {
        if x >= bpb - 1e-9 {
            break;
        }
        let dur = d.min(bpb - x);
        if !w.rng.gen_bool(0.1) {
            let oct = (centre / 12) - 1 - ctx.tonic as i32 / 12;
            let key = clamp_key(ctx.degree(deg, oct - 1), range);
            w.add(ctx.t(b0 + x), dur * ctx.beat * 0.9, key, 86.0);
        }
        deg += *[-2, -1, -1, 1, 1, 2, 0, 3, -3].choose(w.rng).expect("steps");
        x += dur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn songs_are_deterministic_and_varied() {
        let a = compose(&mut ChaCha8Rng::seed_from_u64(7), 30.0);
        let b = compose(&mut ChaCha8Rng::seed_from_u64(7), 30.0);
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        let mut styles = std::collections::BTreeSet::new();
        let mut classes = std::collections::BTreeSet::new();
        let mut varying = 0;
        for seed in 0..200 {
            let s = compose(&mut ChaCha8Rng::seed_from_u64(seed), 30.0);
            assert!((60.0..=180.0).contains(&s.tempo));
            assert!(s.seconds >= 30.0);
            styles.insert(s.style);
            for (i, t) in s.tracks.iter().enumerate() {
                classes.insert(t.class_name);
                assert!(t.notes.iter().all(|n| n.vel >= 1 && n.vel <= 127 && n.dur > 0.0));
                let on = s.sections.iter().filter(|sec| sec.active[i]).count();
                if on > 0 && on < s.sections.len() {
                    varying += 1;
                }
            }
        }
        assert_eq!(styles.len(), 7, "{styles:?}");
        assert_eq!(classes.len(), CLASSES.len(), "{classes:?}");
        assert!(varying > 300, "instruments enter and leave: {varying}");
    }
}
