//! `cargo xtask dataset`: procedurally composed multitrack songs rendered with SoundFonts.
//!
//! Layout written under `--out`:
//! ```text
//! dataset.json                  classes, splits, timbres, seed, command, render throughput
//! <split>/<split>-NNNNN/
//!     mix.wav                   16-bit stereo, the exact sum of the stems
//!     stems/<class>.wav         (with --stems) one stem per instrument class present
//!     activity.npy              uint8 [frames, classes] at 100 frames/s, from stem envelopes
//!     meta.json                 song (style, tempo, key, sections, tracks, notes), timbres,
//!                               drum onsets (time, class, key, velocity)
//! ```
//! Splits are by song (different seeds) and by timbre set: train and val use the training
//! SoundFonts and Hydrogen kits, test only MuseScore General and the AVL kits, real (the
//! real-recording split) only recorded instruments: the freepats GUS patches and the Hydrogen
//! kits in [`hydrogen::REAL_KITS`], which training never sees. The same arguments give
//! bit-identical files.

pub mod chain;
pub mod classes;
pub mod compose;
pub mod gus;
pub mod hydrogen;
pub mod labels;
pub mod musdb;
pub mod render;
pub mod templates;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use classes::CLASSES;
use labels::ActivityRow;
use render::{Augment, TimbreSet, LABEL_RATE};

/// Options of `cargo xtask dataset`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatasetOptions {
    /// Output folder.
    pub out: PathBuf,
    /// Songs per split: train, val, test, real (the real-recording split).
    pub songs: [usize; 4],
    /// Length of each song in seconds.
    pub seconds: f64,
    /// Sample rate of the written audio in Hz.
    pub rate: u32,
    /// Master seed.
    pub seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// Write per-class stems.
    pub stems: bool,
    /// Augmentations for the train split (val and test are never augmented).
    pub augment: Augment,
    /// Folder with the .sf2 files.
    pub sf2_dir: PathBuf,
    /// Folder of Hydrogen drum kits added to the training timbres (`None`: SoundFont kits only).
    pub hydrogen_dir: Option<PathBuf>,
    /// Probability that a train/val melodic track plays one of its font's variation presets
    /// of the same class ([`classes::VARIATIONS`]) instead of its GM program; 0 turns it off.
    pub variations: f64,
    /// Folder of the GUS patches (freepats) the real-recording split plays its melodic tracks
    /// with (`None`: [`gus::FREEPATS_DIR`]). Never a training timbre.
    pub gus_dir: Option<PathBuf>,
    /// Synthesizer for the train/val SoundFonts (the test split always uses oxisynth).
    pub synth: render::Engine,
}

/// The splits, in seed-stream order: train and val (training timbres), test (held-out
/// SoundFont timbres), real (held-out recorded timbres: freepats and [`hydrogen::REAL_KITS`]).
pub const SPLITS: [&str; 4] = ["train", "val", "test", "real"];

/// Seed of song `i` of split `s`: independent streams per split and song.
pub fn song_seed(seed: u64, split: usize, i: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((split as u64) << 40) ^ i as u64
}

/// Generates the dataset. Returns total seconds of audio rendered.
pub fn generate(opts: &DatasetOptions) -> Result<f64> {
    std::fs::create_dir_all(&opts.out).with_context(|| format!("cannot create {}", opts.out.display()))?;
    anyhow::ensure!(
        (0.0..=1.0).contains(&opts.variations),
        "--variations is a probability (0 to 1), got {}",
        opts.variations
    );
    let started = Instant::now();
    let mut split_ids: Vec<Vec<String>> = Vec::new();
    let mut timbres_used = serde_json::Map::new();
    let mut rendered_seconds = 0.0;
    let (mut training_set, mut test_set, mut real_set) = (None, None, None);
    for (si, split) in SPLITS.iter().enumerate() {
        let n = opts.songs[si];
        if n == 0 {
            split_ids.push(Vec::new());
            continue;
        }
        // Train and val share one training set (fonts, kits and patches are loaded once).
        let set: &TimbreSet = if *split == "test" {
            test_set.insert(TimbreSet::test(&opts.sf2_dir)?)
        } else if *split == "real" {
            let gus = opts.gus_dir.clone().unwrap_or_else(|| gus::FREEPATS_DIR.into());
            let kits = opts.hydrogen_dir.clone().unwrap_or_else(|| hydrogen::HYDROGEN_DIR.into());
            real_set.insert(TimbreSet::real(&gus, &kits)?)
        } else {
            match training_set {
                Some(ref set) => set,
                None => training_set.insert(training_timbres(opts)?),
            }
        };
        timbres_used.insert(
            split.to_string(),
            serde_json::json!({
                "fonts": set.fonts.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
                "synth": set.engine,
                "kits": set.kits.iter().map(|k| k.name.clone()).collect::<Vec<_>>(),
                "variations": set.variations.iter().map(|v| format!("{}:bank {} program {} ({})", set.fonts[v.0].0, v.1, v.2, v.3.name())).collect::<Vec<_>>(),
                "gus": set.gus.as_ref().map(|g| serde_json::json!({"name": g.name, "programs": g.programs().collect::<Vec<_>>()})),
            }),
        );
        let aug = if *split == "train" { opts.augment } else { Augment::default() };
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>5} [{bar:40}] {pos}/{len} songs, {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(split.to_string());
        let next = AtomicUsize::new(0);
        let errors = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..opts.jobs.max(1) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    if let Err(e) = write_song(opts, set, si, i, &aug) {
                        if let Ok(mut errs) = errors.lock() {
                            errs.push(format!("{split} song {i}: {e:#}"));
                        }
                    }
                    bar.inc(1);
                });
            }
        });
        bar.finish();
        let errs = errors.into_inner().unwrap_or_default();
        if let Some(e) = errs.first() {
            anyhow::bail!("{} songs failed; first: {e}", errs.len());
        }
        split_ids.push((0..n).map(|i| format!("{split}-{i:05}")).collect());
        rendered_seconds += n as f64 * opts.seconds;
    }
    let wall = started.elapsed().as_secs_f64();
    let core_minutes = wall * opts.jobs.max(1) as f64 / 60.0;
    let hours_per_core_minute = rendered_seconds / 3600.0 / core_minutes.max(1e-9);
    let info = serde_json::json!({
        "format": "mirsuite-multitrack-1",
        "classes": CLASSES,
        "sample_rate": opts.rate,
        "label_rate": LABEL_RATE,
        "seconds_per_song": opts.seconds,
        "splits": {"train": split_ids[0], "val": split_ids[1], "test": split_ids[2], "real": split_ids[3]},
        "timbres": timbres_used,
        "options": opts,
        // The call as a user types it, whichever binary path ran it.
        "command": format!("cargo xtask {}", std::env::args().skip(1).collect::<Vec<_>>().join(" ")),
        "render": {
            "audio_seconds": rendered_seconds,
            "wall_seconds": wall,
            "threads": opts.jobs,
            "audio_hours_per_core_minute": hours_per_core_minute,
        },
    });
    std::fs::write(opts.out.join("dataset.json"), serde_json::to_string_pretty(&info)?)?;
    println!(
        "rendered {:.1} min of multitrack audio in {:.1} s on {} threads: {:.3} h of audio per core-minute",
        rendered_seconds / 60.0,
        wall,
        opts.jobs,
        hours_per_core_minute
    );
    Ok(rendered_seconds)
}

/// The train/val timbres `opts` asks for.
fn training_timbres(opts: &DatasetOptions) -> Result<TimbreSet> {
    let mut set = TimbreSet::training(&opts.sf2_dir)?.with_engine(&opts.sf2_dir, opts.synth)?;
    if let Some(dir) = &opts.hydrogen_dir {
        set.add_hydrogen_kits(dir)?;
    }
    set.variation_prob = opts.variations;
    Ok(set)
}

fn write_song(opts: &DatasetOptions, set: &TimbreSet, split: usize, i: usize, aug: &Augment) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(song_seed(opts.seed, split, i));
    let mut song = compose::compose(&mut rng, opts.seconds);
    let frames = (opts.seconds * opts.rate as f64).round() as usize;
    let r = render::render(&mut song, set, opts.rate, frames, aug, &mut rng)?;
    let dir = render::song_dir(&opts.out, SPLITS[split], i);
    std::fs::create_dir_all(&dir)?;
    render::write_pcm16(&dir.join("mix.wav"), opts.rate, &r.mix)?;
    let mut meta = serde_json::json!({
        "id": dir.file_name().map(|f| f.to_string_lossy().into_owned()),
        "split": SPLITS[split],
        "seed": song_seed(opts.seed, split, i),
        "sample_rate": opts.rate,
        "frames": frames,
        "label_rate": LABEL_RATE,
        "classes": CLASSES,
        "present": r.stems.iter().map(|s| s.is_some()).collect::<Vec<_>>(),
        "timbres": r.timbres,
        "transpose": r.transpose,
        "augment": aug,
        "song": song,
    });
    let labels = labels::SongLabels { song: &song, rendered: &r, seconds: opts.seconds };
    let fields = meta.as_object_mut().context("meta is an object")?;
    for w in labels::writers(opts.stems) {
        w.write(&labels, &dir, fields).with_context(|| format!("writing {}", w.name()))?;
    }
    std::fs::write(dir.join("meta.json"), serde_json::to_string(&meta)?)?;
    Ok(())
}

/// Default output folder for a dataset name.
pub fn default_out(root: &Path, name: &str) -> PathBuf {
    root.join("data").join(name)
}

/// Composes and renders one training-timbre song in memory (for tests and demos): the stereo
/// mix and its activity labels at [`LABEL_RATE`].
pub fn render_song(seed: u64, seconds: f64, rate: u32, sf2_dir: &Path) -> Result<([Vec<f32>; 2], Vec<ActivityRow>)> {
    let (_, r) = compose_and_render(seed, seconds, rate, sf2_dir)?;
    Ok((r.mix, r.activity))
}

/// One seeded training-timbre song, composed and rendered without augmentation.
fn compose_and_render(seed: u64, seconds: f64, rate: u32, sf2_dir: &Path) -> Result<(compose::Song, render::Rendered)> {
    let set = TimbreSet::training(sf2_dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut song = compose::compose(&mut rng, seconds);
    let frames = (seconds * rate as f64).round() as usize;
    let r = render::render(&mut song, &set, rate, frames, &Augment::default(), &mut rng)?;
    Ok((song, r))
}

/// A whole stereo mix with its drum stem and every drum hit in it: (mix, drum stem, hits as
/// onset seconds and class name as in `drum_onsets`, in time order).
pub type DrumMix = ([Vec<f32>; 2], [Vec<f32>; 2], Vec<(f64, &'static str)>);

/// Composes and renders one training-timbre song and returns its mix, its drum stem and its
/// drum hits, for tests and demos; `None` when the song has no drums.
pub fn render_drum_mix(seed: u64, seconds: f64, rate: u32, sf2_dir: &Path) -> Result<Option<DrumMix>> {
    let (song, r) = compose_and_render(seed, seconds, rate, sf2_dir)?;
    let Some(stem) = r.stems.into_iter().next().flatten() else { return Ok(None) };
    let mut hits: Vec<(f64, &'static str)> = song
        .tracks
        .iter()
        .filter(|t| t.class.0 == 0)
        .flat_map(|t| t.notes.iter())
        .filter(|n| n.start < seconds)
        .map(|n| (n.start, classes::drum_keys::class(n.key)))
        .collect();
    hits.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Some((r.mix, stem, hits)))
}
