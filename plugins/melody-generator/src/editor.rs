//! The egui editor: a piano roll of the loop with the playhead, the attribute sliders, ideas,
//! the A/B slots and morph, key lock and playback, and "Save .mid". Reads the shared state;
//! never blocks the audio thread (the locks it takes are the worker's and the persisted slot).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use egui::{Align2, Color32, FontId, Rect, Sense, Stroke, StrokeKind, Vec2};
use nice_plug::context::gui::{GuiContext, ParamSetter};
use nice_plug::prelude::Param;
use nice_plug_egui::widgets::ParamSlider;
use nice_plug_egui::{baseview, create_egui_editor, EguiEditor, EguiNiceSettings, Frame, NiceEguiApp, RepaintNotifier};

use crate::generator::Slot;
use crate::params::{MelodyParams, IDEAS};
use crate::pattern::{to_smf, Pattern, TICKS_PER_BEAT};
use crate::Shared;
use melody_model::TICKS;

/// The editor's state (GUI thread only).
pub struct MelodyApp {
    params: Arc<MelodyParams>,
    shared: Arc<Shared>,
    gui: Option<GuiContext>,
    model_dir: String,
    midi_dir: String,
    saved: String,
    rng: u64,
}

/// Creates the editor.
pub fn create(params: Arc<MelodyParams>, shared: Arc<Shared>) -> Option<EguiEditor<MelodyApp>> {
    let model_dir = params.model_dir.lock().map(|p| p.clone()).unwrap_or_default();
    let midi_dir = params.midi_dir.lock().map(|p| p.clone()).unwrap_or_default();
    let rng = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    let app = MelodyApp { params: params.clone(), shared, gui: None, model_dir, midi_dir, saved: String::new(), rng };
    let settings = EguiNiceSettings { title: "Melody Generator".into(), ..Default::default() };
    create_egui_editor(params.editor_state.clone(), RepaintNotifier::new(), settings, app)
}

/// The default folder for saved loops: `~/Music/MIR Suite`.
pub fn default_midi_dir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(std::env::temp_dir).join("Music").join("MIR Suite")
}

fn set<P: Param>(setter: &ParamSetter, param: &P, value: P::Plain) {
    setter.begin_set_parameter(param);
    setter.set_parameter(param, value);
    setter.end_set_parameter(param);
}

fn set_slot(setter: &ParamSetter, p: &MelodyParams, s: &Slot) {
    set(setter, &p.rhythm, s.sliders[0]);
    set(setter, &p.range, s.sliders[1]);
    set(setter, &p.density, s.sliders[2]);
    set(setter, &p.contour, s.sliders[3]);
    set(setter, &p.idea, s.idea as i32);
}

impl MelodyApp {
    fn piano_roll(&self, ui: &mut egui::Ui, pattern: Option<Pattern>) {
        let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 220.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, Color32::from_rgb(24, 26, 32));
        let Some(p) = pattern else {
            painter.text(
                rect.center(),
                Align2::CENTER_CENTER,
                "no loop yet",
                FontId::proportional(16.0),
                Color32::GRAY,
            );
            return;
        };
        let play = self.params.playback();
        let notes: Vec<(usize, usize, u8)> = p.notes().map(|n| (n.start, n.len, play.key(n.pitch))).collect();
        let (lo, hi) = notes.iter().fold((60u8, 72u8), |(lo, hi), n| (lo.min(n.2), hi.max(n.2)));
        let (lo, hi) = (lo.saturating_sub(2), hi.saturating_add(2).min(127));
        let ticks = p.ticks() as f32;
        let x = |t: f32| rect.min.x + 36.0 + (rect.width() - 40.0) * t / ticks;
        let row = (rect.height() - 8.0) / (hi - lo + 1) as f32;
        let y = |k: u8| rect.max.y - 4.0 - (k - lo + 1) as f32 * row;
        for k in lo..=hi {
            if matches!(k % 12, 1 | 3 | 6 | 8 | 10) {
                let r = Rect::from_min_max(egui::pos2(x(0.0), y(k)), egui::pos2(x(ticks), y(k) + row));
                painter.rect_filled(r, 0.0, Color32::from_rgb(30, 32, 40));
            }
            if k.is_multiple_of(12) {
                painter.text(
                    egui::pos2(rect.min.x + 4.0, y(k) + row / 2.0),
                    Align2::LEFT_CENTER,
                    format!("C{}", k as i32 / 12 - 1),
                    FontId::proportional(11.0),
                    Color32::GRAY,
                );
            }
        }
        for t in (0..=p.ticks()).step_by(TICKS_PER_BEAT) {
            let strong = t.is_multiple_of(TICKS);
            let c = if strong { Color32::from_gray(110) } else { Color32::from_gray(55) };
            painter.line_segment(
                [egui::pos2(x(t as f32), rect.min.y), egui::pos2(x(t as f32), rect.max.y)],
                Stroke::new(1.0, c),
            );
        }
        let gate = play.gate.clamp(0.05, 1.0);
        for &(start, len, key) in &notes {
            let r = Rect::from_min_max(
                egui::pos2(x(start as f32), y(key)),
                egui::pos2(x(start as f32 + len as f32 * gate).max(x(start as f32) + 2.0), y(key) + row - 1.0),
            );
            let v = play.velocity_at(start) as f32 / 127.0;
            painter.rect_filled(r, 2.0, Color32::from_rgb(60 + (v * 120.0) as u8, 150, 230));
            painter.rect_stroke(r, 2.0, Stroke::new(1.0, Color32::from_rgb(20, 40, 70)), StrokeKind::Inside);
        }
        let head = self.shared.playhead.load(Ordering::Relaxed);
        if head >= 0 && self.shared.playing_bars.load(Ordering::Relaxed) as usize == p.bars {
            let hx = x(head as f32);
            painter.line_segment(
                [egui::pos2(hx, rect.min.y), egui::pos2(hx, rect.max.y)],
                Stroke::new(2.0, Color32::from_rgb(240, 200, 80)),
            );
        }
    }

    fn save_midi(&mut self, pattern: Option<Pattern>) {
        let Some(p) = pattern else {
            self.saved = "nothing to save yet".into();
            return;
        };
        let dir =
            if self.midi_dir.trim().is_empty() { default_midi_dir() } else { PathBuf::from(self.midi_dir.trim()) };
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let path = dir.join(format!("melody-{stamp}.mid"));
        let tempo = self.shared.tempo.load(Ordering::Relaxed) as f64;
        let bytes = to_smf(&p, &self.params.playback(), tempo, self.params.midi_channel(), 1);
        self.saved = match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, bytes)) {
            Ok(()) => format!("saved {}", path.display()),
            Err(e) => format!("cannot save {}: {e}", path.display()),
        };
    }
}

impl NiceEguiApp for MelodyApp {
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
        let w = &shared.worker;
        ui.horizontal(|ui| {
            ui.heading("Melody Generator");
            ui.label(shared.status.lock().map(|s| s.clone()).unwrap_or_default());
        });
        let error = w.error.lock().map(|s| s.clone()).unwrap_or_default();
        let timeouts = shared.offline_timeouts.load(Ordering::Relaxed);
        let nonfinite = shared.nonfinite_samples.load(Ordering::Relaxed);
        ui.small(format!(
            "last decode {:.1} ms · loops decoded {} · errors {}{}{}{}",
            w.decode_ms.load(Ordering::Relaxed),
            w.decoded.load(Ordering::Relaxed),
            w.errors.load(Ordering::Relaxed),
            if timeouts == 0 {
                String::new()
            } else {
                format!(" · offline renders that went on without the new loop: {timeouts}")
            },
            if nonfinite == 0 {
                String::new()
            } else {
                format!(" · {nonfinite} NaN/∞ input samples replaced by silence")
            },
            if error.is_empty() { String::new() } else { format!(" · {error}") }
        ));
        let pattern = w.pattern.lock().ok().and_then(|p| *p);
        self.piano_roll(ui, pattern);
        ui.small("Changes take effect at the next bar line; key, transpose, length and velocity at once.");
        ui.separator();
        let Some(gui) = self.gui.clone() else { return };
        let setter = gui.param_setter();
        let p = self.params.clone();
        ui.columns(2, |cols| {
            egui::Grid::new("attributes").num_columns(2).show(&mut cols[0], |ui| {
                for (label, param) in [
                    ("Rhythmic complexity", &p.rhythm),
                    ("Pitch range", &p.range),
                    ("Note density", &p.density),
                    ("Contour (falling to rising)", &p.contour),
                ] {
                    ui.label(label);
                    ui.add(ParamSlider::for_param(param, &setter));
                    ui.end_row();
                }
                ui.label("Idea");
                ui.horizontal(|ui| {
                    ui.add(ParamSlider::for_param(&p.idea, &setter));
                    if ui.button("New idea").clicked() {
                        let ideas = (shared.ideas.load(Ordering::Relaxed)).clamp(1, IDEAS);
                        let old = p.idea.value();
                        self.rng ^= self.rng << 13;
                        self.rng ^= self.rng >> 7;
                        self.rng ^= self.rng << 17;
                        let mut new = 1 + (self.rng % ideas as u64) as i32;
                        if new == old && ideas > 1 {
                            new = new % ideas + 1;
                        }
                        set(&setter, &p.idea, new);
                    }
                });
                ui.end_row();
                for (label, param) in [("Bar variation", &p.variation), ("Temperature", &p.temperature)] {
                    ui.label(label);
                    ui.add(ParamSlider::for_param(param, &setter));
                    ui.end_row();
                }
                ui.label("Loop length");
                ui.add(ParamSlider::for_param(&p.bars, &setter));
                ui.end_row();
                ui.label("Play");
                ui.add(ParamSlider::for_param(&p.play, &setter));
                ui.end_row();
            });
            let ui = &mut cols[1];
            egui::Grid::new("playback").num_columns(2).show(ui, |ui| {
                ui.label("Key lock");
                ui.horizontal(|ui| {
                    ui.add(ParamSlider::for_param(&p.root, &setter).with_width(60.0));
                    ui.add(ParamSlider::for_param(&p.scale, &setter));
                });
                ui.end_row();
                ui.label("Transpose");
                ui.add(ParamSlider::for_param(&p.transpose, &setter));
                ui.end_row();
                ui.label("Note length");
                ui.add(ParamSlider::for_param(&p.gate, &setter));
                ui.end_row();
                ui.label("Velocity / beat accent");
                ui.horizontal(|ui| {
                    ui.add(ParamSlider::for_param(&p.velocity, &setter).with_width(80.0));
                    ui.add(ParamSlider::for_param(&p.accent, &setter).with_width(80.0));
                });
                ui.end_row();
                ui.label("MIDI channel");
                ui.add(ParamSlider::for_param(&p.channel, &setter));
                ui.end_row();
                ui.label("Audition voice");
                ui.horizontal(|ui| {
                    ui.add(ParamSlider::for_param(&p.audition, &setter).with_width(60.0));
                    ui.add(ParamSlider::for_param(&p.audition_level, &setter).with_width(100.0));
                });
                ui.end_row();
            });
            ui.separator();
            let b = p.slot_b.lock().map(|b| *b).unwrap_or_default();
            ui.label(format!(
                "Slot B: idea {} · sliders {:.0}/{:.0}/{:.0}/{:.0} %",
                b.idea,
                b.sliders[0] * 100.0,
                b.sliders[1] * 100.0,
                b.sliders[2] * 100.0,
                b.sliders[3] * 100.0
            ));
            ui.horizontal(|ui| {
                ui.label("A to B");
                ui.add(ParamSlider::for_param(&p.morph, &setter));
            });
            ui.horizontal(|ui| {
                if ui.button("Store A as B").on_hover_text("Slot B := the current sliders and idea").clicked() {
                    if let Ok(mut slot) = p.slot_b.lock() {
                        *slot = p.slot_a();
                    }
                }
                if ui.button("Swap A and B").clicked() {
                    let a = p.slot_a();
                    set_slot(&setter, &p, &b);
                    if let Ok(mut slot) = p.slot_b.lock() {
                        *slot = a;
                    }
                }
                if ui.button("Recall B").on_hover_text("The sliders and idea := slot B").clicked() {
                    set_slot(&setter, &p, &b);
                }
            });
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui.button("Save .mid").on_hover_text("The current loop, with key lock and playback settings").clicked() {
                self.save_midi(pattern);
            }
            ui.label("to folder:");
            let hint = default_midi_dir().display().to_string();
            if ui.add(egui::TextEdit::singleline(&mut self.midi_dir).hint_text(hint)).lost_focus() {
                if let Ok(mut d) = p.midi_dir.lock() {
                    *d = self.midi_dir.trim().to_string();
                }
            }
        });
        if !self.saved.is_empty() {
            ui.small(self.saved.clone());
        }
        ui.horizontal(|ui| {
            ui.label("Custom model folder (empty = built-in):");
            if ui.text_edit_singleline(&mut self.model_dir).lost_focus() {
                if let Ok(mut d) = p.model_dir.lock() {
                    *d = self.model_dir.trim().to_string();
                }
            }
        });
        ui.small("A new model folder takes effect when the host next activates the plugin.");
    }
}
