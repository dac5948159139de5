//! The audio thread's part: turns the host transport into sample-accurate note-ons and -offs
//! from the current [`Pattern`]. Pure and allocation-free (tests drive it without a host).
//!
//! Timing model: measures are 4/4 and aligned to beat 0 of the host timeline; grid tick `k`
//! lies at beat `k / 6` and sounds at the first sample at or after it. A new pattern waits for
//! the next bar line (or takes over at once while the transport is stopped). Stops, jumps and
//! loops end the sounding note at the discontinuity; the note under a jump target is not
//! restarted mid-way (notes start on their onsets only).

use crate::pattern::{Pattern, Playback, TICKS_PER_BEAT};
use melody_model::TICKS;

/// The host transport at the start of a block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Clock {
    /// Transport running.
    pub playing: bool,
    /// Song position in quarter notes at the block's first sample.
    pub beats: Option<f64>,
    /// Tempo in BPM.
    pub tempo: Option<f64>,
    /// Host loop range in beats, if the host loops.
    pub loop_beats: Option<(f64, f64)>,
    /// Sample rate in Hz.
    pub sample_rate: f32,
}

/// A MIDI event for the host, `offset` samples into the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Note on.
    On {
        /// Sample offset in the block.
        offset: u32,
        /// MIDI key.
        key: u8,
        /// Velocity 1–127.
        velocity: u8,
    },
    /// Note off.
    Off {
        /// Sample offset in the block.
        offset: u32,
        /// MIDI key.
        key: u8,
    },
}

impl Event {
    /// Sample offset in the block.
    pub fn offset(&self) -> u32 {
        match *self {
            Event::On { offset, .. } | Event::Off { offset, .. } => offset,
        }
    }
}

/// The note scheduler (one instance per plugin, audio thread only).
#[derive(Debug, Clone, Default)]
pub struct Sequencer {
    current: Option<Pattern>,
    next: Option<Pattern>,
    /// Sounding note: key and the beat where it ends.
    active: Option<(u8, f64)>,
    /// Beat position where the previous block ended (continuity check).
    expected: Option<f64>,
    /// Next grid tick to play.
    next_tick: Option<i64>,
    /// Loop tick of the last onset or grid step played (for the editor's playhead).
    playhead: Option<usize>,
}

impl Sequencer {
    /// A sequencer with no pattern.
    pub fn new() -> Self {
        Sequencer::default()
    }

    /// Queues `pattern`: it replaces the current one at the next bar line (at once if none
    /// plays yet).
    pub fn offer(&mut self, pattern: Pattern) {
        if self.current.is_none() {
            self.current = Some(pattern);
        } else {
            self.next = Some(pattern);
        }
    }

    /// The pattern playing now.
    pub fn current(&self) -> Option<&Pattern> {
        self.current.as_ref()
    }

    /// The queued pattern, if one waits for the bar line.
    pub fn queued(&self) -> Option<&Pattern> {
        self.next.as_ref()
    }

    /// Loop tick most recently reached while playing (`None` when stopped).
    pub fn playhead(&self) -> Option<usize> {
        self.playhead
    }

    /// Whether a note sounds now.
    pub fn sounding(&self) -> Option<u8> {
        self.active.map(|a| a.0)
    }

    /// Ends any sounding note at `offset` and forgets the timeline position (reset, stop).
    pub fn stop(&mut self, offset: u32, emit: &mut impl FnMut(Event)) {
        if let Some((key, _)) = self.active.take() {
            emit(Event::Off { offset, key });
        }
        self.expected = None;
        self.next_tick = None;
        self.playhead = None;
    }

    /// Whether this block may bring a queued pattern in: the transport plays and the block
    /// holds a bar line (where a queued pattern takes over) or a host loop's wrap, or playback
    /// starts, restarts or jumps here (the pattern is then read from wherever the block begins).
    /// Offline, the plugin waits for the worker's loop only for such blocks: a loop decoded for
    /// parameters that change again before the next bar line would never be heard.
    pub fn pattern_due(&self, clock: &Clock, frames: usize) -> bool {
        let tempo = clock.tempo.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(120.0);
        let beats = clock.beats.filter(|b| b.is_finite());
        let rate = clock.sample_rate as f64;
        let (true, Some(b0), true) = (clock.playing, beats, rate > 0.0 && frames > 0) else { return false };
        let bps = tempo / 60.0 / rate;
        match self.expected {
            Some(e) if (b0 - e).abs() <= bps.max(1e-9) => {}
            _ => return true,
        }
        let end = b0 + frames as f64 * bps;
        if let Some((start, stop)) = clock.loop_beats {
            if stop > start && b0 < stop && end > stop + 1e-9 {
                return true;
            }
        }
        // The first bar-line tick `run` would reach, and whether it falls inside this block
        // (the same rounding as `run`).
        let per_beat = TICKS_PER_BEAT as f64;
        let k0 = self.next_tick.unwrap_or_else(|| (b0 * per_beat - 1e-6).ceil() as i64);
        let bar = TICKS as i64;
        let kb = k0 + (bar - k0.rem_euclid(bar)) % bar;
        let at = (((kb as f64 / per_beat - b0) / bps) - 1e-3).ceil().max(0.0);
        at < frames as f64
    }

    /// Plays one block of `frames` samples.
    pub fn process(&mut self, clock: &Clock, frames: usize, play: &Playback, emit: &mut impl FnMut(Event)) {
        let tempo = clock.tempo.filter(|t| t.is_finite() && *t > 0.0).unwrap_or(120.0);
        let beats = clock.beats.filter(|b| b.is_finite());
        let rate = clock.sample_rate as f64;
        let (true, Some(b0), true) = (clock.playing, beats, rate > 0.0 && frames > 0) else {
            self.stop(0, emit);
            if let Some(p) = self.next.take() {
                self.current = Some(p);
            }
            return;
        };
        let bps = tempo / 60.0 / rate;
        if let Some(e) = self.expected {
            // More than a sample away from where the last block ended: the host jumped or looped.
            if (b0 - e).abs() > bps.max(1e-9) {
                self.stop(0, emit);
            }
        }
        let end = b0 + frames as f64 * bps;
        match clock.loop_beats {
            // The host's loop end falls inside this block: play to it, wrap, play the rest.
            Some((start, stop)) if stop > start && b0 < stop && end > stop + 1e-9 => {
                let split = (((stop - b0) / bps).ceil() as usize).min(frames);
                self.run(b0, 0, split, bps, play, emit);
                self.stop(split as u32, emit);
                self.run(start, split, frames - split, bps, play, emit);
                self.expected = Some(start + (frames - split) as f64 * bps);
            }
            _ => {
                self.run(b0, 0, frames, bps, play, emit);
                self.expected = Some(end);
            }
        }
    }

    /// Plays `n` samples starting at beat `b0`, which is block sample `off0`.
    fn run(&mut self, b0: f64, off0: usize, n: usize, bps: f64, play: &Playback, emit: &mut impl FnMut(Event)) {
        let per_beat = TICKS_PER_BEAT as f64;
        // First sample at or after beat `b` (relative to `b0`). Hosts quantize positions (CLAP
        // to 2^-31 beat, about 1e-5 samples): a thousandth of a sample of tolerance keeps a tick
        // that falls on a sample from slipping to the next one.
        let at = |b: f64| (((b - b0) / bps) - 1e-3).ceil().max(0.0) as usize;
        let mut k = self.next_tick.unwrap_or_else(|| (b0 * per_beat - 1e-6).ceil() as i64);
        loop {
            let s = at(k as f64 / per_beat);
            if let Some((key, off_beat)) = self.active {
                let so = at(off_beat);
                if so < n && so <= s {
                    emit(Event::Off { offset: (off0 + so) as u32, key });
                    self.active = None;
                }
            }
            if s >= n {
                break;
            }
            self.tick(k, (off0 + s) as u32, play, emit);
            k += 1;
        }
        self.next_tick = Some(k);
    }

    fn tick(&mut self, k: i64, offset: u32, play: &Playback, emit: &mut impl FnMut(Event)) {
        if k.rem_euclid(TICKS as i64) == 0 {
            if let Some(p) = self.next.take() {
                self.current = Some(p);
            }
        }
        let Some(p) = &self.current else { return };
        let pos = k.rem_euclid(p.ticks() as i64) as usize;
        self.playhead = Some(pos);
        let Some(note) = p.note_at(pos) else { return };
        if let Some((key, _)) = self.active.take() {
            emit(Event::Off { offset, key });
        }
        let key = play.key(note.pitch);
        emit(Event::On { offset, key, velocity: play.velocity_at(pos) });
        let off = (k as f64 + play.sounding(note.len)) / TICKS_PER_BEAT as f64;
        self.active = Some((key, off));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use melody_model::{FIRST_PITCH, HOLD, LOWEST};

    const RATE: f32 = 48_000.0;
    // 120 BPM at 48 kHz: a beat is 24 000 samples, a grid tick 4000.
    const TICK: u32 = 4000;

    fn pattern() -> Pattern {
        // Bar 1: C4 for a beat at tick 0, E4 at tick 9 (an eighth-triplet off-beat), 2 ticks.
        // Bar 2: G4 at tick 24 for 4 ticks.
        let mut p = Pattern::silent(2);
        p.tokens[0] = FIRST_PITCH + 60 - LOWEST;
        for t in 1..6 {
            p.tokens[t] = HOLD;
        }
        p.tokens[9] = FIRST_PITCH + 64 - LOWEST;
        p.tokens[10] = HOLD;
        p.tokens[24] = FIRST_PITCH + 67 - LOWEST;
        for t in 25..28 {
            p.tokens[t] = HOLD;
        }
        p
    }

    #[test]
    fn a_pattern_is_due_at_bar_lines_starts_and_jumps_only() {
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let p = Playback::default();
        // Starting: due. 120 BPM at 48 kHz: a bar is 96 000 samples.
        assert!(seq.pattern_due(&clock(0.0), 512));
        seq.process(&clock(0.0), 512, &p, &mut |_| {});
        // Mid-bar, continuing: not due.
        let b = 512.0 * 2.0 / RATE as f64;
        assert!(!seq.pattern_due(&clock(b), 512));
        // A block that ends just past the next bar line (beat 4): due; one that ends before it: not.
        let mut pos = 512usize;
        while pos + 512 < 96_000 {
            seq.process(&clock(pos as f64 * 2.0 / RATE as f64), 512, &p, &mut |_| {});
            pos += 512;
        }
        let here = clock(pos as f64 * 2.0 / RATE as f64);
        assert!(!seq.pattern_due(&here, 96_000 - pos), "the block ends on the bar line, which is the next block's");
        assert!(seq.pattern_due(&here, 96_000 - pos + 1));
        // A jump: due. Stopped: never.
        assert!(seq.pattern_due(&clock(10.0), 64));
        let stopped = Clock { playing: false, ..clock(0.0) };
        assert!(!seq.pattern_due(&stopped, 64));
    }

    fn clock(beats: f64) -> Clock {
        Clock { playing: true, beats: Some(beats), tempo: Some(120.0), loop_beats: None, sample_rate: RATE }
    }

    /// Runs blocks of the given sizes from `beats`, the transport advancing as a host's does;
    /// returns events at absolute sample positions.
    fn play(seq: &mut Sequencer, beats: f64, blocks: &[usize], play: &Playback) -> Vec<(u64, Event)> {
        let mut out = Vec::new();
        let mut pos = 0u64;
        for &n in blocks {
            let c = clock(beats + pos as f64 * 120.0 / 60.0 / RATE as f64);
            seq.process(&c, n, play, &mut |e| out.push((pos, e)));
            pos += n as u64;
        }
        out.into_iter().map(|(p, e)| (p + e.offset() as u64, e)).collect()
    }

    fn strip(events: &[(u64, Event)]) -> Vec<(u64, bool, u8)> {
        events
            .iter()
            .map(|(t, e)| match *e {
                Event::On { key, .. } => (*t, true, key),
                Event::Off { key, .. } => (*t, false, key),
            })
            .collect()
    }

    #[test]
    fn notes_land_on_their_grid_samples_whatever_the_block_sizes() {
        let gate = Playback { gate: 0.5, ..Default::default() };
        let want: Vec<(u64, bool, u8)> = vec![
            (0, true, 60),
            (3 * TICK as u64, false, 60), // 6 ticks × 0.5
            (9 * TICK as u64, true, 64),
            (10 * TICK as u64, false, 64),
            (24 * TICK as u64, true, 67),
            (26 * TICK as u64, false, 67),
            (48 * TICK as u64, true, 60), // the 2-bar loop comes round
        ];
        let frames = 49 * TICK as usize;
        for blocks in [vec![512; frames / 512 + 1], vec![4000; 49], vec![frames], vec![1; frames], {
            let mut v = Vec::new();
            let mut s = 7u64;
            let mut left = frames;
            while left > 0 {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let n = (1 + (s >> 33) as usize % 2048).min(left);
                v.push(n);
                left -= n;
            }
            v
        }] {
            let mut seq = Sequencer::new();
            seq.offer(pattern());
            let got = strip(&play(&mut seq, 0.0, &blocks, &gate));
            assert_eq!(got[..want.len()], want[..], "blocks {:?}…", &blocks[..blocks.len().min(4)]);
        }
    }

    #[test]
    fn a_late_start_waits_for_the_next_onset_and_off_grid_starts_round_up() {
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        // Start a hair after beat 0: the C4 onset has passed; E4 at tick 9 is the first note.
        let got = strip(&play(&mut seq, 0.001, &[20 * TICK as usize], &Playback::default()));
        let shift = (0.001 * 24_000.0) as u64; // 24 samples of the start offset
        assert_eq!(got[0], (9 * TICK as u64 - shift, true, 64));
    }

    #[test]
    fn stop_jump_and_host_loop_end_the_sounding_note_there() {
        let full = Playback { gate: 1.0, ..Default::default() };
        // Stop in the middle of C4.
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let mut ev = Vec::new();
        seq.process(&clock(0.0), 2000, &full, &mut |e| ev.push(e));
        let stopped = Clock { playing: false, ..clock(2000.0 / 24_000.0) };
        seq.process(&stopped, 512, &full, &mut |e| ev.push(e));
        assert_eq!(ev, vec![Event::On { offset: 0, key: 60, velocity: 108 }, Event::Off { offset: 0, key: 60 }]);
        assert_eq!(seq.sounding(), None);
        // Jump from inside C4 to beat 4 (bar 2): C4 ends at the jump, G4 starts there.
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let mut ev = Vec::new();
        seq.process(&clock(0.0), 512, &full, &mut |e| ev.push(e));
        seq.process(&clock(4.0), 512, &full, &mut |e| ev.push(e));
        assert_eq!(
            ev,
            vec![
                Event::On { offset: 0, key: 60, velocity: 108 },
                Event::Off { offset: 0, key: 60 },
                Event::On { offset: 0, key: 67, velocity: 108 },
            ]
        );
        // A host loop over beats 0..1.5 wrapping inside a block: E4 (tick 9 = beat 1.5) never
        // plays; C4 ends at the wrap and starts again there.
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let looped = Clock { loop_beats: Some((0.0, 1.5)), ..clock(1.0) };
        let mut ev = Vec::new();
        seq.process(&looped, 24_000, &full, &mut |e| ev.push(e));
        // C4 is not sounding at beat 1 (we started there), so the wrap at 12 000 starts it.
        assert_eq!(ev, vec![Event::On { offset: 12_000, key: 60, velocity: 108 }]);
    }

    #[test]
    fn a_new_pattern_waits_for_the_bar_line() {
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let mut other = Pattern::silent(2);
        other.tokens[12] = FIRST_PITCH + 70 - LOWEST; // beat 2 of each bar
        other.tokens[36] = FIRST_PITCH + 72 - LOWEST;
        let p = Playback::default();
        let mut ev = play(&mut seq, 0.0, &[5 * TICK as usize], &p);
        seq.offer(other); // queued at tick 5: bar 1 keeps playing the old pattern
        assert_eq!(seq.queued(), Some(&other));
        let mut rest = play(&mut seq, 5.0 / 6.0, &[45 * TICK as usize], &p);
        for e in &mut rest {
            e.0 += 5 * TICK as u64;
        }
        ev.extend(rest);
        let ons: Vec<(u64, u8)> = strip(&ev).into_iter().filter(|e| e.1).map(|e| (e.0, e.2)).collect();
        assert_eq!(ons, vec![(0, 60), (9 * TICK as u64, 64), (36 * TICK as u64, 72)]);
        assert_eq!(seq.current(), Some(&other));
    }

    #[test]
    fn playback_settings_apply_at_once() {
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let p = Playback { transpose: 2, velocity: 50, accent: 30, ..Default::default() };
        let ev = play(&mut seq, 0.0, &[10 * TICK as usize], &p);
        assert_eq!(ev[0].1, Event::On { offset: 0, key: 62, velocity: 80 });
        assert!(ev.iter().any(|e| e.1 == Event::On { offset: 9 * TICK, key: 66, velocity: 50 }));
    }

    #[test]
    fn garbage_transport_is_treated_as_stopped() {
        let mut seq = Sequencer::new();
        seq.offer(pattern());
        let mut ev = Vec::new();
        for c in [
            Clock { beats: Some(f64::NAN), ..clock(0.0) },
            Clock { beats: None, ..clock(0.0) },
            Clock { sample_rate: 0.0, ..clock(0.0) },
        ] {
            seq.process(&c, 512, &Playback::default(), &mut |e| ev.push(e));
        }
        assert!(ev.is_empty());
        // A NaN tempo falls back to 120 BPM instead of stalling.
        seq.process(&Clock { tempo: Some(f64::NAN), ..clock(0.0) }, 512, &Playback::default(), &mut |e| ev.push(e));
        assert_eq!(ev.len(), 1);
    }
}
