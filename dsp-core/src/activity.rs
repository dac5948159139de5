//! Instrument activity: the model task (log-mel context → per-class probabilities) and the
//! gating that turns probabilities into stable on/off decisions (threshold + median filter),
//! shared by the Activity Meter and the separator's instrument-aware gating.

use crate::card::ModelCard;
use crate::error::{CardError, ModelError};
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

/// One response setting of an activity model: a causal averaging time and the per-class
/// thresholds tuned on validation data for probabilities averaged that way.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Time constant of the exponential average, in seconds (0: the raw predictions).
    pub seconds: f32,
    /// Per-class thresholds for the averaged probabilities.
    pub thresholds: Vec<f32>,
}

/// The response settings a card offers, and the index of its default.
///
/// Card fields: `responses` (`[{"seconds": s, "thresholds": [..]}, ..]`, written by `cargo xtask
/// eval activity --split val --tune`) and `averaging_seconds` (the default, which the card's
/// metrics were measured with). A card without `responses` offers one setting: its
/// `averaging_seconds` (0 when absent) with its top-level `thresholds`.
pub fn responses(card: &ModelCard) -> Result<(Vec<Response>, usize), CardError> {
    let n = card.classes.len();
    let bad = |found: String| {
        CardError::Invalid(format!(
            "activity responses must be [{{\"seconds\": s >= 0, \"thresholds\": [{n} values in [0, 1]]}}, ..] \
             with one entry at averaging_seconds; found {found}"
        ))
    };
    let default = card.extra.get("averaging_seconds").and_then(|v| v.as_f64()).unwrap_or(0.0) as f32;
    if !default.is_finite() || default < 0.0 {
        return Err(bad(format!("averaging_seconds {default}")));
    }
    let Some(list) = card.extra.get("responses") else {
        return Ok((vec![Response { seconds: default, thresholds: card.thresholds.clone() }], 0));
    };
    let parsed: Vec<Response> = list
        .as_array()
        .ok_or_else(|| bad(list.to_string()))?
        .iter()
        .map(|r| {
            let seconds = r.get("seconds").and_then(|v| v.as_f64()).map(|v| v as f32);
            let thresholds: Option<Vec<f32>> = r
                .get("thresholds")
                .and_then(|v| v.as_array())
                .and_then(|a| a.iter().map(|t| t.as_f64().map(|t| t as f32)).collect());
            match (seconds, thresholds) {
                (Some(s), Some(t))
                    if s.is_finite()
                        && s >= 0.0
                        && t.len() == card.classes.len()
                        && t.iter().all(|x| (0.0..=1.0).contains(x)) =>
                {
                    Ok(Response { seconds: s, thresholds: t })
                }
                _ => Err(bad(r.to_string())),
            }
        })
        .collect::<Result<_, _>>()?;
    let Some(index) = parsed.iter().position(|r| (r.seconds - default).abs() < 1e-6) else {
        return Err(bad(format!("no response with the default averaging_seconds {default}")));
    };
    Ok((parsed, index))
}

/// Causal exponential average of class probabilities with time constant `seconds`, normalized
/// by the weight seen so far (so the first predictions after a reset are not pulled towards 0).
/// Sustained instruments are recognized more reliably from several seconds of evidence, at the
/// cost of a later switch-off. Allocation-free after construction.
#[derive(Debug, Clone)]
pub struct ProbAverage {
    rate: f32,
    alpha: f32,
    weight: f32,
    acc: Vec<f32>,
    out: Vec<f32>,
}

impl ProbAverage {
    /// An average over `classes` probabilities arriving `rate` times per second.
    pub fn new(classes: usize, seconds: f32, rate: f32) -> Self {
        let mut a = ProbAverage { rate, alpha: 0.0, weight: 0.0, acc: vec![0.0; classes], out: vec![0.0; classes] };
        a.set_seconds(seconds);
        a
    }

    /// Changes the time constant (0 passes predictions through); keeps the running state.
    pub fn set_seconds(&mut self, seconds: f32) {
        let steps = seconds * self.rate;
        self.alpha = if steps.is_finite() && steps > 0.0 { (-1.0 / steps).exp() } else { 0.0 };
    }

    /// Feeds one prediction; returns the averaged probabilities.
    pub fn push(&mut self, probs: &[f32]) -> &[f32] {
        let a = self.alpha;
        self.weight = a * self.weight + (1.0 - a);
        for ((acc, out), p) in self.acc.iter_mut().zip(&mut self.out).zip(probs) {
            *acc = a * *acc + (1.0 - a) * p;
            *out = *acc / self.weight;
        }
        &self.out
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.weight = 0.0;
        self.acc.fill(0.0);
        self.out.fill(0.0);
    }
}

/// Default length of the [`ActivityGate`] median filter, in predictions (the Activity Meter's
/// default *Smoothing*, and what `cargo xtask eval` measures display lags with).
pub const DEFAULT_MEDIAN: usize = 5;

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

    /// Replaces the thresholds (e.g. another [`Response`]); extra or missing entries are
    /// ignored, so this never allocates.
    pub fn set_thresholds(&mut self, thresholds: &[f32]) {
        for (t, n) in self.thresholds.iter_mut().zip(thresholds) {
            *t = *n;
        }
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

    #[test]
    fn average_is_causal_normalized_and_resettable() {
        let rate = 20.0;
        let mut a = ProbAverage::new(2, 1.0, rate);
        // Normalized: a constant input comes out unchanged from the first prediction on.
        assert_eq!(a.push(&[0.3, 0.8]), &[0.3, 0.8]);
        for _ in 0..5 {
            let o = a.push(&[0.3, 0.8]).to_vec();
            assert!((o[0] - 0.3).abs() < 1e-6 && (o[1] - 0.8).abs() < 1e-6, "{o:?}");
        }
        // A step from 0 to 1 after a long silence reaches 1 − 1/e after one time constant.
        a.reset();
        for _ in 0..400 {
            a.push(&[0.0, 0.0]);
        }
        let mut o = 0.0;
        for _ in 0..rate as usize {
            o = a.push(&[1.0, 0.0])[0];
        }
        assert!((o - (1.0 - (-1.0f32).exp())).abs() < 0.02, "{o}");
        // 0 s passes predictions through.
        a.set_seconds(0.0);
        assert_eq!(a.push(&[0.1, 0.9]), &[0.1, 0.9]);
    }

    #[test]
    fn responses_come_from_the_card_and_bad_ones_are_named() {
        let base = r#"{"name": "a", "version": "1", "sample_rate": 22050, "frame_size": 1024, "hop_size": 512,
            "inputs": [{"name": "x", "shape": [1, 4, 3]}], "outputs": [{"name": "y", "shape": [1, 2]}],
            "classes": ["a", "b"], "thresholds": [0.5, 0.4]"#;
        let card = |rest: &str| ModelCard::from_json(&format!("{base}{rest}}}")).unwrap();
        // No table: one response, the raw predictions with the top-level thresholds.
        let (r, d) = responses(&card("")).unwrap();
        assert_eq!((r, d), (vec![Response { seconds: 0.0, thresholds: vec![0.5, 0.4] }], 0));
        let table = r#", "averaging_seconds": 1.0, "responses": [
            {"seconds": 0.0, "thresholds": [0.5, 0.4]}, {"seconds": 1.0, "thresholds": [0.3, 0.2]}]"#;
        let (r, d) = responses(&card(table)).unwrap();
        assert_eq!((r.len(), d, r[d].thresholds.clone()), (2, 1, vec![0.3, 0.2]));
        for bad in [
            r#", "responses": [{"seconds": 0.0, "thresholds": [0.5]}]"#,
            r#", "responses": [{"seconds": -1.0, "thresholds": [0.5, 0.4]}]"#,
            r#", "responses": [{"seconds": 0.0, "thresholds": [0.5, 1.4]}]"#,
            r#", "responses": {"seconds": 0.0}"#,
            r#", "averaging_seconds": 2.0, "responses": [{"seconds": 0.0, "thresholds": [0.5, 0.4]}]"#,
        ] {
            let e = responses(&card(bad)).unwrap_err().to_string();
            assert!(e.contains("responses"), "{bad}: {e}");
        }
    }
}
