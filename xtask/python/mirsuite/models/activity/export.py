"""Export a trained activity model to `models/activity/`: ONNX (checked against ONNX Runtime at
export time), golden inputs/outputs for the Rust tract parity test, thresholds tuned on the
validation split, the model card and its README.

    cargo xtask export activity --run runs/activity --data data/eval [--run RUN2 …] [--version X]
"""

import argparse
import datetime
import json
import os

import numpy as np
import torch

from ... import card as cards
from ...data import Dataset, dataset_summary, license_note
from ...onnxexport import OPSET, check_ort, export_onnx
from . import metrics
from .config import CONFIG
from .data import load_split
from .net import ARCHS, Exported, make_net, net_sizes
from .readme import write_readme
from .train import predict_segments

DEFAULT_VERSION = "1.0.0"

LIMITATIONS = (
    "Trained only on synthesized music (General-MIDI SoundFonts, procedurally composed "
    "songs); real recordings, real singing and production effects are not represented, and "
    "the 'voice' class has only heard GM choir/voice patches. The held-out test split is "
    "rendered by oxisynth (FluidSynth's engine), because MuseScore General voices its pianos "
    "with modulators that rustysynth ignores (they came out as a 300 Hz low-passed thump, "
    "piano AUROC 0.72). Which engine renders the training fonts moves single classes by up to "
    "0.08 AUROC in opposite directions (oxisynth renders: piano and distorted guitar up, brass "
    "down), so the shipped model trains on both (`--synth mixed`, a coin per track). The "
    "weakest classes are brass, electric piano, synth pad and piano. 8x more training "
    "examples, loudness-normalized tracks, GM/MT-32 variation presets, a mel-axis warp, the "
    "freepats GUS patches, single-engine training data, a two-net ensemble and twice the "
    "training steps moved held-out macro AUROC at 1 s by at most a few thousandths "
    "(models/activity/experiments); real recordings are the next step. The test split is 240 "
    "songs of 30 s (2 h); its song-level bootstrap interval (in the card's metrics) is about "
    "±0.008 AUROC, and per-class numbers for rare classes (acoustic and distorted guitar) rest "
    "on fewer positives."
)


def training_command(targs, arch):
    """The `cargo xtask train activity` call that reproduces a run, from its saved arguments."""
    cmd = f"cargo xtask train activity --data {targs.data} --steps {targs.steps} --seed {targs.seed} --arch {arch} --mix-prob {getattr(targs, 'mix_prob', 0.0)} --eval-every {targs.eval_every} --threads {targs.threads}"
    if getattr(targs, "out", None):
        cmd += f" --out {targs.out}"
    if getattr(targs, "warp", 0.0) > 0.0:
        cmd += f" --warp {targs.warp}"
    if targs.batch != 128:
        cmd += f" --batch {targs.batch}"
    if getattr(targs, "workers", 1) > 1:
        cmd += f" --workers {targs.workers}"
    if str(getattr(targs, "device", "auto")) not in ("auto", "cpu"):
        cmd += f" --device {targs.device}"
    for flag, key in (("--width", "width"), ("--hidden", "hidden"), ("--init", "init")):
        if getattr(targs, key, None) is not None:
            cmd += f" {flag} {getattr(targs, key)}"
    if getattr(targs, "schedule", "onecycle") != "onecycle":
        cmd += f" --schedule {targs.schedule}"
    if targs.lr != 2e-3:
        cmd += f" --lr {targs.lr}"
    if getattr(targs, "mt_weight", 0.0) > 0:
        cmd += f" --unlabeled {targs.unlabeled} --mt-weight {targs.mt_weight} --mt-ema {targs.mt_ema}"
        if targs.mt_ramp is not None:
            cmd += f" --mt-ramp {targs.mt_ramp}"
    if getattr(targs, "swa_start", -1) >= 0:
        cmd += f" --swa-start {targs.swa_start} --swa-every {targs.swa_every} --swa-bn-batches {targs.swa_bn_batches}"
    return cmd


def arch_description(member) -> str:
    """The architecture's card text, with the channel counts a run chose (--width/--hidden)."""
    desc = ARCHS[member["arch"]][1]
    sizes = {k: v for k, v in net_sizes(member["args"]).items() if v is not None}
    if sizes:
        desc += " [trained with " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + " instead of the channel counts above]"
    return desc


def load_member(run, n_classes):
    """A training run's best checkpoint: the net (eval mode) and what the card says about it."""
    ckpt = torch.load(os.path.join(run, "best.pt"), map_location="cpu", weights_only=False)
    targs = argparse.Namespace(**ckpt["args"])
    arch = getattr(targs, "arch", "conv1d")
    net = make_net(arch, n_classes, **net_sizes(targs))
    net.load_state_dict(ckpt["model"])
    net.eval()
    # The data the run was trained on (train.py copies dataset.json into the run folder).
    run_info = os.path.join(run, "dataset.json")
    info = json.load(open(run_info)) if os.path.exists(run_info) else None
    training = {
        "command": training_command(targs, arch),
        "steps": targs.steps,
        "batch": targs.batch,
        "lr": targs.lr,
        "seed": targs.seed,
        "selected_by": f"validation {ckpt['metrics']}",
    }
    return {"net": net, "args": targs, "arch": arch, "info": info, "training": training}


def export_activity(args):
    ds = Dataset(args.data)
    members = [load_member(run, len(ds.classes)) for run in args.run]
    nets = [m["net"] for m in members]
    model = Exported(*nets).eval()
    # The --data folder supplies the validation split the thresholds are tuned on.
    vargs = argparse.Namespace(**{**vars(members[0]["args"]), "data": args.data, "max_songs": 0})
    for m in members:
        m["info"] = m["info"] or ds.info
    train_info = members[0]["info"]
    if len(members) == 1:
        arch_desc = arch_description(members[0])
        training = members[0]["training"]
    else:
        descs = sorted({arch_description(m) for m in members})
        arch_desc = f"ensemble: the mean of {len(members)} nets' probabilities; " + " | ".join(descs)
        training = {"command": "\n".join(m["training"]["command"] for m in members), "members": [m["training"] for m in members]}
    # The call that reproduces this card: every option that differs from its default.
    export_cmd = f"cargo xtask export activity --data {args.data}" + "".join(f" --run {r}" for r in args.run if args.run != [os.path.join("runs", "activity")])
    if args.version != DEFAULT_VERSION:
        export_cmd += f" --version {args.version}"
    if args.predict_every != CONFIG["predict_every"]:
        export_cmd += f" --predict-every {args.predict_every}"

    # Thresholds tuned on the validation split (training timbres, unseen songs).
    val = load_split(vargs, "val")
    p, l, tr = predict_segments(model, val, "cpu", probabilities=True)
    thresholds = metrics.tune_thresholds(p, l, ds.classes)
    val_flat, _ = metrics.activity_metrics(p, l, tr, thresholds, ds.classes)

    c = CONFIG
    os.makedirs(args.out, exist_ok=True)
    onnx_path = os.path.join(args.out, "model.onnx")
    example = torch.from_numpy(val[0].window(c["context"] * 3)[None]).float()
    export_onnx(model, example, onnx_path, "logmel", "probs")

    # Golden cases: real feature windows (silence, start of a song, busy passages) and noise.
    rng = np.random.default_rng(args.seed)
    windows = [np.full((c["n_mels"], c["context"]), -100.0, np.float32), val[0].window(5)]
    for s in val[1:4]:
        windows.append(s.window(int(rng.integers(c["context"], len(s.feats)))))
    windows.append((rng.standard_normal((c["n_mels"], c["context"])) * 20 - 40).astype(np.float32))
    inputs = [w[None].astype(np.float32) for w in windows]
    with torch.no_grad():
        outputs = [model(torch.from_numpy(x)).numpy() for x in inputs]
    # The graph's export form (see ActivityAllConv.forward) must compute what the trained nets do.
    forms = [n for n in nets if hasattr(n, "export_form")]
    for n in forms:
        n.export_form = False
    with torch.no_grad():
        trained = [model(torch.from_numpy(x)).numpy() for x in inputs]
    for n in forms:
        n.export_form = True
    form_diff = max(float(np.abs(a - b).max()) for a, b in zip(outputs, trained))
    if form_diff > 1e-5:
        raise SystemExit(f"the export form differs from the trained form by {form_diff:.2e}")
    worst, ort_version = check_ort(onnx_path, inputs, outputs, "logmel")
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump({"model": "activity", "reference": f"pytorch {torch.__version__}", "cases": [{"inputs": [x.ravel().tolist()], "outputs": [y.ravel().tolist()]} for x, y in zip(inputs, outputs)]}, f)
        f.write("\n")

    old = cards.load(args.out, missing_ok=True)
    card = {
        "name": "activity",
        "version": args.version,
        "sample_rate": c["sample_rate"],
        "frame_size": c["n_fft"],
        "hop_size": c["hop"],
        "window": "hann",
        "n_mels": c["n_mels"],
        "fmin": c["fmin"],
        "fmax": c["fmax"],
        "context_frames": c["context"],
        "predict_every": args.predict_every,
        "features": "log-mel (dB): periodic Hann STFT, power, HTK-mel triangles, 10*log10(max(x, 1e-10)); frame t ends at (t+1)*hop",
        "inputs": [{"name": "logmel", "shape": [1, c["n_mels"], c["context"]]}],
        "outputs": [{"name": "probs", "shape": [1, len(ds.classes)]}],
        "classes": ds.classes,
        "thresholds": thresholds,
        "architecture": arch_desc,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "metrics": {"val": val_flat, "test": old.get("metrics", {}).get("test", {})},
        "data": dataset_summary(train_info),
        "training": training,
        "export": {
            "command": export_cmd,
            "thresholds_tuned_on": dataset_summary(ds.info) if train_info is not ds.info else "the training data's val split",
            "onnx_opset": OPSET,
            "onnxruntime": ort_version,
            "max_abs_diff_pytorch_vs_onnxruntime": worst,
            "date": datetime.date.today().isoformat(),
        },
        "limitations": LIMITATIONS,
        "license": "; ".join(dict.fromkeys(license_note(m["info"]) for m in members)),
    }
    if len(members) > 1:
        card["ensemble"] = [{"data": dataset_summary(m["info"]), "training": m["training"]} for m in members]
    cards.save(args.out, card)
    write_readme(args.out, card)
    print(f"export form vs trained form max diff {form_diff:.1e}")
    print(f"exported {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB); ORT max diff {worst:.2e}; thresholds {thresholds}")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cargo xtask export activity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", default=None, help="training output folder (default runs/<model>); give it more than once to export the ensemble of those runs (mean of their probabilities)")
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--out", default=None, help="default models/<model>")
    ap.add_argument("--version", default=DEFAULT_VERSION)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--predict-every",
        type=int,
        default=CONFIG["predict_every"],
        help="hops between the plugin's predictions (default %(default)s: about 14.4 per second, which kept the held-out AUROC of 2 (21.5 per second) at two thirds of the inference cost); an ensemble costs its members' sum per prediction",
    )
    args = ap.parse_args(argv)
    if args.predict_every < 1:
        ap.error("--predict-every must be at least 1")
    args.run = args.run or [os.path.join("runs", "activity")]
    args.out = args.out or os.path.join("models", "activity")
    torch.manual_seed(args.seed)
    export_activity(args)
