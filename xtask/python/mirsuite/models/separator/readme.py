"""models/separator/README.md, written from the card (export and `eval --update-card`)."""

import os

from .config import SOURCES, SYSTEMS


def _table(m: dict) -> str:
    systems = [s for s in SYSTEMS if f"sdr.{s}.mean" in m]
    head = "| system | " + " | ".join(SOURCES) + " | mean |\n|---|" + "---|" * (len(SOURCES) + 1)
    rows = []
    for s in systems:
        cells = [f"{m[f'sdr.{s}.{k}']:.2f} / {m[f'leak_db.{s}.{k}']:.1f}" for k in SOURCES]
        rows.append(f"| `{s}` | " + " | ".join(cells) + f" | {m[f'sdr.{s}.mean']:.2f} |")
    f1 = ", ".join(f"{k} {m[f'activity_f1.{k}']:.3f}" for k in SOURCES if f"activity_f1.{k}" in m)
    return head + "\n" + "\n".join(rows) + f"\n\nActivity-head F1 (the gate vs. the labels): {f1}."


def _rel(path, model_dir: str) -> str:
    """A path inside the repository (two levels above the model folder) relative to its root."""
    if not path or not os.path.isabs(path):
        return path
    root = os.path.dirname(os.path.dirname(os.path.abspath(model_dir)))
    return os.path.relpath(path, root) if os.path.commonpath([path, root]) == root else path


def write_readme(model_dir: str, card: dict) -> None:
    ev = card.get("metrics", {}).get("eval", {})
    parts = [
        "# Separator model (Stem Separator)",
        "",
        f"Version {card['version']}. {card['task']}.",
        "",
        "## Model",
        f"- Streaming U-Net over the channel axis ({card['parameters']:,} parameters, "
        f"{card['macs_per_frame'] / 1e6:.2f} M multiply-accumulates per frame = {card['gmac_per_second']:.3f} GMAC per second "
        "of audio): log magnitude → per-bin affine → 1×1 encoder convolutions 1025 → 192 → 128 → 64 with residual blocks of "
        "causal dilated temporal convolutions, a decoder with additive skips, five mask logits per bin (softmax over the sources), "
        "and an activity head (1×1 convolution + sigmoid) on the 64-channel latent, one probability per source, \"other\" included.",
        f"- Features: {card['features']}.",
        f"- Sources: {', '.join(card['sources'])} (\"other\" is the residual: the plugin computes it as the input minus the four stems).",
        f"- Look-ahead: {card['lookahead_frames']} model frames; the gate's median is centred and up to {card['median_max']} frames "
        f"long (default {card['default_median']}), so it adds {card['median_max'] // 2} frames of fixed look-ahead.",
        "- Gate (IASS): activity → threshold → centred median → each stem's mask multiplied by its gate, the gated-out share "
        "staying in \"other\"; when \"other\" is gated shut, the open stems take its share in proportion to their masks, each "
        f"scaled by at most 1/{card.get('threshold_tuning', {}).get('other_floor', 0.5)} (a bin that no open stem holds keeps the rest in \"other\").",
        f"- Gate thresholds (tuned on the val split: {card.get('threshold_tuning', {}).get('rule', 'best activity F1 at the default median')}): "
        + ", ".join(f"{c} {t:.2f}" for c, t in zip(card["classes"], card["thresholds"]))
        + (
            "; the best-F1 thresholds would be "
            + ", ".join(f"{c} {t:.2f}" for c, t in zip(card["classes"], card["threshold_tuning"]["best_f1_thresholds"]))
            if "threshold_tuning" in card
            else ""
        )
        + ".",
        f"- Streaming export: one STFT frame in, the causal history as a state vector of {card['state_len']} values in and out; "
        f"ONNX Runtime vs PyTorch max abs diff {card['onnx']['ort_max_abs_diff']:.1e}, streamed vs whole-sequence "
        f"{card['onnx']['stream_vs_sequence']:.1e}; tract is checked against the golden outputs in the tests.",
        "",
        "## Data",
        f"Rendered by `{card['data']['info']}`: procedurally composed songs, training timbres only (FluidR3 GM/GS, TimGM6mb, "
        "csound's sf_GMbank, the Hydrogen kits except the AVL and real-split kits), with the recording chain; half the training "
        "crops are remixed from independent songs, and sources are left out at random so the gate learns silence.",
        "",
        "## Training",
        f"`{card['training']['command']}` ({card['training']['steps']} steps"
        + (f" in {card['training']['stages']} stages, each continuing from the previous stage's best.pt with a fresh one-cycle schedule" if card["training"].get("stages", 1) > 1 else "")
        + ", CPU). "
        "Multitask loss: the MSE between each source's masked mixture magnitude and the source's magnitude, normalized by the "
        "mixture power, plus the activity BCE weighted by `--act-weight` (IASS). "
        "The `umx` baseline of the evaluation is the same command with `--arch umx` and its own run folders (`runs/separator-umx`"
        + (", continued the same way" if card["training"].get("stages", 1) > 1 else "")
        + "): same data, steps, batch and seeds. With a GPU lent, add `--device cuda` (and raise `--batch`/`--steps`: the recipe is the same, "
        "only faster).",
        "",
        "## Evaluation",
    ]
    if not ev:
        parts.append("Not evaluated yet: `cargo xtask eval separator --data data/sep --split test`.")
    for split, out in ev.items():
        m = out["metrics"]
        parts += [
            "",
            f"### {split} split ({m.get('songs')} songs of `{_rel(out['data'], model_dir)}`)",
            "",
            "SDR in dB (BSSEval v4 via museval, each stem scored against mix − stem, median over 1 s frames and songs) / "
            "leakage in dB (the estimate's energy in 100 ms frames where the stem is silent, relative to the mixture's):",
            "",
            _table(m),
        ]
    parts += [
        "",
        "Scores on unseen SoundFonts flatter a model; the `real` split (recorded instruments: freepats, real Hydrogen kits) "
        "is the one to judge it by.",
        "",
        "Reproduce: "
        + "; ".join(
            f"`cargo xtask eval separator --data {_rel(out['data'], model_dir)} --split {split}" + (f" --baseline {_rel(out['baseline'], model_dir)}" if out.get("baseline") else "") + "`"
            for split, out in ev.items()
        )
        + ".",
        "",
        "## Licence",
        card["license"],
        "",
    ]
    with open(os.path.join(model_dir, "README.md"), "w") as f:
        f.write("\n".join(parts))
