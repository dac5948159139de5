//! Importer for the MUSDB18-HQ folder layout, so a user who owns it can train on real music.
//!
//! Input: `<root>/{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav` (any rate, mono or
//! stereo). Output: the same per-song layout as the synthetic renderer (`mix.wav`, `stems/`,
//! `activity.npy`, `meta.json`) at the requested rate. MUSDB only separates drums, bass, vocals
//! and "other", so the activity labels of `drums`, `bass` and `voice` come from those stems and
//! every other class is marked unknown in `meta.json`'s `label_mask` (training ignores unknown
//! labels, as the thesis' partial BCE does). `other` is written as `stems/other.wav`.
//! MUSDB's `train` folder is split into train and val (every 8th track goes to val).

use std::path::Path;

use anyhow::{bail, Context, Result};

use super::classes::{BASS, CLASSES, DRUMS, VOICE};
use super::labels::write_activity;
use super::render::{activity_labels, write_pcm16, LABEL_RATE};
use crate::audio::read_wav;

const STEMS: [(&str, Option<usize>); 4] =
    [("drums", Some(DRUMS.0)), ("bass", Some(BASS.0)), ("vocals", Some(VOICE.0)), ("other", None)];

fn stereo(mut ch: Vec<Vec<f32>>) -> Result<[Vec<f32>; 2]> {
    match ch.len() {
        1 => {
            let m = ch.remove(0);
            Ok([m.clone(), m])
        }
        2 => {
            let r = ch.remove(1);
            Ok([ch.remove(0), r])
        }
        n => bail!("{n} channels (MUSDB stems are mono or stereo)"),
    }
}

fn load(path: &Path, rate: u32) -> Result<[Vec<f32>; 2]> {
    let a = read_wav(path)?;
    let ch =
        dsp_core::resample::resample_offline(&a.channels, a.sample_rate, rate).map_err(|e| anyhow::anyhow!("{e}"))?;
    stereo(ch).with_context(|| format!("{}", path.display()))
}

/// Imports every track under `root` into `out`. Returns the number of tracks imported.
pub fn import(root: &Path, out: &Path, rate: u32) -> Result<usize> {
    let mut count = 0;
    let mut splits: [Vec<String>; 3] = Default::default();
    for (src_split, names) in [("train", ["train", "val"]), ("test", ["test", "test"])] {
        let dir = root.join(src_split);
        if !dir.is_dir() {
            continue;
        }
        let mut tracks: Vec<_> =
            std::fs::read_dir(&dir)?.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_dir()).collect();
        tracks.sort();
        for (k, track) in tracks.iter().enumerate() {
            let split = if k % 8 == 7 { names[1] } else { names[0] };
            let si = ["train", "val", "test"].iter().position(|s| *s == split).unwrap_or(0);
            let id = format!("musdb-{split}-{:05}", splits[si].len());
            let dest = out.join(split).join(&id);
            import_track(track, &dest, rate).with_context(|| format!("importing {}", track.display()))?;
            splits[si].push(id);
            count += 1;
        }
    }
    if count == 0 {
        bail!("no MUSDB18-HQ tracks under {} (expected train/<track>/mixture.wav …)", root.display());
    }
    let info = serde_json::json!({
        "format": "mirsuite-multitrack-1",
        "source": "MUSDB18-HQ",
        "classes": CLASSES,
        "sample_rate": rate,
        "label_rate": LABEL_RATE,
        "splits": {"train": splits[0], "val": splits[1], "test": splits[2]},
    });
    std::fs::write(out.join("dataset.json"), serde_json::to_string_pretty(&info)?)?;
    Ok(count)
}

fn import_track(src: &Path, dest: &Path, rate: u32) -> Result<()> {
    let mix = load(&src.join("mixture.wav"), rate)?;
    let frames = mix[0].len();
    let mut stems: Vec<Option<[Vec<f32>; 2]>> = vec![None; CLASSES.len()];
    std::fs::create_dir_all(dest.join("stems"))?;
    for (name, class) in STEMS {
        let mut s = load(&src.join(format!("{name}.wav")), rate)?;
        for ch in &mut s {
            ch.resize(frames, 0.0);
        }
        match class {
            Some(c) => {
                write_pcm16(&dest.join("stems").join(format!("{}.wav", CLASSES[c])), rate, &s)?;
                stems[c] = Some(s);
            }
            None => write_pcm16(&dest.join("stems").join("other.wav"), rate, &s)?,
        }
    }
    write_pcm16(&dest.join("mix.wav"), rate, &mix)?;
    write_activity(&dest.join("activity.npy"), &activity_labels(&stems, rate, frames))?;
    let mask: Vec<bool> = (0..CLASSES.len()).map(|c| [DRUMS.0, BASS.0, VOICE.0].contains(&c)).collect();
    let meta = serde_json::json!({
        "id": dest.file_name().map(|f| f.to_string_lossy().into_owned()),
        "source": src.file_name().map(|f| f.to_string_lossy().into_owned()),
        "sample_rate": rate,
        "frames": frames,
        "label_rate": LABEL_RATE,
        "classes": CLASSES,
        "label_mask": mask,
        "present": stems.iter().map(|s| s.is_some()).collect::<Vec<_>>(),
    });
    std::fs::write(dest.join("meta.json"), serde_json::to_string(&meta)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{write_wav, Audio};

    #[test]
    fn imports_a_tiny_musdb_layout() {
        let root = std::env::temp_dir().join(format!("musdb-fixture-{}", std::process::id()));
        let out = root.join("out");
        let rate = 44_100;
        for (split, n) in [("train", 2), ("test", 1)] {
            for t in 0..n {
                let dir = root.join("musdb").join(split).join(format!("Artist - Song {t}"));
                std::fs::create_dir_all(&dir).unwrap();
                let len = rate as usize;
                let tone = |f: f32, on: std::ops::Range<usize>| -> Vec<f32> {
                    (0..len)
                        .map(|i| {
                            if on.contains(&i) {
                                0.3 * (i as f32 * f / rate as f32 * std::f32::consts::TAU).sin()
                            } else {
                                0.0
                            }
                        })
                        .collect()
                };
                let vocals = tone(440.0, 0..len / 2);
                let drums = tone(100.0, len / 2..len);
                let bass = vec![0.0; len];
                let other = tone(660.0, 0..len);
                let mix: Vec<f32> = (0..len).map(|i| vocals[i] + drums[i] + bass[i] + other[i]).collect();
                for (name, x) in
                    [("vocals", &vocals), ("drums", &drums), ("bass", &bass), ("other", &other), ("mixture", &mix)]
                {
                    write_wav(
                        &dir.join(format!("{name}.wav")),
                        &Audio { sample_rate: rate, channels: vec![x.clone(), x.clone()] },
                    )
                    .unwrap();
                }
            }
        }
        let n = import(&root.join("musdb"), &out, 22_050).unwrap();
        assert_eq!(n, 3);
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("dataset.json")).unwrap()).unwrap();
        assert_eq!(info["splits"]["train"].as_array().unwrap().len(), 2);
        assert_eq!(info["splits"]["test"].as_array().unwrap().len(), 1);
        let song = out.join("train/musdb-train-00000");
        let mix = read_wav(&song.join("mix.wav")).unwrap();
        assert_eq!((mix.sample_rate, mix.frames()), (22_050, 22_050));
        let bytes = std::fs::read(song.join("activity.npy")).unwrap();
        let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(npy.shape(), &[100, CLASSES.len() as u64]);
        let labels: Vec<u8> = npy.into_vec().unwrap();
        let at = |frame: usize, class: usize| labels[frame * CLASSES.len() + class];
        // Vocals in the first half, drums in the second, bass silent throughout.
        assert_eq!((at(20, VOICE.0), at(80, VOICE.0)), (1, 0));
        assert_eq!((at(20, DRUMS.0), at(80, DRUMS.0)), (0, 1));
        assert!((0..100).all(|f| at(f, BASS.0) == 0));
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(song.join("meta.json")).unwrap()).unwrap();
        assert_eq!(meta["label_mask"][VOICE.0], true);
        assert_eq!(meta["label_mask"][2], false);
        assert!(import(&root.join("nothing"), &out, 22_050).is_err());
    }
}
