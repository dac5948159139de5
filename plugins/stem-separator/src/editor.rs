//! The egui editor: per source an activity light (probability bar and gate lamp), the gain
//! fader, mute and solo; the gate settings; the model and runner health. Reads
//! [`SeparatorShared`]'s atomics; never blocks audio.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use egui::{Color32, Rect, Sense, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{baseview, create_egui_editor, EguiEditor, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier};

use crate::core::SeparatorShared;
use crate::params::{SeparatorParams, SOURCES};

/// The editor's state (GUI thread only).
pub struct SeparatorApp {
    params: Arc<SeparatorParams>,
    shared: Arc<SeparatorShared>,
    gui: Option<GuiContext>,
    model_dir: String,
}

/// Creates the editor.
pub fn create(params: Arc<SeparatorParams>, shared: Arc<SeparatorShared>) -> Option<EguiEditor<SeparatorApp>> {
    let model_dir = params.model_dir.lock().map(|p| p.clone()).unwrap_or_default();
    let app = SeparatorApp { params: params.clone(), shared, gui: None, model_dir };
    let settings = EguiNiceSettings { title: "Stem Separator".into(), ..Default::default() };
    create_egui_editor(params.editor_state.clone(), RepaintNotifier::new(), settings, app)
}

impl NiceEguiApp for SeparatorApp {
    fn build(
        &mut self,
        _ctx: egui::Context,
        gui: GuiContext,
        _frame: &mut Frame,
    ) -> Result<(), baseview::HandlerError> {
        self.gui = Some(gui);
        Ok(())
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut Frame) {
        let shared = self.shared.clone();
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(50));
        ui.horizontal(|ui| {
            ui.heading("Stem Separator");
            ui.label(shared.status.lock().map(|s| s.clone()).unwrap_or_default());
        });
        let rate = shared.rate.load(Ordering::Relaxed).max(1.0);
        let mut line = format!("latency {:.0} ms", shared.latency.load(Ordering::Relaxed) as f32 * 1000.0 / rate);
        if let Ok(guard) = shared.stats.lock() {
            if let Some(stats) = guard.as_ref() {
                let s = stats.snapshot();
                line += &format!(" · late blocks {} · errors {}", s.misses, s.errors);
                if s.nonfinite_samples > 0 {
                    line += &format!(" · {} NaN/∞ input samples treated as silence", s.nonfinite_samples);
                }
                if let Some(e) = s.last_error {
                    line += &format!(" · last error: {e}");
                }
            } else {
                line += " · not separating: the mix passes through as \"Other\"";
            }
        }
        ui.label(line);
        ui.separator();
        let frames = shared.frames.load(Ordering::Relaxed);
        let Some(gui) = &self.gui else { return };
        let setter = gui.param_setter();
        let p = &self.params;
        let srcs = p.sources();
        egui::Grid::new("sources").num_columns(6).spacing([12.0, 8.0]).show(ui, |ui| {
            ui.strong("Source");
            ui.strong("Activity");
            ui.strong("Open");
            ui.strong("Gain");
            ui.strong("Mute");
            ui.strong("Solo");
            ui.end_row();
            for (s, name) in SOURCES.iter().enumerate() {
                ui.label(*name);
                let prob = shared.probs[s].load(Ordering::Relaxed);
                let open = shared.gates[s].load(Ordering::Relaxed);
                let (rect, _) = ui.allocate_exact_size(Vec2::new(140.0, 14.0), Sense::hover());
                let painter = ui.painter_at(rect);
                painter.rect_filled(rect, 3.0, Color32::from_gray(35));
                let fill = Rect::from_min_max(
                    rect.min,
                    egui::pos2(rect.min.x + rect.width() * prob.clamp(0.0, 1.0), rect.max.y),
                );
                painter.rect_filled(
                    fill,
                    3.0,
                    if open { Color32::from_rgb(60, 170, 90) } else { Color32::from_rgb(90, 90, 110) },
                );
                let share = if frames > 0 {
                    100.0 * shared.open_frames[s].load(Ordering::Relaxed) as f32 / frames as f32
                } else {
                    0.0
                };
                ui.label(format!("{share:.0}%"));
                ui.add(ParamSlider::for_param(&srcs[s].gain, &setter).with_width(160.0));
                ui.add(ParamSlider::for_param(&srcs[s].mute, &setter).with_width(60.0));
                ui.add(ParamSlider::for_param(&srcs[s].solo, &setter).with_width(60.0));
                ui.end_row();
            }
        });
        ui.separator();
        egui::Grid::new("gate").num_columns(2).show(ui, |ui| {
            ui.label("Activity gate");
            ui.add(ParamSlider::for_param(&p.gate, &setter));
            ui.end_row();
            ui.label("Gate median (frames of 11.6 ms)");
            ui.add(ParamSlider::for_param(&p.median, &setter));
            ui.end_row();
            ui.label("Gate threshold offset");
            ui.add(ParamSlider::for_param(&p.gate_offset, &setter));
            ui.end_row();
        });
        ui.small(
            "Each source also has its own stereo output (unaffected by gain, mute and solo) for routing in the DAW.",
        );
        ui.horizontal(|ui| {
            ui.label("Custom model folder (model.onnx + card.json; empty = built-in):");
            if ui.text_edit_singleline(&mut self.model_dir).lost_focus() {
                if let Ok(mut d) = p.model_dir.lock() {
                    *d = self.model_dir.trim().to_string();
                }
            }
        });
        ui.small("A new model folder takes effect when the host next activates the plugin.");
    }
}
