//! The separator core under the runner's real-time tests, with real music (a song composed and
//! rendered with the training SoundFonts) and the shipped model:
//! * no allocation on the audio side across buffers of random sizes 1–8192 and resets (nice-plug's
//!   allocation guard aborts the test process on any allocation), and the five sources sum to the
//!   input delayed by the reported latency whether the worker keeps up or not;
//! * a worker stalled for 2 s on a lock this test holds: the audio side keeps returning, the stems
//!   fall silent and "other" carries the whole delayed mix (nothing is lost), and separation
//!   resumes within 1 s of the stall's end.

use std::sync::atomic::Ordering;
use std::time::Instant;

use dsp_core::{Model, ModelCard, ModelSource, RunnerConfig};
use nice_assert_no_alloc::assert_no_alloc;
use separator_model::{Controls, SeparatorFields, SeparatorTask};
use stem_separator::core::{SeparatorCore, SeparatorShared};
use stem_separator::{CARD, MODEL};
use suite_tests::rendered_song as song;
use test_support::{pace, stall_between, Stallable};

fn task() -> SeparatorTask {
    let card = ModelCard::from_json(CARD).unwrap();
    let fields = SeparatorFields::from_card(&card).unwrap();
    let controls = Controls::new(&card, &fields);
    SeparatorTask::new(Model::load(&ModelSource::Embedded(MODEL), card).unwrap(), controls).unwrap()
}

/// Per source, per channel, everything `core` output for `input` fed in the given block sizes
/// (the callback's five sources appended in order).
struct Recorder {
    sources: Vec<[Vec<f32>; 2]>,
}

impl Recorder {
    fn new(capacity: usize) -> Self {
        Recorder { sources: (0..5).map(|_| [Vec::with_capacity(capacity), Vec::with_capacity(capacity)]).collect() }
    }
    fn push(&mut self, srcs: [[&[f32]; 2]; 5]) {
        for (dst, src) in self.sources.iter_mut().zip(srcs) {
            for (d, s) in dst.iter_mut().zip(src) {
                d.extend_from_slice(s);
            }
        }
    }
    fn sum(&self, c: usize, i: usize) -> f32 {
        self.sources.iter().map(|s| s[c][i]).sum()
    }
}

#[test]
fn audio_side_never_allocates_and_the_sources_sum_to_the_delayed_input() {
    const RATE: u32 = 48_000;
    let shared = SeparatorShared::new();
    let mut core = SeparatorCore::new(task(), RunnerConfig::realtime(RATE, 8192), shared.clone()).unwrap();
    let latency = core.latency();
    let audio = song(RATE, 30.0);
    let n = audio[0].len();
    let mut rec = Recorder::new(n);
    let mut rng = 0x9e37_79b9u64;
    let mut pos = 0usize;
    let mut paced_results = Vec::new();
    let mut block = 0;
    while pos < n {
        let k = if block % 100 == 50 {
            // A second at real-time pace (480-frame buffers): results flow through the audio side
            // here, not only the late-block fallback of the flood around it.
            let before = shared.frames.load(Ordering::Relaxed);
            let start = Instant::now();
            let mut fed = 0;
            while fed < RATE as usize && pos + fed + 480 <= n {
                let chans = [&audio[0][pos + fed..pos + fed + 480], &audio[1][pos + fed..pos + fed + 480]];
                // The recorder's capacity covers the whole song: pushing never reallocates.
                assert_no_alloc(|| core.process(chans, |_, s| rec.push(s)));
                fed += 480;
                pace(start, fed, RATE);
            }
            paced_results.push(shared.frames.load(Ordering::Relaxed) > before);
            fed
        } else {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let k = (1 + (rng % 8192) as usize).min(n - pos);
            let chans = [&audio[0][pos..pos + k], &audio[1][pos..pos + k]];
            assert_no_alloc(|| core.process(chans, |_, s| rec.push(s)));
            k
        };
        pos += k;
        block += 1;
        if k == 0 {
            break;
        }
    }
    assert!(
        !paced_results.is_empty() && paced_results.iter().all(|&r| r),
        "paced stretches without results: {paced_results:?}"
    );
    let fed = rec.sources[0][0].len();
    let mut worst = 0.0f32;
    for (c, x) in audio.iter().enumerate() {
        for i in latency..fed {
            worst = worst.max((rec.sum(c, i) - x[i - latency]).abs());
        }
    }
    assert!(worst <= 1e-4, "the sources' sum differs from the delayed input by {worst}");
    let stems: f64 = rec.sources[..4].iter().flat_map(|s| s[0].iter()).map(|v| (*v as f64).powi(2)).sum();
    assert!(stems > 0.0, "the stems stayed silent: no block was separated");
    assert_no_alloc(|| core.reset());
}

#[test]
fn stalled_worker_never_blocks_the_sum_holds_and_separation_resumes_within_a_second() {
    const RATE: u32 = 44_100;
    const BUF: usize = 256;
    let (stallable, gate) = Stallable::new(task());
    let shared = SeparatorShared::new();
    let mut cfg = RunnerConfig::realtime(RATE, BUF);
    cfg.headroom = Some(4096);
    let mut core = SeparatorCore::new(stallable, cfg, shared.clone()).unwrap();
    let latency = core.latency();
    let audio = song(RATE, 5.0);
    let n = audio[0].len();
    let (stall_at, release_at) = (RATE as usize, 3 * RATE as usize);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, u64)>();
    let shared2 = shared.clone();
    let worker = std::thread::spawn(move || {
        let mut rec = Recorder::new(n);
        let start = Instant::now();
        let mut pos = 0;
        while pos < n {
            let k = BUF.min(n - pos);
            let chans = [&audio[0][pos..pos + k], &audio[1][pos..pos + k]];
            assert_no_alloc(|| core.process(chans, |_, s| rec.push(s)));
            pos += k;
            let _ = tx.send((pos, shared2.frames.load(Ordering::Relaxed)));
            pace(start, pos, RATE);
        }
        (rec, audio)
    });
    let run = stall_between(rx, &gate, stall_at, release_at, RATE as usize / 2);
    let (rec, audio) = worker.join().expect("the audio loop finished: it never blocked on the stalled worker");
    assert!(run.held(), "results kept arriving during the stall");
    let resumed = run.resumed_at.expect("separation resumed after the stall");
    let delay = (resumed - release_at) as f64 / RATE as f64;
    assert!(delay < 1.0, "separation resumed {delay:.3} s after the stall");
    // Late in the stall the stems are silent and "other" is the whole delayed mix.
    let quiet = stall_at + RATE as usize..release_at;
    assert!(rec.sources[..4].iter().all(|s| s.iter().all(|ch| ch[quiet.clone()].iter().all(|v| *v == 0.0))));
    for (c, x) in audio.iter().enumerate() {
        for i in latency..n {
            assert!((rec.sum(c, i) - x[i - latency]).abs() <= 1e-4, "sum differs at {i}");
        }
        let stems = |r: std::ops::Range<usize>| -> f64 {
            rec.sources[..4].iter().flat_map(|s| s[c][r.clone()].iter()).map(|v| (*v as f64).powi(2)).sum()
        };
        let (before, after) = (stems(latency + RATE as usize / 4..stall_at), stems(resumed + RATE as usize / 4..n));
        assert!(before > 0.0 && after > 0.0, "stems separated before ({before:.2e}) and after ({after:.2e}) the stall");
    }
}
