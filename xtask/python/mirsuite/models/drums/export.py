"""Exports a drum run: the streaming step model (one log-mel frame in, the causal history as one
state vector in and out, the component logits out) to ONNX, checked against ONNX Runtime frame by
frame and against the whole-sequence forward pass; per-class peak-picking thresholds tuned on the
val split's drum stems (the only use of labels besides scoring); golden cases for the Rust tract
check, the log-mel frames the Rust features must reproduce, and a post-processing case (logits →
sparse activations → picked onsets) the Rust post-processing must reproduce; the card.

    cargo xtask export drums --run runs/drums --data data/sep --out models/drums

A run of `cargo xtask train drums --adapt DIR` (no labels) keeps the thresholds and timing
offsets of the model it adapted (`--base`, default models/drums) and takes its golden audio
from the adaptation folder:

    cargo xtask export drums --run runs/adapt --out my-kit-model
"""

import argparse
import datetime
import json
import os

import numpy as np
import torch

from ... import card as cards
from ...stream import ChanNorm
from ...onnxexport import OPSET, TOLERANCE, export_step, stream_golden
from . import metrics
from .config import CLASSES, COMPONENT_CLASS, COMPONENTS, DEFAULT_KEYS, FMAX, FMIN, HOP, LOOKAHEAD, N_FFT, N_MELS, RATE, SPARSE_HALF
from .data import adapt_files, features, held_out_kits, read_mono, selection_songs
from .net import K, Step, activations, macs_per_frame, params
from .readme import write_readme

GOLDEN_FRAMES = 4


def selection_text(targs) -> str:
    n = getattr(targs, "val_kits", 0)
    if n > 0:
        return f"the songs of {n} training kits held out of training: {', '.join(held_out_kits(targs.data, n))}"
    return "the val split, which shares the training kits"


def spec(name, shape):
    return {"name": name, "shape": list(shape)}


def supervised(targs) -> bool:
    return getattr(targs, "label_weight", 0.0) > 0


def loss_args(targs) -> str:
    aug = "".join(f" --{k} {getattr(targs, k)}" for k in ("speed", "tilt") if getattr(targs, k, 0.0) > 0)
    if getattr(targs, "val_kits", 0) > 0:
        aug += f" --val-kits {targs.val_kits}"
    if getattr(targs, "teacher", None):
        aug += f" --teacher {targs.teacher} --teacher-weight {targs.teacher_weight} --recon-weight {targs.recon_weight}"
        aug += "".join(f" --extra {e}" for e in getattr(targs, "extra", []) or [])
    if not supervised(targs):
        return aug
    return f" --recon-weight {targs.recon_weight} --label-weight {targs.label_weight} --pos-weight {targs.pos_weight}" + aug


def task_text(targs) -> str:
    if supervised(targs):
        how = "supervised on the renderer's onset labels"
    elif getattr(targs, "teacher", None):
        how = "a student of an unsupervised DrummerNet teacher, trained without labels"
    else:
        how = "DrummerNet-style, trained without labels"
    return f"streaming drum transcription ({how}): sparse activations per drum component, peak-picked to onsets per class"


def labels_text(targs) -> str:
    if getattr(targs, "teacher", None) and not supervised(targs):
        return f"no transcription labels: {targs.teacher_weight} x the relative L1 distance between the student's activations and the teacher's ({targs.teacher}) on the same drum-stem crops (its soft targets)" + (f" plus {targs.recon_weight} x DrummerNet's rebuild loss" if targs.recon_weight > 0 else "")
    if not supervised(targs):
        return "no transcription labels: the loss compares each drum-stem crop with its rebuild by the fixed synthesizer"
    rebuild = f" plus {targs.recon_weight} x DrummerNet's rebuild loss" if targs.recon_weight > 0 else " (no rebuild loss)"
    return (
        f"supervised: {targs.label_weight} x a class-balanced cross-entropy (onset frames weighted {targs.pos_weight}) between each class's sparse activation and the "
        f"renderer's onset frames of the training drum stems{rebuild}; the unsupervised DrummerNet model is the comparison row"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mirsuite.export drums")
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", default=None, help="dataset with val drum stems (threshold tuning, golden data); not for --adapt runs")
    ap.add_argument("--base", default="models/drums", help="--adapt runs: the model folder whose thresholds and timing offsets the adapted model keeps")
    ap.add_argument("--out", default="models/drums")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--val-songs", type=int, default=0, help="val songs for threshold tuning (0: all)")
    ap.add_argument("--compare", action="append", default=[], metavar="NAME=CARD", help="another model's card.json whose evaluation tables the card and README show as a comparison row NAME")
    args = ap.parse_args(argv)
    model, targs = metrics.load_run(args.run)
    state = torch.load(os.path.join(args.run, "best.pt"), map_location="cpu", weights_only=False)
    os.makedirs(args.out, exist_ok=True)
    # Channel means as matrix products for tract (see ChanNorm); the same numbers.
    ChanNorm.matmul_mean = True
    step = Step(model).eval()
    S = step.state_len
    path = os.path.join(args.out, "model.onnx")
    export_step(step, (torch.zeros(1, N_MELS, 1), torch.zeros(1, S)), path, ["mel", "state"], ["logits", "state_out"])
    adapted = bool(getattr(targs, "adapt", None))
    if adapted:
        base = cards.load(args.base)
        audio = read_mono(adapt_files(targs.adapt)[0])
    else:
        if not args.data:
            raise SystemExit("--data is required (the val split tunes the thresholds)")
        val = selection_songs(args.data, getattr(targs, "val_kits", 0), args.val_songs)
        audio = val[0].audio()
    feat = torch.from_numpy(features(audio))
    t0 = feat.shape[1] // 2
    cases, worst = stream_golden(step, path, lambda t: feat[:, t : t + 1][None], S, ["mel", "state"], t0, GOLDEN_FRAMES)
    with torch.no_grad():
        ref, _ = model(feat[None, :, : t0 + GOLDEN_FRAMES])
    seq_diff = float((torch.tensor(cases[-1]["outputs"][0]) - ref[0, :, -1]).abs().max())
    if worst > TOLERANCE or seq_diff > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {worst:.2e}, streaming from the sequence by {seq_diff:.2e} (> {TOLERANCE})")

    if adapted:
        thresholds, offsets = base["thresholds"], base.get("onset_offset_ms", [0.0] * len(CLASSES))
        table, val_scores = base.get("threshold_tuning", {}).get("val_f"), None
    else:
        acts, refs = metrics.run_songs(model, val)
        thresholds, table = metrics.tune_thresholds(acts, refs)
        offsets = metrics.timing_offsets(acts, refs, thresholds)
        val_scores = metrics.score(acts, refs, thresholds)
    # Post-processing golden: two seconds of a val song's logits, their activations, the class
    # activations and the onsets the picker finds with the tuned thresholds.
    with torch.no_grad():
        n = min(feat.shape[1], 2 * RATE // HOP)
        lg, _ = model(torch.nn.functional.pad(feat[None, :, :n], (0, LOOKAHEAD + 2), value=float(feat.min())))
        act = activations(lg, model.log_gain, LOOKAHEAD)[0, :, :n].numpy()
    cls = metrics.class_activations(act)
    post = {
        "logits": lg[0].T.numpy().ravel().tolist(),  # [frames + LOOKAHEAD + 2, K + 1], row per output frame
        "frames": int(n),
        "activations": act.T.ravel().tolist(),  # [n, K]
        "onsets": {c: metrics.pick(cls[i], thresholds[i]).tolist() for i, c in enumerate(CLASSES)},
    }
    sig = audio[RATE : RATE + 8 * HOP].astype(np.float32)
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump({"cases": cases, "logmel": {"signal": sig.tolist(), "frames": features(sig).T.ravel().tolist(), "n_frames": 8}, "post": post}, f)

    mpf = macs_per_frame(model)
    card = {
        "name": "drums",
        "version": args.version,
        "task": task_text(targs),
        "created": datetime.date.today().isoformat(),
        "sample_rate": RATE,
        "frame_size": N_FFT,
        "hop_size": HOP,
        "window": "hann",
        "n_mels": N_MELS,
        "fmin": FMIN,
        "fmax": FMAX,
        "features": f"log-mel (dB, power floor 1e-10) of the mono input: periodic Hann STFT {N_FFT}/{HOP}, {N_MELS} bands {FMIN:.0f}-{FMAX:.0f} Hz, frame t ends at (t+1)*hop; the per-band standardization is inside the model",
        "inputs": [spec("mel", [1, N_MELS, 1]), spec("state", [1, S])],
        "outputs": [spec("logits", [1, K + 1]), spec("state_out", [1, S])],
        "classes": list(CLASSES),
        "components": list(COMPONENTS),
        "component_class": list(COMPONENT_CLASS),
        "default_keys": list(DEFAULT_KEYS),
        "component_gain": torch.exp(model.log_gain.detach()).tolist(),
        "thresholds": thresholds,
        "picker": {"floor": metrics.FLOOR, "gap_frames": metrics.GAP, "decay_per_frame": metrics.DECAY, "rule": "a frame is an onset when its class activation (the largest of the class's components) is >= the frame before and > the frame after, >= floor, >= threshold x the class's peak envelope (running maximum decaying per frame) and gap_frames after the class's previous onset"},
        "onset_offset_ms": offsets,
        "onset_offset_rule": "per class the median signed error (estimate - reference, ms) of the matched val onsets with the tuned thresholds; the plugin places each note this much earlier (and reports that much more latency)",
        "threshold_tuning": {"rule": "per class the grid threshold with the best pooled onset F (mir_eval, 50 ms) on the selection songs' drum stems (" + selection_text(targs) + ")", "grid": metrics.GRID.tolist(), "val_f": table},
        "lookahead_frames": LOOKAHEAD,
        "sparse_half": SPARSE_HALF,
        "state_len": S,
        "parameters": params(model),
        "macs_per_frame": mpf,
        "gmac_per_second": mpf * RATE / HOP / 1e9,
        "data": {"dataset": args.data, "templates": targs.templates, "info": None if adapted else json.load(open(os.path.join(args.data, "dataset.json"))).get("command")},
        "training": {
            "command": f"cargo xtask train drums --data {targs.data} --templates {targs.templates} --steps {targs.steps} --batch {targs.batch} --crop {targs.crop} --lr {targs.lr} --seed {targs.seed} --width {targs.width} --onset-weight {targs.onset_weight}{loss_args(targs)} --eval-every {targs.eval_every} --val-songs {targs.val_songs} --threads {targs.threads} --out {args.run}",
            "steps": targs.steps,
            "validation": state.get("metrics"),
            "labels": labels_text(targs),
        },
        "metrics": {"val": val_scores},
        "onnx": {"opset": OPSET, "ort_max_abs_diff": worst, "stream_vs_sequence": seq_diff},
        "license": "model: GPL-3.0-or-later; training audio and templates rendered from FluidR3 GM/GS (MIT), TimGM6mb (GPL-2), csound's sf_GMbank (LGPL), Hydrogen kits (GPL/CC, see the data table)",
    }
    for c in args.compare:
        name, _, other = c.partition("=")
        with open(other) as f:
            o = json.load(f)
        card.setdefault("comparison", {})[name] = {
            "card": other,
            "version": o.get("version"),
            "training": o.get("training", {}).get("command"),
            "eval": {k: v["metrics"] for k, v in o.get("metrics", {}).get("eval", {}).items()},
        }
    if adapted:
        card["version"] = f"{base['version']}+adapted"
        card["adapted"] = {
            "from": f"{args.base} v{base['version']}",
            "recordings": targs.adapt,
            "kit": targs.kit,
            "rule": f"fine-tuned without labels by DrummerNet's rebuild loss on the recordings plus {getattr(targs, 'teacher_weight', 0.0)} x the relative L1 distance to the base model's activations on the same crops (its soft targets); thresholds and timing offsets kept from the base model",
        }
        card["data"] = {"dataset": None, "templates": targs.kit or targs.templates, "info": f"unlabeled recordings in {targs.adapt}"}
        card["training"]["command"] = (
            f"cargo xtask train drums --adapt {targs.adapt}" + (f" --kit {targs.kit}" if targs.kit else f" --templates {targs.templates}")
            + f" --init {targs.init} --teacher-weight {getattr(targs, 'teacher_weight', 0.0)} --steps {targs.steps} --batch {targs.batch} --crop {targs.crop} --lr {targs.lr} --seed {targs.seed} --out {args.run}"
        )
        card["training"]["labels"] = "no labels: DrummerNet's rebuild loss on the user's recordings"
    # The PyTorch weights, for `cargo xtask train drums --adapt` (which fine-tunes them).
    torch.save({"model": state["model"], "args": vars(targs)}, os.path.join(args.out, "weights.pt"))
    cards.save(args.out, card)
    write_readme(args.out, card)
    print(json.dumps({"thresholds": thresholds, "val": val_scores, "ort": worst, "stream_vs_sequence": seq_diff}, indent=1))
    return 0
