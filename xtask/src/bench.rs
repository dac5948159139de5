//! `cargo xtask bench`: per shipped model, tract single-thread time against ONNX Runtime
//! single-thread time on the same file and input (alternating blocks of runs, the ratio taken
//! block by block); per plugin, the CPU cost as a real-time factor at 48 kHz stereo.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use dsp_core::{Model, ModelCard};

use crate::audio::Audio;
use crate::host::{Mode, PluginHost, RenderOptions};
use crate::plugins::{display_names, plugin_packages};
use crate::{golden, models, python};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pins the calling thread, and the processes it starts, to the CPU it runs on until dropped
/// (then restores the previous affinity), so that tract and ONNX Runtime are timed on the same
/// core: on a shared machine one core can be busier than the other for minutes.
struct PinToCurrentCpu {
    #[cfg(target_os = "linux")]
    previous: Option<libc::cpu_set_t>,
}

impl PinToCurrentCpu {
    #[cfg(target_os = "linux")]
    fn new() -> Self {
        // SAFETY: plain libc calls on zero-initialized, correctly sized cpu_set_t values for
        // the calling thread (pid 0).
        unsafe {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            let mut previous: libc::cpu_set_t = std::mem::zeroed();
            let cpu = libc::sched_getcpu();
            if cpu < 0 || libc::sched_getaffinity(0, size, &mut previous) != 0 {
                return PinToCurrentCpu { previous: None };
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu as usize, &mut one);
            let ok = libc::sched_setaffinity(0, size, &one) == 0;
            PinToCurrentCpu { previous: ok.then_some(previous) }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> Self {
        PinToCurrentCpu {}
    }
}

impl Drop for PinToCurrentCpu {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(previous) = &self.previous {
            // SAFETY: restores the mask read in `new` for the same thread.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), previous);
            }
        }
    }
}

/// Median milliseconds of one bar's decode by the melody model in `dir` (tract, the calling
/// thread only): greedy (zero noise) and sampled (Gumbel noise, temperature 1), each the median
/// over 15 blocks of the per-block median of 20 decodes of a card "idea" latent.
fn melody_decode_ms(dir: &Path) -> Result<(f64, f64)> {
    use melody_model::{MelodyModel, TICKS, VOCAB};

    let mut m = MelodyModel::from_dir(dir)?;
    let z: Vec<f32> = m.card().ideas.first().cloned().unwrap_or_else(|| vec![0.0; m.card().latent]);
    let zeros = vec![0.0f32; TICKS * VOCAB];
    // Deterministic Gumbel noise from a simple LCG (the plugin's own generator is seeded too).
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<f32> = (0..TICKS * VOCAB)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = ((state >> 40) as f32 + 0.5) / (1u64 << 24) as f32;
            -(-u.ln()).ln()
        })
        .collect();
    let mut out = [0u8; TICKS];
    let _pin = PinToCurrentCpu::new();
    let mut time = |noise: &[f32], m: &mut MelodyModel| -> Result<f64> {
        for _ in 0..10 {
            m.decode(&z, noise, 1.0, &mut out)?;
        }
        let mut blocks = Vec::new();
        for _ in 0..15 {
            let mut runs = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                m.decode(&z, noise, 1.0, &mut out)?;
                runs.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            blocks.push(median(runs));
        }
        Ok(median(blocks))
    };
    let greedy = time(&zeros, &mut m)?;
    let sampled = time(&noise, &mut m)?;
    Ok((greedy, sampled))
}

/// Times tract (`model`, loaded from `dir`) and ONNX Runtime (both single-threaded) on the
/// golden `inputs`, in `rounds` alternating blocks of `block` runs each, pinned to one CPU: ONNX
/// Runtime runs in a persistent `mirsuite.bench_ort --serve` process that times a block whenever
/// asked, so the two engines take turns on the same core and machine state. Returns the medians
/// over blocks of tract's and ORT's per-block median ms, and the median of the per-round ratios
/// (robust to the machine's speed drifting during the measurement, as it does on shared machines).
fn paired_ms(
    root: &Path,
    dir: &Path,
    model: &mut Model,
    inputs: &[Vec<f32>],
    rounds: usize,
    block: usize,
) -> Result<(f64, f64, f64)> {
    use std::io::{BufRead, BufReader, Write};
    let views: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
    // Both engines on one CPU: this thread, and the ORT process that inherits its affinity.
    let _pin = PinToCurrentCpu::new();
    let mut child = python::module(root, "bench_ort")?
        .args(["--serve", "--model"])
        .arg(dir.join("model.onnx"))
        .arg("--golden")
        .arg(dir.join("golden.json"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run python -m mirsuite.bench_ort")?;
    let mut to_ort = child.stdin.take().context("bench_ort stdin")?;
    let mut from_ort = BufReader::new(child.stdout.take().context("bench_ort stdout")?);
    let mut read = |what: &str| -> Result<serde_json::Value> {
        let mut line = String::new();
        from_ort.read_line(&mut line)?;
        serde_json::from_str(&line).with_context(|| format!("bench_ort {what}: {line:?} (is onnxruntime installed?)"))
    };
    read("start")?;
    for _ in 0..30 {
        model.run_vec(&views)?;
    }
    let (mut t, mut o, mut r) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut times = Vec::with_capacity(block);
        for _ in 0..block {
            let s = Instant::now();
            model.run_vec(&views)?;
            times.push(s.elapsed().as_secs_f64() * 1e3);
        }
        let tm = median(times);
        writeln!(to_ort, "{block}")?;
        let om = read("block")?["median_ms"].as_f64().context("no median_ms")?;
        t.push(tm);
        o.push(om);
        r.push(tm / om);
    }
    drop(to_ort);
    let _ = child.wait();
    Ok((median(t), median(o), median(r)))
}

/// Prints tract's time per plan node of `model` on `inputs`, slowest first (where the time goes
/// when tract trails ONNX Runtime).
fn print_nodes(model: &mut Model, inputs: &[Vec<f32>]) -> Result<()> {
    let views: Vec<&[f32]> = inputs.iter().map(|v| v.as_slice()).collect();
    model.profile_nodes(&views, 30)?;
    let mut nodes = model.profile_nodes(&views, 300)?;
    let total: f64 = nodes.iter().map(|n| n.2).sum();
    nodes.sort_by(|a, b| b.2.total_cmp(&a.2));
    println!("  per node (median ms of 300 runs; sum {total:.4} ms):");
    for (name, op, ms) in nodes.iter().filter(|n| n.2 >= 0.001) {
        println!("  {ms:>9.4} {:>5.1} %  {op:<24} {name}", 100.0 * ms / total);
    }
    Ok(())
}

/// Runs the benchmark and prints/writes the results.
pub fn bench(root: &Path, json: Option<PathBuf>, models: Option<PathBuf>, nodes: bool) -> Result<()> {
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
    println!("(15 alternating blocks of 100 runs each; medians over blocks, ratio per block)");
    for dir in &dirs {
        let name = dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        let card = ModelCard::from_path(dir.join("card.json"))?;
        let inputs = golden::first_inputs(dir, &card)?;
        let mut model = Model::from_path(dir.join("model.onnx"), card)?;
        let (t, o, ratio) = paired_ms(root, dir, &mut model, &inputs, 15, 100)?;
        println!("{name:<12} {t:>10.4} {o:>10.4} {ratio:>8.2}");
        metrics.insert(format!("{name}.tract_ms"), t.into());
        metrics.insert(format!("{name}.ort_ms"), o.into());
        metrics.insert(format!("{name}.tract_vs_ort"), ratio.into());
        metrics.insert(format!("tract_over_ort.{name}"), ratio.into());
        if nodes {
            print_nodes(&mut model, &inputs)?;
        }
        // The model's cost in the runner, for any model whose tooling can build its task (the
        // shipped one, or a candidate folder given with --models).
        let tools = models::get(&model.card().name).ok();
        if let Some((rtf, latency)) = tools.map(|t| t.runner_cost(model)).transpose()?.flatten() {
            println!(
                "{name:<12} runner at 48 kHz stereo, 512-frame buffers: real-time factor {rtf:.5} ({:.3} % of one core), results latency {latency} frames ({:.1} ms)",
                rtf * 100.0,
                latency as f64 / 48.0
            );
            metrics.insert(format!("{name}.runner_rtf_48k_stereo"), rtf.into());
            metrics.insert(format!("{name}.runner_latency_ms_48k_512"), (latency as f64 / 48.0).into());
        }
    }
    // The melody model has two graphs and no runner task: a bar's decode (the worker thread's
    // unit of work after a slider move) is timed through the crate the plugin uses.
    let melody_dir = models_dir.join("melody");
    if melody_dir.join("decoder.onnx").is_file() {
        let (greedy, sampled) = melody_decode_ms(&melody_dir)?;
        println!("melody       one bar's decode on one thread: {greedy:.3} ms greedy, {sampled:.3} ms sampled (median of 15 blocks of 20)");
        metrics.insert("decode_ms.melody".into(), sampled.max(greedy).into());
        metrics.insert("melody.decode_ms_greedy".into(), greedy.into());
        metrics.insert("melody.decode_ms_sampled".into(), sampled.into());
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
        let a = Audio::noise(48_000, 30.0);
        let r = host.render(&a, &RenderOptions { mode: Mode::Offline, block: 512, ..Default::default() })?;
        let rtf = r.process_seconds / 30.0;
        println!(
            "{p:<24} plugin at 48 kHz stereo, 512-frame blocks: real-time factor {rtf:.5} ({:.3} % of one core)",
            rtf * 100.0
        );
        metrics.insert(format!("{p}.rtf_48k_stereo"), rtf.into());
        metrics.insert(format!("rtf.{p}"), rtf.into());
    }
    if let Some(path) = json {
        let out = serde_json::json!({"model": "all", "split": "n/a", "metrics": metrics});
        std::fs::write(&path, serde_json::to_string_pretty(&out)?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
