//! The Stem Separator's model (`models/separator/`): instrument-activation-aware source
//! separation (IASS) as a streaming runner [`Task`].
//!
//! Per hop (512 samples at 44.1 kHz) the task
//! 1. takes the STFT (2048, periodic Hann) of the left and right input,
//! 2. runs the model on the mid signal's magnitude `|(L + R) / 2|` with the causal history it
//!    carries in one state vector: one mask per source (drums, bass, piano, guitar, other; they
//!    sum to one per bin) and every source's activity probability, "other" included,
//! 3. gates each source as the research does: activity → threshold → median filter over time
//!    (centred, up to [`SeparatorFields::median_max`] frames, whose half is fixed look-ahead),
//!    each stem's mask multiplied by its gate frame by frame (the gated-out share stays in
//!    "other"); when "other" itself is gated shut, the open stems take its share in proportion
//!    to their masks, each scaled by at most `1 / other_floor` (a bin no open stem holds keeps
//!    the rest in "other" instead of being pushed into a stem the model says is absent),
//! 4. applies each gated stem mask to both channels' spectra (mixture phase) and overlap-adds
//!    them back: output channels `2·s + c` are stem `s`, channel `c`.
//!
//! "Other" is not produced here: the plugin computes it as the delayed input minus the stems,
//! so the gated-out energy lands in "other" and the stems always sum to the input.
//!
//! The gate settings live in [`Controls`] (atomics) so the plugin's parameters reach the
//! worker thread without locks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use atomic_float::AtomicF32;
use dsp_core::error::ModelError;
use dsp_core::stft::{OverlapAdd, StftConfig, StreamingStft, Window};
use dsp_core::{Model, ModelCard, Task};
use realfft::num_complex::Complex32;
use serde::Deserialize;

/// The shipped model's ONNX bytes (from `cargo xtask export separator`).
pub const MODEL: &[u8] = include_bytes!("../model.onnx");
/// The shipped model's card.
pub const CARD: &str = include_str!("../card.json");

/// The separator's own card fields (the rest of its card is a generic [`ModelCard`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SeparatorFields {
    /// Every source the masks cover, stems first, "other" last; also the activity classes (the
    /// card's `classes`).
    pub sources: Vec<String>,
    /// Frames the model looks ahead: its output at frame `t` is for frame `t − lookahead`.
    pub lookahead_frames: usize,
    /// Longest median filter over the gate, in frames (odd).
    pub median_max: usize,
    /// The median length the card's thresholds were tuned with.
    pub default_median: usize,
    /// Length of the model's state vector.
    pub state_len: usize,
    /// When "other" is gated shut, the open stems' masks are divided by the larger of their sum
    /// and this floor (in `(0, 1]`).
    #[serde(rename = "threshold_tuning", deserialize_with = "other_floor")]
    pub other_floor: f32,
}

fn other_floor<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    #[derive(Deserialize)]
    struct Tuning {
        other_floor: f32,
    }
    Ok(Tuning::deserialize(d)?.other_floor)
}

impl SeparatorFields {
    /// Reads and checks a separator card: inputs `mag [1, bins, 1]`, `state [1, S]`; outputs
    /// `masks [1, sources, bins]`, `activity [1, sources]`, `state_out [1, S]`.
    pub fn from_card(card: &ModelCard) -> Result<Self, ModelError> {
        let f: SeparatorFields = card.fields()?;
        let bad = |what: &str, expected: String, found: String| {
            Err(ModelError::ShapeMismatch { what: what.into(), expected, found })
        };
        let bins = card.frame_size / 2 + 1;
        let sources = card.classes.len();
        let shape = |t: &dsp_core::TensorSpec| t.shape.clone();
        if card.extra_str("window") != Some("hann") {
            return bad("separator window", "\"hann\"".into(), format!("{:?}", card.extra_str("window")));
        }
        if sources < 2 || f.sources != card.classes || f.sources.last().map(String::as_str) != Some("other") {
            return bad("separator sources", "the classes, \"other\" last".into(), format!("{:?}", f.sources));
        }
        if !(f.other_floor > 0.0 && f.other_floor <= 1.0) {
            return bad("separator other_floor", "in (0, 1]".into(), format!("{}", f.other_floor));
        }
        if card.inputs.len() != 2
            || shape(&card.inputs[0]) != [1, bins, 1]
            || shape(&card.inputs[1]) != [1, f.state_len]
        {
            return bad(
                "separator inputs",
                format!("mag [1, {bins}, 1], state [1, {}]", f.state_len),
                format!("{:?}", card.inputs.iter().map(shape).collect::<Vec<_>>()),
            );
        }
        if card.outputs.len() != 3
            || shape(&card.outputs[0]) != [1, sources, bins]
            || shape(&card.outputs[1]) != [1, sources]
            || shape(&card.outputs[2]) != [1, f.state_len]
        {
            return bad(
                "separator outputs",
                format!("masks [1, {sources}, {bins}], activity [1, {sources}], state_out [1, {}]", f.state_len),
                format!("{:?}", card.outputs.iter().map(shape).collect::<Vec<_>>()),
            );
        }
        if f.median_max.is_multiple_of(2) || f.default_median.is_multiple_of(2) || f.default_median > f.median_max {
            return bad(
                "separator median lengths",
                "odd, default <= max".into(),
                format!("default {}, max {}", f.default_median, f.median_max),
            );
        }
        if card.thresholds.len() != sources {
            return bad("separator thresholds", format!("{sources}"), format!("{}", card.thresholds.len()));
        }
        Ok(f)
    }

    /// Stems the task outputs (every source but the residual "other").
    pub fn stems(&self) -> usize {
        self.sources.len() - 1
    }

    /// Half the longest median: the gate's fixed look-ahead in frames.
    pub fn median_half(&self) -> usize {
        self.median_max / 2
    }
}

/// Gate settings shared by the plugin (writer) and the task on the worker thread (reader).
#[derive(Debug)]
pub struct Controls {
    /// Per-source activity thresholds in `[0, 1]` ("other" last).
    pub thresholds: Vec<AtomicF32>,
    /// Median filter length in frames (odd; clamped to the card's maximum).
    pub median: AtomicUsize,
    /// False: the stems are the masks alone (no activity gate).
    pub gate: AtomicBool,
}

impl Controls {
    /// Controls at the card's defaults.
    pub fn new(card: &ModelCard, fields: &SeparatorFields) -> Arc<Self> {
        Arc::new(Controls {
            thresholds: card.thresholds.iter().map(|t| AtomicF32::new(*t)).collect(),
            median: AtomicUsize::new(fields.default_median),
            gate: AtomicBool::new(true),
        })
    }
}

/// Values in one task result: per source ("other" last) its activity probability, then per
/// source its gate (0/1), both for the frame being output.
pub fn result_len(sources: usize) -> usize {
    2 * sources
}

/// The separator as a runner task (see the crate docs). Stereo in, `2 × stems` out.
pub struct SeparatorTask {
    model: Model,
    fields: SeparatorFields,
    controls: Arc<Controls>,
    cfg: StftConfig,
    /// Output stems (every source but "other").
    stems: usize,
    bins: usize,
    stft: [StreamingStft; 2],
    ola: Vec<OverlapAdd>,
    /// Input spectra ring, `depth_spec × 2 × bins` (frame, channel, bin).
    spec: Vec<Complex32>,
    /// Stem masks ring, `depth_mask × stems × bins`.
    masks: Vec<f32>,
    /// Activity probabilities ring, `depth_prob × sources` (−1: before the stream started).
    probs: Vec<f32>,
    depth_spec: usize,
    depth_mask: usize,
    depth_prob: usize,
    /// Model frames pushed since the last reset.
    t: usize,
    mag: Vec<f32>,
    state: Vec<f32>,
    state_out: Vec<f32>,
    out_masks: Vec<f32>,
    out_act: Vec<f32>,
    work: Vec<Complex32>,
    /// Per bin, the factor of the open stems' masks (1, or more when "other" is gated shut).
    scale: Vec<f32>,
    gates: Vec<bool>,
}

impl SeparatorTask {
    /// Wraps `model` (validated against its card) with the gate `controls`.
    pub fn new(model: Model, controls: Arc<Controls>) -> Result<Self, ModelError> {
        let card = model.card().clone();
        let fields = SeparatorFields::from_card(&card)?;
        let cfg = StftConfig { size: card.frame_size, hop: card.hop_size, window: Window::Hann };
        let stft_err = |e: dsp_core::StftError| ModelError::ShapeMismatch {
            what: "separator STFT".into(),
            expected: "a perfectly reconstructing Hann STFT".into(),
            found: e.to_string(),
        };
        let (sources, stems) = (card.classes.len(), fields.stems());
        if controls.thresholds.len() != sources {
            return Err(ModelError::ShapeMismatch {
                what: "separator controls".into(),
                expected: format!("{sources} thresholds"),
                found: format!("{}", controls.thresholds.len()),
            });
        }
        let bins = cfg.bins();
        let h = fields.median_half();
        let (depth_spec, depth_mask, depth_prob) = (fields.lookahead_frames + h + 1, h + 1, 2 * h + 1);
        let ola = (0..2 * stems).map(|_| OverlapAdd::new(cfg)).collect::<Result<Vec<_>, _>>().map_err(stft_err)?;
        Ok(SeparatorTask {
            stft: [StreamingStft::new(cfg).map_err(stft_err)?, StreamingStft::new(cfg).map_err(stft_err)?],
            ola,
            spec: vec![Complex32::default(); depth_spec * 2 * bins],
            masks: vec![0.0; depth_mask * stems * bins],
            probs: vec![-1.0; depth_prob * sources],
            depth_spec,
            depth_mask,
            depth_prob,
            t: 0,
            mag: vec![0.0; bins],
            state: vec![0.0; fields.state_len],
            state_out: vec![0.0; fields.state_len],
            out_masks: vec![0.0; sources * bins],
            out_act: vec![0.0; sources],
            work: vec![Complex32::default(); bins],
            scale: vec![1.0; bins],
            gates: vec![true; sources],
            model,
            fields,
            controls,
            cfg,
            stems,
            bins,
        })
    }

    /// Wraps `model` with gate controls at its card's defaults, for callers that never change
    /// them (evaluation, benchmarks, the Drum Transcriber's drum stem).
    pub fn with_card_controls(model: Model) -> Result<Self, ModelError> {
        let fields = SeparatorFields::from_card(model.card())?;
        let controls = Controls::new(model.card(), &fields);
        Self::new(model, controls)
    }

    /// The card's separator fields.
    pub fn fields(&self) -> &SeparatorFields {
        &self.fields
    }

    /// Output stem names (the sources but "other").
    pub fn stems(&self) -> &[String] {
        &self.fields.sources[..self.stems]
    }

    /// The gate of source `s` for the frame `h` frames before the newest probability: the
    /// majority of thresholded probabilities over the centred median window.
    fn gate(&self, s: usize, median: usize, threshold: f32) -> bool {
        let h = self.fields.median_half();
        let half = median / 2;
        let newest = self.t - 1; // the ring slot of the latest model frame, t ≥ 1 here
        let mut on = 0;
        for k in (h - half)..=(h + half) {
            // k frames before the newest model output.
            let slot = (newest + self.depth_prob * 4 - k) % self.depth_prob;
            if self.probs[slot * (self.stems + 1) + s] >= threshold {
                on += 1;
            }
        }
        on > half
    }
}

impl Task for SeparatorTask {
    fn sample_rate(&self) -> u32 {
        self.model.card().sample_rate
    }
    fn hop(&self) -> usize {
        self.cfg.hop
    }
    fn in_channels(&self) -> usize {
        2
    }
    fn out_channels(&self) -> usize {
        2 * self.stems
    }
    fn latency(&self) -> usize {
        self.cfg.latency() + (self.fields.lookahead_frames + self.fields.median_half()) * self.cfg.hop
    }
    fn result_len(&self) -> usize {
        result_len(self.stems + 1)
    }
    fn reset(&mut self) {
        for s in &mut self.stft {
            s.reset();
        }
        for o in &mut self.ola {
            o.reset();
        }
        self.spec.fill(Complex32::default());
        self.masks.fill(0.0);
        self.probs.fill(-1.0);
        self.state.fill(0.0);
        self.t = 0;
    }

    fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], result: &mut [f32]) -> Result<bool, ModelError> {
        let (bins, stems) = (self.bins, self.stems);
        let sources = stems + 1;
        // 1. Spectra of both channels into the ring slot of frame t (a mono input feeds both).
        let slot = self.t % self.depth_spec;
        for c in 0..2 {
            let x = input.get(c).or(input.first()).copied().unwrap_or(&[]);
            let dst = &mut self.spec[(slot * 2 + c) * bins..(slot * 2 + c + 1) * bins];
            self.stft[c].push_hop(x, dst);
        }
        let base = slot * 2 * bins;
        for k in 0..bins {
            self.mag[k] = ((self.spec[base + k] + self.spec[base + bins + k]) * 0.5).norm();
        }
        // 2. The model on the mid magnitude, carrying its history.
        self.model
            .run(&[&self.mag, &self.state], &mut [&mut self.out_masks, &mut self.out_act, &mut self.state_out])?;
        if let Some(bad) =
            self.out_masks.iter().chain(&self.out_act).chain(&self.state_out).copied().find(|x| !x.is_finite())
        {
            self.reset();
            return Err(ModelError::Run(format!("separator model produced {bad}")));
        }
        std::mem::swap(&mut self.state, &mut self.state_out);
        // The model's output is for frame u = t − lookahead: its stem masks and probabilities.
        let mslot = self.t % self.depth_mask;
        self.masks[mslot * stems * bins..(mslot + 1) * stems * bins].copy_from_slice(&self.out_masks[..stems * bins]);
        let pslot = self.t % self.depth_prob;
        self.probs[pslot * sources..(pslot + 1) * sources].copy_from_slice(&self.out_act);
        self.t += 1;

        // 3. Frame v = u − h: its gate (centred median), masks and spectra.
        let h = self.fields.median_half();
        let v_mask = (self.t - 1 + self.depth_mask * 4 - h) % self.depth_mask;
        let v_spec = (self.t - 1 + self.depth_spec * 4 - h - self.fields.lookahead_frames) % self.depth_spec;
        let gate_on = self.controls.gate.load(Ordering::Relaxed);
        let median = (self.controls.median.load(Ordering::Relaxed).max(1) | 1).min(self.fields.median_max);
        let v_prob = (self.t - 1 + self.depth_prob * 4 - h) % self.depth_prob;
        for s in 0..sources {
            let threshold = self.controls.thresholds[s].load(Ordering::Relaxed);
            let g = !gate_on || self.gate(s, median, threshold);
            self.gates[s] = g;
            result[s] = self.probs[v_prob * sources + s].max(0.0);
            result[sources + s] = g as u8 as f32;
        }
        let frame_masks = &self.masks[v_mask * stems * bins..(v_mask + 1) * stems * bins];
        self.scale.fill(1.0);
        if !self.gates[stems] {
            // "Other" shut: the open stems take its share (the floor bounds the boost).
            self.scale.fill(0.0);
            for (s, m) in frame_masks.chunks_exact(bins).enumerate() {
                if self.gates[s] {
                    for (a, mk) in self.scale.iter_mut().zip(m) {
                        *a += *mk;
                    }
                }
            }
            let floor = self.fields.other_floor;
            for a in &mut self.scale {
                *a = 1.0 / a.max(floor);
            }
        }
        for s in 0..stems {
            let g = self.gates[s];
            let m = &frame_masks[s * bins..(s + 1) * bins];
            for c in 0..2 {
                let x = &self.spec[(v_spec * 2 + c) * bins..(v_spec * 2 + c + 1) * bins];
                if g {
                    for (((w, xk), mk), a) in self.work.iter_mut().zip(x).zip(m).zip(&self.scale) {
                        *w = xk * (*mk * *a);
                    }
                } else {
                    self.work.fill(Complex32::default());
                }
                self.ola[2 * s + c].push_frame(&self.work, output[2 * s + c]);
            }
        }
        Ok(true)
    }
}

/// Runs `task` over a whole stereo signal (tests, evaluation): returns the `2 × stems` output
/// channels aligned with the input (the task latency removed) and the results per hop.
pub fn run_offline(task: &mut SeparatorTask, input: [&[f32]; 2]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    task.reset();
    let (hop, lat, n) = (task.hop(), task.latency(), input[0].len());
    let hops = (n + lat).div_ceil(hop);
    let mut out = vec![vec![0.0; hops * hop]; task.out_channels()];
    let mut results = Vec::with_capacity(hops);
    let mut inbuf = [vec![0.0; hop], vec![0.0; hop]];
    let mut res = vec![0.0; task.result_len()];
    let mut hop_out = vec![vec![0.0; hop]; task.out_channels()];
    for i in 0..hops {
        for (c, buf) in inbuf.iter_mut().enumerate() {
            buf.fill(0.0);
            let (a, b) = ((i * hop).min(n), ((i + 1) * hop).min(n));
            buf[..b - a].copy_from_slice(&input[c][a..b]);
        }
        let mut views: Vec<&mut [f32]> = hop_out.iter_mut().map(|v| v.as_mut_slice()).collect();
        if task.process(&[&inbuf[0], &inbuf[1]], &mut views, &mut res).is_ok() {
            results.push(res.clone());
        }
        for (o, h) in out.iter_mut().zip(&hop_out) {
            o[i * hop..(i + 1) * hop].copy_from_slice(h);
        }
    }
    for o in &mut out {
        o.drain(..lat.min(o.len()));
        o.truncate(n);
    }
    (out, results)
}
