//! Melody Generator: a MIDI melody generator synced to the host transport. Four sliders each
//! move one musical attribute of the generated loop (rhythmic complexity, pitch range, note
//! density, contour), through the attribute-regularized latent dims of an AR-VAE measure model
//! (`models/melody/`).
//!
//! Threads: the worker ([`generator::Worker`]) decodes a loop whenever the request changes and
//! hands it over through a ring; the audio thread ([`sequencer::Sequencer`]) swaps it in at the
//! next bar line and sends sample-accurate notes. Audio passes through (plus an optional
//! audition voice).

pub mod editor;
pub mod generator;
pub mod params;
pub mod pattern;
pub mod sequencer;
pub mod voice;

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atomic_float::AtomicF32;
use melody_model::MelodyModel;
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

use crate::generator::{Generator, Worker, WorkerShared};
use crate::params::MelodyParams;
use crate::sequencer::{Clock, Event, Sequencer};
use crate::voice::Voice;

/// Most note events one block passes to the audition voice (the host gets them all).
const VOICE_EVENTS: usize = 256;
/// Longest wait for the worker in an offline render before going on with the old loop.
const OFFLINE_WAIT: Duration = Duration::from_secs(5);

/// What the plugin shows the editor (besides [`WorkerShared`]).
pub struct Shared {
    /// The worker's publications.
    pub worker: Arc<WorkerShared>,
    /// Model status line.
    pub status: Mutex<String>,
    /// Loop tick the sequencer last reached, −1 when stopped.
    pub playhead: AtomicI32,
    /// Loop length of the pattern playing, in bars.
    pub playing_bars: AtomicI32,
    /// Host tempo of the last block (BPM), for the .mid export.
    pub tempo: AtomicF32,
    /// Ideas the model's card offers.
    pub ideas: AtomicI32,
    /// Offline renders that went on without the wanted loop (worker too slow or failed).
    pub offline_timeouts: AtomicU64,
    /// NaN or infinite input samples, passed on as silence.
    pub nonfinite_samples: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            worker: Arc::new(WorkerShared::default()),
            status: Mutex::new("not active".into()),
            playhead: AtomicI32::new(-1),
            playing_bars: AtomicI32::new(0),
            tempo: AtomicF32::new(120.0),
            ideas: AtomicI32::new(0),
            offline_timeouts: AtomicU64::new(0),
            nonfinite_samples: AtomicU64::new(0),
        }
    }
}

/// The plugin instance.
pub struct MelodyGenerator {
    params: Arc<MelodyParams>,
    shared: Arc<Shared>,
    /// The loaded model and the folder it came from ("" = built-in), kept across activations.
    generator: Option<(String, Generator)>,
    /// The running worker and the model folder its generator was loaded from.
    worker: Option<(String, Worker)>,
    sequencer: Sequencer,
    voice: Voice,
    offline: bool,
    last_live: u64,
    /// A reset asked for all notes off; sent at the start of the next block.
    reset_pending: bool,
    /// MIDI channel of the sounding note (its note-off goes there even if the channel changed).
    sounding_channel: u8,
    voice_events: [Event; VOICE_EVENTS],
}

impl Default for MelodyGenerator {
    fn default() -> Self {
        MelodyGenerator {
            params: Arc::new(MelodyParams::default()),
            shared: Arc::new(Shared::default()),
            generator: None,
            worker: None,
            sequencer: Sequencer::new(),
            voice: Voice::new(48_000.0),
            offline: false,
            last_live: 0,
            reset_pending: false,
            sounding_channel: 0,
            voice_events: [Event::Off { offset: 0, key: 0 }; VOICE_EVENTS],
        }
    }
}

impl MelodyGenerator {
    fn set_status(&self, text: String) {
        if let Ok(mut s) = self.shared.status.lock() {
            *s = text;
        }
    }

    fn load(dir: &str) -> Result<MelodyModel, String> {
        if dir.is_empty() {
            MelodyModel::builtin().map_err(|e| format!("built-in model: {e}"))
        } else {
            MelodyModel::from_dir(Path::new(dir)).map_err(|e| format!("{dir}: {e}"))
        }
    }

    /// Loads the model if needed, decodes the first loop here (so the first bar plays it, in
    /// real time and offline alike) and starts the worker.
    fn start(&mut self) -> Result<(), String> {
        let dir = self.params.model_dir.lock().map(|d| d.trim().to_string()).unwrap_or_default();
        if self.generator.as_ref().is_none_or(|(d, _)| *d != dir) {
            self.generator = None;
            self.generator = Some((dir.clone(), Generator::new(Self::load(&dir)?)));
        }
        let (_, mut generator) = self.generator.take().ok_or("no model")?;
        let params = self.params.clone();
        let req = params.request();
        let t0 = Instant::now();
        let first = generator.generate(&req);
        let ms = t0.elapsed().as_secs_f32() * 1e3;
        let first = match first {
            Ok(p) => p,
            Err(e) => {
                self.generator = Some((dir, generator));
                return Err(format!("decoding failed: {e}"));
            }
        };
        self.sequencer.offer(first);
        self.last_live = req.live.fingerprint();
        if let Ok(mut p) = self.shared.worker.pattern.lock() {
            *p = Some(first);
        }
        self.shared.worker.decode_ms.store(ms, Ordering::Relaxed);
        let card = generator.model().card();
        let ideas = generator.ideas();
        self.shared.ideas.store(ideas as i32, Ordering::Relaxed);
        let source = if dir.is_empty() { "built-in".to_string() } else { dir.clone() };
        let status = format!("model {} v{} ({source}), {ideas} ideas", card.name, card.version);
        let first_fp = Some(req.fingerprint());
        let worker = Worker::spawn(generator, self.shared.worker.clone(), first_fp, move || params.request())
            .map_err(|e| format!("cannot start the worker thread: {e}"))?;
        self.worker = Some((dir, worker));
        self.set_status(status);
        Ok(())
    }

    fn stop_worker(&mut self) {
        if let Some((dir, w)) = self.worker.take() {
            if let Some(g) = w.stop() {
                self.generator = Some((dir, g));
            }
        }
    }

    /// Takes the worker's newest loop; offline, when this block may bring a loop in (`due`:
    /// a bar line, a start or a jump), waits until the loop for the current parameters is there
    /// (bounces must not depend on the worker's speed, and dense automation between bar lines
    /// costs no waiting).
    fn collect(&mut self, due: bool) {
        let live = self.params.live().fingerprint();
        let Some((_, worker)) = &mut self.worker else { return };
        if live != self.last_live {
            worker.wake();
            self.last_live = live;
        }
        if let Some(p) = worker.newest() {
            self.sequencer.offer(p);
        }
        if !self.offline || !due {
            return;
        }
        let newest = |s: &Sequencer| s.queued().or(s.current()).map(|p| p.key);
        if newest(&self.sequencer) == Some(live) {
            return;
        }
        let t0 = Instant::now();
        loop {
            let done = self.shared.worker.done.load(Ordering::Acquire);
            if let Some(p) = worker.newest() {
                self.sequencer.offer(p);
            }
            if newest(&self.sequencer) == Some(live) || done == live {
                return;
            }
            if t0.elapsed() > OFFLINE_WAIT {
                self.shared.offline_timeouts.fetch_add(1, Ordering::Relaxed);
                return;
            }
            worker.wake();
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Plugin for MelodyGenerator {
    const NAME: &'static str = "Melody Generator";
    const VENDOR: &'static str = "MIR Suite";
    const URL: &'static str = "https://github.com/mir-suite/mir-suite";
    const EMAIL: &'static str = "dev@mir-suite.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::MelodyApp>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.stop_worker();
        context.set_latency_samples(0);
        self.offline = config.process_mode == ProcessMode::Offline;
        self.voice = Voice::new(config.sample_rate);
        self.sequencer = Sequencer::new();
        if let Err(e) = self.start() {
            nice_log!("Melody Generator: {e}; passing audio through without generating");
            self.set_status(format!("not generating: {e}"));
        }
        // Always activates: without a model it passes audio through and says why.
        true
    }

    fn reset(&mut self) {
        self.reset_pending = true;
        self.voice.reset();
    }

    fn deactivate(&mut self) {
        self.stop_worker();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let frames = buffer.samples();
        // The input passes through (the audition voice adds to it); NaN and infinities as silence.
        let mut bad = 0;
        for ch in buffer.as_slice() {
            bad += dsp_core::silence_nonfinite(ch);
        }
        if bad > 0 {
            self.shared.nonfinite_samples.fetch_add(bad, Ordering::Relaxed);
        }
        let t = context.transport();
        let clock = Clock {
            playing: t.playing && self.params.play.value(),
            beats: t.pos_beats(),
            tempo: t.tempo,
            loop_beats: t.loop_range_beats(),
            sample_rate: t.sample_rate,
        };
        // A pending reset stops the sequencer first, so the block then starts playback afresh.
        let due = self.reset_pending || self.sequencer.pattern_due(&clock, frames);
        self.collect(due);
        if let Some(tempo) = t.tempo.filter(|x| x.is_finite() && *x > 0.0) {
            self.shared.tempo.store(tempo as f32, Ordering::Relaxed);
        }
        let play = self.params.playback();
        let channel = self.params.midi_channel();
        let mut n_events = 0usize;
        let events = &mut self.voice_events;
        let sounding_channel = &mut self.sounding_channel;
        let mut emit = |e: Event| {
            match e {
                Event::On { offset, key, velocity } => {
                    *sounding_channel = channel;
                    let _ = context.try_send_event(NoteEvent::NoteOn {
                        timing: offset,
                        voice_id: VoiceID::Wildcard,
                        channel: Channel::Number(channel),
                        key: Key::Number(key),
                        velocity: velocity as f32 / 127.0,
                    });
                }
                Event::Off { offset, key } => {
                    let _ = context.try_send_event(NoteEvent::NoteOff {
                        timing: offset,
                        voice_id: VoiceID::Wildcard,
                        channel: Channel::Number(*sounding_channel),
                        key: Key::Number(key),
                        velocity: 0.0,
                    });
                }
            }
            if n_events < VOICE_EVENTS {
                events[n_events] = e;
                n_events += 1;
            }
        };
        if self.reset_pending {
            self.reset_pending = false;
            self.sequencer.stop(0, &mut emit);
        }
        self.sequencer.process(&clock, frames, &play, &mut emit);
        self.shared.playhead.store(self.sequencer.playhead().map_or(-1, |p| p as i32), Ordering::Relaxed);
        self.shared.playing_bars.store(self.sequencer.current().map_or(0, |p| p.bars as i32), Ordering::Relaxed);

        if !self.params.audition.value() {
            self.voice.reset();
        } else {
            let level = self.params.audition_level.value();
            let out = buffer.as_slice();
            let mut at = 0usize;
            for &e in &self.voice_events[..n_events] {
                let offset = (e.offset() as usize).min(frames);
                self.voice.render(out, at, offset - at, level);
                at = offset;
                match e {
                    Event::On { key, velocity, .. } => self.voice.note_on(key, velocity),
                    Event::Off { key, .. } => self.voice.note_off(key),
                }
            }
            self.voice.render(out, at, frames - at, level);
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for MelodyGenerator {
    const CLAP_ID: &'static str = "suite.mir.melody-generator";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Host-synced melody generator: four sliders, each moving one musical attribute (AR-VAE)");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::NoteEffect, ClapFeature::AudioEffect, ClapFeature::Utility];
}

impl Vst3Plugin for MelodyGenerator {
    const VST3_CLASS_ID: [u8; 16] = *b"MirSuiteMelodyGn";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Generator];
}

nice_export_clap!(MelodyGenerator);
nice_export_vst3!(MelodyGenerator);
