//! The Melody Generator's measure VAE (`xtask/python/mirsuite/models/melody/`): training, export
//! and `cargo xtask eval melody`, which scores the shipped model folder's two graphs (ONNX
//! Runtime, one measure per call, as the plugin's worker runs them) on the held-out test tunes:
//! the AR-VAE paper's reconstruction, interpretability and MIG, the slider test, and an MGEval
//! table of generated against held-out measures (`mirsuite.models.melody.evaluate`).

use std::path::Path;

use anyhow::Result;

use super::ModelTools;
use crate::eval::EvalOptions;
use crate::python;

/// The melody model's tooling.
pub struct Melody;

impl ModelTools for Melody {
    fn name(&self) -> &'static str {
        "melody"
    }

    fn eval(&self, root: &Path, opts: &EvalOptions) -> Result<()> {
        let mut cmd = python::module(root, "models.melody.evaluate")?;
        cmd.arg("--model-dir").arg(&opts.model_dir).arg("--data").arg(&opts.data).arg("--json").arg(&opts.json);
        if opts.update_card {
            cmd.arg("--update-card");
        }
        python::run(cmd, "mirsuite.models.melody.evaluate")
    }
}
