//! The egui editor: live bars, a scrolling history heatmap with 1 s / 5 s / 10 s max-pooling,
//! the session summary and the controls. Reads [`MeterShared`]'s atomics; never blocks audio.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use egui::{Align2, Color32, FontId, Rect, Sense, Stroke, StrokeKind, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{baseview, create_egui_editor, EguiEditor, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier};

use crate::core::{unpack, MeterShared};
use crate::params::{MeterParams, ViewParam};

/// Seconds of history the heatmap shows at the live and 1 s views.
pub const HISTORY_SECONDS: usize = 60;

/// The editor's state (GUI thread only).
pub struct MeterApp {
    params: Arc<MeterParams>,
    shared: Arc<MeterShared>,
    gui: Option<GuiContext>,
    scratch: Vec<u8>,
    model_path: String,
}

/// Creates the editor.
pub fn create(
    params: Arc<MeterParams>,
    shared: Arc<MeterShared>,
    repaint: RepaintNotifier,
) -> Option<EguiEditor<MeterApp>> {
    let model_path = params.model_path.lock().map(|p| p.clone()).unwrap_or_default();
    let app = MeterApp { params: params.clone(), shared, gui: None, scratch: Vec::new(), model_path };
    let settings = EguiNiceSettings { title: "Activity Meter".into(), ..Default::default() };
    create_egui_editor(params.editor_state.clone(), repaint, settings, app)
}

fn class_color(p: f32, active: bool) -> Color32 {
    let v = (p.clamp(0.0, 1.0) * 255.0) as u8;
    if active {
        Color32::from_rgb(40 + v / 4, 120 + v / 2, 60)
    } else {
        Color32::from_rgb(v / 3 + 20, v / 3 + 24, v / 2 + 30)
    }
}

impl NiceEguiApp for MeterApp {
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
        let k = shared.n_classes();
        ui.horizontal(|ui| {
            ui.heading("Activity Meter");
            let status = shared.status.lock().map(|s| s.clone()).unwrap_or_default();
            ui.label(status);
        });
        if let Ok(guard) = shared.stats.lock() {
            if let Some(stats) = guard.as_ref() {
                let s = stats.snapshot();
                let mut line = format!(
                    "averaging {:.1} s · display latency ≈ {:.2} s · late blocks {} · errors {}",
                    shared.averaging.load(Ordering::Relaxed),
                    shared.display_latency.load(Ordering::Relaxed),
                    s.misses,
                    s.errors
                );
                if s.nonfinite_samples > 0 {
                    line += &format!(" · {} NaN/∞ input samples replaced by silence", s.nonfinite_samples);
                }
                if let Some(e) = s.last_error {
                    line += &format!(" · last error: {e}");
                }
                ui.label(line);
            }
        }
        if k == 0 {
            ui.colored_label(Color32::LIGHT_RED, "No model: the meter passes audio through without analysis.");
            return;
        }
        ui.separator();

        // Live bars.
        let row_h = 18.0;
        ui.label("Now");
        for c in 0..k {
            let p = shared.probs[c].load(Ordering::Relaxed);
            let on = shared.active[c].load(Ordering::Relaxed);
            let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width().min(520.0), row_h), Sense::hover());
            let painter = ui.painter_at(rect);
            let label_w = 150.0;
            painter.text(
                rect.left_center(),
                Align2::LEFT_CENTER,
                &shared.labels[c],
                FontId::proportional(13.0),
                if on { Color32::WHITE } else { Color32::GRAY },
            );
            let bar = Rect::from_min_max(rect.min + Vec2::new(label_w, 3.0), rect.max - Vec2::new(0.0, 3.0));
            painter.rect_filled(bar, 2.0, Color32::from_gray(35));
            let fill = Rect::from_min_max(bar.min, egui::pos2(bar.min.x + bar.width() * p.clamp(0.0, 1.0), bar.max.y));
            painter.rect_filled(fill, 2.0, class_color(p, on));
        }
        ui.separator();

        // History heatmap.
        let view = self.params.view.value();
        let (cols, pool, unit) = match view {
            ViewParam::Live => {
                ((HISTORY_SECONDS as f32 * shared.rate.load(Ordering::Relaxed).max(1.0)) as usize, 1, "live")
            }
            ViewParam::OneSecond => (HISTORY_SECONDS, 1, "1 s max"),
            ViewParam::FiveSeconds => (HISTORY_SECONDS, 5, "5 s max"),
            ViewParam::TenSeconds => (HISTORY_SECONDS, 10, "10 s max"),
        };
        let span = if view == ViewParam::Live { HISTORY_SECONDS } else { cols * pool };
        ui.label(format!("History: last {} s ({unit})", span));
        let width = ui.available_width().min(720.0);
        let (rect, _) = ui.allocate_exact_size(Vec2::new(width, row_h * k as f32), Sense::hover());
        let painter = ui.painter_at(rect);
        let label_w = 150.0;
        let grid = Rect::from_min_max(rect.min + Vec2::new(label_w, 0.0), rect.max);
        painter.rect_filled(grid, 0.0, Color32::from_gray(20));
        let cw = grid.width() / cols.max(1) as f32;
        for c in 0..k {
            let y = rect.min.y + c as f32 * row_h;
            painter.text(
                egui::pos2(rect.min.x, y + row_h / 2.0),
                Align2::LEFT_CENTER,
                &shared.labels[c],
                FontId::proportional(12.0),
                Color32::GRAY,
            );
            if view == ViewParam::Live {
                shared.recent(c, cols, &mut self.scratch);
            } else {
                shared.recent_seconds(c, cols * pool, &mut self.scratch);
            }
            let cells: Vec<u8> = self
                .scratch
                .chunks(pool)
                .map(|ch| ch.iter().fold(0u8, |m, v| (m & 0x80 | v & 0x80) | (m & 0x7F).max(v & 0x7F)))
                .collect();
            let offset = cols.saturating_sub(cells.len());
            for (i, cell) in cells.iter().enumerate() {
                let (p, on) = unpack(*cell);
                let x = grid.min.x + (offset + i) as f32 * cw;
                let r = Rect::from_min_size(egui::pos2(x, y + 1.0), Vec2::new(cw.max(1.0), row_h - 2.0));
                painter.rect_filled(r, 0.0, class_color(p, on));
            }
        }
        painter.rect_stroke(grid, 0.0, Stroke::new(1.0, Color32::from_gray(60)), StrokeKind::Inside);
        ui.separator();

        // Session summary.
        let total = shared.total.load(Ordering::Relaxed);
        let rate = shared.rate.load(Ordering::Relaxed).max(1e-3);
        ui.label(format!("Session: {:.0} s analysed — share of time each instrument was active", total as f32 / rate));
        ui.horizontal_wrapped(|ui| {
            for c in 0..k {
                let a = shared.active_count[c].load(Ordering::Relaxed);
                let pct = if total > 0 { 100.0 * a as f32 / total as f32 } else { 0.0 };
                ui.label(format!("{} {:.0}%", shared.labels[c], pct));
            }
        });
        ui.separator();

        // Controls.
        if let Some(gui) = &self.gui {
            let setter = gui.param_setter();
            let p = &self.params;
            egui::Grid::new("controls").num_columns(4).show(ui, |ui| {
                ui.label("Sensitivity offset");
                ui.add(ParamSlider::for_param(&p.sensitivity, &setter));
                ui.label("Smoothing");
                ui.add(ParamSlider::for_param(&p.smoothing, &setter));
                ui.end_row();
                ui.label("Response");
                ui.add(ParamSlider::for_param(&p.response, &setter));
                ui.label("History view");
                ui.add(ParamSlider::for_param(&p.view, &setter));
                ui.end_row();
                ui.label("MIDI CC out");
                ui.add(ParamSlider::for_param(&p.midi_out, &setter));
                ui.label("MIDI channel");
                ui.add(ParamSlider::for_param(&p.midi_channel, &setter));
                ui.end_row();
                ui.label("Base CC");
                ui.add(ParamSlider::for_param(&p.base_cc, &setter));
                ui.label("CC mode");
                ui.add(ParamSlider::for_param(&p.cc_mode, &setter));
                ui.end_row();
            });
            ui.horizontal(|ui| {
                ui.label("Custom model (.onnx, card.json beside it; empty = built-in):");
                if ui.text_edit_singleline(&mut self.model_path).lost_focus() {
                    if let Ok(mut path) = p.model_path.lock() {
                        *path = self.model_path.trim().to_string();
                    }
                }
            });
            ui.small("A new model path takes effect when the host next activates the plugin.");
        }
    }
}
