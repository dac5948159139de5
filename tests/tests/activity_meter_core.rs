//! The meter core under the runner's real-time tests, with real music (a song composed and
//! rendered with the training SoundFonts) and the real activity model:
//! * no allocation on the audio side, across thousands of buffers of random sizes 1–8192 and
//!   changes of the response setting (nice-plug's allocation guard aborts the test process on
//!   any allocation);
//! * a worker stalled for 2 s on a lock this test holds: the audio side keeps returning, the
//!   meter holds its last state, and predictions resume within 1 s of the stall's end.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use activity_meter::core::{CcMode, MeterCore, MeterSettings, MeterShared};
use activity_meter::{CARD, MODEL};
use activity_model::ActivityTask;
use dsp_core::{Model, ModelCard, ModelSource, RunnerConfig};
use nice_assert_no_alloc::assert_no_alloc;
use suite_tests::rendered_song as song;
use test_support::{pace, stall_between, Stallable};

fn task() -> (ActivityTask, ModelCard) {
    let card = ModelCard::from_json(CARD).unwrap();
    let model = Model::load(&ModelSource::Embedded(MODEL), card.clone()).unwrap();
    (ActivityTask::new(model, 2).unwrap(), card)
}

const SETTINGS: MeterSettings =
    MeterSettings { sensitivity: 0.0, median: 5, averaging_seconds: 1.0, cc_mode: CcMode::Gate };

/// The next `n` frames of a stereo song from `*pos` (from its start again when they would run
/// past its end); advances `*pos`.
fn chunk<'a>(audio: &'a [Vec<f32>; 2], pos: &mut usize, n: usize) -> [&'a [f32]; 2] {
    if *pos + n > audio[0].len() {
        *pos = 0;
    }
    let at = *pos;
    *pos += n;
    [&audio[0][at..at + n], &audio[1][at..at + n]]
}

fn responses(card: &ModelCard) -> Vec<activity_model::Response> {
    activity_model::responses(card).unwrap().0
}

#[test]
fn audio_side_never_allocates_with_random_buffer_sizes() {
    let (t, card) = task();
    let shared = MeterShared::new(card.classes.clone());
    let mut core =
        MeterCore::new(t, RunnerConfig::realtime(48_000, 8192), shared.clone(), responses(&card), 21.5).unwrap();
    let audio = song(48_000, 20.0);
    let mut rng = 0x1234_5678u64;
    let mut pos = 0usize;
    let mut ccs = 0usize;
    let mut results = 0u64;
    let mut paced = Vec::new();
    for i in 0..3000 {
        if i % 500 == 0 {
            // Real-time pace (480-frame buffers) until a result arrives, at most 10 s: the
            // flood below runs far ahead of the worker, so most of its blocks miss their
            // deadline; here every result must flow through the audio side. A fixed sleep
            // was not enough on a loaded 2-core machine.
            let start = Instant::now();
            let before = shared.total.load(Ordering::Relaxed);
            let mut fed = 0usize;
            while shared.total.load(Ordering::Relaxed) == before && start.elapsed() < Duration::from_secs(10) {
                let chans = chunk(&audio, &mut pos, 480);
                ccs += assert_no_alloc(|| core.process(&chans, SETTINGS).len());
                fed += 480;
                pace(start, fed, 48_000);
            }
            paced.push(shared.total.load(Ordering::Relaxed) > before);
            results = results.max(shared.total.load(Ordering::Relaxed));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let chans = chunk(&audio, &mut pos, 1 + (rng % 8192) as usize);
        // Switching the response (averaging and thresholds) is allocation-free too.
        let settings = MeterSettings { averaging_seconds: [1.0, 0.0, 0.5, 2.0][(i / 250) % 4], ..SETTINGS };
        ccs += assert_no_alloc(|| core.process(&chans, settings).len());
        results = results.max(shared.total.load(Ordering::Relaxed));
        if i % 1000 == 999 {
            assert_no_alloc(|| core.reset());
        }
        if i % 50 == 0 {
            // Let the worker catch up now and then, so results (and CCs) flow through the
            // audio side too, not only the late-block fallback.
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    assert!(results > 0, "the meter produced results ({ccs} CCs)");
    assert!(paced.iter().all(|&p| p), "every real-time stretch delivered a result within 10 s: {paced:?}");
}

#[test]
fn stalled_worker_never_blocks_and_predictions_resume_within_a_second() {
    const RATE: u32 = 48_000;
    const BUF: usize = 256;
    let (t, card) = task();
    let (stallable, gate) = Stallable::new(t);
    let shared = MeterShared::new(card.classes.clone());
    let mut cfg = RunnerConfig::realtime(RATE, BUF);
    cfg.headroom = Some(4096);
    let mut core = MeterCore::new(stallable, cfg, shared.clone(), responses(&card), 21.5).unwrap();
    let audio = song(RATE, 5.0);
    let n = audio[0].len();
    let (stall_at, release_at) = (RATE as usize, 3 * RATE as usize);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, u64)>();
    let shared2 = shared.clone();
    let worker = std::thread::spawn(move || {
        let start = Instant::now();
        let mut pos = 0;
        while pos < n {
            let k = BUF.min(n - pos);
            let chans = [&audio[0][pos..pos + k], &audio[1][pos..pos + k]];
            assert_no_alloc(|| {
                core.process(&chans, SETTINGS);
            });
            pos += k;
            let _ = tx.send((pos, shared2.total.load(Ordering::Relaxed)));
            pace(start, pos, RATE);
        }
        core
    });
    let run = stall_between(rx, &gate, stall_at, release_at, RATE as usize / 2);
    let core = worker.join().expect("the audio loop finished: it never blocked on the stalled worker");
    // No new predictions while stalled (after the blocks already in flight drained).
    assert!(run.held(), "predictions kept arriving during the stall");
    let resumed = run.resumed_at.expect("predictions resumed after the stall");
    let delay = (resumed - release_at) as f64 / RATE as f64;
    assert!(delay < 1.0, "predictions resumed {delay:.3} s after the stall");
    let s = core.stats().snapshot();
    assert!(s.misses > 0 && s.dropped_blocks > 0, "{s:?}");
}
