//! Activity Meter: shows which instruments are playing, live and over the session, and sends
//! the activity as MIDI CC. Audio passes through untouched (zero latency).
//!
//! The model (log-mel CNN, see `models/activity/`) runs on the [`dsp_core::ModelRunner`]'s
//! worker thread; this file is the plugin shell: parameters in, CCs out, nothing heavy.

pub mod core;
pub mod editor;
pub mod params;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use activity_model::ActivityTask;
use dsp_core::{Model, ModelCard, ModelSource, RunnerConfig};
use nice_plug::prelude::*;
use nice_plug_egui::RepaintNotifier;

use crate::core::{CcMode, MeterCore, MeterSettings, MeterShared};
use crate::params::{CcModeParam, MeterParams};

/// The built-in model and its card (`models/activity`, from `cargo xtask export activity`).
pub use activity_model::{CARD, MODEL};

/// The plugin instance.
pub struct ActivityMeter {
    params: Arc<MeterParams>,
    shared: Arc<MeterShared>,
    repaint: RepaintNotifier,
    /// The loaded model and the path it came from ("" = built-in); reused across activations.
    model: Option<(String, Model)>,
    core: Option<MeterCore<ActivityTask>>,
}

impl Default for ActivityMeter {
    fn default() -> Self {
        let classes = ModelCard::from_json(CARD).map(|c| c.classes).unwrap_or_default();
        ActivityMeter {
            params: Arc::new(MeterParams::default()),
            shared: MeterShared::new(classes),
            repaint: RepaintNotifier::new(),
            model: None,
            core: None,
        }
    }
}

impl ActivityMeter {
    /// Loads the built-in model or the user's override (`path` + `card.json` beside it).
    fn load_model(path: &str) -> Result<Model, String> {
        if path.is_empty() {
            let card = ModelCard::from_json(CARD).map_err(|e| format!("built-in card: {e}"))?;
            return Model::load(&ModelSource::Embedded(MODEL), card).map_err(|e| format!("built-in model: {e}"));
        }
        let p = PathBuf::from(path);
        let card_path = p.with_file_name("card.json");
        let card = ModelCard::from_path(&card_path).map_err(|e| format!("{}: {e}", card_path.display()))?;
        Model::load(&ModelSource::File(p.clone()), card).map_err(|e| format!("{}: {e}", p.display()))
    }

    fn set_status(&self, text: String) {
        if let Ok(mut s) = self.shared.status.lock() {
            *s = text;
        }
    }

    fn start(&mut self, channels: usize, cfg: RunnerConfig) -> Result<MeterCore<ActivityTask>, String> {
        let path = self.params.model_path.lock().map(|p| p.clone()).unwrap_or_default();
        if self.model.as_ref().is_none_or(|(p, _)| *p != path) {
            self.model = None;
            let model = Self::load_model(&path)?;
            if model.card().classes != self.shared.classes {
                return Err(format!(
                    "{path}: classes {:?} differ from the meter's {:?}",
                    model.card().classes,
                    self.shared.classes
                ));
            }
            self.model = Some((path.clone(), model));
        }
        let (_, model) = self.model.as_ref().ok_or("no model")?;
        let card = model.card().clone();
        let task = ActivityTask::new(model.fork().map_err(|e| e.to_string())?, channels).map_err(|e| e.to_string())?;
        let rate = task.predictions_per_second();
        let (responses, _) = activity_model::responses(&card).map_err(|e| e.to_string())?;
        let core = MeterCore::new(task, cfg, self.shared.clone(), responses, rate).map_err(|e| e.to_string())?;
        let source = if path.is_empty() { "built-in".to_string() } else { path };
        self.set_status(format!("model {} v{} ({source}), {:.1} predictions/s", card.name, card.version, rate));
        Ok(core)
    }
}

impl Plugin for ActivityMeter {
    const NAME: &'static str = "Activity Meter";
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
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::MeterApp>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone(), self.repaint.clone())
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.core = None; // joins the previous worker (not the audio thread)
        context.set_latency_samples(0); // audio passes through untouched
        let channels = layout.main_input_channels.map_or(1, |c| c.get() as usize);
        let (rate, max_block) = (config.sample_rate as u32, config.max_buffer_size as usize);
        let cfg = if config.process_mode == ProcessMode::Offline {
            RunnerConfig::offline(rate, max_block)
        } else {
            RunnerConfig::realtime(rate, max_block)
        };
        match self.start(channels, cfg) {
            Ok(core) => self.core = Some(core),
            Err(e) => {
                nice_log!("Activity Meter: {e}; passing audio through without analysis");
                self.set_status(format!("no analysis: {e}"));
            }
        }
        // The meter always activates: without a model it is a clean pass-through that says why.
        true
    }

    fn reset(&mut self) {
        if let Some(core) = &mut self.core {
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
        let Some(core) = &mut self.core else {
            // No model: the audio passes untouched, NaN and infinities as silence.
            for ch in buffer.as_slice() {
                dsp_core::silence_nonfinite(ch);
            }
            return ProcessStatus::Normal;
        };
        let p = &self.params;
        let settings = MeterSettings {
            sensitivity: p.sensitivity.value(),
            median: p.smoothing.value().max(1) as usize,
            averaging_seconds: p.response.value().seconds(),
            cc_mode: match p.cc_mode.value() {
                CcModeParam::Gate => CcMode::Gate,
                CcModeParam::Probability => CcMode::Probability,
            },
        };
        let io = buffer.as_slice_immutable();
        let mut chans: [&[f32]; 2] = [&[], &[]];
        for (dst, src) in chans.iter_mut().zip(io.iter()) {
            *dst = src;
        }
        let n_ch = io.len().min(2);
        let ccs = core.process(&chans[..n_ch], settings);
        // The audio passes untouched, except that NaN and infinite samples (which the runner
        // has counted for the status line) leave as silence.
        for ch in buffer.as_slice() {
            dsp_core::silence_nonfinite(ch);
        }
        if !ccs.is_empty() {
            self.repaint.request_repaint();
        }
        if p.midi_out.value() {
            let channel = (p.midi_channel.value() - 1).clamp(0, 15) as u8;
            let base = p.base_cc.value().clamp(0, 127) as u8;
            for cc in ccs {
                let _ = context.try_send_event(NoteEvent::MidiCC {
                    timing: cc.offset as u32,
                    channel,
                    cc: base.saturating_add(cc.class as u8).min(127),
                    value: cc.value as f32 / 127.0,
                });
            }
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for ActivityMeter {
    const CLAP_ID: &'static str = "suite.mir.activity-meter";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live instrument activity: which instruments play, now and over the session, as a display and MIDI CC");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::AudioEffect, ClapFeature::Analyzer, ClapFeature::Utility];
}

impl Vst3Plugin for ActivityMeter {
    const VST3_CLASS_ID: [u8; 16] = *b"MirSuiteActMeter";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(ActivityMeter);
nice_export_vst3!(ActivityMeter);
