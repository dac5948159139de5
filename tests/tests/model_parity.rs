//! Every shipped model (`models/<name>/`) runs in tract exactly as PyTorch computed it at export:
//! the committed golden inputs give the committed golden outputs within 1e-4.

use std::path::PathBuf;

use dsp_core::{Model, ModelCard};
use suite_tests::root;

#[derive(serde::Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
}

fn shipped_models() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("models"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("model.onnx").is_file()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[test]
fn tract_matches_the_pytorch_export_on_golden_inputs() {
    for dir in shipped_models() {
        let card = ModelCard::from_path(dir.join("card.json")).unwrap();
        let golden: Golden = serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).unwrap()).unwrap();
        assert!(!golden.cases.is_empty(), "{}: no golden cases", dir.display());
        let mut model = Model::from_path(dir.join("model.onnx"), card).unwrap();
        for (i, case) in golden.cases.iter().enumerate() {
            let inputs: Vec<&[f32]> = case.inputs.iter().map(|v| v.as_slice()).collect();
            let outs = model.run_vec(&inputs).unwrap();
            for (o, want) in outs.iter().zip(&case.outputs) {
                let max = o.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(max <= 1e-4, "{} case {i}: max abs diff {max:e}", dir.display());
            }
        }
    }
}

#[test]
fn every_shipped_model_has_a_complete_card() {
    for dir in shipped_models() {
        let card = ModelCard::from_path(dir.join("card.json")).unwrap();
        assert!(!card.classes.is_empty() && card.thresholds.len() == card.classes.len(), "{}", dir.display());
        for key in ["data", "metrics", "training", "license"] {
            assert!(card.extra.contains_key(key), "{}: card lacks {key}", dir.display());
        }
        assert!(dir.join("README.md").is_file(), "{}: no README.md", dir.display());
    }
}
