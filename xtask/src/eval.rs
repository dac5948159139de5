//! `cargo xtask eval <model>`: runs the Rust inference path (tract, through the same
//! [`dsp_core`] task the plugin uses) over the held-out test split, then computes the metrics
//! with the field's reference implementations (scikit-learn, via `mirsuite.metrics`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use dsp_core::activity::ActivityTask;
use dsp_core::{Model, ModelCard, Task};

use crate::audio::read_wav;

/// Options of `cargo xtask eval`.
pub struct EvalOptions {
    /// Model name (`activity`).
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
}

/// Python interpreter with `xtask/python` on the path.
pub fn python(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()));
    cmd.env("PYTHONPATH", root.join("xtask/python")).current_dir(root);
    cmd
}

/// Runs `cmd`, failing with its name if it fails.
pub fn run(mut cmd: Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {what} (is python3 installed? see xtask/python/requirements.txt)"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Reads a `[frames, classes]` uint8 `.npy` label file.
pub fn read_labels(path: &Path, classes: usize) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let npy = npyz::NpyFile::new(&bytes[..]).with_context(|| format!("{} is not a .npy file", path.display()))?;
    let shape = npy.shape().to_vec();
    if shape.len() != 2 || shape[1] as usize != classes {
        bail!("{}: shape {shape:?}, expected [frames, {classes}]", path.display());
    }
    let flat: Vec<u8> = npy.into_vec().with_context(|| format!("{}: not uint8", path.display()))?;
    Ok(flat.chunks(classes).map(|c| c.to_vec()).collect())
}

/// Activity predictions of one mix, exactly as the plugin computes them: the [`ActivityTask`]
/// fed hop by hop. Returns `(hop index, probabilities)` for every prediction.
pub fn activity_predictions(task: &mut ActivityTask, channels: &[Vec<f32>]) -> Result<Vec<(usize, Vec<f32>)>> {
    let hop = task.hop();
    let n = channels.first().map_or(0, |c| c.len());
    let mut out = Vec::new();
    let mut result = vec![0.0; task.result_len()];
    let mut bufs = vec![vec![0.0f32; hop]; channels.len()];
    task.reset();
    for h in 0..n.div_ceil(hop) {
        for (b, ch) in bufs.iter_mut().zip(channels) {
            b.fill(0.0);
            let (a, e) = (h * hop, ((h + 1) * hop).min(n));
            b[..e - a].copy_from_slice(&ch[a..e]);
        }
        let ins: Vec<&[f32]> = bufs.iter().map(|b| b.as_slice()).collect();
        if task.process(&ins, &mut [], &mut result)? {
            out.push((h, result.clone()));
        }
    }
    Ok(out)
}

/// Checks that tract reproduces the export's golden outputs (max abs diff ≤ 1e-4) before any
/// number is computed with the model. Returns the largest difference.
pub fn check_golden(model_dir: &Path) -> Result<f32> {
    let card = ModelCard::from_path(model_dir.join("card.json"))?;
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(model_dir.join("golden.json"))
            .with_context(|| format!("no golden.json in {}", model_dir.display()))?,
    )?;
    let mut model = Model::from_path(model_dir.join("model.onnx"), card)?;
    let mut worst = 0.0f32;
    for case in golden["cases"].as_array().context("golden.json has no cases")? {
        let inputs: Vec<Vec<f32>> = serde_json::from_value(case["inputs"].clone())?;
        let want: Vec<Vec<f32>> = serde_json::from_value(case["outputs"].clone())?;
        let views: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
        for (o, w) in model.run_vec(&views)?.iter().zip(&want) {
            worst = o.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
        }
    }
    if worst > 1e-4 {
        bail!("tract differs from the exported golden outputs by {worst:e} (> 1e-4) in {}", model_dir.display());
    }
    Ok(worst)
}

/// `cargo xtask eval activity`.
pub fn eval_activity(root: &Path, opts: &EvalOptions) -> Result<()> {
    let diff = check_golden(&opts.model_dir)?;
    println!("tract reproduces the export's golden outputs (max abs diff {diff:.1e})");
    let card = ModelCard::from_path(opts.model_dir.join("card.json"))?;
    let classes = card.classes.clone();
    let thresholds = card.thresholds.clone();
    let model = Model::from_path(opts.model_dir.join("model.onnx"), card)?;
    let info: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(opts.data.join("dataset.json"))
            .with_context(|| format!("no dataset at {} (run `cargo xtask dataset`)", opts.data.display()))?,
    )?;
    let ds_classes: Vec<String> = serde_json::from_value(info["classes"].clone())?;
    if ds_classes != classes {
        bail!("dataset classes {ds_classes:?} differ from the model's {classes:?}");
    }
    let label_rate = info["label_rate"].as_u64().unwrap_or(100) as usize;
    let mut songs: Vec<String> = serde_json::from_value(info["splits"][&opts.split].clone())?;
    if opts.max_songs > 0 {
        songs.truncate(opts.max_songs);
    }
    if songs.is_empty() {
        bail!("split {} of {} is empty", opts.split, opts.data.display());
    }
    let mut task = ActivityTask::new(model, 2)?;
    let (rate, hop) = (task.sample_rate(), task.hop());
    let (mut probs, mut labels, mut track) = (Vec::new(), Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    let mut audio_seconds = 0.0;
    for (i, song) in songs.iter().enumerate() {
        let dir = opts.data.join(&opts.split).join(song);
        let mut audio = read_wav(&dir.join("mix.wav"))?;
        if audio.sample_rate != rate {
            audio.channels = dsp_core::resample::resample_offline(&audio.channels, audio.sample_rate, rate)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        if audio.channels.len() == 1 {
            audio.channels.push(audio.channels[0].clone());
        }
        audio.channels.truncate(2);
        let frames = audio.channels[0].len();
        audio_seconds += frames as f64 / rate as f64;
        let preds = activity_predictions(&mut task, &audio.channels)?;
        let lab = read_labels(&dir.join("activity.npy"), classes.len())?;
        for k in 0..frames / rate as usize {
            // The prediction shown at the end of second k covers that second.
            let t_end = (((k + 1) * rate as usize) as f64 / hop as f64).round() as usize - 1;
            let Some((_, p)) = preds.iter().rev().find(|(h, _)| *h <= t_end) else { continue };
            let (a, b) = (k * label_rate, ((k + 1) * label_rate).min(lab.len()));
            if a >= b {
                continue;
            }
            let seg: Vec<u8> = (0..classes.len()).map(|c| lab[a..b].iter().map(|r| r[c]).max().unwrap_or(0)).collect();
            probs.push(p.clone());
            labels.push(seg);
            track.push(i);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ran tract on {:.1} min of {} audio in {:.1} s ({} one-second segments)",
        audio_seconds / 60.0,
        opts.split,
        elapsed,
        probs.len()
    );
    let tmp = std::env::temp_dir().join(format!("mirsuite-eval-{}.json", std::process::id()));
    let preds = serde_json::json!({"probs": probs, "labels": labels, "track": track, "classes": classes, "thresholds": thresholds});
    std::fs::write(&tmp, serde_json::to_string(&preds)?)?;
    if let Some(parent) = opts.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut cmd = python(root);
    cmd.args(["-m", "mirsuite.metrics", "activity", "--split", &opts.split, "--preds"])
        .arg(&tmp)
        .arg("--json")
        .arg(&opts.json)
        .arg("--plot")
        .arg(&opts.plot);
    if opts.update_card {
        cmd.arg("--update-card").arg(&opts.model_dir);
    }
    run(cmd, "mirsuite.metrics")?;
    let _ = std::fs::remove_file(&tmp);
    println!("metrics: {}\nplot: {}", opts.json.display(), opts.plot.display());
    Ok(())
}
