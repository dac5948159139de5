"""Separator training data from a rendered dataset with stems (`cargo xtask dataset --stems`):
each song's mix and its per-class stems, read lazily (memory-mapped WAV), grouped into the
separator's stems; "other" is the mix minus the four stems, so the sources always sum to the mix.

Batches: crops of `--crop` seconds, the mid signal (L+R)/2 of every source. With probability
`--remix` a crop is a new mixture: each source from an independent random song and offset
(Demucs/Open-Unmix-style remixing), each silenced with probability `--silence` (so the gate and
the activity head see absent stems); every source gets a random gain in ±6 dB and the whole
mixture a gain in −12…+3 dB. Activity labels for all five sources (a source is active when any
class of its group is; "other" groups every class outside the four stems' groups), from the
dataset's stem envelopes at 100 frames/s, are read at each STFT frame's centre."""

import json
import os

import numpy as np
import torch
from scipy.io import wavfile

from ...data import Dataset
from .config import CLASSES, GROUPS, HOP, LABEL_RATE, N_FFT, RATE, STEMS
from .dsp import stft


class Song:
    def __init__(self, root: str, split: str, sid: str, classes):
        self.dir = os.path.join(root, split, sid)
        self.id = sid
        with open(os.path.join(self.dir, "meta.json")) as f:
            meta = json.load(f)
        if meta["sample_rate"] != RATE:
            raise SystemExit(f"{self.dir}: {meta['sample_rate']} Hz; the separator trains at {RATE} Hz (cargo xtask dataset --rate {RATE} --stems)")
        self.frames = meta["frames"]
        present = [c for c, p in zip(classes, meta["present"]) if p]
        self.classes = classes
        self.stem_files = {c: os.path.join(self.dir, "stems", f"{c}.wav") for c in present}
        missing = [p for p in self.stem_files.values() if not os.path.exists(p)]
        if missing:
            raise SystemExit(f"{missing[0]} missing: render the dataset with --stems")
        self.groups = {s: [c for c in GROUPS[s] if c in self.stem_files] for s in STEMS}
        self._act = None
        self._mm = {}

    def _read(self, path):
        if path not in self._mm:
            rate, x = wavfile.read(path, mmap=True)
            self._mm[path] = x
        return self._mm[path]

    def mid(self, path, start, n):
        x = self._read(path)[start : start + n]
        out = np.zeros(n, dtype=np.float32)
        out[: len(x)] = x.astype(np.float32).mean(axis=1) / 32768.0
        return out

    def stereo(self, path, start=0, n=None):
        x = self._read(path)
        n = len(x) if n is None else n
        x = x[start : start + n]
        out = np.zeros((2, n), dtype=np.float32)
        out[:, : len(x)] = x.T.astype(np.float32) / 32768.0
        return out

    def sources(self, start, n, stereo=False):
        """[5, n] (or [5, 2, n]) float32: the four stems and other = mix − stems."""
        get = self.stereo if stereo else self.mid
        mix = get(os.path.join(self.dir, "mix.wav"), start, n)
        out = np.zeros((len(STEMS) + 1,) + mix.shape, dtype=np.float32)
        for i, s in enumerate(STEMS):
            for c in self.groups[s]:
                out[i] += get(self.stem_files[c], start, n)
        out[-1] = mix - out[:-1].sum(axis=0)
        return out

    def activity(self):
        """uint8 [label frames, 5]: any class of the source's group active (CLASSES order)."""
        if self._act is None:
            a = np.load(os.path.join(self.dir, "activity.npy"))
            grouped = {c for g in GROUPS.values() for c in g}
            idx = [[self.classes.index(c) for c in GROUPS[s]] for s in STEMS]
            idx.append([i for i, c in enumerate(self.classes) if c not in grouped])
            self._act = np.stack([a[:, i].max(axis=1) for i in idx], axis=1).astype(np.uint8)
        return self._act

    def activity_at(self, start, frames):
        """[5, frames] float32 labels at each STFT frame's centre."""
        a = self.activity()
        centre = start + (np.arange(frames) + 1) * HOP - N_FFT // 2
        idx = np.clip(np.round(centre / (RATE / LABEL_RATE)).astype(int), 0, len(a) - 1)
        return a[idx].T.astype(np.float32)


def load_songs(root: str, split: str, limit: int = 0):
    ds = Dataset(root)
    ids = ds.songs(split)
    if limit:
        ids = ids[:limit]
    if not ids:
        raise SystemExit(f"{root} has no {split} songs")
    return [Song(root, split, s, ds.classes) for s in ids]


def batches(args, rng):
    songs = load_songs(args.data, "train", args.max_songs)
    n = int(args.crop * RATE)
    frames = -(-n // HOP)
    while True:
        mixes, targets, acts = [], [], []
        for _ in range(args.batch):
            if rng.random() < args.remix:
                src = np.zeros((len(STEMS) + 1, n), dtype=np.float32)
                act = np.zeros((len(CLASSES), frames), dtype=np.float32)
                for k in range(len(STEMS) + 1):
                    if rng.random() < args.silence:
                        continue
                    s = songs[rng.integers(len(songs))]
                    start = int(rng.integers(0, max(1, s.frames - n)))
                    src[k] = s.sources(start, n)[k] * 10 ** (rng.uniform(-6, 6) / 20)
                    act[k] = s.activity_at(start, frames)[k]
            else:
                s = songs[rng.integers(len(songs))]
                start = int(rng.integers(0, max(1, s.frames - n)))
                src = s.sources(start, n)
                act = s.activity_at(start, frames)
            # A source whose crop holds no energy is inactive whatever the label says.
            act *= np.abs(src).max(axis=1, keepdims=True) > 1e-4
            src *= 10 ** (rng.uniform(-12, 3) / 20)
            targets.append(src)
            acts.append(act)
        x = torch.from_numpy(np.stack(targets))  # [B, 5, n]
        spec = stft(x)  # [B, 5, F, T]
        mix_mag = spec.sum(1).abs()
        yield [mix_mag.float(), spec.abs().float(), torch.from_numpy(np.stack(acts))]
