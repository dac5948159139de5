"""`cargo xtask eval melody`: the shipped model folder, its two ONNX graphs run by ONNX Runtime
one measure per call (as the plugin's worker runs them), on the held-out test tunes:

* the AR-VAE paper's figures (`metrics`): greedy reconstruction accuracy per token,
  interpretability per attribute, MIG (and the ideal code's MIG on these measures, its
  ceiling), and the slider test (Spearman's ρ between slider position and the decoded
  measure's attribute);
* an MGEval table (Yang & Lerch): measures generated the way the plugin generates them (a card
  "idea" for the free dims, each slider at a uniform position over its range, Gumbel sampling
  at temperature 1) against held-out test measures; per feature the intra-set distance PDF of
  the test measures against the inter-set (generated × test) PDF, as KL divergence and
  overlapping area (OA 1: the generated measures sit among the real ones as the real ones sit
  among themselves).

    cargo xtask eval melody [--data data/melody] [--model-dir models/melody] [--json F]
"""

import argparse
import json
import os

import numpy as np

from . import metrics
from .tokens import ATTRIBUTES, FIRST_PITCH, HOLD, TICKS, VOCAB, attributes

MGEVAL_FEATURES = ("pitch_count", "pitch_range", "avg_pitch_interval", "note_count", "avg_ioi", "pitch_class_histogram", "note_length_histogram")


class OnnxMelody:
    """The exported encoder and decoder, one measure per call (batch 1, as exported)."""

    def __init__(self, folder: str):
        import onnxruntime as ort

        with open(os.path.join(folder, "card.json")) as f:
            self.card = json.load(f)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.enc = ort.InferenceSession(os.path.join(folder, self.card["encoder"]["file"]), opts, providers=["CPUExecutionProvider"])
        self.dec = ort.InferenceSession(os.path.join(folder, self.card["decoder"]["file"]), opts, providers=["CPUExecutionProvider"])

    def encode(self, tokens: np.ndarray) -> np.ndarray:
        return np.concatenate([self.enc.run(None, {"tokens": t[None].astype(np.float32)})[0] for t in tokens])

    def decode(self, z: np.ndarray, noise: np.ndarray | None = None, temperature: float = 1.0) -> np.ndarray:
        out = np.empty((len(z), TICKS), dtype=np.int64)
        temp = np.array([temperature], dtype=np.float32)
        for i, zi in enumerate(z):
            g = np.zeros((1, TICKS, VOCAB), dtype=np.float32) if noise is None else noise[i : i + 1].astype(np.float32)
            out[i] = self.dec.run(None, {"z": zi[None].astype(np.float32), "noise": g, "temperature": temp})[0][0].astype(np.int64)
        return out


def notes(tokens: np.ndarray):
    """A measure's notes as (onset tick, length in ticks, pitch token)."""
    out = []
    for t, tok in enumerate(tokens):
        if tok >= FIRST_PITCH:
            out.append([t, 1, int(tok)])
        elif tok == HOLD and out:
            out[-1][1] += 1
    return out


def mgeval_features(tokens: np.ndarray) -> dict:
    """MGEval's bar-level features of each measure: scalars, and the pitch-class and
    note-length histograms (12 and 24 bins, normalized)."""
    feats = {k: [] for k in MGEVAL_FEATURES}
    for m in tokens:
        ns = notes(m)
        p = np.array([n[2] for n in ns])
        feats["pitch_count"].append(len(np.unique(p)) if len(p) else 0)
        feats["pitch_range"].append(int(p.max() - p.min()) if len(p) else 0)
        feats["avg_pitch_interval"].append(float(np.abs(np.diff(p)).mean()) if len(p) > 1 else 0.0)
        feats["note_count"].append(len(ns))
        on = np.array([n[0] for n in ns])
        feats["avg_ioi"].append(float(np.diff(on).mean()) if len(on) > 1 else 0.0)
        pc = np.bincount((p - FIRST_PITCH + 55) % 12, minlength=12).astype(float) if len(p) else np.zeros(12)
        feats["pitch_class_histogram"].append(pc / max(pc.sum(), 1))
        nl = np.bincount([min(n[1], TICKS) - 1 for n in ns], minlength=TICKS).astype(float) if ns else np.zeros(TICKS)
        feats["note_length_histogram"].append(nl / max(nl.sum(), 1))
    return {k: np.array(v, dtype=np.float64).reshape(len(tokens), -1) for k, v in feats.items()}


def _distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances: within `a` (each pair once) or between every a and every b."""
    if b is None:
        i, j = np.triu_indices(len(a), k=1)
        return np.linalg.norm(a[i] - a[j], axis=1)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).ravel()


def _pdf(d: np.ndarray, grid: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    if np.ptp(d) == 0:  # one value: a narrow bump there
        d = d + np.random.default_rng(0).normal(0, 1e-3, len(d))
    p = gaussian_kde(d)(grid)
    return p / max(np.trapezoid(p, grid), 1e-12)


def mgeval(generated: np.ndarray, reference: np.ndarray) -> dict:
    """Per feature: KL(intra-reference ‖ inter) and the overlapping area of the two PDFs."""
    fg, fr = mgeval_features(generated), mgeval_features(reference)
    out = {}
    for k in MGEVAL_FEATURES:
        intra, inter = _distances(fr[k]), _distances(fg[k], fr[k])
        hi = max(intra.max(), inter.max()) + 1e-6
        grid = np.linspace(0, hi * 1.1, 1000)
        p, q = _pdf(intra, grid), _pdf(inter, grid)
        eps = 1e-10
        out[k] = {
            "kl": float(np.trapezoid(p * np.log((p + eps) / (q + eps)), grid)),
            "oa": float(np.trapezoid(np.minimum(p, q), grid)),
            "generated_mean": float(fg[k].mean()) if fg[k].shape[1] == 1 else None,
            "reference_mean": float(fr[k].mean()) if fr[k].shape[1] == 1 else None,
        }
    return out


def generate(model: OnnxMelody, count: int, seed: int = 0) -> np.ndarray:
    """Measures as the plugin makes them: a card idea for the free dims, every slider at a
    uniform position over its range, Gumbel sampling at temperature 1."""
    rng = np.random.default_rng(seed)
    ideas = np.array(model.card["ideas"], dtype=np.float32)
    z = ideas[rng.integers(len(ideas), size=count)].copy()
    for name, a in model.card["attributes"].items():
        lo, hi = a["slider_range"]
        z[:, a["dim"]] = rng.uniform(lo, hi, count)
    g = -np.log(-np.log(rng.uniform(1e-6, 1 - 1e-6, (count, TICKS, VOCAB))))
    return model.decode(z, g, 1.0)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cargo xtask eval melody")
    ap.add_argument("--model-dir", default="models/melody")
    ap.add_argument("--data", default="data/melody")
    ap.add_argument("--test-bars", type=int, default=4096, help="held-out test measures scored (the export's default)")
    ap.add_argument("--generated", type=int, default=1000, help="measures generated for the MGEval table")
    ap.add_argument("--json", default="target/eval/melody.json")
    ap.add_argument("--update-card", action="store_true", help="write the figures into the card (metrics.eval.test)")
    a = ap.parse_args(argv)
    from .train import split_tokens

    model = OnnxMelody(a.model_dir)
    t, attrs = split_tokens(argparse.Namespace(dataset="folk", data=a.data), 2, a.test_bars)
    z = model.encode(t)
    rec = model.decode(z)
    m = {"recon_acc": float((rec == t).mean()), "measures": int(len(t))}
    for (r2, d), name in zip(metrics.interpretability(z, attrs), ATTRIBUTES):
        m[f"interp.{name}"] = r2
        m[f"interp_dim.{name}"] = d
    m["interp"] = float(np.mean([m[f"interp.{n}"] for n in ATTRIBUTES]))
    m["mig"] = metrics.mig(z, attrs)
    m["mig_ceiling"] = metrics.mig_ceiling(attrs)
    for rho, name in zip(metrics.slider_spearman_of(model.decode, z), ATTRIBUTES):
        m[f"spearman.{name}"] = rho
    gen = generate(model, a.generated)
    mg = mgeval(gen, t[: a.generated])
    for k, v in mg.items():
        m[f"mgeval.{k}.kl"] = v["kl"]
        m[f"mgeval.{k}.oa"] = v["oa"]
    print(f"held-out test tunes ({len(t)} measures), model {a.model_dir} v{model.card.get('version')} through ONNX Runtime:")
    print(f"  reconstruction {m['recon_acc']:.3f}   MIG {m['mig']:.3f} (ideal code {m['mig_ceiling']:.3f})")
    print(f"  {'attribute':<22} {'interp':>7} {'slider ρ':>9}")
    for n in ATTRIBUTES:
        print(f"  {n:<22} {m[f'interp.{n}']:>7.3f} {m[f'spearman.{n}']:>9.3f}")
    print(f"MGEval: {a.generated} generated measures (card ideas, uniform sliders, T = 1) against {a.generated} test measures")
    print(f"  {'feature':<24} {'KL':>7} {'OA':>7} {'mean gen.':>10} {'mean test':>10}")
    for k, v in mg.items():
        means = f"{v['generated_mean']:>10.2f} {v['reference_mean']:>10.2f}" if v["generated_mean"] is not None else f"{'':>10} {'':>10}"
        print(f"  {k:<24} {v['kl']:>7.3f} {v['oa']:>7.3f} {means}")
    out = {"model": "melody", "split": "test", "path": "ONNX Runtime, one measure per call", "metrics": m, "mgeval": mg}
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)
    print(f"metrics: {a.json}")
    if a.update_card:
        from ... import card as cards

        def change(card):
            card.setdefault("metrics", {}).setdefault("eval", {})["test"] = {"path": out["path"], "metrics": m, "command": "cargo xtask eval melody"}
            return card

        cards.update(a.model_dir, change, lambda folder, card: None)  # the README is written by hand
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
