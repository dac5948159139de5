//! tract against the golden PyTorch outputs `cargo xtask export melody` wrote (`golden.json`):
//! the latent means and the decoder's logits within 1e-4, the decoded tokens identical, and the
//! Rust attributes equal to Python's on 512 held-out measures.

use melody_model::{attributes, MelodyCard, MelodyModel, TICKS, VOCAB};
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn golden() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden.json")).expect("golden json")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number") as f32).collect()
}

fn measure(v: &Value) -> [u8; TICKS] {
    let mut t = [0u8; TICKS];
    for (o, x) in t.iter_mut().zip(v.as_array().expect("tokens")) {
        *o = x.as_u64().expect("token") as u8;
    }
    t
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn encoder_matches_pytorch() {
    let g = golden();
    let mut model = MelodyModel::builtin().expect("built-in model");
    let cases = g["encoder"].as_array().expect("encoder cases");
    assert!(!cases.is_empty());
    for case in cases {
        let z = model.encode(&measure(&case["tokens"])).expect("encode").to_vec();
        let d = max_diff(&z, &floats(&case["z"]));
        assert!(d <= TOLERANCE, "latent differs by {d}");
    }
}

#[test]
fn decoder_matches_pytorch_greedy_and_sampled() {
    let g = golden();
    let mut model = MelodyModel::builtin().expect("built-in model");
    let cases = g["decoder"].as_array().expect("decoder cases");
    assert!(cases.len() >= 2);
    let mut sampled = 0;
    for case in cases {
        let noise = floats(&case["noise"]);
        assert_eq!(noise.len(), TICKS * VOCAB);
        sampled += noise.iter().any(|&x| x != 0.0) as usize;
        let mut tokens = [0u8; TICKS];
        let logits = model
            .decode(&floats(&case["z"]), &noise, case["temperature"].as_f64().unwrap() as f32, &mut tokens)
            .expect("decode")
            .to_vec();
        assert_eq!(tokens, measure(&case["tokens"]), "decoded tokens differ");
        let d = max_diff(&logits, &floats(&case["logits"]));
        assert!(d <= TOLERANCE, "logits differ by {d}");
    }
    assert!(sampled > 0 && sampled < cases.len(), "golden cases cover greedy and sampled decoding");
}

#[test]
fn attributes_mirror_python() {
    let g = golden();
    let toks = g["attributes"]["tokens"].as_array().expect("tokens");
    let vals = g["attributes"]["values"].as_array().expect("values");
    assert!(toks.len() >= 100);
    for (t, v) in toks.iter().zip(vals) {
        let a = attributes(&measure(t));
        let d = max_diff(&a, &floats(v));
        assert!(d <= 1e-6, "attributes {a:?} vs {v}");
    }
}

#[test]
fn card_sliders_and_garbage() {
    let model = MelodyModel::builtin().expect("built-in model");
    for (k, name) in melody_model::ATTRIBUTES.iter().enumerate() {
        let a = &model.card().attributes[*name];
        assert_eq!(a.dim, k);
        assert!(a.slider_range[0] < a.slider_range[1], "{name}: {:?}", a.slider_range);
    }
    let dir = std::env::temp_dir().join(format!("melody-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("card.json"), melody_model::CARD).unwrap();
    std::fs::write(dir.join("encoder.onnx"), b"not an onnx file").unwrap();
    std::fs::write(dir.join("decoder.onnx"), melody_model::DECODER).unwrap();
    let err = MelodyModel::from_dir(&dir).err().expect("a corrupt encoder is an error");
    assert!(!err.to_string().is_empty());
    std::fs::write(dir.join("card.json"), "{ garbage").unwrap();
    assert!(MelodyModel::from_dir(&dir).is_err());
    // Valid JSON, wrong content: a missing attribute, an idea of the wrong size.
    let mut card = serde_json::from_str::<Value>(melody_model::CARD).unwrap();
    card["attributes"].as_object_mut().unwrap().remove("contour");
    let err = MelodyCard::from_json(&card.to_string()).expect_err("a card without contour is an error");
    assert!(err.to_string().contains("contour"), "{err}");
    let mut card = serde_json::from_str::<Value>(melody_model::CARD).unwrap();
    card["ideas"] = serde_json::json!([[0.0, 1.0]]);
    let err = MelodyCard::from_json(&card.to_string()).expect_err("a short idea is an error");
    assert!(err.to_string().contains("idea 0"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
