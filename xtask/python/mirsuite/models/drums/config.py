"""The drum model's constants (the card carries them to Rust)."""

RATE = 16_000
N_FFT = 1024
HOP = 128  # 8 ms: one activation frame
N_MELS = 96
FMIN = 30.0
FMAX = 8000.0
# Output frame t of the net is for feature frame t - LOOKAHEAD (it has seen LOOKAHEAD frames
# after it); the time-wise sparsemax looks SPARSE_HALF frames either side of a frame.
LOOKAHEAD = 4
SPARSE_HALF = 2

# The synthesizer's components (`cargo xtask drum-templates`, same order) and the transcription
# classes they belong to.
COMPONENTS = ["kick", "snare", "closed hi-hat", "open hi-hat", "tom", "crash", "ride"]
CLASSES = ["kick", "snare", "hihat", "tom", "cymbal"]
COMPONENT_CLASS = [0, 1, 2, 2, 3, 4, 4]
# GM keys the plugin sends per class by default (kick, snare, closed hi-hat, mid tom, crash).
DEFAULT_KEYS = [36, 38, 42, 47, 49]
# The classes the musts score.
SCORED = ["kick", "snare", "hihat"]

# Loss spectrogram (pseudo-CQT): STFT 1024/64, 12 bins per octave over 8 octaves from 32.7 Hz.
CQT_FFT = 1024
CQT_HOP = 64
CQT_BINS = 96
CQT_FMIN = 32.70
