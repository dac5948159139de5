//! The egui editor: a scrolling drum grid (one lane per class, each hit a mark as strong as its
//! velocity), per class its light, key, sensitivity and on/off, the note settings, the .mid
//! export of the take or its last bars, and the model and runner health. Reads
//! [`TranscriberShared`]'s atomics and take log; never blocks audio.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use egui::{Color32, Rect, Sense, Stroke, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{baseview, create_egui_editor, EguiEditor, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier};

use crate::core::{Hit, TranscriberShared, CLASSES as N};
use crate::midi::{take_to_smf, Span};
use crate::params::{TranscriberParams, CLASSES};

/// Lane colours per class.
const COLOURS: [Color32; N] = [
    Color32::from_rgb(230, 110, 80),
    Color32::from_rgb(240, 200, 90),
    Color32::from_rgb(110, 200, 230),
    Color32::from_rgb(160, 130, 230),
    Color32::from_rgb(120, 220, 140),
];

/// The editor's state (GUI thread only).
pub struct TranscriberApp {
    params: Arc<TranscriberParams>,
    shared: Arc<TranscriberShared>,
    gui: Option<GuiContext>,
    model_dir: String,
    /// The take as read so far, and the log generation it belongs to.
    hits: Vec<Hit>,
    generation: u64,
    /// Seconds the grid shows.
    window: f32,
    bars: u32,
    midi_dir: String,
    saved: String,
}

/// Where .mid files go unless the user names a folder: `~/Music/MIR Suite` (or the temp dir).
pub fn default_midi_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(std::env::temp_dir, |h| PathBuf::from(h).join("Music").join("MIR Suite"))
}

/// Creates the editor.
pub fn create(params: Arc<TranscriberParams>, shared: Arc<TranscriberShared>) -> Option<EguiEditor<TranscriberApp>> {
    let model_dir = params.model_dir.lock().map(|p| p.clone()).unwrap_or_default();
    let app = TranscriberApp {
        params: params.clone(),
        shared,
        gui: None,
        model_dir,
        hits: Vec::new(),
        generation: u64::MAX,
        window: 4.0,
        bars: 4,
        midi_dir: String::new(),
        saved: String::new(),
    };
    let settings = EguiNiceSettings { title: "Drum Transcriber".into(), ..Default::default() };
    create_egui_editor(params.editor_state.clone(), RepaintNotifier::new(), settings, app)
}

impl TranscriberApp {
    /// Brings `hits` up to date with the take log.
    fn sync(&mut self) {
        let take = &self.shared.take;
        if take.generation() != self.generation {
            self.hits.clear();
            self.generation = take.generation();
        }
        let from = self.hits.len();
        if !take.read_from(from, &mut self.hits) {
            self.hits.clear();
            self.generation = u64::MAX;
        }
    }

    fn grid(&self, ui: &mut egui::Ui) {
        let rate = self.shared.rate.load(Ordering::Relaxed).max(1.0) as f64;
        let now = self.shared.now.load(Ordering::Relaxed) as f64 / rate;
        let lane = 22.0;
        let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), lane * N as f32 + 4.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, Color32::from_gray(24));
        let label_w = 64.0;
        let x0 = rect.min.x + label_w;
        let w = (rect.width() - label_w - 6.0).max(10.0);
        let t0 = now - self.window as f64;
        let x = |t: f64| x0 + ((t - t0) / self.window as f64) as f32 * w;
        // A line per second.
        for s in (t0.ceil() as i64)..=(now.floor() as i64) {
            let xs = x(s as f64);
            painter.line_segment(
                [egui::pos2(xs, rect.min.y), egui::pos2(xs, rect.max.y)],
                Stroke::new(1.0, Color32::from_gray(45)),
            );
        }
        for (c, name) in CLASSES.iter().enumerate() {
            let y = rect.min.y + 2.0 + lane * c as f32;
            painter.text(
                egui::pos2(rect.min.x + 6.0, y + lane / 2.0),
                egui::Align2::LEFT_CENTER,
                *name,
                egui::FontId::proportional(13.0),
                Color32::from_gray(200),
            );
            painter.line_segment(
                [egui::pos2(x0, y + lane), egui::pos2(x0 + w, y + lane)],
                Stroke::new(1.0, Color32::from_gray(35)),
            );
        }
        for h in self.hits.iter().rev() {
            let t = h.frame as f64 / rate;
            if t < t0 {
                break;
            }
            let c = (h.class as usize).min(N - 1);
            let y = rect.min.y + 2.0 + lane * c as f32;
            let v = h.velocity as f32 / 127.0;
            let r = Rect::from_min_size(
                egui::pos2(x(t) - 2.5, y + lane * (0.5 - 0.4 * v)),
                Vec2::new(5.0, lane * 0.8 * v + 1.0),
            );
            painter.rect_filled(r, 1.5, COLOURS[c].gamma_multiply(0.4 + 0.6 * v));
        }
    }

    fn export(&mut self, span: Span) {
        let dir =
            if self.midi_dir.trim().is_empty() { default_midi_dir() } else { PathBuf::from(self.midi_dir.trim()) };
        let rate = self.shared.rate.load(Ordering::Relaxed).max(1.0) as f64;
        let tempo = self.shared.tempo.load(Ordering::Relaxed) as f64;
        let channel = (self.params.channel.value().clamp(1, 16) - 1) as u8;
        let Some(bytes) = take_to_smf(&self.hits, span, rate, tempo, channel, self.params.note_len.value() as f64)
        else {
            self.saved = "nothing to export yet: no hits in the take".into();
            return;
        };
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let what = match span {
            Span::Whole => "take".to_string(),
            Span::LastBars(n) => format!("last-{n}-bars"),
        };
        let path = dir.join(format!("drums-{what}-{stamp}.mid"));
        self.saved = match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes)) {
            Ok(()) => format!("saved {}", path.display()),
            Err(e) => format!("cannot save {}: {e}", path.display()),
        };
    }
}

impl NiceEguiApp for TranscriberApp {
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
        ui.ctx().request_repaint_after(std::time::Duration::from_millis(33));
        self.sync();
        ui.horizontal(|ui| {
            ui.heading("Drum Transcriber");
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
                line += " · not transcribing: audio passes through, no notes";
            }
        }
        ui.label(line);
        ui.separator();
        self.grid(ui);
        ui.horizontal(|ui| {
            ui.label(format!("{} hits in the take", self.hits.len()));
            if shared.take.is_full() {
                ui.colored_label(Color32::from_rgb(230, 150, 60), "take full: clear it to record more");
            }
            ui.add(egui::Slider::new(&mut self.window, 1.0..=16.0).text("s shown"));
            if ui.button("Clear take").clicked() {
                shared.take.request_clear();
            }
        });
        ui.separator();
        let Some(gui) = &self.gui else { return };
        let setter = gui.param_setter();
        let params = self.params.clone();
        let p = &params;
        let classes = p.classes();
        let now = shared.now.load(Ordering::Relaxed);
        egui::Grid::new("classes").num_columns(5).spacing([12.0, 6.0]).show(ui, |ui| {
            ui.strong("Drum");
            ui.strong("Hit");
            ui.strong("MIDI key");
            ui.strong("Sensitivity");
            ui.strong("Notes");
            ui.end_row();
            for (c, name) in CLASSES.iter().enumerate() {
                ui.colored_label(COLOURS[c], *name);
                // The light fades over 150 ms after each hit.
                let age = now.saturating_sub(shared.last_frame[c].load(Ordering::Relaxed)) as f32 / rate;
                let glow = if shared.last_frame[c].load(Ordering::Relaxed) == 0 {
                    0.0
                } else {
                    (1.0 - age / 0.15).clamp(0.0, 1.0)
                };
                let (rect, _) = ui.allocate_exact_size(Vec2::new(16.0, 16.0), Sense::hover());
                ui.painter().circle_filled(rect.center(), 7.0, Color32::from_gray(40));
                ui.painter().circle_filled(
                    rect.center(),
                    7.0,
                    COLOURS[c].gamma_multiply(glow * shared.last_strength[c].load(Ordering::Relaxed).clamp(0.2, 1.0)),
                );
                ui.add(ParamSlider::for_param(&classes[c].key, &setter).with_width(110.0));
                ui.add(ParamSlider::for_param(&classes[c].sensitivity, &setter).with_width(160.0));
                ui.add(ParamSlider::for_param(&classes[c].enabled, &setter).with_width(60.0));
                ui.end_row();
            }
        });
        ui.separator();
        egui::Grid::new("notes").num_columns(2).show(ui, |ui| {
            ui.label("MIDI channel");
            ui.add(ParamSlider::for_param(&p.channel, &setter));
            ui.end_row();
            ui.label("Note length");
            ui.add(ParamSlider::for_param(&p.note_len, &setter));
            ui.end_row();
            ui.label("Minimum velocity");
            ui.add(ParamSlider::for_param(&p.velocity_min, &setter));
            ui.end_row();
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Export the whole take (.mid)").clicked() {
                self.export(Span::Whole);
            }
            ui.add(egui::DragValue::new(&mut self.bars).range(1..=256).suffix(" bars"));
            if ui.button("Export the last bars (.mid)").clicked() {
                self.export(Span::LastBars(self.bars));
            }
        });
        ui.horizontal(|ui| {
            ui.label("Folder:");
            ui.add(egui::TextEdit::singleline(&mut self.midi_dir).hint_text(default_midi_dir().display().to_string()));
        });
        if !self.saved.is_empty() {
            ui.small(&self.saved);
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.label("Custom model folder (model.onnx + card.json, e.g. from --adapt; empty = built-in):");
            if ui.text_edit_singleline(&mut self.model_dir).lost_focus() {
                if let Ok(mut d) = p.model_dir.lock() {
                    *d = self.model_dir.trim().to_string();
                }
            }
        });
        let mut sep = p.separate_first.load(Ordering::Relaxed);
        if ui
            .checkbox(&mut sep, "Full mix: separate the drums first (the Stem Separator's model; about 15 % of a core more CPU and 0.15 s more latency)")
            .changed()
        {
            p.separate_first.store(sep, Ordering::Relaxed);
        }
        ui.small("A new model folder and the full-mix setting take effect when the host next activates the plugin.");
    }
}
