"""The drum model's hooks for the shared training loop (`mirsuite.train`): DrummerNet's
unsupervised analysis–synthesis training on drum stems, no transcription labels.

    cargo xtask drum-templates --out data/drum-templates
    cargo xtask train drums --data data/sep --templates data/drum-templates --steps 3000 --out runs/drums

Loss: the L1 distance between the onset-enhanced pseudo-CQT of each crop and of its rebuild (the
net's sparse activations played by the fixed synthesizer with a kit drawn per crop), on the
log1p spectrogram plus `--onset-weight` × on its positive time difference. The activations of
the first and last frames (without their context) and the audio they would rebuild are left
out. Validation (the only use of the onset labels besides threshold tuning): onset F with the
default peak-picking threshold on the val drum stems; best.pt by the mean F of kick, snare and
hi-hat.
"""

import torch

from . import metrics
from .config import HOP, LOOKAHEAD, SPARSE_HALF
from .data import batches, load_songs, load_templates  # noqa: F401  (the loop calls batches(args, rng))
from .net import DrumNet, OnsetCQT, activations, synthesize

SELECT = "f_mean"


def add_args(ap):
    ap.add_argument("--templates", default="data/drum-templates", help="folder of `cargo xtask drum-templates`")
    ap.add_argument("--crop", type=float, default=4.0, help="seconds per training crop")
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--onset-weight", type=float, default=1.0, help="weight of the onset-enhanced term")
    ap.add_argument("--val-songs", type=int, default=24, help="val songs scored at each validation")


def build(args):
    model = DrumNet(width=args.width)
    init_stats(model, args)
    model.register_buffer("templates", load_templates(args.templates), persistent=False)
    model.cqt = OnsetCQT()
    model.onset_weight = args.onset_weight
    return model


@torch.no_grad()
def init_stats(model, args, songs=8):
    """The input affine starts as the per-band standardization of a few training stems."""
    from .data import features

    x = torch.cat([torch.from_numpy(features(s.audio())) for s in load_songs(args.data, "train", songs)], 1)
    model.mu.copy_(x.mean(1).reshape(1, -1, 1))
    model.sd.copy_(1.0 / x.std(1).clamp(min=1e-3).reshape(1, -1, 1))


def loss(model, batch):
    feat, x, kits = batch
    logits, _ = model(feat)
    act = activations(logits, model.log_gain, model.lookahead)
    tmpl = model.templates.to(x.device)[kits]
    n = x.shape[1]
    y = synthesize(act, tmpl, n)
    # Audio whose activations had no context: SPARSE_HALF frames at the start, LOOKAHEAD +
    # SPARSE_HALF at the end.
    lo, hi = SPARSE_HALF * HOP, n - (LOOKAHEAD + SPARSE_HALF) * HOP
    cx, ox = model.cqt(x[:, lo:hi])
    cy, oy = model.cqt(y[:, lo:hi])
    return (cx - cy).abs().mean() + model.onset_weight * (ox - oy).abs().mean()


_VAL = {}


def validate(model, args, dev):
    if args.data not in _VAL:
        _VAL[args.data] = load_songs(args.data, "val", args.val_songs)
    return metrics.quick_scores(model.cpu() if dev.type != "cpu" else model, _VAL[args.data])
