//! The instrument-activity model (`models/activity/`): what its card says beyond the generic
//! [`ModelCard`] fields ([`ActivityFields`]), the runner [`Task`] that turns audio into class
//! probabilities ([`ActivityTask`]), the response settings the card offers ([`responses`]),
//! and the shipped weights ([`MODEL`], [`CARD`]).
//!
//! The Activity Meter plugin and `cargo xtask eval/bench activity` both use this crate, so the
//! evaluation runs exactly the code the plugin runs. Generic post-processing (the probability
//! average and the threshold + median gate) is in [`dsp_core::post`].

use dsp_core::error::{CardError, ModelError};
use dsp_core::features::{downmix, LogMel, MelConfig};
use dsp_core::{Model, ModelCard, Task};
use serde::Deserialize;

/// The shipped model's ONNX bytes (from `cargo xtask export activity`).
pub const MODEL: &[u8] = include_bytes!("../model.onnx");
/// The shipped model's card.
pub const CARD: &str = include_str!("../card.json");

/// Default length of the gate's median filter, in predictions (the Activity Meter's default
/// *Smoothing*, and what `cargo xtask eval activity` measures display lags with).
pub const DEFAULT_MEDIAN: usize = 5;

fn one() -> usize {
    1
}

/// The activity model's own card fields (the rest of its card is a generic [`ModelCard`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ActivityFields {
    /// Mel bands of the log-mel input.
    pub n_mels: usize,
    /// Lowest mel band edge in Hz (default 0).
    #[serde(default)]
    pub fmin: Option<f32>,
    /// Highest mel band edge in Hz (default: half the sample rate).
    #[serde(default)]
    pub fmax: Option<f32>,
    /// Hops between predictions (default 1; 0 is read as 1).
    #[serde(default = "one")]
    pub predict_every: usize,
}

impl ActivityFields {
    /// Reads and checks the fields of an activity `card`: input `[1, n_mels, context]`, output
    /// `[1, classes]`. Returns the log-mel configuration, the context in frames and the hops
    /// between predictions.
    pub fn from_card(card: &ModelCard) -> Result<(MelConfig, usize, usize), ModelError> {
        let f: ActivityFields = card.fields()?;
        let bad = |what: &str, expected: String, found: String| ModelError::ShapeMismatch {
            what: what.into(),
            expected,
            found,
        };
        let cfg = MelConfig {
            sample_rate: card.sample_rate,
            n_fft: card.frame_size,
            hop: card.hop_size,
            n_mels: f.n_mels,
            fmin: f.fmin.unwrap_or(0.0),
            fmax: f.fmax.unwrap_or(card.sample_rate as f32 / 2.0),
        };
        let n_mels = f.n_mels;
        let inp = &card.inputs[0].shape;
        if card.inputs.len() != 1 || inp.len() != 3 || inp[0] != 1 || inp[1] != n_mels {
            return Err(bad("activity model input", format!("[1, {n_mels}, context]"), format!("{inp:?}")));
        }
        let out = &card.outputs[0].shape;
        if card.outputs.len() != 1 || out.len() != 2 || out[0] != 1 || out[1] != card.classes.len() {
            return Err(bad("activity model output", format!("[1, {}]", card.classes.len()), format!("{out:?}")));
        }
        Ok((cfg, inp[2], f.predict_every.max(1)))
    }
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
        let (cfg, context, every) = ActivityFields::from_card(model.card())?;
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
        downmix(input, &mut self.mono);
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Response {
    /// Time constant of the exponential average, in seconds (0: the raw predictions).
    pub seconds: f32,
    /// Per-class thresholds for the averaged probabilities.
    pub thresholds: Vec<f32>,
}

/// The card fields [`responses`] reads.
#[derive(Deserialize)]
struct ResponseFields {
    #[serde(default)]
    averaging_seconds: f32,
    #[serde(default)]
    responses: Option<Vec<Response>>,
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
    let fields: ResponseFields = card.fields().map_err(|e| bad(e.to_string()))?;
    let default = fields.averaging_seconds;
    if !default.is_finite() || default < 0.0 {
        return Err(bad(format!("averaging_seconds {default}")));
    }
    let Some(parsed) = fields.responses else {
        return Ok((vec![Response { seconds: default, thresholds: card.thresholds.clone() }], 0));
    };
    if let Some(r) = parsed.iter().find(|r| {
        !(r.seconds.is_finite()
            && r.seconds >= 0.0
            && r.thresholds.len() == n
            && r.thresholds.iter().all(|x| (0.0..=1.0).contains(x)))
    }) {
        return Err(bad(format!("{r:?}")));
    }
    let Some(index) = parsed.iter().position(|r| (r.seconds - default).abs() < 1e-6) else {
        return Err(bad(format!("no response with the default averaging_seconds {default}")));
    };
    Ok((parsed, index))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_shipped_card_describes_a_runnable_task() {
        let card = ModelCard::from_json(CARD).unwrap();
        let (cfg, context, every) = ActivityFields::from_card(&card).unwrap();
        assert_eq!((cfg.n_mels, card.inputs[0].shape[2], every >= 1), (card.inputs[0].shape[1], context, true));
        let (r, d) = responses(&card).unwrap();
        assert!(d < r.len());
        // A card without n_mels is refused with the field's name, not a panic.
        let mut broken = card.clone();
        broken.extra.remove("n_mels");
        let e = ActivityFields::from_card(&broken).unwrap_err().to_string();
        assert!(e.contains("n_mels"), "{e}");
    }
}
