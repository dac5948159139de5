"""Folk melodies from music21's public-domain corpus as 4/4 measures on the 24-tick grid.

Sources (music21's `corpus`, installed with the pinned `music21` package): the Essen folksong
collection (`essenFolksong`, ABC) and Ryan's Mammoth Collection (`ryansMammoth`, ABC). A tune is
kept when every bar of it lasts 4 or 8 quarter notes in a duple or quadruple metre (4/4, 2/2,
4/2: the last two are cut into 4-quarter measures on their barlines and half-bars), it has one
voice without chords, and every note starts and ends on the grid (`tokens.GRID`; tunes off the
grid are dropped, nothing is quantized). A pickup
bar is padded with rests at its start, so every measure starts on a downbeat. Notes tied into a
measure are holds there. Measures without a note are dropped.

Stored raw (`-1` rest, `-2` hold, MIDI pitch otherwise), untransposed; training transposes each
measure into 55–84 (`tokens.shift_range`). Splits are by tune (seeded, 80/10/10), so no tune
has measures on both sides.

    python -m mirsuite.models.melody.folk --out data/melody     # writes data/melody/folk.npz
(`cargo xtask train melody` builds it on first use.)
"""

import argparse
import os
import sys
import time
from fractions import Fraction

import numpy as np

from .tokens import GRID, TICKS, TICKS_PER_BEAT

SOURCES = ("essenFolksong", "ryansMammoth")
SPLIT = (0.8, 0.1, 0.1)
SPLIT_SEED = 0
FILE = "folk.npz"


def _tick(offset) -> int | None:
    """The grid tick of a quarter-length offset, or None off the grid."""
    q = Fraction(offset).limit_denominator(96)
    beat, frac = divmod(q, 1)
    for i, g in enumerate(GRID):
        if frac == g:
            return int(beat) * TICKS_PER_BEAT + i
    return None


def tune_measures(score) -> np.ndarray | None:
    """A tune's measures `[n, 24]` (raw: -1 rest, -2 hold, MIDI), or None when it is not a
    one-voice tune in 4/4, 2/2 or 4/2 on the grid."""
    from music21 import chord, meter, note

    sigs = list(score.recurse().getElementsByClass(meter.TimeSignature))
    if not sigs or any(s.denominator not in (2, 4) or s.barDuration.quarterLength not in (4.0, 8.0) for s in sigs):
        return None
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    if len(parts) != 1:
        return None
    part = parts[0]
    measures = list(part.getElementsByClass("Measure"))
    pad = Fraction(0)
    if measures and measures[0].paddingLeft:
        pad = Fraction(measures[0].paddingLeft).limit_denominator(96)
    events = []
    for n in part.flatten().notesAndRests:
        if isinstance(n, chord.Chord):
            return None
        dur = Fraction(n.duration.quarterLength).limit_denominator(96)
        if dur == 0:  # grace notes
            continue
        start = Fraction(n.getOffsetInHierarchy(part)).limit_denominator(96) + pad
        a, b = _tick(start), _tick(start + dur)
        if a is None or b is None or b <= a:
            return None
        if isinstance(n, note.Note):
            tied = n.tie is not None and n.tie.type in ("stop", "continue")
            events.append((a, b, -2 if tied else int(n.pitch.midi)))
    if not events:
        return None
    length = max(b for _, b, _ in events)
    bars = -(-length // TICKS)
    line = np.full(bars * TICKS, -1, dtype=np.int16)
    for a, b, p in events:
        line[a] = p
        line[a + 1 : b] = -2
    m = line.reshape(bars, TICKS)
    return m[(m >= 0).any(axis=1)]


def build(out_dir: str) -> str:
    """Parses the corpus and writes `out_dir/folk.npz`; returns its path."""
    from music21 import converter, corpus

    os.makedirs(out_dir, exist_ok=True)
    bars, tune_of, names = [], [], []
    t0 = time.time()
    seen = kept = 0
    for source in SOURCES:
        paths = sorted(corpus.getComposer(source))
        if not paths:
            sys.exit(f"music21's corpus has no {source!r} (install the pinned music21 with `bash xtask/python/venv.sh`)")
        for i, p in enumerate(paths):
            try:
                parsed = converter.parse(p, format="abc")
            except Exception as e:  # a broken file is skipped, named
                print(f"skipping {p.name}: {e}", file=sys.stderr)
                continue
            scores = list(parsed.scores) if hasattr(parsed, "scores") else [parsed]
            for k, s in enumerate(scores):
                seen += 1
                m = tune_measures(s)
                if m is None or len(m) == 0:
                    continue
                kept += 1
                title = (s.metadata.title if s.metadata and s.metadata.title else "") or f"#{k}"
                names.append(f"{source}/{p.stem}/{k}:{title}")
                bars.append(m)
                tune_of.append(np.full(len(m), len(names) - 1, dtype=np.int32))
            if i % 50 == 0:
                print(f"{source}: {i + 1}/{len(paths)} files, {kept}/{seen} tunes kept, {time.time() - t0:.0f} s", flush=True)
    all_bars = np.concatenate(bars)
    tunes = np.concatenate(tune_of)
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(names))
    a, b = int(SPLIT[0] * len(names)), int((SPLIT[0] + SPLIT[1]) * len(names))
    split_of_tune = np.zeros(len(names), dtype=np.uint8)
    split_of_tune[perm[a:b]] = 1
    split_of_tune[perm[b:]] = 2
    path = os.path.join(out_dir, FILE)
    np.savez_compressed(path, bars=all_bars, tune=tunes, split=split_of_tune[tunes], names=np.array(names))
    print(f"{kept} of {seen} tunes, {len(all_bars)} measures -> {path} ({time.time() - t0:.0f} s)")
    return path


def load(data_dir: str) -> dict:
    """`folk.npz` from `data_dir` (built first when missing): bars, tune, split (0 train, 1 val,
    2 test), names."""
    path = os.path.join(data_dir, FILE)
    if not os.path.exists(path):
        build(data_dir)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="data/melody")
    build(ap.parse_args(argv).out)


if __name__ == "__main__":
    main()
