//! The Stem Separator binary in the CLAP host: five stereo stem outputs that sum to the input
//! (delayed by the reported latency, which is the measured one), a main remix that follows the
//! gains, identical offline bounces whatever the block sizes, state restore, finite output
//! for garbage input, and a broken model folder that leaves a plugin passing audio. Debug
//! build with nice-plug's allocation guard: an allocation inside `process()` aborts the test.

use suite_tests::{plugin_library, state_with_field};
use xtask::audio::Audio;
use xtask::host::{Mode, PluginHost, RenderOptions};

const RATE: u32 = 44_100;

fn plugin() -> PluginHost {
    PluginHost::load(&plugin_library("stem-separator"), None).expect("stem separator loads")
}

/// Two seconds of a clicky, tonal stereo signal with some noise.
fn music(frames: usize) -> Audio {
    let n = suite_tests::noise(frames, 0.05, 11);
    let l: Vec<f32> = (0..frames)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let click = if i % 11_025 < 200 { 0.6 * (-((i % 11_025) as f32) / 40.0).exp() } else { 0.0 };
            0.25 * (2.0 * std::f32::consts::PI * 98.0 * t).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 523.0 * t).sin()
                + click
                + n[i]
        })
        .collect();
    let r = l.iter().enumerate().map(|(i, x)| 0.8 * x + 0.3 * n[(i + 77) % frames]).collect();
    Audio { sample_rate: RATE, channels: vec![l, r] }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn five_stem_outputs_sum_to_the_input_at_the_reported_latency() {
    let mut host = plugin();
    let d = host.description().clone();
    let names: Vec<&str> = d.outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names[1..], ["Drums", "Bass", "Piano", "Guitar", "Other"], "{d:?}");
    assert!(d.outputs.iter().all(|(_, ch)| *ch == 2));
    let input = music(3 * RATE as usize);
    for rate_input in [input.clone(), resampled(&input, 48_000)] {
        let r = host.render(&rate_input, &RenderOptions { block: 480, ..Default::default() }).unwrap();
        assert!(r.latency > 0);
        let ms = r.latency as f64 * 1000.0 / rate_input.sample_rate as f64;
        assert!(ms <= 150.0, "latency {ms:.1} ms");
        for c in 0..2 {
            let sum: Vec<f32> =
                (0..rate_input.frames()).map(|i| r.outputs[1..].iter().map(|(_, a)| a.channels[c][i]).sum()).collect();
            let x = &rate_input.channels[c];
            assert!(max_diff(&sum, x) <= 1e-4, "stems sum to the input within 1e-4: {}", max_diff(&sum, x));
            assert!(max_diff(&r.outputs[0].1.channels[c], x) <= 1e-4, "the remix at 0 dB is the input");
        }
        // Some of the signal is separated into stems (not all left in "other").
        let stems: f64 =
            r.outputs[1..5].iter().flat_map(|(_, a)| a.channels.iter().flatten()).map(|v| (*v as f64).powi(2)).sum();
        assert!(stems > 1.0, "stems carry energy: {stems}");
    }
}

fn resampled(a: &Audio, rate: u32) -> Audio {
    let ch = dsp_core::resample::resample_offline(&a.channels, a.sample_rate, rate).unwrap();
    Audio { sample_rate: rate, channels: ch }
}

#[test]
fn an_impulse_comes_out_of_the_stems_at_the_reported_latency() {
    let mut host = plugin();
    host.set_param("Activity gate", "Off").unwrap();
    let mut x = vec![0.0f32; RATE as usize];
    x[20_000] = 0.9;
    let input = Audio { sample_rate: RATE, channels: vec![x.clone(), x] };
    let r = host
        .render(&input, &RenderOptions { compensate_latency: false, tail_seconds: 0.5, ..Default::default() })
        .unwrap();
    // The stems (no "other"): masks are zero-phase, so the separated click peaks where the
    // reported latency says.
    let sum: Vec<f32> =
        (0..r.outputs[1].1.frames()).map(|i| r.outputs[1..5].iter().map(|(_, a)| a.channels[0][i]).sum()).collect();
    let peak = sum.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map(|(i, _)| i).unwrap();
    assert!(sum[peak].abs() > 0.05, "the stems carry the click ({})", sum[peak]);
    assert_eq!(peak as i64 - 20_000, r.latency as i64, "measured latency = reported latency");
}

#[test]
fn gains_mute_and_solo_shape_the_remix_and_bounces_are_identical() {
    let input = music(2 * RATE as usize);
    let mut host = plugin();
    host.set_param("Drums gain", "-6").unwrap();
    host.set_param("Bass mute", "On").unwrap();
    let a = host.render(&input, &RenderOptions { block: 512, ..Default::default() }).unwrap();
    let b = host.render(&input, &RenderOptions { block: 1024, random_blocks: Some(5), ..Default::default() }).unwrap();
    for (x, y) in a.outputs.iter().zip(&b.outputs) {
        assert_eq!(x.1.channels, y.1.channels, "offline bounce of {} depends on the block sizes", x.0);
    }
    let g = 10f32.powf(-6.0 / 20.0);
    for c in 0..2 {
        let expect: Vec<f32> = (0..input.frames())
            .map(|i| {
                let s = |k: usize| a.outputs[k].1.channels[c][i];
                g * s(1) + s(3) + s(4) + s(5)
            })
            .collect();
        // The gain smoother starts at the set value (the parameter was set before activation).
        assert!(max_diff(&expect, &a.outputs[0].1.channels[c]) < 1e-3);
    }
    host.set_param("Guitar solo", "On").unwrap();
    let s = host.render(&input, &RenderOptions::default()).unwrap();
    assert!(max_diff(&s.outputs[0].1.channels[0], &s.outputs[4].1.channels[0]) < 1e-5, "solo: only the guitar");

    // State: a fresh instance restored from it renders the same.
    let state = host.save_state().unwrap();
    let mut fresh = plugin();
    fresh.load_state(&state).unwrap();
    let t = fresh.render(&input, &RenderOptions::default()).unwrap();
    assert_eq!(t.outputs[0].1.channels, s.outputs[0].1.channels);
    assert!(fresh.load_state(b"\x00\x01garbage").is_err());
    let u = fresh.render(&input, &RenderOptions::default()).unwrap();
    assert_eq!(u.outputs[0].1.channels, s.outputs[0].1.channels, "garbage state keeps the settings");
}

#[test]
fn garbage_input_gives_finite_output_and_a_broken_model_passes_audio() {
    let mut x = music(RATE as usize).channels;
    for i in (0..x[0].len()).step_by(997) {
        x[0][i] = f32::NAN;
        x[1][i] = f32::INFINITY;
    }
    let input = Audio { sample_rate: RATE, channels: x };
    let r = plugin().render(&input, &RenderOptions { mode: Mode::Realtime, ..Default::default() }).unwrap();
    for (name, a) in &r.outputs {
        assert!(a.channels.iter().flatten().all(|v| v.is_finite()), "{name} has non-finite samples");
    }

    let dir = std::env::temp_dir().join(format!("separator-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("card.json"), separator_model::CARD).unwrap();
    std::fs::write(dir.join("model.onnx"), b"not onnx").unwrap();
    let blob = state_with_field(&plugin().save_state().unwrap(), "model-dir", dir.to_str().unwrap());
    let mut broken = plugin();
    broken.load_state(&blob).unwrap();
    let clean = music(RATE as usize);
    let r = broken.render(&clean, &RenderOptions::default()).unwrap();
    assert_eq!(r.latency, 0);
    assert_eq!(r.outputs[0].1.channels, clean.channels, "audio passes through");
    assert_eq!(r.outputs[5].1.channels, clean.channels, "all of it is \"other\"");
    assert!(r.outputs[1..5].iter().all(|(_, a)| a.channels.iter().flatten().all(|v| *v == 0.0)));
    let _ = std::fs::remove_dir_all(&dir);
}
