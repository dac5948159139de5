"""Activity training data: per-song log-mel features (cached beside each song), windows and
their 1 s targets, and the augmented training batches.

Targets are the stem-envelope labels max-pooled over each window's second (the thesis' 1 s
clips). Training augments in the log-mel domain so the model sees more timbres than the
training soundfonts hold: level, a random smooth EQ curve (tilt + low-order cosines), a ±2-band
mel shift, band masks, and mixing two windows (power sum, labels OR-ed).
"""

import collections
import itertools
import math
import os

import numpy as np
import torch

from ... import features, wav
from ...data import Dataset
from .config import CONFIG


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
    return wav_features(os.path.join(song_dir, "mix.wav"), os.path.join(song_dir, _cache_name()))


def wav_features(path: str, cache: str):
    """Log-mel of a WAV file's mono downmix, cached in `cache` (recomputed when the WAV is
    newer); returns (features [frames, n_mels], samples)."""
    c = CONFIG
    if os.path.exists(cache) and os.path.getmtime(cache) >= os.path.getmtime(path):
        f = np.load(cache)
        return f, int(round(len(f) * c["hop"]))
    x, sr = wav.read(path)
    if sr != c["sample_rate"]:
        raise ValueError(f"{path}: {sr} Hz, the activity model needs {c['sample_rate']} Hz (render with --rate {c['sample_rate']})")
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


class Clip:
    """An unlabeled recording's features (Mean Teacher's unlabeled data)."""

    def __init__(self, path: str):
        self.name = path
        self.feats, _ = wav_features(path, f"{path}.{_cache_name()}")

    window = Song.window


def load_unlabeled(folder: str):
    """Every WAV file under `folder` (sorted, recursive) as a `Clip`; at least one needed."""
    key = ("unlabeled", folder)
    if key not in _CACHE:
        paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(folder) for f in fs if f.lower().endswith(".wav"))
        if not paths:
            raise SystemExit(f"--unlabeled {folder}: no .wav files there")
        print(f"loading {len(paths)} unlabeled recordings and computing log-mel features…", flush=True)
        _CACHE[key] = [c for c in (Clip(p) for p in paths) if len(c.feats) > 0]
    return _CACHE[key]


def unlabeled_views(clips, rng, size: int, warp_amount: float = 0.0):
    """Two independently augmented views (student, teacher) of `size` random unlabeled windows."""
    x = []
    for _ in range(size):
        c = clips[rng.integers(len(clips))]
        x.append(c.window(int(rng.integers(len(c.feats)))).astype(np.float32))
    x = np.stack(x)
    return augment(x.copy(), rng, warp_amount), augment(x, rng, warp_amount)


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
    unlabeled = getattr(args, "unlabeled", None)
    if unlabeled:
        # Mean Teacher: each labeled batch comes with two views of as many unlabeled windows.
        if workers > 1:
            raise SystemExit("--unlabeled runs with --workers 1")
        clips = load_unlabeled(unlabeled)
        while True:
            x, y, m = make_batch(songs, rng, args.batch, mix_prob, warp_amount)
            us, ut = unlabeled_views(clips, rng, args.batch, warp_amount)
            yield tuple(torch.from_numpy(a).float() for a in (x, y, m, us, ut))
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
