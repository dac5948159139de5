"""Export a trained melody model: `encoder.onnx` (tokens → latent mean) and `decoder.onnx`
(latent, Gumbel noise, temperature → tokens and step logits), each checked against ONNX Runtime
(≤ 1e-4 on the logits, identical tokens), golden inputs/outputs for the Rust tract parity test,
and the held-out metrics in `card.json`.

    cargo xtask export melody --run runs/melody --data data/melody --out models/melody
"""

import argparse
import datetime
import json
import os
import warnings

import numpy as np
import torch

from ... import card as cards
from ...onnxexport import OPSET, TOLERANCE
from . import metrics
from .net import Decoder, Encoder, MeasureVAE
from .tokens import ATTRIBUTES, FIRST_PITCH, GRID, HIGHEST, HOLD, LOWEST, REST, TICKS, VOCAB
from . import dmelodies
from .train import split_tokens

GOLDEN_CASES = 4


def _export(module, args, path, input_names, output_names):
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names, opset_version=OPSET, do_constant_folding=True, dynamo=False)


def load_run(run: str):
    state = torch.load(os.path.join(run, "best.pt"), map_location="cpu", weights_only=False)
    a = argparse.Namespace(**state["args"])
    vocab, ticks = (dmelodies.VOCAB, dmelodies.TICKS) if getattr(a, "dataset", "folk") == "dmelodies" else (VOCAB, TICKS)
    model = MeasureVAE(vocab=vocab, ticks=ticks, latent=a.latent, hidden=a.hidden)
    model.load_state_dict(state["model"])
    return model.eval(), a, state


IDEAS = 64  # latents of validation measures that "new idea" picks from


def spec(name, shape):
    return {"name": name, "shape": list(shape)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="cargo xtask export melody")
    ap.add_argument("--run", required=True)
    ap.add_argument("--data", default="data/melody")
    ap.add_argument("--out", default="models/melody")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--test-bars", type=int, default=8192)
    ap.add_argument("--compare", nargs="*", default=[], metavar="NAME=RUN", help="other runs scored on the same held-out measures for the card (e.g. plain_vae=runs/melody-vae)")
    args = ap.parse_args(argv)
    model, targs, state = load_run(args.run)
    if getattr(targs, "dataset", "folk") != "folk":
        raise SystemExit("only folk-trained melody models ship (dMelodies runs are benchmarks)")
    os.makedirs(args.out, exist_ok=True)
    enc, dec = Encoder(model).eval(), Decoder(model).eval()
    rng = np.random.default_rng(0)
    tokens, _ = split_tokens(targs, 1, GOLDEN_CASES)
    tok = torch.from_numpy(tokens.astype(np.float32))
    # Batch 1: the plugin encodes and decodes one measure per call.
    _export(enc, (tok[:1],), os.path.join(args.out, "encoder.onnx"), ["tokens"], ["z"])
    with torch.no_grad():
        z = enc(tok)
    gumbel = torch.from_numpy(-np.log(-np.log(rng.uniform(1e-6, 1 - 1e-6, (GOLDEN_CASES, TICKS, VOCAB)))).astype(np.float32))
    temp = torch.tensor([0.8])
    _export(dec, (z[:1], gumbel[:1], temp), os.path.join(args.out, "decoder.onnx"), ["z", "noise", "temperature"], ["tokens", "logits"])
    # ONNX Runtime against PyTorch, one measure at a time: greedy (zero noise) and sampled.
    import onnxruntime as ort

    se = ort.InferenceSession(os.path.join(args.out, "encoder.onnx"), providers=["CPUExecutionProvider"])
    sd = ort.InferenceSession(os.path.join(args.out, "decoder.onnx"), providers=["CPUExecutionProvider"])
    worst = 0.0
    enc_cases, dec_cases = [], []
    for i in range(GOLDEN_CASES):
        zo = se.run(None, {"tokens": tok[i : i + 1].numpy()})[0]
        worst = max(worst, float(np.abs(zo - z[i : i + 1].numpy()).max()))
        enc_cases.append({"tokens": tokens[i].astype(int).tolist(), "z": z[i].numpy().tolist()})
        for noise in (torch.zeros_like(gumbel[i : i + 1]), gumbel[i : i + 1]):
            with torch.no_grad():
                t_ref, l_ref = dec(z[i : i + 1], noise, temp)
            t_ort, l_ort = sd.run(None, {"z": z[i : i + 1].numpy(), "noise": noise.numpy(), "temperature": temp.numpy()})
            if not np.array_equal(t_ort, t_ref.numpy()):
                raise SystemExit("ONNX Runtime decodes other tokens than PyTorch")
            worst = max(worst, float(np.abs(l_ort - l_ref.numpy()).max()))
            dec_cases.append({"z": z[i].numpy().tolist(), "noise": noise.numpy().ravel().tolist(), "temperature": float(temp), "tokens": t_ref.numpy().ravel().astype(int).tolist(), "logits": l_ref.numpy().ravel().tolist()})
    if worst > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {worst:.2e} (> {TOLERANCE})")
    # Held-out test tunes: the metrics the card reports, and the attributes the Rust mirror of
    # `tokens.attributes` must reproduce.
    t, a = split_tokens(targs, 2, args.test_bars)
    dev = torch.device("cpu")
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump({"encoder": enc_cases, "decoder": dec_cases, "attributes": {"tokens": t[:512].astype(int).tolist(), "values": a[:512].tolist()}}, f)
    m = metrics.score(model, t, a, dev, sliders=True)
    m["mig_ceiling"] = metrics.mig_ceiling(a)
    compare = {}
    for item in args.compare:
        name, run = item.split("=", 1)
        other, oargs, _ = load_run(run)
        compare[name] = {"run": run, "gamma": oargs.gamma, "beta": oargs.beta, **metrics.score(other, t, a, dev, sliders=True)}
    val_tokens = split_tokens(targs, 1, 4096)[0]
    z_val = metrics.encode(model, val_tokens, dev)
    ranges = {name: [float(x) for x in np.percentile(z_val[:, k], [5, 95])] for k, name in enumerate(ATTRIBUTES)}
    # "New idea" in the plugin: the free dims of a validation measure with at least three notes
    # (the attribute dims come from the sliders). Validation tunes only: never the test split.
    busy = np.flatnonzero((val_tokens >= FIRST_PITCH).sum(axis=1) >= 3)
    picks = np.random.default_rng(7).choice(busy, size=min(IDEAS, len(busy)), replace=False)
    ideas = [[round(float(x), 5) for x in z_val[i]] for i in picks]
    card = {
        "name": "melody",
        "version": args.version,
        "task": "measure VAE with attribute-regularized latent dims (AR-VAE): one 4/4 measure <-> 32-d latent",
        "created": datetime.date.today().isoformat(),
        "encoder": {"file": "encoder.onnx", "inputs": [spec("tokens", [1, TICKS])], "outputs": [spec("z", [1, targs.latent])]},
        "decoder": {
            "file": "decoder.onnx",
            "inputs": [spec("z", [1, targs.latent]), spec("noise", [1, TICKS, VOCAB]), spec("temperature", [1])],
            "outputs": [spec("tokens", [1, TICKS]), spec("logits", [1, TICKS, VOCAB])],
        },
        "tokens": {"ticks": TICKS, "ticks_per_beat": TICKS // 4, "grid": [str(g) for g in GRID], "rest": REST, "hold": HOLD, "first_pitch": FIRST_PITCH, "pitches": [LOWEST, HIGHEST], "vocab": VOCAB},
        "latent": targs.latent,
        "attributes": {name: {"dim": k, "slider_range": ranges[name]} for k, name in enumerate(ATTRIBUTES)},
        "ideas": ideas,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "training": {
            "command": f"cargo xtask train melody --data {targs.data} --steps {targs.steps} --batch {targs.batch} --seed {targs.seed} --lr {targs.lr} --beta {targs.beta} --gamma {targs.gamma} --delta {targs.delta} --cycle {getattr(targs, 'cycle', 0.0)} --latent {targs.latent} --hidden {targs.hidden} --out {args.run}",
            "steps": targs.steps,
            "validation": state.get("metrics"),
        },
        "metrics": {"test": m, **compare},
        "onnx": {"opset": OPSET, "ort_max_abs_diff": worst},
        "license": "model: GPL-3.0-or-later; data: music21's corpus (Essen folksongs, Ryan's Mammoth Collection: public domain)",
    }
    cards.save(args.out, card)
    print(json.dumps({"test": m, **compare}, indent=1))
