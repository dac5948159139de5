//! `cargo xtask eval <model>`: the options every model's evaluation takes, and the dataset
//! index they read. Each model's evaluator (in [`crate::models`]) runs the Rust inference path
//! (tract, through the same task the plugin uses) over a split, then computes the metrics with
//! the field's reference implementations (scikit-learn, via the model's Python metrics).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

/// Options of `cargo xtask eval`.
pub struct EvalOptions {
    /// Model name (one of [`crate::models::MODELS`]).
    pub model: String,
    /// Dataset folder (with dataset.json).
    pub data: PathBuf,
    /// Split to evaluate (`test`).
    pub split: String,
    /// Model folder (default `models/<model>`).
    pub model_dir: PathBuf,
    /// Where to write the `{"model", "split", "metrics"}` JSON.
    pub json: PathBuf,
    /// Where to write the per-class plot.
    pub plot: PathBuf,
    /// Write the metrics into the model card and README.
    pub update_card: bool,
    /// Evaluate at most this many songs (0: all).
    pub max_songs: usize,
    /// Evaluate only these songs of the split (empty: all).
    pub songs: Vec<String>,
    /// Tune every response's thresholds on this split and make this averaging time (s) the
    /// card's default, instead of measuring.
    pub tune: Option<f32>,
    /// A second model folder run on the same songs with its own card's default response: the
    /// metrics then add a paired song-bootstrap interval of the difference (this model − it).
    pub baseline: Option<PathBuf>,
}

/// A rendered dataset's index (`dataset.json`) and the songs of one split.
pub struct SplitIndex {
    /// The whole `dataset.json`.
    pub info: serde_json::Value,
    /// Song folder names of the split (at most `max_songs`), non-empty.
    pub songs: Vec<String>,
}

impl SplitIndex {
    /// Reads `opts.data/dataset.json` and the songs of `opts.split`.
    pub fn read(opts: &EvalOptions) -> Result<Self> {
        let info: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(opts.data.join("dataset.json"))
                .with_context(|| format!("no dataset at {} (run `cargo xtask dataset`)", opts.data.display()))?,
        )?;
        let mut songs: Vec<String> = serde_json::from_value(info["splits"][&opts.split].clone())
            .with_context(|| format!("{} has no split {:?}", opts.data.display(), opts.split))?;
        if !opts.songs.is_empty() {
            if let Some(missing) = opts.songs.iter().find(|s| !songs.contains(s)) {
                bail!("split {} of {} has no song {missing:?}", opts.split, opts.data.display());
            }
            songs.retain(|s| opts.songs.contains(s));
        }
        if opts.max_songs > 0 {
            songs.truncate(opts.max_songs);
        }
        if songs.is_empty() {
            bail!("split {} of {} is empty", opts.split, opts.data.display());
        }
        Ok(SplitIndex { info, songs })
    }

    /// The folder of one song of the split.
    pub fn song_dir(opts: &EvalOptions, song: &str) -> PathBuf {
        opts.data.join(&opts.split).join(song)
    }
}
