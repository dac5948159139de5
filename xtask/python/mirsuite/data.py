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


def dataset_summary(info: dict):
    """What a model card says about the rendered dataset a model was trained or tuned on."""
    command = info.get("command")
    if command and "hydrogen_dir" not in info.get("options", {}) and "--musdb" not in command:
        # Rendered before the Hydrogen sampler existed: SoundFont kits only, which today's
        # renderer reproduces with --hydrogen none.
        command += " --hydrogen none"
    return {
        "source": info.get("source", "cargo xtask dataset (procedurally composed, SoundFont-rendered multitracks)"),
        "songs": {k: len(v) for k, v in info["splits"].items()},
        "seconds_per_song": info.get("seconds_per_song"),
        "sample_rate": info["sample_rate"],
        "timbres": info.get("timbres"),
        "seed": info.get("options", {}).get("seed"),
        "command": command,
    }


FONT_LICENSES = {"FluidR3_GM.sf2": "FluidR3_GM (MIT)", "TimGM6mb.sf2": "TimGM6mb (GPL-2)", "sf_GMbank.sf2": "csound sf_GMbank (public domain)"}


def license_note(info: dict) -> str:
    """The licence of weights trained on a dataset, from the timbres it was rendered with."""
    train = (info.get("timbres") or {}).get("train", {})
    fonts = [FONT_LICENSES.get(f, f) for f in train.get("fonts", [])] or ["General-MIDI"]
    extra = []
    if train.get("gus"):
        extra.append("the freepats GUS patches (GPL-2+ with a composition exception)")
    if any(k.startswith("hydrogen:") for k in train.get("kits", [])):
        extra.append("Hydrogen drum kits (Debian hydrogen-drumkits: GPL-2+, CC-BY(-SA)-3.0 and CC0 per kit, see its copyright file)")
    more = "".join(f", {e}" for e in extra[:-1]) + (f" and {extra[-1]}" if extra else "")
    return f"GPL-3.0-or-later (weights trained only on audio rendered from the {', '.join(fonts)} SoundFonts{more})"
