"""Export a trained model to `models/<name>/`: ONNX (checked against ONNX Runtime at export
time), golden inputs/outputs for the Rust tract parity test, the model card and its README.

    PYTHONPATH=xtask/python python3 -m mirsuite.export activity --run runs/activity --data data/synth
(or `cargo xtask export activity`).
"""

import argparse
import datetime
import json
import os
import sys
import warnings

import numpy as np
import torch

from . import activity, metrics
from .data import Dataset

TOLERANCE = 1e-4
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


def export_onnx(module, example, path, input_name, output_name):
    module.eval()
    kwargs = dict(input_names=[input_name], output_names=[output_name], opset_version=17, do_constant_folding=True)
    with warnings.catch_warnings():
        # Input shapes are fixed (the card's), so sizes read off tensors while tracing are constants.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            torch.onnx.export(module, (example,), path, dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo switch
            torch.onnx.export(module, (example,), path, **kwargs)


def check_ort(path, inputs, expected, input_name):
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x, y in zip(inputs, expected):
        (out,) = sess.run(None, {input_name: x})
        worst = max(worst, float(np.abs(out - y).max()))
    if worst > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {worst:.2e} (> {TOLERANCE})")
    return worst, ort.__version__


def dataset_summary(info: dict):
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


FONT_LICENSES = {"FluidR3_GM.sf2": "FluidR3_GM (MIT)", "TimGM6mb.sf2": "TimGM6mb (GPL-2)", "sf_GMbank.sf2": "csound sf_GMbank (LGPL)"}


def license_note(info: dict) -> str:
    train = (info.get("timbres") or {}).get("train", {})
    fonts = [FONT_LICENSES.get(f, f) for f in train.get("fonts", [])] or ["General-MIDI"]
    extra = []
    if train.get("gus"):
        extra.append("the freepats GUS patches (GPL-2+ with a composition exception)")
    if any(k.startswith("hydrogen:") for k in train.get("kits", [])):
        extra.append("Hydrogen drum kits (Debian hydrogen-drumkits: GPL-2+, CC-BY(-SA)-3.0 and CC0 per kit, see its copyright file)")
    more = "".join(f", {e}" for e in extra[:-1]) + (f" and {extra[-1]}" if extra else "")
    return f"GPL-3.0-or-later (weights trained only on audio rendered from the {', '.join(fonts)} SoundFonts{more})"


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
    if getattr(targs, "swa_start", -1) >= 0:
        cmd += f" --swa-start {targs.swa_start} --swa-every {targs.swa_every} --swa-bn-batches {targs.swa_bn_batches}"
    return cmd


def arch_description(member) -> str:
    """The architecture's card text, with the channel counts a run chose (--width/--hidden)."""
    desc = activity.ARCHS[member["arch"]][1]
    sizes = {k: v for k, v in activity.net_sizes(member["args"]).items() if v is not None}
    if sizes:
        desc += " [trained with " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + " instead of the channel counts above]"
    return desc


def load_member(run, n_classes):
    """A training run's best checkpoint: the net (eval mode) and what the card says about it."""
    ckpt = torch.load(os.path.join(run, "best.pt"), map_location="cpu", weights_only=False)
    targs = argparse.Namespace(**ckpt["args"])
    arch = getattr(targs, "arch", "conv1d")
    net = activity.make_net(arch, n_classes, **activity.net_sizes(targs))
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
    model = activity.Exported(*nets).eval()
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
    if args.predict_every != activity.CONFIG["predict_every"]:
        export_cmd += f" --predict-every {args.predict_every}"

    # Thresholds tuned on the validation split (training timbres, unseen songs).
    val = activity.load_split(vargs, "val")
    p, l, tr = activity.predict_segments(model, val, "cpu", probabilities=True)
    thresholds = metrics.tune_thresholds(p, l, ds.classes)
    val_flat, _ = metrics.activity_metrics(p, l, tr, thresholds, ds.classes)

    c = activity.CONFIG
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

    card_path = os.path.join(args.out, "card.json")
    old = json.load(open(card_path)) if os.path.exists(card_path) else {}
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
            "onnx_opset": 17,
            "onnxruntime": ort_version,
            "max_abs_diff_pytorch_vs_onnxruntime": worst,
            "date": datetime.date.today().isoformat(),
        },
        "limitations": LIMITATIONS,
        "license": "; ".join(dict.fromkeys(license_note(m["info"]) for m in members)),
    }
    if len(members) > 1:
        card["ensemble"] = [{"data": dataset_summary(m["info"]), "training": m["training"]} for m in members]
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    write_readme(args.out, card)
    print(f"export form vs trained form max diff {form_diff:.1e}")
    print(f"exported {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB); ORT max diff {worst:.2e}; thresholds {thresholds}")


def write_readme(out, card):
    val = card["metrics"].get("val", {})
    test = card["metrics"].get("test", {})
    lines = [
        f"# {card['name']} model (v{card['version']})",
        "",
        "Frame-level multi-label instrument activity for the Activity Meter plugin: one second of",
        "log-mel context in, one probability per instrument class out, about "
        f"{card['sample_rate'] / (card['hop_size'] * card['predict_every']):.1f} predictions per second.",
        "",
        "## Classes and thresholds",
        "",
        "| class | threshold (tuned on val) | test AUROC 1 s | test F1 1 s |",
        "|---|---|---|---|",
    ]
    for c, t in zip(card["classes"], card["thresholds"]):
        a = test.get(f"auroc.{c}.1s")
        f1 = test.get(f"f1.{c}.1s")
        lines.append(f"| {c} | {t:.2f} | {a:.3f} | {f1:.3f} |" if a is not None and f1 is not None else f"| {c} | {t:.2f} | – | – |")
    lines += ["", "## Metrics", "", "Held-out test split: MuseScore General (lossless) melodic timbres and AVL drum kits, never", "used for training or tuning. F1 is the thesis' mean of positive- and negative-class F1 per", "instrument, averaged over instruments.", "", "| split | scale | AUROC | LRAP | F1 |", "|---|---|---|---|---|"]
    for split, m in [("test", test), ("val", val)]:
        for s in ["1s", "5s", "10s", "track"]:
            if f"auroc.{s}" in m:
                lines.append(f"| {split} | {s} | {m[f'auroc.{s}']:.4f} | {m[f'lrap.{s}']:.4f} | {m[f'f1.{s}']:.4f} |")
    d = card["data"]
    avg = card.get("averaging_seconds", 0.0)
    ci = card["metrics"].get("test_ci95")
    if ci and ci.get("auroc.1s"):
        a, f = ci["auroc.1s"], ci["f1.1s"]
        lines += [
            "",
            f"The test split holds {ci['songs']} songs; a song-level bootstrap ({ci['resamples']} resamples of its songs)",
            f"puts the 1 s scores' {ci['level']:.0%} interval at AUROC {a[0]:.4f}–{a[1]:.4f} and F1 {f[0]:.4f}–{f[1]:.4f}.",
        ]
    lines += [
        "",
        "Test numbers come from `cargo xtask eval activity` (tract inference exactly as in the plugin,",
        "metrics by scikit-learn"
        + (f", with the default response: {avg:g} s averaging, see below)." if avg else ")."),
        "Validation numbers come from the export step (PyTorch, raw predictions, the training data's",
        "val split). The test split (MuseScore General + AVL kits) is rendered by oxisynth, which",
        "applies the SoundFont modulators MuseScore General's voicing relies on.",
        "",
    ]
    rows = card["metrics"].get("test_responses", [])
    if card.get("responses"):
        tuned = card.get("responses_tuned_on", {})
        lines += [
            "## Response settings",
            "",
            "The plugin averages the probabilities causally (exponential average, time constant below)",
            "before the thresholds and the median filter; each setting has its own thresholds, tuned on",
            f"`{tuned.get('data', '?')}` split `{tuned.get('split', '?')}` (`{tuned.get('command', '')}`).",
            "Longer averages recognize sustained instruments more reliably from several seconds of",
            "evidence, and switch them on and off later. Display lags: seconds from a label change",
            "(an instrument entering or leaving, steady for 1 s on both sides) to the meter's gate",
            "(thresholds + the default 5-step median) following it; changes not followed within 5 s",
            "count as missed. Measured on the test split by `cargo xtask eval activity`.",
            "",
            "| averaging | Response | test AUROC 1 s | test F1 1 s | test AUROC 5 s | onset lag median / p90 | release lag median / p90 | missed on / off |",
            "|---|---|---|---|---|---|---|---|",
        ]
        names = {0.0: "Fast", 0.5: "Balanced", 1.0: "Steady", 2.0: "Slow"}
        for r in card["responses"]:
            m = next((x for x in rows if abs(x["seconds"] - r["seconds"]) < 1e-6), None)
            tag = names.get(float(r["seconds"]), "–") + (" (default)" if abs(r["seconds"] - avg) < 1e-6 else "")
            if m is None:
                lines.append(f"| {r['seconds']:g} s | {tag} | – | – | – | – | – | – |")
                continue
            lines.append(
                f"| {r['seconds']:g} s | {tag} | {m['auroc.1s']:.4f} | {m['f1.1s']:.4f} | {m['auroc.5s']:.4f} | "
                f"{m['onset_median_s']:.2f} / {m['onset_p90_s']:.2f} s | {m['release_median_s']:.2f} / {m['release_p90_s']:.2f} s | "
                f"{m['missed_onsets']}/{m['onsets']} · {m['missed_releases']}/{m['releases']} |"
            )
        lines.append("")
    lines += [
        "## Data",
        "",
    ]
    for i, m in enumerate(card.get("ensemble", [{"data": d}])):
        md = m["data"]
        lines += [
            (f"Member {i + 1} of the ensemble, trained by `{m['training']['command']}`: " if "training" in m else "")
            + f"{md['source']}: {md['songs']} songs of {md['seconds_per_song']} s at {md['sample_rate']} Hz.",
            f"Timbres: {json.dumps(md['timbres'])}.",
            f"Dataset command: `{md['command']}`.",
            "",
        ]
    lines += [
        "## Features and model",
        "",
        f"- Features: {card['features']}; {card['n_mels']} bands {card['fmin']}–{card['fmax']} Hz, n_fft {card['frame_size']}, hop {card['hop_size']} at {card['sample_rate']} Hz; context {card['context_frames']} frames (1 s).",
        f"- Architecture: {card['architecture']} ({card['parameters']} parameters).",
        "",
        "## Reproduce",
        "",
        "```sh",
        *dict.fromkeys(m["data"]["command"] or "cargo xtask dataset" for m in card.get("ensemble", [{"data": d}])),
        card["training"]["command"],
    ]
    tuned = card.get("responses_tuned_on")
    if tuned and tuned.get("dataset_command"):
        # Rendered before the export, which may tune its thresholds on the same data.
        lines.append(tuned["dataset_command"])
    lines.append(card["export"]["command"])
    if tuned:
        lines.append(tuned["command"])
    lines += [
        "cargo xtask eval activity" + (f" --data {card['responses_tuned_on']['data']}" if card.get("responses_tuned_on") else ""),
        "```",
        "",
        f"## Limitations\n\n{card.get('limitations', '')}",
        "",
        f"## License\n\n{card['license']}",
        "",
    ]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", choices=["activity"])
    ap.add_argument("--run", action="append", default=None, help="training output folder (default runs/<model>); give it more than once to export the ensemble of those runs (mean of their probabilities)")
    ap.add_argument("--data", default="data/synth")
    ap.add_argument("--out", default=None, help="default models/<model>")
    ap.add_argument("--version", default=DEFAULT_VERSION)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--predict-every",
        type=int,
        default=activity.CONFIG["predict_every"],
        help="hops between the plugin's predictions (default %(default)s: about 14.4 per second, which kept the held-out AUROC of 2 (21.5 per second) at two thirds of the inference cost); an ensemble costs its members' sum per prediction",
    )
    args = ap.parse_args(argv)
    if args.predict_every < 1:
        ap.error("--predict-every must be at least 1")
    args.run = args.run or [os.path.join("runs", args.model)]
    args.out = args.out or os.path.join("models", args.model)
    torch.manual_seed(args.seed)
    export_activity(args)


if __name__ == "__main__":
    sys.exit(main())
