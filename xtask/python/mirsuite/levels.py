"""Median level of each class's stem relative to the mix, per split, while the stem sounds.

    cargo xtask dataset --out /tmp/lvl --train 0 --val 30 --test 30 --seconds 20 --stems --jobs 1
    PYTHONPATH=xtask/python python3 -m mirsuite.levels /tmp/lvl

Shows whether a SoundFont buries an instrument (the README's piano numbers come from this).
"""

import argparse
import glob
import os

import numpy as np

from . import wav


def frame_power(x: np.ndarray, hop: int) -> np.ndarray:
    p = (x**2).mean(axis=0)
    n = len(p) // hop
    return p[: n * hop].reshape(n, hop).mean(axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="dataset folder rendered with --stems")
    args = ap.parse_args()
    res = {}
    for split in ("train", "val", "test"):
        for d in sorted(glob.glob(os.path.join(args.data, split, "*"))):
            mix, sr = wav.read(os.path.join(d, "mix.wav"))
            hop = sr // 10
            mf = frame_power(mix, hop)
            for f in glob.glob(os.path.join(d, "stems", "*.wav")):
                s, _ = wav.read(f)
                sf = frame_power(s, hop)
                act = sf > 1e-7
                if act.sum() < 5:
                    continue
                rel = 10 * np.log10(sf[act] / np.maximum(mf[act], 1e-12))
                res.setdefault((os.path.basename(f)[:-4], split), []).append(np.median(rel))
    splits = [s for s in ("train", "val", "test") if any(k[1] == s for k in res)]
    print(f"{'class':24s}" + "".join(f"{s:>18s}" for s in splits))
    for c in sorted({k[0] for k in res}):
        cells = []
        for s in splits:
            v = res.get((c, s))
            cells.append(f"{np.median(v):7.1f} dB (n={len(v):3d})" if v else f"{'–':>18s}")
        print(f"{c:24s}" + "".join(f"{x:>18s}" for x in cells))


if __name__ == "__main__":
    main()
