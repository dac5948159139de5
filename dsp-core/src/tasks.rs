//! Ready-made [`Task`]s.
//!
//! * [`SpectralMaskTask`]: STFT → model predicts a magnitude mask per bin → mask × mixture
//!   spectrum (mixture phase) → ISTFT. The shape every mask-based separator uses.
//! * [`GainTask`]: a model-free task that scales its input; the reference for latency and
//!   plumbing tests.

use realfft::num_complex::Complex32;

use crate::error::ModelError;
use crate::model::Model;
use crate::runner::Task;
use crate::stft::{OverlapAdd, StftConfig, StreamingStft, Window};

/// A model-free task that multiplies its input by a constant gain (latency 0).
#[derive(Debug, Clone)]
pub struct GainTask {
    /// Task sample rate in Hz.
    pub sample_rate: u32,
    /// Frames per call.
    pub hop: usize,
    /// Channels in and out.
    pub channels: usize,
    /// Linear gain applied to every sample.
    pub gain: f32,
}

impl Task for GainTask {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }
    fn hop(&self) -> usize {
        self.hop
    }
    fn in_channels(&self) -> usize {
        self.channels
    }
    fn out_channels(&self) -> usize {
        self.channels
    }
    fn latency(&self) -> usize {
        0
    }
    fn result_len(&self) -> usize {
        0
    }
    fn reset(&mut self) {}
    fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], _: &mut [f32]) -> Result<bool, ModelError> {
        for (o, i) in output.iter_mut().zip(input) {
            for (y, x) in o.iter_mut().zip(i.iter()) {
                *y = x * self.gain;
            }
        }
        Ok(false)
    }
}

/// STFT-domain masking with a model.
///
/// The model card must declare one input and one output of shape `[1, bins, context]`, where
/// `bins = frame_size / 2 + 1`: the input is the magnitude of the last `context` frames (newest
/// last), the output a mask for the same frames, of which the newest column is applied.
/// Each channel is processed independently. Latency: `frame_size − hop_size` task frames.
/// An optional `"window"` card field names the STFT window (default `"hann"`).
pub struct SpectralMaskTask {
    model: Model,
    channels: usize,
    cfg: StftConfig,
    context: usize,
    analysis: Vec<StreamingStft>,
    synthesis: Vec<OverlapAdd>,
    spectrum: Vec<Complex32>,
    /// Per channel: `bins × context` magnitudes, row-major (bin, frame), newest frame last.
    mags: Vec<Vec<f32>>,
    mask: Vec<f32>,
}

impl SpectralMaskTask {
    /// Wraps `model` for `channels` audio channels, checking that its card fits this task.
    pub fn new(model: Model, channels: usize) -> Result<Self, ModelError> {
        let card = model.card();
        let window_name = card.extra_str("window").unwrap_or("hann");
        let window = Window::from_name(window_name).ok_or_else(|| ModelError::ShapeMismatch {
            what: "window".into(),
            expected: "hann, sqrt_hann, hamming or rect".into(),
            found: window_name.into(),
        })?;
        let cfg = StftConfig { size: card.frame_size, hop: card.hop_size, window };
        let bins = cfg.bins();
        let (inp, out) = (&card.inputs[0].shape, &card.outputs[0].shape);
        if card.inputs.len() != 1 || inp.len() != 3 || inp[0] != 1 || inp[1] != bins {
            return Err(ModelError::ShapeMismatch {
                what: "mask model input".into(),
                expected: format!("one tensor [1, {bins}, context]"),
                found: format!("{:?}", card.inputs.iter().map(|t| &t.shape).collect::<Vec<_>>()),
            });
        }
        if card.outputs.len() != 1 || out != inp {
            return Err(ModelError::ShapeMismatch {
                what: "mask model output".into(),
                expected: format!("one tensor {inp:?}"),
                found: format!("{:?}", card.outputs.iter().map(|t| &t.shape).collect::<Vec<_>>()),
            });
        }
        let context = inp[2];
        let stft_err = |e: crate::error::StftError| ModelError::ShapeMismatch {
            what: "STFT configuration".into(),
            expected: "a perfectly reconstructing window/hop".into(),
            found: e.to_string(),
        };
        let analysis =
            (0..channels).map(|_| StreamingStft::new(cfg)).collect::<Result<Vec<_>, _>>().map_err(stft_err)?;
        let synthesis = (0..channels).map(|_| OverlapAdd::new(cfg)).collect::<Result<Vec<_>, _>>().map_err(stft_err)?;
        Ok(SpectralMaskTask {
            model,
            channels,
            cfg,
            context,
            analysis,
            synthesis,
            spectrum: vec![Complex32::default(); bins],
            mags: vec![vec![0.0; bins * context]; channels],
            mask: vec![0.0; bins * context],
        })
    }

    /// The model card's STFT configuration.
    pub fn stft_config(&self) -> StftConfig {
        self.cfg
    }
}

impl Task for SpectralMaskTask {
    fn sample_rate(&self) -> u32 {
        self.model.card().sample_rate
    }
    fn hop(&self) -> usize {
        self.cfg.hop
    }
    fn in_channels(&self) -> usize {
        self.channels
    }
    fn out_channels(&self) -> usize {
        self.channels
    }
    fn latency(&self) -> usize {
        self.cfg.latency()
    }
    fn result_len(&self) -> usize {
        0
    }
    fn reset(&mut self) {
        self.analysis.iter_mut().for_each(StreamingStft::reset);
        self.synthesis.iter_mut().for_each(OverlapAdd::reset);
        self.mags.iter_mut().for_each(|m| m.fill(0.0));
    }

    fn process(&mut self, input: &[&[f32]], output: &mut [&mut [f32]], _: &mut [f32]) -> Result<bool, ModelError> {
        let ctx = self.context;
        for c in 0..self.channels {
            self.analysis[c].push_hop(input[c], &mut self.spectrum);
            let mags = &mut self.mags[c];
            for (b, z) in self.spectrum.iter().enumerate() {
                let row = &mut mags[b * ctx..(b + 1) * ctx];
                row.copy_within(1.., 0);
                row[ctx - 1] = z.norm();
            }
            self.model.run(&[mags], &mut [&mut self.mask])?;
            for (b, z) in self.spectrum.iter_mut().enumerate() {
                let m = self.mask[b * ctx + ctx - 1];
                if !m.is_finite() {
                    return Err(ModelError::Run(format!("mask is not finite at bin {b}")));
                }
                *z *= m;
            }
            self.synthesis[c].push_frame(&self.spectrum, output[c]);
        }
        Ok(false)
    }
}
