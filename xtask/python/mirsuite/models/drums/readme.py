"""models/drums/README.md, written from the card (export, and the evaluation's tables)."""

import os

from .config import CLASSES, SCORED


def _table(m: dict, me: str, others: dict) -> str:
    head = "| system | " + " | ".join(CLASSES) + " |\n|---|" + "---|" * len(CLASSES)
    rows = []
    for name, pre in [(me, ""), ("NMF-D baseline", "nmfd.")]:
        if f"f.{pre}kick" in m:
            rows.append(f"| {name} | " + " | ".join(f"{m[f'f.{pre}{c}']:.3f}" for c in CLASSES) + " |")
    for name, o in others.items():
        if "f.kick" in o:
            rows.append(f"| {name} | " + " | ".join(f"{o[f'f.{c}']:.3f}" for c in CLASSES) + " |")
    pr = ", ".join(f"{c} P {m[f'p.{c}']:.3f} / R {m[f'r.{c}']:.3f}" for c in CLASSES if f"p.{c}" in m)
    return head + "\n" + "\n".join(rows) + f"\n\nPrecision / recall of the model: {pr}."


def write_readme(model_dir: str, card: dict) -> None:
    ev = card.get("metrics", {}).get("eval", {})
    val = card.get("metrics", {}).get("val") or {}
    tr = card["training"]
    supervised = tr["labels"].startswith("supervised")
    me = "this model (supervised)" if supervised else "DrummerNet (this model)"
    synth = (
        "- Synthesizer (training only, not trained): the activations as impulses convolved with one-shots of a drum kit drawn per "
        "crop from the training kits (`cargo xtask drum-templates`); loss: L1 between the onset-enhanced pseudo-CQT (12 bins per "
        "octave over 8 octaves, 1024/64 STFT, log1p, plus its positive time difference) of the crop and of its rebuild. "
    )
    comp = card.get("comparison", {})
    parts = [
        "# Drum model (Drum Transcriber)",
        "",
        f"Version {card['version']}. {card['task']}.",
        "",
        "## Model",
        f"- Analysis net: a streaming causal TCN on log-mel frames ({card['parameters']:,} parameters, "
        f"{card['macs_per_frame'] / 1e6:.2f} M multiply-accumulates per 8 ms frame = {card['gmac_per_second']:.3f} GMAC per second): "
        "per-band affine → 1×1 convolution → residual blocks of causal dilated temporal convolutions → one logit per synthesizer "
        f"component ({', '.join(card['components'])}) and a \"nothing\" logit; it looks {card['lookahead_frames']} frames ahead.",
        f"- Sparse activations as DrummerNet makes them: a class-wise sparsemax (components + \"nothing\") × a time-wise sparsemax "
        f"over the {2 * card['sparse_half'] + 1} frames centred on each frame (a streaming window instead of the whole excerpt) × a learned gain per component.",
        ("- Training: " if supervised else synth) + tr["labels"][0].upper() + tr["labels"][1:] + ".",
        f"- Features: {card['features']}.",
        f"- Classes: {', '.join(card['classes'])} (components → class: "
        + ", ".join(f"{c} → {card['classes'][k]}" for c, k in zip(card["components"], card["component_class"]))
        + f"); default GM keys {card['default_keys']}.",
        f"- Peak picking ({card['picker']['rule']}): floor {card['picker']['floor']}, gap {card['picker']['gap_frames']} frames; "
        "thresholds tuned on " + card.get("threshold_tuning", {}).get("rule", "the val drum stems").split(" on ", 1)[-1].rstrip(")").split(" (")[0] + " (" + ", ".join(f"{c} {t:.2f}" for c, t in zip(card["classes"], card["thresholds"])) + ").",
        *(
            [
                ("- Timing: through the plugin's path on the val drum stems the notes land late by (median, ms) " if "plugin's path" in card.get("onset_offset_rule", "") else "- Timing: on the val drum stems the picker places onsets late by (median, ms) ")
                + ", ".join(f"{c} {o:+.1f}" for c, o in zip(card["classes"], card["onset_offset_ms"]))
                + "; the plugin places each note that much earlier and reports the largest as extra latency."
            ]
            if card.get("onset_offset_ms")
            else []
        ),
        f"- Streaming export: one log-mel frame in, the causal history as a state vector of {card['state_len']} values in and out; "
        f"ONNX Runtime vs PyTorch max abs diff {card['onnx']['ort_max_abs_diff']:.1e}, streamed vs whole-sequence {card['onnx']['stream_vs_sequence']:.1e}; "
        "tract, the log-mel features and the sparse post-processing are checked against the golden data in the tests.",
        "",
        "## Data",
        (
            f"Adapted from {card['adapted']['from']} to the unlabeled recordings in `{card['adapted']['recordings']}` "
            f"(synthesizer kit: `{card['data']['templates']}`): {card['adapted']['rule']}."
            if card.get("adapted")
            else f"Drum stems of `{card['data']['dataset']}` (rendered by `{card['data']['info']}`: procedurally composed songs, training "
            "timbres only, with the recording chain); templates from the training SoundFonts' percussion presets and the Hydrogen "
            "training kits. The AVL kits (test split) and the real-recording split's Hydrogen kits are never trained or tuned on."
        ),
        "",
        "## Training",
        f"`{tr['command']}` (CPU).",
        "",
        "## Evaluation",
        "",
        (("Selection songs (training kits held out of training: " + card["threshold_tuning"]["rule"].split("held out of training: ", 1)[-1].rstrip(")") + "; tuned thresholds): onset F " if "held out of training" in card.get("threshold_tuning", {}).get("rule", "") else "Val drum stems (tuned thresholds): onset F ") + ", ".join(f"{c} {val.get(f'f.{c}', float('nan')):.3f}" for c in CLASSES) + ".")
        if val
        else "No val scores: an adapted model is trained without labels (see the before/after figures of its base model's README).",
        "",
    ]
    for split, m in ev.items():
        others = {f"{name} v{o.get('version')}": o["eval"][split] for name, o in comp.items() if split in o.get("eval", {})}
        parts += [f"### {split}", "", "Onset F-measure (mir_eval, 50 ms window, PyTorch path):", "", _table(m["metrics"] if "metrics" in m else m, me, others), ""]
    for split, m in card.get("metrics", {}).get("plugin", {}).items():
        pm = m["metrics"]
        parts += [
            f"### {split}: the plugin's path",
            "",
            f"`{m['command']}`: the drum task in the model runner (tract) at the file's rate, notes placed as the plugin places them.",
            "",
            "| source | " + " | ".join(CLASSES) + " |\n|---|" + "---|" * len(CLASSES),
            "| drum stems | " + " | ".join(f"{pm.get(f'f.{c}', float('nan')):.3f}" for c in CLASSES) + " |",
            "| full mixes | " + " | ".join(f"{pm.get(f'f.mix.{c}', float('nan')):.3f}" for c in CLASSES) + " |",
            *(["| full mixes, the separator's drum stem first | " + " | ".join(f"{pm.get(f'f.sep.{c}', float('nan')):.3f}" for c in CLASSES) + " |"] if "f.sep.kick" in pm else []),
            "",
            f"Timing |error| of matched kick/snare/hi-hat notes: median {pm['timing_ms.median']:.1f} ms, 95th percentile {pm['timing_ms.p95']:.1f} ms (mean signed {pm['timing_ms.mean_signed']:+.1f} ms, {pm['timing.matched']} notes).",
            "",
        ]
    for name, o in comp.items():
        parts += [f"Comparison row {name} v{o.get('version')}: `{o.get('training')}` ({o.get('card')}).", ""]
    parts += [
        f"Musts (issue 16): F ≥ 0.85 for {', '.join(SCORED)} on held-out drum tracks and above NMF-D. Scores on unseen SoundFont "
        "kits flatter a model; the `real` split (recorded Hydrogen kits) is the one to judge it by.",
        "",
        "## Licence",
        card["license"],
        "",
    ]
    with open(os.path.join(model_dir, "README.md"), "w") as f:
        f.write("\n".join(parts))
