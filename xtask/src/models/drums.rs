//! The Drum Transcriber's model (`xtask/python/mirsuite/models/drums/`): DrummerNet-style
//! training on the synthesizer templates of `cargo xtask drum-templates` (or the supervised
//! comparison variant), and `cargo xtask eval drums`: the plugin's own path (the drum task in
//! the model runner at the file's rate, notes placed by [`dsp_core::runner::ResultAt`] as the
//! plugin places them, minus the latency the host compensates) over a split's drum stems and
//! whole mixes (and the mixes through the separator's drum stem first), scored with mir_eval's 50 ms window, plus the timing error of every matched
//! note; and the runner cost for `cargo xtask bench`.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use drums_model::{DrumFields, DrumTask};
use dsp_core::{Model, ModelCard, ModelRunner, RunnerConfig};
use separator_model::{run_offline, SeparatorTask};

use super::ModelTools;
use crate::audio::read_wav;
use crate::eval::{EvalOptions, SplitIndex};
use crate::{golden, python};

/// The drum model's tooling.
pub struct Drums;

/// CLAP id of the Drum Transcriber.
pub const PLUGIN_ID: &str = "suite.mir.drum-transcriber";

/// The classes the musts score.
pub const SCORED: [&str; 3] = ["kick", "snare", "hihat"];

impl ModelTools for Drums {
    fn name(&self) -> &'static str {
        "drums"
    }

    fn plugin_id(&self) -> Option<&'static str> {
        Some(PLUGIN_ID)
    }

    fn eval(&self, root: &Path, opts: &EvalOptions) -> Result<()> {
        eval_drums(root, opts)
    }

    /// The task the plugin runs (stereo in).
    fn runner_cost(&self, model: Model) -> Result<Option<(f64, usize)>> {
        super::runner_rtf(DrumTask::new(model, 2)?, 20.0).map(Some)
    }
}

/// Onset times (seconds, per class) the plugin would send for `audio` at `rate`, on the host's
/// latency-compensated timeline: the runner in offline mode, 512-frame buffers, with the card's
/// timing compensation as the plugin applies it.
pub fn transcribe(model: &Model, audio: &[Vec<f32>], rate: u32) -> Result<Vec<Vec<f64>>> {
    let task = DrumTask::new(model.fork()?, audio.len().clamp(1, 2))?;
    let classes = task.classes().len();
    let (add, extra) = task.fields().timing_compensation(classes, rate as f32);
    let mut runner = ModelRunner::spawn(RunnerConfig::offline(rate, 512), task)?;
    let latency = (runner.latency() as u64 + extra) as f64;
    // Run on past the end, in silence, by the latency so the last onsets are decided.
    let total = audio.first().map_or(0, |c| c.len()) + runner.latency() + 512;
    let padded: Vec<Vec<f32>> =
        audio.iter().take(2).map(|c| c.iter().copied().chain(std::iter::repeat(0.0)).take(total).collect()).collect();
    let mut out = vec![Vec::new(); classes];
    let mut pos = 0;
    while pos < total {
        let len = 512.min(total - pos);
        let input: Vec<&[f32]> = padded.iter().map(|c| &c[pos..pos + len]).collect();
        runner.audio().process_timed(&input, &mut [], &mut [], |at, r| {
            let found = (pos + at.offset + at.hop_end) as u64;
            for (c, s) in r[2..].iter().enumerate() {
                if *s > 0.0 {
                    out[c].push(((found + add[c]) as f64 - latency) / rate as f64);
                }
            }
        });
        pos += len;
    }
    Ok(out)
}

/// The separator's drum stem of a stereo mix at the separator's rate (the plugin's
/// "separate drums first" path): the gated masks, as the Stem Separator plays them.
pub struct DrumStem {
    task: SeparatorTask,
    channel: usize,
}

impl DrumStem {
    /// From a separator model folder (`models/separator`); None when it has no such model.
    pub fn from_dir(dir: &Path) -> Result<Option<Self>> {
        if !dir.join("card.json").is_file() {
            return Ok(None);
        }
        let card = ModelCard::from_path(dir.join("card.json"))?;
        let task = SeparatorTask::with_card_controls(Model::from_path(dir.join("model.onnx"), card)?)?;
        let stem = task.stems().iter().position(|s| s == "drums").context("the separator has no drums stem")?;
        Ok(Some(DrumStem { task, channel: 2 * stem }))
    }

    /// The drum stem (stereo) of `mix`, which must be stereo at the separator's rate.
    pub fn separate(&mut self, mix: &[Vec<f32>], rate: u32) -> Result<Vec<Vec<f32>>> {
        use dsp_core::runner::Task;
        anyhow::ensure!(
            mix.len() == 2 && rate == self.task.sample_rate(),
            "the separator needs stereo at {} Hz",
            self.task.sample_rate()
        );
        let (mut out, _) = run_offline(&mut self.task, [&mix[0], &mix[1]]);
        Ok(out.drain(self.channel..self.channel + 2).collect())
    }
}

/// `cargo xtask eval drums`: the split's drum stems and its whole mixes, and the mixes through
/// the separator's drum stem first when `models/separator` exists.
fn eval_drums(root: &Path, opts: &EvalOptions) -> Result<()> {
    let diff = golden::check_golden(&opts.model_dir)?;
    println!("tract reproduces the export's golden outputs (max abs diff {diff:.1e})");
    let card = ModelCard::from_path(opts.model_dir.join("card.json"))?;
    DrumFields::from_card(&card)?;
    let model = Model::from_path(opts.model_dir.join("model.onnx"), card.clone())?;
    let SplitIndex { songs, .. } = SplitIndex::read(opts)?;
    let started = Instant::now();
    let mut metrics = serde_json::Map::new();
    let mut used = 0;
    let mut seconds = 0.0;
    // The timing calibration (--tune) scores the drum stems only.
    let mut separator = if opts.tune.is_some() { None } else { DrumStem::from_dir(&root.join("models/separator"))? };
    let sources: &[&str] = if separator.is_some() { &["drums", "mix", "sep"] } else { &["drums", "mix"] };
    for &source in sources {
        let mut counts = vec![OnsetCounts::default(); card.classes.len()];
        for song in &songs {
            let dir = SplitIndex::song_dir(opts, song);
            let stem = dir.join("stems").join("drums.wav");
            if !stem.is_file() {
                continue;
            }
            let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json"))?)
                .with_context(|| format!("{}/meta.json", dir.display()))?;
            let hits = meta["drum_onsets"].as_array().cloned().unwrap_or_default();
            if hits.is_empty() {
                continue;
            }
            let a = read_wav(&if source == "drums" { stem } else { dir.join("mix.wav") })?;
            if source == "drums" {
                used += 1;
                seconds += a.frames() as f64 / a.sample_rate as f64;
            }
            let est = match (source, separator.as_mut()) {
                ("sep", Some(sep)) => transcribe(&model, &sep.separate(&a.channels, a.sample_rate)?, a.sample_rate)?,
                _ => transcribe(&model, &a.channels, a.sample_rate)?,
            };
            for (c, name) in card.classes.iter().enumerate() {
                let mut refs: Vec<f64> =
                    hits.iter().filter(|h| h["class"] == name.as_str()).filter_map(|h| h["time"].as_f64()).collect();
                refs.sort_by(f64::total_cmp);
                counts[c].add(&refs, &est[c]);
            }
        }
        let prefix = match source {
            "drums" => "",
            "mix" => "mix.",
            _ => "sep.",
        };
        let mut errors = Vec::new();
        for (c, name) in card.classes.iter().enumerate() {
            let (f, p, r) = counts[c].prf();
            metrics.insert(format!("f.{prefix}{name}"), f.into());
            metrics.insert(format!("p.{prefix}{name}"), p.into());
            metrics.insert(format!("r.{prefix}{name}"), r.into());
            if SCORED.contains(&name.as_str()) {
                errors.extend_from_slice(&counts[c].errors);
            }
        }
        if source == "drums" && opts.tune.is_some() {
            return calibrate_timing(opts, &card, &counts);
        }
        if source == "drums" {
            metrics.insert("timing_ms.median".into(), abs_quantile_ms(&errors, 0.5).into());
            metrics.insert("timing_ms.p95".into(), abs_quantile_ms(&errors, 0.95).into());
            let mean = errors.iter().sum::<f64>() / errors.len().max(1) as f64 * 1000.0;
            metrics.insert("timing_ms.mean_signed".into(), mean.into());
            metrics.insert("timing.matched".into(), errors.len().into());
        }
    }
    metrics.insert("songs".into(), used.into());
    println!(
        "transcribed {:.1} min of {} drum stems and their mixes in {:.1} s",
        seconds / 60.0,
        opts.split,
        started.elapsed().as_secs_f64()
    );
    let get = |k: &str| metrics.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
    println!("{:<8} {:>7} {:>7} {:>7} {:>9} {:>15}", "class", "F", "P", "R", "F (mix)", "F (mix, sep.)");
    for name in &card.classes {
        println!(
            "{name:<8} {:>7.3} {:>7.3} {:>7.3} {:>9.3} {:>15.3}",
            get(&format!("f.{name}")),
            get(&format!("p.{name}")),
            get(&format!("r.{name}")),
            get(&format!("f.mix.{name}")),
            get(&format!("f.sep.{name}"))
        );
    }
    println!(
        "timing |error| of matched kick/snare/hi-hat notes: median {:.1} ms, p95 {:.1} ms (mean signed {:+.1} ms, {} notes)",
        get("timing_ms.median"),
        get("timing_ms.p95"),
        get("timing_ms.mean_signed"),
        get("timing.matched")
    );
    let out = serde_json::json!({"model": "drums", "split": opts.split, "path": "plugin (runner, tract)", "metrics": metrics});
    if let Some(parent) = opts.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&opts.json, serde_json::to_string_pretty(&out)?)?;
    println!("metrics: {}", opts.json.display());
    if opts.update_card {
        let mut cmd = python::module(root, "metrics")?;
        cmd.args(["drums", "--merge-plugin"])
            .arg(&opts.json)
            .arg("--card")
            .arg(&opts.model_dir)
            .arg("--data")
            .arg(&opts.data);
        python::run(cmd, "mirsuite.metrics drums --merge-plugin")?;
    }
    Ok(())
}

/// `cargo xtask eval drums --tune --split val`: the timing compensation calibrated where it
/// acts. Per class, the median signed error (note − onset) of the matched notes through the
/// plugin's path, with the card's current compensation applied, is added to the card's
/// `onset_offset_ms` (the export measures it on the PyTorch path, whose frame times sit a few
/// milliseconds from where the runner's hop ends place the notes).
fn calibrate_timing(opts: &EvalOptions, card: &ModelCard, counts: &[OnsetCounts]) -> Result<()> {
    let path = opts.model_dir.join("card.json");
    let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    let old: Vec<f64> = json["onset_offset_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
        .unwrap_or_else(|| vec![0.0; card.classes.len()]);
    let mut new = Vec::new();
    println!("{:<8} {:>10} {:>12} {:>10} {:>8}", "class", "offset ms", "median err", "new ms", "notes");
    for (c, name) in card.classes.iter().enumerate() {
        let mut e = counts[c].errors.clone();
        e.sort_by(f64::total_cmp);
        let was = old.get(c).copied().unwrap_or(0.0);
        let median = if e.is_empty() { 0.0 } else { e[e.len() / 2] * 1000.0 };
        let now = ((was + median) * 100.0).round() / 100.0;
        println!("{name:<8} {was:>10.2} {median:>+12.2} {now:>10.2} {:>8}", e.len());
        new.push(now);
    }
    json["onset_offset_ms"] = serde_json::json!(new);
    json["onset_offset_rule"] = serde_json::json!(format!(
        "per class the median signed error (note - onset, ms) of the matched notes through the plugin's path (`cargo xtask eval drums --tune --data {} --split {}`); the plugin places each note this much earlier (and reports that much more latency)",
        opts.data.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        opts.split
    ));
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")?;
    println!("timing compensation written to {}", path.display());
    Ok(())
}

/// mir_eval's onset window (seconds).
pub const WINDOW: f64 = 0.05;

/// Onsets matched within `window` seconds, each reference and estimate at most once, the most
/// pairs possible (on a line, matching each reference, in time order, to the earliest unused
/// estimate inside its window is a maximum matching). Both lists sorted. Returns (reference,
/// estimate) index pairs.
pub fn match_onsets(refs: &[f64], est: &[f64], window: f64) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut j = 0;
    for (i, r) in refs.iter().enumerate() {
        while j < est.len() && est[j] < r - window {
            j += 1;
        }
        if j < est.len() && est[j] <= r + window {
            pairs.push((i, j));
            j += 1;
        }
    }
    pairs
}

/// Pooled onset counts of one class over many files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OnsetCounts {
    pub matched: usize,
    pub estimates: usize,
    pub references: usize,
    /// Estimate minus reference of every matched pair, in seconds.
    pub errors: Vec<f64>,
}

impl OnsetCounts {
    /// Adds one file's onsets (sorted seconds).
    pub fn add(&mut self, refs: &[f64], est: &[f64]) {
        let pairs = match_onsets(refs, est, WINDOW);
        self.matched += pairs.len();
        self.estimates += est.len();
        self.references += refs.len();
        self.errors.extend(pairs.iter().map(|&(i, j)| est[j] - refs[i]));
    }

    /// (F, precision, recall); an empty side counts as perfect, as mir_eval's convention.
    pub fn prf(&self) -> (f64, f64, f64) {
        let p = if self.estimates > 0 {
            self.matched as f64 / self.estimates as f64
        } else {
            (self.references == 0) as u8 as f64
        };
        let r = if self.references > 0 {
            self.matched as f64 / self.references as f64
        } else {
            (self.estimates == 0) as u8 as f64
        };
        let f = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
        (f, p, r)
    }
}

/// The `q` quantile (0…1, linear interpolation) of `v`'s absolute values, in milliseconds.
pub fn abs_quantile_ms(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut a: Vec<f64> = v.iter().map(|x| x.abs() * 1000.0).collect();
    a.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (a.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    a[lo] + (a[hi] - a[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_is_one_to_one_inside_the_window() {
        let refs = [1.0, 1.04, 2.0, 3.0];
        let est = [0.96, 1.03, 2.06, 2.99, 3.01];
        assert_eq!(match_onsets(&refs, &est, 0.05), [(0, 0), (1, 1), (3, 3)]);
        let mut c = OnsetCounts::default();
        c.add(&refs, &est);
        let (f, p, r) = c.prf();
        assert!((p - 0.6).abs() < 1e-12 && (r - 0.75).abs() < 1e-12 && (f - 2.0 * 0.45 / 1.35).abs() < 1e-12);
        assert!((abs_quantile_ms(&c.errors, 0.5) - 10.0).abs() < 1e-6);
    }
}
