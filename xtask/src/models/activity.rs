//! The activity model's tooling: `cargo xtask eval activity` (the plugin's own task and gate
//! code over a dataset split, 1 s segments scored by `mirsuite.models.activity.metrics`), its
//! runner cost for `cargo xtask bench`, and the Activity Meter's CC names for `render`.

use std::path::Path;

use activity_model::{responses, ActivityTask, Response, DEFAULT_MEDIAN};
use anyhow::{bail, Context, Result};
use dsp_core::post::{ActivityGate, ProbAverage};
use dsp_core::{Model, ModelCard, Task};

use super::ModelTools;
use crate::audio::read_wav;
use crate::eval::{EvalOptions, SplitIndex};
use crate::host::PluginHost;
use crate::{golden, python};

/// The activity model (`models/activity`), run by the Activity Meter.
pub struct Activity;

/// CLAP id of the Activity Meter.
pub const PLUGIN_ID: &str = "suite.mir.activity-meter";

impl ModelTools for Activity {
    fn name(&self) -> &'static str {
        "activity"
    }

    fn plugin_id(&self) -> Option<&'static str> {
        Some(PLUGIN_ID)
    }

    fn eval(&self, root: &Path, opts: &EvalOptions) -> Result<()> {
        eval_activity(root, opts)
    }

    /// The meter's task on stereo input.
    fn runner_cost(&self, model: Model) -> Result<Option<(f64, usize)>> {
        super::runner_rtf(ActivityTask::new(model, 2)?, 30.0).map(Some)
    }

    /// The meter sends one CC per class from its base CC on.
    fn cc_names(&self, root: &Path, host: &mut PluginHost) -> Result<Option<Vec<(u8, String)>>> {
        let card = ModelCard::from_path(root.join("models/activity/card.json"))?;
        // nice-plug stores stepped parameters as their step index from the range's minimum (0).
        let base = host.param_value("base-cc").unwrap_or(20.0).round() as u8;
        Ok(Some(card.classes.iter().enumerate().map(|(i, c)| (base.saturating_add(i as u8), c.clone())).collect()))
    }
}

/// What a model's run over a split's songs produced: per response, the probability shown at the
/// end of every whole second, with the labels of that second and its song, and display lags.
struct SplitRun {
    probs: Vec<Vec<Vec<f32>>>,
    lags: Vec<Lags>,
    labels: Vec<Vec<u8>>,
    track: Vec<usize>,
    audio_seconds: f64,
}

/// Runs `model` (through the plugin's own task and gate code) over `songs` of `opts.split` and
/// collects 1 s segments for every response in `resp`; display lags only with `measure_lags`
/// (they need tuned thresholds).
fn run_split(
    opts: &EvalOptions,
    model: Model,
    resp: &[Response],
    songs: &[String],
    label_rate: usize,
    measure_lags: bool,
) -> Result<SplitRun> {
    let classes = model.card().classes.len();
    let mut task = ActivityTask::new(model, 2)?;
    let (rate, hop) = (task.sample_rate(), task.hop());
    let pps = task.predictions_per_second();
    let mut out = SplitRun {
        probs: vec![Vec::new(); resp.len()],
        lags: resp.iter().map(|_| Lags::default()).collect(),
        labels: Vec::new(),
        track: Vec::new(),
        audio_seconds: 0.0,
    };
    for (i, song) in songs.iter().enumerate() {
        let dir = SplitIndex::song_dir(opts, song);
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
        out.audio_seconds += frames as f64 / rate as f64;
        let preds = activity_predictions(&mut task, &audio.channels)?;
        let lab = read_labels(&dir.join("activity.npy"), classes)?;
        let hops: Vec<usize> = preds.iter().map(|(h, _)| *h).collect();
        let raw: Vec<Vec<f32>> = preds.into_iter().map(|(_, p)| p).collect();
        let times: Vec<f32> = hops.iter().map(|h| ((h + 1) * hop) as f32 / rate as f32).collect();
        let streams: Vec<_> = resp.iter().map(|r| gate_stream(&raw, r, pps, DEFAULT_MEDIAN)).collect();
        if measure_lags {
            for (lag, (_, gates)) in out.lags.iter_mut().zip(&streams) {
                for c in 0..classes {
                    let g: Vec<bool> = gates.iter().map(|s| s[c]).collect();
                    let l: Vec<u8> = lab.iter().map(|r| r[c]).collect();
                    lag.add(&times, &g, &l, label_rate);
                }
            }
        }
        for k in 0..frames / rate as usize {
            // The prediction shown at the end of second k covers that second.
            let t_end = (((k + 1) * rate as usize) as f64 / hop as f64).round() as usize - 1;
            let Some(j) = hops.iter().rposition(|h| *h <= t_end) else { continue };
            let (a, b) = (k * label_rate, ((k + 1) * label_rate).min(lab.len()));
            if a >= b {
                continue;
            }
            let seg: Vec<u8> = (0..classes).map(|c| lab[a..b].iter().map(|r| r[c]).max().unwrap_or(0)).collect();
            for (p, (avg, _)) in out.probs.iter_mut().zip(&streams) {
                p.push(avg[j].clone());
            }
            out.labels.push(seg);
            out.track.push(i);
        }
    }
    Ok(out)
}

/// Averaging times the response table covers when thresholds are tuned (`--tune`); the Activity
/// Meter's Response parameter offers the same four.
pub const TUNE_AVERAGING: [f32; 4] = [0.0, 0.5, 1.0, 2.0];

/// Onset and release delays of the gated display against the labels, for one response.
#[derive(Debug, Default, serde::Serialize)]
pub struct Lags {
    /// Seconds from each label onset to the gate switching on.
    pub onset_s: Vec<f32>,
    /// Seconds from each label release to the gate switching off.
    pub release_s: Vec<f32>,
    /// Onsets the gate did not follow within [`LAG_LIMIT_S`].
    pub missed_onsets: usize,
    /// Releases the gate did not follow within [`LAG_LIMIT_S`].
    pub missed_releases: usize,
}

/// Longest delay counted as following a label change.
pub const LAG_LIMIT_S: f32 = 5.0;

impl Lags {
    /// Adds the delays of one class in one song. `times[i]`: end of prediction `i`'s audio in
    /// seconds; `gate[i]`: its gated state; `labels` at `label_rate` per second. Only changes with
    /// at least 1 s of steady label on both sides count (a clean entry or exit of an instrument).
    pub fn add(&mut self, times: &[f32], gate: &[bool], labels: &[u8], label_rate: usize) {
        let lr = label_rate;
        for k in 1..labels.len() {
            let (was, now) = (labels[k - 1] != 0, labels[k] != 0);
            if was == now || k < lr || k + lr > labels.len() {
                continue;
            }
            let steady_before = labels[k - lr..k].iter().all(|&v| (v != 0) == was);
            let steady_after = labels[k..k + lr].iter().all(|&v| (v != 0) == now);
            if !(steady_before && steady_after) {
                continue;
            }
            let t0 = k as f32 / lr as f32;
            let hit = times.iter().zip(gate).find(|(t, g)| **t >= t0 && **g == now).map(|(t, _)| t - t0);
            match (hit, now) {
                (Some(d), true) if d <= LAG_LIMIT_S => self.onset_s.push(d),
                (Some(d), false) if d <= LAG_LIMIT_S => self.release_s.push(d),
                (_, true) => self.missed_onsets += 1,
                (_, false) => self.missed_releases += 1,
            }
        }
    }
}

/// Averaged probabilities and gated states of a stream of raw predictions through one response
/// (average + thresholds + a `median`-step median), exactly as the Activity Meter computes them.
pub fn gate_stream(raw: &[Vec<f32>], response: &Response, rate: f32, median: usize) -> (Vec<Vec<f32>>, Vec<Vec<bool>>) {
    let classes = response.thresholds.len();
    let mut avg = ProbAverage::new(classes, response.seconds, rate);
    let mut gate = ActivityGate::new(&response.thresholds, median, median.max(1));
    raw.iter()
        .map(|p| {
            let a = avg.push(p).to_vec();
            let g = gate.push(&a, 0.0).to_vec();
            (a, g)
        })
        .unzip()
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

/// A model folder ready to evaluate: golden parity checked (returns the max abs diff), the
/// card's response settings and the index of its default, and the optimized model.
fn open_model(dir: &Path) -> Result<(Model, Vec<Response>, usize, f32)> {
    let diff = golden::check_golden(dir)?;
    let card = ModelCard::from_path(dir.join("card.json"))?;
    let (resp, default) = responses(&card)?;
    Ok((Model::from_path(dir.join("model.onnx"), card)?, resp, default, diff))
}

/// `cargo xtask eval activity`.
fn eval_activity(root: &Path, opts: &EvalOptions) -> Result<()> {
    let (model, card_responses, default, diff) = open_model(&opts.model_dir)?;
    println!("tract reproduces the export's golden outputs (max abs diff {diff:.1e})");
    let classes = model.card().classes.clone();
    let resp: Vec<Response> = match opts.tune {
        // Only the averaging shapes the probabilities; the thresholds are what gets tuned, so
        // these placeholders are used for nothing (no lags are measured while tuning).
        Some(_) => {
            TUNE_AVERAGING.iter().map(|&s| Response { seconds: s, thresholds: vec![0.5; classes.len()] }).collect()
        }
        None => card_responses,
    };
    let SplitIndex { info, songs } = SplitIndex::read(opts)?;
    let ds_classes: Vec<String> = serde_json::from_value(info["classes"].clone())?;
    if ds_classes != classes {
        bail!("dataset classes {ds_classes:?} differ from the model's {classes:?}");
    }
    let label_rate = info["label_rate"].as_u64().unwrap_or(100) as usize;
    let started = std::time::Instant::now();
    let SplitRun { probs, lags, labels, track, audio_seconds } =
        run_split(opts, model, &resp, &songs, label_rate, opts.tune.is_none())?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ran tract on {:.1} min of {} audio in {:.1} s ({} one-second segments)",
        audio_seconds / 60.0,
        opts.split,
        elapsed,
        labels.len()
    );
    let tmp = std::env::temp_dir().join(format!("mirsuite-eval-{}.json", std::process::id()));
    let list: Vec<serde_json::Value> = resp
        .iter()
        .zip(&probs)
        .zip(&lags)
        .map(|((r, p), l)| serde_json::json!({"seconds": r.seconds, "thresholds": r.thresholds, "probs": p, "lags": l}))
        .collect();
    let d = if opts.tune.is_some() { 0 } else { default };
    let baseline = match &opts.baseline {
        Some(dir) => {
            let (b_model, b_resp, b_default, diff) = open_model(dir)?;
            if b_model.card().classes != classes {
                bail!("baseline {} has classes {:?}, this model {:?}", dir.display(), b_model.card().classes, classes);
            }
            let b_resp = vec![b_resp[b_default].clone()];
            let b = run_split(opts, b_model, &b_resp, &songs, label_rate, false)?;
            if b.labels != labels || b.track != track {
                bail!("baseline {} produced other segments than this model (a different hop or rate?)", dir.display());
            }
            println!(
                "baseline {} (golden diff {diff:.1e}, {} s averaging) on the same songs",
                dir.display(),
                b_resp[0].seconds
            );
            serde_json::json!({"dir": dir.display().to_string(), "probs": b.probs[0], "thresholds": b_resp[0].thresholds, "averaging_seconds": b_resp[0].seconds})
        }
        None => serde_json::Value::Null,
    };
    let preds = serde_json::json!({
        "baseline": baseline,
        "probs": probs[d], "labels": labels, "track": track, "classes": classes,
        "thresholds": resp[d].thresholds, "averaging_seconds": resp[d].seconds, "responses": list,
        "data": opts.data.strip_prefix(root).unwrap_or(&opts.data).display().to_string(),
        "data_command": info["command"],
    });
    std::fs::write(&tmp, serde_json::to_string(&preds)?)?;
    if let Some(parent) = opts.json.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut cmd = python::module(root, "metrics")?;
    cmd.args(["activity", "--split", &opts.split, "--preds"])
        .arg(&tmp)
        .arg("--json")
        .arg(&opts.json)
        .arg("--plot")
        .arg(&opts.plot);
    if let Some(avg) = opts.tune {
        cmd.arg("--tune").arg(avg.to_string()).arg("--update-card").arg(&opts.model_dir);
    } else if opts.update_card {
        cmd.arg("--update-card").arg(&opts.model_dir);
    }
    python::run(cmd, "mirsuite.metrics")?;
    let _ = std::fs::remove_file(&tmp);
    println!("metrics: {}\nplot: {}", opts.json.display(), opts.plot.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lags_count_clean_changes_and_misses() {
        // Labels at 10 per second: off 2 s, on 3 s, off 2 s.
        let labels: Vec<u8> = [vec![0u8; 20], vec![1; 30], vec![0; 20]].concat();
        // Predictions every 0.1 s ending at 0.1, 0.2, …; the gate follows 0.3 s late.
        let times: Vec<f32> = (1..=70).map(|i| i as f32 / 10.0).collect();
        let gate: Vec<bool> = times.iter().map(|t| (2.3..5.3).contains(t)).collect();
        let mut l = Lags::default();
        l.add(&times, &gate, &labels, 10);
        assert_eq!((l.onset_s.len(), l.release_s.len(), l.missed_onsets, l.missed_releases), (1, 1, 0, 0));
        assert!((l.onset_s[0] - 0.3).abs() < 1e-4 && (l.release_s[0] - 0.3).abs() < 1e-4, "{l:?}");
        // A gate that never switches off misses the release; a blip shorter than 1 s is not counted.
        let mut l = Lags::default();
        l.add(&times, &[true; 70], &labels, 10);
        assert_eq!((l.onset_s.len(), l.missed_releases), (1, 1));
        let blip: Vec<u8> = [vec![0u8; 20], vec![1; 5], vec![0; 45]].concat();
        let mut l = Lags::default();
        l.add(&times, &gate, &blip, 10);
        assert_eq!(l.onset_s.len() + l.release_s.len() + l.missed_onsets + l.missed_releases, 0);
    }

    #[test]
    fn gate_stream_applies_the_response() {
        let raw: Vec<Vec<f32>> = (0..40).map(|i| vec![if i < 20 { 0.0 } else { 1.0 }]).collect();
        let fast = Response { seconds: 0.0, thresholds: vec![0.5] };
        let slow = Response { seconds: 1.0, thresholds: vec![0.5] };
        let (_, g_fast) = gate_stream(&raw, &fast, 10.0, 1);
        let (avg, g_slow) = gate_stream(&raw, &slow, 10.0, 1);
        let first_on = |g: &[Vec<bool>]| g.iter().position(|s| s[0]).unwrap();
        assert_eq!(first_on(&g_fast), 20);
        // The 1 s average crosses 0.5 about 0.7 s (7 predictions at 10/s) after the step.
        assert!((26..=28).contains(&first_on(&g_slow)), "{}", first_on(&g_slow));
        assert!(avg[39][0] < 1.0 && avg[39][0] > 0.8);
    }
}
