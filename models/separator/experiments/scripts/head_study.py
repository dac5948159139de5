"""The activity-head study of the 2026-12-08 section of ../README.md (one-off analysis, not part
of the pipeline): heads retrained on the frozen body's latent. Run from the repository root:

    .venv/bin/python models/separator/experiments/scripts/head_study.py

It extracts, per frame of 240 training songs and of the val and test splits, the latent, each
source's masked energy re the mix and the mix energy (cached in target/sep-experiments), trains
each head for 8 epochs of Adam on the training frames and prints activity F1 at 0.5 (best
threshold in brackets) for drums, bass, piano, guitar, other."""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.signal import lfilter

sys.path.insert(0, "xtask/python")
from mirsuite.models.separator.config import LOOKAHEAD, SOURCES  # noqa: E402
from mirsuite.models.separator.data import load_songs  # noqa: E402
from mirsuite.models.separator.dsp import stft  # noqa: E402
from mirsuite.models.separator.net import load_run  # noqa: E402

CACHE = "target/sep-experiments"


@torch.no_grad()
def song_features(net, mag):
    x0 = F.pad(mag, (0, LOOKAHEAD))[None]
    x = net.features(x0)
    for conv, level in zip(net.enc_in, net.enc):
        x = F.gelu(conv(x))
        for b in level:
            x, _ = b(x)
    masks, act, _ = net(x0)
    m, lat = masks[0, ..., LOOKAHEAD:], x[0, :, LOOKAHEAD:]
    me = (mag**2).sum(0) + 1e-10
    e = torch.log(((m * mag[None]) ** 2).sum(1) + 1e-10) - torch.log(me)[None]
    return lat.numpy(), e.numpy(), torch.log(me).numpy()[None], torch.sigmoid(act[0, :, LOOKAHEAD:]).numpy()


def split_features(net, split, n):
    path = os.path.join(CACHE, f"{split}.npz")
    if not os.path.exists(path):
        out = {k: [] for k in ("lat", "e", "me", "p", "y", "song")}
        for i, s in enumerate(load_songs("data/sep", split, n)):
            mag = stft(torch.from_numpy(s.sources(0, s.frames).sum(0))).abs()
            for k, v in zip(("lat", "e", "me", "p"), song_features(net, mag)):
                out[k].append(v.astype(np.float32))
            out["y"].append(s.activity_at(0, mag.shape[-1]))
            out["song"].append(np.full(mag.shape[-1], i))
        os.makedirs(CACHE, exist_ok=True)
        np.savez(path, **{k: np.concatenate(v, -1) for k, v in out.items()})
    d = np.load(path)
    return {k: d[k] for k in d.files}


def inputs(d, energies, taus):
    base = np.concatenate([d["lat"], d["e"], d["me"] / 10], 0) if energies else d["lat"]
    feats = [base]
    for t in taus:  # causal moving averages (one-pole) per song
        a, avg = 1 - 1 / t, np.zeros_like(base)
        for s in np.unique(d["song"]):
            i = d["song"] == s
            avg[:, i] = lfilter([1 - a], [1, -a], base[:, i], axis=1)
        feats.append(avg)
    return np.concatenate(feats, 0).T


def f1(p, y):
    tp = (p * y).sum()
    return 2 * tp / max(2 * tp + (p * (1 - y)).sum() + ((1 - p) * y).sum(), 1e-9)


def report(name, P, d):
    Y = d["y"].T
    best = [max(f1((P[:, k] >= t).astype(float), Y[:, k]) for t in np.arange(0.05, 0.96, 0.05)) for k in range(len(SOURCES))]
    print(name, " ".join(f"{s} {f1((P[:, k] >= 0.5).astype(float), Y[:, k]):.3f} ({b:.3f})" for k, (s, b) in enumerate(zip(SOURCES, best))), flush=True)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net, _, _ = load_run("runs/separator")
    tr, va, te = split_features(net, "train", 240), split_features(net, "val", 0), split_features(net, "test", 0)
    report("shipped head, val ", va["p"].T, va)
    report("shipped head, test", te["p"].T, te)
    for energies, hidden, taus in ((False, 0, ()), (False, 128, ()), (True, 0, ()), (True, 128, ()), (True, 0, (8, 32, 128)), (True, 128, (8, 32, 128)), (True, 0, (16, 64, 256))):
        x = torch.tensor(inputs(tr, energies, taus))
        y = torch.tensor(tr["y"].T)
        mu, sd = x.mean(0), x.std(0) + 1e-4
        head = nn.Linear(x.shape[1], 5) if hidden == 0 else nn.Sequential(nn.Linear(x.shape[1], hidden), nn.GELU(), nn.Linear(hidden, 5))
        opt = torch.optim.Adam(head.parameters(), 3e-3, weight_decay=1e-5)
        for _ in range(8):
            perm = torch.randperm(len(x))
            for i in range(0, len(x), 1024):
                idx = perm[i : i + 1024]
                loss = F.binary_cross_entropy_with_logits(head((x[idx] - mu) / sd), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        name = f"{'latent+energies' if energies else 'latent'} hidden {hidden} context {taus}"
        with torch.no_grad():
            for split, d in (("val", va), ("test", te)):
                report(f"{name}, {split}", torch.sigmoid(head((torch.tensor(inputs(d, energies, taus)) - mu) / sd)).numpy(), d)


if __name__ == "__main__":
    main()
