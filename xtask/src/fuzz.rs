//! `cargo xtask fuzz`: a seeded host-side stress test of every plugin crate, in the spirit of
//! pluginval's stress levels and clap-validator's conformance tests.
//!
//! Each session loads the plugin's debug library (nice-plug's `assert_process_allocs` guard is
//! on there: an allocation inside `process()` aborts), activates it at a random rate and maximum
//! block size in real-time or offline mode, and processes blocks of random size 1…max with
//! sample-accurate parameter automation (jumps and ramps), a transport that starts, stops,
//! jumps, loops and changes tempo, MIDI notes where the plugin has a note input, and test
//! signals from silence to NaN. Between blocks it checks that every output sample is finite and
//! bounded, that output events are in order and inside the block, and that the latency does not
//! change within an activation; between activations it switches the render mode (and sometimes
//! the rate). It also round-trips every parameter through its text form, feeds the state loader
//! garbage and truncated blobs (they must be refused with the parameters kept), and, for an
//! offline session, loads a state saved mid-session into a fresh instance that must then render
//! exactly what the first instance renders from the same state.
//!
//! Sessions of one plugin run in a child process, so that a crash or an abort (the allocation
//! guard) is reported with its seed and the run goes on with the next session.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clack_extensions::latency::PluginLatency;
use clack_extensions::note_ports::{NotePortInfoBuffer, PluginNotePorts};
use clack_host::events::event_types::{NoteOffEvent, NoteOnEvent, ParamValueEvent, TransportFlags};
use clack_host::events::{Match, Pckn};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::host::{transport_event, Mode, ParamRange, PluginHost};

/// Sample rates a session activates at.
pub const RATES: [u32; 6] = [22_050, 44_100, 48_000, 88_200, 96_000, 192_000];

/// Output may not exceed this many times the loudest finite input of the activation (or 1.0,
/// whichever is larger): +30 dB covers the separator's +12 dB gain on every stem with room for
/// overlap-add peaks, and still catches a processor that blows up.
pub const MAX_GAIN: f32 = 32.0;

/// What a session counted, and (summed) a plugin's run: one struct, flattened into both
/// reports' JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Activations (each at its own rate, block size and mode).
    pub activations: u64,
    /// Process calls.
    pub blocks: u64,
    /// Frames processed.
    pub frames: u64,
    /// Parameter events sent inside blocks.
    pub param_events: u64,
    /// Note events sent.
    pub note_events: u64,
    /// Value → text → value → text round trips checked.
    pub conversions: u64,
    /// Garbage or truncated state blobs offered to the loader.
    pub bad_states: u64,
    /// Fresh-instance state reproductions checked (offline sessions).
    pub reproductions: u64,
    /// Missing or corrupt model folders loaded (the plugin must pass audio).
    pub bad_models: u64,
}

impl std::ops::AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, o: &Counts) {
        self.activations += o.activations;
        self.blocks += o.blocks;
        self.frames += o.frames;
        self.param_events += o.param_events;
        self.note_events += o.note_events;
        self.conversions += o.conversions;
        self.bad_states += o.bad_states;
        self.reproductions += o.reproductions;
        self.bad_models += o.bad_models;
    }
}

/// What one session found.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SessionReport {
    /// Session index within the plugin's run.
    pub session: u64,
    /// Failed checks, each a sentence with the frame or parameter it happened at.
    pub failures: Vec<String>,
    /// What the session did.
    #[serde(flatten)]
    pub counts: Counts,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// One plugin's totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginSummary {
    /// Plugin crate name.
    pub plugin: String,
    /// Sessions run.
    pub sessions: u64,
    /// Sessions with at least one failed check (a crash counts as one).
    pub failed_sessions: u64,
    /// Sessions whose child process died (panic, abort, signal).
    pub crashes: u64,
    /// Totals over the sessions.
    #[serde(flatten)]
    pub counts: Counts,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Each kind of failure (at most 20 kinds) with its first message and a replay command.
    pub examples: Vec<FailureExample>,
}

impl PluginSummary {
    fn add(&mut self, r: &SessionReport, seed: u64) {
        self.sessions += 1;
        if !r.failures.is_empty() {
            self.failed_sessions += 1;
        }
        self.counts += &r.counts;
        // One example per kind of failure (the message without its numbers), with a command
        // that replays the session.
        for f in &r.failures {
            let kind = failure_kind(f);
            if let Some(e) = self.examples.iter_mut().find(|e| e.kind == kind) {
                e.count += 1;
            } else if self.examples.len() < 20 {
                self.examples.push(FailureExample {
                    kind,
                    count: 1,
                    first: f.clone(),
                    replay: format!(
                        "cargo xtask fuzz {} --seed {seed} --first {} --sessions 1",
                        self.plugin, r.session
                    ),
                });
            }
        }
    }
}

/// A kind of failure seen in a plugin's run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FailureExample {
    /// The message with its numbers blanked (what groups failures).
    pub kind: String,
    /// How many failures of this kind.
    pub count: u64,
    /// The first one in full.
    pub first: String,
    /// The command that replays the session of the first one.
    pub replay: String,
}

fn failure_kind(msg: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for ch in msg.chars() {
        if ch.is_ascii_digit() || (in_num && ch == '.') {
            if !in_num {
                out.push('#');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(ch);
        }
    }
    out
}

/// The seed of session `i` of `plugin` in a run seeded `seed`.
pub fn session_seed(seed: u64, plugin: &str, i: u64) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for b in plugin.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01B3);
    }
    (h ^ i.wrapping_mul(0xD6E8_FEB8_6659_FD93)).rotate_left(17)
}

const TAG: &str = "@@fuzz ";

/// A session that prints nothing for this long is killed and counted as hung (the slowest seen:
/// 120 s, a melody session of 143 000 one-frame blocks on a loaded machine).
const SESSION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Runs `sessions` sessions of the plugin library `lib` (crate `plugin`) in child processes of
/// `exe` (this binary), printing one progress line per 10 % and returning the totals.
pub fn fuzz_plugin(
    exe: &Path,
    plugin: &str,
    lib: &Path,
    first: u64,
    sessions: u64,
    seed: u64,
) -> Result<PluginSummary> {
    let mut summary = PluginSummary { plugin: plugin.to_string(), ..Default::default() };
    let started = Instant::now();
    let sessions = first + sessions;
    let mut next = first;
    let mut last_print = first;
    while next < sessions {
        let mut child = Command::new(exe)
            .args(["fuzz-child", "--lib"])
            .arg(lib)
            .args(["--plugin", plugin, "--seed", &seed.to_string()])
            .args(["--first", &next.to_string(), "--sessions", &(sessions - next).to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start the fuzz child process")?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        // Drain stderr on a thread so that a chatty plugin cannot block the child.
        let err_thread = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        // Lines arrive through a thread, so that a session that hangs is noticed: no line for
        // SESSION_TIMEOUT kills the child and counts the session as hung.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).map(|n| n > 0).unwrap_or(false) {
                if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                    break;
                }
                buf.clear();
            }
        });
        let mut running: Option<u64> = None;
        let mut hung = false;
        loop {
            let line = match rx.recv_timeout(SESSION_TIMEOUT) {
                Ok(l) => l,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    hung = true;
                    let _ = child.kill();
                    break;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // A plugin may print to stdout too; the tag can follow its text on the same line.
            let Some(at) = line.find(TAG) else { continue };
            let msg = line[at + TAG.len()..].trim_end();
            let parsed: Result<()> = (|| {
                if let Some(i) = msg.strip_prefix("start ") {
                    running = Some(i.trim().parse()?);
                } else {
                    let report: SessionReport = serde_json::from_str(msg)?;
                    summary.add(&report, seed);
                    next = report.session + 1;
                    running = None;
                }
                Ok(())
            })();
            if let Err(e) = parsed {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.context(format!("unreadable line from the fuzz child: {msg:?}")));
            }
            let total = sessions - first;
            if (next - first) * 10 / total.max(1) > (last_print - first) * 10 / total.max(1) || next == sessions {
                println!(
                    "  {plugin}: {}/{} sessions, {} failed ({:.0} s)",
                    next - first,
                    sessions - first,
                    summary.failed_sessions,
                    started.elapsed().as_secs_f64()
                );
                last_print = next;
            }
        }
        let status = child.wait()?;
        let err = err_thread.join().unwrap_or_default();
        if let Some(i) = running {
            // The child died (or hung) inside session i.
            let tail: Vec<&str> = err.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
            let what = if hung {
                format!("the session hung (no progress for {} s; killed)", SESSION_TIMEOUT.as_secs())
            } else {
                format!("the plugin crashed ({status})")
            };
            let report = SessionReport {
                session: i,
                failures: vec![format!("{what}: {}", tail.join(" | "))],
                ..Default::default()
            };
            summary.add(&report, seed);
            summary.crashes += 1;
            next = i + 1;
        } else if !status.success() && next < sessions {
            bail!("fuzz child for {plugin} failed outside a session ({status}): {err}");
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The child side: runs sessions `first..first + sessions` in this process, printing a start line
/// before each and its JSON report after it.
pub fn child(lib: &Path, plugin: &str, seed: u64, first: u64, sessions: u64) -> Result<()> {
    let model_dirs = bad_model_dirs()?;
    let _cleanup = TempDirs(std::env::temp_dir().join(format!("mirsuite-fuzz-{}", std::process::id())));
    for i in first..first + sessions {
        println!("{TAG}start {i}");
        let mut report = SessionReport { session: i, ..Default::default() };
        let s = session_seed(seed, plugin, i);
        let t0 = Instant::now();
        if let Err(e) = run_session(lib, s, &model_dirs, &mut report) {
            report.failures.push(format!("{e:#}"));
        }
        report.seconds = t0.elapsed().as_secs_f64();
        println!("{TAG}{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

/// Model folders a custom-model setting may name: a missing one, and per shipped model a folder
/// with that model's valid card beside model files that are garbage (so the loader gets past the
/// card and must refuse the files themselves).
fn bad_model_dirs() -> Result<Vec<PathBuf>> {
    let base = std::env::temp_dir().join(format!("mirsuite-fuzz-{}", std::process::id()));
    let mut dirs = vec![base.join("missing")];
    let models = crate::plugins::workspace_root().join("models");
    for entry in std::fs::read_dir(&models).with_context(|| format!("cannot list {}", models.display()))? {
        let card = entry?.path().join("card.json");
        let Ok(text) = std::fs::read_to_string(&card) else { continue };
        let name =
            card.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = base.join(format!("corrupt-{name}"));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("card.json"), text)?;
        for f in ["model.onnx", "encoder.onnx", "decoder.onnx", "weights.pt"] {
            std::fs::write(dir.join(f), b"\x08\x07not an onnx model at all")?;
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

/// Removes the child's model folders when it ends.
struct TempDirs(PathBuf);

impl Drop for TempDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn has_note_input(host: &mut PluginHost) -> bool {
    let handle = host.instance().plugin_handle();
    handle.get_extension::<PluginNotePorts>().is_some_and(|p| {
        let mut buf = NotePortInfoBuffer::new();
        (0..p.count(&handle, true)).any(|i| p.get(&handle, i, true, &mut buf).is_some())
    })
}

fn param_values(host: &mut PluginHost, specs: &[ParamRange]) -> Vec<Option<f64>> {
    let ids: Vec<u32> = specs.iter().map(|p| p.id).collect();
    host.param_values(&ids)
}

/// clap-validator's `param-conversions`: value → text → value → text gives the same text, for
/// the bounds, the default and random values of every parameter.
fn check_conversions(host: &mut PluginHost, specs: &[ParamRange], rng: &mut ChaCha8Rng, r: &mut SessionReport) {
    for p in specs {
        let mut values = vec![p.min, p.max];
        for _ in 0..4 {
            let v = rng.gen_range(p.min..=p.max);
            values.push(if p.stepped { v.round() } else { v });
        }
        for v in values {
            r.counts.conversions += 1;
            let Some(t1) = host.value_to_text(p.id, v) else {
                r.failures.push(format!("param {:?}: no text for value {v}", p.name));
                continue;
            };
            let Some(v2) = host.text_to_value(p.id, &t1) else {
                r.failures.push(format!("param {:?}: its own text {t1:?} (value {v}) does not parse", p.name));
                continue;
            };
            if !(p.min - 1e-9..=p.max + 1e-9).contains(&v2) {
                r.failures.push(format!("param {:?}: {t1:?} parses to {v2}, outside {}..{}", p.name, p.min, p.max));
            }
            let t2 = host.value_to_text(p.id, v2).unwrap_or_default();
            if t1 != t2 {
                r.failures.push(format!("param {:?}: {v} -> {t1:?} -> {v2} -> {t2:?} is not consistent", p.name));
            }
        }
    }
}

/// Garbage, truncated and bit-flipped state blobs: garbage and truncated ones must be refused
/// with every parameter unchanged; a flipped one may load, but the plugin must go on working.
fn check_bad_states(host: &mut PluginHost, specs: &[ParamRange], rng: &mut ChaCha8Rng, r: &mut SessionReport) {
    let good = match host.save_state() {
        Ok(s) => s,
        Err(e) => {
            r.failures.push(format!("saving state failed: {e:#}"));
            return;
        }
    };
    let before = param_values(host, specs);
    let mut blobs: Vec<(&str, Vec<u8>, bool)> = Vec::new();
    let n = rng.gen_range(0..600);
    blobs.push(("random bytes", (0..n).map(|_| rng.gen()).collect(), true));
    if good.len() > 1 {
        let cut = rng.gen_range(0..good.len());
        blobs.push(("truncated state", good[..cut].to_vec(), true));
    }
    let mut json_garbage = good.clone();
    if json_garbage.len() > 9 {
        // The length prefix stays; the JSON text becomes invalid.
        let at = rng.gen_range(8..json_garbage.len());
        json_garbage[at] = b'\x01';
        blobs.push(("state with a control byte in its JSON", json_garbage, true));
    }
    let mut flipped = good.clone();
    if !flipped.is_empty() {
        let at = rng.gen_range(0..flipped.len());
        flipped[at] ^= 1 << rng.gen_range(0..8);
        blobs.push(("state with a flipped bit", flipped, false));
    }
    for (what, blob, must_refuse) in blobs {
        r.counts.bad_states += 1;
        let loaded = host.load_state(&blob).is_ok();
        if must_refuse && loaded {
            r.failures.push(format!("the plugin accepted a {what} ({} bytes)", blob.len()));
        }
        if !loaded && param_values(host, specs) != before {
            r.failures.push(format!("refusing a {what} changed the parameters"));
        }
        // Back to the good state for whatever follows.
        if let Err(e) = host.load_state(&good) {
            r.failures.push(format!("the plugin refused its own saved state after a {what}: {e:#}"));
        }
    }
}

/// Test signals.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SignalKind {
    Silence,
    Dc(f32),
    Sine { freq: f32, amp: f32 },
    Noise(f32),
    Square { freq: f32 },
    Huge,
    Denormal,
    Nan,
    Inf,
    Chirp,
}

struct Signal {
    kind: SignalKind,
    left: usize,
    phase: f64,
    t: u64,
    rng: ChaCha8Rng,
    with_garbage: bool,
    /// Always this kind instead of a random sequence.
    fixed: Option<SignalKind>,
}

impl Signal {
    fn new(seed: u64, with_garbage: bool) -> Self {
        Signal {
            kind: SignalKind::Silence,
            left: 0,
            phase: 0.0,
            t: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            with_garbage,
            fixed: None,
        }
    }

    fn pick(&mut self, rate: u32) {
        let r = &mut self.rng;
        let roll = r.gen_range(0..if self.with_garbage { 13 } else { 10 });
        self.kind = match roll {
            0 => SignalKind::Silence,
            1 => SignalKind::Dc(if r.gen_bool(0.5) { 1.0 } else { r.gen_range(-1.0..1.0) }),
            2 | 3 => SignalKind::Sine { freq: r.gen_range(20.0..(rate as f32 * 0.45)), amp: r.gen_range(0.01..1.0) },
            4 | 5 => SignalKind::Noise(r.gen_range(0.01..1.0)),
            6 => SignalKind::Square { freq: r.gen_range(20.0..2000.0) },
            7 => SignalKind::Chirp,
            8 => SignalKind::Denormal,
            9 => SignalKind::Sine { freq: r.gen_range(40.0..400.0), amp: 0.5 },
            10 => SignalKind::Huge,
            11 => SignalKind::Nan,
            _ => SignalKind::Inf,
        };
        if let Some(k) = self.fixed {
            self.kind = k;
        }
        self.left = r.gen_range(rate as usize / 50..rate as usize / 2);
        self.phase = 0.0;
    }

    /// Fills one block (all channels); returns whether every sample was finite and the peak of
    /// the finite ones.
    fn fill(&mut self, chans: &mut [Vec<f32>], n: usize, rate: u32) -> (bool, f32) {
        let mut finite = true;
        let mut peak = 0.0f32;
        for i in 0..n {
            if self.left == 0 {
                self.pick(rate);
            }
            self.left -= 1;
            self.t += 1;
            let x = match self.kind {
                SignalKind::Silence => 0.0,
                SignalKind::Dc(v) => v,
                SignalKind::Sine { freq, amp } => {
                    self.phase += freq as f64 / rate as f64;
                    amp * (self.phase * std::f64::consts::TAU).sin() as f32
                }
                SignalKind::Noise(a) => self.rng.gen_range(-a..a),
                SignalKind::Square { freq } => {
                    self.phase += freq as f64 / rate as f64;
                    if self.phase.fract() < 0.5 {
                        1.0
                    } else {
                        -1.0
                    }
                }
                SignalKind::Huge => {
                    if self.rng.gen_bool(0.5) {
                        1e6
                    } else {
                        -1e6
                    }
                }
                SignalKind::Denormal => {
                    if self.t.is_multiple_of(2) {
                        1e-40
                    } else {
                        -3e-39
                    }
                }
                SignalKind::Chirp => {
                    let f = 20.0 * (rate as f64 / 50.0).powf((self.t % rate as u64) as f64 / rate as f64);
                    self.phase += f / rate as f64;
                    0.8 * (self.phase * std::f64::consts::TAU).sin() as f32
                }
                SignalKind::Nan => {
                    if self.rng.gen_bool(0.3) {
                        f32::NAN
                    } else {
                        0.1
                    }
                }
                SignalKind::Inf => {
                    if self.rng.gen_bool(0.5) {
                        f32::INFINITY
                    } else {
                        f32::NEG_INFINITY
                    }
                }
            };
            if !x.is_finite() {
                finite = false;
            } else {
                peak = peak.max(x.abs());
            }
            for (c, ch) in chans.iter_mut().enumerate() {
                // Channels differ a little (a stereo signal, not dual mono), same kind.
                ch[i] = if c == 0 || !x.is_finite() { x } else { x * 0.9 };
            }
        }
        (finite, peak)
    }
}

/// The host's transport: plays, stops, jumps, loops and changes tempo between blocks.
struct Transport {
    beats: f64,
    tempo: f64,
    playing: bool,
    looping: Option<(f64, f64)>,
}

impl Transport {
    fn event(&self) -> clack_host::events::event_types::TransportEvent {
        let mut t = transport_event(self.beats, self.tempo, self.playing);
        if let Some((a, b)) = self.looping {
            t.flags |= TransportFlags::IS_LOOP_ACTIVE;
            t.loop_start_beats = BeatTime::from_float(a);
            t.loop_end_beats = BeatTime::from_float(b);
            t.loop_start_seconds = SecondsTime::from_float(a * 60.0 / self.tempo);
            t.loop_end_seconds = SecondsTime::from_float(b * 60.0 / self.tempo);
        }
        t
    }

    fn advance(&mut self, frames: usize, rate: u32) {
        if self.playing {
            self.beats += frames as f64 / rate as f64 * self.tempo / 60.0;
            if let Some((a, b)) = self.looping {
                if self.beats >= b {
                    self.beats = a + (self.beats - b) % (b - a);
                }
            }
        }
    }

    fn mutate(&mut self, rng: &mut ChaCha8Rng) {
        let roll: f64 = rng.gen();
        if roll < 0.02 {
            self.playing = !self.playing;
        } else if roll < 0.03 {
            self.beats = rng.gen_range(0.0..64.0);
        } else if roll < 0.035 {
            self.beats = rng.gen_range(-4.0..0.0); // pre-roll: a negative song position
        } else if roll < 0.045 {
            self.tempo = rng.gen_range(30.0..300.0);
        } else if roll < 0.05 {
            self.looping = if self.looping.is_some() {
                None
            } else {
                let a = (self.beats.max(0.0) / 4.0).floor() * 4.0;
                Some((a, a + 4.0 * rng.gen_range(1..=4) as f64))
            };
        }
    }
}

/// A ramp of one parameter over the next blocks.
struct Ramp {
    param: usize,
    from: f64,
    to: f64,
    frames: usize,
    done: usize,
}

/// Buffers and event lists for one activation.
struct Io {
    in_bufs: Vec<Vec<Vec<f32>>>,
    out_bufs: Vec<Vec<Vec<f32>>>,
    in_ports: AudioPorts,
    out_ports: AudioPorts,
    in_events: EventBuffer,
    out_events: EventBuffer,
}

impl Io {
    fn new(host: &PluginHost, max: usize) -> Self {
        let d = host.description();
        let ins: Vec<u32> = d.inputs.iter().map(|p| p.1).collect();
        let outs: Vec<u32> = d.outputs.iter().map(|p| p.1).collect();
        Io {
            in_bufs: ins.iter().map(|&c| vec![vec![0.0; max]; c as usize]).collect(),
            out_bufs: outs.iter().map(|&c| vec![vec![0.0; max]; c as usize]).collect(),
            in_ports: AudioPorts::with_capacity(ins.iter().sum::<u32>() as usize, ins.len()),
            out_ports: AudioPorts::with_capacity(outs.iter().sum::<u32>() as usize, outs.len()),
            in_events: EventBuffer::with_capacity(256),
            out_events: EventBuffer::with_capacity(4096),
        }
    }
}

/// What a block produced, for the reproduction check.
#[derive(Debug, Clone, PartialEq)]
struct BlockOut {
    audio: Vec<Vec<Vec<f32>>>,
    events: Vec<(u32, String)>,
}

/// An output event in words (note on/off with key and velocity, MIDI bytes), for comparisons
/// and messages.
fn describe_event(ev: &clack_host::events::UnknownEvent) -> String {
    use clack_host::events::spaces::CoreEventSpace;
    match ev.as_core_event() {
        Some(CoreEventSpace::NoteOn(e)) => {
            format!("on ch{} key{} vel{:.4}", e.pckn().raw_channel(), e.pckn().raw_key(), e.velocity())
        }
        Some(CoreEventSpace::NoteOff(e)) => format!("off ch{} key{}", e.pckn().raw_channel(), e.pckn().raw_key()),
        Some(CoreEventSpace::Midi(e)) => format!("midi {:02x?}", e.data()),
        _ => format!("event {:02x?}", ev.as_bytes()),
    }
}

/// Processes one block of `n` frames; fills the first input port from `signal` (other input
/// ports silent) and runs the checks on what comes out.
#[allow(clippy::too_many_arguments)]
fn process_block(
    processor: &mut StartedPluginAudioProcessor<crate::host::Handlers>,
    io: &mut Io,
    n: usize,
    signal: &mut Signal,
    rate: u32,
    transport: &Transport,
    steady: u64,
    peak_in: &mut f32,
    fails: &mut Vec<String>,
    keep: bool,
) -> Option<BlockOut> {
    let mut finite_in = true;
    for (p, port) in io.in_bufs.iter_mut().enumerate() {
        if p == 0 {
            let (f, pk) = signal.fill(port, n, rate);
            finite_in = f;
            *peak_in = peak_in.max(pk);
        } else {
            for ch in port.iter_mut() {
                ch[..n].fill(0.0);
            }
        }
    }
    if io.in_bufs.is_empty() {
        // No audio input: the signal still advances so that sessions stay comparable.
        let mut scratch = vec![vec![0.0f32; n]];
        let _ = signal.fill(&mut scratch, n, rate);
    }
    for port in io.out_bufs.iter_mut() {
        for ch in port.iter_mut() {
            // Garbage in the output buffers: a plugin must write every sample it reports.
            ch[..n].fill(f32::NAN);
        }
    }
    io.out_events.clear();
    io.in_events.sort();
    let t = transport.event();
    let ins = io.in_ports.with_input_buffers(io.in_bufs.iter_mut().map(|port| AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_input_only(port.iter_mut().map(|b| InputChannel::variable(&mut b[..n]))),
    }));
    let mut outs = io.out_ports.with_output_buffers(io.out_bufs.iter_mut().map(|port| AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_output_only(port.iter_mut().map(|b| &mut b[..n])),
    }));
    let status = processor.process(
        &ins,
        &mut outs,
        &io.in_events.as_input(),
        &mut io.out_events.as_output(),
        Some(steady),
        Some(&t),
    );
    io.in_events.clear();
    if let Err(e) = status {
        fails.push(format!("process() failed at frame {steady}: {e}"));
        return None;
    }
    let limit = MAX_GAIN * peak_in.max(1.0);
    'ports: for (p, port) in io.out_bufs.iter().enumerate() {
        for (c, ch) in port.iter().enumerate() {
            if let Some(i) = ch[..n].iter().position(|x| !x.is_finite()) {
                let what = if finite_in { "finite" } else { "non-finite" };
                fails.push(format!(
                    "output port {p} channel {c}: sample {} is {} at frame {} ({what} input, signal {:?})",
                    i,
                    ch[i],
                    steady + i as u64,
                    signal.kind
                ));
                break 'ports;
            }
            if let Some(i) = ch[..n].iter().position(|x| x.abs() > limit) {
                fails.push(format!(
                    "output port {p} channel {c}: {} at frame {} exceeds {MAX_GAIN} x the input peak {peak_in}",
                    ch[i],
                    steady + i as u64
                ));
                break 'ports;
            }
        }
    }
    let mut last = 0u32;
    let mut events = Vec::new();
    for ev in io.out_events.iter() {
        let time = ev.header().time();
        if time as usize >= n {
            fails.push(format!("output event at time {time} in a block of {n} frames (frame {steady})"));
        }
        if time < last {
            fails.push(format!("output events out of order: {time} after {last} (frame {steady})"));
        }
        last = time;
        if keep {
            events.push((time, describe_event(ev)));
        }
    }
    keep.then(|| BlockOut {
        audio: io.out_bufs.iter().map(|p| p.iter().map(|c| c[..n].to_vec()).collect()).collect(),
        events,
    })
}

fn current_latency(host: &mut PluginHost) -> u32 {
    let handle = host.instance().plugin_handle();
    handle.get_extension::<PluginLatency>().map_or(0, |l| l.get(&handle))
}

fn pick_block(rng: &mut ChaCha8Rng) -> usize {
    match rng.gen_range(0..10) {
        0 => 1,
        1 => 32,
        2 => 64,
        3 | 4 => 512,
        5 => 1024,
        6 => 4096,
        7 => 8192,
        _ => rng.gen_range(2..2048),
    }
}

fn block_size(rng: &mut ChaCha8Rng, max: usize) -> usize {
    match rng.gen_range(0..8) {
        0 => 1,
        1 | 2 => max,
        _ => rng.gen_range(1..=max),
    }
}

fn run_session(lib: &Path, seed: u64, bad_dirs: &[PathBuf], r: &mut SessionReport) -> Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut host = PluginHost::load(lib, None)?;
    let specs = host.param_ranges();
    let notes_in = has_note_input(&mut host);
    check_conversions(&mut host, &specs, &mut rng, r);
    if rng.gen_bool(0.3) {
        check_bad_states(&mut host, &specs, &mut rng, r);
    }
    if rng.gen_bool(0.15) {
        // A custom model folder that is missing or corrupt (for plugins that have one): the
        // plugin must still load, activate and pass audio.
        let dir = &bad_dirs[rng.gen_range(0..bad_dirs.len())];
        if let Some(state) = with_model_dir(&host.save_state()?, dir) {
            host.load_state(&state).map_err(|e| anyhow!("a state naming the model folder {}: {e:#}", dir.display()))?;
            r.counts.bad_models += 1;
            let rate = RATES[rng.gen_range(0..RATES.len())];
            let (blocks, fails) =
                render_fixed(&mut host, rate, 512, rng.gen(), rate as usize / 2, Some(SignalKind::Chirp))?;
            r.failures.extend(fails);
            let energy: f64 = blocks
                .iter()
                .filter_map(|b| b.audio.first().and_then(|p| p.first()))
                .flat_map(|c| c.iter())
                .map(|&x| (x as f64) * (x as f64))
                .sum();
            if !host.description().inputs.is_empty() && energy.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                r.failures.push(format!(
                    "with the model folder {} the main output is silent (a plugin without its model passes audio)",
                    dir.display()
                ));
            }
        }
    }
    let mut mode = if rng.gen_bool(0.5) { Mode::Offline } else { Mode::Realtime };
    let mut rate = RATES[rng.gen_range(0..RATES.len())];
    let max = pick_block(&mut rng);
    let activations = rng.gen_range(1..=3);
    let garbage = rng.gen_bool(0.6);
    let mut signal = Signal::new(rng.gen(), garbage);
    let mut transport =
        Transport { beats: 0.0, tempo: rng.gen_range(60.0..200.0), playing: rng.gen_bool(0.8), looping: None };
    let mut saved: Option<(Vec<u8>, Mode)> = None;
    let mut steady = 0u64;
    for a in 0..activations {
        if a > 0 {
            mode = if mode == Mode::Offline { Mode::Realtime } else { Mode::Offline };
            if rng.gen_bool(0.3) {
                rate = RATES[rng.gen_range(0..RATES.len())];
            }
        }
        host.set_render_mode(mode)?;
        let config =
            PluginAudioConfiguration { sample_rate: rate as f64, min_frames_count: 1, max_frames_count: max as u32 };
        let processor = host
            .instance()
            .activate(|_, _| (), config)
            .map_err(|e| anyhow!("activation at {rate} Hz, max block {max} failed: {e}"))?;
        host.service_main_thread();
        host.take_restart_request();
        r.counts.activations += 1;
        let latency = current_latency(&mut host);
        let mut processor = processor.start_processing().map_err(|e| anyhow!("start_processing failed: {e}"))?;
        let mut io = Io::new(&host, max);
        let mut peak_in = 0.0f32;
        let frames = (rate as f64 * rng.gen_range(0.1..0.8)) as usize;
        let save_at = rng.gen_range(0..frames.max(1));
        let mut done = 0usize;
        let mut ramp: Option<Ramp> = None;
        let mut held: Vec<(u16, u16)> = Vec::new();
        while done < frames {
            let n = block_size(&mut rng, max).min(frames - done).max(1);
            transport.mutate(&mut rng);
            // Parameter automation: single changes at random offsets, and ramps.
            let automatable: Vec<usize> = (0..specs.len()).filter(|&i| specs[i].automatable).collect();
            if !automatable.is_empty() {
                if rng.gen_bool(0.25) {
                    for _ in 0..rng.gen_range(1..=3) {
                        let p = &specs[automatable[rng.gen_range(0..automatable.len())]];
                        let v = match rng.gen_range(0..6) {
                            0 => p.min,
                            1 => p.max,
                            _ => rng.gen_range(p.min..=p.max),
                        };
                        let v = if p.stepped { v.round() } else { v };
                        let time = rng.gen_range(0..n) as u32;
                        io.in_events.push(&ParamValueEvent::new(time, ClapId::new(p.id), Pckn::match_all(), v));
                        r.counts.param_events += 1;
                    }
                }
                if ramp.is_none() && rng.gen_bool(0.05) {
                    let i = automatable[rng.gen_range(0..automatable.len())];
                    let p = &specs[i];
                    ramp = Some(Ramp {
                        param: i,
                        from: rng.gen_range(p.min..=p.max),
                        to: rng.gen_range(p.min..=p.max),
                        frames: rng.gen_range(64..rate as usize / 4),
                        done: 0,
                    });
                }
                if let Some(rp) = &mut ramp {
                    // One event on every 32nd frame of the ramp's own timeline.
                    let p = &specs[rp.param];
                    let end = (rp.done + n).min(rp.frames);
                    let mut f = rp.done.div_ceil(32) * 32;
                    while f < end {
                        let x = rp.from + (rp.to - rp.from) * f as f64 / rp.frames as f64;
                        let x = if p.stepped { x.round() } else { x };
                        let t = (f - rp.done) as u32;
                        io.in_events.push(&ParamValueEvent::new(t, ClapId::new(p.id), Pckn::match_all(), x));
                        r.counts.param_events += 1;
                        f += 32;
                    }
                    rp.done += n;
                    if rp.done >= rp.frames {
                        ramp = None;
                    }
                }
            }
            if notes_in && rng.gen_bool(0.3) {
                let time = rng.gen_range(0..n) as u32;
                if !held.is_empty() && rng.gen_bool(0.5) {
                    let (ch, key) = held.swap_remove(rng.gen_range(0..held.len()));
                    io.in_events.push(&NoteOffEvent::new(time, Pckn::new(0u16, ch, key, Match::All), 0.0));
                } else {
                    let (ch, key) = (rng.gen_range(0..16u16), rng.gen_range(0..128u16));
                    held.push((ch, key));
                    let vel = rng.gen_range(0.0..=1.0);
                    io.in_events.push(&NoteOnEvent::new(time, Pckn::new(0u16, ch, key, Match::All), vel));
                }
                r.counts.note_events += 1;
            }
            process_block(
                &mut processor,
                &mut io,
                n,
                &mut signal,
                rate,
                &transport,
                steady,
                &mut peak_in,
                &mut r.failures,
                false,
            );
            transport.advance(n, rate);
            r.counts.blocks += 1;
            r.counts.frames += n as u64;
            steady += n as u64;
            if done <= save_at && save_at < done + n && saved.is_none() {
                saved = Some((host.save_state()?, mode));
            }
            done += n;
            let now = current_latency(&mut host);
            if now != latency {
                r.failures
                    .push(format!("the latency changed within an activation ({latency} -> {now} frames at {rate} Hz)"));
            }
            if host.take_restart_request() {
                r.failures.push(format!("the plugin asked for a restart while processing (at {rate} Hz)"));
            }
            if r.failures.len() > 20 {
                break;
            }
        }
        let stopped = processor.stop_processing();
        host.instance().deactivate(stopped);
        host.service_main_thread();
        if r.failures.len() > 20 {
            break;
        }
    }
    // Reproduction: the state saved mid-session, loaded into this instance and into a fresh one,
    // renders the same audio and events offline.
    if let Some((state, _)) = saved {
        if rng.gen_bool(0.4) {
            reproduce(lib, &mut host, &state, rate, max, rng.gen(), r)?;
        }
    }
    Ok(())
}

/// Sets every persisted `model-dir` / `model-path` / `model-folder` field of a nice-plug state to `dir`;
/// None if the state has no such field.
fn with_model_dir(state: &[u8], dir: &Path) -> Option<Vec<u8>> {
    if state.len() < 8 {
        return None;
    }
    let mut v: serde_json::Value = serde_json::from_slice(&state[8..]).ok()?;
    let fields = v.get_mut("fields")?.as_object_mut()?;
    let keys: Vec<String> = fields
        .keys()
        .filter(|k| {
            let k = k.replace('_', "-");
            k.contains("model-dir") || k.contains("model-path") || k.contains("model-folder")
        })
        .cloned()
        .collect();
    if keys.is_empty() {
        return None;
    }
    for k in keys {
        // A model *path* names the model file, a model *folder* the folder.
        let target = if k.contains("path") { dir.join("model.onnx") } else { dir.to_path_buf() };
        let text = serde_json::to_string(&target.display().to_string()).ok()?;
        fields.insert(k, serde_json::Value::String(text));
    }
    let json = serde_json::to_vec(&v).ok()?;
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend(json);
    Some(blob)
}

/// Renders `frames` offline from a fresh activation with a seeded input (`signal`, or the
/// finite test signals in turn) and a playing transport, keeping every block's output.
fn render_fixed(
    host: &mut PluginHost,
    rate: u32,
    max: usize,
    seed: u64,
    frames: usize,
    signal_kind: Option<SignalKind>,
) -> Result<(Vec<BlockOut>, Vec<String>)> {
    host.set_render_mode(Mode::Offline)?;
    let config =
        PluginAudioConfiguration { sample_rate: rate as f64, min_frames_count: 1, max_frames_count: max as u32 };
    let processor = host.instance().activate(|_, _| (), config).map_err(|e| anyhow!("activation failed: {e}"))?;
    host.service_main_thread();
    let mut processor = processor.start_processing().map_err(|e| anyhow!("start_processing failed: {e}"))?;
    let mut io = Io::new(host, max);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut signal = Signal::new(seed, false);
    if let Some(kind) = signal_kind {
        signal.fixed = Some(kind);
    }
    let mut transport = Transport { beats: 0.0, tempo: 120.0, playing: true, looping: None };
    let mut out = Vec::new();
    let mut fails = Vec::new();
    let mut peak = 0.0;
    let mut done = 0usize;
    while done < frames {
        let n = block_size(&mut rng, max).min(frames - done);
        if let Some(b) = process_block(
            &mut processor,
            &mut io,
            n,
            &mut signal,
            rate,
            &transport,
            done as u64,
            &mut peak,
            &mut fails,
            true,
        ) {
            out.push(b);
        }
        transport.advance(n, rate);
        done += n;
    }
    let stopped = processor.stop_processing();
    host.instance().deactivate(stopped);
    host.service_main_thread();
    Ok((out, fails))
}

fn reproduce(
    lib: &Path,
    host: &mut PluginHost,
    state: &[u8],
    rate: u32,
    max: usize,
    seed: u64,
    r: &mut SessionReport,
) -> Result<()> {
    r.counts.reproductions += 1;
    host.load_state(state).map_err(|e| anyhow!("the plugin refused a state it saved mid-session: {e:#}"))?;
    let mut fresh = PluginHost::load(lib, None)?;
    fresh.load_state(state).map_err(|e| anyhow!("a fresh instance refused the saved state: {e:#}"))?;
    let frames = rate as usize / 2;
    let (a, fa) = render_fixed(host, rate, max, seed, frames, None)?;
    let (b, fb) = render_fixed(&mut fresh, rate, max, seed, frames, None)?;
    r.failures.extend(fa);
    r.failures.extend(fb);
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        let what = if a[i].events != b[i].events {
            format!("output events ({:?} against the fresh one's {:?})", a[i].events, b[i].events)
        } else {
            "audio".to_string()
        };
        r.failures.push(format!(
            "a fresh instance with the saved state rendered different {what} from block {i} on ({rate} Hz, max block {max}, offline)"
        ));
    }
    Ok(())
}

/// Prints the summary table.
pub fn print_table(rows: &[PluginSummary]) {
    println!(
        "\n{:<18} {:>8} {:>6} {:>7} {:>9} {:>11} {:>9} {:>8} {:>7} {:>6} {:>6} {:>7}",
        "plugin",
        "sessions",
        "failed",
        "crashes",
        "blocks",
        "frames",
        "automated",
        "convert",
        "states",
        "repro",
        "models",
        "secs"
    );
    for s in rows {
        println!(
            "{:<18} {:>8} {:>6} {:>7} {:>9} {:>11} {:>9} {:>8} {:>7} {:>6} {:>6} {:>7.0}",
            s.plugin,
            s.sessions,
            s.failed_sessions,
            s.crashes,
            s.counts.blocks,
            s.counts.frames,
            s.counts.param_events,
            s.counts.conversions,
            s.counts.bad_states,
            s.counts.reproductions,
            s.counts.bad_models,
            s.seconds
        );
    }
    for s in rows {
        for e in &s.examples {
            println!("  {} ({} x): {}\n      replay: {}", s.plugin, e.count, e.first, e.replay);
        }
    }
}

/// Reads a plugin crate name's debug library path.
pub fn debug_library(root: &Path, package: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    target.join("debug").join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ))
}
