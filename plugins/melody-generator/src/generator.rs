//! The worker thread's part: builds each measure's latent from the sliders, the idea, the A/B
//! morph and the bar variation, decodes it with the measure VAE into a [`Pattern`], and hands
//! patterns to the audio thread through a pre-sized ring. Decoding allocates (tract does), so
//! it never runs on the audio thread.

use std::hash::{DefaultHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use atomic_float::AtomicF32;
use dsp_core::error::ModelError;
use melody_model::{MelodyModel, ATTRIBUTES, TICKS, VOCAB};
use ringbuf::traits::{Consumer, Producer, Split};
use ringbuf::{HeapCons, HeapProd, HeapRb};
use serde::{Deserialize, Serialize};

use crate::pattern::{Pattern, MAX_BARS};

/// One A/B slot: the four attribute sliders (0–1, order [`ATTRIBUTES`]) and the idea.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// Slider positions, 0–1 over the card's slider ranges.
    pub sliders: [f32; 4],
    /// Idea number (1-based; which validation measure lends the free latent dims).
    pub idea: u32,
}

impl Default for Slot {
    fn default() -> Self {
        Slot { sliders: [0.5; 4], idea: 1 }
    }
}

/// What the host's parameters ask for (everything but slot B, which only the editor sets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Live {
    /// Slot A: the sliders and idea as the parameters hold them.
    pub a: Slot,
    /// 0 = slot A, 1 = slot B.
    pub morph: f32,
    /// 0 = the most likely tokens; above 0, Gumbel sampling at this temperature.
    pub temperature: f32,
    /// 0 = every bar of the loop decodes the same latent; 1 = each bar another idea's.
    pub variation: f32,
    /// Loop length in bars (1–4).
    pub bars: usize,
}

impl Live {
    /// A fingerprint of every field (never 0, which marks "no pattern").
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fingerprint::new();
        for s in self.a.sliders {
            h.f32(s);
        }
        h.u64(self.a.idea as u64);
        h.f32(self.morph);
        h.f32(self.temperature);
        h.f32(self.variation);
        h.u64(self.bars as u64);
        h.finish()
    }
}

/// Everything a pattern depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// The parameters' part.
    pub live: Live,
    /// Slot B.
    pub b: Slot,
}

impl Request {
    /// A fingerprint of the whole request (the worker decodes when it changes).
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fingerprint::new();
        h.u64(self.live.fingerprint());
        for s in self.b.sliders {
            h.f32(s);
        }
        h.u64(self.b.idea as u64);
        h.finish()
    }
}

/// Fingerprints live in one process only (never saved), so std's hasher serves; it neither
/// allocates nor locks (the audio thread fingerprints the parameters every block).
struct Fingerprint(DefaultHasher);

impl Fingerprint {
    fn new() -> Self {
        Fingerprint(DefaultHasher::new())
    }
    fn u64(&mut self, x: u64) {
        self.0.write_u64(x);
    }
    fn f32(&mut self, x: f32) {
        // -0.0 and 0.0 decode alike; so should they hash.
        self.0.write_u32(if x == 0.0 { 0 } else { x.to_bits() });
    }
    fn finish(&self) -> u64 {
        self.0.finish().max(1)
    }
}

/// SplitMix64: a seeded, portable random stream (the noise must be the same on every machine).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The decoder with its buffers.
pub struct Generator {
    model: MelodyModel,
    z: Vec<f32>,
    zb: Vec<f32>,
    noise: Vec<f32>,
}

impl Generator {
    /// Wraps a loaded model.
    pub fn new(model: MelodyModel) -> Self {
        let latent = model.card().latent;
        Generator { model, z: vec![0.0; latent], zb: vec![0.0; latent], noise: vec![0.0; TICKS * VOCAB] }
    }

    /// The model.
    pub fn model(&self) -> &MelodyModel {
        &self.model
    }

    /// Ideas the card offers (0: the free dims stay at the prior's mean).
    pub fn ideas(&self) -> usize {
        self.model.card().ideas.len()
    }

    /// The latent of `slot` for bar `bar` of the loop: the idea's free dims, moved by
    /// `variation` towards another idea's for bars after the first, and the attribute dims
    /// set from the sliders over the card's slider ranges.
    pub fn latent(&self, slot: &Slot, bar: usize, variation: f32, out: &mut [f32]) {
        let card = self.model.card();
        out.fill(0.0);
        let n = card.ideas.len();
        if n > 0 {
            let base = &card.ideas[(slot.idea.max(1) as usize - 1) % n];
            let v = if variation.is_finite() { variation.clamp(0.0, 1.0) } else { 0.0 };
            let mut seed = ((slot.idea as u64) << 8) | bar as u64;
            let other = &card.ideas[(splitmix(&mut seed) % n as u64) as usize];
            for ((o, b), x) in out.iter_mut().zip(base).zip(other) {
                *o = if bar == 0 { *b } else { b + v * (x - b) };
            }
        }
        for (name, s) in ATTRIBUTES.iter().zip(slot.sliders) {
            if let Some(a) = card.attribute(name) {
                let s = if s.is_finite() { s.clamp(0.0, 1.0) } else { 0.5 };
                out[a.dim] = a.slider_range[0] + s * (a.slider_range[1] - a.slider_range[0]);
            }
        }
    }

    /// Decodes the loop `req` asks for.
    pub fn generate(&mut self, req: &Request) -> Result<Pattern, ModelError> {
        let live = &req.live;
        let bars = live.bars.clamp(1, MAX_BARS);
        let mut pattern = Pattern::silent(bars);
        pattern.key = live.fingerprint();
        let morph = if live.morph.is_finite() { live.morph.clamp(0.0, 1.0) } else { 0.0 };
        let sample = live.temperature.is_finite() && live.temperature > 0.0;
        let mut z = std::mem::take(&mut self.z);
        let mut zb = std::mem::take(&mut self.zb);
        let mut result = Ok(());
        for bar in 0..bars {
            self.latent(&live.a, bar, live.variation, &mut z);
            if morph > 0.0 {
                self.latent(&req.b, bar, live.variation, &mut zb);
                for (a, b) in z.iter_mut().zip(&zb) {
                    *a += morph * (b - *a);
                }
            }
            if sample {
                // Gumbel noise seeded by slot A's idea and the bar, not by the sliders: moving
                // a slider changes its attribute, not the dice.
                let mut seed = 0x6d65_6c6f_6479u64 ^ ((live.a.idea as u64) << 16) ^ bar as u64;
                for g in self.noise.iter_mut() {
                    let u = ((splitmix(&mut seed) >> 11) as f64 / (1u64 << 53) as f64).clamp(1e-6, 1.0 - 1e-6);
                    *g = -(-(u.ln())).ln() as f32;
                }
            } else {
                self.noise.fill(0.0);
            }
            let temperature = if sample { live.temperature } else { 1.0 };
            let mut out = [0u8; TICKS];
            if let Err(e) = self.model.decode(&z, &self.noise, temperature, &mut out) {
                result = Err(e);
                break;
            }
            pattern.tokens[bar * TICKS..(bar + 1) * TICKS].copy_from_slice(&out);
        }
        self.z = z;
        self.zb = zb;
        result.map(|()| pattern)
    }
}

/// What the worker publishes for the editor.
#[derive(Default)]
pub struct WorkerShared {
    /// The last pattern decoded (the editor's piano roll).
    pub pattern: Mutex<Option<Pattern>>,
    /// Last error, empty if none.
    pub error: Mutex<String>,
    /// Milliseconds the last loop took to decode.
    pub decode_ms: AtomicF32,
    /// Loops decoded.
    pub decoded: AtomicU64,
    /// Failed decodes.
    pub errors: AtomicU64,
    /// [`Live::fingerprint`] of the last request the worker finished (decoded or failed).
    pub done: AtomicU64,
}

/// The worker thread: polls the request, decodes when it changes, pushes the pattern.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: Thread,
    handle: Option<JoinHandle<Generator>>,
    patterns: HeapCons<Pattern>,
}

/// Ring size: the audio thread keeps only the newest pattern, so a few slots are plenty.
const RING: usize = 8;
/// How often the worker looks for changes that no one woke it for (the editor's slot B).
const POLL: Duration = Duration::from_millis(25);

impl Worker {
    /// Starts the worker. `request` is called on the worker thread; `first` is the fingerprint
    /// of a request already decoded (its pattern given to the sequencer), so it is not redone.
    pub fn spawn(
        mut generator: Generator,
        shared: Arc<WorkerShared>,
        first: Option<u64>,
        request: impl Fn() -> Request + Send + 'static,
    ) -> std::io::Result<Self> {
        let (mut prod, cons): (HeapProd<Pattern>, HeapCons<Pattern>) = HeapRb::new(RING).split();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::Builder::new().name("melody-generator".into()).spawn(move || {
            let mut last = first;
            let mut pending: Option<Pattern> = None;
            while !stop2.load(Ordering::Acquire) {
                let req = request();
                let fp = req.fingerprint();
                if last != Some(fp) {
                    let t0 = Instant::now();
                    match generator.generate(&req) {
                        Ok(p) => {
                            pending = Some(p);
                            shared.decode_ms.store(t0.elapsed().as_secs_f32() * 1e3, Ordering::Relaxed);
                            shared.decoded.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut slot) = shared.pattern.lock() {
                                *slot = Some(p);
                            }
                            if let Ok(mut e) = shared.error.lock() {
                                e.clear();
                            }
                        }
                        Err(e) => {
                            shared.errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut s) = shared.error.lock() {
                                *s = format!("decoding failed: {e}");
                            }
                        }
                    }
                    last = Some(fp);
                }
                if let Some(p) = pending {
                    if prod.try_push(p).is_ok() {
                        pending = None;
                    }
                }
                if pending.is_none() {
                    shared.done.store(req.live.fingerprint(), Ordering::Release);
                }
                thread::park_timeout(POLL);
            }
            generator
        })?;
        let thread = handle.thread().clone();
        Ok(Worker { stop, thread, handle: Some(handle), patterns: cons })
    }

    /// Wakes the worker (a parameter changed). Lock- and allocation-free.
    pub fn wake(&self) {
        self.thread.unpark();
    }

    /// The newest pattern the worker delivered since the last call (audio thread).
    pub fn newest(&mut self) -> Option<Pattern> {
        let mut newest = None;
        while let Some(p) = self.patterns.try_pop() {
            newest = Some(p);
        }
        newest
    }

    /// Stops the thread and returns the generator (for the next activation).
    pub fn stop(mut self) -> Option<Generator> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Option<Generator> {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
        self.handle.take().and_then(|h| h.join().ok())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generator() -> Generator {
        Generator::new(MelodyModel::builtin().expect("built-in model"))
    }

    fn live() -> Live {
        Live { a: Slot::default(), morph: 0.0, temperature: 0.0, variation: 0.3, bars: 2 }
    }

    #[test]
    fn sliders_set_their_dims_and_ideas_the_rest() {
        let g = generator();
        let card = g.model().card();
        let latent = card.latent;
        let (mut lo, mut hi) = (vec![0.0; latent], vec![0.0; latent]);
        let slot = Slot { sliders: [0.0, 0.0, 1.0, 0.25], idea: 3 };
        g.latent(&slot, 0, 0.0, &mut lo);
        g.latent(&Slot { sliders: [1.0, 1.0, 0.0, 0.25], ..slot }, 0, 0.0, &mut hi);
        let rc = card.attribute("rhythmic_complexity").unwrap();
        assert_eq!(lo[rc.dim], rc.slider_range[0]);
        assert_eq!(hi[rc.dim], rc.slider_range[1]);
        let changed: Vec<usize> = (0..latent).filter(|&i| lo[i] != hi[i]).collect();
        assert_eq!(changed, vec![0, 1, 2], "sliders move only their own dims");
        if g.ideas() > 1 {
            let mut other = vec![0.0; latent];
            g.latent(&Slot { idea: 4, ..slot }, 0, 0.0, &mut other);
            assert!((4..latent).any(|i| other[i] != lo[i]), "another idea changes the free dims");
            // Bars after the first vary only when asked to.
            let mut bar1 = vec![0.0; latent];
            g.latent(&slot, 1, 0.0, &mut bar1);
            assert_eq!(bar1, lo);
            g.latent(&slot, 1, 1.0, &mut bar1);
            assert_ne!(bar1, lo);
        }
    }

    #[test]
    fn decoding_is_deterministic_and_follows_the_request() {
        let mut g = generator();
        let req = Request { live: live(), b: Slot::default() };
        let a = g.generate(&req).unwrap();
        assert_eq!(a, g.generate(&req).unwrap(), "same request, same loop");
        assert_eq!(a.bars, 2);
        assert_eq!(a.key, req.live.fingerprint());
        assert!(a.notes().count() > 0, "the default settings make notes");
        let hot = Request { live: Live { temperature: 1.0, ..live() }, ..req };
        assert_eq!(g.generate(&hot).unwrap(), g.generate(&hot).unwrap(), "sampling is seeded");
        // Morph 1 with slot B = slot A changes nothing but the fingerprint.
        let same_b = Request { live: Live { morph: 1.0, ..live() }, b: req.live.a };
        assert_eq!(g.generate(&same_b).unwrap().tokens, a.tokens);
        // The density slider at its ends: more notes at the top.
        let dense = |s: f32, g: &mut Generator| {
            let mut l = live();
            l.a.sliders[2] = s;
            l.bars = 4;
            l.variation = 1.0;
            g.generate(&Request { live: l, b: Slot::default() }).unwrap().notes().count()
        };
        let (few, many) = (dense(0.0, &mut g), dense(1.0, &mut g));
        assert!(many > few, "note density slider: {few} notes at 0, {many} at 1");
    }

    #[test]
    fn fingerprints_see_every_field() {
        let base = live();
        let variants = [
            Live { morph: 0.5, ..base },
            Live { temperature: 0.5, ..base },
            Live { variation: 0.0, ..base },
            Live { bars: 3, ..base },
            Live { a: Slot { idea: 2, ..base.a }, ..base },
            Live { a: Slot { sliders: [0.5, 0.5, 0.5, 0.6], ..base.a }, ..base },
        ];
        for v in variants {
            assert_ne!(v.fingerprint(), base.fingerprint(), "{v:?}");
        }
        let r = Request { live: base, b: Slot::default() };
        assert_ne!(r.fingerprint(), Request { b: Slot { idea: 9, ..r.b }, ..r }.fingerprint());
    }

    #[test]
    fn the_worker_decodes_changes_and_hands_over_the_newest() {
        let shared = Arc::new(WorkerShared::default());
        let want = Arc::new(Mutex::new(live()));
        let want2 = want.clone();
        let mut w = Worker::spawn(generator(), shared.clone(), None, move || Request {
            live: *want2.lock().unwrap(),
            b: Slot::default(),
        })
        .unwrap();
        let wait = |w: &mut Worker, fp: u64| {
            let t0 = Instant::now();
            loop {
                if let Some(p) = w.newest() {
                    if p.key == fp {
                        return p;
                    }
                }
                assert!(t0.elapsed() < Duration::from_secs(30), "the worker did not deliver");
                thread::sleep(Duration::from_millis(2));
            }
        };
        let first = wait(&mut w, live().fingerprint());
        want.lock().unwrap().bars = 4;
        w.wake();
        let second = wait(&mut w, Live { bars: 4, ..live() }.fingerprint());
        assert_eq!(second.bars, 4);
        assert_eq!(second.tokens[..TICKS], first.tokens[..TICKS], "bar 1 does not depend on the loop length");
        assert!(shared.decoded.load(Ordering::Relaxed) >= 2);
        assert!(w.stop().is_some(), "the generator comes back");
    }
}
