//! The Drum Transcriber's parameters. Callbacks never do work; the audio thread reads values.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

/// The transcribed classes in the model's order, as the editor shows them.
pub const CLASSES: [&str; 5] = ["Kick", "Snare", "Hi-hat", "Tom", "Cymbal"];
/// The model card's class names in the same order (a user model must have these).
pub const CARD_CLASSES: [&str; 5] = ["kick", "snare", "hihat", "tom", "cymbal"];
/// General MIDI drum keys per class by default: bass drum 1, acoustic snare, closed hi-hat,
/// low-mid tom, crash cymbal 1.
pub const DEFAULT_KEYS: [u8; 5] = [36, 38, 42, 47, 49];

/// One class's controls.
#[derive(Params)]
pub struct ClassParams {
    /// Send notes for this class.
    #[id = "on"]
    pub enabled: BoolParam,
    /// The MIDI key its notes play.
    #[id = "key"]
    pub key: IntParam,
    /// 0 … 100 %: 50 % is the model card's tuned threshold; each 50 % up halves it (more
    /// notes), each 50 % down doubles it (fewer).
    #[id = "sens"]
    pub sensitivity: FloatParam,
}

impl ClassParams {
    fn new(name: &str, key: u8) -> Self {
        ClassParams {
            enabled: BoolParam::new(format!("{name} notes"), true),
            key: IntParam::new(format!("{name} key"), key as i32, IntRange::Linear { min: 0, max: 127 })
                .with_value_to_string(Arc::new(|v| key_name(v.clamp(0, 127) as u8)))
                .with_string_to_value(Arc::new(parse_key)),
            sensitivity: FloatParam::new(format!("{name} sensitivity"), 0.5, FloatRange::Linear { min: 0.0, max: 1.0 })
                .with_unit(" %")
                .with_step_size(0.01)
                .with_value_to_string(formatters::v2s_f32_percentage(0))
                .with_string_to_value(formatters::s2v_f32_percentage()),
        }
    }

    /// The picker threshold for the card's tuned `base`: `base × 2^(1 − 2·sensitivity)`,
    /// at most 1.
    pub fn threshold(&self, base: f32) -> f32 {
        (base * (1.0 - 2.0 * self.sensitivity.value()).exp2()).clamp(0.0, 1.0)
    }
}

/// `36 (C1)`: the key number and its name (middle C = C3, as most DAWs' drum maps).
pub fn key_name(key: u8) -> String {
    const NAMES: [&str; 12] = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
    format!("{key} ({}{})", NAMES[key as usize % 12], key as i32 / 12 - 2)
}

/// Reads `36`, `36 (C1)` or `C1` / `c#1` / `D-1` (middle C = C3).
pub fn parse_key(s: &str) -> Option<i32> {
    let s = s.trim();
    let head = s.split_whitespace().next()?;
    if let Ok(k) = head.parse::<i32>() {
        return (0..=127).contains(&k).then_some(k);
    }
    let up = head.to_ascii_uppercase();
    let (name, octave) = up.split_at(up.find(|c: char| c == '-' || c.is_ascii_digit())?);
    let base = match name {
        "C" => 0,
        "C#" | "DB" => 1,
        "D" => 2,
        "D#" | "EB" => 3,
        "E" => 4,
        "F" => 5,
        "F#" | "GB" => 6,
        "G" => 7,
        "G#" | "AB" => 8,
        "A" => 9,
        "A#" | "BB" => 10,
        "B" => 11,
        _ => return None,
    };
    let k = (octave.parse::<i32>().ok()? + 2) * 12 + base;
    (0..=127).contains(&k).then_some(k)
}

/// All parameters.
#[derive(Params)]
pub struct TranscriberParams {
    /// Editor size and open state.
    pub editor_state: Arc<EguiEditorState>,
    /// Folder of a user model (`model.onnx` + `card.json`, e.g. from `cargo xtask train drums
    /// --adapt`) overriding the built-in one; empty for the built-in model. Main thread only
    /// (read at activation).
    #[persist = "model-dir"]
    pub model_dir: Arc<Mutex<String>>,
    /// Full mixes: run the Stem Separator's model first and transcribe its drum stem (more
    /// latency and CPU; read at activation, like the model folder).
    #[persist = "separate-first"]
    pub separate_first: Arc<AtomicBool>,
    #[nested(id_prefix = "kick", group = "Kick")]
    pub kick: ClassParams,
    #[nested(id_prefix = "snare", group = "Snare")]
    pub snare: ClassParams,
    #[nested(id_prefix = "hihat", group = "Hi-hat")]
    pub hihat: ClassParams,
    #[nested(id_prefix = "tom", group = "Tom")]
    pub tom: ClassParams,
    #[nested(id_prefix = "cymbal", group = "Cymbal")]
    pub cymbal: ClassParams,
    /// MIDI channel of the notes (10 is General MIDI's drum channel).
    #[id = "channel"]
    pub channel: IntParam,
    /// How long each note is held.
    #[id = "note-len"]
    pub note_len: FloatParam,
    /// Velocity of the weakest detected hit; the strongest plays 127.
    #[id = "vel-min"]
    pub velocity_min: IntParam,
}

impl Default for TranscriberParams {
    fn default() -> Self {
        TranscriberParams {
            editor_state: EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(820.0, 560.0), 1.0),
            model_dir: Arc::new(Mutex::new(String::new())),
            separate_first: Arc::new(AtomicBool::new(false)),
            kick: ClassParams::new("Kick", DEFAULT_KEYS[0]),
            snare: ClassParams::new("Snare", DEFAULT_KEYS[1]),
            hihat: ClassParams::new("Hi-hat", DEFAULT_KEYS[2]),
            tom: ClassParams::new("Tom", DEFAULT_KEYS[3]),
            cymbal: ClassParams::new("Cymbal", DEFAULT_KEYS[4]),
            channel: IntParam::new("MIDI channel", 10, IntRange::Linear { min: 1, max: 16 }),
            note_len: FloatParam::new(
                "Note length",
                60.0,
                FloatRange::Skewed { min: 5.0, max: 1000.0, factor: FloatRange::skew_factor(-1.5) },
            )
            .with_unit(" ms")
            .with_step_size(1.0),
            velocity_min: IntParam::new("Minimum velocity", 20, IntRange::Linear { min: 1, max: 127 }),
        }
    }
}

impl TranscriberParams {
    /// The five classes' controls in the model's order.
    pub fn classes(&self) -> [&ClassParams; 5] {
        [&self.kick, &self.snare, &self.hihat, &self.tom, &self.cymbal]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_round_trip() {
        for k in 0..=127u8 {
            assert_eq!(parse_key(&key_name(k)), Some(k as i32), "{}", key_name(k));
        }
        assert_eq!(key_name(36), "36 (C1)");
        assert_eq!(parse_key("c#1"), Some(37));
        assert_eq!(parse_key("D-1"), Some(14));
        assert_eq!(parse_key("H2"), None);
        assert_eq!(parse_key("128"), None);
    }

    #[test]
    fn sensitivity_scales_the_card_threshold() {
        let p = TranscriberParams::default();
        assert!((p.kick.threshold(0.4) - 0.4).abs() < 1e-6, "50 % is the card's threshold");
    }
}
