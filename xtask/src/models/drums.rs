//! The Drum Transcriber's model (`xtask/python/mirsuite/models/drums/`): unsupervised
//! DrummerNet-style training on the synthesizer templates of `cargo xtask drum-templates`;
//! the Rust task, export and `cargo xtask eval drums` come with the plugin (issue 16).

use super::ModelTools;

/// The drum model's tooling.
pub struct Drums;

impl ModelTools for Drums {
    fn name(&self) -> &'static str {
        "drums"
    }
}
