//! The dataset renderer is deterministic: the same seed and arguments give bit-identical files,
//! and the mix is the sum of the stems.

use std::path::Path;

use xtask::audio::read_wav;
use xtask::dataset::gus::{GusBank, FREEPATS_DIR};
use xtask::dataset::hydrogen::{HYDROGEN_DIR, REAL_KITS};
use xtask::dataset::render::{Augment, Engine, TimbreSet, SF2_DIR};
use xtask::dataset::{generate, DatasetOptions};

fn opts(out: &Path, seed: u64) -> DatasetOptions {
    DatasetOptions {
        out: out.to_path_buf(),
        songs: [2, 1, 0, 1],
        seconds: 6.0,
        rate: 22_050,
        seed,
        jobs: 2,
        stems: true,
        augment: Augment::parse("all").unwrap(),
        sf2_dir: SF2_DIR.into(),
        hydrogen_dir: None,
        variations: 0.35,
        gus_dir: Some(FREEPATS_DIR.into()),
        synth: Engine::OxiSynth,
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "dataset.json" {
                out.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn same_seed_same_bytes_and_mix_equals_sum_of_stems() {
    let tmp = std::env::temp_dir().join(format!("suite-dataset-{}", std::process::id()));
    let (a, b, c) = (tmp.join("a"), tmp.join("b"), tmp.join("c"));
    generate(&opts(&a, 3)).unwrap();
    generate(&opts(&b, 3)).unwrap();
    generate(&opts(&c, 4)).unwrap();
    let (fa, fb, fc) = (files(&a), files(&b), files(&c));
    assert!(fa.iter().any(|(n, _)| n.ends_with("mix.wav")));
    assert_eq!(fa, fb, "same seed, different files");
    assert_ne!(fa, fc, "different seeds gave the same files");

    let song = a.join("train/train-00000");
    let mix = read_wav(&song.join("mix.wav")).unwrap();
    let mut sum = vec![vec![0.0f32; mix.frames()]; 2];
    for e in std::fs::read_dir(song.join("stems")).unwrap() {
        let s = read_wav(&e.unwrap().path()).unwrap();
        for (acc, ch) in sum.iter_mut().zip(&s.channels) {
            acc.iter_mut().zip(ch).for_each(|(x, y)| *x += y);
        }
    }
    // 16-bit files: each stem and the mix carry up to half an LSB of rounding.
    let tol = 8.0 / 32768.0;
    let worst = mix
        .channels
        .iter()
        .zip(&sum)
        .flat_map(|(m, s)| m.iter().zip(s).map(|(x, y)| (x - y).abs()))
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "mix differs from the sum of its stems by {worst}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn variation_presets_are_offered_and_played() {
    use xtask::dataset::classes::{PIANO, VARIATIONS};
    let set = TimbreSet::training(Path::new(SF2_DIR)).unwrap();
    // Every offered variation exists in its font (rustysynth would silently fall back to bank 0).
    for &(font, bank, program, class) in &set.variations {
        assert!(VARIATIONS.contains(&(bank, program, class)));
        let sf = &set.fonts[font].1;
        assert!(sf
            .get_presets()
            .iter()
            .any(|p| p.get_bank_number() == bank as i32 && p.get_patch_number() == program as i32));
    }
    // …and sounds at the bottom, middle and top of its class's range.
    for &(font, bank, program, class) in &set.variations {
        let (lo, hi) = class.range();
        for key in [lo, (lo + hi) / 2, hi] {
            let peak = xtask::dataset::render::preset_peak(&set.fonts[font].1, bank, program, &[key], 22_050).unwrap();
            assert!(
                peak > 1e-3,
                "{} bank {bank} program {program} ({}) is silent at key {key}",
                set.fonts[font].0,
                class.name()
            );
        }
    }
    let has_gmbank = set.fonts.iter().any(|f| f.0 == "sf_GMbank.sf2");
    if !has_gmbank {
        eprintln!("sf_GMbank.sf2 not installed (csound-soundfont): variation rendering not checked");
        return;
    }
    assert!(set.variations.iter().any(|v| v.1 == 127 && v.3 == PIANO), "sf_GMbank's MT-32 pianos missing");

    // With probability 1 every melodic track whose font has variations of its class plays one,
    // and the songs still sound.
    let tmp = std::env::temp_dir().join(format!("suite-variations-{}", std::process::id()));
    let mut o = opts(&tmp, 5);
    o.songs = [4, 0, 0, 0];
    o.variations = 1.0;
    generate(&o).unwrap();
    let mut played = 0;
    for i in 0..4 {
        let song = tmp.join(format!("train/train-{i:05}"));
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(song.join("meta.json")).unwrap()).unwrap();
        let timbres = meta["timbres"].as_array().unwrap();
        played += timbres.iter().filter(|t| t.as_str().unwrap().contains(":bank ")).count();
        // (A stem may be silent: a 6 s excerpt can fall where its part rests.)
        let mix = read_wav(&song.join("mix.wav")).unwrap();
        let peak = mix.channels.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 1e-3, "silent mix in {}", song.display());
    }
    assert!(played > 0, "no track played a variation preset");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Pitch of `x` in Hz: the first lag whose normalized autocorrelation comes within 10 % of the
/// best one between 40 Hz and 2 kHz (so a strong second period does not read an octave low).
fn pitch(x: &[f32], rate: f64) -> f64 {
    let lags = (rate / 2000.0) as usize..(rate / 40.0) as usize;
    let n = x.len() - lags.end;
    let e0: f32 = x[..n].iter().map(|v| v * v).sum();
    let r: Vec<f32> = lags
        .clone()
        .map(|l| {
            let (xy, el) = (0..n).fold((0.0, 0.0), |(a, b), i| (a + x[i] * x[i + l], b + x[i + l] * x[i + l]));
            xy / (e0 * el).sqrt().max(1e-12)
        })
        .collect();
    let best = r.iter().copied().fold(f32::MIN, f32::max);
    // First local maximum at or above 90 % of the best.
    let i = (1..r.len() - 1).find(|&i| r[i] >= 0.9 * best && r[i] >= r[i - 1] && r[i] >= r[i + 1]).unwrap_or(0);
    rate / (lags.start + i) as f64
}

#[test]
fn freepats_cover_every_melodic_class_and_play_in_tune() {
    use xtask::dataset::classes::{Class, PROGRAMS};
    use xtask::dataset::compose::Note;
    let bank = GusBank::open(Path::new(FREEPATS_DIR))
        .expect("freepats (Debian package freepats): the real-recording split's melodic timbres");
    let rate = 22_050u32;
    let mut out_of_tune = Vec::new();
    for (c, pool) in PROGRAMS.iter().enumerate().skip(1) {
        let class = Class(c);
        let have: Vec<u8> = pool.iter().copied().filter(|p| bank.patch(*p).is_some()).collect();
        assert!(!have.is_empty(), "freepats has no program of class {}", class.name());
        let (lo, hi) = class.range();
        for p in have {
            for key in [lo + 5, (lo + hi) / 2] {
                let notes = [Note { start: 0.0, dur: 0.8, key, vel: 100 }];
                let a = bank.render(p, &notes, rate, rate as usize, 64).unwrap();
                assert!(a.iter().flatten().all(|x| x.is_finite()));
                let peak = a[0].iter().fold(0.0f32, |m, x| m.max(x.abs()));
                assert!(peak > 1e-3, "freepats program {p} is silent at key {key}");
                let want = 440.0 * 2f64.powf((key as f64 - 69.0) / 12.0);
                let got = pitch(&a[0][(0.15 * rate as f64) as usize..(0.45 * rate as f64) as usize], rate as f64);
                let cents = 1200.0 * (got / want).log2();
                // Organ registrations may include a 16' stop, an octave below the key (freepats'
                // church organ does in its c2 sample); the period then reads an octave low.
                let sub_octave_ok = class == xtask::dataset::classes::ORGAN && (cents + 1200.0).abs() <= 30.0;
                if cents.abs() > 30.0 && !sub_octave_ok {
                    out_of_tune.push(format!("program {p} key {key}: {got:.1} Hz, want {want:.1} ({cents:+.0} cents)"));
                }
            }
        }
    }
    assert!(out_of_tune.is_empty(), "out of tune:\n{}", out_of_tune.join("\n"));

    // The bank is the real-recording split's: a training or test set refuses it as a source,
    // and every melodic track of a real song plays it, every drum track a held-out kit.
    assert!(TimbreSet::real(Path::new(FREEPATS_DIR), Path::new(HYDROGEN_DIR)).is_ok_and(|s| s.fonts.is_empty()));
    assert!(
        TimbreSet::test(Path::new(SF2_DIR)).is_ok_and(|mut t| t.add_hydrogen_kits(Path::new(HYDROGEN_DIR)).is_err())
    );
    let tmp = std::env::temp_dir().join(format!("suite-real-{}", std::process::id()));
    let mut o = opts(&tmp, 6);
    o.songs = [0, 0, 0, 3];
    o.stems = false;
    generate(&o).unwrap();
    let again = std::env::temp_dir().join(format!("suite-real-again-{}", std::process::id()));
    generate(&DatasetOptions { out: again.clone(), ..o.clone() }).unwrap();
    assert_eq!(files(&tmp), files(&again), "the real split is not reproducible");
    let (mut melodic, mut drums) = (0, 0);
    for i in 0..3 {
        let dir = tmp.join(format!("real/real-{i:05}"));
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
        for t in meta["timbres"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            if t.starts_with("freepats:") {
                melodic += 1;
            } else {
                assert!(REAL_KITS.iter().any(|k| t.starts_with(&format!("hydrogen:{k} "))), "a real song played {t:?}");
                drums += 1;
            }
        }
        // Labels as in every split, and a clean mix: finite, not clipped.
        let mix = read_wav(&dir.join("mix.wav")).unwrap();
        assert!(mix.channels.iter().flatten().all(|x| x.is_finite() && x.abs() < 1.0));
        assert!(dir.join("activity.npy").is_file());
    }
    assert!(melodic > 0 && drums > 0, "real songs: {melodic} melodic and {drums} drum tracks");
    let _ = std::fs::remove_dir_all(&tmp);
    let _ = std::fs::remove_dir_all(&again);
}

#[test]
fn mixed_engine_renders_with_both_synthesizers_deterministically() {
    let tmp = std::env::temp_dir().join(format!("suite-dataset-mixed-{}", std::process::id()));
    let make = |out: &Path| {
        let mut o = opts(out, 5);
        o.songs = [4, 0, 0, 0];
        o.seconds = 3.0;
        o.stems = false;
        o.synth = Engine::Mixed;
        generate(&o).unwrap();
    };
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    make(&a);
    make(&b);
    assert_eq!(files(&a), files(&b), "a mixed render is not reproducible");
    let mut tags = [0usize; 2];
    for i in 0..4 {
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(a.join(format!("train/train-{i:05}/meta.json"))).unwrap()).unwrap();
        for t in meta["timbres"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            // Hydrogen kits are off here, so every track is a SoundFont track with its engine named.
            assert!(t.ends_with(" [rustysynth]") || t.ends_with(" [oxisynth]"), "no engine in {t:?}");
            tags[usize::from(t.ends_with(" [oxisynth]"))] += 1;
        }
    }
    assert!(tags[0] > 0 && tags[1] > 0, "4 songs' tracks all went to one engine: {tags:?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn recording_chain_is_deterministic_keeps_the_stem_sum_and_is_recorded() {
    use xtask::dataset::chain::Chain;
    let tmp = std::env::temp_dir().join(format!("suite-chain-{}", std::process::id()));
    let make = |out: &Path, chain: Chain| {
        let mut o = opts(out, 8);
        o.songs = [2, 0, 0, 0];
        o.seconds = 4.0;
        o.augment.chain = chain;
        generate(&o).unwrap();
    };
    let (a, b, off) = (tmp.join("a"), tmp.join("b"), tmp.join("off"));
    make(&a, Chain::ALL);
    make(&b, Chain::ALL);
    make(&off, Chain::default());
    assert_eq!(files(&a), files(&b), "a render with the recording chain is not reproducible");
    assert_ne!(files(&a), files(&off), "the recording chain changed nothing");
    let song = a.join("train/train-00000");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(song.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["augment"]["chain"]["room"], true, "meta.json does not record the chain");
    assert!(meta["timbres"].as_array().unwrap().iter().any(|t| t.as_str().unwrap().contains("room ")));
    let mix = read_wav(&song.join("mix.wav")).unwrap();
    assert!(mix.channels.iter().flatten().all(|x| x.is_finite() && x.abs() < 1.0));
    let mut sum = vec![vec![0.0f32; mix.frames()]; 2];
    for e in std::fs::read_dir(song.join("stems")).unwrap() {
        let s = read_wav(&e.unwrap().path()).unwrap();
        for (acc, ch) in sum.iter_mut().zip(&s.channels) {
            acc.iter_mut().zip(ch).for_each(|(x, y)| *x += y);
        }
    }
    let worst = mix
        .channels
        .iter()
        .zip(&sum)
        .flat_map(|(m, s)| m.iter().zip(s).map(|(x, y)| (x - y).abs()))
        .fold(0.0f32, f32::max);
    assert!(worst <= 8.0 / 32768.0, "with the chain the mix differs from its stems' sum by {worst}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Normalized autocorrelation of `x` at `lag`.
fn autocorr(x: &[f32], lag: usize) -> f32 {
    let (a, b) = (&x[..x.len() - lag], &x[lag..]);
    let dot: f32 = a.iter().zip(b).map(|(p, q)| p * q).sum();
    dot / (a.iter().map(|p| p * p).sum::<f32>() * b.iter().map(|q| q * q).sum::<f32>()).sqrt().max(1e-12)
}

#[test]
fn repitched_playback_keeps_pitch_and_onset_and_plays_the_sample_k_semitones_away() {
    use rand::SeedableRng;
    use xtask::dataset::chain::{repitch, Chain};
    use xtask::dataset::classes::Class;
    use xtask::dataset::compose::Note;
    const RATE: u32 = 22_050;
    let bank = GusBank::open(Path::new(FREEPATS_DIR)).expect("freepats (apt-get install freepats)");
    let patch = bank.patch(0).expect("freepats has a piano").clone();
    let on = Chain { repitch: true, ..Chain::default() };
    let frames = RATE as usize;
    // The first seed that draws k = +3 for the piano class.
    let (seed, k) = (0..200u64)
        .find_map(|seed| {
            let probe = [Note { start: 0.2, dur: 0.8, key: 60, vel: 100 }];
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            repitch(&probe, Class(1), RATE, &on, &mut rng).and_then(|(_, _, k)| (k == 3).then_some((seed, k)))
        })
        .expect("no seed drew +3");
    let steady = |x: &[f32]| x[(0.35 * RATE as f64) as usize..(0.75 * RATE as f64) as usize].to_vec();
    let corr = |p: &[f32], s: &[f32]| {
        p.iter().zip(s).map(|(x, y)| x * y).sum::<f32>()
            / (p.iter().map(|x| x * x).sum::<f32>() * s.iter().map(|y| y * y).sum::<f32>()).sqrt().max(1e-12)
    };
    let (mut same_zone, mut other_zone) = (0, 0);
    for key in 45u8..=76 {
        let note = [Note { start: 0.2, dur: 0.8, key, vel: 100 }];
        let plain = bank.render(0, &note, RATE, frames, 64).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (synth_rate, played, k2) = repitch(&note, Class(1), RATE, &on, &mut rng).unwrap();
        assert_eq!(k2, k);
        let shifted = bank.render(0, &played, synth_rate, frames, 64).unwrap();
        assert!(shifted.iter().flatten().all(|x| x.is_finite()));
        let (p, s) = (steady(&plain[0]), steady(&shifted[0]));
        if std::ptr::eq(patch.sample_for(key), patch.sample_for(key - k as u8)) {
            // One sample serves both keys: playing it from k semitones lower, sped up, is the
            // same playback (a sampler already resamples within a zone).
            assert!(corr(&p, &s) > 0.99, "key {key}: same sample, different sound ({})", corr(&p, &s));
            same_zone += 1;
        } else {
            // Another multisample: a different sound, at the key's pitch and onset.
            assert!(corr(&p, &s).abs() < 0.9, "key {key}: another sample, same sound ({})", corr(&p, &s));
            let period = RATE as f64 / (440.0 * 2f64.powf((key as f64 - 69.0) / 12.0));
            let wrong = period * 2f64.powf(k as f64 / 12.0);
            let at = |x: &[f32], lag: f64| autocorr(x, lag.round() as usize);
            assert!(
                at(&s, period) > 0.8 && at(&s, wrong) < at(&s, period) - 0.1,
                "key {key}: re-pitched note off pitch"
            );
            let onset = |x: &[f32]| {
                let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                x.iter().position(|v| v.abs() > 0.05 * peak).unwrap()
            };
            assert!(onset(&plain[0]).abs_diff(onset(&shifted[0])) <= 22, "key {key}: onset moved");
            other_zone += 1;
        }
    }
    assert!(same_zone > 0 && other_zone > 0, "keys 45-76: {same_zone} within a zone, {other_zone} across zones");
}
