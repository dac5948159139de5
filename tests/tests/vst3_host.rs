//! Every plugin through the VST3 path (the project's minimal VST3 host over the `vst3` crate's
//! bindings, `xtask::vst3host`): the module loads, reports the buses and the parameters the CLAP
//! build reports, converts every parameter's value to text and back, refuses a garbage state,
//! restores its own state in a fresh instance, and renders offline, to the last bit, what the same
//! library renders through the CLAP host. Debug build with nice-plug's allocation guard.

use suite_tests::{noise, plugin_library};
use xtask::audio::Audio;
use xtask::host::{PluginHost, RenderOptions};
use xtask::vst3host::Vst3Plugin;

const PLUGINS: [&str; 4] = ["activity-meter", "drum-transcriber", "melody-generator", "stem-separator"];

#[test]
fn every_plugin_crate_is_covered() {
    let found = xtask::plugins::plugin_packages(&suite_tests::root()).unwrap();
    assert_eq!(found, PLUGINS, "a new plugin crate belongs in this test's list");
}

#[test]
fn vst3_loads_describes_and_converts_parameters() {
    for name in PLUGINS {
        let lib = plugin_library(name);
        let vst = Vst3Plugin::load(&lib).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let clap = PluginHost::load(&lib, None).unwrap();
        let d = clap.description();
        assert_eq!(vst.name, d.name, "{name}: class name");
        let buses = |v: &[(String, i32)]| v.iter().map(|b| b.1 as u32).collect::<Vec<_>>();
        assert_eq!(buses(&vst.inputs), d.inputs.iter().map(|p| p.1).collect::<Vec<_>>(), "{name}: input buses");
        assert_eq!(buses(&vst.outputs), d.outputs.iter().map(|p| p.1).collect::<Vec<_>>(), "{name}: output buses");
        // nice-plug adds a bypass parameter to VST3 only when the plugin declares one; the
        // parameter lists match by title.
        let clap_titles: Vec<&str> = d.params.iter().map(|p| p.1.as_str()).collect();
        let vst_titles: Vec<&str> = vst.params.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(vst_titles, clap_titles, "{name}: parameters");
        for p in &vst.params {
            for v in [0.0, p.default, 0.37, 1.0] {
                let t1 = vst.param_text(p.id, v).unwrap_or_else(|e| panic!("{name} {:?}: {e:#}", p.title));
                let v2 =
                    vst.param_from_text(p.id, &t1).unwrap_or_else(|e| panic!("{name} {:?} {t1:?}: {e:#}", p.title));
                let t2 = vst.param_text(p.id, v2).unwrap();
                assert_eq!(t1, t2, "{name} {:?}: {v} -> {t1:?} -> {v2} -> {t2:?}", p.title);
            }
        }
    }
}

#[test]
fn vst3_state_round_trips_and_garbage_is_refused() {
    for name in PLUGINS {
        let lib = plugin_library(name);
        let a = Vst3Plugin::load(&lib).unwrap();
        // Move a continuous parameter off its default so the state carries something.
        let p = a.params.iter().find(|p| p.steps == 0).unwrap_or(&a.params[0]).clone();
        let target = if p.default > 0.5 { 0.25 } else { 0.75 };
        a.set_param(p.id, target).unwrap();
        let moved = a.param(p.id);
        let state = a.save_state().unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let b = Vst3Plugin::load(&lib).unwrap();
        b.load_state(&state).unwrap_or_else(|e| panic!("{name}: restoring its own state: {e:#}"));
        assert!((b.param(p.id) - moved).abs() < 1e-6, "{name} {:?}: restored {} not {moved}", p.title, b.param(p.id));
        assert_eq!(b.save_state().unwrap(), state, "{name}: a restored instance saves the same state");
        let before = b.param(p.id);
        assert!(b.load_state(b"garbage, not a state").is_err(), "{name}: garbage state accepted");
        assert!(b.load_state(&state[..state.len() / 2]).is_err(), "{name}: truncated state accepted");
        assert_eq!(b.param(p.id), before, "{name}: a refused state changed a parameter");
    }
}

#[test]
fn vst3_renders_what_the_clap_build_renders() {
    let rate = 48_000;
    let frames = rate as usize;
    let input = Audio { sample_rate: rate, channels: vec![noise(frames, 0.3, 5), noise(frames, 0.3, 9)] };
    for name in PLUGINS {
        let lib = plugin_library(name);
        let vst = Vst3Plugin::load(&lib).unwrap();
        let v = vst.render(&input, 256, true, 2).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let mut clap = PluginHost::load(&lib, None).unwrap();
        let c = clap
            .render(&input, &RenderOptions { block: 256, compensate_latency: false, ..Default::default() })
            .unwrap();
        assert_eq!(v.latency, c.latency, "{name}: latency");
        assert_eq!(v.restarts_while_processing, 0, "{name}: asked for a restart while processing");
        assert_eq!(v.outputs.len(), c.outputs.len(), "{name}: output buses");
        for ((vn, va), (_, ca)) in v.outputs.iter().zip(&c.outputs) {
            for (ch, (x, y)) in va.channels.iter().zip(&ca.channels).enumerate() {
                assert_eq!(x.len(), y.len());
                assert!(x.iter().all(|s| s.is_finite()), "{name} {vn}: non-finite output");
                let diff = x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(diff == 0.0, "{name} bus {vn:?} channel {ch}: VST3 and CLAP renders differ by {diff}");
            }
        }
        // The main output carries signal (every plugin passes or remixes its input).
        let energy: f32 = v.outputs[0].1.channels[0].iter().map(|s| s * s).sum();
        assert!(energy > 1.0, "{name}: main output is silent ({energy})");
    }
}

/// nice-plug 0.4.2's VST3 wrapper activates the plugin with the process mode of the previous
/// `setupProcessing` call: a host that asks for offline once (as DAWs do before an export)
/// gets a plugin that believes it runs in real time, so the separator's runner does not wait
/// for its worker and an unpaced render leaves every stem silent (all in "other"). This test
/// holds the finding in place: when it fails, nice-plug has fixed the lag, and the README's
/// VST3 note and `setups` in the test above can go.
#[test]
fn nice_plug_vst3_process_mode_lags_one_setup_call() {
    let rate = 48_000;
    let frames = rate as usize;
    let input = Audio { sample_rate: rate, channels: vec![noise(frames, 0.3, 5), noise(frames, 0.3, 9)] };
    let vst = Vst3Plugin::load(&plugin_library("stem-separator")).unwrap();
    let energy = |r: &xtask::vst3host::Vst3Rendered| -> f32 { r.outputs[1].1.channels[0].iter().map(|s| s * s).sum() };
    let once = vst.render(&input, 256, true, 1).unwrap();
    let twice = vst.render(&input, 256, true, 2).unwrap();
    assert_eq!(energy(&once), 0.0, "one offline setup: the drum stem is silent (the plugin saw real-time mode)");
    assert!(energy(&twice) > 1.0, "two offline setups: the plugin separates offline");
}
