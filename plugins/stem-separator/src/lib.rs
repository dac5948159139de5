//! Stem Separator: splits a stereo mix into drums, bass, piano, guitar and other in real time,
//! gates each stem by the model's instrument activity (IASS), remixes them on the main output
//! (gain, mute, solo per source) and sends each source to its own stereo output for DAW routing.
//!
//! The model (`models/separator/`, a streaming U-Net with an activity head) runs on the
//! [`dsp_core::ModelRunner`]'s worker thread; [`core::SeparatorCore`] computes "other" as the
//! delayed input minus the stems on the audio thread, so the five sources always sum to the
//! input. This file is the plugin shell: parameters in, audio out, nothing heavy.

pub mod core;
pub mod editor;
pub mod params;

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use dsp_core::{Model, ModelCard, ModelSource, RunnerConfig};
use nice_plug::prelude::*;
use separator_model::{Controls, SeparatorFields, SeparatorTask};

use crate::core::{SeparatorCore, SeparatorShared, GATED, STEMS};
use crate::params::{SeparatorParams, SOURCES};

/// The built-in model and its card (`models/separator`, from `cargo xtask export separator`).
pub use separator_model::{CARD, MODEL};

/// The plugin instance.
pub struct StemSeparator {
    params: Arc<SeparatorParams>,
    shared: Arc<SeparatorShared>,
    /// The loaded model, its gate controls and the folder it came from ("" = built-in).
    model: Option<(String, Model, Arc<Controls>)>,
    core: Option<SeparatorCore>,
    /// The input of the current piece (the host's buffers are in place), `[2][max_block]`.
    scratch: [Vec<f32>; 2],
}

impl Default for StemSeparator {
    fn default() -> Self {
        let (median, max) = ModelCard::from_json(CARD)
            .ok()
            .and_then(|c| SeparatorFields::from_card(&c).ok())
            .map_or((5, 7), |f| (f.default_median, f.median_max));
        StemSeparator {
            params: Arc::new(SeparatorParams::new(median, max)),
            shared: SeparatorShared::new(),
            model: None,
            core: None,
            scratch: [Vec::new(), Vec::new()],
        }
    }
}

impl StemSeparator {
    /// Loads the built-in model or the user's folder (`model.onnx` + `card.json`) with the
    /// separator fields its card must carry.
    fn load_model(dir: &str) -> Result<(Model, SeparatorFields), String> {
        let card = if dir.is_empty() {
            ModelCard::from_json(CARD).map_err(|e| format!("built-in card: {e}"))?
        } else {
            let p = PathBuf::from(dir).join("card.json");
            ModelCard::from_path(&p).map_err(|e| format!("{}: {e}", p.display()))?
        };
        let fields = SeparatorFields::from_card(&card).map_err(|e| format!("card: {e}"))?;
        if card.classes.len() != GATED {
            return Err(format!(
                "the model separates {:?}; this plugin needs {STEMS} stems and \"other\"",
                card.classes
            ));
        }
        let model = if dir.is_empty() {
            Model::load(&ModelSource::Embedded(MODEL), card).map_err(|e| format!("built-in model: {e}"))?
        } else {
            let p = PathBuf::from(dir).join("model.onnx");
            Model::load(&ModelSource::File(p.clone()), card).map_err(|e| format!("{}: {e}", p.display()))?
        };
        Ok((model, fields))
    }

    fn set_status(&self, text: String) {
        if let Ok(mut s) = self.shared.status.lock() {
            *s = text;
        }
    }

    fn start(&mut self, cfg: RunnerConfig) -> Result<SeparatorCore, String> {
        let dir = self.params.model_dir.lock().map(|p| p.clone()).unwrap_or_default();
        if self.model.as_ref().is_none_or(|(d, _, _)| *d != dir) {
            self.model = None;
            let (model, fields) = Self::load_model(&dir)?;
            let controls = Controls::new(model.card(), &fields);
            self.model = Some((dir.clone(), model, controls));
        }
        let (_, model, controls) = self.model.as_ref().ok_or("no model")?;
        let source = if dir.is_empty() { "built-in" } else { dir.as_str() };
        let status = format!("model {} v{} ({source})", model.card().name, model.card().version);
        let task = SeparatorTask::new(model.fork().map_err(|e| e.to_string())?, controls.clone())
            .map_err(|e| e.to_string())?;
        let core = SeparatorCore::new(task, cfg, self.shared.clone()).map_err(|e| e.to_string())?;
        self.set_status(status);
        Ok(core)
    }

    /// The card's thresholds plus the offset parameter, the median and the gate switch, for
    /// the worker (atomics; audio thread).
    fn push_controls(&self) {
        let Some((_, model, controls)) = &self.model else { return };
        let offset = self.params.gate_offset.value();
        for (t, base) in controls.thresholds.iter().zip(&model.card().thresholds) {
            t.store((base + offset).clamp(0.0, 1.0), Ordering::Relaxed);
        }
        controls.median.store(self.params.median.value().max(1) as usize, Ordering::Relaxed);
        controls.gate.store(self.params.gate.value(), Ordering::Relaxed);
    }
}

impl Plugin for StemSeparator {
    const NAME: &'static str = "Stem Separator";
    const VENDOR: &'static str = "MIR Suite";
    const URL: &'static str = "https://github.com/mir-suite/mir-suite";
    const EMAIL: &'static str = "dev@mir-suite.invalid";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[AudioIOLayout {
        main_input_channels: NonZeroU32::new(2),
        main_output_channels: NonZeroU32::new(2),
        aux_output_ports: &[new_nonzero_u32(2); 5],
        names: PortNames {
            layout: Some("Stereo, five stems"),
            // No custom main input name: nice-plug 0.4.2 names the main output after the main
            // input (`AudioIOLayout::main_output_name` reads `names.main_input`), so "Mix" in and
            // "Remix" out became two ports called "Mix", which the standalone's JACK backend
            // cannot register. Now "Input" and (until nice-plug reads `main_output`) "Output".
            main_input: None,
            main_output: Some("Remix"),
            aux_inputs: &[],
            aux_outputs: &SOURCES,
        },
        ..AudioIOLayout::const_default()
    }];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::SeparatorApp>;

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
        self.core = None; // joins the previous worker (not the audio thread)
        let max_block = config.max_buffer_size.max(1) as usize;
        self.scratch = [vec![0.0; max_block], vec![0.0; max_block]];
        let rate = config.sample_rate as u32;
        let cfg = if config.process_mode == ProcessMode::Offline {
            RunnerConfig::offline(rate, max_block)
        } else {
            RunnerConfig::realtime(rate, max_block)
        };
        self.shared.rate.store(config.sample_rate, Ordering::Relaxed);
        match self.start(cfg) {
            Ok(core) => {
                context.set_latency_samples(core.latency() as u32);
                self.core = Some(core);
            }
            Err(e) => {
                nice_log!("Stem Separator: {e}; passing audio through unseparated");
                self.set_status(format!("not separating: {e}"));
                self.shared.latency.store(0, Ordering::Relaxed);
                context.set_latency_samples(0);
            }
        }
        // Always activates: without a model it passes the mix through (as "other") and says why.
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
        aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.push_controls();
        let n = buffer.samples();
        let main = buffer.as_slice();
        if main.len() < 2 {
            return ProcessStatus::Normal;
        }
        let Some(core) = &mut self.core else {
            // No model: the mix passes through unchanged (NaN and infinities as silence) and is
            // all "other".
            for ch in main.iter_mut() {
                dsp_core::silence_nonfinite(ch);
            }
            for (s, out) in aux.outputs.iter_mut().enumerate() {
                for (c, ch) in out.as_slice().iter_mut().enumerate() {
                    if s == SOURCES.len() - 1 && c < main.len() {
                        ch.copy_from_slice(&main[c][..ch.len()]);
                    } else {
                        ch.fill(0.0);
                    }
                }
            }
            return ProcessStatus::Normal;
        };
        let p = &self.params;
        let srcs = p.sources();
        let any_solo = srcs.iter().any(|s| s.solo.value());
        let audible: [bool; 5] = std::array::from_fn(|s| !srcs[s].mute.value() && (!any_solo || srcs[s].solo.value()));
        let max = self.scratch[0].len();
        let mut start = 0;
        while start < n {
            let len = (n - start).min(max);
            for (dst, src) in self.scratch.iter_mut().zip(main.iter()) {
                dst[..len].copy_from_slice(&src[start..start + len]);
            }
            let [l, r] = &self.scratch;
            core.process([&l[..len], &r[..len]], |off, sources| {
                let at = start + off;
                let m = sources[0][0].len();
                for i in 0..m {
                    let mut mix = [0.0f32; 2];
                    for (s, src) in sources.iter().enumerate() {
                        let g = srcs[s].gain.smoothed.next();
                        if audible[s] {
                            mix[0] += g * src[0][i];
                            mix[1] += g * src[1][i];
                        }
                    }
                    main[0][at + i] = mix[0];
                    main[1][at + i] = mix[1];
                }
                for (s, src) in sources.iter().enumerate() {
                    if let Some(out) = aux.outputs.get_mut(s) {
                        for (c, ch) in out.as_slice().iter_mut().enumerate().take(2) {
                            ch[at..at + m].copy_from_slice(src[c]);
                        }
                    }
                }
            });
            start += len;
        }
        ProcessStatus::Normal
    }
}

impl ClapPlugin for StemSeparator {
    const CLAP_ID: &'static str = "suite.mir.stem-separator";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Real-time stem separation (drums, bass, piano, guitar, other) gated by instrument activity");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[ClapFeature::AudioEffect, ClapFeature::Stereo, ClapFeature::Mixing];
}

impl Vst3Plugin for StemSeparator {
    const VST3_CLASS_ID: [u8; 16] = *b"MirSuiteStemSepr";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}

nice_export_clap!(StemSeparator);
nice_export_vst3!(StemSeparator);
