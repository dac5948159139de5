//! The separator's audio-thread core, independent of the plugin framework so tests can drive
//! it: the [`ModelRunner`] with the separator task ("other" is the runner's delayed input
//! minus the stems), and the GUI's atomics. Nothing here allocates after [`SeparatorCore::new`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use atomic_float::AtomicF32;
use dsp_core::runner::StatsHandle;
use dsp_core::{Fallback, ModelRunner, RunnerConfig, RunnerError, Task};
use separator_model::SeparatorTask;

/// Stems the model separates (the fifth source, "other", is the residual).
pub const STEMS: usize = 4;
/// Sources with an activity gate: the stems and "other".
pub const GATED: usize = STEMS + 1;

/// State shared between the audio thread (writer of the atomics) and the GUI (reader).
pub struct SeparatorShared {
    /// Latest activity probability per source ("other" last).
    pub probs: [AtomicF32; GATED],
    /// Latest gate per source (true: the source passes).
    pub gates: [AtomicBool; GATED],
    /// Frames (of 11.6 ms) per source whose gate was open, since the reset.
    pub open_frames: [AtomicU64; GATED],
    /// Frames since the reset.
    pub frames: AtomicU64,
    /// Reported latency in host frames and the host rate (written at activation).
    pub latency: AtomicU64,
    /// Host sample rate in Hz (written at activation).
    pub rate: AtomicF32,
    /// Model status or load error (main thread writes, GUI reads; never the audio thread).
    pub status: Mutex<String>,
    /// Runner counters for the GUI; replaced at each activation.
    pub stats: Mutex<Option<StatsHandle>>,
}

impl SeparatorShared {
    /// Allocates the shared state.
    pub fn new() -> Arc<Self> {
        Arc::new(SeparatorShared {
            probs: Default::default(),
            gates: Default::default(),
            open_frames: Default::default(),
            frames: AtomicU64::new(0),
            latency: AtomicU64::new(0),
            rate: AtomicF32::new(0.0),
            status: Mutex::new(String::new()),
            stats: Mutex::new(None),
        })
    }
}

/// The separator on the audio thread.
pub struct SeparatorCore<T: Task = SeparatorTask> {
    runner: ModelRunner<T>,
    shared: Arc<SeparatorShared>,
    /// Stems × channels, `max_block` frames each.
    stems: Vec<Vec<f32>>,
    /// The delayed input, then the residual "other", per channel.
    other: [Vec<f32>; 2],
    max_block: usize,
}

impl<T: Task> SeparatorCore<T> {
    /// Starts the runner (stems fall back to silence when the worker is late, so "other"
    /// carries the whole delayed input then and the sum still holds; the runner keeps the
    /// delayed input, as the model saw it, for "other").
    /// `task` is the separator's (or a wrapper of it, as the tests' stallable task): stereo in,
    /// `2 × STEMS` out, results as [`separator_model::result_len`] of the five sources.
    pub fn new(task: T, mut cfg: RunnerConfig, shared: Arc<SeparatorShared>) -> Result<Self, RunnerError> {
        cfg.fallback = Fallback::Silence;
        cfg.delayed_input = true;
        let max_block = cfg.max_block;
        let runner = ModelRunner::spawn(cfg, task)?;
        let latency = runner.latency();
        shared.latency.store(latency as u64, Ordering::Relaxed);
        if let Ok(mut s) = shared.stats.lock() {
            *s = Some(runner.stats());
        }
        Ok(SeparatorCore {
            runner,
            shared,
            stems: vec![vec![0.0; max_block]; 2 * STEMS],
            other: [vec![0.0; max_block], vec![0.0; max_block]],
            max_block,
        })
    }

    /// Total latency in host frames (report it to the host).
    pub fn latency(&self) -> usize {
        self.runner.latency()
    }

    /// Forgets all history.
    pub fn reset(&mut self) {
        self.runner.audio().reset();
    }

    /// Separates one buffer of stereo `input` (≤ `max_block` frames per call; longer buffers
    /// are processed in pieces by the caller). `out(frame_offset, sources)` receives each
    /// piece's five sources, `sources[s][c]`, stems first, "other" last; they sum to the
    /// input delayed by [`latency`](Self::latency).
    pub fn process(&mut self, input: [&[f32]; 2], mut out: impl FnMut(usize, [[&[f32]; 2]; 5])) {
        let n = input[0].len();
        let mut done = 0;
        while done < n {
            let len = (n - done).min(self.max_block);
            let inp = [&input[0][done..done + len], &input[1][done..done + len]];
            self.piece(inp);
            let s = &self.stems;
            let srcs = [
                [&s[0][..len], &s[1][..len]],
                [&s[2][..len], &s[3][..len]],
                [&s[4][..len], &s[5][..len]],
                [&s[6][..len], &s[7][..len]],
                [&self.other[0][..len], &self.other[1][..len]],
            ];
            out(done, srcs);
            done += len;
        }
    }

    fn piece(&mut self, input: [&[f32]; 2]) {
        let len = input[0].len();
        let shared = &self.shared;
        {
            let mut outs: [&mut [f32]; 2 * STEMS] = {
                let mut it = self.stems.iter_mut();
                std::array::from_fn(|_| it.next().map(|v| &mut v[..len]).unwrap_or(&mut []))
            };
            let [a, b] = &mut self.other;
            let mut delayed = [&mut a[..len], &mut b[..len]];
            self.runner.audio().process_with_delayed_input(&input, &mut outs, &mut delayed, |_, r| {
                for s in 0..GATED {
                    shared.probs[s].store(r[s], Ordering::Relaxed);
                    let open = r[GATED + s] > 0.5;
                    shared.gates[s].store(open, Ordering::Relaxed);
                    if open {
                        shared.open_frames[s].fetch_add(1, Ordering::Relaxed);
                    }
                }
                shared.frames.fetch_add(1, Ordering::Relaxed);
            });
        }
        // "Other" = the delayed input minus the stems.
        for s in 0..STEMS {
            for c in 0..2 {
                for (o, x) in self.other[c][..len].iter_mut().zip(&self.stems[2 * s + c][..len]) {
                    *o -= x;
                }
            }
        }
    }
}
