//! The Melody Generator binary in the CLAP host: its notes are the model's decoded loop at the
//! exact grid samples while the transport plays, stops, jumps and loops; audio passes through;
//! state restores the same melody; a bad model folder leaves a plugin that passes audio. Debug
//! build with nice-plug's allocation guard: an allocation inside `process()` aborts the test.

use melody_generator::generator::{Generator, Request, Slot};
use melody_generator::params::MelodyParams;
use melody_generator::pattern::{Pattern, Playback};
use melody_model::MelodyModel;
use suite_tests::{plugin_library, state_with_field};
use xtask::audio::Audio;
use xtask::host::{Mode, PluginHost, RenderOptions, TransportCue};
use xtask::smf::MidiOut;

const RATE: u32 = 48_000;
/// Frames per grid tick at 120 BPM and 48 kHz (a beat is 24 000 frames, 6 ticks).
const TICK: u64 = 4000;

fn plugin() -> PluginHost {
    PluginHost::load(&plugin_library("melody-generator"), None).expect("melody generator loads")
}

fn noise(frames: usize) -> Audio {
    Audio { sample_rate: RATE, channels: vec![suite_tests::noise(frames, 0.5, 3), suite_tests::noise(frames, 0.5, 4)] }
}

/// The loop the default parameters decode, computed by the library.
fn default_pattern() -> Pattern {
    let live = MelodyParams::default().live();
    let mut g = Generator::new(MelodyModel::builtin().unwrap());
    g.generate(&Request { live, b: Slot::default() }).unwrap()
}

fn ons(midi: &[MidiOut]) -> Vec<(u64, u8, u8)> {
    midi.iter()
        .filter_map(|e| match *e {
            MidiOut::NoteOn { frame, key, velocity, .. } => Some((frame, key, velocity)),
            _ => None,
        })
        .collect()
}

/// Note-ons a transport script should give: for each playing segment `[frame, next frame)`
/// starting at `beats`, every onset of the loop at its grid frame.
fn expected(p: &Pattern, cues: &[TransportCue], total: u64) -> Vec<(u64, u8, u8)> {
    let play = Playback::default();
    let mut out = Vec::new();
    for (i, c) in cues.iter().enumerate() {
        let end = cues.get(i + 1).map_or(total, |n| n.frame as u64);
        if !c.playing {
            continue;
        }
        let first = (c.beats * 6.0).round() as i64; // the scripts start on grid ticks
        for k in first.. {
            let frame = c.frame as u64 + (k - first) as u64 * TICK;
            if frame >= end {
                break;
            }
            let pos = k.rem_euclid(p.ticks() as i64) as usize;
            if let Some(n) = p.note_at(pos) {
                out.push((frame, play.key(n.pitch), play.velocity_at(pos)));
            }
        }
    }
    out
}

/// Walks the MIDI: monophonic (never two notes at once), every off matches the sounding
/// note, nothing sounds at the end. Returns the frames of the note-offs.
fn check_monophonic(midi: &[MidiOut]) -> Vec<u64> {
    let mut sounding: Option<u8> = None;
    let mut offs = Vec::new();
    let mut last = 0;
    for e in midi {
        assert!(e.frame() >= last, "events out of order at {}", e.frame());
        last = e.frame();
        match *e {
            MidiOut::NoteOn { key, frame, .. } => {
                assert_eq!(sounding, None, "note {key} at {frame} starts while another sounds");
                sounding = Some(key);
            }
            MidiOut::NoteOff { key, frame, .. } => {
                assert_eq!(sounding, Some(key), "note-off {key} at {frame} for a note not sounding");
                sounding = None;
                offs.push(frame);
            }
            _ => {}
        }
    }
    offs
}

#[test]
fn plays_the_decoded_loop_on_the_grid_whatever_the_block_sizes() {
    let p = default_pattern();
    assert!(p.notes().count() >= 2, "the default loop has notes");
    let frames = 8 * 4 * 24_000; // 8 bars
    let input = noise(frames);
    let mut host = plugin();
    assert_eq!(host.description().id, "suite.mir.melody-generator");
    let fixed = host.render(&input, &RenderOptions { block: 512, ..Default::default() }).unwrap();
    assert_eq!(fixed.latency, 0);
    assert_eq!(fixed.outputs[0].1.channels, input.channels, "audio passes through untouched");
    let cues = [TransportCue { frame: 0, beats: 0.0, playing: true }];
    let want = expected(&p, &cues, frames as u64);
    assert_eq!(ons(&fixed.midi), want, "the note-ons are the library's loop at its grid frames");
    check_monophonic(&fixed.midi);
    assert!(fixed
        .midi
        .iter()
        .all(|e| matches!(e, MidiOut::NoteOn { channel: 0, .. } | MidiOut::NoteOff { channel: 0, .. })));
    let random =
        host.render(&input, &RenderOptions { block: 2048, random_blocks: Some(9), ..Default::default() }).unwrap();
    assert_eq!(random.midi, fixed.midi, "block sizes do not move a note");
}

#[test]
fn stops_jumps_and_loops_of_the_transport() {
    let p = default_pattern();
    let bar = 4 * 24_000;
    let cues = vec![
        TransportCue { frame: 0, beats: 0.0, playing: true },
        TransportCue { frame: 2 * bar + 36_000, beats: 9.5, playing: false }, // stop mid-bar 3
        TransportCue { frame: 3 * bar, beats: 9.5, playing: true },           // play on from there
        TransportCue { frame: 4 * bar, beats: 2.0, playing: true },           // jump back (a loop)
        TransportCue { frame: 5 * bar + 8000, beats: 4.0 + 1.0 / 3.0, playing: true }, // jump to a triplet
    ];
    let frames = 7 * bar;
    let mut host = plugin();
    let r = host
        .render(
            &noise(frames),
            &RenderOptions { block: 1024, random_blocks: Some(2), cues: cues.clone(), ..Default::default() },
        )
        .unwrap();
    assert_eq!(ons(&r.midi), expected(&p, &cues, frames as u64));
    let offs = check_monophonic(&r.midi);
    // Silence while stopped.
    assert!(!r.midi.iter().any(
        |e| matches!(e, MidiOut::NoteOn { frame, .. } if (cues[1].frame as u64..cues[2].frame as u64).contains(frame))
    ));
    // A note sounding at a stop or jump ends exactly there.
    let sounding_at = |f: u64| {
        let mut on = false;
        for e in &r.midi {
            if e.frame() >= f {
                break;
            }
            on = matches!(e, MidiOut::NoteOn { .. });
        }
        on
    };
    for c in &cues[1..] {
        let f = c.frame as u64;
        if sounding_at(f) {
            assert!(offs.contains(&f), "the note sounding at {f} ends there");
        }
    }
}

#[test]
fn state_restores_the_same_melody_and_settings_apply() {
    let mut a = plugin();
    for (id, v) in [
        ("density", "80"),
        ("range", "30"),
        ("idea", "5"),
        ("bars", "4"),
        ("temperature", "0.7"),
        ("transpose", "-3"),
        ("channel", "4"),
        ("velocity", "70"),
    ] {
        a.set_param(id, v).unwrap_or_else(|e| panic!("{id}={v}: {e}"));
    }
    let input = noise(6 * 4 * 24_000);
    let ra = a.render(&input, &RenderOptions::default()).unwrap();
    assert!(!ons(&ra.midi).is_empty());
    assert!(ra
        .midi
        .iter()
        .all(|e| matches!(e, MidiOut::NoteOn { channel: 3, .. } | MidiOut::NoteOff { channel: 3, .. })));
    assert_ne!(
        ra.midi,
        plugin().render(&input, &RenderOptions::default()).unwrap().midi,
        "the settings change the melody"
    );
    let state = a.save_state().unwrap();
    let mut b = plugin();
    b.load_state(&state).unwrap();
    let rb = b.render(&input, &RenderOptions::default()).unwrap();
    assert_eq!(rb.midi, ra.midi, "a restored project plays the same melody");
    assert!(b.load_state(b"\x00\x01garbage").is_err());
    assert_eq!(b.render(&input, &RenderOptions::default()).unwrap().midi, ra.midi, "garbage state keeps the settings");
}

#[test]
fn audition_voice_sounds_and_a_broken_model_folder_passes_audio() {
    let input = Audio { sample_rate: RATE, channels: vec![vec![0.0; 4 * 24_000]; 2] };
    let mut host = plugin();
    host.set_param("audition", "On").unwrap();
    let r = host.render(&input, &RenderOptions { mode: Mode::Offline, ..Default::default() }).unwrap();
    let out = &r.outputs[0].1.channels;
    assert!(out.iter().flatten().all(|x| x.is_finite()));
    assert!(out[0].iter().any(|x| x.abs() > 0.01), "the audition voice is heard");

    // A model folder with a corrupt encoder, set through the saved state as a host would restore it.
    let dir = std::env::temp_dir().join(format!("melody-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("card.json"), melody_model::CARD).unwrap();
    std::fs::write(dir.join("encoder.onnx"), b"not onnx").unwrap();
    std::fs::write(dir.join("decoder.onnx"), b"not onnx").unwrap();
    let blob = state_with_field(&plugin().save_state().unwrap(), "model-dir", dir.to_str().unwrap());
    let mut broken = plugin();
    broken.load_state(&blob).unwrap();
    let noisy = noise(2 * 24_000);
    let r = broken.render(&noisy, &RenderOptions::default()).unwrap();
    assert_eq!(r.outputs[0].1.channels, noisy.channels, "audio passes through");
    assert!(r.midi.is_empty(), "no notes without a model");
    let _ = std::fs::remove_dir_all(&dir);
}
