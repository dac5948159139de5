//! Cost of the audio side of the model runner per 64-frame host block, with the worker keeping
//! up (calls paced to real time) and with the worker stalled (every block falls back).
//!
//! `cargo bench -p dsp-core --bench audio_side` prints median / p99 / max nanoseconds per call
//! and writes `target/bench/audio_side.json`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dsp_core::tasks::{GainTask, SpectralMaskTask};
use dsp_core::{Model, ModelCard, ModelRunner, RunnerConfig, Task};
use test_support::Stallable;

const RATE: u32 = 48_000;
const BLOCK: usize = 64;

struct Stats {
    name: String,
    median: f64,
    p99: f64,
    max: f64,
    calls: usize,
    misses: u64,
}

fn measure<T: Task>(name: &str, task: T, gate: Option<Arc<Mutex<()>>>, seconds: f64, paced: bool) -> Stats {
    let mut runner = ModelRunner::spawn(RunnerConfig::realtime(RATE, BLOCK), task).expect("runner");
    let stats = runner.stats();
    let _guard = gate.as_ref().map(|g| g.lock().unwrap());
    let calls = (seconds * RATE as f64 / BLOCK as f64) as usize;
    let input: Vec<Vec<f32>> = (0..2).map(|c| (0..BLOCK).map(|i| ((i + c) as f32 * 0.01).sin()).collect()).collect();
    let mut out = vec![vec![0.0f32; BLOCK]; 2];
    let mut times = Vec::with_capacity(calls);
    let start = Instant::now();
    for k in 0..calls {
        let ins: Vec<&[f32]> = input.iter().map(|v| v.as_slice()).collect();
        let mut outs: Vec<&mut [f32]> = out.iter_mut().map(|v| v.as_mut_slice()).collect();
        let t0 = Instant::now();
        runner.audio().process(&ins, &mut outs, |_, _| {});
        times.push(t0.elapsed().as_nanos() as f64);
        if paced {
            let due = Duration::from_secs_f64((k + 1) as f64 * BLOCK as f64 / RATE as f64);
            if let Some(w) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(w);
            }
        }
    }
    // Skip the first second (thread start-up, page faults).
    let warm = (RATE as usize / BLOCK).min(times.len() / 2);
    let mut t = times[warm..].to_vec();
    t.sort_by(f64::total_cmp);
    let misses = stats.misses();
    drop(_guard);
    Stats {
        name: name.into(),
        median: t[t.len() / 2],
        p99: t[t.len() * 99 / 100],
        max: *t.last().unwrap(),
        calls: t.len(),
        misses,
    }
}

fn tiny_mask() -> SpectralMaskTask {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tiny_mask");
    let card = ModelCard::from_path(dir.join("card.json")).expect("card");
    let model = Model::from_path(dir.join("model.onnx"), card).expect("model");
    SpectralMaskTask::new(model, 2).expect("task")
}

fn main() {
    let gain = || GainTask { sample_rate: RATE, hop: 256, channels: 2, gain: 0.5 };
    let (stalled_gain, g1) = Stallable::new(gain());
    let (stalled_mask, g2) = Stallable::new(tiny_mask());
    let results = vec![
        measure("gain task, worker keeping up (paced)", gain(), None, 4.0, true),
        measure("gain task, worker stalled", stalled_gain, Some(g1), 4.0, true),
        measure("tiny mask model @16 kHz, keeping up (paced)", tiny_mask(), None, 4.0, true),
        measure("tiny mask model, worker stalled", stalled_mask, Some(g2), 4.0, true),
    ];
    println!("audio side, stereo, {BLOCK}-frame blocks at {RATE} Hz (ns per call)");
    println!("{:<48} {:>9} {:>9} {:>9} {:>8} {:>8}", "case", "median", "p99", "max", "calls", "misses");
    let mut json = Vec::new();
    for r in &results {
        println!("{:<48} {:>9.0} {:>9.0} {:>9.0} {:>8} {:>8}", r.name, r.median, r.p99, r.max, r.calls, r.misses);
        json.push(format!(
            "{{\"case\": {:?}, \"median_ns\": {:.0}, \"p99_ns\": {:.0}, \"max_ns\": {:.0}, \"calls\": {}, \"misses\": {}}}",
            r.name, r.median, r.p99, r.max, r.calls, r.misses
        ));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("audio_side.json"), format!("[\n  {}\n]\n", json.join(",\n  ")));
}
