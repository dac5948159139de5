//! `dsp-core`: the real-time core shared by every plugin of the suite.
//!
//! Nothing in this crate knows about a plugin framework. Plugins are thin shells that move
//! host audio into an [`runner::AudioSide`] and read results back; everything else lives here:
//!
//! * [`stft`]: STFT / ISTFT on `realfft` with perfect reconstruction.
//! * [`features`]: log-mel features (mirrored exactly by the Python training code).
//! * [`post`]: generic post-processing of class probabilities (causal average, threshold +
//!   median gate) that every plugin deciding "is it playing" shares.
//! * [`resample`]: fixed-ratio block resampling between host and model rates (`rubato`).
//! * [`card`]: the model card, the single source of truth for a model's rates, shapes and classes.
//! * [`model`]: loading, validating and optimizing ONNX models with `tract`.
//! * [`runner`]: the [`runner::ModelRunner`], a worker thread per plugin instance that runs a
//!   [`runner::Task`] (and its model) off the audio thread, connected by pre-sized lock-free rings.
//! * [`tasks`]: ready-made tasks (spectral masking, identity) built from the pieces above.
//!
//! A model's own task (its tensors and card fields) lives in its folder under `models/` (e.g.
//! the `activity-model` crate); test helpers live in the `test-support` crate.
//!
//! # The real-time contract
//! Functions documented as *audio thread* never allocate, lock, block (except in offline mode,
//! where waiting is the point) or call tract. Everything is sized in the constructors, which are
//! meant to be called from a plugin's `activate()`.

pub mod card;
pub mod error;
pub mod features;
pub mod model;
pub mod post;
pub mod resample;
pub mod runner;
pub mod stft;
pub mod tasks;

pub use card::{ModelCard, TensorSpec};
pub use error::{CardError, ModelError, RunnerError, StftError};
pub use model::{Model, ModelSource};
pub use runner::{AudioSide, Fallback, ModelRunner, RunMode, RunnerConfig, RunnerStats, Task};

/// The suite's policy for non-finite input: NaN and infinite samples are silence. Replaces each
/// of them in `samples` by zero and returns how many there were. A plugin that passes its input
/// on (dry, or mixed with what it adds) calls this on the buffer so that its output is finite
/// whatever the host sends; the runner applies the same rule to what a model sees.
pub fn silence_nonfinite(samples: &mut [f32]) -> u64 {
    let mut bad = 0u64;
    for x in samples.iter_mut() {
        if !x.is_finite() {
            *x = 0.0;
            bad += 1;
        }
    }
    bad
}
