//! The Hydrogen drum-kit sampler: kit parsing (all three drumkit.xml layouts), velocity layers,
//! panning, hi-hat choke, kit exclusion, clear errors; and, where the Debian kits are installed
//! (CI installs them), that every training kit decodes and plays at a level balanced like the
//! SoundFont kits.

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use xtask::dataset::compose::{compose, Note};
use xtask::dataset::hydrogen::{HydrogenKit, Part, EXCLUDED_KITS, HYDROGEN_DIR, REAL_KITS};
use xtask::dataset::render::{active_rms_db, render_kit, TimbreSet, SF2_DIR, TRACK_RMS_DB};

const RATE: u32 = 22_050;

fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec =
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

/// A kit using every drumkit.xml layout: kick with two velocity layers in an
/// `instrumentComponent` (current format), snare with a `layer` directly in the instrument
/// (0.9.x format), hats with a bare `filename` (oldest format), and an instrument whose sample
/// is missing.
fn fixture_kit(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let n = RATE as usize / 2;
    // Constant-level samples make levels easy to check: soft kick 0.1, hard kick 0.5.
    write_wav(&dir.join("kick_soft.wav"), RATE, 1, &vec![0.1; n]);
    write_wav(&dir.join("kick_hard.wav"), RATE, 1, &vec![0.5; n]);
    let stereo: Vec<f32> = (0..n).flat_map(|_| [0.2, -0.2]).collect();
    write_wav(&dir.join("snare.wav"), RATE, 2, &stereo);
    write_wav(&dir.join("hat_closed.wav"), RATE, 1, &[0.3; 32]);
    // At twice the render rate: the sampler must resample it.
    write_wav(&dir.join("hat_open.wav"), RATE * 2, 1, &vec![0.25; 4 * RATE as usize]);
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">
 <name>Fixture</name>
 <instrumentList>
  <instrument>
   <id>0</id><name>Kick</name><volume>1</volume><gain>1</gain><pan>-1</pan><pitchOffset>0</pitchOffset>
   <instrumentComponent>
    <component_id>0</component_id><gain>1</gain>
    <layer><filename>kick_soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain><pitch>0</pitch></layer>
    <layer><filename>kick_hard.wav</filename><min>0.5</min><max>1</max><gain>1</gain><pitch>0</pitch></layer>
   </instrumentComponent>
  </instrument>
  <instrument>
   <id>1</id><name>Snare Rock</name><volume>0.5</volume><pan_L>1</pan_L><pan_R>1</pan_R>
   <layer><filename>snare.wav</filename><min>0</min><max>1</max><gain>1</gain></layer>
  </instrument>
  <instrument>
   <id>2</id><filename>hat_closed.wav</filename><name>Closed HH</name><volume>1</volume>
  </instrument>
  <instrument>
   <id>3</id><filename>hat_open.wav</filename><name>Open HH</name><volume>1</volume>
  </instrument>
  <instrument>
   <id>4</id><filename>missing.wav</filename><name>Crash</name><volume>1</volume>
  </instrument>
  <instrument>
   <id>5</id><filename>snare.wav</filename><name>Whistle</name><volume>1</volume>
  </instrument>
 </instrumentList>
</drumkit_info>"#;
    std::fs::write(dir.join("drumkit.xml"), xml).unwrap();
}

fn note(start: f64, key: u8, vel: u8) -> Note {
    Note { start, dur: 0.1, key, vel }
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mirsuite-hydrogen-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn parses_all_layouts_and_maps_parts_by_name() {
    let dir = tmp("parse");
    fixture_kit(&dir);
    let kit = HydrogenKit::open(&dir).unwrap();
    let parts: Vec<Part> = kit.parts.keys().copied().collect();
    // Crash has no sample on disk and Whistle is not a drum-set part: both are left out.
    assert_eq!(parts, vec![Part::Kick, Part::Snare, Part::ClosedHat, Part::OpenHat]);
    assert!(kit.is_drum_set());
    for (name, part) in [
        ("Kick Lite 1", Some(Part::Kick)),
        ("c3 - bass drum 1", Some(Part::Kick)),
        ("Pearl Side Stick", Some(Part::SideStick)),
        ("Snare Rimshot", Some(Part::Snare)),
        ("VariBreaks Hat 1 Pd", Some(Part::PedalHat)),
        ("Hat Op Dirty", Some(Part::OpenHat)),
        ("Hi-Hat Semiopen", Some(Part::OpenHat)),
        ("Sabian Hat Choke", None),
        ("Floor Tom", Some(Part::LowTom)),
        ("Tom 2", Some(Part::MidTom)),
        ("tomhi2", Some(Part::HighTom)),
        ("ride-cup", Some(Part::RideBell)),
        ("crash16inch", Some(Part::Crash)),
        ("Cowbell", Some(Part::Cowbell)),
        ("Djembe1 Slap", None),
    ] {
        assert_eq!(Part::from_name(name), part, "{name}");
    }
}

#[test]
fn velocity_layers_pan_resampling_and_choke() {
    let dir = tmp("render");
    fixture_kit(&dir);
    let kit = HydrogenKit::open(&dir).unwrap();
    let v = kit.variant(&mut ChaCha8Rng::seed_from_u64(1));
    let frames = 2 * RATE as usize;
    let at = |s: f64| (s * RATE as f64).round() as usize;

    // Soft and hard kick, panned hard left: the layer follows the velocity, gain = velocity.
    let out = kit.render(&[note(0.1, 36, 40), note(1.0, 36, 120)], &v, RATE, frames, 64).unwrap();
    let sqrt2 = std::f32::consts::SQRT_2;
    let soft = out[0][at(0.2)];
    let hard = out[0][at(1.2)];
    assert!((soft - 0.1 * 40.0 / 127.0 * sqrt2).abs() < 1e-5, "soft kick {soft}");
    assert!((hard - 0.5 * 120.0 / 127.0 * sqrt2).abs() < 1e-5, "hard kick {hard}");
    assert!(out[1].iter().all(|x| x.abs() < 1e-6), "hard-left kick leaks into the right channel");
    assert!(out[0][..at(0.1)].iter().all(|x| *x == 0.0), "sound before the onset");
    assert_eq!(out[0][at(0.1) + RATE as usize / 2 + 1], 0.0, "a one-shot sample must end with its file");

    // Snare: stereo sample, volume 0.5, centred (pan_L = pan_R).
    let out = kit.render(&[note(0.0, 38, 127)], &v, RATE, frames, 64).unwrap();
    assert!((out[0][100] - 0.2 * 0.5).abs() < 1e-5 && (out[1][100] + 0.2 * 0.5).abs() < 1e-5);

    // Open hat (a 44.1 kHz file: resampled, so it lasts its 4 s) choked by a closed hat at 1 s.
    let out = kit.render(&[note(0.0, 46, 127), note(1.0, 42, 127)], &v, RATE, frames, 64).unwrap();
    let level = 0.25 * std::f32::consts::FRAC_1_SQRT_2 * sqrt2;
    assert!((out[0][at(0.5)] - level).abs() < 1e-3, "open hat level {}", out[0][at(0.5)]);
    assert!(out[0][at(1.1)..].iter().all(|x| *x == 0.0), "open hat not choked by the closed hat");

    // Keys no kit part covers (e.g. a whistle) are skipped; a missing crash falls back to nothing here.
    let out = kit.render(&[note(0.0, 71, 127), note(0.0, 49, 127)], &v, RATE, frames, 64).unwrap();
    assert!(out[0].iter().all(|x| *x == 0.0));
}

#[test]
fn discovery_excludes_the_test_kit_and_non_drum_sets_and_reports_bad_xml() {
    let root = tmp("discover");
    fixture_kit(&root.join("Good Kit"));
    fixture_kit(&root.join(EXCLUDED_KITS[0]));
    fixture_kit(&root.join(REAL_KITS[0]));
    std::fs::create_dir_all(root.join("Hand Percussion")).unwrap();
    std::fs::write(
        root.join("Hand Percussion/drumkit.xml"),
        "<drumkit_info><instrumentList><instrument><name>Maraca</name></instrument></instrumentList></drumkit_info>",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("Broken")).unwrap();
    std::fs::write(root.join("Broken/drumkit.xml"), "<drumkit_info><instrumentList>").unwrap();
    let kits = HydrogenKit::discover(&root).unwrap();
    let names: Vec<&str> = kits.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, vec!["Good Kit"]);
    // The real-recording split's kits are found only by name, and a missing one is named.
    let real = HydrogenKit::discover_named(&root, &REAL_KITS[..1]).unwrap();
    assert_eq!(real.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), vec![REAL_KITS[0]]);
    let err = HydrogenKit::discover_named(&root, &REAL_KITS).unwrap_err().to_string();
    assert!(err.contains(REAL_KITS[1]), "{err}");

    let err = HydrogenKit::open(&root.join("Broken")).unwrap_err();
    assert!(format!("{err:#}").contains("drumkit.xml"), "{err:#}");
    let err = HydrogenKit::open(&root.join("Nowhere")).unwrap_err();
    assert!(format!("{err:#}").contains("cannot read"), "{err:#}");
    // Hydrogen kits are training timbres: a test set refuses them.
    let mut test_set = TimbreSet {
        name: "test",
        fonts: vec![],
        melodic: vec![],
        kits: vec![],
        variations: vec![],
        variation_prob: 0.0,
        gus: None,
        engine: xtask::dataset::render::Engine::OxiSynth,
        oxi: vec![],
    };
    assert!(test_set.add_hydrogen_kits(&root).is_err());
}

/// The installed Debian kits: every training kit decodes (WAV, FLAC, AIFF) and plays a composed
/// groove, and every drum track, SoundFont or Hydrogen, comes out at the same active level.
#[test]
fn installed_kits_play_at_the_track_level() {
    let dir = Path::new(HYDROGEN_DIR);
    if !dir.is_dir() {
        eprintln!("skipped: {HYDROGEN_DIR} missing (install hydrogen-drumkits hydrogen-data)");
        return;
    }
    let mut set = TimbreSet::training(Path::new(SF2_DIR)).unwrap();
    let sf2_kits = set.kits.len();
    let added = set.add_hydrogen_kits(dir).unwrap();
    assert!(added >= 5, "only {added} Hydrogen kits usable in {HYDROGEN_DIR}");
    eprintln!("{added} Hydrogen kits: {:?}", set.kits[sf2_kits..].iter().map(|k| &k.name).collect::<Vec<_>>());
    assert!(set.kits.iter().all(|k| !k.name.contains("Black Pearl 1.0")));
    assert!(set.kits.iter().all(|k| REAL_KITS.iter().all(|r| k.name != format!("hydrogen:{r}"))));

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let seconds = 12.0;
    let frames = (seconds * RATE as f64) as usize;
    for kit in &set.kits {
        // A song whose drums play in the rendered span (intros may leave them out).
        let drums = loop {
            let song = compose(&mut rng, seconds);
            if let Some(d) = song.tracks.into_iter().find(|t| t.class.0 == 0) {
                if d.notes.iter().filter(|n| n.start < seconds - 1.0).count() >= 16 {
                    break d;
                }
            }
        };
        let (audio, name) = render_kit(&set, kit, &drums, RATE, frames, 40, &mut rng).unwrap();
        assert!(audio.iter().flatten().all(|x| x.is_finite()), "{name}: not finite");
        let db = active_rms_db(&audio, RATE);
        assert!((db - TRACK_RMS_DB).abs() < 0.01, "{name}: active level {db:.2} dBFS, want {TRACK_RMS_DB}");
    }
}

#[test]
fn active_level_ignores_silence_and_normalization_hits_the_target() {
    let mut a = [vec![0.0f32; RATE as usize], vec![0.0f32; RATE as usize]];
    assert_eq!(active_rms_db(&a, RATE), f32::NEG_INFINITY);
    // Ten whole 10 ms frames of a full-scale square wave, then silence: the level is 0 dBFS.
    let n = RATE as usize / 100 * 10;
    for ch in a.iter_mut() {
        for (i, x) in ch[..n].iter_mut().enumerate() {
            *x = if (i / 50) % 2 == 0 { 1.0 } else { -1.0 };
        }
    }
    assert!(active_rms_db(&a, RATE).abs() < 1e-3);
    xtask::dataset::render::normalize_track(&mut a, RATE);
    assert!((active_rms_db(&a, RATE) - TRACK_RMS_DB).abs() < 1e-3);
    assert!(a[0][RATE as usize / 2..].iter().all(|x| *x == 0.0));
}
