//! Instrument activity: the model task (log-mel context → per-class probabilities) and the
//! gating that turns probabilities into stable on/off decisions (threshold + median filter),
//! shared by the Activity Meter and the separator's instrument-aware gating.

use crate::error::ModelError;
use crate::features::{LogMel, MelConfig};
use crate::model::Model;
use crate::runner::Task;

/// Reads the log-mel configuration and prediction rate from an activity model card.
///
/// Card fields: `frame_size` (n_fft), `hop_size`, `n_mels`, `fmin`, `fmax`, `predict_every`
/// (hops between predictions), input `[1, n_mels, context]`, output `[1, classes]`.
pub fn mel_config(model: &Model) -> Result<(MelConfig, usize, usize), ModelError> {
    let card = model.card();
    let bad =
        |what: &str, expected: String, found: String| ModelError::ShapeMismatch { what: what.into(), expected, found };
    let n_mels = card.extra_usize("n_mels").ok_or_else(|| bad("n_mels", "a number".into(), "missing".into()))?;
    let f = |k: &str| card.extra.get(k).and_then(|v| v.as_f64()).map(|v| v as f32);
    let cfg = MelConfig {
        sample_rate: card.sample_rate,
        n_fft: card.frame_size,
        hop: card.hop_size,
        n_mels,
        fmin: f("fmin").unwrap_or(0.0),
        fmax: f("fmax").unwrap_or(card.sample_rate as f32 / 2.0),
    };
    let inp = &card.inputs[0].shape;
    if card.inputs.len() != 1 || inp.len() != 3 || inp[0] != 1 || inp[1] != n_mels {
        return Err(bad("activity model input", format!("[1, {n_mels}, context]"), format!("{inp:?}")));
    }
    let out = &card.outputs[0].shape;
    if card.outputs.len() != 1 || out.len() != 2 || out[0] != 1 || out[1] != card.classes.len() {
        return Err(bad("activity model output", format!("[1, {}]", card.classes.len()), format!("{out:?}")));
    }
    let every = card.extra_usize("predict_every").unwrap_or(1).max(1);
    Ok((cfg, inp[2], every))
}

/// The activity model as a runner task: downmixes its input, computes log-mel frames, and every
/// `predict_every` hops runs the model on the last `context` frames. Each result is the class
/// probabilities for the second of audio that ends at that hop.
pub struct ActivityTask {
    model: Model,
    channels: usize,
    mel: LogMel,
    context: usize,
    every: usize,
    since: usize,
    mono: Vec<f32>,
    frame: Vec<f32>,
    /// `n_mels × context`, row-major (mel, frame), newest frame last.
    window: Vec<f32>,
    probs: Vec<f32>,
}

impl ActivityTask {
    /// Wraps `model` (validated against its card) for `channels` input channels.
    pub fn new(model: Model, channels: usize) -> Result<Self, ModelError> {
        let (cfg, context, every) = mel_config(&model)?;
        let mel = LogMel::new(cfg).map_err(|e| ModelError::ShapeMismatch {
            what: "log-mel configuration".into(),
            expected: "a valid STFT/mel setup".into(),
            found: e.to_string(),
        })?;
        let classes = model.card().classes.len();
        Ok(ActivityTask {
            model,
            channels: channels.max(1),
            mel,
            context,
            every,
            since: 0,
            mono: vec![0.0; cfg.hop],
            frame: vec![0.0; cfg.n_mels],
            window: vec![-100.0; cfg.n_mels * context],
            probs: vec![0.0; classes],
        })
    }

    /// Class names from the card.
    pub fn classes(&self) -> &[String] {
        &self.model.card().classes
    }

    /// Predictions per second.
    pub fn predictions_per_second(&self) -> f32 {
        let c = self.mel.config();
        c.sample_rate as f32 / (c.hop * self.every) as f32
    }

    /// Runs the model on a whole feature window `[n_mels × context]` (offline evaluation).
    pub fn predict_window(&mut self, window: &[f32]) -> Result<Vec<f32>, ModelError> {
        Ok(self.model.run_vec(&[window])?.remove(0))
    }
}

impl Task for ActivityTask {
    fn sample_rate(&self) -> u32 {
        self.mel.config().sample_rate
    }
    fn hop(&self) -> usize {
        self.mel.config().hop
    }
    fn in_channels(&self) -> usize {
        self.channels
    }
    fn out_channels(&self) -> usize {
        0
    }
    fn latency(&self) -> usize {
        0
    }
    fn result_len(&self) -> usize {
        self.probs.len()
    }
    fn reset(&mut self) {
        self.mel.reset();
        self.window.fill(-100.0);
        self.since = 0;
    }

    fn process(&mut self, input: &[&[f32]], _: &mut [&mut [f32]], result: &mut [f32]) -> Result<bool, ModelError> {
        let k = 1.0 / self.channels as f32;
        for (i, m) in self.mono.iter_mut().enumerate() {
            *m = input.iter().map(|c| c[i]).sum::<f32>() * k;
        }
        self.mel.push_hop(&self.mono, &mut self.frame);
        let ctx = self.context;
        for (m, v) in self.frame.iter().enumerate() {
            let row = &mut self.window[m * ctx..(m + 1) * ctx];
            row.copy_within(1.., 0);
            row[ctx - 1] = *v;
        }
        self.since += 1;
        if self.since < self.every {
            return Ok(false);
        }
        self.since = 0;
        self.model.run(&[&self.window], &mut [&mut self.probs])?;
        if let Some(bad) = self.probs.iter().find(|p| !p.is_finite()) {
            return Err(ModelError::Run(format!("activity model produced {bad}")));
        }
        result.copy_from_slice(&self.probs);
        Ok(true)
    }
}

/// Turns a stream of per-class probabilities into stable on/off decisions: per-class thresholds,
/// then a running median over the last `len` decisions (odd `len`; 1 disables smoothing).
/// Allocation-free after construction; lives on whichever thread consumes the results.
#[derive(Debug, Clone)]
pub struct ActivityGate {
    thresholds: Vec<f32>,
    len: usize,
    max_len: usize,
    history: Vec<Vec<bool>>,
    pos: usize,
    filled: usize,
    state: Vec<bool>,
}

impl ActivityGate {
    /// A gate for `thresholds.len()` classes with a median filter of up to `max_len` steps.
    pub fn new(thresholds: &[f32], len: usize, max_len: usize) -> Self {
        let max_len = max_len.max(1);
        ActivityGate {
            thresholds: thresholds.to_vec(),
            len: len.clamp(1, max_len),
            max_len,
            history: vec![vec![false; max_len]; thresholds.len()],
            pos: 0,
            filled: 0,
            state: vec![false; thresholds.len()],
        }
    }

    /// Changes the median length (clamped to `1..=max_len`, made odd).
    pub fn set_len(&mut self, len: usize) {
        let l = len.clamp(1, self.max_len);
        self.len = if l.is_multiple_of(2) { l - 1 } else { l }.max(1);
    }

    /// The per-class thresholds (from the model card).
    pub fn thresholds(&self) -> &[f32] {
        &self.thresholds
    }

    /// Feeds one prediction; returns the smoothed decisions. `offset` (sensitivity, in
    /// [-0.5, 0.5]) is added to every threshold.
    pub fn push(&mut self, probs: &[f32], offset: f32) -> &[bool] {
        for (c, (p, t)) in probs.iter().zip(&self.thresholds).enumerate() {
            self.history[c][self.pos] = *p >= (t + offset).clamp(0.0, 1.0);
        }
        self.pos = (self.pos + 1) % self.max_len;
        self.filled = (self.filled + 1).min(self.max_len);
        let n = self.len.min(self.filled);
        for (c, s) in self.state.iter_mut().enumerate() {
            let on = (0..n).filter(|i| self.history[c][(self.pos + self.max_len - 1 - i) % self.max_len]).count();
            *s = 2 * on > n;
        }
        &self.state
    }

    /// The current decisions.
    pub fn state(&self) -> &[bool] {
        &self.state
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| h.fill(false));
        self.filled = 0;
        self.state.fill(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_thresholds_and_median_filters() {
        let mut g = ActivityGate::new(&[0.5, 0.2], 3, 9);
        assert_eq!(g.push(&[0.6, 0.1], 0.0), &[true, false]);
        // Two decisions so far: one of two is not a majority.
        assert_eq!(g.push(&[0.4, 0.3], 0.0), &[false, false]);
        assert_eq!(g.push(&[0.4, 0.3], 0.0), &[false, true]);
        // A single-frame blip does not switch a class on with a 3-long median.
        let mut g = ActivityGate::new(&[0.5], 3, 9);
        for p in [0.0, 0.0, 0.9, 0.0, 0.0] {
            assert_eq!(g.push(&[p], 0.0), &[false]);
        }
        g.set_len(1);
        assert_eq!(g.push(&[0.9], 0.0), &[true]);
        assert_eq!(g.push(&[0.9], 0.5), &[false]);
    }
}
