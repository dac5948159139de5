//! The Rust log-mel equals the Python mirror (`mirsuite.features`) on the same audio.

use dsp_core::features::{LogMel, MelConfig};

#[derive(serde::Deserialize)]
struct Golden {
    logmel: Vec<Vec<f32>>,
}

/// The signal `mirsuite.features.parity_signal` makes, computed the same way.
fn parity_signal(sr: u32, seconds: f64) -> Vec<f32> {
    let n = (sr as f64 * seconds) as usize;
    let pi = std::f64::consts::PI;
    let mut x: Vec<f32> = (0..n as u64)
        .map(|i| {
            let t = i as f64 / sr as f64;
            let h = (i.wrapping_mul(2_654_435_761)) % (1u64 << 32);
            let noise = h as f64 / (1u64 << 32) as f64 - 0.5;
            (0.3 * (2.0 * pi * 440.0 * t).sin() + 0.2 * (2.0 * pi * (100.0 + 1500.0 * t) * t).sin() + 0.05 * noise)
                as f32
        })
        .collect();
    x[(1.5 * sr as f64) as usize..(2.0 * sr as f64) as usize].fill(0.0);
    x
}

#[test]
fn rust_logmel_matches_python_within_1e_4() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/features/logmel_golden.json");
    let golden: Golden = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cfg = MelConfig { sample_rate: 22_050, n_fft: 1024, hop: 512, n_mels: 64, fmin: 30.0, fmax: 11_025.0 };
    let ours = LogMel::compute(cfg, &parity_signal(22_050, 3.0)).unwrap();
    assert_eq!(ours.len(), golden.logmel.len());
    let mut max = 0.0f32;
    for (a, b) in ours.iter().zip(&golden.logmel) {
        for (x, y) in a.iter().zip(b) {
            max = max.max((x - y).abs());
        }
    }
    assert!(max <= 1e-4, "max abs diff {max:e} dB");
    // The fixture covers real content and the silent floor.
    assert!(golden.logmel.iter().flatten().any(|v| *v > 0.0));
    assert!(golden.logmel.iter().flatten().any(|v| *v == -100.0));
}
