//! The Melody Generator as a standalone application (JACK, or ALSA through cpal; `--help`
//! lists the options), with the same editor.

fn main() {
    nice_plug::prelude::nice_export_standalone::<melody_generator::MelodyGenerator>();
}
