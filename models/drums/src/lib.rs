//! The Drum Transcriber's model (`models/drums/`): DrummerNet-style transcription, trained
//! without labels, as a streaming runner [`Task`].
//!
//! Per hop (128 samples at 16 kHz, 8 ms) the task
//! 1. downmixes its input and computes one log-mel frame (dsp-core's [`LogMel`], the features the
//!    model was trained on),
//! 2. runs the model with the causal history it carries in one state vector: one logit per drum
//!    component (kick, snare, closed and open hi-hat, tom, crash, ride) and a "nothing" logit,
//!    for the frame [`DrumFields::lookahead_frames`] before the newest,
//! 3. makes them sparse as in training ([`Post`]): a class-wise sparsemax (over the components
//!    and "nothing") times a time-wise sparsemax (per component, over the frames
//!    [`DrumFields::sparse_half`] either side) times the component's gain,
//! 4. takes per class the largest of its components and peak-picks it causally ([`Picker`]).
//!
//! Each hop's result is the frame that was just decided: its index (as two f32, see
//! [`frame_of`]) and per class the onset strength (the activation over the class's peak
//! envelope, in `(0, 1]`), or 0 where no onset was found. The frame's onset time is
//! `frame × hop` samples after the stream start; the decision comes [`Task::latency`] samples
//! later.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use atomic_float::AtomicF32;
use dsp_core::error::ModelError;
use dsp_core::features::{downmix, LogMel, MelConfig};
use dsp_core::{Model, ModelCard, Task};
use serde::Deserialize;

/// The shipped model's ONNX bytes (from `cargo xtask export drums`).
pub const MODEL: &[u8] = include_bytes!("../model.onnx");
/// The shipped model's card.
pub const CARD: &str = include_str!("../card.json");

/// The picker's settings (card field `picker`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PickerFields {
    /// Smallest class activation that can be an onset.
    pub floor: f32,
    /// Frames after a class's onset before its next.
    pub gap_frames: usize,
    /// Per-frame decay of the peak envelope.
    pub decay_per_frame: f32,
}

/// The drum model's own card fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrumFields {
    /// Mel bands of the input.
    pub n_mels: usize,
    /// Lowest mel filter corner in Hz.
    pub fmin: f32,
    /// Highest mel filter corner in Hz.
    pub fmax: f32,
    /// The synthesizer components the logits stand for ("nothing" is the last logit).
    pub components: Vec<String>,
    /// The class (index into the card's classes) of each component.
    pub component_class: Vec<usize>,
    /// The GM key of each class by default.
    pub default_keys: Vec<u8>,
    /// Each component's learned gain.
    pub component_gain: Vec<f32>,
    /// Frames the model looks ahead: its output at frame `t` is for frame `t − lookahead`.
    pub lookahead_frames: usize,
    /// The time-wise sparsemax looks this many frames either side.
    pub sparse_half: usize,
    /// Length of the model's state vector.
    pub state_len: usize,
    /// Peak-picker settings.
    pub picker: PickerFields,
    /// Per class, how late (ms) the picker places onsets on the val split (median signed
    /// error); the plugin places notes this much earlier. Empty: none.
    #[serde(default)]
    pub onset_offset_ms: Vec<f32>,
}

impl DrumFields {
    /// Reads and checks a drum card: inputs `mel [1, n_mels, 1]`, `state [1, S]`; outputs
    /// `logits [1, components + 1]`, `state_out [1, S]`.
    pub fn from_card(card: &ModelCard) -> Result<Self, ModelError> {
        let f: DrumFields = card.fields()?;
        let bad = |what: &str, expected: String, found: String| {
            Err(ModelError::ShapeMismatch { what: what.into(), expected, found })
        };
        let k = f.components.len();
        let shape = |t: &dsp_core::TensorSpec| t.shape.clone();
        if card.inputs.len() != 2
            || shape(&card.inputs[0]) != [1, f.n_mels, 1]
            || shape(&card.inputs[1]) != [1, f.state_len]
        {
            return bad(
                "drum model inputs",
                format!("mel [1, {}, 1], state [1, {}]", f.n_mels, f.state_len),
                format!("{:?}", card.inputs.iter().map(shape).collect::<Vec<_>>()),
            );
        }
        if card.outputs.len() != 2
            || shape(&card.outputs[0]) != [1, k + 1]
            || shape(&card.outputs[1]) != [1, f.state_len]
        {
            return bad(
                "drum model outputs",
                format!("logits [1, {}], state_out [1, {}]", k + 1, f.state_len),
                format!("{:?}", card.outputs.iter().map(shape).collect::<Vec<_>>()),
            );
        }
        let classes = card.classes.len();
        if k == 0 || k > MAX_LOGITS - 1 || f.component_class.len() != k || f.component_gain.len() != k {
            return bad(
                "drum components",
                format!("1 to {} components, each with a class and a gain", MAX_LOGITS - 1),
                format!("{k} components, {} classes, {} gains", f.component_class.len(), f.component_gain.len()),
            );
        }
        if f.component_class.iter().any(|&c| c >= classes) || f.default_keys.len() != classes {
            return bad(
                "drum classes",
                format!("{classes} classes with a key each"),
                format!("{:?}", f.component_class),
            );
        }
        if card.thresholds.len() != classes || 2 * f.sparse_half + 1 > MAX_LOGITS {
            return bad("drum thresholds", format!("{classes}"), format!("{}", card.thresholds.len()));
        }
        if !(f.onset_offset_ms.is_empty() || f.onset_offset_ms.len() == classes)
            || f.onset_offset_ms.iter().any(|o| !o.is_finite() || o.abs() > 50.0)
        {
            return bad(
                "drum onset offsets",
                format!("none, or {classes} finite values within ±50 ms"),
                format!("{:?}", f.onset_offset_ms),
            );
        }
        if !(f.picker.decay_per_frame > 0.0 && f.picker.decay_per_frame <= 1.0) {
            return bad("drum picker decay", "in (0, 1]".into(), format!("{}", f.picker.decay_per_frame));
        }
        Ok(f)
    }

    /// The timing compensation at a host `rate`: per class the frames to add to a note's
    /// place in the runner's timeline, and the extra latency (frames) that makes room for
    /// moving the latest class earlier. A note found at runner-timeline frame `t` plays at
    /// `t + add[class]` on a timeline whose latency is the runner's plus `extra`.
    pub fn timing_compensation(&self, classes: usize, rate: f32) -> (Vec<u64>, u64) {
        let frames: Vec<i64> = (0..classes)
            .map(|c| (self.onset_offset_ms.get(c).copied().unwrap_or(0.0) as f64 * rate as f64 / 1000.0).round() as i64)
            .collect();
        let extra = frames.iter().copied().max().unwrap_or(0).max(0);
        (frames.iter().map(|f| (extra - f) as u64).collect(), extra as u64)
    }

    /// The log-mel configuration of `card`.
    pub fn mel(&self, card: &ModelCard) -> MelConfig {
        MelConfig {
            sample_rate: card.sample_rate,
            n_fft: card.frame_size,
            hop: card.hop_size,
            n_mels: self.n_mels,
            fmin: self.fmin,
            fmax: self.fmax,
        }
    }
}

/// Most values one sparsemax sees (components + "nothing", or a time window).
const MAX_LOGITS: usize = 16;

/// Sparsemax (Martins & Astudillo 2016) of `z` in place: the Euclidean projection onto the
/// simplex (sums to one, exactly zero below a threshold). `z.len() ≤ 16`; no allocation.
pub fn sparsemax(z: &mut [f32]) {
    let n = z.len().min(MAX_LOGITS);
    let mut s = [f32::NEG_INFINITY; MAX_LOGITS];
    s[..n].copy_from_slice(&z[..n]);
    s[..n].sort_unstable_by(|a, b| b.total_cmp(a));
    let (mut cs, mut k, mut sum_k) = (0.0f32, 0usize, 0.0f32);
    for (i, v) in s[..n].iter().enumerate() {
        cs += v;
        if (i + 1) as f32 * v > cs - 1.0 {
            k = i + 1;
            sum_k = cs;
        }
    }
    let tau = (sum_k - 1.0) / k.max(1) as f32;
    for v in &mut z[..n] {
        *v = (*v - tau).max(0.0);
    }
}

/// The streaming post-processing of the logits: activations per component, as training
/// computes them (see the crate docs).
pub struct Post {
    k: usize,
    half: usize,
    gain: Vec<f32>,
    /// The last `2·half + 1` logit frames, `[slot][k + 1]`.
    ring: Vec<f32>,
    /// Logit frames pushed since the reset.
    n: usize,
    work: [f32; MAX_LOGITS],
}

impl Post {
    /// Post-processing for `fields`' components.
    pub fn new(fields: &DrumFields) -> Self {
        let k = fields.components.len();
        Post {
            k,
            half: fields.sparse_half,
            gain: fields.component_gain.clone(),
            ring: vec![0.0; (2 * fields.sparse_half + 1) * (k + 1)],
            n: 0,
            work: [0.0; MAX_LOGITS],
        }
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.ring.fill(0.0);
        self.n = 0;
    }

    /// Pushes one frame of logits (`k + 1`, frame-aligned: the model's output for this frame)
    /// and writes the activations of the frame `half` before it into `act` (`k` values; zeros
    /// until that frame has `half` frames of history).
    pub fn push(&mut self, logits: &[f32], act: &mut [f32]) {
        let (k, w) = (self.k, 2 * self.half + 1);
        let slot = self.n % w;
        self.ring[slot * (k + 1)..(slot + 1) * (k + 1)].copy_from_slice(&logits[..k + 1]);
        self.n += 1;
        if self.n < w {
            act[..k].fill(0.0);
            return;
        }
        // The centre frame's class-wise sparsemax.
        let centre = (self.n - 1 - self.half) % w;
        let z = &mut self.work[..k + 1];
        z.copy_from_slice(&self.ring[centre * (k + 1)..(centre + 1) * (k + 1)]);
        sparsemax(z);
        let mut cls = [0.0f32; MAX_LOGITS];
        cls[..k].copy_from_slice(&z[..k]);
        // Per component, the time-wise sparsemax over the window, oldest first.
        for c in 0..k {
            let win = &mut self.work[..w];
            for (i, v) in win.iter_mut().enumerate() {
                let s = (self.n - w + i) % w;
                *v = self.ring[s * (k + 1) + c];
            }
            sparsemax(win);
            act[c] = cls[c] * win[self.half] * self.gain[c];
        }
    }
}

/// Per class the largest activation of its components (`component_class[k]` is component
/// `k`'s class) into `out`.
pub fn class_activations(act: &[f32], component_class: &[usize], out: &mut [f32]) {
    out.fill(0.0);
    for (a, &c) in act.iter().zip(component_class) {
        out[c] = out[c].max(*a);
    }
}

/// The causal peak picker over the class activations (see the card's `picker.rule`).
pub struct Picker {
    floor: f32,
    gap: usize,
    decay: f32,
    /// Per class: the frame before, the frame being decided, its envelope and last onset.
    prev: Vec<f32>,
    cur: Vec<f32>,
    env: Vec<f32>,
    last: Vec<Option<usize>>,
    /// Class activations pushed since the reset.
    n: usize,
}

impl Picker {
    /// A picker for `classes` classes.
    pub fn new(fields: &DrumFields, classes: usize) -> Self {
        Picker {
            floor: fields.picker.floor,
            gap: fields.picker.gap_frames,
            decay: fields.picker.decay_per_frame,
            prev: vec![0.0; classes],
            cur: vec![0.0; classes],
            env: vec![0.0; classes],
            last: vec![None; classes],
            n: 0,
        }
    }

    /// Forgets the history.
    pub fn reset(&mut self) {
        self.prev.fill(0.0);
        self.cur.fill(0.0);
        self.env.fill(0.0);
        self.last.fill(None);
        self.n = 0;
    }

    /// Pushes the class activations of the next frame (`next`) and decides the frame before
    /// it: writes per class the onset strength (activation / envelope) or 0 into `out`, and
    /// returns that frame's index (`None` before two frames were pushed).
    pub fn push(&mut self, next: &[f32], thresholds: &[f32], out: &mut [f32]) -> Option<usize> {
        self.n += 1;
        if self.n < 2 {
            self.cur.copy_from_slice(next);
            out.fill(0.0);
            return None;
        }
        let t = self.n - 2;
        for c in 0..self.cur.len() {
            let (a, before, after) = (self.cur[c], self.prev[c], next[c]);
            out[c] = 0.0;
            if t >= 1 {
                self.env[c] = a.max(self.env[c] * self.decay);
                let spaced = self.last[c].is_none_or(|l| t - l >= self.gap);
                if a >= self.floor && a >= thresholds[c] * self.env[c] && a >= before && a > after && spaced {
                    out[c] = a / self.env[c].max(f32::MIN_POSITIVE);
                    self.last[c] = Some(t);
                }
            }
            self.prev[c] = a;
            self.cur[c] = after;
        }
        Some(t)
    }
}

/// Values in one result: the decided frame's index as two f32 (`frame_of`), then per class its
/// onset strength.
pub fn result_len(classes: usize) -> usize {
    2 + classes
}

/// The frame index a result carries (exact up to 2^40 frames).
pub fn frame_of(result: &[f32]) -> usize {
    result[0] as usize * 65_536 + result[1] as usize
}

/// The picker's per-class thresholds, shared with the task: the plugin writes them (any thread,
/// lock-free), the worker reads them each hop.
pub struct DrumControls {
    /// Per class, the onset threshold relative to the class's peak envelope.
    pub thresholds: Vec<AtomicF32>,
}

impl DrumControls {
    /// Controls at the card's thresholds.
    pub fn new(card: &ModelCard) -> Arc<Self> {
        Arc::new(DrumControls { thresholds: card.thresholds.iter().map(|t| AtomicF32::new(*t)).collect() })
    }
}

/// The drum model as a runner task (see the crate docs): any number of input channels, no
/// audio output, one result per hop once the first frames are decided.
pub struct DrumTask {
    model: Model,
    fields: DrumFields,
    channels: usize,
    mel: LogMel,
    post: Post,
    picker: Picker,
    controls: Arc<DrumControls>,
    thresholds: Vec<f32>,
    mono: Vec<f32>,
    frame: Vec<f32>,
    state: Vec<f32>,
    state_out: Vec<f32>,
    logits: Vec<f32>,
    act: Vec<f32>,
    class_act: Vec<f32>,
    strength: Vec<f32>,
    /// Model frames pushed since the reset.
    t: usize,
}

impl DrumTask {
    /// Wraps `model` (validated against its card) for `channels` input channels.
    pub fn new(model: Model, channels: usize) -> Result<Self, ModelError> {
        let card = model.card().clone();
        let fields = DrumFields::from_card(&card)?;
        let cfg = fields.mel(&card);
        let mel = LogMel::new(cfg).map_err(|e| ModelError::ShapeMismatch {
            what: "drum log-mel configuration".into(),
            expected: "a valid STFT/mel setup".into(),
            found: e.to_string(),
        })?;
        let (k, classes) = (fields.components.len(), card.classes.len());
        Ok(DrumTask {
            post: Post::new(&fields),
            picker: Picker::new(&fields, classes),
            controls: DrumControls::new(&card),
            thresholds: card.thresholds.clone(),
            channels: channels.max(1),
            mel,
            mono: vec![0.0; cfg.hop],
            frame: vec![0.0; cfg.n_mels],
            state: vec![0.0; fields.state_len],
            state_out: vec![0.0; fields.state_len],
            logits: vec![0.0; k + 1],
            act: vec![0.0; k],
            class_act: vec![0.0; classes],
            strength: vec![0.0; classes],
            t: 0,
            model,
            fields,
        })
    }

    /// The thresholds the task reads each hop (the card's until changed).
    pub fn controls(&self) -> Arc<DrumControls> {
        self.controls.clone()
    }

    /// The card's drum fields.
    pub fn fields(&self) -> &DrumFields {
        &self.fields
    }

    /// Class names.
    pub fn classes(&self) -> &[String] {
        &self.model.card().classes
    }

    /// Frames between a frame's onset and the hop that decides it: the model's look-ahead, the
    /// time-wise sparsemax's half window and the picker's next frame.
    pub fn decision_frames(&self) -> usize {
        self.fields.lookahead_frames + self.fields.sparse_half + 1
    }

    /// Post-processes one frame of model logits and runs the picker: returns the decided
    /// frame's index, with its onset strengths in `strength`. Frame-aligned logits start
    /// `lookahead_frames` into the stream.
    fn decide(&mut self) -> Option<usize> {
        let la = self.fields.lookahead_frames;
        if self.t <= la {
            return None;
        }
        self.post.push(&self.logits, &mut self.act);
        class_activations(&self.act, &self.fields.component_class, &mut self.class_act);
        // The post-processing lags the frame-aligned logits by sparse_half frames.
        if self.t <= la + self.fields.sparse_half {
            return None;
        }
        for (t, c) in self.thresholds.iter_mut().zip(&self.controls.thresholds) {
            *t = c.load(Ordering::Relaxed);
        }
        self.picker.push(&self.class_act, &self.thresholds, &mut self.strength)
    }
}

impl Task for DrumTask {
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
    /// From a frame's onset (`frame × hop`) to the end of the hop that decides it.
    fn latency(&self) -> usize {
        (self.decision_frames() + 1) * self.mel.config().hop
    }
    fn result_len(&self) -> usize {
        result_len(self.model.card().classes.len())
    }
    fn reset(&mut self) {
        self.mel.reset();
        self.post.reset();
        self.picker.reset();
        self.state.fill(0.0);
        self.t = 0;
    }

    fn process(&mut self, input: &[&[f32]], _: &mut [&mut [f32]], result: &mut [f32]) -> Result<bool, ModelError> {
        downmix(input, &mut self.mono);
        self.mel.push_hop(&self.mono, &mut self.frame);
        self.model.run(&[&self.frame, &self.state], &mut [&mut self.logits, &mut self.state_out])?;
        if let Some(bad) = self.logits.iter().find(|v| !v.is_finite()) {
            return Err(ModelError::Run(format!("drum model produced {bad}")));
        }
        std::mem::swap(&mut self.state, &mut self.state_out);
        self.t += 1;
        let Some(frame) = self.decide() else { return Ok(false) };
        result[0] = (frame / 65_536) as f32;
        result[1] = (frame % 65_536) as f32;
        result[2..].copy_from_slice(&self.strength);
        Ok(true)
    }
}
