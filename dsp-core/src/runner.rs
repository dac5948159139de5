//! The model runner: one worker thread per plugin instance that runs a [`Task`] (and the tract
//! model inside it) off the audio thread, at a fixed latency.
//!
//! # Data flow
//! ```text
//! audio thread (AudioSide)                         worker thread
//!   host frames ──► input block (B frames) ──ring──► resample host→model ─► Task hops
//!   host output ◄── output block (B frames) ◄─ring── resample model→host ◄─ Task output
//!                 ▲ empty blocks come back on two more rings, so nothing is ever allocated
//! ```
//! Blocks are pre-allocated at [`ModelRunner::spawn`] and travel between the threads through
//! four pre-sized SPSC rings (`ringbuf`); each block carries its index on the host timeline.
//!
//! # Timing and fallback
//! Output frame `t` is the task's output for input frame `t − latency`, where
//! [`ModelRunner::latency`] is fixed for the runner's lifetime. The audio side needs worker
//! block `k` at frame `k·B + B + headroom`; the headroom (by default one host buffer) is the
//! time the worker has to produce it.
//! * [`RunMode::Realtime`]: if block `k` is not there in time the audio side does not wait. It
//!   outputs the [`Fallback`] (the dry input delayed by the same latency, or silence) for the
//!   whole block, keeps the last good result, and increments [`RunnerStats::misses`]. If no empty
//!   input block is available (the worker is stalled) the input block is dropped and
//!   [`RunnerStats::dropped_blocks`] increments; the worker sees the gap in the indices, resets
//!   the task, and skips blocks whose deadline has already passed so it catches up at once.
//! * [`RunMode::Offline`]: the audio side waits for the worker (and for empty blocks), so a
//!   bounce is identical whatever the worker's speed. A wait longer than
//!   [`RunnerConfig::offline_timeout`] falls back as in real time, so a dead worker cannot hang
//!   the host.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use crate::error::{ModelError, RunnerError};
use crate::resample::BlockResampler;

/// Work done on the worker thread, one hop at a time, at the task's own sample rate.
///
/// Implementations own their model (see [`crate::Model`]) and all their buffers. `process` may
/// allocate and may take long: it never runs on the audio thread.
pub trait Task: Send + 'static {
    /// Sample rate the task works at, in Hz (the model card's rate).
    fn sample_rate(&self) -> u32;
    /// Frames consumed and produced per [`process`](Task::process) call, at the task's rate.
    fn hop(&self) -> usize;
    /// Audio channels the task reads (≥ 1).
    fn in_channels(&self) -> usize;
    /// Audio channels the task writes (0 for analysis-only tasks such as meters).
    fn out_channels(&self) -> usize;
    /// Algorithmic latency in frames at the task's rate: output frame `j` is the processed
    /// input frame `j − latency`.
    fn latency(&self) -> usize;
    /// Number of values in one result (e.g. one probability per class); 0 if none.
    fn result_len(&self) -> usize;
    /// Forgets all history (called on discontinuities: start, reset, dropped blocks).
    fn reset(&mut self);
    /// Processes one hop: `input[ch]` and `output[ch]` hold [`hop`](Task::hop) frames.
    /// Returns `Ok(true)` if it wrote a new result into `result`.
    fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], result: &mut [f32]) -> Result<bool, ModelError>;
}

/// How the audio side behaves when the worker is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// Never wait: output the [`Fallback`] and count a miss.
    Realtime,
    /// Wait for the worker (offline bounces, `ProcessMode::Offline`).
    Offline,
}

/// What the audio side outputs for a block the worker did not deliver in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// The input, delayed by the runner latency (output channel `c` gets input `c % inputs`).
    Dry,
    /// Silence.
    Silence,
}

/// Runner settings that come from the host and the plugin (the task supplies the rest).
///
/// Built and consumed on the thread that calls [`ModelRunner::spawn`] (the plugin's
/// `activate()`); nothing reads it afterwards, so changing a field means building a new runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Host sample rate in Hz (22 050 – 192 000 supported).
    pub host_rate: u32,
    /// Largest number of frames the host passes to one `process` call.
    pub max_block: usize,
    /// Real-time or offline behaviour.
    pub mode: RunMode,
    /// Output for blocks the worker did not deliver in time.
    pub fallback: Fallback,
    /// Extra latency, in host frames, granted to the worker to finish a block. `None`: one
    /// host buffer ([`max_block`](Self::max_block)).
    pub headroom: Option<usize>,
    /// Wanted worker block size in host frames; `None` derives it from the task's hop.
    /// The resampler may round it to fit the rate ratio exactly.
    pub block_hint: Option<usize>,
    /// Longest wait for the worker in offline mode before falling back.
    pub offline_timeout: Duration,
    /// Keep the input, as the task sees it, delayed by the latency for
    /// [`AudioSide::process_with_delayed_input`] (whatever the fallback).
    pub delayed_input: bool,
}

impl RunnerConfig {
    /// A real-time configuration with dry fallback and default headroom.
    pub fn realtime(host_rate: u32, max_block: usize) -> Self {
        RunnerConfig {
            host_rate,
            max_block,
            mode: RunMode::Realtime,
            fallback: Fallback::Dry,
            headroom: None,
            block_hint: None,
            offline_timeout: Duration::from_secs(30),
            delayed_input: false,
        }
    }

    /// The same configuration in offline mode.
    pub fn offline(host_rate: u32, max_block: usize) -> Self {
        RunnerConfig { mode: RunMode::Offline, ..Self::realtime(host_rate, max_block) }
    }
}

/// Counters shared by the audio side, the worker and any reader (e.g. a GUI).
#[derive(Debug, Default)]
struct Shared {
    /// Host frames the audio side has processed (written by the audio thread).
    audio_frames: AtomicU64,
    /// Worker blocks that were not ready when the audio side needed them.
    misses: AtomicU64,
    /// Input blocks dropped because no empty block was available.
    dropped: AtomicU64,
    /// Blocks the worker processed.
    processed: AtomicU64,
    /// Blocks the worker skipped because their deadline had passed.
    skipped: AtomicU64,
    /// Task errors.
    errors: AtomicU64,
    /// Non-finite input samples replaced by zero.
    nonfinite: AtomicU64,
    /// Set by the owner to stop the worker.
    shutdown: AtomicBool,
    /// Last task error, for display (written by the worker, never touched by the audio side).
    last_error: Mutex<Option<String>>,
}

/// A snapshot of the runner's counters, taken by [`StatsHandle::snapshot`] on any non-audio
/// thread. Counts are totals since the runner was spawned, in worker blocks
/// ([`ModelRunner::block_len`] host frames) unless stated otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerStats {
    /// Blocks the audio side had to replace by the fallback (counted by the audio thread).
    pub misses: u64,
    /// Input blocks dropped because the worker held every empty block (it was stalled;
    /// counted by the audio thread).
    pub dropped_blocks: u64,
    /// Blocks the worker processed (counted by the worker thread).
    pub processed_blocks: u64,
    /// Blocks the worker skipped to catch up after a stall (counted by the worker thread).
    pub skipped_blocks: u64,
    /// Task failures; the affected blocks fall back too (counted by the worker thread).
    pub errors: u64,
    /// Input samples (not blocks) that were NaN or infinite and were replaced by zero before
    /// processing (counted by the audio thread).
    pub nonfinite_samples: u64,
    /// The most recent task error message (written by the worker thread).
    pub last_error: Option<String>,
}

/// A cloneable, thread-safe view of a runner's counters (for GUIs and tests).
#[derive(Debug, Clone)]
pub struct StatsHandle(Arc<Shared>);

impl StatsHandle {
    /// Reads the counters. Locks a mutex for the error text: not for the audio thread.
    pub fn snapshot(&self) -> RunnerStats {
        let s = &self.0;
        RunnerStats {
            misses: s.misses.load(Ordering::Relaxed),
            dropped_blocks: s.dropped.load(Ordering::Relaxed),
            processed_blocks: s.processed.load(Ordering::Relaxed),
            skipped_blocks: s.skipped.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            nonfinite_samples: s.nonfinite.load(Ordering::Relaxed),
            last_error: s.last_error.lock().ok().and_then(|e| e.clone()),
        }
    }

    /// Blocks replaced by the fallback so far (lock-free, any thread).
    pub fn misses(&self) -> u64 {
        self.0.misses.load(Ordering::Relaxed)
    }
}

struct InBlock {
    idx: u64,
    /// Planar, `in_channels × block` frames.
    data: Vec<f32>,
}

struct OutBlock {
    idx: u64,
    ok: bool,
    /// Planar, `out_channels × block` frames.
    data: Vec<f32>,
    /// Up to `max_results` results of `result_len` values each.
    results: Vec<f32>,
    /// Per result, where the hop that produced it ends, in task frames after the block's
    /// start (in `1..=model_block`).
    result_ends: Vec<usize>,
    n_results: usize,
}

/// When a result happens, for [`AudioSide::process_timed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultAt {
    /// Frame offset in the current host buffer where the result is delivered (the start of
    /// the worker block that carries it).
    pub offset: usize,
    /// Host frames after `offset` at which the hop that produced the result ends, in the
    /// output timeline (the input delayed by the runner latency); less than one worker block.
    /// For a task whose result describes the input `task.latency()` frames before its hop's
    /// end, that moment plays exactly at `offset + hop_end` (up to rounding to host frames).
    pub hop_end: usize,
}

/// Fixed timing of a runner, derived once from the task and the host rate.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// Worker block in host frames.
    block: usize,
    /// Worker block in task frames.
    model_block: usize,
    /// Delay of the block rings: block + headroom, host frames.
    ring_delay: usize,
    /// Total latency, host frames.
    latency: usize,
    /// Zero frames primed into the task-output FIFO (task frames).
    prime: usize,
}

/// Owns the worker thread and the audio side. Create it in `activate()`, drop (or
/// [`stop`](Self::stop)) it in `deactivate()` — both off the audio thread, since they allocate
/// and join. The audio thread only touches the [`AudioSide`] returned by
/// [`audio`](Self::audio).
pub struct ModelRunner<T: Task> {
    audio: AudioSide,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<T>>,
    latency: usize,
}

impl<T: Task> ModelRunner<T> {
    /// Sizes every buffer, starts the worker thread and hands it `task`.
    /// Allocates: call from `activate()`, never from `process()`.
    pub fn spawn(cfg: RunnerConfig, task: T) -> Result<Self, RunnerError> {
        let (in_ch, out_ch, hop) = (task.in_channels(), task.out_channels(), task.hop());
        if in_ch == 0 || hop == 0 || cfg.max_block == 0 {
            return Err(RunnerError::Config(format!(
                "task needs >= 1 input channel and a hop > 0, host a buffer > 0 (got {in_ch} ch, hop {hop}, max block {})",
                cfg.max_block
            )));
        }
        if !(8_000..=384_000).contains(&cfg.host_rate) {
            return Err(RunnerError::Config(format!("host rate {} Hz is not supported", cfg.host_rate)));
        }
        let model_rate = task.sample_rate();
        let hint = cfg
            .block_hint
            .unwrap_or_else(|| ((hop as u64 * cfg.host_rate as u64).div_ceil(model_rate as u64) as usize).max(64));
        let res_in = BlockResampler::new(cfg.host_rate, model_rate, hint, in_ch)?;
        let (block, model_block) = (res_in.input_len(), res_in.output_len());
        let res_out = if out_ch > 0 {
            let r = BlockResampler::new(model_rate, cfg.host_rate, model_block, out_ch)?;
            if (r.input_len(), r.output_len()) != (model_block, block) {
                return Err(RunnerError::Resampler {
                    from: model_rate,
                    to: cfg.host_rate,
                    reason: format!(
                        "return path blocks {}->{} do not mirror {}->{}",
                        r.input_len(),
                        r.output_len(),
                        block,
                        model_block
                    ),
                });
            }
            Some(r)
        } else {
            None
        };

        // Prime the task-output FIFO so the return resampler always finds a full block, and
        // round the priming up so the total delay is a whole number of host frames.
        let g = gcd(cfg.host_rate as usize, model_rate as usize);
        let (p, q) = (cfg.host_rate as usize / g, model_rate as usize / g);
        let base = res_in.delay() + task.latency();
        let (prime, chain) = if res_out.is_some() {
            let mut prime = hop - gcd(model_block, hop);
            while !(base + prime).is_multiple_of(q) {
                prime += 1;
            }
            let out_delay = res_out.as_ref().map_or(0, |r| r.delay());
            (prime, (base + prime) / q * p + out_delay)
        } else {
            // Analysis-only tasks have no audio to align: results are as late as the input
            // resampler's delay (rounded to the nearest host frame).
            (0, (base * p + q / 2) / q)
        };
        let headroom = cfg.headroom.unwrap_or(cfg.max_block);
        let ring_delay = block + headroom;
        let timing = Timing { block, model_block, ring_delay, latency: ring_delay + chain, prime };

        // Enough blocks for everything that can be in flight: the ring delay, a whole host
        // buffer pushed at once, and one block on each side being filled or played.
        let n_blocks = (ring_delay + cfg.max_block).div_ceil(block) + 3;
        let result_len = task.result_len();
        let max_results = model_block.div_ceil(hop) + 1;
        let (mut free_in_prod, free_in_cons) = HeapRb::<InBlock>::new(n_blocks).split();
        let (filled_prod, filled_cons) = HeapRb::<InBlock>::new(n_blocks).split();
        let (ready_prod, ready_cons) = HeapRb::<OutBlock>::new(n_blocks + 2).split();
        let (mut free_out_prod, free_out_cons) = HeapRb::<OutBlock>::new(n_blocks + 2).split();
        for _ in 0..n_blocks {
            let _ = free_in_prod.try_push(InBlock { idx: 0, data: vec![0.0; in_ch * block] });
        }
        for _ in 0..n_blocks + 2 {
            let _ = free_out_prod.try_push(OutBlock {
                idx: 0,
                ok: false,
                data: vec![0.0; out_ch * block],
                results: vec![0.0; result_len * max_results],
                result_ends: vec![0; max_results],
                n_results: 0,
            });
        }

        let shared = Arc::new(Shared::default());
        let worker_state = Worker {
            task,
            shared: shared.clone(),
            timing,
            in_ch,
            out_ch,
            result_len,
            res_in,
            res_out,
            free_in: free_in_prod,
            filled: filled_cons,
            ready: ready_prod,
            free_out: free_out_cons,
            resampled: vec![vec![0.0; model_block]; in_ch],
            fifo_in: PlanarFifo::new(in_ch, model_block + hop),
            fifo_out: PlanarFifo::new(out_ch, prime + 2 * model_block + 2 * hop),
            hop_out: vec![vec![0.0; hop]; out_ch],
            result: vec![0.0; result_len],
            expected: None,
        };
        let worker = thread::Builder::new()
            .name("model-runner".into())
            .spawn(move || worker_state.run())
            .map_err(RunnerError::Spawn)?;

        let lat = timing.latency;
        let audio = AudioSide {
            timing,
            mode: cfg.mode,
            offline_timeout: cfg.offline_timeout,
            in_ch,
            out_ch,
            result_len,
            shared: shared.clone(),
            worker: worker.thread().clone(),
            free_in: free_in_cons,
            filled: filled_prod,
            ready: ready_cons,
            free_out: free_out_prod,
            cur_in: None,
            cur_out: None,
            pending: None,
            frame: 0,
            epoch: 0,
            scratch: vec![vec![0.0; block]; in_ch],
            dry_fallback: out_ch > 0 && cfg.fallback == Fallback::Dry,
            dry: if (out_ch > 0 && cfg.fallback == Fallback::Dry) || cfg.delayed_input {
                vec![vec![0.0; lat + block]; in_ch]
            } else {
                Vec::new()
            },
            dry_pos: 0,
            last_result: vec![0.0; result_len],
            has_result: false,
        };
        Ok(ModelRunner { audio, shared, worker: Some(worker), latency: lat })
    }

    /// Total latency in host frames, fixed for this runner: report it to the host. Any thread.
    pub fn latency(&self) -> usize {
        self.latency
    }

    /// Worker block size in host frames.
    pub fn block_len(&self) -> usize {
        self.audio.timing.block
    }

    /// The audio-thread side. Its methods are allocation- and lock-free.
    pub fn audio(&mut self) -> &mut AudioSide {
        &mut self.audio
    }

    /// A handle on the counters for other threads (GUI, tests).
    pub fn stats(&self) -> StatsHandle {
        StatsHandle(self.shared.clone())
    }

    /// Stops and joins the worker, returning the task (and its model) for reuse.
    /// `None` if the worker panicked.
    pub fn stop(mut self) -> Option<T> {
        self.shutdown_worker()
    }

    fn shutdown_worker(&mut self) -> Option<T> {
        self.shared.shutdown.store(true, Ordering::Release);
        let worker = self.worker.take()?;
        worker.thread().unpark();
        worker.join().ok()
    }
}

impl<T: Task> Drop for ModelRunner<T> {
    fn drop(&mut self) {
        self.shutdown_worker();
    }
}

/// The audio-thread half of a runner. No method allocates, locks or calls tract; in
/// [`RunMode::Offline`] [`process`](Self::process) may sleep while waiting for the worker.
pub struct AudioSide {
    timing: Timing,
    mode: RunMode,
    offline_timeout: Duration,
    in_ch: usize,
    out_ch: usize,
    result_len: usize,
    shared: Arc<Shared>,
    worker: Thread,
    free_in: HeapCons<InBlock>,
    filled: HeapProd<InBlock>,
    ready: HeapCons<OutBlock>,
    free_out: HeapProd<OutBlock>,
    cur_in: Option<InBlock>,
    cur_out: Option<OutBlock>,
    pending: Option<OutBlock>,
    /// Host frames processed since the runner started (the shared clock of both sides).
    frame: u64,
    /// Frame at which the current stream started (after [`reset`](Self::reset)).
    epoch: u64,
    scratch: Vec<Vec<f32>>,
    /// Late blocks output the delayed input (else silence).
    dry_fallback: bool,
    /// The input history, `latency + block` frames per channel (empty when not needed).
    dry: Vec<Vec<f32>>,
    dry_pos: usize,
    last_result: Vec<f32>,
    has_result: bool,
}

impl AudioSide {
    /// Total latency in host frames.
    pub fn latency(&self) -> usize {
        self.timing.latency
    }

    /// Worker block size in host frames.
    pub fn block_len(&self) -> usize {
        self.timing.block
    }

    /// The most recent result delivered (class probabilities…), if any yet.
    pub fn latest_result(&self) -> Option<&[f32]> {
        self.has_result.then_some(&self.last_result[..])
    }

    /// Processes one host buffer. `input` has the task's input channels, `output` its output
    /// channels (may be empty for analysis tasks), all of the same length (any length).
    /// `on_result(offset, values)` is called for each result that becomes due in this buffer,
    /// with its frame offset inside the buffer. Audio thread.
    pub fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], on_result: impl FnMut(usize, &[f32])) {
        self.process_with_delayed_input(input, output, &mut [], on_result);
    }

    /// Like [`process`](Self::process), and also writes to `delayed` (up to one channel per
    /// input) the input exactly as the task saw it (non-finite samples as zero), delayed by
    /// the [`latency`](Self::latency): the signal the outputs line up with, late block or not.
    /// Needs [`RunnerConfig::delayed_input`]; without it `delayed` is silence. Audio thread.
    pub fn process_with_delayed_input(
        &mut self,
        input: &[&[f32]],
        output: &mut [&mut [f32]],
        delayed: &mut [&mut [f32]],
        mut on_result: impl FnMut(usize, &[f32]),
    ) {
        self.process_timed(input, output, delayed, |at, r| on_result(at.offset, r));
    }

    /// Like [`process_with_delayed_input`](Self::process_with_delayed_input), with each
    /// result's [`ResultAt`]: where it is delivered in this buffer and where, in the
    /// latency-delayed timeline, the hop that produced it ends (sample-exact event timing for
    /// tasks whose results describe moments in their input, such as onsets). Audio thread.
    pub fn process_timed(
        &mut self,
        input: &[&[f32]],
        output: &mut [&mut [f32]],
        delayed: &mut [&mut [f32]],
        mut on_result: impl FnMut(ResultAt, &[f32]),
    ) {
        let n = input.first().map_or(0, |c| c.len());
        let mut done = 0;
        while done < n {
            let len = self.chunk_len(n - done);
            for c in 0..self.in_ch {
                self.load_scratch(c, input.get(c).map_or(&[][..], |ch| &ch[done..done + len]), len);
            }
            self.chunk(len, output, delayed, done, &mut on_result);
            done += len;
        }
        self.shared.audio_frames.store(self.frame, Ordering::Release);
    }

    /// Like [`process`](Self::process) for tasks with as many outputs as inputs, reading
    /// and overwriting the same buffers (the host's in-place layout). Audio thread.
    pub fn process_in_place(&mut self, io: &mut [&mut [f32]], mut on_result: impl FnMut(usize, &[f32])) {
        let n = io.first().map_or(0, |c| c.len());
        let mut done = 0;
        while done < n {
            let len = self.chunk_len(n - done);
            for c in 0..self.in_ch {
                self.load_scratch(c, io.get(c).map_or(&[][..], |ch| &ch[done..done + len]), len);
            }
            self.chunk(len, io, &mut [], done, &mut |at: ResultAt, r: &[f32]| on_result(at.offset, r));
            done += len;
        }
        self.shared.audio_frames.store(self.frame, Ordering::Release);
    }

    /// Starts a new stream: forgets the block in progress, the dry history and the last
    /// result. The worker sees a gap in the block indices and resets its task. Audio thread.
    pub fn reset(&mut self) {
        let b = self.timing.block as u64;
        if let Some(blk) = self.cur_in.take() {
            let _ = self.free_in_return(blk);
        }
        self.release_out();
        // Jump at least one whole block ahead so the worker detects the discontinuity.
        self.frame = (self.frame / b + 2) * b;
        self.epoch = self.frame;
        for d in &mut self.dry {
            d.fill(0.0);
        }
        self.has_result = false;
        self.shared.audio_frames.store(self.frame, Ordering::Release);
    }

    /// Copies one channel of input into the scratch block, replacing NaN and infinities by
    /// zero (counted) so neither the model nor the dry fallback ever sees them. A missing
    /// channel (`src` empty) reads as silence.
    fn load_scratch(&mut self, c: usize, src: &[f32], len: usize) {
        let mut bad = 0u64;
        self.scratch[c][..len].fill(0.0);
        for (d, x) in self.scratch[c].iter_mut().zip(src) {
            *d = if x.is_finite() {
                *x
            } else {
                bad += 1;
                0.0
            };
        }
        if bad > 0 {
            self.shared.nonfinite.fetch_add(bad, Ordering::Relaxed);
        }
    }

    /// Length of the next chunk: never crosses an input or output block boundary.
    fn chunk_len(&self, remaining: usize) -> usize {
        let b = self.timing.block as u64;
        let rel = self.frame - self.epoch;
        let to_in = b - rel % b;
        let d = self.timing.ring_delay as u64;
        let to_out = if rel < d { d - rel } else { b - (rel - d) % b };
        (remaining as u64).min(to_in).min(to_out) as usize
    }

    fn chunk(
        &mut self,
        len: usize,
        output: &mut [&mut [f32]],
        delayed: &mut [&mut [f32]],
        offset: usize,
        on_result: &mut impl FnMut(ResultAt, &[f32]),
    ) {
        let b = self.timing.block;
        let rel = self.frame - self.epoch;
        let pos = (rel % b as u64) as usize;

        // 1. Input side: fill the current block, hand it to the worker when complete.
        if pos == 0 {
            self.cur_in = self.take_free_in();
            if self.cur_in.is_none() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(blk) = &mut self.cur_in {
            for (c, s) in self.scratch.iter().enumerate() {
                blk.data[c * b + pos..c * b + pos + len].copy_from_slice(&s[..len]);
            }
        }
        if pos + len == b {
            if let Some(mut blk) = self.cur_in.take() {
                blk.idx = self.frame / b as u64;
                // Cannot fail: the ring holds every block there is.
                let _ = self.filled.try_push(blk);
                self.worker.unpark();
            }
        }

        // 2. Dry history for the fallback and the delayed input.
        let dry_len = self.dry.first().map_or(0, |d| d.len());
        let read_pos = (self.dry_pos + dry_len - self.timing.latency % dry_len.max(1)) % dry_len.max(1);
        if dry_len > 0 {
            for (d, s) in self.dry.iter_mut().zip(&self.scratch) {
                for (i, x) in s[..len].iter().enumerate() {
                    d[(self.dry_pos + i) % dry_len] = *x;
                }
            }
        }
        for (c, o) in delayed.iter_mut().enumerate().take(self.in_ch) {
            let dst = &mut o[offset..offset + len];
            match self.dry.get(c) {
                Some(src) => dst.iter_mut().enumerate().for_each(|(i, y)| *y = src[(read_pos + i) % dry_len]),
                None => dst.fill(0.0),
            }
        }

        // 3. Output side.
        let d = self.timing.ring_delay as u64;
        if rel >= d {
            let opos = ((rel - d) % b as u64) as usize;
            if opos == 0 {
                let k = (self.frame - d) / b as u64;
                self.acquire_out(k);
                if let Some(blk) = &self.cur_out {
                    let r = self.result_len;
                    let (b, m) = (self.timing.block, self.timing.model_block);
                    for i in 0..blk.n_results {
                        let vals = &blk.results[i * r..(i + 1) * r];
                        self.last_result.copy_from_slice(vals);
                        self.has_result = true;
                        // The block's host and task lengths have the rate ratio exactly.
                        let end = (blk.result_ends[i] * b + m / 2) / m;
                        on_result(ResultAt { offset, hop_end: end }, vals);
                    }
                }
            }
            if let Some(blk) = &self.cur_out {
                for (c, o) in output.iter_mut().enumerate().take(self.out_ch) {
                    o[offset..offset + len].copy_from_slice(&blk.data[c * b + opos..c * b + opos + len]);
                }
            } else {
                self.write_fallback(output, offset, len, read_pos, dry_len);
            }
        } else {
            self.write_fallback(output, offset, len, read_pos, dry_len);
        }
        if dry_len > 0 {
            self.dry_pos = (self.dry_pos + len) % dry_len;
        }
        self.frame += len as u64;
    }

    fn write_fallback(
        &mut self,
        output: &mut [&mut [f32]],
        offset: usize,
        len: usize,
        read_pos: usize,
        dry_len: usize,
    ) {
        for (c, o) in output.iter_mut().enumerate().take(self.out_ch) {
            let dst = &mut o[offset..offset + len];
            if !self.dry_fallback || dry_len == 0 {
                dst.fill(0.0);
            } else {
                let src = &self.dry[c % self.in_ch];
                for (i, y) in dst.iter_mut().enumerate() {
                    *y = src[(read_pos + i) % dry_len];
                }
            }
        }
    }

    fn take_free_in(&mut self) -> Option<InBlock> {
        let start = Instant::now();
        loop {
            if let Some(b) = self.free_in.try_pop() {
                return Some(b);
            }
            if !self.wait_offline(start) {
                return None;
            }
        }
    }

    fn free_in_return(&mut self, mut blk: InBlock) -> Result<(), InBlock> {
        // Returning to the worker's pool goes through the filled ring with a stale index: the
        // worker recycles it without processing. Mark it with u64::MAX.
        blk.idx = u64::MAX;
        self.filled.try_push(blk)
    }

    fn release_out(&mut self) {
        for blk in [self.cur_out.take(), self.pending.take()].into_iter().flatten() {
            let _ = self.free_out.try_push(blk);
        }
    }

    /// Makes worker block `k` current, or leaves none (fallback) if it is not available.
    fn acquire_out(&mut self, k: u64) {
        if let Some(blk) = self.cur_out.take() {
            let _ = self.free_out.try_push(blk);
        }
        let start = Instant::now();
        loop {
            let next = self.pending.take().or_else(|| self.ready.try_pop());
            match next {
                Some(blk) if blk.idx < k => {
                    let _ = self.free_out.try_push(blk);
                }
                Some(blk) if blk.idx == k && blk.ok => {
                    self.cur_out = Some(blk);
                    return;
                }
                Some(blk) if blk.idx == k => {
                    // The task failed on this block: fall back.
                    let _ = self.free_out.try_push(blk);
                    break;
                }
                Some(blk) => {
                    // A later block: block k was dropped at the input.
                    self.pending = Some(blk);
                    break;
                }
                None => {
                    if !self.wait_offline(start) {
                        break;
                    }
                }
            }
        }
        self.shared.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// In offline mode, sleeps briefly and returns true while the timeout has not passed.
    fn wait_offline(&self, start: Instant) -> bool {
        if self.mode != RunMode::Offline || start.elapsed() > self.offline_timeout {
            return false;
        }
        self.worker.unpark();
        thread::sleep(Duration::from_micros(50));
        true
    }
}

/// A planar FIFO with fixed capacity (worker side).
struct PlanarFifo {
    data: Vec<Vec<f32>>,
    len: usize,
}

impl PlanarFifo {
    fn new(channels: usize, capacity: usize) -> Self {
        PlanarFifo { data: vec![vec![0.0; capacity]; channels], len: 0 }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push_zeros(&mut self, n: usize) {
        for ch in &mut self.data {
            ch[self.len..self.len + n].fill(0.0);
        }
        self.len += n;
    }

    fn push(&mut self, src: &[impl AsRef<[f32]>], n: usize) {
        for (ch, s) in self.data.iter_mut().zip(src) {
            ch[self.len..self.len + n].copy_from_slice(&s.as_ref()[..n]);
        }
        self.len += n;
    }

    fn drain(&mut self, n: usize) {
        for ch in &mut self.data {
            ch.copy_within(n..self.len, 0);
        }
        self.len -= n;
    }
}

struct Worker<T: Task> {
    task: T,
    shared: Arc<Shared>,
    timing: Timing,
    in_ch: usize,
    out_ch: usize,
    result_len: usize,
    res_in: BlockResampler,
    res_out: Option<BlockResampler>,
    free_in: HeapProd<InBlock>,
    filled: HeapCons<InBlock>,
    ready: HeapProd<OutBlock>,
    free_out: HeapCons<OutBlock>,
    resampled: Vec<Vec<f32>>,
    fifo_in: PlanarFifo,
    fifo_out: PlanarFifo,
    hop_out: Vec<Vec<f32>>,
    result: Vec<f32>,
    /// Index of the next input block if the stream is continuous.
    expected: Option<u64>,
}

impl<T: Task> Worker<T> {
    fn run(mut self) -> T {
        let idle = Duration::from_millis(2);
        while !self.shared.shutdown.load(Ordering::Acquire) {
            let Some(blk) = self.filled.try_pop() else {
                thread::park_timeout(idle);
                continue;
            };
            if blk.idx == u64::MAX || self.is_stale(blk.idx) {
                if blk.idx != u64::MAX {
                    self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                }
                self.expected = None;
                let _ = self.free_in.try_push(blk);
                continue;
            }
            let out = loop {
                if let Some(o) = self.free_out.try_pop() {
                    break Some(o);
                }
                if self.shared.shutdown.load(Ordering::Acquire) {
                    break None;
                }
                thread::park_timeout(idle);
            };
            let Some(mut out) = out else { break };
            if self.expected != Some(blk.idx) {
                self.restart();
            }
            self.expected = Some(blk.idx + 1);
            out.idx = blk.idx;
            out.ok = match self.process_block(&blk, &mut out) {
                Ok(()) => true,
                Err(e) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut slot) = self.shared.last_error.lock() {
                        *slot = Some(e.to_string());
                    }
                    self.expected = None;
                    false
                }
            };
            self.shared.processed.fetch_add(1, Ordering::Relaxed);
            let _ = self.free_in.try_push(blk);
            let _ = self.ready.try_push(out);
        }
        self.task
    }

    /// A block is stale in real time when the audio side has already played past its deadline.
    fn is_stale(&self, idx: u64) -> bool {
        let now = self.shared.audio_frames.load(Ordering::Acquire);
        let due_end = (idx + 1) * self.timing.block as u64 + self.timing.ring_delay as u64;
        now > due_end
    }

    fn restart(&mut self) {
        self.task.reset();
        self.res_in.reset();
        if let Some(r) = &mut self.res_out {
            r.reset();
        }
        self.fifo_in.clear();
        self.fifo_out.clear();
        self.fifo_out.push_zeros(self.timing.prime);
    }

    fn process_block(&mut self, blk: &InBlock, out: &mut OutBlock) -> Result<(), ModelError> {
        let (b, m, hop) = (self.timing.block, self.timing.model_block, self.task.hop());
        let input: Vec<&[f32]> = (0..self.in_ch).map(|c| &blk.data[c * b..(c + 1) * b]).collect();
        {
            let mut res: Vec<&mut [f32]> = self.resampled.iter_mut().map(|v| v.as_mut_slice()).collect();
            self.res_in.process(&input, &mut res);
        }
        self.fifo_in.push(&self.resampled, m);
        out.n_results = 0;
        let r = self.result_len;
        // Task frames of earlier blocks still in the FIFO: the first hop ends `hop - carried`
        // frames into this block.
        let carried = self.fifo_in.len - m;
        let mut hop_end = hop - carried;
        while self.fifo_in.len >= hop {
            let hop_in: Vec<&[f32]> = self.fifo_in.data.iter().map(|c| &c[..hop]).collect();
            let mut hop_out: Vec<&mut [f32]> = self.hop_out.iter_mut().map(|v| v.as_mut_slice()).collect();
            let has_result = self.task.process(&hop_in, &mut hop_out, &mut self.result)?;
            if has_result && r > 0 && (out.n_results + 1) * r <= out.results.len() {
                out.results[out.n_results * r..(out.n_results + 1) * r].copy_from_slice(&self.result);
                out.result_ends[out.n_results] = hop_end;
                out.n_results += 1;
            }
            hop_end += hop;
            self.fifo_out.push(&self.hop_out, hop);
            self.fifo_in.drain(hop);
        }
        if let Some(res_out) = &mut self.res_out {
            let src: Vec<&[f32]> = self.fifo_out.data.iter().map(|c| &c[..m]).collect();
            let mut dst: Vec<&mut [f32]> = out.data.chunks_mut(b).take(self.out_ch).collect();
            res_out.process(&src, &mut dst);
            self.fifo_out.drain(m);
        }
        Ok(())
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
