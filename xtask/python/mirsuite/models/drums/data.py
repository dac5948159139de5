"""Drum model data from a rendered dataset with stems (`cargo xtask dataset --stems`): each song's
drum stem (or its whole mix, for the full-mix evaluation), mono at the model's 16 kHz, and the
renderer's `drum_onsets` (time, class, key, velocity), which training never reads: they only
score the model and pick the peak-picking thresholds on the val split.

Training batches (unsupervised): crops of `--crop` seconds of drum stems, each brought to an RMS
of −20 dBFS ± 6 dB, with their log-mel features (the Rust features' mirror) and a kit drawn at
random per crop from the synthesizer templates (`cargo xtask drum-templates`). Only the
supervised comparison variant (`--label-weight` > 0) reads the crops' onset labels: per class,
1 at each onset's frame, 0 elsewhere."""

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
        # The drum track's timbre is the first entry ("font:preset [chain]" or "hydrogen:Kit").
        timbres = meta.get("timbres") or []
        self.kit = timbres[0].split(" [")[0] if timbres and meta.get("present", [False])[0] else None
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


def held_out_kits(root: str, count: int) -> list:
    """`count` training drum kits held out of training to select and tune on (`--val-kits`):
    the val songs share the training kits, so they cannot show what helps on a kit never heard.
    Picked seeded, round-robin over the kit sources (each SoundFont, the Hydrogen kits), among
    kits with at least 4 training songs, so the held-out set spans the sources."""
    if count <= 0:
        return []
    songs = load_songs(root, "train")
    per = {}
    for s in songs:
        per.setdefault(s.kit, 0)
        per[s.kit] += 1
    by_source = {}
    for kit in sorted(k for k, n in per.items() if k and n >= 4):
        by_source.setdefault(kit.split(":")[0], []).append(kit)
    rng = np.random.default_rng(0)
    for kits in by_source.values():
        rng.shuffle(kits)
    picked, sources = [], sorted(by_source)
    while len(picked) < count and any(by_source.values()):
        for src in sources:
            if by_source[src] and len(picked) < count:
                picked.append(by_source[src].pop())
    return sorted(picked)


def training_songs(args) -> list:
    """The training split's drum songs, less those of the held-out kits (`--val-kits`), plus
    the drum stems of `--extra` datasets' training splits (unlabeled audio for the
    student-teacher variant: their onsets are never read)."""
    out = set(held_out_kits(args.data, getattr(args, "val_kits", 0)))
    songs = [s for s in load_songs(args.data, "train", args.max_songs) if s.kit not in out]
    for extra in getattr(args, "extra", None) or []:
        more = [s for s in load_songs(extra, "train", args.max_songs) if s.kit not in out]
        print(f"{len(more)} more drum stems from {extra} (unlabeled)", flush=True)
        songs += more
    return songs


def selection_songs(root: str, val_kits: int = 0, limit: int = 0) -> list:
    """The songs that select a run and tune its peak picker: the val split, or with
    `--val-kits N` the songs of N training kits held out of training (training and val
    songs with those kits), so selection sees kits the model never heard."""
    if val_kits <= 0:
        return load_songs(root, "val", limit)
    kits = set(held_out_kits(root, val_kits))
    songs = [s for split in ("val", "train") for s in load_songs(root, split) if s.kit in kits]
    return songs[:limit] if limit else songs


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


def onset_samples(song: "DrumSong") -> list:
    """Per class, the song's onset times in samples at RATE."""
    return [np.asarray(t) * RATE for t in song.onsets().values()]


def crop_labels(onsets: list, start: int, n_frames: int, speed: float = 1.0) -> np.ndarray:
    """[classes, n_frames] float32 for a crop starting at sample `start` of the song and played
    `speed` times faster: 1 at the frame nearest each onset (frame t at song sample
    start + t·HOP·speed), 0 elsewhere."""
    y = np.zeros((len(CLASSES), n_frames), dtype=np.float32)
    for c, t in enumerate(onsets):
        f = np.round((t - start) / (HOP * speed)).astype(np.int64)
        y[c, f[(f >= 0) & (f < n_frames)]] = 1.0
    return y


def tilt(x: np.ndarray, db: float, corner: float = 1000.0) -> np.ndarray:
    """`x` with its band above `corner` raised by db/2 and the band below lowered by db/2 (a
    one-pole split: the two bands sum back to `x` at 0 dB)."""
    from scipy.signal import lfilter

    a = np.exp(-2 * np.pi * corner / RATE)
    lo = lfilter([1 - a], [1, -a], x)
    g = 10 ** (db / 40)
    return (lo / g + (x - lo) * g).astype(np.float32)


def batches(args, rng):
    songs = training_songs(args)
    audio = [s.audio() for s in songs]
    onsets = [onset_samples(s) for s in songs]
    n = int(args.crop * RATE)
    n_kits = len(load_templates(args.templates))
    while True:
        xs, feats, kits, labels = [], [], [], []
        while len(xs) < args.batch:
            i = int(rng.integers(len(audio)))
            a = audio[i]
            # Timbre augmentation (off by default): play the crop `speed` times faster (pitch
            # and tempo together, as a varispeed) and tilt its spectrum around 1 kHz.
            speed = float(rng.uniform(1 - args.speed, 1 + args.speed)) if args.speed > 0 else 1.0
            m = int(round(n * speed))
            start = int(rng.integers(0, max(1, len(a) - m)))
            x = np.zeros(m, dtype=np.float32)
            seg = a[start : start + m]
            x[: len(seg)] = seg
            if np.abs(x).max() < 1e-3:
                continue  # a silent stretch (the drums rest): nothing to rebuild
            if m != n:
                x = np.interp(np.arange(n) * speed, np.arange(m), x).astype(np.float32)
            if args.tilt > 0:
                x = tilt(x, float(rng.uniform(-args.tilt, args.tilt)))
            x = level(x, -20.0 + rng.uniform(-6, 6)).astype(np.float32)
            xs.append(x)
            feats.append(features(x))
            kits.append(int(rng.integers(n_kits)))
            labels.append(crop_labels(onsets[i], start, feats[-1].shape[1], speed))
        yield [torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(xs)), torch.tensor(kits), torch.from_numpy(np.stack(labels))]


# --- Adapting to a user's kit (`cargo xtask train drums --adapt DIR`): no labels at all. ---

# One-shot file names `--kit DIR` looks for, per component (any of the names; .wav).
KIT_FILES = {
    "kick": ["kick", "bd", "bass drum"],
    "snare": ["snare", "sd"],
    "closed hi-hat": ["closed hi-hat", "hihat", "hh", "closed-hihat", "chh"],
    "open hi-hat": ["open hi-hat", "open-hihat", "ohh"],
    "tom": ["tom", "mid tom"],
    "crash": ["crash"],
    "ride": ["ride"],
}


def adapt_files(folder: str) -> list:
    """The WAV files of a folder (sorted; subfolders too)."""
    out = []
    for base, _, names in os.walk(folder):
        out += [os.path.join(base, n) for n in names if n.lower().endswith(".wav")]
    if not out:
        raise SystemExit(f"{folder} has no .wav files to adapt to")
    return sorted(out)


def load_kit(folder: str, length: int) -> torch.Tensor:
    """[1, components, length] one-shots from a folder of WAVs named by component (see
    KIT_FILES); a component without a file is silent (the net learns to leave it alone)."""
    have = {os.path.splitext(n)[0].lower(): os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(".wav")}
    t = np.zeros((1, len(COMPONENTS), length), dtype=np.float32)
    found = []
    for k, c in enumerate(COMPONENTS):
        path = next((have[n] for n in KIT_FILES[c] if n in have), None)
        if path:
            x = read_mono(path)[:length]
            t[0, k, : len(x)] = x / max(float(np.abs(x).max()), 1e-6)
            found.append(c)
    if not found:
        raise SystemExit(f"{folder}: no one-shots named like {sum(KIT_FILES.values(), [])}")
    print(f"kit {folder}: {', '.join(found)}", flush=True)
    return torch.from_numpy(t)


def adapt_audio(folder: str):
    """(training parts, held-out parts): each file's first 80 % and its last 20 %."""
    train, held = [], []
    for f in adapt_files(folder):
        x = read_mono(f)
        cut = int(len(x) * 0.8)
        train.append(x[:cut])
        held.append(x[cut:])
    return train, held


def crops(audio: list, n: int, count: int, rng) -> list:
    """`count` crops of n samples with sound in them (at −20 dBFS), drawn from `audio`."""
    out = []
    tries = 0
    while len(out) < count and tries < 100 * count:
        tries += 1
        a = audio[int(rng.integers(len(audio)))]
        start = int(rng.integers(0, max(1, len(a) - n)))
        x = np.zeros(n, dtype=np.float32)
        seg = a[start : start + n]
        x[: len(seg)] = seg
        if np.abs(x).max() >= 1e-3:
            out.append(level(x, -20.0).astype(np.float32))
    if not out:
        raise SystemExit("the adaptation audio is silent")
    return out


def adapt_batches(args, rng):
    """Unlabeled crops of the user's recordings (the first 80 % of each file), with a kit per
    crop from the templates (the user's own one-shots with --kit: always that kit)."""
    train, _ = adapt_audio(args.adapt)
    n = int(args.crop * RATE)
    n_kits = 1 if args.kit else len(load_templates(args.templates))
    while True:
        xs = crops(train, n, args.batch, rng)
        for i, x in enumerate(xs):
            xs[i] = level(x, -20.0 + rng.uniform(-6, 6)).astype(np.float32)
        feats = [features(x) for x in xs]
        kits = [int(rng.integers(n_kits)) for _ in xs]
        labels = np.zeros((len(xs), len(CLASSES), feats[0].shape[1]), dtype=np.float32)
        yield [torch.from_numpy(np.stack(feats)), torch.from_numpy(np.stack(xs)), torch.tensor(kits), torch.from_numpy(labels)]
