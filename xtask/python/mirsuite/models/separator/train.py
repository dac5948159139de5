"""The separator's hooks for the shared training loop (`mirsuite.train`).

    cargo xtask train separator --data data/sep --steps 3000 --out runs/separator
    cargo xtask train separator --data data/sep --arch umx --steps 3000 --out runs/separator-umx

Loss (IASS's multitask loss): the mean squared error between each source's masked mixture
magnitude and the source's magnitude (five sources, "other" included), normalized by the
mixture's mean power, plus `--act-weight` × the activity head's BCE. Masks at output frame t
apply to the mixture's frame t − LOOKAHEAD. Validation separates whole val songs (mid signal,
PyTorch path) and selects by the mean SDR over stems and songs where the stem plays.
"""

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics
from .config import LOOKAHEAD
from .data import batches, load_songs  # noqa: F401  (the loop calls batches(args, rng))
from .net import ARCHS

SELECT = "sdr_mean"


def add_args(ap):
    ap.add_argument("--arch", choices=sorted(ARCHS), default="unet")
    ap.add_argument("--crop", type=float, default=3.0, help="seconds per training crop")
    ap.add_argument("--remix", type=float, default=0.5, help="probability that a crop is remixed from independent songs")
    ap.add_argument("--silence", type=float, default=0.15, help="probability that a remixed source is left out")
    ap.add_argument("--act-weight", type=float, default=0.1, help="weight of the activity BCE")
    ap.add_argument("--val-songs", type=int, default=12, help="val songs separated at each validation")


def build(args):
    model = ARCHS[args.arch]()
    init_stats(model, args)
    model.lookahead = 0 if args.arch == "umx" else LOOKAHEAD
    model.act_weight = args.act_weight
    return model


@torch.no_grad()
def init_stats(model, args, songs=8):
    """The input affine starts as the per-bin standardization of the log magnitude of a few
    training mixes (Open-Unmix's input mean and scale); it keeps training afterwards."""
    from .config import LOG_FLOOR
    from .dsp import stft

    logs = []
    for s in load_songs(args.data, "train", songs):
        mix = s.sources(0, s.frames).sum(0)
        logs.append(torch.log(stft(torch.from_numpy(mix)).abs() + LOG_FLOOR))
    x = torch.cat(logs, 1)
    model.mu.copy_(x.mean(1).reshape(1, -1, 1))
    model.sd.copy_(1.0 / x.std(1).clamp(min=1e-3).reshape(1, -1, 1))


def loss(model, batch):
    mag, target, act = batch
    masks, logits, _ = model(mag)
    la = model.lookahead
    t = mag.shape[-1] - la
    est = masks[..., la:] * mag[:, None, :, :t]
    power = (mag[..., :t] ** 2).mean(dim=(1, 2), keepdim=True).clamp(min=1e-8)[:, None]
    sep = ((est - target[..., :t]) ** 2 / power).mean()
    bce = F.binary_cross_entropy_with_logits(logits[..., la:], act[..., :t])
    return sep + model.act_weight * bce


_VAL = {}


def validate(model, args, dev):
    if args.data not in _VAL:
        _VAL[args.data] = load_songs(args.data, "val", args.val_songs)
    return metrics.quick_scores(model, _VAL[args.data], dev)
