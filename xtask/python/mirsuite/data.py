"""The rendered multitrack dataset (`cargo xtask dataset`): index, audio and labels."""

import json
import os

import numpy as np

from . import wav


class Dataset:
    """A dataset folder with `dataset.json` and one folder per song."""

    def __init__(self, root: str):
        self.root = root
        path = os.path.join(root, "dataset.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} not found: render a dataset with `cargo xtask dataset --out {root}`")
        with open(path) as f:
            self.info = json.load(f)
        self.classes = self.info["classes"]
        self.sample_rate = self.info["sample_rate"]
        self.label_rate = self.info["label_rate"]

    def songs(self, split: str):
        return list(self.info["splits"].get(split, []))

    def song_dir(self, split: str, song: str) -> str:
        return os.path.join(self.root, split, song)

    def mix_mono(self, split: str, song: str) -> np.ndarray:
        x, rate = wav.read(os.path.join(self.song_dir(split, song), "mix.wav"))
        if rate != self.sample_rate:
            raise ValueError(f"{song}: {rate} Hz, dataset says {self.sample_rate}")
        return x.mean(axis=0).astype(np.float32)

    def activity(self, split: str, song: str):
        """(labels uint8 [frames, classes] at label_rate, known-class mask bool [classes])."""
        d = self.song_dir(split, song)
        labels = np.load(os.path.join(d, "activity.npy"))
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        mask = np.array(meta.get("label_mask", [True] * len(self.classes)), dtype=bool)
        return labels, mask

    def meta(self, split: str, song: str) -> dict:
        with open(os.path.join(self.song_dir(split, song), "meta.json")) as f:
            return json.load(f)
