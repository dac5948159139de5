"""Constants shared by the separator's data, net, export and metrics (and mirrored by the Rust
crate `separator-model` through the model card)."""

RATE = 44100
N_FFT = 2048
HOP = 512
BINS = N_FFT // 2 + 1
# Separated stems (each a group of the dataset's classes); "other" is the residual.
STEMS = ("drums", "bass", "piano", "guitar")
GROUPS = {
    "drums": ("drums",),
    "bass": ("bass",),
    "piano": ("piano", "electric_piano"),
    "guitar": ("acoustic_guitar", "clean_electric_guitar", "distorted_guitar"),
}
SOURCES = STEMS + ("other",)
# The activity head's classes: every source, "other" included (any class outside the four stems'
# groups), so that the gate can also close "other" and hand its share to the open sources.
CLASSES = SOURCES
# Frames of look-ahead of the model: the masks it outputs at frame t are for frame t - LOOKAHEAD.
LOOKAHEAD = 2
# Longest median filter over the gate (odd); its half length is fixed look-ahead in the plugin.
MEDIAN_MAX = 7
# Floor inside the model's log magnitude.
LOG_FLOOR = 1e-4
# Activity label rate of the dataset (frames per second).
LABEL_RATE = 100
# Systems of the evaluation table, in its order.
SYSTEMS = ("input", "irm", "ibm", "umx", "ungated", "gated")
