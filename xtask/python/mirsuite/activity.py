"""Instrument activity detection: log-mel (1 s context) → CNN → one sigmoid per class.

Features mirror dsp-core (`mirsuite.features`). Two architectures share the input/output contract
([1, n_mels, context] dB → [1, classes] probabilities), so the plugin runs either:
`conv1d` treats mel bands as channels of a 1-D convolution over time; `conv2d` and `allconv`
first look at local time–frequency patterns (harmonics, formants, attacks) with 2-D
convolutions, then reason over time with the mel axis folded into channels (`allconv` reduces
resolution with strided convolutions, which tract runs as fast as ONNX Runtime does). Targets are the stem-envelope labels
max-pooled over each window's second (the thesis' 1 s clips).

Training augments in the log-mel domain so the model sees more timbres than the training
soundfonts hold: level, a random smooth EQ curve (tilt + low-order cosines), a ±2-band mel
shift, band masks, and mixing two windows (power sum, labels OR-ed).
"""

import collections
import itertools
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
CONFIG = dict(sample_rate=22050, n_fft=1024, hop=512, n_mels=64, fmin=30.0, fmax=11025.0, context=43, predict_every=3)


def time_pool(x):
    """[B, C, T] → [B, 2C]: max and mean over time, as whole-window 1-D pooling (MaxPool and
    AveragePool in ONNX). The same numbers as amax/mean, but those export as ReduceMax/ReduceMean,
    which tract runs through a generic per-output-element slicer: about a fifth of the shipped
    model's tract time went to those two nodes, its pooling ops cost next to nothing."""
    t = int(x.shape[-1])
    return torch.cat([F.max_pool1d(x, t).flatten(1), F.avg_pool1d(x, t).flatten(1)], dim=1)


def conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU())


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
        x = time_pool(x)
        return self.head(x)


class ActivityCNN2d(nn.Module):
    """[B, n_mels, T] log-mel (dB) → [B, classes] logits, 2-D front end then 1-D over time."""

    def __init__(self, n_mels=64, n_classes=14, width=12, hidden=192):
        super().__init__()
        w, h = width, hidden
        self.inp = nn.BatchNorm1d(n_mels)
        self.b1 = conv2d_bn(1, w)
        self.b2 = conv2d_bn(w, 2 * w)
        self.b3 = conv2d_bn(2 * w, 4 * w)
        folded = 4 * w * (n_mels // 8)
        self.c4 = conv_bn(folded, h)
        self.c5 = conv_bn(h, h)
        self.head = nn.Sequential(nn.Linear(2 * h, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, n_classes))

    def forward(self, x):
        x = self.inp(x).unsqueeze(1)  # [B, 1, mels, T]
        x = F.max_pool2d(self.b1(x), (2, 2))
        x = F.max_pool2d(self.b2(x), (2, 1))
        x = F.max_pool2d(self.b3(x), (2, 1))
        b, c, f, t = x.shape
        x = x.reshape(b, c * f, t)
        x = F.max_pool1d(self.c4(x), 2)
        x = self.c5(x)
        x = time_pool(x)
        return self.head(x)


def conv2d_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ActivityAllConv(nn.Module):
    """[B, n_mels, T] log-mel (dB) → [B, classes] logits: the 2-D front end of `ActivityCNN2d`
    with strided convolutions instead of max-pooling (tract runs 2-D max-pooling several times
    slower than ONNX Runtime; strided convolutions are plain matrix products for both)."""

    def __init__(self, n_mels=64, n_classes=14, width=16, hidden=256):
        super().__init__()
        w, h = width, hidden
        self.inp = nn.BatchNorm1d(n_mels)
        self.b1 = conv2d_bn(1, w, 2)
        self.b2 = conv2d_bn(w, 2 * w, (2, 1))
        self.b3 = conv2d_bn(2 * w, 4 * w, (2, 1))
        self.c4 = conv_bn(4 * w * (n_mels // 8), h, stride=2)
        self.c5 = conv_bn(h, h)
        self.head = nn.Sequential(nn.Linear(2 * h, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, n_classes))
        # Set by `Exported`: compute c4 in its 2-D form (see `forward`).
        self.export_form = False

    def forward(self, x):
        x = self.b3(self.b2(self.b1(self.inp(x).unsqueeze(1))))
        b, c, f, t = x.shape
        if self.export_form:
            # The same numbers: a Conv1d over the (channel, mel)-folded axis is a Conv2d whose
            # kernel spans the whole mel axis. tract runs this form without a separate im2col
            # pass (`cargo xtask bench --nodes`: c4 ~0.14 → ~0.11 ms); training keeps the
            # Conv1d form the shipped weights were trained with.
            conv = self.c4[0]
            w = conv.weight.view(conv.out_channels, c, f, conv.kernel_size[0])
            y = F.conv2d(x, w, stride=(1, conv.stride[0]), padding=(0, conv.padding[0])).squeeze(2)
            x = self.c4[2](self.c4[1](y))
        else:
            x = self.c4(x.reshape(b, c * f, t))
        return self.head(time_pool(self.c5(x)))


ARCHS = {
    "conv1d": (
        ActivityCNN,
        "BatchNorm → 4× (Conv1d k3 + BN + ReLU; max-pool ×2 after the first two) over time with mel bands as channels → [max, mean] over time → FC 256 → FC classes → sigmoid",
    ),
    "allconv": (
        ActivityAllConv,
        "per-band BatchNorm → 3× (Conv2d 3×3 + BN + ReLU; 16/32/64 channels; strides (2,2),(2,1),(2,1) over (mel, time)) → mel folded into channels → Conv1d k3 stride 2 + BN + ReLU → Conv1d k3 + BN + ReLU (256 ch) → [max, mean] over time → FC 256 → FC classes → sigmoid",
    ),
    "conv2d": (
        ActivityCNN2d,
        "per-band BatchNorm → 3× (Conv2d 3×3 + BN + ReLU + max-pool; 12/24/48 channels; pools (2,2),(2,1),(2,1) over (mel, time)) → mel folded into channels → 2× (Conv1d k3 + BN + ReLU, 192 ch; max-pool ×2 after the first) → [max, mean] over time → FC 256 → FC classes → sigmoid",
    ),
}


def add_args(ap):
    ap.add_argument("--arch", choices=sorted(ARCHS), default="allconv", help="activity model architecture")
    ap.add_argument("--mix-prob", type=float, default=0.3, help="probability of mixing a second window into an example")
    ap.add_argument("--warp", type=float, default=0.0, help="random mel-axis stretch of up to ± this fraction (0: off)")
    ap.add_argument("--width", type=int, default=None, help="allconv/conv2d: channels of the first 2-D convolution (doubling after; default 16 / 12)")
    ap.add_argument("--hidden", type=int, default=None, help="allconv/conv2d: channels of the 1-D convolutions over time (default 256 / 192)")
    ap.add_argument("--workers", type=int, default=1, help="processes building batches (1: the single-stream CPU path)")


def make_net(arch: str, n_classes: int, width=None, hidden=None) -> nn.Module:
    sizes = {k: v for k, v in (("width", width), ("hidden", hidden)) if v is not None}
    if sizes and arch == "conv1d":
        raise SystemExit("--width/--hidden apply to the allconv and conv2d architectures")
    return ARCHS[arch][0](CONFIG["n_mels"], n_classes, **sizes)


def net_sizes(args) -> dict:
    """The --width/--hidden a run was trained with (absent from older runs: the defaults)."""
    return {"width": getattr(args, "width", None), "hidden": getattr(args, "hidden", None)}


class Exported(nn.Module):
    """What ships: probabilities instead of logits. Given several nets (an ensemble, e.g. trained
    on differently rendered data), the mean of their probabilities."""

    def __init__(self, *nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        for n in nets:
            if hasattr(n, "export_form"):
                n.export_form = True

    def forward(self, x):
        probs = [torch.sigmoid(n(x)) for n in self.nets]
        # A sum and a scale (Add, Mul in ONNX), not stack + mean: tract's ReduceMean is slow.
        return probs[0] if len(probs) == 1 else sum(probs[1:], probs[0]) * (1.0 / len(probs))


def build(args):
    ds = Dataset(args.data)
    return make_net(getattr(args, "arch", "conv1d"), len(ds.classes), **net_sizes(args))


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
    # Written under a private name and renamed into place, so a second training process that
    # reads the same dataset never loads a half-written cache.
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            np.save(fh, f)
        os.replace(tmp, cache)
    except OSError:
        try:
            os.remove(tmp)
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


def _draw(songs, rng):
    s = songs[rng.integers(len(songs))]
    t = int(rng.integers(len(s.feats)))
    return s.window(t).astype(np.float32), s.target(t), s.mask


def warp(x: np.ndarray, rng, amount: float) -> np.ndarray:
    """Stretches each example's mel axis about its middle by a random factor in [1 − amount,
    1 + amount] (linear interpolation between bands): formants and spectral envelopes move the
    way they differ between two pianos or two voices, while onsets and rhythm stay put."""
    b, n, _ = x.shape
    scale = rng.uniform(1.0 - amount, 1.0 + amount, (b, 1))
    c = (n - 1) / 2.0
    src = np.clip(c + (np.arange(n)[None, :] - c) / scale, 0.0, n - 1.0)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = (src - lo).astype(np.float32)[:, :, None]
    return (1.0 - w) * np.take_along_axis(x, lo[:, :, None], axis=1) + w * np.take_along_axis(x, hi[:, :, None], axis=1)


def augment(x: np.ndarray, rng, warp_amount: float = 0.0) -> np.ndarray:
    """Level, smooth random EQ, ±2-band mel shift and a band mask on a [B, n_mels, T] dB batch;
    with `warp_amount`, first a random mel-axis stretch (`warp`)."""
    if warp_amount > 0.0:
        x = warp(x, rng, warp_amount).astype(np.float32)
    b, n, _ = x.shape
    m = np.linspace(0.0, 1.0, n, dtype=np.float32)[None, :]
    eq = rng.uniform(-6.0, 6.0, (b, 1)) * (m - 0.5) + rng.uniform(-10.0, 6.0, (b, 1))
    for k in (1, 2, 3):
        eq = eq + rng.uniform(-2.5, 2.5, (b, 1)) * np.cos(np.pi * k * m + rng.uniform(0.0, 2.0 * np.pi, (b, 1)))
    x = x + eq[:, :, None].astype(np.float32)
    shift = rng.integers(-2, 3, b)
    idx = np.clip(np.arange(n)[None, :] - shift[:, None], 0, n - 1)
    x = np.take_along_axis(x, idx[:, :, None], axis=1)
    lo = x.min(axis=(1, 2))
    for i in np.nonzero(rng.random(b) < 0.5)[0]:
        f0 = int(rng.integers(0, n - 8))
        x[i, f0 : f0 + int(rng.integers(1, 8))] = lo[i]
    return x


def make_batch(songs, rng, size: int, mix_prob: float, warp_amount: float = 0.0):
    """One augmented training batch (x [B, n_mels, T] dB, targets, label masks) as numpy arrays."""
    drawn = [_draw(songs, rng) for _ in range(size)]
    x = np.stack([d[0] for d in drawn])
    y = np.stack([d[1] for d in drawn]).astype(np.float32)
    m = np.stack([d[2] for d in drawn]).astype(np.float32)
    mixed = np.nonzero(rng.random(size) < mix_prob)[0]
    if len(mixed):
        # Two windows from different songs played together: power sum, labels OR-ed, the
        # second 0–8 dB quieter so both stay audible (the labels allow 25 dB below the mix).
        other = [_draw(songs, rng) for _ in mixed]
        x2 = np.stack([d[0] for d in other]) - rng.uniform(0.0, 8.0, (len(mixed), 1, 1)).astype(np.float32)
        x[mixed] = 10.0 * np.log10(10.0 ** (x[mixed] / 10.0) + 10.0 ** (x2 / 10.0))
        y[mixed] = np.maximum(y[mixed], np.stack([d[1] for d in other]))
        m[mixed] = m[mixed] * np.stack([d[2] for d in other])
    return augment(x, rng, warp_amount), y, m


_POOL_SONGS = None


def _pool_batch(job):
    seed, k, size, mix_prob, warp_amount = job
    return make_batch(_POOL_SONGS, np.random.default_rng([seed, k]), size, mix_prob, warp_amount)


def batches(args, rng):
    """Training batches. With --workers 1 (default) one generator stream, as the shipped model was
    trained; with more, batch k is drawn from its own generator seeded (seed, k) in a pool of
    forked workers, so the batches do not depend on the number of workers (GPU runs, where one
    Python thread cannot keep up with the GPU)."""
    global _POOL_SONGS
    songs = load_split(args, "train")
    mix_prob = getattr(args, "mix_prob", 0.0)
    warp_amount = getattr(args, "warp", 0.0)
    workers = getattr(args, "workers", 1)
    if workers <= 1:
        while True:
            x, y, m = make_batch(songs, rng, args.batch, mix_prob, warp_amount)
            yield (torch.from_numpy(x).float(), torch.from_numpy(y), torch.from_numpy(m))
    import multiprocessing as mp

    _POOL_SONGS = songs
    ks = itertools.count(getattr(args, "start_step", 0))
    with mp.get_context("fork").Pool(workers) as pool:
        # A bounded queue of batches in flight, consumed in order.
        def submit():
            return pool.apply_async(_pool_batch, ((args.seed, next(ks), args.batch, mix_prob, warp_amount),))

        pending = collections.deque(submit() for _ in range(2 * workers))
        while True:
            x, y, m = pending.popleft().get()
            pending.append(submit())
            yield (torch.from_numpy(x).float(), torch.from_numpy(y), torch.from_numpy(m))


def loss(model, batch):
    x, y, m = batch
    raw = F.binary_cross_entropy_with_logits(model(x), y, reduction="none")
    return (raw * m).sum() / m.sum().clamp(min=1.0)


def predict_segments(model, songs, dev, probabilities=False):
    """Probabilities at the end of every whole second of every song (PyTorch path). `model`
    returns logits, or probabilities with `probabilities` (an `Exported` module)."""
    probs, labels, track = [], [], []
    for i, s in enumerate(songs):
        ts, ys = s.segments()
        if not ts:
            continue
        x = torch.from_numpy(np.stack([s.window(t) for t in ts])).float().to(dev)
        with torch.no_grad():
            out = model(x)
            probs.append((out if probabilities else torch.sigmoid(out)).cpu().numpy())
        labels.append(ys)
        track += [i] * len(ts)
    return np.concatenate(probs), np.concatenate(labels), np.array(track)


def validate(model, args, dev):
    songs = load_split(args, "val")
    classes = Dataset(args.data).classes
    p, l, tr = predict_segments(model, songs, dev)
    s = metrics.scale_metrics(p, l, [0.5] * len(classes), classes)
    return {"auroc": s["auroc"], "lrap": s["lrap"], "f1@0.5": s["f1"]}
