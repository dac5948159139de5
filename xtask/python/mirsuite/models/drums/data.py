"""Drum model data from a rendered dataset with stems (`cargo xtask dataset --stems`): each song's
drum stem (or its whole mix, for the full-mix evaluation), mono at the model's 16 kHz, and the
renderer's `drum_onsets` (time, class, key, velocity), which training never reads: they only
score the model and pick the peak-picking thresholds on the val split.

Training batches (unsupervised): crops of `--crop` seconds of drum stems, each brought to an RMS
of −20 dBFS ± 6 dB, with their log-mel features (the Rust features' mirror) and a kit drawn at
random per crop from the synthesizer templates (`cargo xtask drum-templates`)."""

import json
import os

import numpy as np
import torch
from scipy.signal import resample_poly

from ... import wav
from ...data import Dataset
from ...features import logmel, mel_filterbank
from .config import CLASSES, COMPONENTS, FMAX, FMIN, HOP, N_FFT, N_MELS, RATE

_FB = None


def features(x: np.ndarray) -> np.ndarray:
    """[N_MELS, frames] float32 log-mel (dB) of a mono 16 kHz signal: dsp-core's `LogMel`."""
    global _FB
    if _FB is None:
        _FB = mel_filterbank(RATE, N_FFT, N_MELS, FMIN, FMAX)
    return logmel(x, RATE, N_FFT, HOP, N_MELS, FMIN, FMAX, fb=_FB).T.copy()


def to_model_rate(x: np.ndarray, rate: int) -> np.ndarray:
    if rate == RATE:
        return x.astype(np.float32)
    g = np.gcd(rate, RATE)
    return resample_poly(x.astype(np.float64), RATE // g, rate // g).astype(np.float32)


def read_mono(path: str) -> np.ndarray:
    x, rate = wav.read(path)
    return to_model_rate(x.mean(axis=0), rate)


class DrumSong:
    """One song: `audio()` (mono, 16 kHz) of its drum stem or mix, and `onsets()` per class."""

    def __init__(self, root: str, split: str, sid: str, source: str = "drums"):
        self.dir = os.path.join(root, split, sid)
        self.id, self.source = sid, source
        with open(os.path.join(self.dir, "meta.json")) as f:
            meta = json.load(f)
        self.onset_list = meta.get("drum_onsets", [])
        self.path = os.path.join(self.dir, "stems", "drums.wav") if source == "drums" else os.path.join(self.dir, "mix.wav")
        self._audio = None

    @property
    def has_drums(self) -> bool:
        return os.path.exists(os.path.join(self.dir, "stems", "drums.wav")) and len(self.onset_list) > 0

    def audio(self) -> np.ndarray:
        if self._audio is None:
            self._audio = read_mono(self.path)
        return self._audio

    def onsets(self) -> dict:
        """class → sorted onset times (s)."""
        out = {c: [] for c in CLASSES}
        for o in self.onset_list:
            if o["class"] in out:
                out[o["class"]].append(float(o["time"]))
        return {c: np.array(sorted(v)) for c, v in out.items()}


def load_songs(root: str, split: str, limit: int = 0, source: str = "drums"):
    """The split's songs that have drums (a drum stem and onsets)."""
    ds = Dataset(root)
    songs = [DrumSong(root, split, s, source) for s in ds.songs(split)]
    songs = [s for s in songs if s.has_drums]
    if limit:
        songs = songs[:limit]
    if not songs:
        raise SystemExit(f"{root} has no {split} songs with drums (render with `cargo xtask dataset --stems`)")
    return songs


def load_templates(folder: str) -> torch.Tensor:
    """[kits, components, samples] float32 templates, checked against the model's components."""
    with open(os.path.join(folder, "templates.json")) as f:
        info = json.load(f)
    names = [c["name"] for c in info["components"]]
    if names != COMPONENTS:
        raise SystemExit(f"{folder}: components {names}, the model needs {COMPONENTS}")
    if info["sample_rate"] != RATE:
        raise SystemExit(f"{folder}: {info['sample_rate']} Hz templates; render them at {RATE} Hz (cargo xtask drum-templates --rate {RATE})")
    t = np.load(os.path.join(folder, "templates.npy")).astype(np.float32)
    return torch.from_numpy(t)


def level(x: np.ndarray, db: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return x * (10 ** (db / 20) / max(rms, 1e-6))


def batches(args, rng):
    songs = load_songs(args.data, "train", args.max_songs)
    audio = [s.audio() for s in songs]
    n = int(args.crop * RATE)
    n_kits = len(load_templates(args.templates))
    while True:
        xs, feats, kits = [], [], []
        while len(xs) < args.batch:
            a = audio[rng.integers(len(audio))]
            start = int(rng.integers(0, max(1, len(a) - n)))
            x = np.zeros(n, dtype=np.float32)
            seg = a[start : start + n]
            x[: len(seg)] = seg
            if np.abs(x).max() < 1e-3:
                continue  # a silent stretch (the drums rest): nothing to rebuild
            x = level(x, -20.0 + rng.uniform(-6, 6)).astype(np.float32)
            xs.append(x)
            feats.append(features(x))
            kits.append(int(rng.integers(n_kits)))
        yield [torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(xs)), torch.tensor(kits)]
