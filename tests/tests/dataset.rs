//! The dataset renderer is deterministic: the same seed and arguments give bit-identical files,
//! and the mix is the sum of the stems.

use std::path::Path;

use xtask::audio::read_wav;
use xtask::dataset::render::{Augment, SF2_DIR};
use xtask::dataset::{generate, DatasetOptions};

fn opts(out: &Path, seed: u64) -> DatasetOptions {
    DatasetOptions {
        out: out.to_path_buf(),
        songs: [2, 1, 0],
        seconds: 6.0,
        rate: 22_050,
        seed,
        jobs: 2,
        stems: true,
        augment: Augment::parse("all").unwrap(),
        sf2_dir: SF2_DIR.into(),
        hydrogen_dir: None,
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
