"""The melody model's hooks for the shared training loop (`mirsuite.train`): a measure VAE with
AR-VAE's attribute regularization on folk measures (or dMelodies), validated by greedy
reconstruction accuracy and interpretability on the val tunes.

    cargo xtask train melody --data data/melody --steps 12000 --out runs/melody
    cargo xtask train melody --data data/melody --gamma 0 --out runs/melody-vae   # the plain VAE

Loss per batch (AR-VAE): token cross-entropy + β·KL + γ·Σ_a AR(z[a], attribute a) with the four
attributes on latent dims 0–3 (rhythmic complexity, pitch range, note density, contour),
δ = 10. Training measures are transposed by a random shift that keeps them in 55–84 (the
reference uses every such transposition); val and test measures keep their key (octave-shifted
into range where needed).
"""

import numpy as np
import torch
import torch.nn.functional as F

from . import dmelodies, folk, metrics
from .net import MeasureVAE, ar_loss, attribute_loss, cycle_loss, kl
from .tokens import TICKS, VOCAB, attributes, shift_range, to_tokens

SELECT = "score"


def add_args(ap):
    ap.add_argument("--dataset", choices=["folk", "dmelodies"], default="folk", help="folk measures (music21's corpus) or dMelodies")
    ap.add_argument("--latent", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--beta", type=float, default=0.001, help="KL weight")
    ap.add_argument("--gamma", type=float, default=1.0, help="attribute-regularization weight (0: a plain VAE)")
    ap.add_argument("--delta", type=float, default=10.0, help="AR-VAE's tanh spread")
    ap.add_argument("--cycle", type=float, default=0.0, help="slider-consistency weight (0: off): the decoder is asked to decode swapped regularized dims into measures the encoder reads back as asked")
    ap.add_argument("--attr-weight", type=float, default=0.0, help="slider-fidelity weight (0: off): the decoder is asked to decode swapped regularized dims into measures whose true attributes are the donors' (no learned judge)")
    ap.add_argument("--teacher-prob", type=float, default=0.5, help="probability that a batch is teacher-forced (else fed its own argmax)")
    ap.add_argument("--val-bars", type=int, default=4096, help="val measures scored at each validation")


def _vocab_ticks(args):
    return (dmelodies.VOCAB, dmelodies.TICKS) if args.dataset == "dmelodies" else (VOCAB, TICKS)


def build(args):
    vocab, ticks = _vocab_ticks(args)
    model = MeasureVAE(vocab=vocab, ticks=ticks, latent=args.latent, hidden=args.hidden)
    # The loss weights ride on the model (the loop calls loss(model, batch)).
    model.beta, model.gamma, model.delta = args.beta, args.gamma, args.delta
    model.cycle = args.cycle
    model.attr_weight = getattr(args, "attr_weight", 0.0)
    return model


def in_key(bars: np.ndarray) -> np.ndarray:
    """Val/test measures in their own key, moved by octaves into 55–84 where they fall outside
    (measures that fit no octave are dropped by the caller: `keep`)."""
    lo, hi = shift_range(bars)
    shift = np.zeros(len(bars), dtype=np.int64)
    for octave in (12, -12, 24, -24):
        bad = ~((lo <= shift) & (shift <= hi))
        shift[bad & (lo <= octave) & (octave <= hi)] = octave
    return shift


def split_tokens(args, split: int, limit: int | None = None):
    """(tokens `[n, ticks]`, attributes `[n, k]`) of a val (1) or test (2) split, the first
    `limit` of a seeded shuffle."""
    if args.dataset == "dmelodies":
        f = dmelodies.factors()
        idx = dmelodies.split()[split]
        if limit:
            idx = idx[:limit]
        f = f[idx]
        return dmelodies.tokens(f), (f / (np.array(dmelodies.SIZES) - 1)).astype(np.float32)
    d = folk.load(args.data)
    bars = d["bars"][d["split"] == split]
    shift = in_key(bars)
    lo, hi = shift_range(bars)
    ok = (lo <= shift) & (shift <= hi)
    bars, shift = bars[ok], shift[ok]
    order = np.random.default_rng(split).permutation(len(bars))
    if limit:
        order = order[:limit]
    t = to_tokens(bars[order], shift[order])
    return t, attributes(t)


def batches(args, rng):
    """Endless (tokens, attributes, teacher-forcing flag) batches from the train split."""
    if args.dataset == "dmelodies":
        f = dmelodies.factors()[dmelodies.split()[0]]
        norm = np.array(dmelodies.SIZES) - 1
        while True:
            b = f[rng.integers(len(f), size=args.batch)]
            yield (torch.from_numpy(dmelodies.tokens(b).astype(np.int64)), torch.from_numpy((b / norm).astype(np.float32)),
                   torch.tensor(float(rng.random() < args.teacher_prob)))
    d = folk.load(args.data)
    bars = d["bars"][d["split"] == 0]
    lo, hi = shift_range(bars)
    ok = lo <= hi
    bars, lo, hi = bars[ok], lo[ok], hi[ok]
    print(f"{len(bars)} training measures from {len(np.unique(d['tune'][d['split'] == 0]))} tunes", flush=True)
    while True:
        i = rng.integers(len(bars), size=args.batch)
        shift = lo[i] + (rng.random(args.batch) * (hi[i] - lo[i] + 1)).astype(np.int64)
        t = to_tokens(bars[i], shift)
        yield (torch.from_numpy(t.astype(np.int64)), torch.from_numpy(attributes(t)), torch.tensor(float(rng.random() < args.teacher_prob)))


def loss(model, batch):
    tokens, attrs, teacher = batch[:3]
    logits, mu, log_sigma, z = model(tokens, teacher=bool(teacher.item() > 0.5))
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.reshape(-1))
    total = ce + model.beta * kl(mu, log_sigma)
    if model.gamma > 0:
        # Attribute (or, on dMelodies, factor) k on latent dim k.
        reg = sum(ar_loss(z[:, r], attrs[:, r], model.delta) for r in range(attrs.shape[1]))
        total = total + model.gamma * reg
        if model.cycle > 0:
            total = total + model.cycle * cycle_loss(model, z, attrs.shape[1])
        if model.attr_weight > 0:
            total = total + model.attr_weight * attribute_loss(model, z, attrs)
    return total


_VAL = {}


def validate(model, args, dev):
    key = (args.data, args.dataset, args.val_bars)
    if key not in _VAL:
        _VAL[key] = split_tokens(args, 1, args.val_bars)
    t, a = _VAL[key]
    s = metrics.score(model, t, a, dev)
    out = {"recon_acc": s["recon_acc"], "interp": s["interp"], "mig": s["mig"]}
    out["score"] = out["recon_acc"] + out["interp"]
    return out

