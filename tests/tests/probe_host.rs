//! The real runner inside a real plugin binary, driven by the CLAP host of `cargo xtask render`.
//! The plugin is a debug build with nice-plug's `assert_process_allocs`: any allocation in its
//! `process()` aborts this test process.

use suite_tests::{noise, plugin_library};
use xtask::audio::{write_wav, Audio};
use xtask::host::{Mode, PluginHost, RenderOptions};
use xtask::smf::{read_smf, write_smf, MidiOut};

fn probe() -> PluginHost {
    PluginHost::load(&plugin_library("probe-plugin"), None).expect("probe loads")
}

/// Quiet noise with loud clicks at the given frames.
fn clicks(rate: u32, secs: f32, at: &[usize]) -> Audio {
    let n = (rate as f32 * secs) as usize;
    let mut x = noise(n, 0.01, 3);
    for &i in at {
        x[i] = 0.9;
    }
    Audio { sample_rate: rate, channels: vec![x.clone(), x] }
}

#[test]
fn describes_ports_and_params() {
    let host = probe();
    let d = host.description();
    assert_eq!(d.id, "suite.mir.runner-probe");
    assert_eq!(d.inputs[0].1, 2);
    assert_eq!(d.outputs[0].1, 2);
    let names: Vec<&str> = d.params.iter().map(|p| p.1.as_str()).collect();
    assert_eq!(names, ["Gain", "Threshold"]);
}

#[test]
fn offline_render_is_latency_compensated_and_midi_is_sample_exact() {
    let at = [4_000, 20_000, 33_333, 70_001];
    for rate in [44_100, 48_000, 96_000] {
        let input = clicks(rate, 2.0, &at);
        let mut host = probe();
        let opts =
            RenderOptions { mode: Mode::Offline, block: 1024, random_blocks: Some(rate as u64), ..Default::default() };
        let r = host.render(&input, &opts).unwrap();
        assert!(r.latency > 0);
        let out = &r.outputs[0].1;
        assert_eq!(out.frames(), input.frames());
        // With the latency compensated, every click comes out where it went in.
        for &i in &at {
            let win = &out.channels[0][i - 50..i + 50];
            let peak = win.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
            assert_eq!(peak, 50, "{rate} Hz: click at {i} moved by {}", peak as i64 - 50);
        }
        let ons: Vec<u64> = r.midi.iter().filter(|e| matches!(e, MidiOut::NoteOn { .. })).map(|e| e.frame()).collect();
        let want: Vec<u64> = at.iter().map(|&i| i as u64).collect();
        // MIDI is computed on the input; compensation shifts it by the latency like the audio.
        let shifted: Vec<u64> = want.iter().filter(|&&f| f >= r.latency as u64).map(|f| f - r.latency as u64).collect();
        assert_eq!(ons, shifted, "{rate} Hz note-ons");
        let offs = r.midi.iter().filter(|e| matches!(e, MidiOut::NoteOff { .. })).count();
        assert!(offs + 1 >= ons.len());
    }
}

#[test]
fn uncompensated_render_shows_the_reported_latency() {
    let input = clicks(48_000, 0.5, &[10_000]);
    let mut host = probe();
    let opts = RenderOptions { compensate_latency: false, ..Default::default() };
    let r = host.render(&input, &opts).unwrap();
    let ch = &r.outputs[0].1.channels[0];
    let peak = ch.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
    assert_eq!(peak, 10_000 + r.latency as usize);
}

#[test]
fn realtime_render_keeps_up_and_matches_offline_timing() {
    let input = clicks(48_000, 1.5, &[30_000]);
    let mut host = probe();
    let opts = RenderOptions { mode: Mode::Realtime, block: 256, ..Default::default() };
    let r = host.render(&input, &opts).unwrap();
    let ch = &r.outputs[0].1.channels[0];
    assert!(ch.iter().all(|x| x.is_finite()));
    // Whether processed or fallback (dry), the click is at the same compensated position.
    let peak = ch.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
    assert_eq!(peak, 30_000);
}

#[test]
fn parameters_by_id_and_name_and_bad_values_are_errors() {
    let mut host = probe();
    host.set_param("gain", "-6").unwrap();
    host.set_param("Threshold", "0.25").unwrap();
    assert!(host.set_param("nope", "1").unwrap_err().to_string().contains("unknown parameter"));
    assert!(host.set_param("gain", "loud").is_err());
    // -6 dB halves the output.
    let input = clicks(48_000, 0.5, &[12_000]);
    let r = host.render(&input, &RenderOptions::default()).unwrap();
    let mut plain = probe();
    let r0 = plain.render(&input, &RenderOptions::default()).unwrap();
    let (a, b) = (r.outputs[0].1.channels[0][12_000], r0.outputs[0].1.channels[0][12_000]);
    assert!((a / b - 0.501).abs() < 0.01, "{a} vs {b}");
}

#[test]
fn state_round_trips_and_garbage_state_is_refused() {
    let mut a = probe();
    a.set_param("gain", "3.5").unwrap();
    let state = a.save_state().unwrap();
    let mut b = probe();
    b.load_state(&state).unwrap();
    assert_eq!(a.param_value("gain").unwrap(), b.param_value("gain").unwrap());
    assert!(b.load_state(b"{ this is not a plugin state").is_err());
    // The refused state changed nothing and the plugin still renders.
    assert_eq!(a.param_value("gain").unwrap(), b.param_value("gain").unwrap());
    let r = b.render(&clicks(48_000, 0.2, &[]), &RenderOptions::default()).unwrap();
    assert!(r.outputs[0].1.channels[0].iter().all(|x| x.is_finite()));
}

#[test]
fn nan_input_never_reaches_the_output() {
    let mut input = clicks(48_000, 1.0, &[40_000]);
    for i in 10_000..10_100 {
        input.channels[0][i] = f32::NAN;
        input.channels[1][i] = f32::INFINITY;
    }
    let mut host = probe();
    let r = host.render(&input, &RenderOptions::default()).unwrap();
    let ch = &r.outputs[0].1.channels[0];
    assert!(ch.iter().all(|x| x.is_finite()), "non-finite output");
    let peak = ch.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
    assert_eq!(peak, 40_000, "audio after the NaN burst is processed normally");
}

#[test]
fn render_files_round_trip() {
    let dir = std::env::temp_dir().join(format!("suite-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = clicks(48_000, 0.5, &[5_000]);
    write_wav(&dir.join("in.wav"), &input).unwrap();
    let mut host = probe();
    let r = host.render(&input, &RenderOptions::default()).unwrap();
    write_smf(&dir.join("m.mid"), 48_000, &r.midi).unwrap();
    assert_eq!(read_smf(&dir.join("m.mid"), 48_000).unwrap(), r.midi);
}

#[test]
fn missing_or_invalid_plugin_files_are_clear_errors() {
    let err = PluginHost::load(std::path::Path::new("/nonexistent/x.clap"), None).err().unwrap();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let dir = std::env::temp_dir().join(format!("suite-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.clap");
    std::fs::write(&bad, b"not a shared library").unwrap();
    let err = PluginHost::load(&bad, None).err().unwrap();
    assert!(err.to_string().contains("cannot load"), "{err}");
    let err = PluginHost::load(&plugin_library("probe-plugin"), Some("no.such.id")).err().unwrap();
    assert!(err.to_string().contains("no plugin"), "{err}");
}
