//! Error types. Every failure a user can cause (a missing file, corrupt bytes, a card that
//! does not match its model) is a value of one of these types, never a panic, so a plugin can
//! show it while it keeps passing audio through.

use std::path::PathBuf;

/// A model card that cannot be read or does not describe a usable model.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The card file could not be read.
    #[error("cannot read model card {path}: {source}")]
    Io {
        /// Path of the card file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The card is not valid JSON or lacks required fields.
    #[error("model card is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// The card parsed but its values are inconsistent (e.g. hop larger than the frame).
    #[error("model card is inconsistent: {0}")]
    Invalid(String),
}

/// A model that cannot be loaded, validated or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file could not be read.
    #[error("cannot read model file {path}: {source}")]
    Io {
        /// Path of the model file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The card describing the model is unusable.
    #[error(transparent)]
    Card(#[from] CardError),
    /// The bytes are not an ONNX model tract can parse.
    #[error("model is not a readable ONNX file: {0}")]
    Parse(String),
    /// The model's inputs or outputs do not match its card.
    #[error("model does not match its card: {what}: card says {expected}, model has {found}")]
    ShapeMismatch {
        /// Which tensor or property differs.
        what: String,
        /// What the card declares.
        expected: String,
        /// What the model has.
        found: String,
    },
    /// tract could not type-check or optimize the model with the card's shapes.
    #[error("model cannot be prepared with the card's input shapes: {0}")]
    Prepare(String),
    /// A run failed (wrong input length, internal tract error).
    #[error("model run failed: {0}")]
    Run(String),
}

/// Errors from building a [`crate::runner::ModelRunner`].
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The configuration cannot work (zero channels, unsupported sample rate…).
    #[error("invalid runner configuration: {0}")]
    Config(String),
    /// The resampler between host and model rate could not be built.
    #[error("cannot resample {from} Hz to {to} Hz: {reason}")]
    Resampler {
        /// Source rate in Hz.
        from: u32,
        /// Target rate in Hz.
        to: u32,
        /// Why rubato refused.
        reason: String,
    },
    /// The worker thread could not be spawned.
    #[error("cannot start the model worker thread: {0}")]
    Spawn(std::io::Error),
}

/// Errors from building an STFT.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StftError {
    /// Size or hop is zero, or the hop exceeds the size.
    #[error("invalid STFT size {size} / hop {hop}")]
    InvalidSize {
        /// FFT size in samples.
        size: usize,
        /// Hop in samples.
        hop: usize,
    },
    /// Analysis × synthesis window does not overlap-add to a constant at this hop, so the
    /// ISTFT could not reconstruct the input exactly.
    #[error("window {window} at size {size} / hop {hop} does not overlap-add to a constant (ripple {ripple:.2e})")]
    NotCola {
        /// Window name.
        window: &'static str,
        /// FFT size in samples.
        size: usize,
        /// Hop in samples.
        hop: usize,
        /// Peak relative deviation of the overlap-added squared window from its mean.
        ripple: f32,
    },
}
