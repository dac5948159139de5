"""Drum transcription scoring: activations of whole songs (PyTorch path), the causal peak picker
(the plugin's: dsp-core mirrors it), onset F-measure, precision and recall per class with
mir_eval's 50 ms window, and the per-class threshold choice on the val split."""

import numpy as np
import torch

from .config import CLASSES, COMPONENT_CLASS, HOP, RATE, SCORED
from .data import features
from .net import activations

WINDOW = 0.05
# Peak picker: a frame is an onset when its class activation is a local maximum (≥ the frame
# before, > the frame after), at least FLOOR, at least `threshold` × the class's peak envelope
# (the running maximum, decaying with a 2 s half-life: level-independent, causal), and GAP
# frames after the class's previous onset.
FLOOR = 1e-3
GAP = 4  # 32 ms
DECAY = 0.5 ** (1.0 / (2.0 * RATE / HOP))
DEFAULT_THRESHOLD = 0.25  # DrummerNet's on max-normalised activations
GRID = np.round(np.arange(0.05, 0.81, 0.05), 2)


@torch.no_grad()
def song_activations(model, audio: np.ndarray) -> np.ndarray:
    """[K, frames] activations of a whole mono 16 kHz signal (frame t at t·HOP samples)."""
    feat = torch.from_numpy(features(audio))[None]
    pad = torch.nn.functional.pad(feat, (0, model.lookahead + 2), value=float(feat.min()))
    logits, _ = model(pad)
    a = activations(logits, model.log_gain, model.lookahead)[0, :, : feat.shape[2]]
    return a.numpy()


def class_activations(act: np.ndarray) -> np.ndarray:
    """[classes, frames]: per class the largest of its components' activations."""
    out = np.zeros((len(CLASSES), act.shape[1]), dtype=np.float32)
    for k, c in enumerate(COMPONENT_CLASS):
        out[c] = np.maximum(out[c], act[k])
    return out


def pick(c: np.ndarray, threshold: float) -> np.ndarray:
    """Onset frames of one class activation [frames] (the causal picker; one frame of delay)."""
    env, last, out = 0.0, -(10**9), []
    for t in range(1, len(c) - 1):
        env = max(c[t], env * DECAY)
        if c[t] >= FLOOR and c[t] >= threshold * env and c[t] >= c[t - 1] and c[t] > c[t + 1] and t - last >= GAP:
            out.append(t)
            last = t
    return np.array(out, dtype=np.int64)


def prf(ref: np.ndarray, est: np.ndarray):
    """(F, precision, recall, matched) of onset times with mir_eval's 50 ms window."""
    import mir_eval

    if len(ref) == 0 and len(est) == 0:
        return 1.0, 1.0, 1.0, 0
    if len(ref) == 0 or len(est) == 0:
        return 0.0, float(len(ref) == 0), float(len(est) == 0), 0
    matched = len(mir_eval.util.match_events(ref, est, WINDOW))
    p, r = matched / len(est), matched / len(ref)
    return (2 * p * r / (p + r) if p + r > 0 else 0.0), p, r, matched


def score(songs_acts, songs_refs, thresholds) -> dict:
    """Counts pooled over songs (each class's F from its total matches, estimates and
    references) for per-class `thresholds`."""
    out = {}
    for ci, c in enumerate(CLASSES):
        m = e = r = 0
        for acts, refs in zip(songs_acts, songs_refs):
            est = pick(acts[ci], thresholds[ci]) * HOP / RATE
            ref = refs[c]
            _, _, _, mm = prf(ref, est)
            m, e, r = m + mm, e + len(est), r + len(ref)
        p = m / e if e else float(r == 0)
        rc = m / r if r else float(e == 0)
        out[f"f.{c}"] = 2 * p * rc / (p + rc) if p + rc > 0 else 0.0
        out[f"p.{c}"], out[f"r.{c}"] = p, rc
    out["f_mean"] = float(np.mean([out[f"f.{c}"] for c in SCORED]))
    return out


def run_songs(model, songs):
    model.eval()
    acts = [class_activations(song_activations(model, s.audio())) for s in songs]
    refs = [s.onsets() for s in songs]
    return acts, refs


def quick_scores(model, songs) -> dict:
    acts, refs = run_songs(model, songs)
    return score(acts, refs, [DEFAULT_THRESHOLD] * len(CLASSES))


def timing_offsets(acts, refs, thresholds) -> list:
    """Per class the median signed error (ms) of the matched onsets (estimate − reference):
    how late the picker places the class's onsets, which the plugin compensates."""
    import mir_eval

    out = []
    for ci, c in enumerate(CLASSES):
        errs = []
        for a, r in zip(acts, refs):
            est = pick(a[ci], thresholds[ci]) * HOP / RATE
            if len(est) and len(r[c]):
                errs += [est[j] - r[c][i] for i, j in mir_eval.util.match_events(r[c], est, WINDOW)]
        out.append(round(float(np.median(errs)) * 1000.0, 2) if errs else 0.0)
    return out


def tune_thresholds(acts, refs):
    """Per class the grid threshold with the best pooled val F."""
    best = []
    table = {}
    for ci, c in enumerate(CLASSES):
        fs = [score(acts, refs, [t] * len(CLASSES))[f"f.{c}"] for t in GRID]
        table[c] = [round(f, 4) for f in fs]
        best.append(float(GRID[int(np.argmax(fs))]))
    return best, table


def load_run(run: str):
    """(model in eval mode, training args) of a run folder's best.pt."""
    import argparse
    import os

    from .net import DrumNet

    state = torch.load(os.path.join(run, "best.pt"), map_location="cpu", weights_only=False)
    a = argparse.Namespace(**state["args"])
    model = DrumNet(width=a.width)
    model.load_state_dict(state["model"], strict=False)
    return model.eval(), a


def main(argv=None):
    """`python -m mirsuite.metrics drums --run RUN --data DATA --split test [--source mix]`:
    the run (PyTorch path) and the NMF-D baseline on a split's drum stems (or whole mixes),
    both with per-class thresholds tuned on the val split's drum stems."""
    import argparse
    import json
    import os

    from . import nmfd
    from .data import load_songs, load_templates, selection_songs

    ap = argparse.ArgumentParser(prog="mirsuite.metrics drums")
    ap.add_argument("--merge-plugin", default=None, help="put this `cargo xtask eval drums` JSON into --card (metrics.plugin.<split>) and stop")
    ap.add_argument("--run", default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--split", default="test")
    ap.add_argument("--source", choices=["drums", "mix"], default="drums")
    ap.add_argument("--templates", default=None, help="templates for NMF-D (default: the run's)")
    ap.add_argument("--max-songs", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--card", default=None, help="model folder whose card and README get this table (metrics.eval)")
    a = ap.parse_args(argv)
    if a.merge_plugin:
        return merge_plugin(a.merge_plugin, a.card, a.data or "data/sep")
    if not a.run or not a.data:
        ap.error("--run and --data are required")
    model, targs = load_run(a.run)
    w = nmfd.spectral_templates(load_templates(a.templates or targs.templates).numpy())
    # Thresholds (the model's and NMF-D's) are tuned on the songs the run was selected on.
    val = selection_songs(a.data, getattr(targs, "val_kits", 0), a.max_songs)
    songs = load_songs(a.data, a.split, a.max_songs, source=a.source)
    v_acts, v_refs = run_songs(model, val)
    thr, table = tune_thresholds(v_acts, v_refs)
    v_nmf = [nmfd.activations(s.audio(), w) for s in val]
    thr_nmf, _ = tune_thresholds(v_nmf, v_refs)
    acts, refs = run_songs(model, songs)
    m = score(acts, refs, thr)
    nmf = score([nmfd.activations(s.audio(), w) for s in songs], refs, thr_nmf)
    m.update({f"{k.split('.')[0]}.nmfd.{k.split('.', 1)[1]}": v for k, v in nmf.items() if "." in k})
    m["f_mean.nmfd"] = nmf["f_mean"]
    out = {"model": "drums", "split": a.split, "source": a.source, "songs": len(songs), "thresholds": dict(zip(CLASSES, thr)), "nmfd_thresholds": dict(zip(CLASSES, thr_nmf)), "val_f_by_threshold": table, "metrics": m}
    print(f"{a.split} ({a.source}, {len(songs)} songs): " + " ".join(f"{c} F {m[f'f.{c}']:.3f} (NMF-D {m[f'f.nmfd.{c}']:.3f})" for c in CLASSES))
    if a.json:
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    if a.card:
        from ... import card as cards
        from .readme import write_readme

        key = a.split if a.source == "drums" else f"{a.split}-mix"

        def change(card):
            card.setdefault("metrics", {}).setdefault("eval", {})[key] = {k: out[k] for k in ("split", "source", "songs", "metrics")}
            card["metrics"]["eval"][key]["command"] = f"python -m mirsuite.metrics drums --run {a.run} --data {a.data} --split {a.split} --source {a.source}"
            return card

        cards.update(a.card, change, write_readme)
    return 0


def merge_plugin(path: str, card_dir: str, data: str) -> int:
    """`cargo xtask eval drums`' JSON (the plugin's path) into the card as metrics.plugin.<split>."""
    import json
    import os

    from ... import card as cards
    from .readme import write_readme

    with open(path) as f:
        out = json.load(f)

    def change(card):
        entry = {"path": out["path"], "metrics": out["metrics"], "command": f"cargo xtask eval drums --data {os.path.relpath(data)} --split {out['split']}"}
        card.setdefault("metrics", {}).setdefault("plugin", {})[out["split"]] = entry
        return card

    cards.update(card_dir, change, write_readme)
    return 0
