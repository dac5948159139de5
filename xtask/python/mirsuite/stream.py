"""Layers for nets that stream one frame at a time (the separator's and the drum model's): a
per-frame channel norm, a residual block of causal dilated temporal convolution whose history can
be passed in and out, and the packing of every block's history into the one state vector a
streaming ONNX export takes and returns."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ChanNorm(nn.Module):
    """Layer norm over channels, per frame (streams: no statistics across time).

    With `ChanNorm.matmul_mean` set (an export switch), the channel means are written as a
    1×1 convolution with weights 1/C: the same numbers, but tract runs it as a matrix product,
    while its reduction over the channel axis of a one-frame tensor took 70 % of the drum
    model's time (`cargo xtask bench --nodes`)."""

    matmul_mean = False

    def __init__(self, ch):
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, ch, 1))
        self.b = nn.Parameter(torch.zeros(1, ch, 1))

    def mean(self, x):
        if ChanNorm.matmul_mean:
            return torch.nn.functional.conv1d(x, torch.full((1, x.shape[1], 1), 1.0 / x.shape[1], dtype=x.dtype))
        return x.mean(1, keepdim=True)

    def forward(self, x):
        m = self.mean(x)
        v = self.mean((x - m) ** 2)
        return (x - m) / torch.sqrt(v + 1e-5) * self.g + self.b


class Res(nn.Module):
    """x + pw(gelu(conv_k,d(norm(x)))), the k-tap convolution causal (history of (k−1)·d frames)."""

    def __init__(self, ch, dilation, k=3):
        super().__init__()
        self.norm = ChanNorm(ch)
        self.conv = nn.Conv1d(ch, ch, k, dilation=dilation)
        self.pw = nn.Conv1d(ch, ch, 1)
        self.ch, self.hist = ch, (k - 1) * dilation

    def forward(self, x, state=None):
        h = self.norm(x)
        if state is None:
            h = F.pad(h, (self.hist, 0))
            new = None
        else:
            h = torch.cat([state, h], 2)
            new = h[:, :, h.shape[2] - self.hist :]
        return x + self.pw(F.gelu(self.conv(h))), new


def unpack_states(state: torch.Tensor, layout):
    """state [1, S] → one history [1, ch, hist] per `(ch, hist)` of `layout`, in order."""
    states, o = [], 0
    for c, h in layout:
        states.append(state[:, o : o + c * h].reshape(1, c, h))
        o += c * h
    return states


def pack_states(states) -> torch.Tensor:
    """The inverse of `unpack_states`: histories → state [1, S]."""
    return torch.cat([s.reshape(1, -1) for s in states], 1)
