//! The Stem Separator's parameters. Callbacks never do work; the audio thread reads values.

use std::sync::{Arc, Mutex};

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

/// Sources in output order: the model's four stems, then the residual "other".
pub const SOURCES: [&str; 5] = ["Drums", "Bass", "Piano", "Guitar", "Other"];

/// One source's remix controls.
#[derive(Params)]
pub struct StemParams {
    /// Level in the main output (−∞ … +12 dB).
    #[id = "gain"]
    pub gain: FloatParam,
    /// Leave this source out of the main output.
    #[id = "mute"]
    pub mute: BoolParam,
    /// Hear only the soloed sources in the main output.
    #[id = "solo"]
    pub solo: BoolParam,
}

impl StemParams {
    fn new(name: &str) -> Self {
        StemParams {
            gain: FloatParam::new(
                format!("{name} gain"),
                1.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: util::db_to_gain(12.0),
                    factor: FloatRange::gain_skew_factor(-60.0, 12.0),
                },
            )
            .with_smoother(SmoothingStyle::Linear(20.0))
            .with_unit(" dB")
            .with_value_to_string(Arc::new(gain_text))
            .with_string_to_value(formatters::s2v_f32_gain_to_db()),
            mute: BoolParam::new(format!("{name} mute"), false),
            solo: BoolParam::new(format!("{name} solo"), false),
        }
    }
}

/// All parameters.
#[derive(Params)]
pub struct SeparatorParams {
    /// Editor size and open state.
    pub editor_state: Arc<EguiEditorState>,
    /// Folder of a user model (`model.onnx` + `card.json`) overriding the built-in one; empty
    /// for the built-in model. Main thread only (read at activation).
    #[persist = "model-dir"]
    pub model_dir: Arc<Mutex<String>>,
    #[nested(id_prefix = "drums", group = "Drums")]
    pub drums: StemParams,
    #[nested(id_prefix = "bass", group = "Bass")]
    pub bass: StemParams,
    #[nested(id_prefix = "piano", group = "Piano")]
    pub piano: StemParams,
    #[nested(id_prefix = "guitar", group = "Guitar")]
    pub guitar: StemParams,
    #[nested(id_prefix = "other", group = "Other")]
    pub other: StemParams,
    /// The activity gate (IASS): off leaves the masks alone.
    #[id = "gate"]
    pub gate: BoolParam,
    /// Median filter over the gate, in frames of 11.6 ms (odd; even values act as the next odd).
    #[id = "gate-median"]
    pub median: IntParam,
    /// Added to every stem's activity threshold from the model card: positive gates more.
    #[id = "gate-offset"]
    pub gate_offset: FloatParam,
}

impl SeparatorParams {
    /// The five sources' controls in output order.
    pub fn sources(&self) -> [&StemParams; 5] {
        [&self.drums, &self.bass, &self.piano, &self.guitar, &self.other]
    }
}

impl SeparatorParams {
    /// Parameters with the card's default median length.
    pub fn new(default_median: usize, median_max: usize) -> Self {
        SeparatorParams {
            editor_state: EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(720.0, 420.0), 1.0),
            model_dir: Arc::new(Mutex::new(String::new())),
            drums: StemParams::new("Drums"),
            bass: StemParams::new("Bass"),
            piano: StemParams::new("Piano"),
            guitar: StemParams::new("Guitar"),
            other: StemParams::new("Other"),
            gate: BoolParam::new("Activity gate", true),
            median: IntParam::new(
                "Gate median",
                default_median as i32,
                IntRange::Linear { min: 1, max: median_max.max(1) as i32 },
            )
            .with_unit(" frames"),
            gate_offset: FloatParam::new("Gate threshold offset", 0.0, FloatRange::Linear { min: -0.5, max: 0.5 })
                .with_step_size(0.01)
                .with_value_to_string(Arc::new(|v| format!("{:+.2}", if v.abs() < 0.005 { 0.0 } else { v }))),
        }
    }
}

/// A gain as dB text with one decimal, "-inf" for the gains the parser reads as silence: nice-plug
/// reads -100 dB and below as zero gain, so a gain that rounds to "-100.0" is written "-inf" (the
/// text then parses back to what prints the same text; `formatters::v2s_f32_gain_to_db` printed
/// "-100.0 dB", which parsed to 0 and printed "-inf dB", and "-0.0 dB" just under unity).
fn gain_text(gain: f32) -> String {
    // `+ 0.0` turns a rounded -0.0 into 0.0 ("-0.0" would parse to 0 dB and print "0.0").
    let db = (util::gain_to_db(gain) * 10.0).round() / 10.0 + 0.0;
    if db <= util::MINUS_INFINITY_DB {
        "-inf".to_string()
    } else {
        format!("{db:.1}")
    }
}
