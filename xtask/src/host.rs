//! A small CLAP host built on clack-host: loads a plugin binary, sets parameters, renders audio
//! through it block by block like a DAW (real-time paced or offline), and collects every audio
//! output port and the MIDI it emits. Also saves and restores plugin state.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clack_extensions::audio_ports::{AudioPortInfoBuffer, PluginAudioPorts};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::log::{HostLog, HostLogImpl, LogSeverity};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer, ParamInfoFlags,
    ParamRescanFlags, PluginParams,
};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::events::spaces::CoreEventSpace;
use clack_host::events::{EventFlags, EventHeader};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

use crate::audio::Audio;
use crate::smf::MidiOut;

/// How the host drives the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mode {
    /// CLAP offline render mode: the plugin may take as long as it needs per block.
    Offline,
    /// Real-time mode, and blocks are paced to the wall clock like a live DAW.
    Realtime,
}

/// What the plugin told the host about itself.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginDescription {
    /// CLAP id, e.g. `suite.mir.activity-meter`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Input ports: (name, channels).
    pub inputs: Vec<(String, u32)>,
    /// Output ports: (name, channels).
    pub outputs: Vec<(String, u32)>,
    /// Parameters: (CLAP id, name, default value).
    pub params: Vec<(u32, String, f64)>,
}

/// A parameter's range as the plugin describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRange {
    /// CLAP id.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Smallest plain value.
    pub min: f64,
    /// Largest plain value.
    pub max: f64,
    /// Default plain value.
    pub default: f64,
    /// Integer steps only.
    pub stepped: bool,
    /// The host may automate it.
    pub automatable: bool,
}

/// The result of rendering one file.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// One entry per output port: its name and audio (latency-compensated if asked).
    pub outputs: Vec<(String, Audio)>,
    /// MIDI the plugin emitted, at frames of the (compensated) timeline.
    pub midi: Vec<MidiOut>,
    /// Latency the plugin reported after activation, in frames.
    pub latency: u32,
    /// Wall-clock seconds spent inside the plugin's process calls.
    pub process_seconds: f64,
    /// Number of process calls.
    pub process_calls: u64,
}

/// Options for [`PluginHost::render`].
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Offline or real-time processing.
    pub mode: Mode,
    /// Largest block size (frames); also the maximum announced to the plugin.
    pub block: usize,
    /// If set, each block has a pseudo-random size in `1..=block` from this seed.
    pub random_blocks: Option<u64>,
    /// Extra seconds of silence rendered after the input (reverb tails, look-ahead).
    pub tail_seconds: f64,
    /// Remove the reported latency from the outputs and MIDI (as a DAW's delay compensation).
    pub compensate_latency: bool,
    /// Tempo of the host transport in BPM (4/4).
    pub tempo: f64,
    /// Scripted transport changes (start, stop, jumps, loops), in frame order. Without any the
    /// transport plays from beat 0. A block never straddles a cue.
    pub cues: Vec<TransportCue>,
}

/// From frame `frame` of a render on, the transport is at beat `beats` (and, if `playing`,
/// moves on at the tempo from there; a stopped transport stays put).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransportCue {
    /// Render frame where the cue takes effect.
    pub frame: usize,
    /// Song position in quarter notes at that frame.
    pub beats: f64,
    /// Whether the transport plays from there.
    pub playing: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            mode: Mode::Offline,
            block: 512,
            random_blocks: None,
            tail_seconds: 0.0,
            compensate_latency: true,
            tempo: 120.0,
            cues: Vec::new(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Shared {
    callback: AtomicBool,
    restart: AtomicBool,
    flush: AtomicBool,
    log: Mutex<Vec<String>>,
}

impl<'a> SharedHandler<'a> for Shared {
    fn request_restart(&self) {
        self.restart.store(true, Ordering::SeqCst);
    }
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback.store(true, Ordering::SeqCst);
    }
}

impl HostLogImpl for Shared {
    fn log(&self, severity: LogSeverity, message: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.push(format!("[{severity}] {message}"));
        }
    }
}

impl HostParamsImplShared for Shared {
    fn request_flush(&self) {
        self.flush.store(true, Ordering::SeqCst);
    }
}

pub(crate) struct MainThread<'a> {
    _shared: &'a Shared,
}

impl<'a> MainThreadHandler<'a> for MainThread<'a> {}

impl HostParamsImplMainThread for MainThread<'_> {
    fn rescan(&self, _flags: ParamRescanFlags) {}
    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostLatencyImpl for MainThread<'_> {
    fn changed(&self) {}
}

pub(crate) struct Handlers;

impl HostHandlers for Handlers {
    type Shared<'a> = Shared;
    type MainThread<'a> = MainThread<'a>;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostLog>().register::<HostParams>().register::<HostLatency>();
    }
}

/// One loaded plugin instance.
pub struct PluginHost {
    // Field order matters: the instance must be dropped before the entry (library) it came from.
    instance: PluginInstance<Handlers>,
    _entry: PluginEntry,
    description: PluginDescription,
    path: PathBuf,
}

impl PluginHost {
    /// Loads the plugin binary at `path` (a `.clap` bundle file or a `.so`) and instantiates its
    /// first plugin, or the one whose CLAP id is `id`.
    pub fn load(path: &Path, id: Option<&str>) -> Result<Self> {
        if !path.is_file() {
            bail!("plugin {} does not exist (build it with `cargo xtask bundle-all`)", path.display());
        }
        // SAFETY: loading a plugin runs its library initialisers; this is what every host does
        // and the only way to use a CLAP plugin. The path was checked to be a file.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|e| anyhow!("cannot load CLAP plugin {}: {e}", path.display()))?;
        let factory =
            entry.get_plugin_factory().ok_or_else(|| anyhow!("{} has no CLAP plugin factory", path.display()))?;
        let mut chosen = None;
        let mut ids = Vec::new();
        for d in factory.plugin_descriptors() {
            let Some(pid) = d.id() else { continue };
            let pid_s = pid.to_string_lossy().into_owned();
            let name = d.name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if chosen.is_none() && id.is_none_or(|want| want == pid_s) {
                chosen = Some((pid.to_owned(), pid_s.clone(), name));
            }
            ids.push(pid_s);
        }
        let (cid, id_s, name) =
            chosen.ok_or_else(|| anyhow!("no plugin {:?} in {} (it has {:?})", id, path.display(), ids))?;
        let host_info = HostInfo::new(
            "mir-suite render",
            "MIR Suite",
            "https://github.com/mir-suite/mir-suite",
            env!("CARGO_PKG_VERSION"),
        )
        .map_err(|e| anyhow!("{e}"))?;
        let instance = PluginInstance::<Handlers>::new(
            |_| Shared::default(),
            |shared| MainThread { _shared: shared },
            &entry,
            &cid,
            &host_info,
        )
        .map_err(|e| anyhow!("plugin {id_s} failed to instantiate: {e}"))?;
        let mut host = PluginHost {
            instance,
            _entry: entry,
            description: PluginDescription { id: id_s, name, inputs: vec![], outputs: vec![], params: vec![] },
            path: path.to_path_buf(),
        };
        host.describe();
        Ok(host)
    }

    fn describe(&mut self) {
        let handle = self.instance.plugin_handle();
        if let Some(ports) = handle.get_extension::<PluginAudioPorts>() {
            for is_input in [true, false] {
                let mut list = Vec::new();
                for i in 0..ports.count(&handle, is_input) {
                    let mut buf = AudioPortInfoBuffer::new();
                    if let Some(info) = ports.get(&handle, i, is_input, &mut buf) {
                        list.push((String::from_utf8_lossy(info.name).into_owned(), info.channel_count));
                    }
                }
                if is_input {
                    self.description.inputs = list;
                } else {
                    self.description.outputs = list;
                }
            }
        }
        if let Some(params) = handle.get_extension::<PluginParams>() {
            for i in 0..params.count(&handle) {
                let mut buf = ParamInfoBuffer::new();
                if let Some(info) = params.get_info(&handle, i, &mut buf) {
                    self.description.params.push((
                        info.id.get(),
                        String::from_utf8_lossy(info.name).into_owned(),
                        info.default_value,
                    ));
                }
            }
        }
    }

    /// What the plugin reported about itself.
    pub fn description(&self) -> &PluginDescription {
        &self.description
    }

    /// Path the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Messages the plugin logged through the host.
    pub fn log(&mut self) -> Vec<String> {
        self.instance.access_shared_handler(|s| s.log.lock().map(|l| l.clone()).unwrap_or_default())
    }

    /// Sets parameter `key` (its string id as in the plugin source, or its display name,
    /// case-insensitive) from `text` as the plugin would parse it (e.g. `-6 dB`, `0.5`, `On`).
    /// Returns the CLAP value set.
    pub fn set_param(&mut self, key: &str, text: &str) -> Result<f64> {
        let hashed = nice_param_hash(key);
        let (pid, name) = self
            .description
            .params
            .iter()
            .find(|(id, name, _)| *id == hashed || name.eq_ignore_ascii_case(key))
            .map(|(id, name, _)| (*id, name.clone()))
            .ok_or_else(|| {
                let known: Vec<&str> = self.description.params.iter().map(|p| p.1.as_str()).collect();
                anyhow!("unknown parameter {key:?}; {} has {known:?}", self.description.name)
            })?;
        let cid = ClapId::new(pid);
        let ctext = CString::new(text).context("parameter value contains a NUL byte")?;
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>().ok_or_else(|| anyhow!("plugin has no params extension"))?;
        let value =
            params.text_to_value(&handle, cid, &ctext).ok_or_else(|| anyhow!("{name}: cannot parse value {text:?}"))?;
        let mut changes = EventBuffer::new();
        changes.push(&ParamValueEvent::new(0, cid, Pckn::match_all(), value));
        let mut ignored = EventBuffer::new();
        let mut inactive =
            self.instance.inactive_plugin_handle().ok_or_else(|| anyhow!("cannot set parameters while active"))?;
        params.flush(&mut inactive, &changes.as_input(), &mut ignored.as_output());
        let handle = self.instance.plugin_handle();
        let now = params.get_value(&handle, cid).ok_or_else(|| anyhow!("{name}: no value after setting it"))?;
        if (now - value).abs() > 1e-6 {
            bail!("{name}: set {value} but the plugin reports {now}");
        }
        Ok(value)
    }

    /// Every parameter's range and flags.
    pub fn param_ranges(&mut self) -> Vec<ParamRange> {
        let handle = self.instance.plugin_handle();
        let Some(params) = handle.get_extension::<PluginParams>() else { return Vec::new() };
        let mut out = Vec::new();
        for i in 0..params.count(&handle) {
            let mut buf = ParamInfoBuffer::new();
            if let Some(info) = params.get_info(&handle, i, &mut buf) {
                out.push(ParamRange {
                    id: info.id.get(),
                    name: String::from_utf8_lossy(info.name).into_owned(),
                    min: info.min_value,
                    max: info.max_value,
                    default: info.default_value,
                    stepped: info.flags.contains(ParamInfoFlags::IS_STEPPED),
                    automatable: info.flags.contains(ParamInfoFlags::IS_AUTOMATABLE)
                        && !info.flags.contains(ParamInfoFlags::IS_READONLY),
                });
            }
        }
        out
    }

    /// The plugin's text for parameter `id` at plain `value` (CLAP `value_to_text`).
    pub fn value_to_text(&mut self, id: u32, value: f64) -> Option<String> {
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>()?;
        let mut buf = [0u8; 256];
        params
            .value_to_text(&handle, ClapId::new(id), value, &mut buf)
            .ok()
            .map(|t| String::from_utf8_lossy(t).into_owned())
    }

    /// The plain value the plugin parses from `text` for parameter `id` (CLAP `text_to_value`).
    pub fn text_to_value(&mut self, id: u32, text: &str) -> Option<f64> {
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>()?;
        let c = CString::new(text).ok()?;
        params.text_to_value(&handle, ClapId::new(id), &c)
    }

    /// Current plain values of the parameters `ids`.
    pub fn param_values(&mut self, ids: &[u32]) -> Vec<Option<f64>> {
        let handle = self.instance.plugin_handle();
        let Some(params) = handle.get_extension::<PluginParams>() else { return Vec::new() };
        ids.iter().map(|&id| params.get_value(&handle, ClapId::new(id))).collect()
    }

    /// Current CLAP value of parameter `key` (string id or display name).
    pub fn param_value(&mut self, key: &str) -> Result<f64> {
        let hashed = nice_param_hash(key);
        let pid = self
            .description
            .params
            .iter()
            .find(|(id, name, _)| *id == hashed || name.eq_ignore_ascii_case(key))
            .map(|p| p.0)
            .ok_or_else(|| anyhow!("unknown parameter {key:?}"))?;
        let handle = self.instance.plugin_handle();
        let params = handle.get_extension::<PluginParams>().ok_or_else(|| anyhow!("plugin has no params extension"))?;
        params.get_value(&handle, ClapId::new(pid)).ok_or_else(|| anyhow!("no value for {key}"))
    }

    /// Saves the plugin state (CLAP state extension).
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let handle = self.instance.plugin_handle();
        let state = handle.get_extension::<PluginState>().ok_or_else(|| anyhow!("plugin has no state extension"))?;
        let mut bytes = Vec::new();
        state.save(&handle, &mut bytes).map_err(|e| anyhow!("saving state failed: {e}"))?;
        Ok(bytes)
    }

    /// Restores a state saved by [`save_state`](Self::save_state). Errors if the plugin refuses it.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let handle = self.instance.plugin_handle();
        let state = handle.get_extension::<PluginState>().ok_or_else(|| anyhow!("plugin has no state extension"))?;
        let mut reader = bytes;
        state.load(&handle, &mut reader).map_err(|e| anyhow!("plugin refused the state: {e}"))
    }

    /// The clack instance, for drivers in this crate that need more than [`render`](Self::render)
    /// (the fuzzer).
    pub(crate) fn instance(&mut self) -> &mut PluginInstance<Handlers> {
        &mut self.instance
    }

    /// True once since the plugin last asked the host to restart it (deactivate and reactivate,
    /// e.g. because its latency changed while active).
    pub(crate) fn take_restart_request(&mut self) -> bool {
        self.instance.access_shared_handler(|s| s.restart.swap(false, Ordering::SeqCst))
    }

    /// Sets the CLAP render mode (offline or real-time) if the plugin has the render extension;
    /// returns whether it has.
    pub(crate) fn set_render_mode(&mut self, mode: Mode) -> Result<bool> {
        let handle = self.instance.plugin_handle();
        let Some(render) = handle.get_extension::<PluginRender>() else { return Ok(false) };
        let m = if mode == Mode::Offline { RenderMode::Offline } else { RenderMode::Realtime };
        render.set(&handle, m).map_err(|e| anyhow!("plugin refused render mode {m:?}: {e}"))?;
        Ok(true)
    }

    pub(crate) fn service_main_thread(&mut self) {
        let cb = self.instance.access_shared_handler(|s| s.callback.swap(false, Ordering::SeqCst));
        if cb {
            self.instance.call_on_main_thread_callback();
        }
    }

    /// Renders `input` through the plugin: activates it at the input's sample rate, processes
    /// block by block, then deactivates it. The input is mapped onto the plugin's first input
    /// port (mono ↔ stereo as a DAW would); other input ports get silence.
    pub fn render(&mut self, input: &Audio, opts: &RenderOptions) -> Result<Rendered> {
        if opts.block == 0 {
            bail!("block size must be at least 1");
        }
        if !input.channels.iter().flatten().all(|x| x.is_finite()) {
            // The plugins must cope with this, so pass it on, but say so.
            eprintln!("warning: input contains NaN or infinite samples");
        }
        let rate = input.sample_rate;
        {
            let handle = self.instance.plugin_handle();
            if let Some(render) = handle.get_extension::<PluginRender>() {
                let mode = if opts.mode == Mode::Offline { RenderMode::Offline } else { RenderMode::Realtime };
                render.set(&handle, mode).map_err(|e| anyhow!("plugin refused render mode {mode:?}: {e}"))?;
            } else if opts.mode == Mode::Offline {
                eprintln!("note: plugin has no render extension; processing in its default (real-time) mode");
            }
        }
        let config = PluginAudioConfiguration {
            sample_rate: rate as f64,
            min_frames_count: 1,
            max_frames_count: opts.block as u32,
        };
        let processor = self
            .instance
            .activate(|_, _| (), config)
            .map_err(|e| anyhow!("plugin failed to activate at {rate} Hz: {e}"))?;
        self.service_main_thread();
        let latency = {
            let handle = self.instance.plugin_handle();
            handle.get_extension::<PluginLatency>().map_or(0, |l| l.get(&handle))
        };

        let in_ports: Vec<u32> = self.description.inputs.iter().map(|p| p.1).collect();
        let out_ports: Vec<u32> = self.description.outputs.iter().map(|p| p.1).collect();
        let tail = (opts.tail_seconds * rate as f64).round() as usize;
        let total = input.frames() + tail + if opts.compensate_latency { latency as usize } else { 0 };

        // Host-side buffers, allocated once.
        let mut in_bufs: Vec<Vec<Vec<f32>>> =
            in_ports.iter().map(|&c| vec![vec![0.0; opts.block]; c as usize]).collect();
        let mut out_bufs: Vec<Vec<Vec<f32>>> =
            out_ports.iter().map(|&c| vec![vec![0.0; opts.block]; c as usize]).collect();
        let mut outputs: Vec<Vec<Vec<f32>>> =
            out_ports.iter().map(|&c| vec![Vec::with_capacity(total); c as usize]).collect();
        let mut in_audio_ports = AudioPorts::with_capacity(in_ports.iter().sum::<u32>() as usize, in_ports.len());
        let mut out_audio_ports = AudioPorts::with_capacity(out_ports.iter().sum::<u32>() as usize, out_ports.len());
        let mut in_events = EventBuffer::with_capacity(4);
        let mut out_events = EventBuffer::with_capacity(1024);
        let mut midi = Vec::new();

        let mut processor =
            processor.start_processing().map_err(|e| anyhow!("plugin failed to start processing: {e}"))?;
        let mut pos = 0usize;
        let mut rng = opts.random_blocks.unwrap_or(0) | 1;
        let started = Instant::now();
        let mut process_time = Duration::ZERO;
        let mut calls = 0u64;
        let mut failure = None;
        // The transport segment in force: (frame it began, beats there, playing).
        let mut segment = (0usize, 0.0f64, true);
        let mut next_cue = 0usize;
        while pos < total {
            let n = match opts.random_blocks {
                Some(_) => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    1 + (rng % opts.block as u64) as usize
                }
                None => opts.block,
            }
            .min(total - pos);
            // Blocks end at the next cue, so that each cue starts a block.
            while next_cue < opts.cues.len() && opts.cues[next_cue].frame <= pos {
                let c = opts.cues[next_cue];
                segment = (pos, c.beats, c.playing);
                next_cue += 1;
            }
            let n = opts.cues.get(next_cue).map_or(n, |c| n.min(c.frame - pos));
            // Map the file's channels onto the first input port.
            for (p, port) in in_bufs.iter_mut().enumerate() {
                let width = port.len();
                for (c, buf) in port.iter_mut().enumerate() {
                    for (i, s) in buf[..n].iter_mut().enumerate() {
                        *s = if p == 0 { input_sample(input, c, width, pos + i) } else { 0.0 };
                    }
                }
            }
            let (seg_frame, seg_beats, playing) = segment;
            let beats = if playing {
                seg_beats + (pos - seg_frame) as f64 / rate as f64 * opts.tempo / 60.0
            } else {
                seg_beats
            };
            let transport = transport_event(beats, opts.tempo, playing);
            in_events.clear();
            out_events.clear();
            let ins = in_audio_ports.with_input_buffers(in_bufs.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(
                    port.iter_mut().map(|b| InputChannel::variable(&mut b[..n])),
                ),
            }));
            let mut outs = out_audio_ports.with_output_buffers(out_bufs.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(port.iter_mut().map(|b| &mut b[..n])),
            }));
            let t0 = Instant::now();
            let status = processor.process(
                &ins,
                &mut outs,
                &in_events.as_input(),
                &mut out_events.as_output(),
                Some(pos as u64),
                Some(&transport),
            );
            process_time += t0.elapsed();
            calls += 1;
            if let Err(e) = status {
                failure = Some(anyhow!("plugin failed to process at frame {pos}: {e}"));
                break;
            }
            for (p, port) in out_bufs.iter().enumerate() {
                for (c, buf) in port.iter().enumerate() {
                    outputs[p][c].extend_from_slice(&buf[..n]);
                }
            }
            for ev in out_events.iter() {
                let frame = pos as u64 + ev.header().time() as u64;
                match ev.as_core_event() {
                    Some(CoreEventSpace::NoteOn(e)) => {
                        let p = e.pckn();
                        let vel = (e.velocity() * 127.0).round().clamp(1.0, 127.0) as u8;
                        midi.push(MidiOut::NoteOn {
                            frame,
                            channel: p.raw_channel().max(0) as u8,
                            key: p.raw_key().max(0) as u8,
                            velocity: vel,
                        });
                    }
                    Some(CoreEventSpace::NoteOff(e)) => {
                        let p = e.pckn();
                        midi.push(MidiOut::NoteOff {
                            frame,
                            channel: p.raw_channel().max(0) as u8,
                            key: p.raw_key().max(0) as u8,
                        });
                    }
                    Some(CoreEventSpace::Midi(e)) => midi.extend(MidiOut::from_bytes(frame, e.data())),
                    _ => {}
                }
            }
            pos += n;
            if opts.mode == Mode::Realtime {
                let due = Duration::from_secs_f64(pos as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let stopped = processor.stop_processing();
        self.instance.deactivate(stopped);
        self.service_main_thread();
        if let Some(e) = failure {
            return Err(e);
        }

        let skip = if opts.compensate_latency { latency as usize } else { 0 };
        let len = input.frames() + tail;
        let outputs = self
            .description
            .outputs
            .iter()
            .zip(outputs)
            .map(|((name, _), chans)| {
                let channels =
                    chans.into_iter().map(|c| c[skip.min(c.len())..(skip + len).min(c.len())].to_vec()).collect();
                (name.clone(), Audio { sample_rate: rate, channels })
            })
            .collect();
        let midi = midi.into_iter().filter(|e| e.frame() >= skip as u64).map(|e| shift(e, skip as u64)).collect();
        Ok(Rendered { outputs, midi, latency, process_seconds: process_time.as_secs_f64(), process_calls: calls })
    }
}

/// Sample `frame` of channel `port_channel` of a port `port_channels` wide, mapped from the
/// file's channels as a DAW maps them (stereo → mono is the mean, mono → stereo is duplicated).
pub(crate) fn input_sample(input: &Audio, port_channel: usize, port_channels: usize, frame: usize) -> f32 {
    let n = input.channels.len();
    if frame >= input.frames() || n == 0 {
        return 0.0;
    }
    if port_channels == 1 && n > 1 {
        input.channels.iter().map(|c| c[frame]).sum::<f32>() / n as f32
    } else if n == 1 {
        input.channels[0][frame]
    } else if port_channel < n {
        input.channels[port_channel][frame]
    } else {
        0.0
    }
}

fn shift(e: MidiOut, by: u64) -> MidiOut {
    match e {
        MidiOut::NoteOn { frame, channel, key, velocity } => {
            MidiOut::NoteOn { frame: frame - by, channel, key, velocity }
        }
        MidiOut::NoteOff { frame, channel, key } => MidiOut::NoteOff { frame: frame - by, channel, key },
        MidiOut::Cc { frame, channel, cc, value } => MidiOut::Cc { frame: frame - by, channel, cc, value },
    }
}

pub(crate) fn transport_event(beats: f64, tempo: f64, playing: bool) -> TransportEvent {
    let bar = (beats / 4.0).floor();
    let seconds = beats * 60.0 / tempo;
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_SECONDS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from_float(beats),
        song_pos_seconds: SecondsTime::from_float(seconds),
        tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from_float(0.0),
        loop_end_beats: BeatTime::from_float(0.0),
        loop_start_seconds: SecondsTime::from_float(0.0),
        loop_end_seconds: SecondsTime::from_float(0.0),
        bar_start: BeatTime::from_float(bar * 4.0),
        bar_number: bar as i32,
        time_signature_numerator: 4,
        time_signature_denominator: 4,
    }
}

/// The CLAP parameter id nice-plug derives from a string parameter id (Rabin fingerprint, top
/// bit cleared), so users can name parameters by the ids in the plugin source.
pub fn nice_param_hash(id: &str) -> u32 {
    let mut hash: u32 = 0;
    for b in id.bytes() {
        hash = hash.wrapping_mul(31).wrapping_add(b as u32);
    }
    hash & !(1 << 31)
}
