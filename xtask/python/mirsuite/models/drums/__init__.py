"""The drum transcriber's model: DrummerNet-style unsupervised transcription (analysis net →
sparse activations → fixed drum synthesizer → onset-enhanced pseudo-CQT loss)."""
