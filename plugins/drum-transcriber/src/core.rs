//! The transcriber's audio-thread core, independent of the plugin framework so tests can drive
//! it: the [`ModelRunner`] with the drum task, the note scheduler that places each onset at its
//! exact sample, and the take log the editor and the MIDI export read. Nothing here allocates
//! or locks after [`TranscriberCore::new`].

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use atomic_float::AtomicF32;
use drums_model::DrumTask;
use dsp_core::runner::{ResultAt, StatsHandle};
use dsp_core::{Fallback, ModelRunner, RunnerConfig, RunnerError, Task};
use separator_model::SeparatorTask;

/// Classes the plugin has controls for (the model's, in its order).
pub const CLASSES: usize = 5;

/// One detected hit as the take log keeps it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Frame of the note in the take, counted from the take's start (output timeline).
    pub frame: u64,
    /// Host song position of the note in quarter notes, if the host reported one.
    pub beats: Option<f64>,
    /// Class index.
    pub class: u8,
    /// MIDI key and velocity it was sent with.
    pub key: u8,
    pub velocity: u8,
}

struct Entry {
    frame: AtomicU64,
    beats: AtomicU64,
    packed: AtomicU32,
}

/// An append-only log of the take's hits: the audio thread is the only writer, any number of
/// readers copy it out (lock-free; a reader that races a clear retries).
pub struct TakeLog {
    entries: Box<[Entry]>,
    len: AtomicUsize,
    /// Bumped by each clear; readers compare it before and after copying.
    generation: AtomicU64,
    /// Set by the GUI; the audio thread clears the log at its next block.
    clear_requested: AtomicBool,
    /// Set when a hit did not fit.
    full: AtomicBool,
}

impl TakeLog {
    /// A log for `capacity` hits.
    pub fn new(capacity: usize) -> Self {
        TakeLog {
            entries: (0..capacity)
                .map(|_| Entry { frame: AtomicU64::new(0), beats: AtomicU64::new(0), packed: AtomicU32::new(0) })
                .collect(),
            len: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            clear_requested: AtomicBool::new(false),
            full: AtomicBool::new(false),
        }
    }

    /// Hits in the log.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether hits were dropped because the log was full.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Asks the audio thread to start a new take (any thread).
    pub fn request_clear(&self) {
        self.clear_requested.store(true, Ordering::Release);
    }

    /// Audio thread: appends a hit (dropped, and `is_full` set, when the log is full).
    fn push(&self, hit: Hit) {
        let n = self.len.load(Ordering::Relaxed);
        let Some(e) = self.entries.get(n) else {
            self.full.store(true, Ordering::Relaxed);
            return;
        };
        e.frame.store(hit.frame, Ordering::Relaxed);
        e.beats.store(hit.beats.unwrap_or(f64::NAN).to_bits(), Ordering::Relaxed);
        e.packed.store((hit.class as u32) << 16 | (hit.key as u32) << 8 | hit.velocity as u32, Ordering::Relaxed);
        self.len.store(n + 1, Ordering::Release);
    }

    /// Audio thread: clears the log if asked to; returns whether it did.
    fn clear_if_requested(&self) -> bool {
        if !self.clear_requested.swap(false, Ordering::AcqRel) {
            return false;
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.len.store(0, Ordering::Release);
        self.full.store(false, Ordering::Relaxed);
        true
    }

    /// Copies the hits from index `from` on into `out` (any thread but the audio thread: it
    /// allocates). Returns false if the log was cleared meanwhile (then `out` is untouched).
    pub fn read_from(&self, from: usize, out: &mut Vec<Hit>) -> bool {
        let generation = self.generation.load(Ordering::Acquire);
        let n = self.len.load(Ordering::Acquire);
        let mut got = Vec::with_capacity(n.saturating_sub(from));
        for e in &self.entries[from.min(n)..n] {
            let packed = e.packed.load(Ordering::Relaxed);
            let beats = f64::from_bits(e.beats.load(Ordering::Relaxed));
            got.push(Hit {
                frame: e.frame.load(Ordering::Relaxed),
                beats: beats.is_finite().then_some(beats),
                class: (packed >> 16) as u8,
                key: (packed >> 8) as u8,
                velocity: packed as u8,
            });
        }
        if self.generation.load(Ordering::Acquire) != generation {
            return false;
        }
        out.extend(got);
        true
    }

    /// The generation (changes when the take is cleared).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// State shared between the audio thread (writer of the atomics) and the GUI (reader).
pub struct TranscriberShared {
    /// The take: every note sent since the take started.
    pub take: TakeLog,
    /// Frames since the take started (where the editor's grid ends).
    pub now: AtomicU64,
    /// Strength of each class's latest onset and the take frame it played at (editor lights).
    pub last_strength: [AtomicF32; CLASSES],
    pub last_frame: [AtomicU64; CLASSES],
    /// Host tempo in BPM (120 if the host says nothing), for the MIDI export.
    pub tempo: AtomicF32,
    /// Reported latency in host frames (written at activation).
    pub latency: AtomicU64,
    /// Host sample rate in Hz (written at activation).
    pub rate: AtomicF32,
    /// Model status or load error (main thread writes, GUI reads; never the audio thread).
    pub status: Mutex<String>,
    /// Runner counters for the GUI; replaced at each activation.
    pub stats: Mutex<Option<StatsHandle>>,
}

impl TranscriberShared {
    /// Room for 100 000 hits in a take (about 2.4 MB): hours of drumming.
    pub const TAKE_CAPACITY: usize = 100_000;

    /// Allocates the shared state.
    pub fn new() -> Arc<Self> {
        Arc::new(TranscriberShared {
            take: TakeLog::new(Self::TAKE_CAPACITY),
            now: AtomicU64::new(0),
            last_strength: Default::default(),
            last_frame: Default::default(),
            tempo: AtomicF32::new(120.0),
            latency: AtomicU64::new(0),
            rate: AtomicF32::new(0.0),
            status: Mutex::new(String::new()),
            stats: Mutex::new(None),
        })
    }
}

/// A MIDI note event for the host, at a frame offset in the current buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteOut {
    On { offset: u32, key: u8, velocity: u8 },
    Off { offset: u32, key: u8 },
}

/// Per-class note settings, read by the audio thread each block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteSettings {
    pub enabled: [bool; CLASSES],
    pub keys: [u8; CLASSES],
    /// Velocity of each onset strength in `(0, 1]`.
    pub velocity_min: u8,
    /// Note length in host frames (≥ 1).
    pub length: u64,
}

impl Default for NoteSettings {
    fn default() -> Self {
        NoteSettings { enabled: [true; CLASSES], keys: crate::params::DEFAULT_KEYS, velocity_min: 20, length: 2880 }
    }
}

impl NoteSettings {
    fn velocity(&self, strength: f32) -> u8 {
        let lo = self.velocity_min.clamp(1, 127) as f32;
        (lo + (127.0 - lo) * strength.clamp(0.0, 1.0)).round().clamp(1.0, 127.0) as u8
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Absolute frame (the core's clock).
    at: u64,
    on: bool,
    key: u8,
    velocity: u8,
}

/// Most note events waiting for their frame (a worker block of onsets plus held note-offs).
const MAX_PENDING: usize = 256;

/// The optional first stage for full mixes: the separator's own runner, whose drum stem (not
/// the mix) feeds the drum runner. Its latency adds to the transcriber's.
struct Separation {
    runner: ModelRunner<SeparatorTask>,
    /// The separator's outputs (every stem, stereo), `max_block` frames each.
    stems: Vec<Vec<f32>>,
    /// The mix as the separator saw it, delayed by its latency (what passes through).
    mix: [Vec<f32>; 2],
    /// First channel of the drum stem in `stems`.
    drum: usize,
}

/// The transcriber on the audio thread.
pub struct TranscriberCore<T: Task = DrumTask> {
    runner: ModelRunner<T>,
    separation: Option<Separation>,
    shared: Arc<TranscriberShared>,
    pending: [Pending; MAX_PENDING],
    n_pending: usize,
    /// Host frames since activation (the output timeline).
    clock: u64,
    /// `clock` at the take's start.
    take_start: u64,
    /// The delayed input per channel (the second unused for mono), `max_block` frames.
    delayed: [Vec<f32>; 2],
    channels: usize,
    max_block: usize,
    /// Notes whose note-off must go out first thing in the next block (after a reset).
    flush: bool,
    /// Per class, frames added to a note's runner-timeline place (see [`Compensation`]).
    add: [u64; CLASSES],
    /// The extra audio delay that makes room for it: a ring of `extra` frames per channel (with
    /// the separation stage, the drum runner's latency too: the mix passes around it).
    extra: [Vec<f32>; 2],
    extra_pos: usize,
    /// The timing compensation's extra latency alone.
    comp_extra: usize,
}

/// The model's timing compensation at the host rate ([`drums_model::DrumFields::timing_compensation`]):
/// per class the frames to add to each note, and the extra latency that makes room for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Compensation {
    pub add: [u64; CLASSES],
    pub extra: u64,
}

impl Compensation {
    /// From the per-class frames and the extra latency (classes beyond [`CLASSES`] ignored).
    pub fn new(add: &[u64], extra: u64) -> Self {
        Compensation { add: std::array::from_fn(|c| add.get(c).copied().unwrap_or(extra)), extra }
    }
}

impl<T: Task> TranscriberCore<T> {
    /// Starts the runner (`channels` input channels; the audio passes through delayed by the
    /// latency so that notes and audio stay aligned after the host's delay compensation).
    pub fn new(
        task: T,
        mut cfg: RunnerConfig,
        shared: Arc<TranscriberShared>,
        comp: Compensation,
    ) -> Result<Self, RunnerError> {
        cfg.fallback = Fallback::Silence;
        cfg.delayed_input = true;
        let channels = task.in_channels();
        let max_block = cfg.max_block;
        if !(1..=2).contains(&channels) {
            return Err(RunnerError::Config(format!("the transcriber takes 1 or 2 channels, not {channels}")));
        }
        let runner = ModelRunner::spawn(cfg, task)?;
        let core = TranscriberCore {
            runner,
            separation: None,
            shared,
            pending: [Pending { at: 0, on: false, key: 0, velocity: 0 }; MAX_PENDING],
            n_pending: 0,
            clock: 0,
            take_start: 0,
            delayed: [vec![0.0; max_block], vec![0.0; max_block]],
            channels,
            max_block,
            flush: false,
            add: comp.add,
            extra: [vec![0.0; comp.extra as usize], vec![0.0; comp.extra as usize]],
            extra_pos: 0,
            comp_extra: comp.extra as usize,
        };
        core.publish();
        Ok(core)
    }

    /// Like [`new`](Self::new), with the separator's drum stem first (for full mixes): the
    /// `separator` task runs on its own runner (same mode and rate), the drum runner hears its
    /// drum stem, the mix passes through delayed by both latencies and the compensation.
    pub fn with_separation(
        task: T,
        separator: SeparatorTask,
        cfg: RunnerConfig,
        shared: Arc<TranscriberShared>,
        comp: Compensation,
    ) -> Result<Self, RunnerError> {
        let drum = separator
            .stems()
            .iter()
            .position(|s| s == "drums")
            .ok_or_else(|| RunnerError::Config("the separator has no drums stem".into()))?;
        let mut sep_cfg = cfg.clone();
        sep_cfg.fallback = Fallback::Silence;
        sep_cfg.delayed_input = true;
        let max_block = cfg.max_block;
        let stems = (0..separator.out_channels()).map(|_| vec![0.0; max_block]).collect();
        let sep = ModelRunner::spawn(sep_cfg, separator)?;
        let mut core = Self::new(task, cfg, shared, comp)?;
        let ring = core.runner.latency() + core.comp_extra;
        core.extra = [vec![0.0; ring], vec![0.0; ring]];
        core.separation =
            Some(Separation { runner: sep, stems, mix: [vec![0.0; max_block], vec![0.0; max_block]], drum: 2 * drum });
        core.publish();
        Ok(core)
    }

    /// Writes the latency and the drum runner's counters where the editor reads them.
    fn publish(&self) {
        self.shared.latency.store(self.latency() as u64, Ordering::Relaxed);
        if let Ok(mut s) = self.shared.stats.lock() {
            *s = Some(self.runner.stats());
        }
    }

    /// Total latency in host frames (report it to the host): the separator's (when it runs
    /// first), the drum runner's and the timing compensation's.
    pub fn latency(&self) -> usize {
        self.separation.as_ref().map_or(0, |s| s.runner.latency()) + self.runner.latency() + self.comp_extra
    }

    /// Forgets the history (host reset, transport discontinuity); notes still held are
    /// released at the start of the next block.
    pub fn reset(&mut self) {
        self.runner.audio().reset();
        if let Some(s) = &mut self.separation {
            s.runner.audio().reset();
        }
        self.extra.iter_mut().for_each(|r| r.fill(0.0));
        self.flush = true;
    }

    /// Transcribes one buffer: `io[c]` holds the input and receives it back delayed by the
    /// latency; `emit` gets the buffer's note events in time order. `beats` is the host's song
    /// position at the buffer's first frame, in quarter notes, `tempo` its BPM (`None` when
    /// the host reports none). `result` must handle each decided frame's result slice.
    pub fn process(
        &mut self,
        io: &mut [&mut [f32]],
        settings: &NoteSettings,
        beats: Option<f64>,
        tempo: Option<f64>,
        mut emit: impl FnMut(NoteOut),
    ) {
        let n = io.first().map_or(0, |c| c.len());
        if self.shared.take.clear_if_requested() {
            self.take_start = self.clock;
        }
        if let Some(t) = tempo {
            self.shared.tempo.store(t as f32, Ordering::Relaxed);
        }
        if self.flush {
            self.flush = false;
            for p in &self.pending[..self.n_pending] {
                if !p.on {
                    emit(NoteOut::Off { offset: 0, key: p.key });
                }
            }
            self.n_pending = 0;
        }
        if n == 0 {
            return;
        }
        let rate = self.shared.rate.load(Ordering::Relaxed).max(1.0) as f64;
        let latency = self.latency() as f64;
        let add = self.add;
        let first = self.clock;
        // The song position of output frame `when`: the host compensates the latency.
        let song = |when: u64| beats.zip(tempo).map(|(b, t)| b + ((when - first) as f64 - latency) / rate * t / 60.0);
        let channels = self.channels;
        let mut done = 0;
        while done < n {
            let len = (n - done).min(self.max_block);
            let start = self.clock;
            {
                let last = io.len().min(2) - 1;
                let mut input: [&[f32]; 2] = [&io[0][done..done + len], &io[last][done..done + len]];
                if let Some(sep) = &mut self.separation {
                    // Mono: the separator hears the channel on both sides.
                    let mut outs: [&mut [f32]; 16] = Default::default();
                    let n_out = sep.stems.len().min(16);
                    for (o, v) in outs.iter_mut().zip(sep.stems.iter_mut()) {
                        *o = &mut v[..len];
                    }
                    let [ma, mb] = &mut sep.mix;
                    sep.runner.audio().process_timed(
                        &input,
                        &mut outs[..n_out],
                        &mut [&mut ma[..len], &mut mb[..len]],
                        |_, _| {},
                    );
                    input = [&sep.stems[sep.drum][..len], &sep.stems[sep.drum + 1][..len]];
                }
                let [a, b] = &mut self.delayed;
                let mut delayed: [&mut [f32]; 2] = [&mut a[..len], &mut b[..len]];
                let (shared, pending, n_pending) = (&self.shared, &mut self.pending, &mut self.n_pending);
                let take_start = self.take_start;
                self.runner.audio().process_timed(
                    &input[..channels],
                    &mut [],
                    &mut delayed[..channels],
                    |at: ResultAt, r: &[f32]| {
                        let found = start + (at.offset + at.hop_end) as u64;
                        for c in 0..CLASSES.min(r.len().saturating_sub(2)) {
                            let s = r[2 + c];
                            if s <= 0.0 {
                                continue;
                            }
                            let when = found + add[c];
                            shared.last_strength[c].store(s, Ordering::Relaxed);
                            shared.last_frame[c].store(when.saturating_sub(take_start), Ordering::Relaxed);
                            if !settings.enabled[c] {
                                continue;
                            }
                            let (key, velocity) = (settings.keys[c], settings.velocity(s));
                            schedule(pending, n_pending, when, key, velocity, settings.length);
                            shared.take.push(Hit {
                                frame: when.saturating_sub(take_start),
                                beats: song(when),
                                class: c as u8,
                                key,
                                velocity,
                            });
                        }
                    },
                );
            }
            let n_extra = self.extra[0].len();
            for (c, ch) in io.iter_mut().enumerate().take(channels) {
                // What passes through: the input as the drum runner saw it, or with the
                // separation stage the mix as the separator saw it (then the ring delays it
                // by the drum runner's latency too).
                let source = match &self.separation {
                    Some(sep) => &sep.mix[c][..len],
                    None => &self.delayed[c][..len],
                };
                if n_extra == 0 {
                    ch[done..done + len].copy_from_slice(source);
                    continue;
                }
                // The compensation's extra delay.
                let ring = &mut self.extra[c];
                for (i, (y, x)) in ch[done..done + len].iter_mut().zip(source).enumerate() {
                    let p = (self.extra_pos + i) % n_extra;
                    *y = ring[p];
                    ring[p] = *x;
                }
            }
            if n_extra > 0 {
                self.extra_pos = (self.extra_pos + len) % n_extra;
            }
            self.clock += len as u64;
            done += len;
        }
        // Everything due in this buffer goes out, in time order (pending is kept sorted).
        let end = self.clock;
        let mut k = 0;
        while k < self.n_pending && self.pending[k].at < end {
            let p = self.pending[k];
            let offset = (p.at - first) as u32;
            emit(if p.on {
                NoteOut::On { offset, key: p.key, velocity: p.velocity }
            } else {
                NoteOut::Off { offset, key: p.key }
            });
            k += 1;
        }
        self.pending.copy_within(k..self.n_pending, 0);
        self.n_pending -= k;
        self.shared.now.store(self.clock - self.take_start, Ordering::Relaxed);
    }
}

/// Inserts a note-on at `at` and its note-off `length` frames later into the time-ordered
/// `pending` events (at equal frames note-offs go first). A note-off of the same key still
/// pending after `at` moves to `at`, so a retriggered key is released before it sounds again.
/// When full, the note is dropped (its note-off too: no hanging notes).
fn schedule(pending: &mut [Pending; MAX_PENDING], n: &mut usize, at: u64, key: u8, velocity: u8, length: u64) {
    if *n + 2 > MAX_PENDING {
        return;
    }
    if let Some(i) = pending[..*n].iter().position(|p| !p.on && p.key == key && p.at > at) {
        let mut off = pending[i];
        pending.copy_within(i + 1..*n, i);
        *n -= 1;
        off.at = at;
        insert(pending, n, off);
    }
    insert(pending, n, Pending { at, on: true, key, velocity });
    insert(pending, n, Pending { at: at + length.max(1), on: false, key, velocity: 0 });
}

fn insert(pending: &mut [Pending; MAX_PENDING], n: &mut usize, e: Pending) {
    // After every event that sorts before or equal to it: (frame, off before on).
    let key = |p: &Pending| (p.at, p.on);
    let i = pending[..*n].iter().position(|p| key(p) > key(&e)).unwrap_or(*n);
    pending.copy_within(i..*n, i + 1);
    pending[i] = e;
    *n += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_keeps_time_order_and_releases_a_retriggered_key_first() {
        let mut p = [Pending { at: 0, on: false, key: 0, velocity: 0 }; MAX_PENDING];
        let mut n = 0;
        schedule(&mut p, &mut n, 100, 36, 90, 50);
        schedule(&mut p, &mut n, 120, 36, 80, 50); // before the first note's off at 150
        schedule(&mut p, &mut n, 110, 42, 70, 500);
        let got: Vec<(u64, bool, u8)> = p[..n].iter().map(|e| (e.at, e.on, e.key)).collect();
        assert_eq!(
            got,
            [(100, true, 36), (110, true, 42), (120, false, 36), (120, true, 36), (170, false, 36), (610, false, 42)]
        );
    }

    #[test]
    fn velocity_spans_the_minimum_to_127() {
        let s = NoteSettings::default();
        assert_eq!(s.velocity(1.0), 127);
        assert_eq!(s.velocity(0.0), 20);
    }

    #[test]
    fn the_take_log_appends_reads_and_clears() {
        let log = TakeLog::new(2);
        let hit = Hit { frame: 5, beats: Some(1.5), class: 1, key: 38, velocity: 100 };
        log.push(hit);
        log.push(Hit { beats: None, ..hit });
        log.push(hit);
        assert!(log.is_full());
        let mut out = Vec::new();
        assert!(log.read_from(0, &mut out));
        assert_eq!(out, [hit, Hit { beats: None, ..hit }]);
        log.request_clear();
        assert!(log.clear_if_requested());
        assert!(log.is_empty() && !log.is_full());
    }
}
