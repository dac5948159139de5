//! Short-time Fourier transform and its inverse on `realfft`, with perfect reconstruction.
//!
//! Framing convention (mirrored exactly by the Python feature code): frame `t` covers input
//! samples `[(t + 1)·hop − size, (t + 1)·hop)`, i.e. the newest `size` samples once hop `t` has
//! arrived, with zeros before the start of the signal. Streaming analysis therefore needs no
//! look-ahead, and a streaming STFT → ISTFT chain has a latency of exactly `size − hop` samples.
//!
//! The same window is used for analysis and synthesis; the overlap-added squared window must be
//! constant at the chosen hop (checked at construction), and the ISTFT divides by that constant.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use crate::error::StftError;

/// Analysis/synthesis window (periodic variants, as used for spectral analysis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Periodic Hann; perfect reconstruction for hops of `size/4` and smaller.
    Hann,
    /// Square root of periodic Hann; perfect reconstruction for hops of `size/2` and smaller.
    SqrtHann,
    /// Periodic Hamming; perfect reconstruction for hops of `size/4` and smaller.
    Hamming,
    /// Rectangular; perfect reconstruction for any hop dividing `size`.
    Rect,
}

impl Window {
    /// Name used in model cards and error messages.
    pub fn name(self) -> &'static str {
        match self {
            Window::Hann => "hann",
            Window::SqrtHann => "sqrt_hann",
            Window::Hamming => "hamming",
            Window::Rect => "rect",
        }
    }

    /// Parses a model-card window name.
    pub fn from_name(name: &str) -> Option<Self> {
        [Window::Hann, Window::SqrtHann, Window::Hamming, Window::Rect].into_iter().find(|w| w.name() == name)
    }

    /// The window's `size` coefficients (computed in f64, stored as f32).
    pub fn coefficients(self, size: usize) -> Vec<f32> {
        let n = size as f64;
        (0..size)
            .map(|i| {
                let x = 2.0 * std::f64::consts::PI * i as f64 / n;
                let w = match self {
                    Window::Hann => 0.5 - 0.5 * x.cos(),
                    Window::SqrtHann => (0.5 - 0.5 * x.cos()).sqrt(),
                    Window::Hamming => 0.54 - 0.46 * x.cos(),
                    Window::Rect => 1.0,
                };
                w as f32
            })
            .collect()
    }
}

/// Size, hop and window of an STFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftConfig {
    /// FFT size in samples (any size realfft supports; powers of two are fastest).
    pub size: usize,
    /// Hop between frames in samples.
    pub hop: usize,
    /// Window used for analysis and synthesis.
    pub window: Window,
}

impl StftConfig {
    /// Number of frequency bins, `size / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.size / 2 + 1
    }

    /// Latency of a streaming analysis → synthesis chain, in samples.
    pub fn latency(&self) -> usize {
        self.size - self.hop
    }

    /// Overlap-add gain of the squared window, or an error if it is not constant.
    fn ola_gain(&self, window: &[f32]) -> Result<f32, StftError> {
        if self.size == 0 || self.hop == 0 || self.hop > self.size {
            return Err(StftError::InvalidSize { size: self.size, hop: self.hop });
        }
        let sums: Vec<f64> = (0..self.hop)
            .map(|n| (n..self.size).step_by(self.hop).map(|i| (window[i] as f64).powi(2)).sum::<f64>())
            .collect();
        let mean = sums.iter().sum::<f64>() / sums.len() as f64;
        let ripple = sums.iter().map(|s| (s - mean).abs()).fold(0.0, f64::max) / mean.max(1e-30);
        if mean <= 0.0 || ripple > 1e-6 {
            return Err(StftError::NotCola {
                window: self.window.name(),
                size: self.size,
                hop: self.hop,
                ripple: ripple as f32,
            });
        }
        Ok(mean as f32)
    }
}

/// Forward transform of one frame at a time. Allocation-free after construction.
pub struct Stft {
    cfg: StftConfig,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    buf: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Stft {
    /// Plans the FFT and checks that `cfg` reconstructs perfectly.
    pub fn new(cfg: StftConfig) -> Result<Self, StftError> {
        let window = cfg.window.coefficients(cfg.size);
        cfg.ola_gain(&window)?;
        Ok(Self::build(cfg, window))
    }

    /// Plans the FFT for analysis only (features): any window and hop, no reconstruction check.
    pub fn analysis(cfg: StftConfig) -> Result<Self, StftError> {
        if cfg.size == 0 || cfg.hop == 0 || cfg.hop > cfg.size {
            return Err(StftError::InvalidSize { size: cfg.size, hop: cfg.hop });
        }
        Ok(Self::build(cfg, cfg.window.coefficients(cfg.size)))
    }

    fn build(cfg: StftConfig, window: Vec<f32>) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(cfg.size);
        let scratch = fft.make_scratch_vec();
        Stft { cfg, window, buf: vec![0.0; cfg.size], fft, scratch }
    }

    /// The configuration.
    pub fn config(&self) -> &StftConfig {
        &self.cfg
    }

    /// Windows `frame` (`size` samples) and writes its `size/2 + 1` bins to `spectrum`.
    pub fn forward(&mut self, frame: &[f32], spectrum: &mut [Complex32]) {
        for ((b, x), w) in self.buf.iter_mut().zip(frame).zip(&self.window) {
            *b = x * w;
        }
        // Lengths are fixed at construction; realfft only fails on wrong lengths.
        let _ = self.fft.process_with_scratch(&mut self.buf, spectrum, &mut self.scratch);
    }
}

/// Inverse transform of one frame at a time, windowed and scaled for overlap-add.
pub struct Istft {
    cfg: StftConfig,
    window: Vec<f32>,
    scale: f32,
    ifft: Arc<dyn ComplexToReal<f32>>,
    spec: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Istft {
    /// Plans the inverse FFT and checks that `cfg` reconstructs perfectly.
    pub fn new(cfg: StftConfig) -> Result<Self, StftError> {
        let window = cfg.window.coefficients(cfg.size);
        let gain = cfg.ola_gain(&window)?;
        let ifft = RealFftPlanner::<f32>::new().plan_fft_inverse(cfg.size);
        let scratch = ifft.make_scratch_vec();
        Ok(Istft {
            cfg,
            window,
            scale: 1.0 / (gain * cfg.size as f32),
            ifft,
            spec: vec![Complex32::default(); cfg.bins()],
            scratch,
        })
    }

    /// Inverse-transforms `spectrum` and writes the synthesis-windowed, scaled frame to `frame`,
    /// ready to be overlap-added at the hop.
    pub fn inverse(&mut self, spectrum: &[Complex32], frame: &mut [f32]) {
        self.spec.copy_from_slice(spectrum);
        // A real signal's DC and Nyquist bins are real; realfft rejects anything else.
        self.spec[0].im = 0.0;
        if self.cfg.size.is_multiple_of(2) {
            let last = self.spec.len() - 1;
            self.spec[last].im = 0.0;
        }
        let _ = self.ifft.process_with_scratch(&mut self.spec, frame, &mut self.scratch);
        for (x, w) in frame.iter_mut().zip(&self.window) {
            *x *= w * self.scale;
        }
    }
}

/// Streaming analysis: feed `hop` samples, get the newest frame's spectrum.
pub struct StreamingStft {
    stft: Stft,
    history: Vec<f32>,
}

impl StreamingStft {
    /// Creates the analyzer with zero history (configuration must reconstruct perfectly).
    pub fn new(cfg: StftConfig) -> Result<Self, StftError> {
        Ok(StreamingStft { stft: Stft::new(cfg)?, history: vec![0.0; cfg.size] })
    }

    /// Creates an analysis-only streaming STFT (features): any window and hop.
    pub fn analysis(cfg: StftConfig) -> Result<Self, StftError> {
        Ok(StreamingStft { stft: Stft::analysis(cfg)?, history: vec![0.0; cfg.size] })
    }

    /// Clears the history (as at the start of a stream).
    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }

    /// Appends one hop of input and writes the spectrum of the newest frame.
    pub fn push_hop(&mut self, hop: &[f32], spectrum: &mut [Complex32]) {
        let h = self.stft.cfg.hop;
        debug_assert_eq!(hop.len(), h);
        self.history.copy_within(h.., 0);
        let n = self.history.len();
        self.history[n - h..].copy_from_slice(hop);
        self.stft.forward(&self.history, spectrum);
    }
}

/// Streaming synthesis: feed one spectrum per hop, get `hop` reconstructed samples.
pub struct OverlapAdd {
    istft: Istft,
    acc: Vec<f32>,
    frame: Vec<f32>,
}

impl OverlapAdd {
    /// Creates the synthesizer with an empty accumulator.
    pub fn new(cfg: StftConfig) -> Result<Self, StftError> {
        Ok(OverlapAdd { istft: Istft::new(cfg)?, acc: vec![0.0; cfg.size], frame: vec![0.0; cfg.size] })
    }

    /// Clears the accumulator.
    pub fn reset(&mut self) {
        self.acc.fill(0.0);
    }

    /// Overlap-adds the frame of `spectrum` and writes the `hop` samples that are now complete.
    pub fn push_frame(&mut self, spectrum: &[Complex32], out: &mut [f32]) {
        let h = self.istft.cfg.hop;
        self.istft.inverse(spectrum, &mut self.frame);
        for (a, f) in self.acc.iter_mut().zip(&self.frame) {
            *a += f;
        }
        out[..h].copy_from_slice(&self.acc[..h]);
        self.acc.copy_within(h.., 0);
        let n = self.acc.len();
        self.acc[n - h..].fill(0.0);
    }
}

/// Offline STFT of a whole signal with the streaming framing convention: frame `t` ends at
/// sample `(t + 1)·hop`; `ceil(len / hop)` frames. Returns `frames × bins`.
pub fn stft(signal: &[f32], cfg: StftConfig) -> Result<Vec<Vec<Complex32>>, StftError> {
    let mut s = StreamingStft::new(cfg)?;
    let frames = signal.len().div_ceil(cfg.hop);
    let mut hop = vec![0.0; cfg.hop];
    let mut out = Vec::with_capacity(frames);
    for t in 0..frames {
        let start = t * cfg.hop;
        let end = (start + cfg.hop).min(signal.len());
        hop.fill(0.0);
        hop[..end - start].copy_from_slice(&signal[start..end]);
        let mut spec = vec![Complex32::default(); cfg.bins()];
        s.push_hop(&hop, &mut spec);
        out.push(spec);
    }
    Ok(out)
}

/// Offline ISTFT matching [`stft`]: returns `frames·hop` samples delayed by
/// [`StftConfig::latency`] relative to the analysed signal.
pub fn istft(frames: &[Vec<Complex32>], cfg: StftConfig) -> Result<Vec<f32>, StftError> {
    let mut ola = OverlapAdd::new(cfg)?;
    let mut out = vec![0.0; frames.len() * cfg.hop];
    for (t, spec) in frames.iter().enumerate() {
        ola.push_frame(spec, &mut out[t * cfg.hop..(t + 1) * cfg.hop]);
    }
    Ok(out)
}
