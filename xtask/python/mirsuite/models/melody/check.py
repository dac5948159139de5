"""Checks of the melody data and attributes that CI runs (`python -m mirsuite.models.melody.check`):
dMelodies has its 1,354,752 distinct melodies with the specified pitches, the attributes give
hand-computed values (and their differentiable mirror the same), and folk tunes are cut into measures as documented (pickup padded, ties
held, other metres and off-grid rhythms refused)."""

import numpy as np

from . import dmelodies, folk
from .tokens import FIRST_PITCH, HOLD, LOWEST, REST, attributes, shift_range, to_tokens

TUNE = """X:1
T:check
M:4/4
L:1/8
K:C
G | c2 e2 g2 (3efg | a4- a2 z2 | G8 |]
"""


def check_dmelodies():
    f = dmelodies.factors()
    assert len(f) == dmelodies.COUNT == 1_354_752
    t = dmelodies.tokens(f)
    assert len(np.unique(t, axis=0)) == len(t), "dMelodies melodies are not distinct"
    # C major, octave 4, all onsets first, all arpeggios up: C E G | F A C' | G B D' | C E G.
    assert dmelodies.pitches(f[:1]).tolist() == [[60, 64, 67, 65, 69, 72, 67, 71, 74, 60, 64, 67]]
    assert ((t >= dmelodies.FIRST_PITCH).sum(axis=1) == 12).all(), "a melody without 12 notes"
    # Blues in B, octave 6, chord 3 down: the highest pitch is B6 + the ninth = MIDI 109.
    assert t.max() == dmelodies.VOCAB - 1 and dmelodies.LOWEST + dmelodies.VOCAB - 1 - dmelodies.FIRST_PITCH == 109
    tr, va, te = dmelodies.split()
    assert len(tr) + len(va) + len(te) == len(t) and len(np.intersect1d(tr, te)) == 0


def check_attributes():
    m = np.full((3, 24), -1)
    m[0, 0], m[0, 1:6], m[0, 6], m[0, 12], m[0, 18] = 60, -2, 64, 67, 62  # quarter, then 3 onsets on beats
    m[1, 2], m[1, 8] = 72, 60  # triplet positions of beats 1 and 2, falling
    a = attributes(to_tokens(m))
    assert np.allclose(a[0], [(0.20 + 0.67 + 0.25 + 0.67) / 27.79, 7 / 26, 4 / 24, 2 / 26], atol=1e-6), a[0]
    assert np.allclose(a[1], [4 / 27.79, 12 / 26, 2 / 24, -12 / 26], atol=1e-6), a[1]
    assert np.allclose(a[2], 0), a[2]
    lo, hi = shift_range(m)
    assert (lo[0], hi[0]) == (LOWEST - 60, 84 - 67) and (lo[2], hi[2]) == (0, 0)
    tok = to_tokens(m)
    assert tok[0, 0] == FIRST_PITCH + 60 - LOWEST and tok[0, 1] == HOLD and tok[0, 23] == REST and tok[2, 0] == REST


def check_soft_attributes():
    """The differentiable attributes of one-hot measures equal the hard ones (random measures
    and the hand-computed ones above)."""
    import torch

    from .net import soft_attributes
    from .tokens import VOCAB

    rng = np.random.default_rng(0)
    t = rng.integers(0, VOCAB, size=(512, 24))
    t[:128] = np.where(rng.random((128, 24)) < 0.8, rng.integers(0, 2, size=(128, 24)), t[:128])  # sparse measures
    m = np.full((2, 24), -1)
    m[0, 2], m[0, 8] = 72, 60
    t = np.concatenate([t, to_tokens(m)])
    soft = soft_attributes(torch.nn.functional.one_hot(torch.from_numpy(t.astype(np.int64)), VOCAB).double()).numpy()
    assert np.allclose(soft, attributes(t), atol=1e-6), np.abs(soft - attributes(t)).max(axis=0)


def check_folk():
    from music21 import converter

    bars = folk.tune_measures(converter.parse(TUNE, format="abc"))
    assert bars is not None and bars.shape == (4, 24), bars
    # Pickup G (an eighth) at the end of a padded first measure.
    assert (bars[0, :21] == -1).all() and bars[0, 21] == 67 and (bars[0, 22:] == -2).all(), bars[0]
    # c2 e2 g2 quarters, then the eighth triplet e f g on beat 4's ticks 0, 2, 4.
    assert bars[1, [0, 6, 12, 18, 20, 22]].tolist() == [72, 76, 79, 76, 77, 79], bars[1]
    # a4- a2 tied: a half note plus a held quarter, then a quarter rest.
    assert bars[2, 0] == 81 and (bars[2, 1:18] == -2).all() and (bars[2, 18:] == -1).all(), bars[2]
    assert bars[3, 0] == 67 and (bars[3, 1:] == -2).all(), bars[3]
    assert folk.tune_measures(converter.parse(TUNE.replace("M:4/4", "M:3/4").replace("G8", "G6"), format="abc")) is None
    assert folk.tune_measures(converter.parse(TUNE.replace("(3efg", "(5efgab"), format="abc")) is None


def main(argv=None):
    check_attributes()
    check_soft_attributes()
    check_folk()
    check_dmelodies()
    print("melody data: dMelodies 1,354,752 distinct melodies, attributes and folk measures as specified")


if __name__ == "__main__":
    main()
