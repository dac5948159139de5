//! Regression tests for what `cargo xtask fuzz` found, over every plugin crate through the CLAP
//! host (debug build, nice-plug's allocation guard on):
//! * the Activity Meter printed "-0.00" for a value that parses back to 0 and prints "0.00"
//!   (clap-validator's `param-conversions`), and the Stem Separator printed "-100.0 dB" for gains
//!   that parse to silence and print "-inf dB"; every parameter's text now round-trips on a fine
//!   grid of values;
//! * the Activity Meter and the Melody Generator passed NaN and infinite input samples to their
//!   output, and every plugin did when its model folder was missing or corrupt; the suite's
//!   policy is now that non-finite input samples leave as silence, with or without a model.

use suite_tests::{noise, plugin_library, state_with_field};
use xtask::audio::Audio;
use xtask::host::{PluginHost, RenderOptions};

fn plugins() -> Vec<String> {
    xtask::plugins::plugin_packages(&suite_tests::root()).unwrap()
}

#[test]
fn every_parameter_text_round_trips() {
    for name in plugins() {
        let mut host = PluginHost::load(&plugin_library(&name), None).unwrap();
        for p in host.param_ranges() {
            // A fine grid: the separator's gains printed "-100.0 dB" for a band of 1e-4 of their
            // range (which parses to silence and prints "-inf dB").
            let n = if p.stepped { ((p.max - p.min) as usize).min(400) } else { 20_000 };
            for i in 0..=n {
                let mut v = p.min + (p.max - p.min) * i as f64 / n as f64;
                if p.stepped {
                    v = v.round();
                }
                let t1 = host.value_to_text(p.id, v).unwrap_or_else(|| panic!("{name} {:?}: no text for {v}", p.name));
                let v2 = host
                    .text_to_value(p.id, &t1)
                    .unwrap_or_else(|| panic!("{name} {:?}: {t1:?} (from {v}) does not parse", p.name));
                let t2 = host.value_to_text(p.id, v2).unwrap();
                assert_eq!(t1, t2, "{name} {:?}: {v} -> {t1:?} -> {v2} -> {t2:?}", p.name);
            }
        }
    }
}

/// Noise with bursts of NaN, +∞ and −∞ in both channels.
fn garbage(rate: u32, frames: usize) -> Audio {
    let mut channels = vec![noise(frames, 0.3, 3), noise(frames, 0.3, 4)];
    for (c, ch) in channels.iter_mut().enumerate() {
        for (i, x) in ch.iter_mut().enumerate() {
            match (i / 997 + c) % 7 {
                0 if i % 3 == 0 => *x = f32::NAN,
                3 if i % 5 == 0 => *x = f32::INFINITY,
                5 if i % 2 == 0 => *x = f32::NEG_INFINITY,
                _ => {}
            }
        }
    }
    Audio { sample_rate: rate, channels }
}

#[test]
fn nonfinite_input_leaves_as_silence_with_and_without_a_model() {
    let input = garbage(48_000, 24_000);
    for name in plugins() {
        for model_dir in [None, Some("/nonexistent/mirsuite-model")] {
            let mut host = PluginHost::load(&plugin_library(&name), None).unwrap();
            if let Some(dir) = model_dir {
                let field = if name == "activity-meter" { "model-path" } else { "model-dir" };
                let state = state_with_field(&host.save_state().unwrap(), field, dir);
                host.load_state(&state).unwrap();
            }
            for opts in [
                RenderOptions { block: 256, ..Default::default() },
                RenderOptions {
                    block: 333,
                    random_blocks: Some(7),
                    mode: xtask::host::Mode::Realtime,
                    ..Default::default()
                },
            ] {
                let r = host.render(&input, &opts).unwrap();
                for (port, audio) in &r.outputs {
                    for ch in &audio.channels {
                        if let Some(i) = ch.iter().position(|x| !x.is_finite()) {
                            panic!(
                                "{name} (model folder {model_dir:?}, {:?}): {port} sample {i} is {}",
                                opts.mode, ch[i]
                            );
                        }
                    }
                }
                let energy: f32 = r.outputs[0].1.channels[0].iter().map(|x| x * x).sum();
                assert!(energy > 1.0, "{name} (model folder {model_dir:?}): the main output is silent");
            }
        }
    }
}
