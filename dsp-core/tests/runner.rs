//! The model runner's timing contract: fixed latency, real-time fallback under a stalled
//! worker, and offline output independent of the worker's speed.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{tiny_model, Noise};
use dsp_core::tasks::{GainTask, SpectralMaskTask};
use dsp_core::{Fallback, ModelError, ModelRunner, RunnerConfig, Task};
use test_support::Stallable;

/// Runs `input` (mono) through `runner` in host buffers of random sizes up to `max_block`.
fn render<T: Task>(runner: &mut ModelRunner<T>, input: &[f32], max_block: usize, seed: u64) -> Vec<f32> {
    let mut noise = Noise(seed);
    let mut out = vec![0.0; input.len()];
    let mut pos = 0;
    while pos < input.len() {
        let n = noise.range(1, max_block).min(input.len() - pos);
        let mut o = [&mut out[pos..pos + n]];
        runner.audio().process(&[&input[pos..pos + n]], &mut o, |_, _| {});
        pos += n;
    }
    out
}

fn argmax_abs(x: &[f32]) -> usize {
    x.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0
}

fn gain(rate: u32, hop: usize, gain: f32) -> GainTask {
    GainTask { sample_rate: rate, hop, channels: 1, gain }
}

#[test]
fn impulse_lands_exactly_at_reported_latency_without_resampling() {
    for (hop, max_block) in [(256, 512), (100, 64), (1024, 8192)] {
        let mut r = ModelRunner::spawn(RunnerConfig::offline(48_000, max_block), gain(48_000, hop, 1.0)).unwrap();
        let lat = r.latency();
        let mut x = vec![0.0; lat + 20_000];
        x[1234] = 1.0;
        let y = render(&mut r, &x, max_block, hop as u64);
        assert_eq!(argmax_abs(&y), 1234 + lat, "hop {hop}, block {max_block}");
        assert_eq!(y[1234 + lat], 1.0);
        assert_eq!(r.stats().misses(), 0);
    }
}

#[test]
fn impulse_lands_exactly_at_reported_latency_through_resampling() {
    for host in [22_050u32, 44_100, 48_000, 96_000, 192_000] {
        let mut r = ModelRunner::spawn(RunnerConfig::offline(host, 1024), gain(16_000, 160, 1.0)).unwrap();
        let lat = r.latency();
        let mut x = vec![0.0; lat + host as usize / 2];
        let at = host as usize / 10;
        x[at] = 1.0;
        let y = render(&mut r, &x, 1024, 3);
        assert_eq!(argmax_abs(&y), at + lat, "host {host} Hz, latency {lat}");
    }
}

#[test]
fn impulse_through_the_tiny_model_lands_at_latency() {
    for host in [16_000u32, 48_000] {
        let task = SpectralMaskTask::new(tiny_model(), 1).unwrap();
        let mut r = ModelRunner::spawn(RunnerConfig::offline(host, 512), task).unwrap();
        let lat = r.latency();
        let mut x = vec![0.0; lat + host as usize / 4];
        let at = 3000;
        x[at] = 1.0;
        let y = render(&mut r, &x, 512, 9);
        assert_eq!(argmax_abs(&y), at + lat, "host {host} Hz, latency {lat}");
        // Band-limiting to the model rate (and the resampler's anti-alias roll-off) spreads the
        // impulse: its peak scales with the rate ratio.
        let ratio = (16_000.0 / host as f32).min(1.0);
        assert!(y[at + lat] > 0.6 * ratio, "mask passes the impulse: {}", y[at + lat]);
    }
}

#[test]
fn stalled_worker_never_blocks_the_audio_side_and_recovers_within_a_second() {
    const RATE: u32 = 48_000;
    const BUF: usize = 256;
    let (task, gate) = Stallable::new(gain(RATE, 256, -1.0));
    let mut cfg = RunnerConfig::realtime(RATE, BUF);
    cfg.headroom = Some(4096); // generous, so a busy CI machine does not miss outside the stall
    cfg.fallback = Fallback::Dry;
    let mut runner = ModelRunner::spawn(cfg, task).unwrap();
    let lat = runner.latency();
    let stats = runner.stats();

    // The audio loop runs on its own thread at real-time pace; the test thread controls the gate.
    let total_secs = 4.5;
    let n = (RATE as f64 * total_secs) as usize;
    let x = Noise(42).signal(n);
    let (stall_at, release_at) = (RATE as usize, 3 * RATE as usize); // frames
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let audio = thread::spawn(move || {
        let mut y = vec![0.0; n];
        let start = Instant::now();
        let mut pos = 0;
        while pos < n {
            let k = BUF.min(n - pos);
            let mut o = [&mut y[pos..pos + k]];
            runner.audio().process(&[&x[pos..pos + k]], &mut o, |_, _| {});
            pos += k;
            let _ = tx.send(pos);
            let due = Duration::from_secs_f64(pos as f64 / RATE as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                thread::sleep(wait);
            }
        }
        (x, y, runner)
    });
    let mut guard = None;
    let mut released = false;
    for pos in rx.iter() {
        if guard.is_none() && !released && pos >= stall_at {
            guard = Some(gate.lock().unwrap());
        }
        if pos >= release_at && guard.is_some() {
            guard = None;
            released = true;
        }
    }
    drop(guard);
    let (x, y, runner) = audio.join().expect("audio thread returned");

    // Every output sample is either the processed signal or the defined fallback (dry, delayed).
    let mut first_good_after_release = None;
    let mut processed_during_stall = 0;
    for t in lat..n {
        let dry = x[t - lat];
        let wet = -dry;
        let v = y[t];
        let is_wet = (v - wet).abs() < 1e-6;
        let is_dry = (v - dry).abs() < 1e-6;
        assert!(is_wet || is_dry, "frame {t}: {v} is neither processed ({wet}) nor fallback ({dry})");
        // During the stall (plus the latency and the worker's in-flight block) only fallback.
        if t > stall_at + lat + 8192 && t < release_at && is_wet && !is_dry {
            processed_during_stall += 1;
        }
        if t >= release_at && first_good_after_release.is_none() && is_wet && !is_dry {
            // Require a whole second of processed output from here on to count as resumed.
            first_good_after_release = Some(t);
        }
    }
    assert_eq!(processed_during_stall, 0);
    let resumed = first_good_after_release.expect("processing resumed after the stall");
    let delay = (resumed - release_at) as f64 / RATE as f64;
    assert!(delay < 1.0, "results resumed {delay:.3} s after the stall");
    // After resuming, the rest of the stream is processed.
    let tail_start = resumed + RATE as usize / 2;
    let wet_tail = (tail_start..n).filter(|&t| (y[t] + x[t - lat]).abs() < 1e-6).count();
    assert!(wet_tail as f64 > 0.95 * (n - tail_start) as f64, "{wet_tail} of {} tail frames processed", n - tail_start);
    let s = stats.snapshot();
    assert!(s.misses > 0 && s.dropped_blocks > 0, "the stall was visible in the counters: {s:?}");
    drop(runner);
}

#[test]
fn offline_output_is_identical_with_a_slow_worker() {
    let host = 44_100;
    let x = Noise(5).signal(host as usize * 2);
    let fast = SpectralMaskTask::new(tiny_model(), 1).unwrap();
    let mut a = ModelRunner::spawn(RunnerConfig::offline(host, 2048), fast).unwrap();
    let ya = render(&mut a, &x, 2048, 11);
    let (mut slow, _gate) = Stallable::new(SpectralMaskTask::new(tiny_model(), 1).unwrap());
    slow.delay = Duration::from_millis(2);
    let mut b = ModelRunner::spawn(RunnerConfig::offline(host, 2048), slow).unwrap();
    let yb = render(&mut b, &x, 2048, 12);
    assert_eq!(a.latency(), b.latency());
    assert_eq!(a.stats().misses(), 0);
    assert_eq!(b.stats().misses(), 0);
    assert!(ya.iter().any(|v| *v != 0.0));
    assert!(ya == yb, "offline render differs between a fast and a slow worker");
}

#[test]
fn results_arrive_in_order_at_the_latency() {
    /// Emits the index of each hop as its result.
    struct Counter(u32, f32);
    impl Task for Counter {
        fn sample_rate(&self) -> u32 {
            self.0
        }
        fn hop(&self) -> usize {
            480
        }
        fn in_channels(&self) -> usize {
            1
        }
        fn out_channels(&self) -> usize {
            0
        }
        fn latency(&self) -> usize {
            0
        }
        fn result_len(&self) -> usize {
            2
        }
        fn reset(&mut self) {
            self.1 = 0.0;
        }
        fn process(&mut self, i: &[&[f32]], _: &mut [&mut [f32]], r: &mut [f32]) -> Result<bool, ModelError> {
            r[0] = self.1;
            r[1] = i[0].iter().fold(0.0f32, |m, v| m.max(v.abs()));
            self.1 += 1.0;
            Ok(true)
        }
    }
    let mut r = ModelRunner::spawn(RunnerConfig::offline(48_000, 512), Counter(48_000, 0.0)).unwrap();
    let x = vec![0.25; 48_000];
    let mut got = Vec::new();
    let mut pos = 0;
    while pos < x.len() {
        let n = 512.min(x.len() - pos);
        r.audio().process(&[&x[pos..pos + n]], &mut [], |off, v| got.push((pos + off, v[0], v[1])));
        pos += n;
    }
    assert!(got.len() > 90, "{} results", got.len());
    for (k, (_, idx, peak)) in got.iter().enumerate() {
        assert_eq!(*idx, k as f32);
        assert_eq!(*peak, 0.25);
    }
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(r.audio().latest_result().unwrap()[0], (got.len() - 1) as f32);
}

#[test]
fn reset_restarts_the_stream_cleanly() {
    let mut r = ModelRunner::spawn(RunnerConfig::offline(48_000, 256), gain(48_000, 128, 1.0)).unwrap();
    let lat = r.latency();
    let x = Noise(1).signal(lat * 3);
    let _ = render(&mut r, &x, 256, 1);
    r.audio().reset();
    let mut imp = vec![0.0; lat * 3 + 1000];
    imp[777] = 1.0;
    let y = render(&mut r, &imp, 256, 2);
    assert_eq!(argmax_abs(&y), 777 + lat);
    assert_eq!(y[777 + lat], 1.0);
}

#[test]
fn bad_configurations_are_errors() {
    assert!(ModelRunner::spawn(RunnerConfig::realtime(48_000, 0), gain(48_000, 128, 1.0)).is_err());
    assert!(ModelRunner::spawn(RunnerConfig::realtime(1_000, 64), gain(48_000, 128, 1.0)).is_err());
    assert!(ModelRunner::spawn(RunnerConfig::realtime(48_000, 64), gain(48_000, 0, 1.0)).is_err());
}

#[test]
fn delayed_input_is_the_input_as_the_task_saw_it_delayed_by_the_latency() {
    for (host, fallback) in [(48_000u32, Fallback::Silence), (44_100, Fallback::Dry), (96_000, Fallback::Silence)] {
        let mut cfg = RunnerConfig::realtime(host, 700);
        cfg.fallback = fallback;
        cfg.delayed_input = true;
        let mut r = ModelRunner::spawn(cfg, gain(16_000, 160, 0.5)).unwrap();
        let lat = r.latency();
        let mut x = Noise(7).signal(lat + host as usize / 2);
        for i in (100..x.len()).step_by(997) {
            x[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
        }
        let (mut y, mut d) = (vec![0.0; x.len()], vec![1.0; x.len()]);
        let mut noise = Noise(host as u64);
        let mut pos = 0;
        while pos < x.len() {
            let n = noise.range(1, 700).min(x.len() - pos);
            r.audio().process_with_delayed_input(
                &[&x[pos..pos + n]],
                &mut [&mut y[pos..pos + n]],
                &mut [&mut d[pos..pos + n]],
                |_, _| {},
            );
            pos += n;
        }
        assert!(d[..lat].iter().all(|v| *v == 0.0), "{host} Hz: silence before the latency");
        for i in 0..x.len() - lat {
            let want = if x[i].is_finite() { x[i] } else { 0.0 };
            assert_eq!(d[i + lat], want, "{host} Hz, {fallback:?}: frame {i}");
        }
    }
}

#[test]
fn timed_results_place_input_moments_sample_exactly_after_resampling() {
    /// Per hop, reports where (task frames into the hop) the first sample above 0.5 is, as a
    /// result describing the input `latency()` = one hop before the hop's end (a rising edge:
    /// a pulse straddling two hops counts once).
    struct Onset(bool);
    impl Task for Onset {
        fn sample_rate(&self) -> u32 {
            16_000
        }
        fn hop(&self) -> usize {
            128
        }
        fn in_channels(&self) -> usize {
            1
        }
        fn out_channels(&self) -> usize {
            0
        }
        fn latency(&self) -> usize {
            128
        }
        fn result_len(&self) -> usize {
            1
        }
        fn reset(&mut self) {
            self.0 = false;
        }
        fn process(&mut self, i: &[&[f32]], _: &mut [&mut [f32]], r: &mut [f32]) -> Result<bool, ModelError> {
            let mut edge = None;
            for (p, v) in i[0].iter().enumerate() {
                let high = *v > 0.5;
                if high && !self.0 && edge.is_none() {
                    edge = Some(p);
                }
                self.0 = high;
            }
            let Some(p) = edge else { return Ok(false) };
            r[0] = p as f32;
            Ok(true)
        }
    }
    for (rate, max_block) in [(16_000, 256), (44_100, 512), (48_000, 333), (96_000, 1024)] {
        let ratio = rate as f64 / 16_000.0;
        let mut runner = ModelRunner::spawn(RunnerConfig::offline(rate, max_block), Onset(false)).unwrap();
        let latency = runner.latency() as i64;
        let clicks: Vec<usize> = (0..6).map(|k| 5_000 + k * (rate as usize / 3) + k * 37).collect();
        let mut x = vec![0.0f32; 3 * rate as usize];
        for &c in &clicks {
            // A short rectangular pulse survives the band-limited resampling above 0.5.
            x[c..c + (3.0 * ratio) as usize + 2].fill(1.0);
        }
        let mut noise = Noise(rate as u64);
        let (mut got, mut pos) = (Vec::new(), 0usize);
        while pos < x.len() {
            let n = noise.range(1, max_block).min(x.len() - pos);
            runner.audio().process_timed(&[&x[pos..pos + n]], &mut [], &mut [], |at, v| {
                assert!(at.hop_end <= runner_block(rate), "hop end within one worker block");
                // The edge is `p` task frames after the moment `latency()` before the hop's
                // end, which plays at `offset + hop_end`.
                let moment = (pos + at.offset + at.hop_end) as f64 + v[0] as f64 * ratio;
                got.push(moment);
            });
            pos += n;
        }
        assert_eq!(got.len(), clicks.len(), "{rate} Hz: one result per click");
        for (g, c) in got.iter().zip(&clicks) {
            let err = g - (*c as i64 + latency) as f64;
            assert!(
                err.abs() <= 2.0 * ratio + 2.0,
                "{rate} Hz: click at {c} plays at {g}, expected {} (err {err:.1})",
                *c as i64 + latency
            );
        }
    }
}

/// The worker block the runner derives for the Onset task at `rate` (hop 128 at 16 kHz).
fn runner_block(rate: u32) -> usize {
    // Generous bound: the block hint is one hop in host frames (at least 64); the resampler
    // rounds it to fit the ratio, never beyond a few hops.
    4 * ((128 * rate as usize).div_ceil(16_000)).max(64)
}

#[test]
fn the_task_sees_the_input_at_its_level_and_pitch_after_resampling() {
    /// Reports the RMS of each hop and its zero crossings.
    struct Level;
    impl Task for Level {
        fn sample_rate(&self) -> u32 {
            16_000
        }
        fn hop(&self) -> usize {
            1600
        }
        fn in_channels(&self) -> usize {
            1
        }
        fn out_channels(&self) -> usize {
            0
        }
        fn latency(&self) -> usize {
            0
        }
        fn result_len(&self) -> usize {
            2
        }
        fn reset(&mut self) {}
        fn process(&mut self, i: &[&[f32]], _: &mut [&mut [f32]], r: &mut [f32]) -> Result<bool, ModelError> {
            r[0] = (i[0].iter().map(|v| v * v).sum::<f32>() / i[0].len() as f32).sqrt();
            r[1] = i[0].windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f32;
            Ok(true)
        }
    }
    for rate in [44_100u32, 48_000, 96_000] {
        let mut runner = ModelRunner::spawn(RunnerConfig::offline(rate, 512), Level).unwrap();
        let x: Vec<f32> = (0..2 * rate as usize)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin())
            .collect();
        let mut got = Vec::new();
        for chunk in x.chunks(512) {
            runner.audio().process(&[chunk], &mut [], |_, v| got.push((v[0], v[1])));
        }
        // Skip the start-up hops; each full hop of 0.1 s holds 100 periods (200 crossings).
        for (rms, crossings) in &got[3..got.len() - 1] {
            assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.005, "{rate} Hz: RMS {rms}");
            assert!((crossings - 200.0).abs() <= 1.0, "{rate} Hz: {crossings} crossings");
        }
    }
}
