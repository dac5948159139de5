"""The drum nets (DrummerNet's analysis–synthesis, shaped to stream one 8 ms frame at a time).

`DrumNet` (analysis): log-mel → per-band affine → 1×1 convolution → residual blocks of causal
dilated temporal convolutions (the separator's streaming blocks) → 1×1 convolution to one logit
per synthesizer component plus a "nothing" logit. Output frame t is for feature frame
t − LOOKAHEAD. `activations` makes them sparse as DrummerNet does, the product of a class-wise
sparsemax (over the components and "nothing", per frame) and a time-wise sparsemax (per
component, over the 2·SPARSE_HALF + 1 frames centred on the frame: a streaming window rather
than the whole excerpt), times a learned gain per component.

`synthesize` (not trained): the activations, as impulses at their frames' times, convolved with
each crop's drum-kit templates. `OnsetCQT` is the loss spectrogram: a pseudo-CQT (a
log-frequency triangular filterbank on a 1024/64 STFT) compressed with log1p, and its
half-wave-rectified time difference (the onset enhancement).
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...stream import Res, pack_states, unpack_states
from .config import (
    COMPONENTS,
    CQT_BINS,
    CQT_FFT,
    CQT_FMIN,
    CQT_HOP,
    HOP,
    LOOKAHEAD,
    N_MELS,
    RATE,
    SPARSE_HALF,
)

K = len(COMPONENTS)


def sparsemax(z: torch.Tensor, dim: int) -> torch.Tensor:
    """Sparsemax (Martins & Astudillo 2016) along `dim`: the Euclidean projection onto the
    simplex; sums to one, exactly zero below a threshold."""
    zs, _ = torch.sort(z, dim=dim, descending=True)
    n = z.shape[dim]
    shape = [1] * z.dim()
    shape[dim] = n
    k = torch.arange(1, n + 1, dtype=z.dtype, device=z.device).reshape(shape)
    cs = zs.cumsum(dim) - 1.0
    support = (k * zs > cs).to(z.dtype)
    kz = support.sum(dim=dim, keepdim=True)
    tau = cs.gather(dim, kz.long() - 1) / kz
    return torch.clamp(z - tau, min=0.0)


class DrumNet(nn.Module):
    def __init__(self, width=96, dilations=(1, 2, 4, 8, 16, 1, 2, 4)):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(1, N_MELS, 1))
        self.sd = nn.Parameter(torch.ones(1, N_MELS, 1))
        self.inp = nn.Conv1d(N_MELS, width, 1)
        self.blocks_ = nn.ModuleList([Res(width, d) for d in dilations])
        self.out = nn.Conv1d(width, K + 1, 1)
        self.log_gain = nn.Parameter(torch.zeros(K))
        self.lookahead = LOOKAHEAD

    def blocks(self):
        return list(self.blocks_)

    def forward(self, feat, states=None):
        """feat [B, N_MELS, T] (dB) → logits [B, K + 1, T], new states."""
        it = iter(states) if states is not None else None
        x = F.gelu(self.inp((feat - self.mu) * self.sd))
        new = []
        for b in self.blocks_:
            x, s = b(x, next(it) if it else None)
            new.append(s)
        return self.out(x), new


def activations(logits: torch.Tensor, log_gain: torch.Tensor, lookahead: int = LOOKAHEAD) -> torch.Tensor:
    """Logits [B, K + 1, T] (output frame t for feature frame t − lookahead) → activations
    [B, K, T] aligned with the feature frames; the first SPARSE_HALF and last lookahead +
    SPARSE_HALF frames, which lack the context, are zero."""
    z = logits[:, :, lookahead:]  # frame-aligned: z[..., t] is feature frame t
    cls = sparsemax(z, dim=1)[:, :K]
    h = SPARSE_HALF
    win = z[:, :K].unfold(2, 2 * h + 1, 1)  # [B, K, T', 2h + 1], centred on frame t' + h
    tim = sparsemax(win, dim=3)[..., h]
    a = cls[:, :, h : h + tim.shape[2]] * tim * torch.exp(log_gain)[None, :, None]
    return F.pad(a, (h, logits.shape[2] - a.shape[2] - h))


def synthesize(act: torch.Tensor, templates: torch.Tensor, n: int) -> torch.Tensor:
    """act [B, K, T] (frame t = sample t·HOP) × templates [B, K, L] → audio [B, n]."""
    b, k, t = act.shape
    imp = torch.zeros(b, k, t * HOP, dtype=act.dtype, device=act.device)
    imp[:, :, ::HOP] = act
    imp = imp[:, :, :n] if imp.shape[2] >= n else F.pad(imp, (0, n - imp.shape[2]))
    size = n + templates.shape[2]
    nfft = 1 << (size - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(imp, nfft) * torch.fft.rfft(templates, nfft), nfft)
    return y[:, :, :n].sum(1)


def cqt_filterbank() -> torch.Tensor:
    """[CQT_BINS, CQT_FFT/2 + 1] triangular filters, 12 per octave from CQT_FMIN, each at least
    one FFT bin wide (a pseudo-CQT: the low octaves are as coarse as the STFT)."""
    bins = CQT_FFT // 2 + 1
    freqs = np.arange(bins) * RATE / CQT_FFT
    centres = CQT_FMIN * 2.0 ** (np.arange(-1, CQT_BINS + 1) / 12.0)
    fb = np.zeros((CQT_BINS, bins))
    df = RATE / CQT_FFT
    for i in range(CQT_BINS):
        lo, c, hi = centres[i], centres[i + 1], centres[i + 2]
        lo, hi = min(lo, c - df), max(hi, c + df)
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[i] = np.clip(np.minimum(up, down), 0.0, None)
        fb[i] /= max(fb[i].sum(), 1e-9)
    return torch.from_numpy(fb.astype(np.float32))


class OnsetCQT(nn.Module):
    """audio [B, n] → (log1p pseudo-CQT [B, CQT_BINS, T], its positive time difference)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("fb", cqt_filterbank())
        self.register_buffer("win", torch.hann_window(CQT_FFT))

    def forward(self, x):
        s = torch.stft(x, CQT_FFT, CQT_HOP, window=self.win, center=True, return_complex=True).abs()
        c = torch.log1p(100.0 * torch.einsum("qf,bft->bqt", self.fb, s))
        return c, F.relu(c[:, :, 1:] - c[:, :, :-1])


class Step(nn.Module):
    """Streaming wrapper: (log-mel frame [1, N_MELS, 1], state [1, S]) → (logits [1, K + 1], new
    state [1, S]). The sparsemaxes and the gain run after the model (dsp-core), so the ONNX
    graph has no sort."""

    def __init__(self, net: DrumNet):
        super().__init__()
        self.net = net
        self.layout = [(b.ch, b.hist) for b in net.blocks()]
        self.state_len = sum(c * h for c, h in self.layout)

    def forward(self, feat, state):
        logits, new = self.net(feat, unpack_states(state, self.layout))
        return logits[:, :, 0], pack_states(new)


def params(m) -> int:
    return sum(p.numel() for p in m.parameters())


def macs_per_frame(net: DrumNet) -> int:
    return sum(m.in_channels * m.out_channels * m.kernel_size[0] for m in net.modules() if isinstance(m, nn.Conv1d))


def frame_seconds() -> float:
    return HOP / RATE


