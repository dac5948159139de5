//! The second export check (the first is PyTorch against ONNX Runtime at export time): tract
//! must reproduce the golden outputs the export wrote, for any model folder.

use std::path::Path;

use anyhow::{bail, Context, Result};
use dsp_core::{Model, ModelCard};

/// Largest difference tract may show against the export's golden outputs.
pub const TOLERANCE: f32 = 1e-4;

/// Checks that tract reproduces `model_dir/golden.json` (max abs diff ≤ [`TOLERANCE`]) before
/// any number is computed with the model. Returns the largest difference.
pub fn check_golden(model_dir: &Path) -> Result<f32> {
    let card = ModelCard::from_path(model_dir.join("card.json"))?;
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(model_dir.join("golden.json"))
            .with_context(|| format!("no golden.json in {}", model_dir.display()))?,
    )?;
    let mut model = Model::from_path(model_dir.join("model.onnx"), card)?;
    let mut worst = 0.0f32;
    for case in golden["cases"].as_array().context("golden.json has no cases")? {
        let inputs: Vec<Vec<f32>> = serde_json::from_value(case["inputs"].clone())?;
        let want: Vec<Vec<f32>> = serde_json::from_value(case["outputs"].clone())?;
        let views: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
        for (o, w) in model.run_vec(&views)?.iter().zip(&want) {
            worst = o.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
        }
    }
    if worst > TOLERANCE {
        bail!(
            "tract differs from the exported golden outputs by {worst:e} (> {TOLERANCE:e}) in {}",
            model_dir.display()
        );
    }
    Ok(worst)
}

/// The first golden case's inputs (a real input for timing a model).
pub fn first_inputs(model_dir: &Path, card: &ModelCard) -> Result<Vec<Vec<f32>>> {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model_dir.join("golden.json")).context("golden.json")?)?;
    let inputs: Vec<Vec<f32>> = serde_json::from_value(golden["cases"][0]["inputs"].clone())?;
    anyhow::ensure!(inputs.len() == card.inputs.len(), "golden inputs do not match the card");
    Ok(inputs)
}
