//! Loading, validating and running ONNX models with tract.
//!
//! A [`Model`] is loaded once (from embedded bytes or a file), checked against its
//! [`ModelCard`], optimized once with `into_optimized`, and then run many times on the
//! worker thread of a [`crate::runner::ModelRunner`]. tract allocates on every run, so
//! [`Model::run`] must never be called from an audio thread.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::card::ModelCard;
use crate::error::ModelError;

/// Where a model's ONNX bytes come from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// Bytes compiled into the plugin (`include_bytes!`), the default model.
    Embedded(&'static [u8]),
    /// A user-supplied file that overrides the embedded default.
    File(PathBuf),
}

type Plan = TypedSimplePlan;

/// A loaded, validated and optimized model plus the card that describes it.
///
/// Cheap to [`fork`](Model::fork): forks share the optimized plan and own their run state.
pub struct Model {
    card: Arc<ModelCard>,
    plan: Arc<Plan>,
    state: TypedSimpleState,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("card", &self.card.name).finish_non_exhaustive()
    }
}

impl Model {
    /// Loads a model from `source`, validates it against `card` and optimizes it.
    pub fn load(source: &ModelSource, card: ModelCard) -> Result<Self, ModelError> {
        match source {
            ModelSource::Embedded(bytes) => Self::from_bytes(bytes, card),
            ModelSource::File(path) => Self::from_path(path, card),
        }
    }

    /// Loads a model file, validates it against `card` and optimizes it.
    pub fn from_path(path: impl AsRef<Path>, card: ModelCard) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, card)
    }

    /// Parses ONNX `bytes`, validates them against `card` and optimizes the model.
    pub fn from_bytes(bytes: &[u8], card: ModelCard) -> Result<Self, ModelError> {
        card.validate()?;
        let mut reader = bytes;
        let mut model =
            tract_onnx::onnx().model_for_read(&mut reader).map_err(|e| ModelError::Parse(format!("{e:#}")))?;

        let n_in = model.input_outlets().map_err(prep)?.len();
        let n_out = model.output_outlets().map_err(prep)?.len();
        if n_in != card.inputs.len() {
            return Err(mismatch("number of inputs", card.inputs.len(), n_in));
        }
        if n_out != card.outputs.len() {
            return Err(mismatch("number of outputs", card.outputs.len(), n_out));
        }
        for (i, spec) in card.inputs.iter().enumerate() {
            model = model.with_input_fact(i, f32::fact(spec.shape.clone()).into()).map_err(prep)?;
        }
        let typed = model.into_typed().map_err(|e| ModelError::Prepare(format!("{e:#}")))?;

        for (i, spec) in card.outputs.iter().enumerate() {
            let fact = typed.output_fact(i).map_err(prep)?;
            let found: Option<Vec<usize>> = fact.shape.as_concrete().map(|s| s.to_vec());
            if found.as_deref() != Some(&spec.shape[..]) {
                return Err(ModelError::ShapeMismatch {
                    what: format!("output {i} ({}) shape", spec.name),
                    expected: format!("{:?}", spec.shape),
                    found: format!("{:?}", fact.shape),
                });
            }
            if fact.datum_type != f32::datum_type() {
                return Err(mismatch(
                    &format!("output {i} ({}) type", spec.name),
                    "f32",
                    format!("{:?}", fact.datum_type),
                ));
            }
        }
        let plan = typed
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| ModelError::Prepare(format!("{e:#}")))?;
        let state = plan.spawn().map_err(prep)?;
        Ok(Model { card: Arc::new(card), plan, state })
    }

    /// The card this model was validated against.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// A second handle on the same optimized plan with its own run state.
    pub fn fork(&self) -> Result<Self, ModelError> {
        Ok(Model { card: self.card.clone(), plan: self.plan.clone(), state: self.plan.spawn().map_err(prep)? })
    }

    /// Runs the model. `inputs[i]` holds the row-major data of card input `i` and `outputs[i]`
    /// receives card output `i`. Allocates (tract does): worker thread only.
    pub fn run(&mut self, inputs: &[&[f32]], outputs: &mut [&mut [f32]]) -> Result<(), ModelError> {
        if inputs.len() != self.card.inputs.len() || outputs.len() != self.card.outputs.len() {
            return Err(ModelError::Run(format!(
                "expected {} inputs and {} outputs, got {} and {}",
                self.card.inputs.len(),
                self.card.outputs.len(),
                inputs.len(),
                outputs.len()
            )));
        }
        // Every run starts from a fresh state: tract's recurrent ops (GRU/LSTM scans) keep
        // their last hidden state in the run state, and a reused state fed the previous call's
        // final state into the next one (found by the melody model's parity test: the first
        // measure matched PyTorch, the next ones were off by up to 2.6). Models here carry any
        // streaming state explicitly as inputs and outputs, so each call is independent.
        self.state = self.plan.spawn().map_err(prep)?;
        let results = self.state.run(self.input_tensors(inputs)?).map_err(run_err)?;
        for ((out, res), spec) in outputs.iter_mut().zip(results.iter()).zip(&self.card.outputs) {
            let plain = res.try_as_plain_ram().map_err(run_err)?;
            let view = plain.as_slice::<f32>().map_err(run_err)?;
            if view.len() != out.len() {
                return Err(ModelError::Run(format!(
                    "output {} has {} values, buffer holds {}",
                    spec.name,
                    view.len(),
                    out.len()
                )));
            }
            out.copy_from_slice(view);
        }
        Ok(())
    }

    /// The card's input tensors holding `inputs` (each checked against its shape).
    fn input_tensors(&self, inputs: &[&[f32]]) -> Result<TVec<TValue>, ModelError> {
        let mut tensors = TVec::with_capacity(inputs.len());
        for (data, spec) in inputs.iter().zip(&self.card.inputs) {
            if data.len() != spec.len() {
                return Err(ModelError::Run(format!(
                    "input {} has {} values, shape {:?} needs {}",
                    spec.name,
                    data.len(),
                    spec.shape,
                    spec.len()
                )));
            }
            tensors.push(Tensor::from_shape(&spec.shape, data).map_err(run_err)?.into_tvalue());
        }
        Ok(tensors)
    }

    /// Times each node of the optimized plan over `iters` runs on `inputs` (benchmarks; worker
    /// or offline use only). Returns `(node name, operator, median ms)` in plan order.
    pub fn profile_nodes(&mut self, inputs: &[&[f32]], iters: usize) -> Result<Vec<(String, String, f64)>, ModelError> {
        let mut times: Vec<Vec<f64>> = Vec::new();
        let mut names: Vec<(String, String)> = Vec::new();
        for _ in 0..iters.max(1) {
            let tensors = self.input_tensors(inputs)?;
            let mut k = 0;
            self.state
                .run_plan_with_eval(tensors, |ctx, state, node, input| {
                    let start = std::time::Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, state, node, input);
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    if k == times.len() {
                        times.push(Vec::new());
                        names.push((node.name.clone(), node.op().name().to_string()));
                    }
                    times[k].push(ms);
                    k += 1;
                    out
                })
                .map_err(run_err)?;
        }
        Ok(names
            .into_iter()
            .zip(times)
            .map(|((name, op), mut t)| {
                t.sort_by(f64::total_cmp);
                (name, op, t[t.len() / 2])
            })
            .collect())
    }

    /// Convenience for tests and offline tools: runs with owned output buffers.
    pub fn run_vec(&mut self, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut outs: Vec<Vec<f32>> = self.card.outputs.iter().map(|s| vec![0.0; s.len()]).collect();
        let mut views: Vec<&mut [f32]> = outs.iter_mut().map(|v| v.as_mut_slice()).collect();
        self.run(inputs, &mut views)?;
        Ok(outs)
    }
}

fn prep(e: impl std::fmt::Display) -> ModelError {
    ModelError::Prepare(e.to_string())
}

fn run_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Run(e.to_string())
}

fn mismatch(what: &str, expected: impl ToString, found: impl ToString) -> ModelError {
    ModelError::ShapeMismatch { what: what.to_string(), expected: expected.to_string(), found: found.to_string() }
}
