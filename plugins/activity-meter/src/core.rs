//! The meter's audio-thread core, independent of the plugin framework so tests can drive it
//! with any [`Task`]: runs the model through the [`ModelRunner`], averages its probabilities
//! over the chosen response time, gates them (threshold + median), publishes them to the GUI through atomics, and produces MIDI CC values.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use activity_model::{Response, DEFAULT_MEDIAN};
use atomic_float::AtomicF32;
use dsp_core::post::{ActivityGate, ProbAverage};
use dsp_core::runner::StatsHandle;
use dsp_core::{ModelRunner, RunnerConfig, RunnerError, Task};

/// Predictions kept at full rate for the scrolling view (≈ 95 s at 21.5 Hz).
pub const FINE_LEN: usize = 2048;
/// Seconds kept at 1 s resolution for the long view and aggregation (1 hour).
pub const SECONDS_LEN: usize = 3600;
/// Longest median filter, in predictions.
pub const MAX_MEDIAN: usize = 31;

/// A history cell: probability quantized to 0–127 in the low 7 bits, gated state in the top bit.
pub fn pack(prob: f32, active: bool) -> u8 {
    ((prob.clamp(0.0, 1.0) * 127.0).round() as u8) | ((active as u8) << 7)
}

/// Inverse of [`pack`].
pub fn unpack(cell: u8) -> (f32, bool) {
    ((cell & 0x7F) as f32 / 127.0, cell & 0x80 != 0)
}

/// A class name as people write it: underscores become spaces, the first letter a capital
/// ("clean_electric_guitar" → "Clean electric guitar").
pub fn label(class: &str) -> String {
    let spaced = class.replace('_', " ");
    let mut chars = spaced.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// State shared between the audio thread (the only writer of the atomics) and the GUI (reader).
/// Everything is allocated when the plugin is created; the audio thread only stores atomics.
pub struct MeterShared {
    /// Class names (from the model card; fixed for the plugin's lifetime).
    pub classes: Vec<String>,
    /// The class names as the editor shows them ("electric_piano" → "Electric piano").
    pub labels: Vec<String>,
    /// Latest probability per class (audio thread writes).
    pub probs: Vec<AtomicF32>,
    /// Latest gated state per class (audio thread writes).
    pub active: Vec<AtomicBool>,
    /// Full-rate history ring, `FINE_LEN × classes` packed cells (audio thread writes).
    pub fine: Vec<AtomicU8>,
    /// Number of predictions written to `fine` since the last reset.
    pub fine_head: AtomicU64,
    /// Per-second history ring, `SECONDS_LEN × classes` cells, max-pooled over each second.
    pub seconds: Vec<AtomicU8>,
    /// Number of whole seconds written to `seconds` since the last reset.
    pub seconds_head: AtomicU64,
    /// Predictions per class that were gated on, since the last reset (session summary).
    pub active_count: Vec<AtomicU64>,
    /// Predictions since the last reset.
    pub total: AtomicU64,
    /// Predictions per second of the loaded model (written at activation).
    pub rate: AtomicF32,
    /// Results latency in seconds: runner latency plus half the model's 1 s window plus the
    /// response's averaging time constant.
    pub display_latency: AtomicF32,
    /// Averaging time constant of the response in use, in seconds (audio thread writes).
    pub averaging: AtomicF32,
    /// Human-readable model status or load error (main thread writes, GUI reads; never the
    /// audio thread).
    pub status: Mutex<String>,
    /// Runner counters (misses, errors), for the GUI; replaced at each activation.
    pub stats: Mutex<Option<StatsHandle>>,
}

impl MeterShared {
    /// Allocates the shared state for `classes`.
    pub fn new(classes: Vec<String>) -> Arc<Self> {
        let c = classes.len();
        let atoms = |n: usize| (0..n).map(|_| AtomicU8::new(0)).collect();
        Arc::new(MeterShared {
            probs: (0..c).map(|_| AtomicF32::new(0.0)).collect(),
            active: (0..c).map(|_| AtomicBool::new(false)).collect(),
            fine: atoms(FINE_LEN * c),
            fine_head: AtomicU64::new(0),
            seconds: atoms(SECONDS_LEN * c),
            seconds_head: AtomicU64::new(0),
            active_count: (0..c).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            rate: AtomicF32::new(0.0),
            display_latency: AtomicF32::new(0.0),
            averaging: AtomicF32::new(0.0),
            status: Mutex::new(String::new()),
            stats: Mutex::new(None),
            labels: classes.iter().map(|c| label(c)).collect(),
            classes,
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// The last `n` full-rate cells of class `c`, oldest first (GUI thread).
    pub fn recent(&self, c: usize, n: usize, out: &mut Vec<u8>) {
        let k = self.n_classes();
        let head = self.fine_head.load(Ordering::Acquire) as usize;
        let n = n.min(head).min(FINE_LEN);
        out.clear();
        out.extend((head - n..head).map(|i| self.fine[(i % FINE_LEN) * k + c].load(Ordering::Relaxed)));
    }

    /// The last `n` per-second cells of class `c`, oldest first (GUI thread).
    pub fn recent_seconds(&self, c: usize, n: usize, out: &mut Vec<u8>) {
        let k = self.n_classes();
        let head = self.seconds_head.load(Ordering::Acquire) as usize;
        let n = n.min(head).min(SECONDS_LEN);
        out.clear();
        out.extend((head - n..head).map(|i| self.seconds[(i % SECONDS_LEN) * k + c].load(Ordering::Relaxed)));
    }
}

/// What the CC output sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcMode {
    /// 127 while the class is (gated) active, 0 otherwise; sent on changes.
    Gate,
    /// The probability × 127; sent when it changes.
    Probability,
}

/// A MIDI CC to send: frame offset in the current buffer, CC index (class), value 0–127.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcOut {
    /// Frame offset inside the host buffer.
    pub offset: usize,
    /// Class index (the plugin adds its base CC).
    pub class: usize,
    /// Value 0–127.
    pub value: u8,
}

/// Per-buffer settings read from the parameters by the plugin shell.
#[derive(Debug, Clone, Copy)]
pub struct MeterSettings {
    /// Added to every threshold (−0.3…0.3); positive is less sensitive.
    pub sensitivity: f32,
    /// Median filter length in predictions (odd, 1 = off).
    pub median: usize,
    /// Requested averaging time in seconds; the model's response nearest to it is used (its
    /// averaging and the thresholds tuned for it).
    pub averaging_seconds: f32,
    /// CC output mode.
    pub cc_mode: CcMode,
}

/// The meter's audio-thread core. Allocation-free in [`process`](Self::process).
pub struct MeterCore<T: Task> {
    runner: ModelRunner<T>,
    shared: Arc<MeterShared>,
    responses: Vec<Response>,
    /// Index of the response in use (`usize::MAX` before the first buffer).
    response: usize,
    average: ProbAverage,
    gate: ActivityGate,
    /// Runner latency plus half the model window, in seconds.
    base_latency: f32,
    /// Last CC value sent per class (255: none yet).
    last_cc: Vec<u8>,
    /// Running max of the current second per class.
    second_max: Vec<u8>,
    frames_in_second: u64,
    host_rate: u64,
    cc: Vec<CcOut>,
}

impl<T: Task> MeterCore<T> {
    /// Starts the runner for `task` and binds it to `shared`. `responses` (at least one, see
    /// [`activity_model::responses`]) are the averaging/threshold settings the model card
    /// offers. Call from `activate()`.
    pub fn new(
        task: T,
        cfg: RunnerConfig,
        shared: Arc<MeterShared>,
        responses: Vec<Response>,
        predictions_per_second: f32,
    ) -> Result<Self, RunnerError> {
        let Some(first) = responses.first().cloned() else {
            return Err(RunnerError::Config("an activity model needs at least one response setting".into()));
        };
        let host_rate = cfg.host_rate as u64;
        let runner = ModelRunner::spawn(cfg, task)?;
        let c = shared.n_classes();
        shared.rate.store(predictions_per_second, Ordering::Relaxed);
        let base_latency = runner.latency() as f32 / host_rate as f32 + 0.5;
        shared.display_latency.store(base_latency + first.seconds, Ordering::Relaxed);
        shared.averaging.store(first.seconds, Ordering::Relaxed);
        if let Ok(mut s) = shared.stats.lock() {
            *s = Some(runner.stats());
        }
        // Room for every CC a buffer can produce: one per class per result.
        let max_results = 64;
        Ok(MeterCore {
            runner,
            gate: ActivityGate::new(&first.thresholds, DEFAULT_MEDIAN, MAX_MEDIAN),
            average: ProbAverage::new(c, first.seconds, predictions_per_second),
            responses,
            response: usize::MAX,
            base_latency,
            last_cc: vec![255; c],
            second_max: vec![0; c],
            frames_in_second: 0,
            host_rate,
            cc: Vec::with_capacity(c * max_results),
            shared,
        })
    }

    /// The runner's latency in host frames (results only; audio passes untouched).
    pub fn latency(&self) -> usize {
        self.runner.latency()
    }

    /// The runner's counters.
    pub fn stats(&self) -> StatsHandle {
        self.runner.stats()
    }

    /// Forgets the stream and clears the session history (host reset / new playback).
    pub fn reset(&mut self) {
        self.runner.audio().reset();
        self.average.reset();
        self.gate.reset();
        self.last_cc.fill(255);
        self.second_max.fill(0);
        self.frames_in_second = 0;
        let s = &self.shared;
        s.fine_head.store(0, Ordering::Release);
        s.seconds_head.store(0, Ordering::Release);
        s.total.store(0, Ordering::Relaxed);
        s.active_count.iter().for_each(|a| a.store(0, Ordering::Relaxed));
        s.probs.iter().for_each(|p| p.store(0.0, Ordering::Relaxed));
        s.active.iter().for_each(|a| a.store(false, Ordering::Relaxed));
    }

    /// Switches to the response nearest to `seconds` (no allocation; keeps the running average
    /// so the display does not jump).
    fn select_response(&mut self, seconds: f32) {
        let best = (0..self.responses.len())
            .min_by(|&a, &b| {
                let d = |i: usize| (self.responses[i].seconds - seconds).abs();
                d(a).total_cmp(&d(b))
            })
            .unwrap_or(0);
        if best != self.response {
            self.response = best;
            let r = &self.responses[best];
            self.average.set_seconds(r.seconds);
            self.gate.set_thresholds(&r.thresholds);
            self.shared.averaging.store(r.seconds, Ordering::Relaxed);
            self.shared.display_latency.store(self.base_latency + r.seconds, Ordering::Relaxed);
        }
    }

    /// Analyses one host buffer (the audio itself is not modified) and returns the CCs due in
    /// it, in time order. Audio thread.
    pub fn process(&mut self, input: &[&[f32]], settings: MeterSettings) -> &[CcOut] {
        self.cc.clear();
        self.gate.set_len(settings.median);
        self.select_response(settings.averaging_seconds);
        let n = input.first().map_or(0, |c| c.len());
        let MeterCore { runner, shared, average, gate, last_cc, second_max, cc, .. } = self;
        let k = shared.n_classes();
        runner.audio().process(input, &mut [], |offset, raw| {
            let probs = average.push(raw);
            let state = gate.push(probs, settings.sensitivity);
            let head = shared.fine_head.load(Ordering::Relaxed) as usize;
            let row = (head % FINE_LEN) * k;
            for c in 0..k.min(probs.len()) {
                let cell = pack(probs[c], state[c]);
                shared.fine[row + c].store(cell, Ordering::Relaxed);
                shared.probs[c].store(probs[c], Ordering::Relaxed);
                shared.active[c].store(state[c], Ordering::Relaxed);
                second_max[c] = second_max[c].max(cell & 0x7F) | (cell & 0x80);
                if state[c] {
                    shared.active_count[c].fetch_add(1, Ordering::Relaxed);
                }
                let value = match settings.cc_mode {
                    CcMode::Gate => 127 * state[c] as u8,
                    CcMode::Probability => cell & 0x7F,
                };
                let changed = match settings.cc_mode {
                    CcMode::Gate => last_cc[c] != value,
                    CcMode::Probability => {
                        last_cc[c] == 255
                            || (last_cc[c] as i16 - value as i16).abs() >= 2
                            || (value != last_cc[c] && (value == 0 || value == 127))
                    }
                };
                if changed && cc.len() < cc.capacity() {
                    cc.push(CcOut { offset, class: c, value });
                    last_cc[c] = value;
                }
            }
            shared.total.fetch_add(1, Ordering::Relaxed);
            shared.fine_head.store(head as u64 + 1, Ordering::Release);
        });
        // Per-second history, on the host timeline.
        self.frames_in_second += n as u64;
        while self.frames_in_second >= self.host_rate {
            self.frames_in_second -= self.host_rate;
            let s = &self.shared;
            let head = s.seconds_head.load(Ordering::Relaxed) as usize;
            let row = (head % SECONDS_LEN) * k;
            for c in 0..k {
                s.seconds[row + c].store(self.second_max[c], Ordering::Relaxed);
            }
            self.second_max.fill(0);
            s.seconds_head.store(head as u64 + 1, Ordering::Release);
        }
        &self.cc
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn class_labels_read_as_words() {
        assert_eq!(label("clean_electric_guitar"), "Clean electric guitar");
        assert_eq!(label("drums"), "Drums");
        assert_eq!(label(""), "");
    }
}
