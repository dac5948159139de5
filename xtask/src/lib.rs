//! Library half of `cargo xtask`: the pieces the integration tests call directly.
//!
//! * [`host`]: a small CLAP host (clack-host) that loads a built plugin and renders audio
//!   through it block by block like a DAW, collecting audio ports and MIDI output.
//! * [`audio`]: WAV reading and writing (hound).
//! * [`smf`]: Standard MIDI File writing with sample-exact tick positions (midly).
//! * [`plugins`]: finding the workspace's plugin crates and their bundles.
//! * [`dataset`]: the procedural multitrack renderer and the MUSDB18-HQ importer.

pub mod audio;
pub mod bench;
pub mod dataset;
pub mod eval;
pub mod host;
pub mod plugins;
pub mod smf;
