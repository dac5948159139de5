//! Every shipped model (`models/<name>/`) runs in tract exactly as PyTorch computed it at export:
//! the committed golden inputs give the committed golden outputs within 1e-4.

use std::path::PathBuf;

use dsp_core::ModelCard;
use suite_tests::root;

fn shipped_models() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("models"))
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.join("model.onnx").is_file()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[test]
fn tract_matches_the_pytorch_export_on_golden_inputs() {
    let models = shipped_models();
    assert!(!models.is_empty(), "no shipped models under models/");
    for dir in models {
        let diff = xtask::golden::check_golden(&dir).unwrap();
        assert!(diff <= 1e-4, "{}: {diff:e}", dir.display());
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
