"""The separator nets.

`SepUNet` (shipped): a U-Net whose levels narrow the *channel* axis (frequency features) rather
than time, so that every layer keeps the frame rate and the whole net streams one STFT frame at a
time: log magnitude → per-bin affine → 1×1 encoder convolutions 1025 → 192 → 128 → 64 (the
latent), each level followed by residual blocks of causal dilated temporal convolutions, a
decoder back up with additive skip connections, and a 1×1 output layer giving five logits per
bin (drums, bass, piano, guitar, other) turned into masks by a softmax over the sources, so the
masks always sum to one. An activity head (1×1 convolution + sigmoid) on the latent gives the
five sources' activity per frame. Masks at output frame t are for input frame t − LOOKAHEAD.

`Step` wraps it for streaming export: one frame in, the causal convolutions' history packed in
one state vector in and out.

`UMX` (baseline): Open-Unmix's shape (affine → FC + tanh → 3-layer LSTM with a skip → two FC
layers), with a joint softmax mask head over the same five sources, trained on the same data.
"""

import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...stream import Res, pack_states, unpack_states
from .config import BINS, CLASSES, LOG_FLOOR, LOOKAHEAD, SOURCES


class SepUNet(nn.Module):
    def __init__(self, widths=(192, 128, 64), dilations=((1, 2), (4, 8), (16, 1)), dec_dilations=((2,), (1,))):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(1, BINS, 1))
        self.sd = nn.Parameter(torch.ones(1, BINS, 1))
        self.enc_in = nn.ModuleList()
        self.enc = nn.ModuleList()
        prev = BINS
        for w, ds in zip(widths, dilations):
            self.enc_in.append(nn.Conv1d(prev, w, 1))
            self.enc.append(nn.ModuleList([Res(w, d) for d in ds]))
            prev = w
        self.act = nn.Conv1d(widths[-1], len(CLASSES), 1)
        self.dec_in = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i, ds in enumerate(dec_dilations):
            w = widths[-2 - i]
            self.dec_in.append(nn.Conv1d(prev, w, 1))
            self.dec.append(nn.ModuleList([Res(w, d) for d in ds]))
            prev = w
        self.out = nn.Conv1d(prev, len(SOURCES) * BINS, 1)

    def blocks(self):
        """Every residual block in the order `forward` runs them (the state layout)."""
        return [b for level in list(self.enc) + list(self.dec) for b in level]

    def features(self, mag):
        return (torch.log(mag + LOG_FLOOR) - self.mu) * self.sd

    def forward(self, mag, states=None, logits_only=False):
        """mag [B, BINS, T] → (masks [B, 5, BINS, T], activity logits [B, 5, T], new states);
        with `logits_only` the mask logits [B, 5, BINS, T] instead of the masks."""
        it = iter(states) if states is not None else None
        new = []
        x = self.features(mag)
        skips = []
        for conv, level in zip(self.enc_in, self.enc):
            x = F.gelu(conv(x))
            for b in level:
                x, s = b(x, next(it) if it else None)
                new.append(s)
            skips.append(x)
        act = self.act(x)
        for i, (conv, level) in enumerate(zip(self.dec_in, self.dec)):
            x = F.gelu(conv(x)) + skips[-2 - i]
            for b in level:
                x, s = b(x, next(it) if it else None)
                new.append(s)
        logits = self.out(x)
        b, _, t = logits.shape
        logits = logits.reshape(b, len(SOURCES), BINS, t)
        if logits_only:
            return logits, act, new
        return torch.softmax(logits, dim=1), act, new


class Step(nn.Module):
    """Streaming wrapper: (mag [1, BINS, 1], state [1, S]) → (masks [1, 5, BINS], activity
    probabilities [1, 5], new state [1, S])."""

    def __init__(self, net: SepUNet):
        super().__init__()
        self.net = net
        self.layout = [(b.ch, b.hist) for b in net.blocks()]
        self.state_len = sum(c * h for c, h in self.layout)

    def forward(self, mag, state):
        logits, act, new = self.net(mag, unpack_states(state, self.layout), logits_only=True)
        # The softmax over the sources written out (an elementwise max of the five, exp, sum,
        # divide): tract's Softmax op took 2 ms of the 3 ms frame on these [1, 5, 1025] logits
        # (on either axis layout), a ReduceMax 0.16 ms.
        x = logits[:, :, :, 0]
        top = x[:, :1]
        for k in range(1, x.shape[1]):
            top = torch.maximum(top, x[:, k : k + 1])
        e = torch.exp(x - top)
        masks = e / e.sum(dim=1, keepdim=True)
        return masks, torch.sigmoid(act[:, :, 0]), pack_states(new)


class UMX(nn.Module):
    """Open-Unmix-shaped baseline (bidirectional LSTM: an offline model, as Open-Unmix is)."""

    def __init__(self, hidden=256, layers=3):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(1, BINS, 1))
        self.sd = nn.Parameter(torch.ones(1, BINS, 1))
        self.fc1 = nn.Linear(BINS, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.lstm = nn.LSTM(hidden, hidden // 2, num_layers=layers, bidirectional=True, batch_first=True, dropout=0.2)
        self.fc2 = nn.Linear(2 * hidden, hidden, bias=False)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.fc3 = nn.Linear(hidden, len(SOURCES) * BINS)
        self.act = nn.Linear(hidden, len(CLASSES))

    def forward(self, mag, states=None):
        x = (torch.log(mag + LOG_FLOOR) - self.mu) * self.sd  # [B, F, T]
        x = x.transpose(1, 2)  # [B, T, F]
        h = torch.tanh(self.bn1(self.fc1(x).transpose(1, 2)).transpose(1, 2))
        y, _ = self.lstm(h)
        z = torch.cat([h, y], -1)
        z = F.relu(self.bn2(self.fc2(z).transpose(1, 2)).transpose(1, 2))
        logits = self.fc3(z)  # [B, T, 5F]
        b, t, _ = logits.shape
        masks = torch.softmax(logits.reshape(b, t, len(SOURCES), BINS), dim=2).permute(0, 2, 3, 1)
        return masks, self.act(z).transpose(1, 2), None


ARCHS = {"unet": SepUNet, "umx": UMX}


def params(m) -> int:
    return sum(p.numel() for p in m.parameters())


def macs_per_frame(net: SepUNet) -> int:
    """Multiply-accumulates of one streamed frame (convolutions; norms and activations aside)."""
    total = 0
    for mod in net.modules():
        if isinstance(mod, nn.Conv1d):
            total += mod.in_channels * mod.out_channels * mod.kernel_size[0]
    return total


def load_run(run: str):
    """(model in eval mode with its look-ahead, training arguments, checkpoint) of a run folder."""
    state = torch.load(os.path.join(run, "best.pt"), map_location="cpu", weights_only=False)
    a = argparse.Namespace(**state["args"])
    model = ARCHS[a.arch]()
    model.load_state_dict(state["model"])
    model.lookahead = 0 if a.arch == "umx" else LOOKAHEAD
    return model.eval(), a, state
