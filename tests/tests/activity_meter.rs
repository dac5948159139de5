//! The Activity Meter binary in the CLAP host: audio passes through bit-exactly, MIDI CCs follow
//! the music, state survives a save/restore, and bad input is survived. Debug build with
//! nice-plug's allocation guard: an allocation inside `process()` aborts this test process.

use std::path::Path;

use suite_tests::plugin_library;
use xtask::audio::Audio;
use xtask::host::{Mode, PluginHost, RenderOptions};
use xtask::smf::MidiOut;

const BASE_CC: u8 = 20;

fn meter() -> PluginHost {
    PluginHost::load(&plugin_library("activity-meter"), None).expect("activity meter loads")
}

/// A song composed and rendered with the training SoundFonts, with its activity labels.
fn song(seed: u64, seconds: f64, rate: u32) -> (Audio, Vec<[u8; 14]>) {
    let (mix, labels) = xtask::dataset::render_song(seed, seconds, rate, Path::new(xtask::dataset::render::SF2_DIR))
        .expect("render a test song (needs timgm6mb-soundfont or fluid-soundfont-gm)");
    (Audio { sample_rate: rate, channels: mix.to_vec() }, labels)
}

fn gate_timeline(midi: &[MidiOut], class: u8, frames: u64) -> Vec<bool> {
    // State of one class's CC per 10 ms, from its CC events.
    let mut on = false;
    let mut events = midi.iter().filter_map(|e| match *e {
        MidiOut::Cc { frame, cc, value, .. } if cc == BASE_CC + class => Some((frame, value >= 64)),
        _ => None,
    });
    let mut next = events.next();
    let step = 441;
    (0..frames / step)
        .map(|i| {
            while let Some((f, v)) = next {
                if f > i * step {
                    break;
                }
                on = v;
                next = events.next();
            }
            on
        })
        .collect()
}

#[test]
fn passes_audio_through_bit_exactly_and_sends_ccs_that_follow_the_drums() {
    let (input, labels) = song(21, 30.0, 44_100);
    let mut host = meter();
    assert_eq!(host.description().id, "suite.mir.activity-meter");
    let r = host
        .render(
            &input,
            &RenderOptions { mode: Mode::Offline, block: 512, random_blocks: Some(5), ..Default::default() },
        )
        .unwrap();
    assert_eq!(r.latency, 0, "the meter adds no latency");
    assert_eq!(r.outputs[0].1.channels, input.channels, "audio must pass through untouched");
    assert!(!r.midi.is_empty(), "the meter sent MIDI CCs");
    assert!(r
        .midi
        .iter()
        .all(|e| matches!(e, MidiOut::Cc { channel: 0, cc, .. } if (BASE_CC..BASE_CC + 14).contains(cc))));
    // Drums (class 0) CC state agrees with the labels most of the time (allowing for the
    // display latency of about a second).
    let frames = input.frames() as u64;
    let cc = gate_timeline(&r.midi, 0, frames);
    let drums_label: Vec<bool> = labels.iter().map(|l| l[0] == 1).collect();
    if drums_label.iter().any(|d| *d) {
        let lag = 100; // 1 s in 10 ms steps
        let agree = (lag..cc.len().min(drums_label.len())).filter(|&i| cc[i] == drums_label[i - lag / 2]).count();
        let total = cc.len().min(drums_label.len()) - lag;
        assert!(agree as f64 > 0.7 * total as f64, "drums CC agrees with the labels {agree}/{total}");
    }
}

#[test]
fn slower_response_flickers_less() {
    // The same song through the Fast (no averaging) and Slow (2 s average) responses, median
    // filter off: averaging must cut the number of gate changes, which is what it is for.
    let (input, _) = song(24, 30.0, 44_100);
    let mut changes = Vec::new();
    for response in ["Fast", "Slow"] {
        let mut host = meter();
        host.set_param("response", response).unwrap();
        host.set_param("smoothing", "1").unwrap();
        let r = host.render(&input, &RenderOptions { mode: Mode::Offline, ..Default::default() }).unwrap();
        assert_eq!(r.outputs[0].1.channels, input.channels);
        changes.push(r.midi.len());
    }
    eprintln!("gate CCs: Fast {}, Slow {}", changes[0], changes[1]);
    assert!(changes[1] > 0, "the Slow response still reports activity");
    assert!(2 * changes[1] < changes[0], "Fast sent {} gate CCs, Slow {}", changes[0], changes[1]);
}

#[test]
fn realtime_render_passes_audio_through_and_keeps_up() {
    let (input, _) = song(22, 4.0, 48_000);
    let mut host = meter();
    let r = host.render(&input, &RenderOptions { mode: Mode::Realtime, block: 256, ..Default::default() }).unwrap();
    assert_eq!(r.outputs[0].1.channels, input.channels);
    assert!(r.process_seconds < 4.0 * 0.5, "process() took {:.3} s for 4 s of audio", r.process_seconds);
}

#[test]
fn state_round_trips_and_garbage_is_refused() {
    let mut a = meter();
    a.set_param("sensitivity", "0.1").unwrap();
    a.set_param("smoothing", "9").unwrap();
    a.set_param("cc-mode", "Probability").unwrap();
    a.set_param("midi-channel", "10").unwrap();
    a.set_param("response", "Slow").unwrap();
    let state = a.save_state().unwrap();
    let mut b = meter();
    b.load_state(&state).unwrap();
    for id in ["sensitivity", "smoothing", "cc-mode", "midi-channel", "base-cc", "midi-out", "response"] {
        assert_eq!(a.param_value(id).unwrap(), b.param_value(id).unwrap(), "{id}");
    }
    assert!(b.load_state(b"\x00\x01garbage").is_err());
    assert_eq!(a.param_value("smoothing").unwrap(), b.param_value("smoothing").unwrap());
    // Channel 10 and probability mode show up in the output.
    let (input, _) = song(23, 6.0, 44_100);
    let r = b.render(&input, &RenderOptions::default()).unwrap();
    assert!(r.midi.iter().all(|e| matches!(e, MidiOut::Cc { channel: 9, .. })));
    assert!(r.midi.iter().any(|e| matches!(e, MidiOut::Cc { value, .. } if *value > 0 && *value < 127)));
}

#[test]
fn nan_input_is_survived_and_analysis_continues() {
    let (mut input, _) = song(24, 8.0, 44_100);
    for i in 44_100..44_200 {
        input.channels[0][i] = f32::NAN;
        input.channels[1][i] = f32::NEG_INFINITY;
    }
    let mut host = meter();
    let r = host.render(&input, &RenderOptions::default()).unwrap();
    let out = &r.outputs[0].1.channels;
    // Finite samples pass through untouched; NaN and infinities leave as silence (the suite's
    // non-finite input policy, docs/REALTIME.md).
    for (o, i) in out.iter().zip(&input.channels) {
        assert!(o.iter().zip(i).all(|(a, b)| if b.is_finite() { a.to_bits() == b.to_bits() } else { *a == 0.0 }));
    }
    assert!(r.midi.iter().any(|e| e.frame() > 3 * 44_100), "analysis continues after the NaN burst");
}

#[test]
fn mono_layout_and_other_rates_work() {
    for rate in [22_050, 96_000] {
        let (stereo, _) = song(25, 3.0, rate);
        let mono = Audio { sample_rate: rate, channels: vec![stereo.channels[0].clone()] };
        let mut host = meter();
        let r = host.render(&mono, &RenderOptions::default()).unwrap();
        assert_eq!(r.outputs[0].1.channels[0], mono.channels[0], "{rate} Hz");
    }
}
