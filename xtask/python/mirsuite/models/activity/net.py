"""Instrument activity nets: log-mel (1 s context) → CNN → one logit per class.

Three architectures share the input/output contract ([1, n_mels, context] dB → [1, classes]
probabilities once wrapped in `Exported`), so the plugin runs any of them: `conv1d` treats mel
bands as channels of a 1-D convolution over time; `conv2d` and `allconv` first look at local
time–frequency patterns (harmonics, formants, attacks) with 2-D convolutions, then reason over
time with the mel axis folded into channels (`allconv` reduces resolution with strided
convolutions, which tract runs as fast as ONNX Runtime does).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import CONFIG


def time_pool(x):
    """[B, C, T] → [B, 2C]: max and mean over time, as whole-window 1-D pooling (MaxPool and
    AveragePool in ONNX). The same numbers as amax/mean, but those export as ReduceMax/ReduceMean,
    which tract runs through a generic per-output-element slicer: about a fifth of the shipped
    model's tract time went to those two nodes, its pooling ops cost next to nothing."""
    t = int(x.shape[-1])
    return torch.cat([F.max_pool1d(x, t).flatten(1), F.avg_pool1d(x, t).flatten(1)], dim=1)


def conv_bn(cin, cout, k=3, stride=1):
    return nn.Sequential(nn.Conv1d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm1d(cout), nn.ReLU())


class ActivityCNN(nn.Module):
    """[B, n_mels, T] log-mel (dB) → [B, classes] logits."""

    def __init__(self, n_mels=64, n_classes=14, width=128):
        super().__init__()
        self.inp = nn.BatchNorm1d(n_mels)
        self.c1 = conv_bn(n_mels, width)
        self.c2 = conv_bn(width, width)
        self.c3 = conv_bn(width, 2 * width)
        self.c4 = conv_bn(2 * width, 2 * width)
        self.head = nn.Sequential(nn.Linear(4 * width, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, n_classes))

    def forward(self, x):
        x = self.inp(x)
        x = F.max_pool1d(self.c1(x), 2)
        x = F.max_pool1d(self.c2(x), 2)
        x = self.c4(self.c3(x))
        x = time_pool(x)
        return self.head(x)


class ActivityCNN2d(nn.Module):
    """[B, n_mels, T] log-mel (dB) → [B, classes] logits, 2-D front end then 1-D over time."""

    def __init__(self, n_mels=64, n_classes=14, width=12, hidden=192):
        super().__init__()
        w, h = width, hidden
        self.inp = nn.BatchNorm1d(n_mels)
        self.b1 = conv2d_bn(1, w)
        self.b2 = conv2d_bn(w, 2 * w)
        self.b3 = conv2d_bn(2 * w, 4 * w)
        folded = 4 * w * (n_mels // 8)
        self.c4 = conv_bn(folded, h)
        self.c5 = conv_bn(h, h)
        self.head = nn.Sequential(nn.Linear(2 * h, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, n_classes))

    def forward(self, x):
        x = self.inp(x).unsqueeze(1)  # [B, 1, mels, T]
        x = F.max_pool2d(self.b1(x), (2, 2))
        x = F.max_pool2d(self.b2(x), (2, 1))
        x = F.max_pool2d(self.b3(x), (2, 1))
        b, c, f, t = x.shape
        x = x.reshape(b, c * f, t)
        x = F.max_pool1d(self.c4(x), 2)
        x = self.c5(x)
        x = time_pool(x)
        return self.head(x)


def conv2d_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ActivityAllConv(nn.Module):
    """[B, n_mels, T] log-mel (dB) → [B, classes] logits: the 2-D front end of `ActivityCNN2d`
    with strided convolutions instead of max-pooling (tract runs 2-D max-pooling several times
    slower than ONNX Runtime; strided convolutions are plain matrix products for both)."""

    def __init__(self, n_mels=64, n_classes=14, width=16, hidden=256):
        super().__init__()
        w, h = width, hidden
        self.inp = nn.BatchNorm1d(n_mels)
        self.b1 = conv2d_bn(1, w, 2)
        self.b2 = conv2d_bn(w, 2 * w, (2, 1))
        self.b3 = conv2d_bn(2 * w, 4 * w, (2, 1))
        self.c4 = conv_bn(4 * w * (n_mels // 8), h, stride=2)
        self.c5 = conv_bn(h, h)
        self.head = nn.Sequential(nn.Linear(2 * h, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, n_classes))
        # Set by `Exported`: compute c4 in its 2-D form (see `forward`).
        self.export_form = False

    def forward(self, x):
        x = self.b3(self.b2(self.b1(self.inp(x).unsqueeze(1))))
        b, c, f, t = x.shape
        if self.export_form:
            # The same numbers: a Conv1d over the (channel, mel)-folded axis is a Conv2d whose
            # kernel spans the whole mel axis. tract runs this form without a separate im2col
            # pass (`cargo xtask bench --nodes`: c4 ~0.14 → ~0.11 ms); training keeps the
            # Conv1d form the shipped weights were trained with.
            conv = self.c4[0]
            w = conv.weight.view(conv.out_channels, c, f, conv.kernel_size[0])
            y = F.conv2d(x, w, stride=(1, conv.stride[0]), padding=(0, conv.padding[0])).squeeze(2)
            x = self.c4[2](self.c4[1](y))
        else:
            x = self.c4(x.reshape(b, c * f, t))
        return self.head(time_pool(self.c5(x)))


ARCHS = {
    "conv1d": (
        ActivityCNN,
        "BatchNorm → 4× (Conv1d k3 + BN + ReLU; max-pool ×2 after the first two) over time with mel bands as channels → [max, mean] over time → FC 256 → FC classes → sigmoid",
    ),
    "allconv": (
        ActivityAllConv,
        "per-band BatchNorm → 3× (Conv2d 3×3 + BN + ReLU; 16/32/64 channels; strides (2,2),(2,1),(2,1) over (mel, time)) → mel folded into channels → Conv1d k3 stride 2 + BN + ReLU → Conv1d k3 + BN + ReLU (256 ch) → [max, mean] over time → FC 256 → FC classes → sigmoid",
    ),
    "conv2d": (
        ActivityCNN2d,
        "per-band BatchNorm → 3× (Conv2d 3×3 + BN + ReLU + max-pool; 12/24/48 channels; pools (2,2),(2,1),(2,1) over (mel, time)) → mel folded into channels → 2× (Conv1d k3 + BN + ReLU, 192 ch; max-pool ×2 after the first) → [max, mean] over time → FC 256 → FC classes → sigmoid",
    ),
}


def make_net(arch: str, n_classes: int, width=None, hidden=None) -> nn.Module:
    sizes = {k: v for k, v in (("width", width), ("hidden", hidden)) if v is not None}
    if sizes and arch == "conv1d":
        raise SystemExit("--width/--hidden apply to the allconv and conv2d architectures")
    return ARCHS[arch][0](CONFIG["n_mels"], n_classes, **sizes)


def net_sizes(args) -> dict:
    """The --width/--hidden a run was trained with (absent from older runs: the defaults)."""
    return {"width": getattr(args, "width", None), "hidden": getattr(args, "hidden", None)}


class Exported(nn.Module):
    """What ships: probabilities instead of logits. Given several nets (an ensemble, e.g. trained
    on differently rendered data), the mean of their probabilities."""

    def __init__(self, *nets):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        for n in nets:
            if hasattr(n, "export_form"):
                n.export_form = True

    def forward(self, x):
        probs = [torch.sigmoid(n(x)) for n in self.nets]
        # A sum and a scale (Add, Mul in ONNX), not stack + mean: tract's ReduceMean is slow.
        return probs[0] if len(probs) == 1 else sum(probs[1:], probs[0]) * (1.0 / len(probs))
