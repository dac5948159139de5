//! The Drum Transcriber binary in the CLAP host: on a drum stem rendered with the training
//! SoundFonts its notes land on the true onsets (timing through the plugin's own process path,
//! after the host's latency compensation), audio passes through, offline bounces do not depend
//! on the block sizes, state restores the same notes, a bad model folder leaves a plugin that
//! passes audio, and garbage input gives finite output; on a full mix the "separate the drums
//! first" mode transcribes the separator's drum stem, on time, and passes the mix through. Debug build with nice-plug's
//! allocation guard: an allocation inside `process()` aborts the test.

use std::path::Path;
use std::sync::OnceLock;

use suite_tests::{plugin_library, state_with_field, state_with_json_field};
use xtask::audio::Audio;
use xtask::host::{PluginHost, RenderOptions};
use xtask::models::drums::{abs_quantile_ms, OnsetCounts};
use xtask::smf::MidiOut;

const RATE: u32 = 48_000;

fn plugin() -> PluginHost {
    PluginHost::load(&plugin_library("drum-transcriber"), None).expect("drum transcriber loads")
}

/// The first training-timbre song (seeds 3, 4, …) of `seconds` with at least 8 kicks and 8
/// snares: its drum stem or (`mix`) its whole mix, at RATE, and its hits (seconds, class).
fn drum_song(seconds: f64, mix: bool) -> (Audio, Vec<(f64, &'static str)>) {
    let dir = Path::new(xtask::dataset::render::SF2_DIR);
    for seed in 3.. {
        if let Some((whole, stem, hits)) =
            xtask::dataset::render_drum_mix(seed, seconds, RATE, dir).expect("render (needs the training SoundFonts)")
        {
            if hits.iter().filter(|h| h.1 == "kick").count() >= 8 && hits.iter().filter(|h| h.1 == "snare").count() >= 8
            {
                let [l, r] = if mix { whole } else { stem };
                return (Audio { sample_rate: RATE, channels: vec![l, r] }, hits);
            }
        }
    }
    unreachable!()
}

/// 16 s of a training-timbre song's drum stem and its hits (seconds, class).
fn drums() -> &'static (Audio, Vec<(f64, &'static str)>) {
    static SONG: OnceLock<(Audio, Vec<(f64, &'static str)>)> = OnceLock::new();
    SONG.get_or_init(|| drum_song(16.0, false))
}

fn ons(midi: &[MidiOut]) -> Vec<(u64, u8, u8)> {
    midi.iter()
        .filter_map(|e| match *e {
            MidiOut::NoteOn { frame, key, velocity, .. } => Some((frame, key, velocity)),
            _ => None,
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn notes_land_on_the_onsets_and_the_audio_passes_through() {
    let (input, hits) = drums();
    let mut host = plugin();
    // Half a second of tail so the last notes are released inside the render.
    let r = host.render(input, &RenderOptions { block: 512, tail_seconds: 0.5, ..Default::default() }).unwrap();
    let ms = r.latency as f64 * 1000.0 / RATE as f64;
    assert!(r.latency > 0 && ms <= 100.0, "latency {ms:.1} ms");
    for c in 0..2 {
        let out = &r.outputs[0].1.channels[c];
        assert_eq!(max_diff(&out[..input.frames()], &input.channels[c]), 0.0, "audio passes through unchanged");
    }
    let notes = ons(&r.midi);
    // Every note-on is released, on its key, in time order.
    let offs = r.midi.iter().filter(|e| matches!(e, MidiOut::NoteOff { .. })).count();
    assert_eq!(offs, notes.len());
    assert!(r.midi.windows(2).all(|w| w[0].frame() <= w[1].frame()));
    // Timing over the drums this song's kit plays clearly (kick and snare, F ≥ 0.8): a
    // spurious note matched within 50 ms is a detection error, not a timing error (the
    // held-out timing over every class is `cargo xtask eval drums`' figure).
    let mut timing = OnsetCounts::default();
    let mut report = Vec::new();
    for (class, key) in [("kick", 36u8), ("snare", 38), ("hihat", 42)] {
        let refs: Vec<f64> = hits.iter().filter(|h| h.1 == class).map(|h| h.0).collect();
        let est: Vec<f64> = notes.iter().filter(|n| n.1 == key).map(|n| n.0 as f64 / RATE as f64).collect();
        let mut c = OnsetCounts::default();
        c.add(&refs, &est);
        report.push(format!("{class}: F {:.2} ({} refs, {} notes)", c.prf().0, refs.len(), est.len()));
        if class != "hihat" {
            assert!(c.prf().0 >= 0.8, "{class} F {:.2}", c.prf().0);
            timing.add(&refs, &est);
        }
    }
    let (median, p95) = (abs_quantile_ms(&timing.errors, 0.5), abs_quantile_ms(&timing.errors, 0.95));
    eprintln!(
        "{} · kick/snare timing |error| median {median:.1} ms, p95 {p95:.1} ms over {} notes",
        report.join(" · "),
        timing.errors.len()
    );
    assert!(timing.errors.len() >= 16);
    assert!(median <= 5.0 && p95 <= 15.0, "timing median {median:.1} ms, p95 {p95:.1} ms");
    assert!(notes.iter().all(|n| (1..=127).contains(&n.2)), "velocities in 1..=127");
}

#[test]
fn bounces_do_not_depend_on_block_sizes_and_state_restores_the_settings() {
    let (input, _) = drums();
    let mut host = plugin();
    host.set_param("Kick key", "35").unwrap();
    host.set_param("Hi-hat notes", "Off").unwrap();
    host.set_param("MIDI channel", "1").unwrap();
    let a = host.render(input, &RenderOptions { block: 512, ..Default::default() }).unwrap();
    let b = host.render(input, &RenderOptions { block: 1024, random_blocks: Some(9), ..Default::default() }).unwrap();
    assert_eq!(a.midi, b.midi, "offline notes depend on the block sizes");
    assert_eq!(a.outputs[0].1.channels, b.outputs[0].1.channels);
    let notes = ons(&a.midi);
    assert!(
        notes.iter().any(|n| n.1 == 35) && !notes.iter().any(|n| n.1 == 36 || n.1 == 42),
        "keys follow the parameters"
    );
    assert!(a
        .midi
        .iter()
        .all(|e| matches!(e, MidiOut::NoteOn { channel: 0, .. } | MidiOut::NoteOff { channel: 0, .. })));

    let state = host.save_state().unwrap();
    let mut fresh = plugin();
    fresh.load_state(&state).unwrap();
    let c = fresh.render(input, &RenderOptions { block: 512, ..Default::default() }).unwrap();
    assert_eq!(c.midi, a.midi, "a restored state sends the same notes");
}

#[test]
fn sensitivity_trades_notes_for_precision() {
    let (input, _) = drums();
    let count = |sens: &str| {
        let mut host = plugin();
        host.set_param("Hi-hat sensitivity", sens).unwrap();
        ons(&host.render(input, &RenderOptions::default()).unwrap().midi).iter().filter(|n| n.1 == 42).count()
    };
    let (low, high) = (count("0"), count("100"));
    assert!(low < high, "hi-hat notes at 0 % {low}, at 100 % {high}");
}

#[test]
fn a_bad_model_folder_passes_audio_and_garbage_input_gives_finite_output() {
    let (input, _) = drums();
    let mut host = plugin();
    let saved = host.save_state().unwrap();
    let dir = std::env::temp_dir().join(format!("drum-transcriber-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("card.json"), b"{ not json").unwrap();
    let mut broken = plugin();
    broken.load_state(&state_with_field(&saved, "model-dir", dir.to_str().unwrap())).unwrap();
    let r = broken.render(input, &RenderOptions::default()).unwrap();
    assert_eq!(r.latency, 0);
    assert!(r.midi.is_empty());
    assert_eq!(r.outputs[0].1.channels, input.channels, "audio passes through");
    // What the editor's status line shows.
    let err = drum_transcriber::DrumTranscriber::load_model(dir.to_str().unwrap()).unwrap_err();
    assert!(err.contains("card.json"), "{err}");

    let mut garbage = input.clone();
    for (i, v) in garbage.channels[0].iter_mut().enumerate().take(48_000) {
        *v = match i % 4 {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => 1e6,
            _ => f32::MIN_POSITIVE / 4.0,
        };
    }
    let g = host.render(&garbage, &RenderOptions::default()).unwrap();
    assert!(g.outputs[0].1.channels.iter().flatten().all(|v| v.is_finite()), "finite output for garbage input");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A training-timbre song's whole mix (12 s) with drums in it, and the drum hits.
fn mix() -> &'static (Audio, Vec<(f64, &'static str)>) {
    static SONG: OnceLock<(Audio, Vec<(f64, &'static str)>)> = OnceLock::new();
    SONG.get_or_init(|| drum_song(12.0, true))
}

/// F of kick and snare notes against the hits.
fn kick_snare_f(notes: &[(u64, u8, u8)], hits: &[(f64, &str)]) -> (f64, OnsetCounts) {
    let mut all = OnsetCounts::default();
    for (class, key) in [("kick", 36u8), ("snare", 38)] {
        let refs: Vec<f64> = hits.iter().filter(|h| h.1 == class).map(|h| h.0).collect();
        let est: Vec<f64> = notes.iter().filter(|n| n.1 == key).map(|n| n.0 as f64 / RATE as f64).collect();
        all.add(&refs, &est);
    }
    (all.prf().0, all)
}

#[test]
fn full_mix_mode_transcribes_the_separators_drum_stem_on_time() {
    let (input, hits) = mix();
    let opts = RenderOptions { block: 512, tail_seconds: 0.5, ..Default::default() };
    let mut plain = plugin();
    let a = plain.render(input, &opts).unwrap();
    // The persisted setting, as the editor's checkbox stores it (JSON `true`).
    let saved = plain.save_state().unwrap();
    let mut sep = plugin();
    sep.load_state(&state_with_json_field(&saved, "separate-first", "true")).unwrap();
    let b = sep.render(input, &opts).unwrap();
    let sep_ms = (b.latency - a.latency) as f64 * 1000.0 / RATE as f64;
    assert!(b.latency > a.latency && b.latency as f64 * 1000.0 / RATE as f64 <= 250.0, "separator adds {sep_ms:.1} ms");
    for c in 0..2 {
        let out = &b.outputs[0].1.channels[c];
        assert_eq!(max_diff(&out[..input.frames()], &input.channels[c]), 0.0, "the mix passes through unchanged");
    }
    let (f_plain, _) = kick_snare_f(&ons(&a.midi), hits);
    let (f_sep, timing) = kick_snare_f(&ons(&b.midi), hits);
    let (median, p95) = (abs_quantile_ms(&timing.errors, 0.5), abs_quantile_ms(&timing.errors, 0.95));
    eprintln!(
        "full mix kick+snare F: {f_plain:.2} on the mix, {f_sep:.2} on the separated drums (+{sep_ms:.1} ms latency); timing median {median:.1} ms, p95 {p95:.1} ms"
    );
    assert!(f_sep >= 0.75 && f_sep > f_plain, "kick+snare F {f_sep:.2} through the separator, {f_plain:.2} without");
    assert!(median <= 5.0 && p95 <= 15.0, "timing median {median:.1} ms, p95 {p95:.1} ms");
}
