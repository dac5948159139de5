//! The instrument taxonomy shared by the dataset, the activity model and the plugins.
//!
//! Each class is rendered from a fixed pool of General MIDI programs, so a label means the same
//! family of timbres in every soundfont. The pools avoid ambiguous programs (e.g. the choir pad,
//! synth brass) so that no program belongs to two classes.

/// One instrument class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Class(pub usize);

/// Class names, in label order. `drums` is rendered from percussion kits, the rest from the
/// GM programs in [`PROGRAMS`].
pub const CLASSES: [&str; 14] = [
    "drums",
    "bass",
    "piano",
    "electric_piano",
    "organ",
    "acoustic_guitar",
    "clean_electric_guitar",
    "distorted_guitar",
    "strings",
    "brass",
    "woodwinds",
    "synth_lead",
    "synth_pad",
    "voice",
];

/// One 10 ms frame of activity labels (0/1 per class), as the renderer derives them.
pub type ActivityRow = [u8; CLASSES.len()];

/// GM programs (0-based) for every class but drums, same order as [`CLASSES`].
pub const PROGRAMS: [&[u8]; 14] = [
    &[],                                       // drums: percussion kits
    &[32, 33, 34, 35, 36, 37, 38, 39],         // bass
    &[0, 1, 2, 3],                             // piano
    &[4, 5],                                   // electric piano
    &[16, 17, 18, 19],                         // organ
    &[24, 25],                                 // acoustic guitar
    &[26, 27, 28],                             // clean electric guitar
    &[29, 30],                                 // distorted guitar
    &[40, 41, 42, 44, 48, 49],                 // strings
    &[56, 57, 58, 59, 60, 61],                 // brass
    &[64, 65, 66, 67, 68, 70, 71, 72, 73, 74], // woodwinds
    &[80, 81, 82, 83, 84, 86, 87],             // synth lead
    &[88, 89, 90, 92, 94, 95],                 // synth pad
    &[52, 53, 54],                             // voice (choir / voice GM programs)
];

/// Variation presets of the training SoundFonts, `(bank, program, class)`: the GM bank-8
/// variations (FluidR3 GM and csound's sf_GMbank: detuned electric pianos and organs, 12-string
/// and funk guitars, …) and sf_GMbank's MT-32 bank 127, whose program numbers are not General
/// MIDI ones (127:0 "Acou Piano 1", 127:3 "Elec Piano 1", …). Most reuse the font's own samples
/// with other envelopes, filters and layers, so they widen the timbres a little, not a lot.
/// Only presets that sound like their class's GM pool are listed: MT-32 presets built from
/// pulse or saw waves that are named after acoustic instruments ("Acou Piano 3", "Elec Piano
/// 2–4", "Tuba") are left out, as are synth brass, pan pipes, English horn and contrabass. A
/// font that lacks a preset simply does not offer it; the test font is never asked for them.
pub const VARIATIONS: &[(u16, u8, Class)] = &[
    (8, 4, EPIANO),
    (8, 5, EPIANO),
    (8, 16, ORGAN),
    (8, 17, ORGAN),
    (8, 19, ORGAN),
    (8, 25, AC_GUITAR),
    (8, 28, CLEAN_GUITAR),
    (8, 38, BASS),
    (8, 39, BASS),
    (8, 40, STRINGS),
    (8, 61, BRASS),
    (127, 0, PIANO),
    (127, 1, PIANO),
    (127, 7, PIANO),
    (127, 3, EPIANO),
    (127, 8, ORGAN),
    (127, 9, ORGAN),
    (127, 10, ORGAN),
    (127, 11, ORGAN),
    (127, 12, ORGAN),
    (127, 13, ORGAN),
    (127, 14, ORGAN),
    (127, 28, BASS),
    (127, 29, BASS),
    (127, 30, BASS),
    (127, 31, BASS),
    (127, 47, SYNTH_LEAD),
    (127, 48, STRINGS),
    (127, 49, STRINGS),
    (127, 50, STRINGS),
    (127, 52, STRINGS),
    (127, 53, STRINGS),
    (127, 54, STRINGS),
    (127, 55, STRINGS),
    (127, 59, AC_GUITAR),
    (127, 60, AC_GUITAR),
    (127, 61, CLEAN_GUITAR),
    (127, 62, CLEAN_GUITAR),
    (127, 64, BASS),
    (127, 65, BASS),
    (127, 66, BASS),
    (127, 67, BASS),
    (127, 68, BASS),
    (127, 69, BASS),
    (127, 70, BASS),
    (127, 71, BASS),
    (127, 72, WOODWINDS),
    (127, 73, WOODWINDS),
    (127, 74, WOODWINDS),
    (127, 75, WOODWINDS),
    (127, 76, WOODWINDS),
    (127, 78, WOODWINDS),
    (127, 79, WOODWINDS),
    (127, 80, WOODWINDS),
    (127, 81, WOODWINDS),
    (127, 82, WOODWINDS),
    (127, 83, WOODWINDS),
    (127, 84, WOODWINDS),
    (127, 86, WOODWINDS),
    (127, 88, BRASS),
    (127, 89, BRASS),
    (127, 90, BRASS),
    (127, 91, BRASS),
    (127, 92, BRASS),
    (127, 93, BRASS),
    (127, 95, BRASS),
    (127, 96, BRASS),
];

/// Class indices by name.
pub const DRUMS: Class = Class(0);
pub const BASS: Class = Class(1);
pub const PIANO: Class = Class(2);
pub const EPIANO: Class = Class(3);
pub const ORGAN: Class = Class(4);
pub const AC_GUITAR: Class = Class(5);
pub const CLEAN_GUITAR: Class = Class(6);
pub const DIST_GUITAR: Class = Class(7);
pub const STRINGS: Class = Class(8);
pub const BRASS: Class = Class(9);
pub const WOODWINDS: Class = Class(10);
pub const SYNTH_LEAD: Class = Class(11);
pub const SYNTH_PAD: Class = Class(12);
pub const VOICE: Class = Class(13);

impl Class {
    /// The class name.
    pub fn name(self) -> &'static str {
        CLASSES[self.0]
    }

    /// Comfortable MIDI note range for parts played by this class.
    pub fn range(self) -> (u8, u8) {
        match self {
            BASS => (28, 55),
            PIANO | EPIANO | ORGAN => (43, 84),
            AC_GUITAR | CLEAN_GUITAR | DIST_GUITAR => (40, 79),
            STRINGS => (43, 88),
            BRASS => (46, 82),
            WOODWINDS => (55, 91),
            SYNTH_LEAD => (55, 91),
            SYNTH_PAD => (43, 79),
            VOICE => (50, 79),
            _ => (36, 96),
        }
    }
}

/// GM percussion keys used by the drum parts, with the drum class used in transcription labels.
pub mod drum_keys {
    pub const KICK: u8 = 36;
    pub const SNARE: u8 = 38;
    pub const SIDE_STICK: u8 = 37;
    pub const CLAP: u8 = 39;
    pub const HH_CLOSED: u8 = 42;
    pub const HH_PEDAL: u8 = 44;
    pub const HH_OPEN: u8 = 46;
    pub const TOM_LOW: u8 = 45;
    pub const TOM_MID: u8 = 47;
    pub const TOM_HIGH: u8 = 50;
    pub const TOM_FLOOR: u8 = 43;
    pub const CRASH: u8 = 49;
    pub const RIDE: u8 = 51;
    pub const RIDE_BELL: u8 = 53;

    /// Transcription class of a GM percussion key: kick, snare, hihat, tom, cymbal, other.
    pub fn class(key: u8) -> &'static str {
        match key {
            35 | 36 => "kick",
            37..=40 => "snare",
            42 | 44 | 46 => "hihat",
            41 | 43 | 45 | 47 | 48 | 50 => "tom",
            49 | 51 | 52 | 53 | 55 | 57 | 59 => "cymbal",
            _ => "other",
        }
    }
}
