"""The gate studies of the 2026-12-08 section of ../README.md (one-off analysis, not part of the
pipeline). Run from the repository root:

    .venv/bin/python models/separator/experiments/scripts/gate_study.py oracle val   # true-label gates, head at 0.2/0.5
    .venv/bin/python models/separator/experiments/scripts/gate_study.py renorm val   # renormalized open masks vs the shipped rule
    .venv/bin/python models/separator/experiments/scripts/gate_study.py windows val  # majority windows of H past / F future frames

Each prints, per system, SDR (per 1 s window where the stem plays, median per song, mean over
songs) / leakage (dB re the mix in the stem's silent 100 ms frames) and the mean SDR."""

import sys

import numpy as np
import torch

sys.path.insert(0, "xtask/python")
from mirsuite.models.separator import metrics as M  # noqa: E402
from mirsuite.models.separator.config import SOURCES  # noqa: E402
from mirsuite.models.separator.data import load_songs  # noqa: E402
from mirsuite.models.separator.dsp import stft  # noqa: E402
from mirsuite.models.separator.net import load_run  # noqa: E402

STEMS_ONLY = [-1]  # "other" always open


def renorm(m, g, floor=M.OTHER_FLOOR):
    """A shut stem's share spread over the open sources in proportion to their masks."""
    g = torch.from_numpy(np.ascontiguousarray(g, dtype=np.float32))[:, None, :]
    stems = (m * g)[:4] / (m * g).sum(0, keepdim=True).clamp(min=floor)
    return torch.cat([stems, (1 - stems.sum(0, keepdim=True)).clamp(min=0)], 0)


def window_gate(p, th, past, future):
    on = (p >= np.asarray(th, dtype=np.float32)[:, None]).astype(np.float32)
    win = np.lib.stride_tricks.sliding_window_view(np.pad(on, ((0, 0), (past, future))), past + future + 1, axis=1)
    return (win.sum(2) > (past + future) / 2).astype(np.float32)


def systems(study, m, p, lab):
    """(name, gated masks) of one song for the study."""
    if study == "oracle":
        yield "true labels", M.gated(m, M.median_gate(lab, [0.5] * 4 + STEMS_ONLY, 5))
        yield "true labels, other too", M.gated(m, M.median_gate(lab, [0.5] * 5, 5))
        for th in (0.2, 0.5):
            yield f"head >= {th}", M.gated(m, M.median_gate(p, [th] * 4 + STEMS_ONLY, 5))
    elif study == "renorm":
        for name, g in (("true labels", M.median_gate(lab, [0.5] * 4 + STEMS_ONLY, 5)), ("head 0.2", M.median_gate(p, [0.2] * 4 + STEMS_ONLY, 5)), ("head 0.4", M.median_gate(p, [0.4] * 4 + STEMS_ONLY, 5))):
            yield name + " (shipped rule)", M.gated(m, g)
            yield name + " (renormalized)", renorm(m, g)
    else:
        for th in (0.1, 0.2, 0.3):
            for past, future in ((2, 2), (3, 3), (8, 2), (16, 2), (10, 10)):
                yield f"head {th} H{past} F{future}", M.gated(m, window_gate(p, [th] * 4 + STEMS_ONLY, past, future))


def main():
    study, split = sys.argv[1], sys.argv[2]
    run = sys.argv[3] if len(sys.argv) > 3 else "runs/separator"
    torch.set_num_threads(2)
    model, _, _ = load_run(run)
    res = {}
    n = M.LEAK_FRAME

    def add(name, src, est):
        d = res.setdefault(name, {"sdr": {s: [] for s in SOURCES}, "le": dict.fromkeys(SOURCES, 0.0), "lm": dict.fromkeys(SOURCES, 0.0)})
        mix = src.sum(0)
        nf = len(mix) // n
        fe = lambda x: (x[: nf * n].reshape(nf, n) ** 2).sum(1)  # noqa: E731
        for k, s in enumerate(SOURCES):
            if np.abs(src[k]).max() > 1e-3:
                w = M.window_sdr(src[k], est[k])
                if len(w):
                    d["sdr"][s].append(np.median(w))
            silent = fe(src[k]) < M.SILENT_RMS**2 * n
            d["le"][s] += fe(est[k])[silent].sum()
            d["lm"][s] += fe(mix)[silent].sum()

    for song in load_songs("data/sep", split):
        src = song.sources(0, song.frames)
        mix = src.sum(0)
        spec = stft(torch.from_numpy(mix))
        m, p = M.masks_for(model, spec.abs())
        p = p.numpy()
        lab = song.activity_at(0, spec.shape[-1])
        add("ungated", src, M.separate(spec, m, len(mix)).numpy())
        for name, gm in systems(study, m, p, lab):
            add(name, src, M.separate(spec, gm, len(mix)).numpy())
    for name, d in res.items():
        cells = " ".join(f"{s} {np.mean(d['sdr'][s]):6.3f}/{10 * np.log10(d['le'][s] / max(d['lm'][s], 1e-12)):6.1f}" for s in SOURCES)
        print(f"{name:<32} {cells}  mean {np.mean([np.mean(d['sdr'][s]) for s in SOURCES]):.3f}", flush=True)


if __name__ == "__main__":
    main()
