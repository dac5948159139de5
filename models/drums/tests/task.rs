//! The drum task: its features and post-processing mirror the Python training code (the export's
//! golden data), it decides one frame per hop at its reported latency, and bad cards are refused.

use drums_model::{class_activations, frame_of, sparsemax, DrumFields, DrumTask, Picker, Post, CARD, MODEL};
use dsp_core::features::LogMel;
use dsp_core::{Model, ModelCard, ModelSource, Task};

fn golden() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/golden.json")).unwrap())
        .unwrap()
}

fn fields() -> (ModelCard, DrumFields) {
    let card = ModelCard::from_json(CARD).unwrap();
    let f = DrumFields::from_card(&card).unwrap();
    (card, f)
}

#[test]
fn log_mel_frames_mirror_the_python_features() {
    let g = golden();
    let sig: Vec<f32> = serde_json::from_value(g["logmel"]["signal"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(g["logmel"]["frames"].clone()).unwrap();
    let (card, f) = fields();
    let cfg = f.mel(&card);
    let mut mel = LogMel::new(cfg).unwrap();
    let mut out = vec![0.0; cfg.n_mels];
    let mut worst = 0.0f32;
    for (t, hop) in sig.chunks(cfg.hop).enumerate() {
        mel.push_hop(hop, &mut out);
        for (m, v) in out.iter().enumerate() {
            worst = worst.max((v - want[t * cfg.n_mels + m]).abs());
        }
    }
    assert!(worst < 1e-3, "log-mel differs from the Python mirror by {worst} dB");
}

#[test]
fn sparsemax_projects_onto_the_simplex() {
    let mut z = [2.0, 1.0, -1.0, 0.5];
    sparsemax(&mut z);
    assert!((z.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert_eq!(z, [1.0, 0.0, 0.0, 0.0]);
    let mut u = [0.3, 0.3, 0.3];
    sparsemax(&mut u);
    assert!(u.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-6), "{u:?}");
}

#[test]
fn post_processing_and_picker_reproduce_the_python_activations_and_onsets() {
    let g = golden();
    let (card, f) = fields();
    let k = f.components.len();
    let logits: Vec<f32> = serde_json::from_value(g["post"]["logits"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(g["post"]["activations"].clone()).unwrap();
    let n = g["post"]["frames"].as_u64().unwrap() as usize;
    let la = f.lookahead_frames;
    let h = f.sparse_half;
    let mut post = Post::new(&f);
    let mut picker = Picker::new(&f, card.classes.len());
    let mut act = vec![0.0; k];
    let mut got = vec![0.0f32; n * k];
    let mut onsets: Vec<Vec<usize>> = vec![Vec::new(); card.classes.len()];
    let mut strength = vec![0.0; card.classes.len()];
    // Frame-aligned logits start LOOKAHEAD output frames in; the Python side padded the end.
    for (fr, row) in logits.chunks(k + 1).skip(la).enumerate() {
        post.push(row, &mut act);
        if fr < h || fr - h >= n {
            continue;
        }
        got[(fr - h) * k..(fr - h + 1) * k].copy_from_slice(&act);
        let mut cls = vec![0.0f32; card.classes.len()];
        class_activations(&act, &f.component_class, &mut cls);
        if let Some(t) = picker.push(&cls, &card.thresholds, &mut strength) {
            for (c, s) in strength.iter().enumerate() {
                if *s > 0.0 && t + 1 < n {
                    onsets[c].push(t);
                }
            }
        }
    }
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "activations differ from PyTorch's by {worst}");
    for (c, name) in card.classes.iter().enumerate() {
        let want: Vec<usize> = serde_json::from_value(g["post"]["onsets"][name].clone()).unwrap();
        assert_eq!(onsets[c], want, "{name} onsets");
    }
}

#[test]
fn one_frame_is_decided_per_hop_at_the_reported_latency() {
    let (card, _) = fields();
    let model = Model::load(&ModelSource::Embedded(MODEL), card.clone()).unwrap();
    let mut task = DrumTask::new(model, 2).unwrap();
    let hop = task.hop();
    assert_eq!(task.latency(), (task.decision_frames() + 1) * hop);
    let mut result = vec![0.0; task.result_len()];
    let x: Vec<f32> = (0..hop).map(|i| ((i * 7919) % 200) as f32 / 1000.0 - 0.1).collect();
    let mut frames = Vec::new();
    for j in 0..40 {
        if task.process(&[&x, &x], &mut [], &mut result).unwrap() {
            // The hop j that decides frame t ends (t + decision_frames + 1) hops after t starts.
            assert_eq!(frame_of(&result) + task.decision_frames(), j, "hop {j}");
            assert!(result[2..].iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
            frames.push(frame_of(&result));
        }
    }
    assert_eq!(frames, (0..frames.len()).collect::<Vec<_>>());
    assert_eq!(frames.len(), 40 - task.decision_frames());
    task.reset();
    for _ in 0..task.decision_frames() {
        assert!(!task.process(&[&x, &x], &mut [], &mut result).unwrap(), "nothing decided right after a reset");
    }
}

#[test]
fn bad_cards_are_refused() {
    let good: serde_json::Value = serde_json::from_str(CARD).unwrap();
    for (key, value) in [
        ("component_class", serde_json::json!([0, 1, 2])),
        ("component_gain", serde_json::json!([1.0])),
        ("default_keys", serde_json::json!([36])),
        ("state_len", serde_json::json!(3)),
        ("picker", serde_json::json!({"floor": 0.001, "gap_frames": 4, "decay_per_frame": 0.0})),
        ("onset_offset_ms", serde_json::json!([1.0, 2.0])),
        ("onset_offset_ms", serde_json::json!([1.0, 2.0, 90.0, 0.0, 0.0])),
    ] {
        let mut c = good.clone();
        c[key] = value;
        let card = ModelCard::from_json(&c.to_string()).unwrap();
        assert!(DrumFields::from_card(&card).is_err(), "{key} accepted");
    }
    let mut c = good.clone();
    c["thresholds"] = serde_json::json!([0.3]);
    assert!(ModelCard::from_json(&c.to_string()).map_or(true, |card| DrumFields::from_card(&card).is_err()));
}

#[test]
fn timing_compensation_moves_late_classes_earlier_within_an_extra_latency() {
    let mut f = DrumFields::from_card(&ModelCard::from_json(CARD).unwrap()).unwrap();
    f.onset_offset_ms = vec![2.0, 4.0, -1.0, 0.0, 0.0];
    let (add, extra) = f.timing_compensation(5, 48_000.0);
    assert_eq!(extra, 192, "the latest class (4 ms) sets the extra latency");
    assert_eq!(add, [96, 0, 240, 192, 192]);
    f.onset_offset_ms.clear();
    assert_eq!(f.timing_compensation(5, 48_000.0), (vec![0; 5], 0));
}
