"""dMelodies (Pati, Gururani & Lerch, ISMIR 2020), generated from its nine factors exactly as the
dataset defines them: a 2-bar 4/4 melody arpeggiating I-IV-V-I in a scale, 6 eighth-note onsets
per bar, eighth-note rests elsewhere.

Factors (index order, all combinations: 12·3·3·28·28·2⁴ = 1,354,752 melodies):
tonic C…B; octave 4, 5, 6 of the tonic (C4 = MIDI 60); scale major, harmonic minor, blues;
rhythm of bar 1 and bar 2 (which 6 of the 8 eighth positions have onsets, in
`itertools.combinations` order); arpeggio direction up/down of each of the 4 chords.
The chords are scale-degree triads: I = degrees 0,2,4; IV = 3,5,7; V = 4,6,8; I = 0,2,4, over
a scale extended to nine degrees (the octave and the ninth).

Encoding: 16 tokens (eighth-note grid, 2 bars), `REST` or the MIDI pitch's token
(`pitch - LOWEST + FIRST_PITCH`). Every note lasts one eighth, so no hold tokens occur.
"""

from itertools import combinations, product

import numpy as np

FACTORS = ("tonic", "octave", "scale", "rhythm_bar1", "rhythm_bar2", "arp_chord1", "arp_chord2", "arp_chord3", "arp_chord4")
SIZES = (12, 3, 3, 28, 28, 2, 2, 2, 2)
OCTAVES = (4, 5, 6)
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11, 12, 14),
    "minor": (0, 2, 3, 5, 7, 8, 11, 12, 14),  # harmonic minor
    "blues": (0, 2, 3, 5, 6, 9, 10, 12, 14),
}
CHORDS = ((0, 2, 4), (3, 5, 7), (4, 6, 8), (0, 2, 4))
RHYTHMS = np.array([[int(i in pos) for i in range(8)] for pos in combinations(range(8), 6)], dtype=np.uint8)
TICKS = 16
REST, HOLD, FIRST_PITCH = 0, 1, 2
LOWEST = 60  # C4: the lowest tonic
HIGHEST = 12 * (OCTAVES[-1] + 1) + 11 + 14  # B6 plus the ninth: MIDI 109
VOCAB = FIRST_PITCH + HIGHEST - LOWEST + 1
COUNT = int(np.prod(SIZES))


def factors() -> np.ndarray:
    """Every factor combination, `[COUNT, 9]` uint8, in the dataset's product order."""
    return np.array(list(product(*(range(n) for n in SIZES))), dtype=np.uint8)


def pitches(f: np.ndarray) -> np.ndarray:
    """The 12 MIDI pitches of each melody, `[n, 12]`, from factor rows `[n, 9]`."""
    f = np.asarray(f, dtype=np.int64)
    root = 12 * (np.array(OCTAVES)[f[:, 1]] + 1) + f[:, 0]
    scale = np.array(list(SCALES.values()))[f[:, 2]]  # [n, 9]
    out = np.empty((len(f), 12), dtype=np.int64)
    for c, chord in enumerate(CHORDS):
        up = np.array(chord)
        down = up[::-1]
        degrees = np.where(f[:, 5 + c, None] == 1, down, up)  # [n, 3]
        out[:, 3 * c : 3 * c + 3] = root[:, None] + np.take_along_axis(scale, degrees, axis=1)
    return out


def tokens(f: np.ndarray) -> np.ndarray:
    """The 16-token encodings `[n, 16]` (uint8) of factor rows `[n, 9]`."""
    f = np.asarray(f, dtype=np.int64)
    p = pitches(f) - LOWEST + FIRST_PITCH
    onsets = np.concatenate([RHYTHMS[f[:, 3]], RHYTHMS[f[:, 4]]], axis=1).astype(bool)  # [n, 16]
    out = np.full((len(f), TICKS), REST, dtype=np.uint8)
    # The k-th onset of a melody plays its k-th pitch.
    k = np.cumsum(onsets, axis=1) - 1
    rows = np.nonzero(onsets)
    out[rows] = p[rows[0], k[rows]]
    return out


def split(n: int = COUNT, seed: int = 0, fractions=(0.7, 0.2, 0.1)):
    """Index arrays (train, val, test) of a seeded random permutation (the dMelodies benchmark
    splits 70/20/10)."""
    perm = np.random.default_rng(seed).permutation(n)
    a = int(fractions[0] * n)
    b = a + int(fractions[1] * n)
    return perm[:a], perm[a:b], perm[b:]
