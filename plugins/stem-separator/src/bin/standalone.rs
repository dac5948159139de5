//! The Stem Separator as a standalone application: the plugin and its editor, hosted by
//! nice-plug's standalone wrapper (JACK, or ALSA through cpal; `--help` lists the options).

fn main() {
    nice_plug::prelude::nice_export_standalone::<stem_separator::StemSeparator>();
}
