//! `cargo xtask bench`: per shipped model, tract single-thread time against ONNX Runtime
//! single-thread time on the same file and input (in one run, as a ratio); per plugin, the CPU
//! cost as a real-time factor at 48 kHz stereo.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dsp_core::activity::ActivityTask;
use dsp_core::{Model, ModelCard, ModelRunner, RunnerConfig};

use crate::audio::Audio;
use crate::eval::python;
use crate::host::{Mode, PluginHost, RenderOptions};
use crate::plugins::{display_names, plugin_packages};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn golden_input(dir: &Path, card: &ModelCard) -> Result<Vec<Vec<f32>>> {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("golden.json")).context("golden.json")?)?;
    let inputs: Vec<Vec<f32>> = serde_json::from_value(golden["cases"][0]["inputs"].clone())?;
    anyhow::ensure!(inputs.len() == card.inputs.len(), "golden inputs do not match the card");
    Ok(inputs)
}

/// Times tract on `dir`'s model (median ms per run, single thread).
fn tract_ms(dir: &Path, iters: usize) -> Result<f64> {
    let card = ModelCard::from_path(dir.join("card.json"))?;
    let inputs = golden_input(dir, &card)?;
    let mut model = Model::from_path(dir.join("model.onnx"), card)?;
    let views: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
    for _ in 0..30 {
        model.run_vec(&views)?;
    }
    let mut t = Vec::with_capacity(iters);
    for _ in 0..iters {
        let s = Instant::now();
        model.run_vec(&views)?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(t))
}

fn ort_ms(root: &Path, dir: &Path, iters: usize) -> Result<f64> {
    let out = python(root)
        .args(["-m", "mirsuite.bench_ort", "--iters", &iters.to_string(), "--model"])
        .arg(dir.join("model.onnx"))
        .arg("--golden")
        .arg(dir.join("golden.json"))
        .output()
        .context("cannot run python3 -m mirsuite.bench_ort")?;
    anyhow::ensure!(out.status.success(), "bench_ort failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    v["median_ms"].as_f64().context("no median_ms")
}

fn noise(rate: u32, seconds: f64) -> Audio {
    let n = (rate as f64 * seconds) as usize;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut ch = || -> Vec<f32> {
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 0.1
            })
            .collect()
    };
    Audio { sample_rate: rate, channels: vec![ch(), ch()] }
}

/// The activity model's cost inside the runner (48 kHz stereo in, resampled, offline so the
/// measured wall time is the full compute).
fn activity_runner_rtf(dir: &Path) -> Result<(f64, usize)> {
    let card = ModelCard::from_path(dir.join("card.json"))?;
    let model = Model::from_path(dir.join("model.onnx"), card)?;
    let mut runner = ModelRunner::spawn(RunnerConfig::offline(48_000, 512), ActivityTask::new(model, 2)?)?;
    let latency = runner.latency();
    let a = noise(48_000, 30.0);
    let start = Instant::now();
    let mut pos = 0;
    while pos < a.frames() {
        let n = 512.min(a.frames() - pos);
        runner.audio().process(&[&a.channels[0][pos..pos + n], &a.channels[1][pos..pos + n]], &mut [], |_, _| {});
        pos += n;
    }
    Ok((start.elapsed().as_secs_f64() / 30.0, latency))
}

/// Runs the benchmark and prints/writes the results.
pub fn bench(root: &Path, json: Option<PathBuf>, models: Option<PathBuf>) -> Result<()> {
    let mut metrics = serde_json::Map::new();
    let shipped = models.is_none();
    let models_dir = models.unwrap_or_else(|| root.join("models"));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&models_dir)
        .with_context(|| format!("cannot list {}", models_dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("model.onnx").is_file())
        .collect();
    dirs.sort();
    println!("{:<12} {:>10} {:>10} {:>8}", "model", "tract ms", "ORT ms", "ratio");
    for dir in &dirs {
        let name = dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let t = tract_ms(dir, 500)?;
        let o = ort_ms(root, dir, 500)?;
        println!("{name:<12} {t:>10.4} {o:>10.4} {:>8.2}", t / o);
        metrics.insert(format!("{name}.tract_ms"), t.into());
        metrics.insert(format!("{name}.ort_ms"), o.into());
        metrics.insert(format!("{name}.tract_vs_ort"), (t / o).into());
        if shipped && name == "activity" {
            let (rtf, latency) = activity_runner_rtf(dir)?;
            println!(
                "{name:<12} runner at 48 kHz stereo, 512-frame buffers: real-time factor {rtf:.5} ({:.3} % of one core), results latency {latency} frames ({:.1} ms)",
                rtf * 100.0,
                latency as f64 / 48.0
            );
            metrics.insert(format!("{name}.runner_rtf_48k_stereo"), rtf.into());
            metrics.insert(format!("{name}.runner_latency_ms_48k_512"), (latency as f64 / 48.0).into());
        }
    }
    let names = display_names(root);
    let plugins = if shipped { plugin_packages(root)? } else { Vec::new() };
    for p in plugins {
        let bundle = root.join("target/bundled").join(format!("{}.clap", names.get(&p).unwrap_or(&p)));
        if !bundle.is_file() {
            println!("{p}: no bundle in target/bundled (run `cargo xtask bundle-all`); plugin cost skipped");
            continue;
        }
        let mut host = PluginHost::load(&bundle, None)?;
        let a = noise(48_000, 30.0);
        let r = host.render(&a, &RenderOptions { mode: Mode::Offline, block: 512, ..Default::default() })?;
        let rtf = r.process_seconds / 30.0;
        println!(
            "{p:<24} plugin at 48 kHz stereo, 512-frame blocks: real-time factor {rtf:.5} ({:.3} % of one core)",
            rtf * 100.0
        );
        metrics.insert(format!("{p}.rtf_48k_stereo"), rtf.into());
    }
    if let Some(path) = json {
        let out = serde_json::json!({"model": "all", "split": "n/a", "metrics": metrics});
        std::fs::write(&path, serde_json::to_string_pretty(&out)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
