//! Per-task label writers: what a dataset song folder holds besides `mix.wav`. Each model reads
//! its own targets, so each kind of target has one writer here, and adding a task's labels is
//! adding a writer (and listing it in [`writers`]):
//!
//! * [`ActivityRows`]: `activity.npy`, uint8 `[frames, classes]` at [`render::LABEL_RATE`] (the activity
//!   model's targets, from stem envelopes).
//! * [`StemAudio`]: `stems/<class>.wav`, one stereo stem per class present (separation targets;
//!   with `--stems`).
//! * [`DrumOnsets`]: `drum_onsets` in `meta.json`, `{time, class, key, velocity}` per drum hit
//!   (transcription targets, scored against the drum transcriber).
//!
//! The song's note events (every track's notes, with program and class) are part of the song
//! description in `meta.json` for every task.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Map, Value};

pub use super::classes::ActivityRow;
use super::classes::{drum_keys, CLASSES};
use super::compose::Song;
use super::render::{self, Rendered};

/// Everything a writer may read about one rendered song.
pub struct SongLabels<'a> {
    /// The composed song (tracks, notes).
    pub song: &'a Song,
    /// Its render: stems, mix, activity rows.
    pub rendered: &'a Rendered,
    /// Length in seconds.
    pub seconds: f64,
}

/// Writes one kind of label for a song: files into its folder and/or fields into its meta.json.
pub trait LabelWriter: Sync {
    /// What the labels are, for error messages.
    fn name(&self) -> &'static str;
    /// Writes the labels of `song` into `dir` (the song's folder) and `meta`.
    fn write(&self, song: &SongLabels, dir: &Path, meta: &mut Map<String, Value>) -> Result<()>;
}

/// `activity.npy`: instrument activity rows at [`render::LABEL_RATE`].
pub struct ActivityRows;

impl LabelWriter for ActivityRows {
    fn name(&self) -> &'static str {
        "activity rows"
    }
    fn write(&self, s: &SongLabels, dir: &Path, _: &mut Map<String, Value>) -> Result<()> {
        write_activity(&dir.join("activity.npy"), &s.rendered.activity)
    }
}

/// `stems/<class>.wav`: the per-class stems whose sum is the mix.
pub struct StemAudio;

impl LabelWriter for StemAudio {
    fn name(&self) -> &'static str {
        "stems"
    }
    fn write(&self, s: &SongLabels, dir: &Path, _: &mut Map<String, Value>) -> Result<()> {
        std::fs::create_dir_all(dir.join("stems"))?;
        for (c, stem) in s.rendered.stems.iter().enumerate() {
            if let Some(stem) = stem {
                let path = dir.join("stems").join(format!("{}.wav", CLASSES[c]));
                render::write_pcm16(&path, s.rendered.sample_rate, stem)?;
            }
        }
        Ok(())
    }
}

/// `drum_onsets` in meta.json: every drum hit inside the song's length.
pub struct DrumOnsets;

impl LabelWriter for DrumOnsets {
    fn name(&self) -> &'static str {
        "drum onsets"
    }
    fn write(&self, s: &SongLabels, _: &Path, meta: &mut Map<String, Value>) -> Result<()> {
        let drums: Vec<Value> = s
            .song
            .tracks
            .iter()
            .filter(|t| t.class.0 == 0)
            .flat_map(|t| t.notes.iter())
            .filter(|n| n.start < s.seconds)
            .map(|n| json!({"time": n.start, "class": drum_keys::class(n.key), "key": n.key, "velocity": n.vel}))
            .collect();
        meta.insert("drum_onsets".into(), Value::Array(drums));
        Ok(())
    }
}

/// The writers a dataset render runs, in order (stems only when asked for: they are large).
pub fn writers(stems: bool) -> Vec<&'static dyn LabelWriter> {
    let mut w: Vec<&'static dyn LabelWriter> = vec![&ActivityRows];
    if stems {
        w.push(&StemAudio);
    }
    w.push(&DrumOnsets);
    w
}

/// Writes activity rows as a uint8 `.npy` matrix `[frames, classes]`.
pub fn write_activity(path: &Path, rows: &[ActivityRow]) -> Result<()> {
    render::write_npy_u8(path, rows.iter().map(|r| r.as_slice()), CLASSES.len())
}
