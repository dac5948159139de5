"""Unlabeled real music for semi-supervised training (Mean Teacher, teacher-student): decodes
the recordings of installable packages (OGG Vorbis, FLAC, WAV) to mono 16-bit WAV at the
models' rate, one file per recording, with a manifest (`unlabeled.json`: package, licence,
files, seconds). Deterministic: the same sources give byte-identical files.

    cargo xtask unlabeled --out data/unlabeled            # every source below that is installed
    cargo xtask unlabeled --out DIR --src FOLDER --rate 22050

None of these is a test source of the project (MuseScore General, the AVL kits, the
real-recording split's freepats patches and Hydrogen kits): they are produced game soundtracks,
recorded and mixed outside this project, with no labels.
"""

import argparse
import json
import os
import sys
from math import gcd

import numpy as np

# Debian packages of produced music under free licences (see the README's data table).
SOURCES = [
    {
        "name": "wesnoth",
        "package": "wesnoth-1.16-music",
        "folder": "/usr/share/games/wesnoth/1.16/data/core/music",
        "licence": "GPL-2.0-or-later",
        "what": "The Battle for Wesnoth's orchestral and folk soundtrack (41 tracks, OGG Vorbis)",
    },
]

EXTENSIONS = (".ogg", ".oga", ".flac", ".wav")


def decode(path: str, rate: int) -> np.ndarray:
    """A recording as mono float32 at `rate` (polyphase resampling, SciPy)."""
    import soundfile
    from scipy.signal import resample_poly

    x, sr = soundfile.read(path, dtype="float32", always_2d=True)
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: non-finite samples")
    x = x.mean(axis=1)
    if sr != rate:
        g = gcd(sr, rate)
        x = resample_poly(x, rate // g, sr // g).astype(np.float32)
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cargo xtask unlabeled", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the WAV files and unlabeled.json")
    ap.add_argument("--src", action="append", help="a folder of recordings instead of the packaged sources (repeatable)")
    ap.add_argument("--rate", type=int, default=22050)
    args = ap.parse_args(argv)
    import soundfile

    if args.src:
        sources = [{"name": os.path.basename(os.path.normpath(s)), "package": None, "folder": s, "licence": "the user's own", "what": s} for s in args.src]
    else:
        sources = [s for s in SOURCES if os.path.isdir(s["folder"])]
        if not sources:
            names = ", ".join(s["package"] for s in SOURCES)
            sys.exit(f"no unlabeled source is installed: apt-get install {names}")
    os.makedirs(args.out, exist_ok=True)
    manifest = {"rate": args.rate, "sources": [], "files": []}
    for s in sources:
        paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(s["folder"]) for f in fs if f.lower().endswith(EXTENSIONS))
        if not paths:
            sys.exit(f"{s['folder']}: no recordings ({', '.join(EXTENSIONS)})")
        os.makedirs(os.path.join(args.out, s["name"]), exist_ok=True)
        total = 0.0
        for p in paths:
            try:
                x = decode(p, args.rate)
            except Exception as e:  # a broken file is reported and skipped, the rest go on
                print(f"skipping {p}: {e}", file=sys.stderr)
                continue
            name = os.path.join(s["name"], os.path.splitext(os.path.relpath(p, s["folder"]))[0].replace(os.sep, "_") + ".wav")
            soundfile.write(os.path.join(args.out, name), np.clip(x, -1.0, 1.0), args.rate, subtype="PCM_16", format="WAV")
            seconds = len(x) / args.rate
            total += seconds
            manifest["files"].append({"file": name, "source": p, "seconds": round(seconds, 3)})
        manifest["sources"].append({**s, "recordings": len(paths), "seconds": round(total, 1)})
        print(f"{s['name']}: {len(paths)} recordings, {total / 60:.1f} min -> {os.path.join(args.out, s['name'])}")
    with open(os.path.join(args.out, "unlabeled.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
