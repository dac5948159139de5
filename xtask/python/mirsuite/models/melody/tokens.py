"""One 4/4 measure as 24 tokens, and the four attributes AR-VAE regularizes.

Grid: 6 ticks per quarter-note beat at beat fractions 0, 1/4, 1/3, 1/2, 2/3, 3/4 (sixteenths and
eighth triplets together, as the AR-VAE reference). Tokens: `REST` (no note sounds), `HOLD` (the
note before continues), or a pitch 55–84 (G3–C6) as `FIRST_PITCH + midi − LOWEST`.

Attributes of a measure, as the AR-VAE paper and reference define them:
* rhythmic complexity: the onsets' metrical weights over the weights' sum (27.79): per beat
  `[w, 1, 2, 0.5, 2, 1]` with w = 0.20, 0.67, 0.25, 0.67 on beats 1–4 (off-beat triplets and
  sixteenths count most, downbeats least);
* pitch range: (highest − lowest note) / 26 (0 with fewer than two notes);
* note density: onsets / 24;
* contour: (last − first note) / 26 (0 with fewer than two notes).
"""

from fractions import Fraction

import numpy as np

TICKS = 24
TICKS_PER_BEAT = 6
GRID = (Fraction(0), Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(3, 4))
REST, HOLD, FIRST_PITCH = 0, 1, 2
LOWEST, HIGHEST = 55, 84
VOCAB = FIRST_PITCH + HIGHEST - LOWEST + 1
ATTRIBUTES = ("rhythmic_complexity", "pitch_range", "note_density", "contour")
_BEAT = np.array([0.0, 1.0, 2.0, 0.5, 2.0, 1.0])
WEIGHTS = np.concatenate([np.where(np.arange(6) == 0, w, _BEAT) for w in (0.20, 0.67, 0.25, 0.67)])
RANGE_NORM = 26.0


def attributes(tokens: np.ndarray) -> np.ndarray:
    """`[n, 4]` float32 attributes (order `ATTRIBUTES`) of token measures `[n, 24]`."""
    t = np.asarray(tokens)
    onset = t >= FIRST_PITCH
    n = onset.sum(axis=1)
    rc = (onset * WEIGHTS).sum(axis=1) / WEIGHTS.sum()
    hi = np.where(onset, t.astype(np.int64), -1).max(axis=1).astype(np.float64)
    lo = np.where(onset, t.astype(np.int64), VOCAB).min(axis=1).astype(np.float64)
    pr = np.where(n > 1, (hi - lo) / RANGE_NORM, 0.0)
    nd = n / TICKS
    idx = np.arange(t.shape[1])
    first = np.where(onset, idx, TICKS).min(axis=1)
    last = np.where(onset, idx, -1).max(axis=1)
    rows = np.arange(len(t))
    fp = t[rows, np.minimum(first, TICKS - 1)].astype(np.float64)
    lp = t[rows, np.maximum(last, 0)].astype(np.float64)
    contour = np.where(n > 1, (lp - fp) / RANGE_NORM, 0.0)
    return np.stack([rc, pr, nd, contour], axis=1).astype(np.float32)


def to_tokens(midi_bars: np.ndarray, shift: np.ndarray | int = 0) -> np.ndarray:
    """Tokens of raw measures (`-1` rest, `-2` hold, else MIDI pitch), transposed by `shift`
    semitones (per measure or one for all); pitches must land in 55–84."""
    m = np.asarray(midi_bars, dtype=np.int64)
    shift = np.broadcast_to(np.asarray(shift, dtype=np.int64).reshape(-1, 1) if np.ndim(shift) else shift, m.shape)
    p = m + shift
    note = m >= 0
    if ((p < LOWEST) | (p > HIGHEST))[note].any():
        raise ValueError("a pitch is outside 55-84 after transposition")
    return np.where(note, p - LOWEST + FIRST_PITCH, np.where(m == -2, HOLD, REST)).astype(np.uint8)


def shift_range(midi_bars: np.ndarray):
    """Per measure, the lowest and highest transposition that keeps its notes in 55–84
    (`lo > hi` when none does; measures without notes take any shift, reported as 0..0)."""
    m = np.asarray(midi_bars, dtype=np.int64)
    note = m >= 0
    hi_p = np.where(note, m, -1).max(axis=1)
    lo_p = np.where(note, m, 999).min(axis=1)
    has = note.any(axis=1)
    return np.where(has, LOWEST - lo_p, 0), np.where(has, HIGHEST - hi_p, 0)
