//! Test helpers shared by the suite's test and benchmark code. Nothing here belongs in a
//! plugin: [`Stallable`] takes a mutex and sleeps on the worker thread on purpose, and
//! [`stall_between`] holds that mutex while an audio loop runs.

use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsp_core::error::ModelError;
use dsp_core::Task;

/// Wraps a task so that every hop first takes a shared lock and then sleeps for `delay`:
/// whoever holds the lock stalls the worker, and a non-zero delay makes it slow. This is how
/// the suite's tests and benchmarks prove that the audio side never waits for the worker;
/// it behaves exactly like the wrapped task otherwise.
pub struct Stallable<T: Task> {
    /// The wrapped task.
    pub inner: T,
    /// Held by the controller to stall the worker (worker thread locks it each hop).
    pub gate: Arc<Mutex<()>>,
    /// Extra time spent per hop (zero for none).
    pub delay: Duration,
}

impl<T: Task> Stallable<T> {
    /// Wraps `inner` with a fresh gate and no delay; returns the task and its gate.
    pub fn new(inner: T) -> (Self, Arc<Mutex<()>>) {
        let gate = Arc::new(Mutex::new(()));
        (Stallable { inner, gate: gate.clone(), delay: Duration::ZERO }, gate)
    }
}

impl<T: Task> Task for Stallable<T> {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }
    fn hop(&self) -> usize {
        self.inner.hop()
    }
    fn in_channels(&self) -> usize {
        self.inner.in_channels()
    }
    fn out_channels(&self) -> usize {
        self.inner.out_channels()
    }
    fn latency(&self) -> usize {
        self.inner.latency()
    }
    fn result_len(&self) -> usize {
        self.inner.result_len()
    }
    fn reset(&mut self) {
        self.inner.reset()
    }
    fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], result: &mut [f32]) -> Result<bool, ModelError> {
        drop(self.gate.lock());
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.inner.process(input, output, result)
    }
}

/// Real-time pace: sleeps until `frames` at `rate` have played since `start`.
pub fn pace(start: Instant, frames: usize, rate: u32) {
    if let Some(w) = Duration::from_secs_f64(frames as f64 / rate as f64).checked_sub(start.elapsed()) {
        std::thread::sleep(w);
    }
}

/// What [`stall_between`] saw of an audio loop's results.
#[derive(Debug, Default)]
pub struct StallRun {
    /// The result count at each report from `settle` frames after the stall began until the
    /// release (results already in flight when the stall began have arrived by then).
    pub during_stall: Vec<u64>,
    /// The first fed position after the release at which the result count grew.
    pub resumed_at: Option<usize>,
}

impl StallRun {
    /// True when no result arrived late in the stall.
    pub fn held(&self) -> bool {
        self.during_stall.windows(2).all(|w| w[0] == w[1])
    }
}

/// Stalls a worker through its [`Stallable`] `gate` while an audio loop on another thread
/// reports `(frames fed, results so far)` after each buffer: takes the lock once `stall_at`
/// frames are fed and releases it at `release_at`. Returns when the loop drops its sender.
pub fn stall_between(
    reports: Receiver<(usize, u64)>,
    gate: &Mutex<()>,
    stall_at: usize,
    release_at: usize,
    settle: usize,
) -> StallRun {
    let mut run = StallRun::default();
    let mut guard = None;
    let mut released = false;
    let mut at_release = 0u64;
    for (pos, total) in reports.iter() {
        if guard.is_none() && !released && pos >= stall_at {
            guard = Some(gate.lock().unwrap_or_else(|e| e.into_inner()));
        }
        if guard.is_some() && pos > stall_at + settle {
            run.during_stall.push(total);
        }
        if pos >= release_at && guard.is_some() {
            guard = None;
            released = true;
            at_release = total;
        }
        if released && run.resumed_at.is_none() && total > at_release {
            run.resumed_at = Some(pos);
        }
    }
    run
}
