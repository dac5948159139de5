//! A decoded loop (up to four measures of tokens), the notes it makes, the playback settings
//! applied when notes are sent (key lock, transpose, length, velocity) and the `.mid` export.

use melody_model::{FIRST_PITCH, HOLD, LOWEST, TICKS};

/// Longest loop, in measures.
pub const MAX_BARS: usize = 4;
/// Ticks in the longest loop.
pub const MAX_TICKS: usize = TICKS * MAX_BARS;
/// Grid ticks per quarter note (sixteenths and eighth triplets).
pub const TICKS_PER_BEAT: usize = TICKS / 4;

/// One note of a pattern, in grid ticks from the loop start; `pitch` before key lock/transpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    /// Onset tick.
    pub start: usize,
    /// Length in ticks (the onset and the holds after it; never past the loop end).
    pub len: usize,
    /// MIDI pitch as decoded.
    pub pitch: u8,
}

/// A loop of `bars` measures of tokens. `Copy` and fixed-size: it crosses to the audio thread
/// through a ring buffer without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// Measures in the loop (1–4).
    pub bars: usize,
    /// Tokens (REST, HOLD or a pitch token); only the first `bars · 24` are used.
    pub tokens: [u8; MAX_TICKS],
    /// Fingerprint of the request this pattern was decoded for.
    pub key: u64,
}

impl Pattern {
    /// An empty (all-rest) loop.
    pub fn silent(bars: usize) -> Self {
        Pattern { bars: bars.clamp(1, MAX_BARS), tokens: [melody_model::REST; MAX_TICKS], key: 0 }
    }

    /// Ticks in the loop.
    pub fn ticks(&self) -> usize {
        self.bars.clamp(1, MAX_BARS) * TICKS
    }

    /// The note starting at `tick`, if any. Holds that follow a rest (the measure model may
    /// start a measure with one) are rests.
    pub fn note_at(&self, tick: usize) -> Option<Note> {
        let n = self.ticks();
        let t = *self.tokens.get(tick).filter(|_| tick < n)?;
        if t < FIRST_PITCH {
            return None;
        }
        let len = 1 + self.tokens[tick + 1..n].iter().take_while(|&&x| x == HOLD).count();
        Some(Note { start: tick, len, pitch: LOWEST + (t - FIRST_PITCH) })
    }

    /// Every note, in order.
    pub fn notes(&self) -> impl Iterator<Item = Note> + '_ {
        (0..self.ticks()).filter_map(|t| self.note_at(t))
    }
}

/// Scales for the key lock, as pitch-class masks (bit `i` = `i` semitones above the root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale(pub u16);

impl Scale {
    /// Every pitch allowed (key lock off).
    pub const CHROMATIC: Scale = Scale(0xFFF);

    /// From scale steps in semitones above the root.
    pub const fn of(steps: &[u8]) -> Scale {
        let mut m = 0u16;
        let mut i = 0;
        while i < steps.len() {
            m |= 1 << steps[i];
            i += 1;
        }
        Scale(m)
    }

    fn allows(self, root: u8, pitch: i32) -> bool {
        self.0 & (1 << (pitch - root as i32).rem_euclid(12)) != 0
    }

    /// `pitch` moved to the nearest scale note (a tie goes down).
    pub fn snap(self, root: u8, pitch: i32) -> i32 {
        if self.0 & 0xFFF == 0 {
            return pitch;
        }
        for d in 0..12 {
            if self.allows(root, pitch - d) {
                return pitch - d;
            }
            if self.allows(root, pitch + d) {
                return pitch + d;
            }
        }
        pitch
    }
}

/// How decoded notes are played: applied when a note is sent, so these settings act at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Playback {
    /// Semitones added before the key lock.
    pub transpose: i32,
    /// Key-lock root pitch class (0 = C).
    pub root: u8,
    /// Key-lock scale ([`Scale::CHROMATIC`]: off).
    pub scale: Scale,
    /// Sounding fraction of each note's written length (0.05–1).
    pub gate: f32,
    /// Velocity of notes off the beat (1–127).
    pub velocity: u8,
    /// Added to notes on a beat (0–40).
    pub accent: u8,
}

impl Default for Playback {
    fn default() -> Self {
        Playback { transpose: 0, root: 0, scale: Scale::CHROMATIC, gate: 0.9, velocity: 96, accent: 12 }
    }
}

impl Playback {
    /// The MIDI key a decoded pitch sounds as.
    pub fn key(&self, pitch: u8) -> u8 {
        self.scale.snap(self.root % 12, pitch as i32 + self.transpose).clamp(0, 127) as u8
    }

    /// The velocity of a note starting at loop tick `tick`.
    pub fn velocity_at(&self, tick: usize) -> u8 {
        let accent = if tick.is_multiple_of(TICKS_PER_BEAT) { self.accent } else { 0 };
        self.velocity.max(1).saturating_add(accent).min(127)
    }

    /// The sounding length, in ticks, of a note written `len` ticks long.
    pub fn sounding(&self, len: usize) -> f64 {
        len as f64 * self.gate.clamp(0.05, 1.0) as f64
    }
}

/// The loop as a Standard MIDI File (format 0, 480 PPQ): tempo, 4/4, the notes on `channel`
/// (0-based) with the playback settings applied, `repeats` times.
pub fn to_smf(pattern: &Pattern, play: &Playback, tempo_bpm: f64, channel: u8, repeats: usize) -> Vec<u8> {
    use midly::num::{u15, u24, u28, u4, u7};
    use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};
    const PPQ: u32 = 480;
    const PER_TICK: u32 = PPQ / TICKS_PER_BEAT as u32;
    let tempo = (60_000_000.0 / tempo_bpm.clamp(20.0, 999.0)).round() as u32;
    // (absolute time, order, kind): note-offs sort before note-ons at the same time.
    let mut events: Vec<(u32, u8, TrackEventKind<'static>)> = Vec::new();
    let ch = u4::new(channel.min(15));
    let loop_ticks = pattern.ticks() as u32 * PER_TICK;
    for r in 0..repeats.max(1) as u32 {
        for n in pattern.notes() {
            let on = r * loop_ticks + n.start as u32 * PER_TICK;
            let off = on + ((play.sounding(n.len) * PER_TICK as f64).round() as u32).max(1);
            let key = u7::new(play.key(n.pitch));
            let vel = u7::new(play.velocity_at(n.start));
            events.push((on, 1, TrackEventKind::Midi { channel: ch, message: MidiMessage::NoteOn { key, vel } }));
            events.push((
                off,
                0,
                TrackEventKind::Midi { channel: ch, message: MidiMessage::NoteOff { key, vel: u7::new(0) } },
            ));
        }
    }
    events.sort_by_key(|e| (e.0, e.1));
    let end = repeats.max(1) as u32 * loop_ticks;
    let mut track = vec![
        TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(tempo))) },
        TrackEvent { delta: u28::new(0), kind: TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8)) },
    ];
    let mut now = 0;
    for (t, _, kind) in events {
        track.push(TrackEvent { delta: u28::new(t - now), kind });
        now = t;
    }
    track.push(TrackEvent {
        delta: u28::new(end.saturating_sub(now)),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    });
    let smf =
        Smf { header: Header::new(Format::SingleTrack, Timing::Metrical(u15::new(PPQ as u16))), tracks: vec![track] };
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    smf.write_std(&mut bytes).expect("write a MIDI file into memory");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use melody_model::{REST, TICKS};

    fn tok(p: u8) -> u8 {
        FIRST_PITCH + p - LOWEST
    }

    #[test]
    fn notes_run_over_their_holds_and_stop_at_the_loop_end() {
        let mut p = Pattern::silent(1);
        p.tokens[0] = tok(60);
        p.tokens[1] = HOLD;
        p.tokens[2] = HOLD;
        p.tokens[3] = REST;
        p.tokens[4] = HOLD; // a hold after a rest is a rest
        p.tokens[22] = tok(67);
        p.tokens[23] = HOLD;
        p.tokens[24] = HOLD; // outside a 1-bar loop
        let notes: Vec<Note> = p.notes().collect();
        assert_eq!(notes, vec![Note { start: 0, len: 3, pitch: 60 }, Note { start: 22, len: 2, pitch: 67 }]);
        assert_eq!(p.ticks(), TICKS);
    }

    #[test]
    fn key_lock_snaps_to_the_nearest_scale_note() {
        let major = Scale::of(&[0, 2, 4, 5, 7, 9, 11]);
        let play = Playback { root: 2, scale: major, ..Default::default() }; // D major
        assert_eq!(play.key(62), 62); // D
        assert_eq!(play.key(65), 64); // F → E (tie between E and F#: down)
        assert_eq!(play.key(66), 66); // F#
        assert_eq!(play.key(60), 59); // C → B (tie: down)
        let up = Playback { transpose: 12, ..Default::default() };
        assert_eq!(up.key(60), 72);
        assert_eq!(Playback { transpose: 100, ..Default::default() }.key(84), 127);
        assert_eq!(Scale::CHROMATIC.snap(0, 61), 61);
    }

    #[test]
    fn smf_holds_every_note_with_its_length_and_velocity() {
        let mut p = Pattern::silent(2);
        p.tokens[0] = tok(60);
        p.tokens[1] = HOLD;
        p.tokens[9] = tok(64);
        p.tokens[30] = tok(67);
        let play = Playback { gate: 0.5, velocity: 80, accent: 10, ..Default::default() };
        let bytes = to_smf(&p, &play, 100.0, 3, 2);
        let smf = midly::Smf::parse(&bytes).unwrap();
        let mut t = 0u32;
        let mut ons = Vec::new();
        let mut offs = Vec::new();
        let mut tempo = 0;
        for e in &smf.tracks[0] {
            t += e.delta.as_int();
            match e.kind {
                midly::TrackEventKind::Midi { channel, message: midly::MidiMessage::NoteOn { key, vel } } => {
                    assert_eq!(channel.as_int(), 3);
                    ons.push((t, key.as_int(), vel.as_int()))
                }
                midly::TrackEventKind::Midi { message: midly::MidiMessage::NoteOff { key, .. }, .. } => {
                    offs.push((t, key.as_int()))
                }
                midly::TrackEventKind::Meta(midly::MetaMessage::Tempo(us)) => tempo = us.as_int(),
                _ => {}
            }
        }
        assert_eq!(tempo, 600_000);
        let bar = 4 * 480;
        assert_eq!(ons[..3], [(0, 60, 90), (9 * 80, 64, 80), (30 * 80, 67, 90)]);
        assert_eq!(ons[3], (2 * bar, 60, 90));
        assert_eq!(offs[0], (80, 60)); // 2 ticks × 0.5 gate
        assert_eq!(ons.len(), 6);
        assert_eq!(t, 4 * bar, "the file lasts the two repeats");
    }
}
