//! The Melody Generator's parameters. Callbacks never do work; the audio thread and the worker
//! read the values.

use std::sync::{Arc, Mutex};

use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use crate::generator::{Live, Request, Slot};
use crate::pattern::{Playback, Scale, MAX_BARS};

/// Key-lock root.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum RootParam {
    #[name = "C"]
    C,
    #[name = "C#/Db"]
    Cs,
    #[name = "D"]
    D,
    #[name = "D#/Eb"]
    Ds,
    #[name = "E"]
    E,
    #[name = "F"]
    F,
    #[name = "F#/Gb"]
    Fs,
    #[name = "G"]
    G,
    #[name = "G#/Ab"]
    Gs,
    #[name = "A"]
    A,
    #[name = "A#/Bb"]
    As,
    #[name = "B"]
    B,
}

/// Key-lock scale.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleParam {
    /// Key lock off: the decoded pitches as they are.
    #[name = "Off (chromatic)"]
    Off,
    /// Ionian.
    #[name = "Major"]
    Major,
    /// Aeolian.
    #[name = "Minor"]
    Minor,
    /// Minor with a raised 7th.
    #[name = "Harmonic minor"]
    HarmonicMinor,
    /// Minor with a raised 6th.
    #[name = "Dorian"]
    Dorian,
    /// Major with a flat 7th.
    #[name = "Mixolydian"]
    Mixolydian,
    /// Five notes: 1 2 3 5 6.
    #[name = "Major pentatonic"]
    MajorPentatonic,
    /// Five notes: 1 b3 4 5 b7.
    #[name = "Minor pentatonic"]
    MinorPentatonic,
}

impl ScaleParam {
    /// The pitch-class mask.
    pub fn scale(self) -> Scale {
        match self {
            ScaleParam::Off => Scale::CHROMATIC,
            ScaleParam::Major => Scale::of(&[0, 2, 4, 5, 7, 9, 11]),
            ScaleParam::Minor => Scale::of(&[0, 2, 3, 5, 7, 8, 10]),
            ScaleParam::HarmonicMinor => Scale::of(&[0, 2, 3, 5, 7, 8, 11]),
            ScaleParam::Dorian => Scale::of(&[0, 2, 3, 5, 7, 9, 10]),
            ScaleParam::Mixolydian => Scale::of(&[0, 2, 4, 5, 7, 9, 10]),
            ScaleParam::MajorPentatonic => Scale::of(&[0, 2, 4, 7, 9]),
            ScaleParam::MinorPentatonic => Scale::of(&[0, 3, 5, 7, 10]),
        }
    }
}

/// Number of ideas the "Idea" parameter spans (the shipped card holds 64).
pub const IDEAS: i32 = 64;

/// All parameters.
#[derive(Params)]
pub struct MelodyParams {
    /// Editor size and open state.
    pub editor_state: Arc<EguiEditorState>,
    /// Slot B (set from the editor: store, swap); the morph moves from the parameters (A) to it.
    #[persist = "slot-b"]
    pub slot_b: Arc<Mutex<Slot>>,
    /// A user model folder (`card.json`, `encoder.onnx`, `decoder.onnx`); empty for the built-in
    /// model. Read at activation.
    #[persist = "model-dir"]
    pub model_dir: Arc<Mutex<String>>,
    /// Folder for "Save .mid" (empty: the home folder's `Music/MIR Suite`).
    #[persist = "midi-dir"]
    pub midi_dir: Arc<Mutex<String>>,

    /// Generate and send notes while the host plays.
    #[id = "play"]
    pub play: BoolParam,
    /// Rhythmic complexity (AR-VAE's metrically weighted onsets): low = on the beat, high = syncopated.
    #[id = "rhythm"]
    pub rhythm: FloatParam,
    /// Pitch range of each measure.
    #[id = "range"]
    pub range: FloatParam,
    /// Note density: onsets per measure.
    #[id = "density"]
    pub density: FloatParam,
    /// Contour: falling (low) to rising (high).
    #[id = "contour"]
    pub contour: FloatParam,
    /// Which idea lends the latent's free dims ("new idea" picks another).
    #[id = "idea"]
    pub idea: IntParam,
    /// How much the bars of the loop differ from the first.
    #[id = "variation"]
    pub variation: FloatParam,
    /// 0 = the most likely melody; higher samples more freely (seeded: the same every time).
    #[id = "temperature"]
    pub temperature: FloatParam,
    /// Loop length.
    #[id = "bars"]
    pub bars: IntParam,
    /// Interpolation between slot A (the parameters) and slot B.
    #[id = "morph"]
    pub morph: FloatParam,
    /// Key-lock root.
    #[id = "root"]
    pub root: EnumParam<RootParam>,
    /// Key-lock scale.
    #[id = "scale"]
    pub scale: EnumParam<ScaleParam>,
    /// Transpose before the key lock.
    #[id = "transpose"]
    pub transpose: IntParam,
    /// Sounding fraction of each note.
    #[id = "gate"]
    pub gate: FloatParam,
    /// Velocity of off-beat notes.
    #[id = "velocity"]
    pub velocity: IntParam,
    /// Velocity added on the beats.
    #[id = "accent"]
    pub accent: IntParam,
    /// MIDI channel of the notes.
    #[id = "channel"]
    pub channel: IntParam,
    /// A built-in sine voice mixed into the audio output, to hear the melody without an instrument.
    #[id = "audition"]
    pub audition: BoolParam,
    /// Level of the audition voice.
    #[id = "audition-level"]
    pub audition_level: FloatParam,
}

fn percent(name: &str, default: f32) -> FloatParam {
    FloatParam::new(name, default, FloatRange::Linear { min: 0.0, max: 1.0 })
        .with_step_size(0.01)
        .with_unit(" %")
        .with_value_to_string(Arc::new(|v| format!("{:.0}", v * 100.0)))
        .with_string_to_value(Arc::new(|s| {
            s.trim().trim_end_matches('%').trim().parse::<f32>().ok().map(|v| v / 100.0)
        }))
}

impl Default for MelodyParams {
    fn default() -> Self {
        MelodyParams {
            editor_state: EguiEditorState::from_size(nice_plug::editor::dpi::LogicalSize::new(940.0, 600.0), 1.0),
            slot_b: Arc::new(Mutex::new(Slot::default())),
            model_dir: Arc::new(Mutex::new(String::new())),
            midi_dir: Arc::new(Mutex::new(String::new())),
            play: BoolParam::new("Play", true),
            rhythm: percent("Rhythmic complexity", 0.5),
            range: percent("Pitch range", 0.5),
            density: percent("Note density", 0.5),
            contour: percent("Contour", 0.5),
            idea: IntParam::new("Idea", 1, IntRange::Linear { min: 1, max: IDEAS }),
            variation: percent("Bar variation", 0.3),
            temperature: FloatParam::new("Temperature", 0.0, FloatRange::Linear { min: 0.0, max: 1.5 })
                .with_step_size(0.01),
            bars: IntParam::new("Loop length", 2, IntRange::Linear { min: 1, max: MAX_BARS as i32 }).with_unit(" bars"),
            morph: percent("A to B", 0.0),
            root: EnumParam::new("Key", RootParam::C),
            scale: EnumParam::new("Scale", ScaleParam::Off),
            transpose: IntParam::new("Transpose", 0, IntRange::Linear { min: -24, max: 24 }).with_unit(" st"),
            gate: percent("Note length", 0.9),
            velocity: IntParam::new("Velocity", 96, IntRange::Linear { min: 1, max: 127 }),
            accent: IntParam::new("Beat accent", 12, IntRange::Linear { min: 0, max: 40 }),
            channel: IntParam::new("MIDI channel", 1, IntRange::Linear { min: 1, max: 16 }),
            audition: BoolParam::new("Audition voice", false),
            audition_level: FloatParam::new(
                "Audition level",
                util::db_to_gain(-12.0),
                FloatRange::Skewed {
                    min: util::db_to_gain(-48.0),
                    max: util::db_to_gain(0.0),
                    factor: FloatRange::gain_skew_factor(-48.0, 0.0),
                },
            )
            .with_unit(" dB")
            .with_value_to_string(formatters::v2s_f32_gain_to_db(1))
            .with_string_to_value(formatters::s2v_f32_gain_to_db()),
        }
    }
}

impl MelodyParams {
    /// Slot A as the parameters hold it.
    pub fn slot_a(&self) -> Slot {
        Slot {
            sliders: [self.rhythm.value(), self.range.value(), self.density.value(), self.contour.value()],
            idea: self.idea.value().max(1) as u32,
        }
    }

    /// The parameters' part of the decoding request (atomics only: audio-thread safe).
    pub fn live(&self) -> Live {
        Live {
            a: self.slot_a(),
            morph: self.morph.value(),
            temperature: self.temperature.value(),
            variation: self.variation.value(),
            bars: self.bars.value().clamp(1, MAX_BARS as i32) as usize,
        }
    }

    /// The whole decoding request: the parameters and slot B (locks slot B: not for the audio
    /// thread, which uses [`live`](Self::live)).
    pub fn request(&self) -> Request {
        Request { live: self.live(), b: self.slot_b.lock().map(|b| *b).unwrap_or_default() }
    }

    /// The playback settings.
    pub fn playback(&self) -> Playback {
        Playback {
            transpose: self.transpose.value(),
            root: self.root.value() as u8,
            scale: self.scale.value().scale(),
            gate: self.gate.value(),
            velocity: self.velocity.value().clamp(1, 127) as u8,
            accent: self.accent.value().clamp(0, 40) as u8,
        }
    }

    /// MIDI channel, 0-based.
    pub fn midi_channel(&self) -> u8 {
        (self.channel.value() - 1).clamp(0, 15) as u8
    }
}
