//! Test helpers shared by the suite's test and benchmark code. Nothing here belongs in a
//! plugin: [`Stallable`] takes a mutex and sleeps on the worker thread on purpose.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
