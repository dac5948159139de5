//! The separator task: its features mirror the Python training code, its output is aligned
//! with its reported latency, the gate silences what it closes, and bad cards are refused.

use std::sync::atomic::Ordering;

use dsp_core::stft::{StftConfig, StreamingStft, Window};
use dsp_core::{Model, ModelCard, ModelSource, Task};
use realfft::num_complex::Complex32;
use separator_model::{run_offline, Controls, SeparatorFields, SeparatorTask, CARD, MODEL};

fn task() -> (SeparatorTask, std::sync::Arc<Controls>) {
    let card = ModelCard::from_json(CARD).unwrap();
    let fields = SeparatorFields::from_card(&card).unwrap();
    let controls = Controls::new(&card, &fields);
    let model = Model::load(&ModelSource::Embedded(MODEL), card).unwrap();
    (SeparatorTask::new(model, controls.clone()).unwrap(), controls)
}

/// A clicky, tonal stereo test signal: an impulse train over two sines.
fn signal(n: usize) -> [Vec<f32>; 2] {
    let mut l = vec![0.0f32; n];
    for (i, x) in l.iter_mut().enumerate() {
        let t = i as f32 / 44100.0;
        *x =
            0.2 * (2.0 * std::f32::consts::PI * 110.0 * t).sin() + 0.1 * (2.0 * std::f32::consts::PI * 660.0 * t).sin();
        if i % 11025 == 3000 {
            *x += 0.8;
        }
    }
    let r = l.iter().map(|x| 0.9 * x).collect();
    [l, r]
}

#[test]
fn stft_magnitudes_mirror_the_python_features() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/golden.json")).unwrap())
            .unwrap();
    let sig: Vec<f32> = serde_json::from_value(golden["stft"]["signal"].clone()).unwrap();
    let want: Vec<f32> = serde_json::from_value(golden["stft"]["magnitude"].clone()).unwrap();
    let card = ModelCard::from_json(CARD).unwrap();
    let cfg = StftConfig { size: card.frame_size, hop: card.hop_size, window: Window::Hann };
    let mut s = StreamingStft::new(cfg).unwrap();
    let mut spec = vec![Complex32::default(); cfg.bins()];
    let scale = want.iter().cloned().fold(0.0f32, f32::max);
    let mut worst = 0.0f32;
    for (t, hop) in sig.chunks(cfg.hop).enumerate() {
        s.push_hop(hop, &mut spec);
        for (k, c) in spec.iter().enumerate() {
            worst = worst.max((c.norm() - want[t * cfg.bins() + k]).abs());
        }
    }
    // f32 FFT against NumPy's f64: relative to the largest magnitude.
    assert!(worst / scale.max(1e-9) < 1e-5, "max diff {worst} of {scale}");
}

#[test]
fn stems_are_aligned_with_the_reported_latency_and_finite() {
    let (mut t, _) = task();
    let x = signal(44100 * 2);
    let (out, results) = run_offline(&mut t, [&x[0], &x[1]]);
    assert_eq!(out.len(), 8);
    assert!(out.iter().flatten().all(|v| v.is_finite()));
    assert!(!results.is_empty() && results.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    // The stems' sum is the input's own signal (masks sum to at most one), so its correlation
    // with the input peaks at lag 0 once the latency is removed.
    let sum: Vec<f32> = (0..x[0].len()).map(|i| (0..4).map(|s| out[2 * s][i]).sum()).collect();
    let corr = |lag: i64| -> f64 {
        (4096..x[0].len() - 4096).map(|i| sum[i] as f64 * x[0][(i as i64 + lag) as usize] as f64).sum()
    };
    let best = (-600i64..=600).max_by(|a, b| corr(*a).total_cmp(&corr(*b))).unwrap();
    assert_eq!(best, 0, "stems lag the input by {best} samples beyond the reported latency");
}

#[test]
fn a_closed_gate_silences_its_stem_and_the_open_path_keeps_the_masks() {
    let (mut t, controls) = task();
    let x = signal(44100);
    for th in &controls.thresholds {
        th.store(1.0, Ordering::Relaxed);
    }
    // A probability reaches 1.0 in f32 only for logits above ~17: every gate stays closed.
    let (out, results) = run_offline(&mut t, [&x[0], &x[1]]);
    assert!(results.iter().all(|r| r[5..].iter().all(|g| *g == 0.0)), "a gate opened at threshold 1");
    assert!(out.iter().flatten().all(|v| *v == 0.0), "a closed gate leaked");
    controls.gate.store(false, Ordering::Relaxed);
    let (open, results) = run_offline(&mut t, [&x[0], &x[1]]);
    assert!(results.iter().all(|r| r[5..].iter().all(|g| *g == 1.0)));
    let energy: f64 = open.iter().flatten().map(|v| (*v as f64).powi(2)).sum();
    assert!(energy > 0.0);
}

#[test]
fn shutting_other_hands_its_share_to_the_open_stems() {
    let (mut t, controls) = task();
    let x = signal(44100 * 2);
    let other_energy = |out: &[Vec<f32>]| -> f64 {
        (4096..x[0].len() - 4096)
            .map(|i| (x[0][i] - (0..4).map(|s| out[2 * s][i]).sum::<f32>()) as f64)
            .map(|v| v * v)
            .sum()
    };
    controls.gate.store(false, Ordering::Relaxed);
    let (ungated, _) = run_offline(&mut t, [&x[0], &x[1]]);
    controls.gate.store(true, Ordering::Relaxed);
    let n = controls.thresholds.len();
    for (s, th) in controls.thresholds.iter().enumerate() {
        // Stems always open (p >= 0), "other" never (p < 1 in f32 for any sane logit).
        th.store(if s + 1 == n { 1.0 } else { 0.0 }, Ordering::Relaxed);
    }
    let (out, results) = run_offline(&mut t, [&x[0], &x[1]]);
    // (The first frames' median windows reach back before the stream, where nothing is active.)
    let settled = &results[t.fields().median_max..];
    assert!(settled.iter().all(|r| r[n..2 * n - 1].iter().all(|g| *g == 1.0) && r[2 * n - 1] == 0.0));
    let (before, after) = (other_energy(&ungated), other_energy(&out));
    assert!(after < 0.5 * before, "\"other\" kept {after:.3e} of {before:.3e} with its gate shut");
    assert!(out.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn cards_that_do_not_fit_the_task_are_refused_by_name() {
    let card = ModelCard::from_json(CARD).unwrap();
    let mut c = card.clone();
    c.extra.remove("state_len");
    assert!(SeparatorFields::from_card(&c).unwrap_err().to_string().contains("state_len"));
    let mut c = card.clone();
    c.extra.insert("median_max".into(), serde_json::json!(6));
    assert!(SeparatorFields::from_card(&c).unwrap_err().to_string().contains("median"));
    let mut c = card.clone();
    c.outputs[0].shape = vec![1, 3, 1025];
    assert!(SeparatorFields::from_card(&c).unwrap_err().to_string().contains("outputs"));
    let mut c = card.clone();
    c.extra.insert("sources".into(), serde_json::json!(["drums", "bass"]));
    assert!(SeparatorFields::from_card(&c).unwrap_err().to_string().contains("sources"));
    let mut c = card.clone();
    c.thresholds.pop();
    assert!(SeparatorFields::from_card(&c).unwrap_err().to_string().contains("thresholds"));
    let mut c = card;
    c.extra.insert("threshold_tuning".into(), serde_json::json!({"other_floor": 0.0}));
    assert!(SeparatorFields::from_card(&c).unwrap_err().to_string().contains("other_floor"));
}

#[test]
fn the_task_reports_the_stft_lookahead_and_median_latency() {
    let (t, _) = task();
    let f = t.fields().clone();
    assert_eq!(t.latency(), 2048 - 512 + (f.lookahead_frames + f.median_max / 2) * 512);
    assert_eq!((t.in_channels(), t.out_channels(), t.hop()), (2, 8, 512));
}
