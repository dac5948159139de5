"""The activity model's hooks for the shared training loop (`mirsuite.train`): options, the
net, batches, the masked BCE loss and validation (macro AUROC on the val split selects the
checkpoint).

    cargo xtask train activity --data data/synth-mix --steps 32000 --out runs/activity
"""

import numpy as np
import torch
import torch.nn.functional as F

from ...data import Dataset
from . import metrics
from .data import batches, load_split  # noqa: F401  (the loop calls batches(args, rng))
from .net import ARCHS, make_net, net_sizes

SELECT = "auroc"


def add_args(ap):
    ap.add_argument("--arch", choices=sorted(ARCHS), default="allconv", help="activity model architecture")
    ap.add_argument("--mix-prob", type=float, default=0.3, help="probability of mixing a second window into an example")
    ap.add_argument("--warp", type=float, default=0.0, help="random mel-axis stretch of up to ± this fraction (0: off)")
    ap.add_argument("--width", type=int, default=None, help="allconv/conv2d: channels of the first 2-D convolution (doubling after; default 16 / 12)")
    ap.add_argument("--hidden", type=int, default=None, help="allconv/conv2d: channels of the 1-D convolutions over time (default 256 / 192)")
    ap.add_argument("--workers", type=int, default=1, help="processes building batches (1: the single-stream CPU path)")
    ap.add_argument("--unlabeled", default=None, help="folder of unlabeled recordings (WAV at the model rate) for the Mean Teacher's consistency loss (with --mt-weight)")


def build(args):
    ds = Dataset(args.data)
    return make_net(getattr(args, "arch", "conv1d"), len(ds.classes), **net_sizes(args))


def loss(model, batch):
    x, y, m = batch[:3]
    raw = F.binary_cross_entropy_with_logits(model(x), y, reduction="none")
    return (raw * m).sum() / m.sum().clamp(min=1.0)


def consistency(student, teacher, batch):
    """Mean Teacher consistency (thesis ch. 5, Tarvainen & Valpola 2017): the mean squared
    difference between the student's and the teacher's probabilities on two differently
    augmented views of the same unlabeled windows; the teacher gives targets, no gradient."""
    if len(batch) < 5:
        raise SystemExit("--mt-weight needs unlabeled data: pass --unlabeled DIR")
    with torch.no_grad():
        target = torch.sigmoid(teacher(batch[4]))
    return F.mse_loss(torch.sigmoid(student(batch[3])), target)


def predict_segments(model, songs, dev, probabilities=False):
    """Probabilities at the end of every whole second of every song (PyTorch path). `model`
    returns logits, or probabilities with `probabilities` (an `Exported` module)."""
    probs, labels, track = [], [], []
    for i, s in enumerate(songs):
        ts, ys = s.segments()
        if not ts:
            continue
        x = torch.from_numpy(np.stack([s.window(t) for t in ts])).float().to(dev)
        with torch.no_grad():
            out = model(x)
            probs.append((out if probabilities else torch.sigmoid(out)).cpu().numpy())
        labels.append(ys)
        track += [i] * len(ts)
    return np.concatenate(probs), np.concatenate(labels), np.array(track)


def validate(model, args, dev):
    songs = load_split(args, "val")
    classes = Dataset(args.data).classes
    p, l, tr = predict_segments(model, songs, dev)
    s = metrics.scale_metrics(p, l, [0.5] * len(classes), classes)
    return {"auroc": s["auroc"], "lrap": s["lrap"], "f1@0.5": s["f1"]}
