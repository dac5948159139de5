//! Library half of `cargo xtask`: the pieces the integration tests call directly.
//!
//! * [`host`]: a small CLAP host (clack-host) that loads a built plugin and renders audio
//!   through it block by block like a DAW, collecting audio ports and MIDI output.
//! * [`vst3host`]: a minimal VST3 host (the `vst3` crate's bindings) for the VST3 path.
//! * [`audio`]: WAV reading and writing (hound).
//! * [`smf`]: Standard MIDI File writing with sample-exact tick positions (midly).
//! * [`plugins`]: finding the workspace's plugin crates and their bundles.
//! * [`dataset`]: the procedural multitrack renderer and the MUSDB18-HQ importer.
//! * [`eval`], [`bench`]: the generic drivers of `cargo xtask eval` and `bench`; per-model
//!   tooling in [`models`] (one module per model, dispatched by name).
//! * [`fuzz`]: `cargo xtask fuzz`, the seeded host stress test of every plugin.
//! * [`python`]: running the project's Python package in its virtual environment.
//! * [`golden`]: tract against the export's golden outputs, for any model folder.

pub mod audio;
pub mod bench;
pub mod dataset;
pub mod eval;
pub mod fuzz;
pub mod golden;
pub mod host;
pub mod models;
pub mod plugins;
pub mod python;
pub mod smf;
pub mod vst3host;
