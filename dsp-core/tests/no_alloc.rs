//! The audio side performs zero allocations, whatever the host buffer size and whether the
//! worker keeps up or not. A counting global allocator records every allocation, reallocation
//! and free made on the thread that calls the audio side while it is inside a call.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::{tiny_model, Noise};
use dsp_core::tasks::{GainTask, SpectralMaskTask};
use dsp_core::{ModelRunner, RunnerConfig, Task};

struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    /// Allocation events seen on this thread while tracking (tests run in parallel threads).
    static EVENTS: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    if TRACKING.try_with(|t| t.get()).unwrap_or(false) {
        let _ = EVENTS.try_with(|e| e.set(e.get() + 1));
    }
}

fn events() -> usize {
    EVENTS.with(|e| e.get())
}

// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn tracked<R>(f: impl FnOnce() -> R) -> R {
    TRACKING.with(|t| t.set(true));
    let r = f();
    TRACKING.with(|t| t.set(false));
    r
}

fn hammer<T: Task>(runner: &mut ModelRunner<T>, blocks: usize, seed: u64) -> usize {
    const MAX: usize = 8192;
    let mut noise = Noise(seed);
    let input = noise.signal(MAX);
    let mut output = vec![0.0; MAX];
    let mut results = 0usize;
    let before = events();
    for i in 0..blocks {
        let n = noise.range(1, MAX);
        let mut o = [&mut output[..n]];
        tracked(|| {
            runner.audio().process(&[&input[..n]], &mut o, |_, _| results += 1);
            if i % 997 == 0 {
                runner.audio().reset();
            }
        });
    }
    // In-place variant too.
    let mut io = input.clone();
    for _ in 0..blocks / 10 {
        let n = noise.range(1, MAX);
        tracked(|| runner.audio().process_in_place(&mut [&mut io[..n]], |_, _| {}));
    }
    events() - before
}

#[test]
fn realtime_audio_side_never_allocates_even_when_the_worker_falls_behind() {
    // Blocks arrive far faster than real time, so the worker misses most deadlines and the
    // fallback, drop and skip paths all run.
    let task = SpectralMaskTask::new(tiny_model(), 1).unwrap();
    let mut r = ModelRunner::spawn(RunnerConfig::realtime(48_000, 8192), task).unwrap();
    let events = hammer(&mut r, 4000, 77);
    assert_eq!(events, 0, "allocations on the audio side");
    let s = r.stats().snapshot();
    assert!(s.misses > 0, "the late path was exercised: {s:?}");
}

#[test]
fn offline_audio_side_never_allocates() {
    let task = GainTask { sample_rate: 44_100, hop: 441, channels: 1, gain: 0.5 };
    let mut r = ModelRunner::spawn(RunnerConfig::offline(48_000, 8192), task).unwrap();
    let events = hammer(&mut r, 1500, 78);
    assert_eq!(events, 0, "allocations on the audio side");
    assert_eq!(r.stats().misses(), 0);
}

#[test]
fn the_counter_does_see_allocations() {
    let before = events();
    let v = tracked(|| std::hint::black_box(vec![1u8; 64]));
    assert!(events() > before);
    drop(v);
}
