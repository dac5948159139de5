"""Exports a separator run: the streaming step model (one STFT frame in, the causal history as
one state vector in and out) to ONNX, checked against ONNX Runtime frame by frame; per-stem gate
thresholds tuned on the val split (the gated stem's SDR after the default median filter); golden
cases for the Rust tract check (consecutive frames of a val song, so the state chain is tested)
and the STFT magnitudes the Rust features must reproduce; the card.

    cargo xtask export separator --run runs/separator --data data/sep --out models/separator
"""

import argparse
import datetime
import json
import os

import numpy as np
import torch

from ... import card as cards
from ...onnxexport import OPSET, TOLERANCE, export_step, stream_golden
from . import metrics
from .config import BINS, CLASSES, HOP, LOOKAHEAD, MEDIAN_MAX, N_FFT, RATE, SOURCES
from .data import load_songs
from .dsp import magnitude_np, stft
from .net import Step, load_run, macs_per_frame, params
from .readme import write_readme

DEFAULT_MEDIAN = 5
GOLDEN_FRAMES = 4


def tune_thresholds(model, songs, median=DEFAULT_MEDIAN):
    """Per source, the gate threshold (0.01 … 0.95, the other gates open) chosen on the val
    songs: the highest threshold at which neither the gated source's SDR nor the mean SDR of all
    five sources falls below the ungated masks' (SDR per 1 s window where the reference plays,
    median per song, mean over songs: museval's framing, which drops the silent windows where the
    gate helps, so this rule can only trade leakage for nothing lost). Also returns each source's
    best-F1 threshold, which the card records beside it."""
    grid = np.round(np.concatenate([[0.01, 0.02], np.arange(0.05, 0.951, 0.05)]), 2)
    n = len(CLASSES)
    # sdrs[k, i, j]: source j's score with source k gated at grid[i]; base[j]: all gates open.
    sdrs = np.zeros((n, len(grid), n))
    base = np.zeros(n)
    counts = np.zeros(n)
    f1s = np.zeros((n, len(grid)))
    preds = {i: [[] for _ in CLASSES] for i in range(len(grid))}
    labels = [[] for _ in CLASSES]

    def score(src, est, plays):
        return np.array([np.median(metrics.window_sdr(src[j], est[j])) if plays[j] else 0.0 for j in range(n)])

    for s in songs:
        src = s.sources(0, s.frames)
        mix = src.sum(0)
        spec = stft(torch.from_numpy(mix))
        m, p = metrics.masks_for(model, spec.abs())
        p = p.numpy()
        lab = s.activity_at(0, spec.shape[-1])
        for k in range(n):
            labels[k].append(lab[k])
        plays = np.array([np.abs(src[k]).max() > 1e-3 for k in range(n)])
        counts += plays
        ungated = metrics.separate(spec, m, len(mix)).numpy()
        ungated[-1] = mix - ungated[:-1].sum(0)
        base += score(src, ungated, plays)
        share = 1.0 / m[:-1].sum(0).clamp(min=metrics.OTHER_FLOOR) - 1.0  # [F, T]
        for i, t in enumerate(grid):
            g_all = metrics.median_gate(p, [t] * n, median)
            for k in range(n):
                preds[i][k].append(g_all[k])
                est = ungated.copy()
                # Only the shut frames change (the ISTFT is linear): a stem loses its share
                # there (to "other"); a shut "other" hands its share to the stems.
                shut = torch.from_numpy((g_all[k] == 0).astype(np.float32))
                if shut.any():
                    if k < n - 1:
                        est[k] -= metrics.separate(spec, m[k : k + 1] * shut, len(mix))[0].numpy()
                    else:
                        est[:-1] += metrics.separate(spec, share * m[:-1] * shut, len(mix)).numpy()
                est[-1] = mix - est[:-1].sum(0)
                sdrs[k, i] += score(src, est, plays)
    for i in range(len(grid)):
        for k in range(n):
            f1s[k, i] = metrics.f1(np.concatenate(preds[i][k]), np.concatenate(labels[k]))
    c = np.maximum(counts, 1)
    sdrs /= c
    base /= c
    best, best_f1 = [], []
    for k in range(n):
        ok = (sdrs[k, :, k] >= base[k]) & (sdrs[k].mean(1) >= base.mean())
        best.append(float(grid[np.nonzero(ok)[0].max()]) if ok.any() else float(grid[0]))
        best_f1.append(float(grid[1:][int(np.argmax(f1s[k, 1:]))]))
    table = {
        "grid": grid.tolist(),
        "ungated_sdr": base.round(3).tolist(),
        "sdr": sdrs[np.arange(n), :, np.arange(n)].round(3).tolist(),
        "mean_sdr": sdrs.mean(2).round(3).tolist(),
        "f1": f1s.round(4).tolist(),
    }
    return best, best_f1, table


def train_command(a) -> str:
    init = f" --init {a.init}" if a.init else ""
    return (
        f"cargo xtask train separator --data {a.data} --steps {a.steps} --batch {a.batch} --lr {a.lr} --seed {a.seed} "
        f"--crop {a.crop} --remix {a.remix} --silence {a.silence} --act-weight {a.act_weight}{init} --out {a.out}"
    )


def training_stages(targs) -> list:
    """The training arguments of every stage that made the run's weights, first stage first: a
    run started with `--init RUN/best.pt` continues the run whose checkpoint that is."""
    stages = [targs]
    while stages[0].init:
        path = stages[0].init
        if not os.path.exists(path):
            raise SystemExit(f"{path} (the --init of {stages[0].out}) is missing: the card could not say how its weights were trained")
        prev = torch.load(path, map_location="cpu", weights_only=False)["args"]
        stages.insert(0, argparse.Namespace(**prev))
    return stages


def spec(name, shape):
    return {"name": name, "shape": list(shape)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="export separator")
    ap.add_argument("--run", default="runs/separator")
    ap.add_argument("--data", default=None, help="dataset with a val split (default: the run's)")
    ap.add_argument("--out", default="models/separator")
    ap.add_argument("--version", default="1.0.0")
    args = ap.parse_args(argv)
    model, targs, state = load_run(args.run)
    if targs.arch != "unet":
        raise SystemExit("only the streaming U-Net ships (umx runs are a baseline for the eval)")
    data = args.data or targs.data
    os.makedirs(args.out, exist_ok=True)
    step = Step(model).eval()
    S = step.state_len
    path = os.path.join(args.out, "model.onnx")
    export_step(step, (torch.zeros(1, BINS, 1), torch.zeros(1, S)), path, ["mag", "state"], ["masks", "activity", "state_out"])

    # Golden: consecutive frames from the middle of a val song, the state carried along.
    val = load_songs(data, "val")
    song = val[0]
    mix = song.sources(0, song.frames).sum(0)
    mag = stft(torch.from_numpy(mix)).abs().float()
    t0 = mag.shape[-1] // 2
    cases, worst = stream_golden(step, path, lambda t: mag[:, t : t + 1][None], S, ["mag", "state"], t0, GOLDEN_FRAMES)
    with torch.no_grad():
        # The streamed masks equal the whole-sequence forward pass (the state layout is right).
        ref, _, _ = model(mag[None, :, : t0 + GOLDEN_FRAMES])
    streamed = torch.tensor(cases[-1]["outputs"][0]).reshape(len(SOURCES), BINS)
    seq_diff = float((streamed - ref[0, :, :, -1]).abs().max())
    if worst > TOLERANCE or seq_diff > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {worst:.2e}, streaming from the sequence by {seq_diff:.2e} (> {TOLERANCE})")
    sig = mix[RATE : RATE + 8 * HOP].astype(np.float32)
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump({"cases": cases, "stft": {"signal": sig.tolist(), "magnitude": magnitude_np(sig).T.ravel().tolist(), "frames": 8}}, f)

    thresholds, thresholds_f1, tuning = tune_thresholds(model, val)
    val_scores = metrics.quick_scores(model, val, torch.device("cpu"))
    mpf = macs_per_frame(model)
    stages = training_stages(targs)
    old = cards.load(args.out, missing_ok=True)
    card = {
        "name": "separator",
        "version": args.version,
        "task": "streaming instrument-aware source separation (IASS): a mask per stem from the mixture's mid magnitude, an activity classifier on the latent gating the masks",
        "created": datetime.date.today().isoformat(),
        "sample_rate": RATE,
        "frame_size": N_FFT,
        "hop_size": HOP,
        "window": "hann",
        "features": "magnitude of the mid signal (L+R)/2: periodic Hann STFT 2048/512, frame t ends at (t+1)*hop; the log and the per-bin standardization are inside the model",
        "inputs": [spec("mag", [1, BINS, 1]), spec("state", [1, S])],
        "outputs": [spec("masks", [1, len(SOURCES), BINS]), spec("activity", [1, len(CLASSES)]), spec("state_out", [1, S])],
        "classes": list(CLASSES),
        "sources": list(SOURCES),
        "thresholds": thresholds,
        "threshold_tuning": {"rule": f"per source (the other gates open), the highest threshold at which neither its val SDR nor the mean val SDR of all five sources falls below the ungated masks' (SDR per 1 s window where the reference plays, median per song, mean over songs; median {DEFAULT_MEDIAN})", "other_floor": metrics.OTHER_FLOOR, "best_f1_thresholds": thresholds_f1, **tuning},
        "lookahead_frames": LOOKAHEAD,
        "median_max": MEDIAN_MAX,
        "default_median": DEFAULT_MEDIAN,
        "state_len": S,
        "parameters": params(model),
        "macs_per_frame": mpf,
        "gmac_per_second": mpf * RATE / HOP / 1e9,
        "data": {"dataset": data, "info": json.load(open(os.path.join(data, "dataset.json"))).get("command")},
        "training": {
            "command": " && ".join(train_command(a) for a in stages),
            "steps": sum(a.steps for a in stages),
            "stages": len(stages),
            "validation": state.get("metrics"),
        },
        # The evaluation (`cargo xtask eval separator`) adds its tables under metrics.eval.
        "metrics": {"val_quick": val_scores},
        "onnx": {"opset": OPSET, "ort_max_abs_diff": worst, "stream_vs_sequence": seq_diff},
        "license": "model: GPL-3.0-or-later; training audio rendered from FluidR3 GM/GS (MIT), TimGM6mb (GPL-2), csound's sf_GMbank (LGPL), Hydrogen kits (GPL/CC, see the data table)",
    }
    # The same weights and gate as the folder's last export compute the same stems (only the ONNX
    # graph's layout may differ): its evaluation still holds, anything else drops it.
    same = json.dumps(cards.finite(card["training"]), sort_keys=True) == json.dumps(old.get("training"), sort_keys=True)
    same = same and old.get("thresholds") == card["thresholds"]
    if same and "eval" in old.get("metrics", {}):
        card["metrics"]["eval"] = old["metrics"]["eval"]
    cards.save(args.out, card)
    write_readme(args.out, card)
    print(json.dumps({"thresholds": thresholds, "best_f1_thresholds": thresholds_f1, "val": val_scores, "ort": worst, "stream_vs_sequence": seq_diff}, indent=1))
