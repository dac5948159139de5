//! STFT → ISTFT reconstruction for every supported configuration.

mod common;

use common::Noise;
use dsp_core::stft::{istft, stft, OverlapAdd, StftConfig, StreamingStft, Window};
use dsp_core::StftError;
use realfft::num_complex::Complex32;

/// Every configuration the suite supports: sizes 256–8192 with the hops each window allows.
fn supported() -> Vec<StftConfig> {
    let mut v = Vec::new();
    for size in [256, 512, 1024, 2048, 4096, 8192] {
        for (window, divs) in [
            (Window::Hann, &[4usize, 8][..]),
            (Window::Hamming, &[4, 8][..]),
            (Window::SqrtHann, &[2, 4, 8][..]),
            (Window::Rect, &[1, 2, 4][..]),
        ] {
            for d in divs {
                v.push(StftConfig { size, hop: size / d, window });
            }
        }
    }
    v
}

#[test]
fn reconstruction_error_is_below_1e_5_for_every_supported_configuration() {
    let mut noise = Noise(0x5eed);
    for cfg in supported() {
        let n = cfg.size * 6 + cfg.hop / 2 + 7;
        let x = noise.signal(n);
        let y = istft(&stft(&x, cfg).unwrap(), cfg).unwrap();
        let lat = cfg.latency();
        // Every sample that has been covered by all its frames is exact.
        let mut max_err = 0.0f32;
        for t in 0..n.saturating_sub(cfg.size) {
            max_err = max_err.max((y[t + lat] - x[t]).abs());
        }
        assert!(max_err <= 1e-5, "{cfg:?}: max error {max_err:e}");
    }
}

#[test]
fn streaming_matches_offline_and_latency_is_size_minus_hop() {
    let cfg = StftConfig { size: 1024, hop: 256, window: Window::Hann };
    let mut noise = Noise(7);
    let x = noise.signal(cfg.hop * 20);
    let offline = stft(&x, cfg).unwrap();
    let mut a = StreamingStft::new(cfg).unwrap();
    let mut s = OverlapAdd::new(cfg).unwrap();
    let mut spec = vec![Complex32::default(); cfg.bins()];
    let mut y = vec![0.0; x.len()];
    for (t, hop) in x.chunks(cfg.hop).enumerate() {
        a.push_hop(hop, &mut spec);
        assert_eq!(spec, offline[t], "frame {t}");
        s.push_frame(&spec, &mut y[t * cfg.hop..(t + 1) * cfg.hop]);
    }
    // An impulse comes out exactly `size - hop` samples later.
    let mut imp = vec![0.0; cfg.hop * 12];
    imp[300] = 1.0;
    let out = istft(&stft(&imp, cfg).unwrap(), cfg).unwrap();
    let peak = out.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
    assert_eq!(peak, 300 + cfg.latency());
}

#[test]
fn configurations_that_cannot_reconstruct_are_refused() {
    let bad = StftConfig { size: 1024, hop: 512, window: Window::Hann };
    assert!(matches!(stft(&[0.0; 10], bad), Err(StftError::NotCola { .. })));
    let bad = StftConfig { size: 1024, hop: 0, window: Window::Hann };
    assert!(matches!(stft(&[0.0; 10], bad), Err(StftError::InvalidSize { .. })));
    let bad = StftConfig { size: 512, hop: 1024, window: Window::Rect };
    assert!(matches!(stft(&[0.0; 10], bad), Err(StftError::InvalidSize { .. })));
}
