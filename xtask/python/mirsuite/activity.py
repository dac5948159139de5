"""Instrument activity detection: log-mel (1 s context) → CNN → one sigmoid per class.

Features mirror dsp-core (`mirsuite.features`), and the model treats mel bands as channels of a
1-D convolution over time, which tract runs at full speed. Targets are the stem-envelope labels
max-pooled over each window's second (the thesis' 1 s clips).
"""

import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import features, metrics
from .data import Dataset

SELECT = "auroc"

# Feature and model configuration, written into the model card.
CONFIG = dict(sample_rate=22050, n_fft=1024, hop=512, n_mels=64, fmin=30.0, fmax=11025.0, context=43, predict_every=2)


def conv_bn(cin, cout, k=3):
    return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU())


class ActivityCNN(nn.Module):
    """[B, n_mels, T] log-mel (dB) → [B, classes] logits."""

    def __init__(self, n_mels=64, n_classes=14, width=128):
        super().__init__()
        self.inp = nn.BatchNorm1d(n_mels)
        self.c1 = conv_bn(n_mels, width)
        self.c2 = conv_bn(width, width)
        self.c3 = conv_bn(width, 2 * width)
        self.c4 = conv_bn(2 * width, 2 * width)
        self.head = nn.Sequential(nn.Linear(4 * width, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, n_classes))

    def forward(self, x):
        x = self.inp(x)
        x = F.max_pool1d(self.c1(x), 2)
        x = F.max_pool1d(self.c2(x), 2)
        x = self.c4(self.c3(x))
        x = torch.cat([x.amax(dim=-1), x.mean(dim=-1)], dim=1)
        return self.head(x)


class Exported(nn.Module):
    """What ships: probabilities instead of logits."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.sigmoid(self.net(x))


def build(args):
    ds = Dataset(args.data)
    return ActivityCNN(CONFIG["n_mels"], len(ds.classes))


class Song:
    """One song's features and labels, with window targets."""

    def __init__(self, ds: Dataset, split: str, name: str):
        c = CONFIG
        self.name = name
        self.feats, n = song_features(ds.song_dir(split, name), ds.sample_rate)
        self.seconds = n / c["sample_rate"]
        self.labels, self.mask = ds.activity(split, name)
        self.label_rate = ds.label_rate

    def window(self, t: int) -> np.ndarray:
        """[n_mels, context] features of the window ending at frame t (floor −100 dB before the start)."""
        ctx = CONFIG["context"]
        a = t - ctx + 1
        if a >= 0:
            return self.feats[a : t + 1].T
        pad = np.full((-a, CONFIG["n_mels"]), -100.0, dtype=np.float32)
        return np.concatenate([pad, self.feats[: t + 1]]).T

    def target(self, t: int) -> np.ndarray:
        """Max of the labels over the window's second of audio."""
        c = CONFIG
        end = (t + 1) * c["hop"] / c["sample_rate"]
        start = end - c["context"] * c["hop"] / c["sample_rate"]
        a = max(0, int(math.floor(start * self.label_rate)))
        b = min(len(self.labels), max(a + 1, int(math.ceil(end * self.label_rate))))
        return self.labels[a:b].max(axis=0)

    def segments(self):
        """Frame index ending each whole 1 s segment, and the segment's labels."""
        c = CONFIG
        out_t, out_y = [], []
        for k in range(int(self.seconds)):
            t = int(round((k + 1) * c["sample_rate"] / c["hop"])) - 1
            if t >= len(self.feats):
                break
            a, b = k * self.label_rate, min(len(self.labels), (k + 1) * self.label_rate)
            out_t.append(t)
            out_y.append(self.labels[a:b].max(axis=0))
        return out_t, np.array(out_y)


def _cache_name():
    c = CONFIG
    return "logmel-{sample_rate}-{n_fft}-{hop}-{n_mels}-{fmin:g}-{fmax:g}.npy".format(**c)


def song_features(song_dir: str, rate: int):
    """Log-mel of a song's mono mix, cached beside it; returns (features [frames, n_mels], samples)."""
    from . import wav

    c = CONFIG
    cache = os.path.join(song_dir, _cache_name())
    meta = os.path.join(song_dir, "mix.wav")
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(meta):
        f = np.load(cache)
        return f, int(round(len(f) * c["hop"]))
    x, sr = wav.read(meta)
    if sr != c["sample_rate"]:
        raise ValueError(f"{meta}: {sr} Hz, the activity model needs {c['sample_rate']} Hz (render with --rate {c['sample_rate']})")
    x = x.mean(axis=0).astype(np.float32)
    f = features.logmel(x, c["sample_rate"], c["n_fft"], c["hop"], c["n_mels"], c["fmin"], c["fmax"], fb=_fb())
    try:
        np.save(cache, f)
    except OSError:
        pass
    return f, len(x)


def _warm(args):
    song_dir, rate = args
    song_features(song_dir, rate)
    return 0


_FB = None


def _fb():
    global _FB
    if _FB is None:
        c = CONFIG
        _FB = features.mel_filterbank(c["sample_rate"], c["n_fft"], c["n_mels"], c["fmin"], c["fmax"])
    return _FB


_CACHE = {}


def load_split(args, split):
    key = (args.data, split, args.max_songs)
    if key not in _CACHE:
        ds = Dataset(args.data)
        names = ds.songs(split)
        if args.max_songs:
            names = names[: args.max_songs]
        if not names:
            raise ValueError(f"split {split!r} of {args.data} is empty")
        print(f"loading {len(names)} {split} songs and computing log-mel features…", flush=True)
        workers = max(1, getattr(args, "threads", 1))
        if workers > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(workers) as pool:
                pool.map(_warm, [(ds.song_dir(split, n), ds.sample_rate) for n in names], chunksize=16)
        _CACHE[key] = [Song(ds, split, n) for n in names]
    return _CACHE[key]


def batches(args, rng):
    songs = load_split(args, "train")
    while True:
        xs, ys, ms = [], [], []
        for _ in range(args.batch):
            s = songs[rng.integers(len(songs))]
            t = int(rng.integers(len(s.feats)))
            x = s.window(t).copy()
            # Level invariance and a little spectral masking.
            x += rng.uniform(-10.0, 6.0)
            if rng.random() < 0.5:
                f0 = int(rng.integers(0, CONFIG["n_mels"] - 8))
                x[f0 : f0 + int(rng.integers(1, 8))] = x.min()
            xs.append(x)
            ys.append(s.target(t))
            ms.append(s.mask)
        yield (torch.from_numpy(np.stack(xs)).float(), torch.from_numpy(np.stack(ys)).float(), torch.from_numpy(np.stack(ms)).float())


def loss(model, batch):
    x, y, m = batch
    raw = F.binary_cross_entropy_with_logits(model(x), y, reduction="none")
    return (raw * m).sum() / m.sum().clamp(min=1.0)


def predict_segments(model, songs, dev):
    """Probabilities at the end of every whole second of every song (PyTorch path)."""
    probs, labels, track = [], [], []
    for i, s in enumerate(songs):
        ts, ys = s.segments()
        if not ts:
            continue
        x = torch.from_numpy(np.stack([s.window(t) for t in ts])).float().to(dev)
        with torch.no_grad():
            probs.append(torch.sigmoid(model(x)).cpu().numpy())
        labels.append(ys)
        track += [i] * len(ts)
    return np.concatenate(probs), np.concatenate(labels), np.array(track)


def validate(model, args, dev):
    songs = load_split(args, "val")
    classes = Dataset(args.data).classes
    p, l, tr = predict_segments(model, songs, dev)
    s = metrics.scale_metrics(p, l, [0.5] * len(classes), classes)
    return {"auroc": s["auroc"], "lrap": s["lrap"], "f1@0.5": s["f1"]}
