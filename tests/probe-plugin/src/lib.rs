//! Runner Probe: a minimal but complete plugin used by the integration tests to drive the real
//! stack — nice-plug wrapper → [`dsp_core::ModelRunner`] → tract — through a real CLAP host.
//!
//! Audio: each channel goes through the tiny spectral-mask test model (with the runner's latency,
//! reported to the host). MIDI out: a note-on at every input onset (|x| above `threshold` after
//! 50 ms below it), its note-off 100 ms later, sample-accurate. Not shipped; not bundled by
//! `cargo xtask bundle-all`.

use std::num::NonZeroU32;
use std::sync::Arc;

use dsp_core::tasks::SpectralMaskTask;
use dsp_core::{Model, ModelCard, ModelRunner, ModelSource, RunnerConfig};
use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

const MODEL: &[u8] = include_bytes!("../../fixtures/tiny_mask/model.onnx");
const CARD: &str = include_str!("../../fixtures/tiny_mask/card.json");

/// Onset note number (middle C).
const NOTE: u8 = 60;

/// The probe's parameters.
#[derive(Params)]
pub struct ProbeParams {
    /// Output gain in dB, applied after the model (audio thread reads it).
    #[id = "gain"]
    pub gain: FloatParam,
    /// Onset threshold as linear amplitude (audio thread reads it).
    #[id = "threshold"]
    pub threshold: FloatParam,
}

impl Default for ProbeParams {
    fn default() -> Self {
        ProbeParams {
            gain: FloatParam::new("Gain", 0.0, FloatRange::Linear { min: -24.0, max: 24.0 }).with_unit(" dB"),
            threshold: FloatParam::new("Threshold", 0.5, FloatRange::Linear { min: 0.01, max: 1.0 }),
        }
    }
}

/// The plugin instance.
pub struct Probe {
    params: Arc<ProbeParams>,
    /// Loaded once (first activation), forked per activation.
    model: Option<Model>,
    runner: Option<ModelRunner<SpectralMaskTask>>,
    /// Human-readable load error, if the model could not be used (audio passes dry then).
    error: Option<String>,
    sample_rate: f32,
    armed: bool,
    below: u32,
    note_off_in: Option<u32>,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            params: Arc::new(ProbeParams::default()),
            model: None,
            runner: None,
            error: None,
            sample_rate: 48_000.0,
            armed: true,
            below: 0,
            note_off_in: None,
        }
    }
}

impl Probe {
    fn build_runner(&mut self, channels: usize, cfg: RunnerConfig) -> Result<ModelRunner<SpectralMaskTask>, String> {
        if self.model.is_none() {
            let card = ModelCard::from_json(CARD).map_err(|e| e.to_string())?;
            self.model = Some(Model::load(&ModelSource::Embedded(MODEL), card).map_err(|e| e.to_string())?);
        }
        let model = self.model.as_ref().ok_or("no model")?.fork().map_err(|e| e.to_string())?;
        let task = SpectralMaskTask::new(model, channels).map_err(|e| e.to_string())?;
        ModelRunner::spawn(cfg, task).map_err(|e| e.to_string())
    }
}

impl Plugin for Probe {
    const NAME: &'static str = "Runner Probe";
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
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        self.runner = None; // joins the previous worker, off the audio thread
        let channels = layout.main_input_channels.map_or(1, |c| c.get() as usize);
        let (rate, max_block) = (buffer_config.sample_rate as u32, buffer_config.max_buffer_size as usize);
        let cfg = if buffer_config.process_mode == ProcessMode::Offline {
            RunnerConfig::offline(rate, max_block)
        } else {
            RunnerConfig::realtime(rate, max_block)
        };
        self.sample_rate = buffer_config.sample_rate;
        match self.build_runner(channels, cfg) {
            Ok(r) => {
                context.set_latency_samples(r.latency() as u32);
                self.runner = Some(r);
                self.error = None;
            }
            Err(e) => {
                nice_log!("Runner Probe: model unavailable, passing audio through: {e}");
                context.set_latency_samples(0);
                self.error = Some(e);
            }
        }
        true
    }

    fn reset(&mut self) {
        if let Some(r) = &mut self.runner {
            r.audio().reset();
        }
        self.armed = true;
        self.below = 0;
        self.note_off_in = None;
    }

    fn deactivate(&mut self) {
        self.runner = None;
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let n = buffer.samples();
        let thr = self.params.threshold.value();
        let rearm = (0.05 * self.sample_rate) as u32;
        let note_len = (0.1 * self.sample_rate) as u32;
        {
            let io = buffer.as_slice();
            for i in 0..n {
                if let Some(left) = self.note_off_in {
                    if left == 0 {
                        let _ = context.try_send_event(note(false, i, 0.0));
                        self.note_off_in = None;
                    } else {
                        self.note_off_in = Some(left - 1);
                    }
                }
                let peak = io.iter().fold(0.0f32, |m, ch| m.max(ch[i].abs()));
                if peak >= thr {
                    if self.armed {
                        if self.note_off_in.take().is_some() {
                            let _ = context.try_send_event(note(false, i, 0.0));
                        }
                        let velocity = peak.clamp(0.0, 1.0);
                        let _ = context.try_send_event(note(true, i, velocity));
                        self.note_off_in = Some(note_len);
                        self.armed = false;
                    }
                    self.below = 0;
                } else {
                    self.below += 1;
                    if self.below >= rearm {
                        self.armed = true;
                    }
                }
            }
            if let Some(r) = &mut self.runner {
                r.audio().process_in_place(io, |_, _| {});
            }
        }
        for mut frame in buffer.iter_samples() {
            let g = util::db_to_gain(self.params.gain.smoothed.next());
            for s in frame.iter_mut() {
                *s *= g;
            }
        }
        ProcessStatus::Normal
    }
}

/// A note-on or note-off of the onset note at frame `i` of the current buffer.
fn note(on: bool, i: usize, velocity: f32) -> NoteEvent<()> {
    let (timing, voice_id, channel, key) = (i as u32, VoiceID::Wildcard, Channel::Number(0), Key::Number(NOTE));
    if on {
        NoteEvent::NoteOn { timing, voice_id, channel, key, velocity }
    } else {
        NoteEvent::NoteOff { timing, voice_id, channel, key, velocity }
    }
}

impl ClapPlugin for Probe {
    const CLAP_ID: &'static str = "suite.mir.runner-probe";
    const CLAP_DESCRIPTION: Option<&'static str> = Some("Test fixture for the model runner");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::AudioEffect, ClapFeature::Utility];
}

impl Vst3Plugin for Probe {
    const VST3_CLASS_ID: [u8; 16] = *b"MirSuiteRunProbe";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(Probe);
nice_export_vst3!(Probe);
