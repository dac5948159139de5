//! Loading, parity with the Python export, and typed errors for bad models.

mod common;

use common::{tiny_card, tiny_dir, tiny_model};
use dsp_core::{Model, ModelError, ModelSource};

#[derive(serde::Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
}

#[test]
fn tract_matches_onnx_runtime_golden_outputs() {
    let golden: Golden =
        serde_json::from_str(&std::fs::read_to_string(tiny_dir().join("golden.json")).unwrap()).unwrap();
    let mut model = tiny_model();
    assert!(!golden.cases.is_empty());
    for (i, case) in golden.cases.iter().enumerate() {
        let inputs: Vec<&[f32]> = case.inputs.iter().map(|v| v.as_slice()).collect();
        let outs = model.run_vec(&inputs).unwrap();
        for (o, want) in outs.iter().zip(&case.outputs) {
            let max = o.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(max <= 1e-4, "case {i}: max abs diff {max:e}");
        }
    }
}

#[test]
fn embedded_bytes_and_file_give_the_same_model() {
    let bytes: &'static [u8] = Box::leak(std::fs::read(tiny_dir().join("model.onnx")).unwrap().into_boxed_slice());
    let mut a = Model::load(&ModelSource::Embedded(bytes), tiny_card()).unwrap();
    let mut b = Model::load(&ModelSource::File(tiny_dir().join("model.onnx")), tiny_card()).unwrap();
    let x = vec![0.5f32; 129 * 4];
    assert_eq!(a.run_vec(&[&x]).unwrap(), b.run_vec(&[&x]).unwrap());
    let mut c = a.fork().unwrap();
    assert_eq!(c.run_vec(&[&x]).unwrap(), b.run_vec(&[&x]).unwrap());
}

#[test]
fn missing_file_is_a_typed_error() {
    let err = Model::from_path(tiny_dir().join("does-not-exist.onnx"), tiny_card()).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
}

#[test]
fn corrupt_bytes_are_a_typed_error() {
    let bytes = std::fs::read(tiny_dir().join("model.onnx")).unwrap();
    for cut in [0, 1, 17, bytes.len() / 2, bytes.len() - 3] {
        let err = Model::from_bytes(&bytes[..cut], tiny_card()).unwrap_err();
        assert!(
            matches!(err, ModelError::Parse(_) | ModelError::Prepare(_) | ModelError::ShapeMismatch { .. }),
            "cut {cut}: {err}"
        );
    }
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    assert!(Model::from_bytes(&garbage, tiny_card()).is_err());
}

#[test]
fn shapes_that_disagree_with_the_card_are_typed_errors() {
    // Output shape declared differently from what the model computes.
    let mut card = tiny_card();
    card.outputs[0].shape = vec![1, 129, 5];
    let err = Model::from_path(tiny_dir().join("model.onnx"), card).unwrap_err();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");

    // Input shape the graph cannot accept (the conv expects 129 channels).
    let mut card = tiny_card();
    card.inputs[0].shape = vec![1, 64, 4];
    card.outputs[0].shape = vec![1, 64, 4];
    let err = Model::from_path(tiny_dir().join("model.onnx"), card).unwrap_err();
    assert!(matches!(err, ModelError::Prepare(_) | ModelError::ShapeMismatch { .. }), "{err}");

    // Wrong number of tensors.
    let mut card = tiny_card();
    card.inputs.push(card.inputs[0].clone());
    let err = Model::from_path(tiny_dir().join("model.onnx"), card).unwrap_err();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");

    // Run-time input of the wrong length.
    let mut model = tiny_model();
    let err = model.run_vec(&[&[0.0; 10]]).unwrap_err();
    assert!(matches!(err, ModelError::Run(_)), "{err}");
}

#[test]
fn node_profile_covers_the_plan_and_leaves_results_unchanged() {
    let mut model = tiny_model();
    let x = vec![0.25f32; 129 * 4];
    let before = model.run_vec(&[&x]).unwrap();
    let nodes = model.profile_nodes(&[&x], 5).unwrap();
    assert!(nodes.len() >= 2, "expected the plan's nodes, got {nodes:?}");
    assert!(nodes.iter().all(|(name, op, ms)| !name.is_empty() && !op.is_empty() && ms.is_finite() && *ms >= 0.0));
    // The same plan keeps running normally afterwards.
    assert_eq!(model.run_vec(&[&x]).unwrap(), before);
}
