"""Plots a CC timeline CSV written by `cargo xtask render` as a PNG (one row per CC / class).

    python -m mirsuite.timeline out/cc_timeline.csv out/cc_timeline.png
"""

import csv
import sys

import numpy as np


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        rows = list(csv.reader(f))
    header, data = rows[0], np.array([[float(v) for v in r] for r in rows[1:]])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Class names as people write them: "electric_piano" -> "Electric piano".
    names = [h.replace("_", " ").capitalize() for h in header[1:]]
    fig, ax = plt.subplots(figsize=(12, 0.35 * len(names) + 1.5))
    t = data[:, 0] if len(data) else np.zeros(1)
    img = data[:, 1:].T / 127.0 if len(data) else np.zeros((len(names), 1))
    ax.imshow(img, aspect="auto", interpolation="nearest", cmap="Greens", vmin=0, vmax=1, extent=[t[0], t[-1] if len(t) > 1 else 1, len(names) - 0.5, -0.5])
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names)
    ax.set_xlabel("time (s)")
    ax.set_title("Activity timeline (MIDI CC)")
    fig.tight_layout()
    fig.savefig(dst, dpi=100)


if __name__ == "__main__":
    main()
