//! Drum Transcriber: drums in, General MIDI notes out, live. Kick, snare, hi-hat, toms and
//! cymbals with velocity, each note at the sample where its onset plays (the plugin reports its
//! latency and delays the audio it passes through by the same amount, so notes and audio line
//! up after the host's delay compensation).
//!
//! The model (`models/drums/`, a DrummerNet-style analysis net trained without labels) runs on
//! the [`dsp_core::ModelRunner`]'s worker thread; [`core::TranscriberCore`] schedules the notes
//! on the audio thread and logs the take for the editor's grid and the .mid export
//! ([`midi::take_to_smf`]). This file is the plugin shell: parameters in, audio and MIDI out.

pub mod core;
pub mod editor;
pub mod midi;
pub mod params;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use drums_model::{DrumControls, DrumTask};
use dsp_core::{Model, ModelCard, ModelSource, RunnerConfig};
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use separator_model::SeparatorTask;

use crate::core::{Compensation, NoteOut, NoteSettings, TranscriberCore, TranscriberShared, CLASSES};
use crate::params::{TranscriberParams, CARD_CLASSES};

/// The built-in model and its card (`models/drums`, from `cargo xtask export drums`).
pub use drums_model::{CARD, MODEL};

/// The plugin instance.
pub struct DrumTranscriber {
    params: Arc<TranscriberParams>,
    shared: Arc<TranscriberShared>,
    /// The loaded model and the folder it came from ("" = built-in).
    model: Option<(String, Model)>,
    /// The separator's model, loaded the first time "separate drums first" is on.
    separator: Option<Model>,
    core: Option<(TranscriberCore, Arc<DrumControls>)>,
    /// The card's tuned thresholds, which the sensitivities scale.
    base_thresholds: [f32; CLASSES],
    /// The channel the sounding notes went out on (note-offs follow their note-ons).
    sounding_channel: u8,
}

impl Default for DrumTranscriber {
    fn default() -> Self {
        DrumTranscriber {
            params: Arc::new(TranscriberParams::default()),
            shared: TranscriberShared::new(),
            model: None,
            separator: None,
            core: None,
            base_thresholds: [0.5; CLASSES],
            sounding_channel: 9,
        }
    }
}

impl DrumTranscriber {
    /// Loads the built-in model (`dir` empty) or the user's folder (`model.onnx` +
    /// `card.json`); the error is what the editor's status line shows.
    pub fn load_model(dir: &str) -> Result<Model, String> {
        let card = if dir.is_empty() {
            ModelCard::from_json(CARD).map_err(|e| format!("built-in card: {e}"))?
        } else {
            let p = PathBuf::from(dir).join("card.json");
            ModelCard::from_path(&p).map_err(|e| format!("{}: {e}", p.display()))?
        };
        if card.classes != CARD_CLASSES {
            return Err(format!("the model transcribes {:?}; this plugin needs {CARD_CLASSES:?}", card.classes));
        }
        if dir.is_empty() {
            Model::load(&ModelSource::Embedded(MODEL), card).map_err(|e| format!("built-in model: {e}"))
        } else {
            let p = PathBuf::from(dir).join("model.onnx");
            Model::load(&ModelSource::File(p.clone()), card).map_err(|e| format!("{}: {e}", p.display()))
        }
    }

    /// The Stem Separator's built-in model (`models/separator`), for "separate drums first".
    pub fn load_separator() -> Result<Model, String> {
        let card = ModelCard::from_json(separator_model::CARD).map_err(|e| format!("separator card: {e}"))?;
        Model::load(&ModelSource::Embedded(separator_model::MODEL), card).map_err(|e| format!("separator model: {e}"))
    }

    fn set_status(&self, text: String) {
        if let Ok(mut s) = self.shared.status.lock() {
            *s = text;
        }
    }

    fn start(&mut self, cfg: RunnerConfig, channels: usize) -> Result<(TranscriberCore, Arc<DrumControls>), String> {
        let dir = self.params.model_dir.lock().map(|p| p.clone()).unwrap_or_default();
        if self.model.as_ref().is_none_or(|(d, _)| *d != dir) {
            self.model = None;
            self.model = Some((dir.clone(), Self::load_model(&dir)?));
        }
        let (_, model) = self.model.as_ref().ok_or("no model")?;
        let source = if dir.is_empty() { "built-in" } else { dir.as_str() };
        let status = format!("model {} v{} ({source})", model.card().name, model.card().version);
        let task =
            DrumTask::new(model.fork().map_err(|e| e.to_string())?, channels).map_err(|e| format!("card: {e}"))?;
        for (b, t) in self.base_thresholds.iter_mut().zip(&model.card().thresholds) {
            *b = *t;
        }
        let controls = task.controls();
        let (add, extra) = task.fields().timing_compensation(CLASSES, cfg.host_rate as f32);
        let comp = Compensation::new(&add, extra);
        // Without the separator the input itself is still transcribed; the editor says why.
        let (separator, status) = match self.params.separate_first.load(Ordering::Relaxed) {
            false => (None, status),
            true => match self.separator_task() {
                Ok(sep) => (Some(sep), format!("{status}; separating the drums first")),
                Err(e) => (None, format!("{status}; not separating the drums first: {e}")),
            },
        };
        let shared = self.shared.clone();
        let core = match separator {
            Some(sep) => TranscriberCore::with_separation(task, sep, cfg, shared, comp),
            None => TranscriberCore::new(task, cfg, shared, comp),
        }
        .map_err(|e| e.to_string())?;
        self.set_status(status);
        Ok((core, controls))
    }

    fn separator_task(&mut self) -> Result<SeparatorTask, String> {
        if self.separator.is_none() {
            self.separator = Some(Self::load_separator()?);
        }
        let model = self.separator.as_ref().ok_or("no separator")?;
        SeparatorTask::with_card_controls(model.fork().map_err(|e| e.to_string())?)
            .map_err(|e| format!("separator: {e}"))
    }

    fn settings(&self) -> NoteSettings {
        let p = &self.params;
        let classes = p.classes();
        let rate = self.shared.rate.load(Ordering::Relaxed).max(1.0);
        NoteSettings {
            enabled: std::array::from_fn(|c| classes[c].enabled.value()),
            keys: std::array::from_fn(|c| classes[c].key.value().clamp(0, 127) as u8),
            velocity_min: p.velocity_min.value().clamp(1, 127) as u8,
            length: ((p.note_len.value() / 1000.0 * rate).round() as u64).max(1),
        }
    }
}

impl Plugin for DrumTranscriber {
    const NAME: &'static str = "Drum Transcriber";
    const VENDOR: &'static str = "MIR Suite";
    const URL: &'static str = "https://github.com/mir-suite/mir-suite";
    const EMAIL: &'static str = "dev@mir-suite.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            names: PortNames {
                layout: Some("Stereo"),
                // Not "Drums": nice-plug 0.4.2 names the main output after the main input, and
                // two ports of one name break the standalone's JACK backend.
                main_input: None,
                main_output: Some("Drums (delayed)"),
                ..PortNames::const_default()
            },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            names: PortNames {
                layout: Some("Mono"),
                // Not "Drums": nice-plug 0.4.2 names the main output after the main input, and
                // two ports of one name break the standalone's JACK backend.
                main_input: None,
                main_output: Some("Drums (delayed)"),
                ..PortNames::const_default()
            },
            ..AudioIOLayout::const_default()
        },
    ];
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::TranscriberApp>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.core = None; // joins the previous worker (not the audio thread)
        let max_block = config.max_buffer_size.max(1) as usize;
        let rate = config.sample_rate as u32;
        let channels = layout.main_input_channels.map_or(2, |c| c.get() as usize).clamp(1, 2);
        let cfg = if config.process_mode == ProcessMode::Offline {
            RunnerConfig::offline(rate, max_block)
        } else {
            RunnerConfig::realtime(rate, max_block)
        };
        self.shared.rate.store(config.sample_rate, Ordering::Relaxed);
        match self.start(cfg, channels) {
            Ok(core) => {
                context.set_latency_samples(core.0.latency() as u32);
                self.core = Some(core);
            }
            Err(e) => {
                nice_log!("Drum Transcriber: {e}; passing audio through without transcribing");
                self.set_status(format!("not transcribing: {e}"));
                self.shared.latency.store(0, Ordering::Relaxed);
                if let Ok(mut s) = self.shared.stats.lock() {
                    *s = None;
                }
                context.set_latency_samples(0);
            }
        }
        // Always activates: without a model it passes audio through and says why.
        true
    }

    fn reset(&mut self) {
        if let Some((core, _)) = &mut self.core {
            core.reset();
        }
    }

    fn deactivate(&mut self) {
        self.core = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let settings = self.settings();
        let Some((core, controls)) = &mut self.core else {
            // No model: the audio passes through unchanged (NaN and infinities as silence), no notes.
            for ch in buffer.as_slice() {
                dsp_core::silence_nonfinite(ch);
            }
            return ProcessStatus::Normal;
        };
        let classes = self.params.classes();
        for ((t, base), p) in controls.thresholds.iter().zip(&self.base_thresholds).zip(classes) {
            t.store(p.threshold(*base), Ordering::Relaxed);
        }
        let t = context.transport();
        let tempo = t.tempo.filter(|x| x.is_finite() && *x > 0.0);
        let beats = t.pos_beats().filter(|b| b.is_finite() && t.playing);
        let channel = (self.params.channel.value().clamp(1, 16) - 1) as u8;
        let sounding = &mut self.sounding_channel;
        core.process(buffer.as_slice(), &settings, beats, tempo, |e| match e {
            NoteOut::On { offset, key, velocity } => {
                *sounding = channel;
                let _ = context.try_send_event(NoteEvent::NoteOn {
                    timing: offset,
                    voice_id: VoiceID::Wildcard,
                    channel: Channel::Number(channel),
                    key: Key::Number(key),
                    velocity: velocity as f32 / 127.0,
                });
            }
            NoteOut::Off { offset, key } => {
                let _ = context.try_send_event(NoteEvent::NoteOff {
                    timing: offset,
                    voice_id: VoiceID::Wildcard,
                    channel: Channel::Number(*sounding),
                    key: Key::Number(key),
                    velocity: 0.0,
                });
            }
        });
        ProcessStatus::Normal
    }
}

impl ClapPlugin for DrumTranscriber {
    const CLAP_ID: &'static str = "suite.mir.drum-transcriber";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time drum transcription to General MIDI notes (kick, snare, hi-hat, toms, cymbals)");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::AudioEffect, ClapFeature::Analyzer, ClapFeature::Stereo, ClapFeature::Mono, ClapFeature::Drum];
}

impl Vst3Plugin for DrumTranscriber {
    const VST3_CLASS_ID: [u8; 16] = *b"MirSuiteDrumTrns";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer, Vst3SubCategory::Drum];
}

nice_export_clap!(DrumTranscriber);
nice_export_vst3!(DrumTranscriber);
