//! The Activity Meter's parameters. Callbacks never do work; the audio thread reads values.

use std::sync::{Arc, Mutex};

use activity_model::DEFAULT_MEDIAN;
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

/// What the MIDI CCs carry.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CcModeParam {
    /// 127 while an instrument is active, 0 otherwise.
    #[name = "Gate"]
    Gate,
    /// The class probability scaled to 0–127.
    #[name = "Probability"]
    Probability,
}

/// How quickly the meter follows the music: the averaging time of the probabilities. Longer
/// averages recognize sustained instruments more reliably but switch them off later; each
/// setting uses thresholds tuned for it (the model card's `responses`).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseParam {
    /// No averaging: fastest on and off, most flicker.
    #[name = "Fast"]
    Fast,
    /// 0.5 s average.
    #[name = "Balanced"]
    Balanced,
    /// 1 s average (the model card's measured default).
    #[name = "Steady"]
    Steady,
    /// 2 s average.
    #[name = "Slow"]
    Slow,
}

impl ResponseParam {
    /// Averaging time constant in seconds.
    pub fn seconds(self) -> f32 {
        match self {
            ResponseParam::Fast => 0.0,
            ResponseParam::Balanced => 0.5,
            ResponseParam::Steady => 1.0,
            ResponseParam::Slow => 2.0,
        }
    }
}

/// History aggregation shown in the editor (max-pooling, as the thesis evaluates).
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewParam {
    /// Every prediction (~21 per second).
    #[name = "Live"]
    Live,
    /// Max over 1 s.
    #[name = "1 s"]
    OneSecond,
    /// Max over 5 s.
    #[name = "5 s"]
    FiveSeconds,
    /// Max over 10 s.
    #[name = "10 s"]
    TenSeconds,
}

/// All parameters. Read by the audio thread (atomics inside nice-plug's param types), written
/// by the host and the GUI.
#[derive(Params)]
pub struct MeterParams {
    /// Editor size and open state.
    pub editor_state: Arc<EguiEditorState>,
    /// Path of a user model (`.onnx` with a `card.json` beside it) overriding the built-in one;
    /// empty for the built-in model. Main thread only (read at activation).
    #[persist = "model-path"]
    pub model_path: Arc<Mutex<String>>,
    /// Added to every class threshold: positive is less sensitive (fewer false alarms).
    #[id = "sensitivity"]
    pub sensitivity: FloatParam,
    /// Averaging time of the probabilities (with matching thresholds).
    #[id = "response"]
    pub response: EnumParam<ResponseParam>,
    /// Median filter over predictions (odd length, 1 = off); one step is one prediction (~70 ms
    /// with the shipped model, 14.4 per second).
    #[id = "smoothing"]
    pub smoothing: IntParam,
    /// Send activity as MIDI CC.
    #[id = "midi-out"]
    pub midi_out: BoolParam,
    /// MIDI channel for the CCs (1–16).
    #[id = "midi-channel"]
    pub midi_channel: IntParam,
    /// CC number of the first class; class `i` uses `base + i`.
    #[id = "base-cc"]
    pub base_cc: IntParam,
    /// Gate or probability CCs.
    #[id = "cc-mode"]
    pub cc_mode: EnumParam<CcModeParam>,
    /// History aggregation in the editor.
    #[id = "view"]
    pub view: EnumParam<ViewParam>,
}

impl Default for MeterParams {
    fn default() -> Self {
        MeterParams {
            editor_state: EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(760.0, 870.0), 1.0),
            model_path: Arc::new(Mutex::new(String::new())),
            // Signed, and never "-0.00" (which parses to 0 and prints "0.00": hosts' text
            // round trip would not hold).
            sensitivity: FloatParam::new("Sensitivity offset", 0.0, FloatRange::Linear { min: -0.3, max: 0.3 })
                .with_step_size(0.01)
                .with_value_to_string(Arc::new(|v| format!("{:+.2}", if v.abs() < 0.005 { 0.0 } else { v }))),
            response: EnumParam::new("Response", ResponseParam::Steady),
            smoothing: IntParam::new("Smoothing", DEFAULT_MEDIAN as i32, IntRange::Linear { min: 1, max: 31 })
                .with_unit(" steps"),
            midi_out: BoolParam::new("MIDI CC out", true),
            midi_channel: IntParam::new("MIDI channel", 1, IntRange::Linear { min: 1, max: 16 }),
            base_cc: IntParam::new("Base CC", 20, IntRange::Linear { min: 0, max: 113 }),
            cc_mode: EnumParam::new("CC mode", CcModeParam::Gate),
            view: EnumParam::new("History view", ViewParam::OneSecond),
        }
    }
}
