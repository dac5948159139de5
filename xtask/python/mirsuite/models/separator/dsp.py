"""The STFT with the suite's streaming convention (dsp-core's `stft.rs`): frame t covers samples
[(t+1)·hop − size, (t+1)·hop) with zeros before the start, periodic Hann analysis and synthesis
window, the inverse divides by the overlap-added squared window (1.5 at hop = size/4), so that
STFT → ISTFT is the identity delayed by size − hop samples."""

import math

import numpy as np
import torch

from .config import HOP, N_FFT


def hann(n: int = N_FFT) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2.0 * math.pi * i / n)).float()


def stft(x: torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """x [..., samples] → complex [..., bins, frames], ceil(samples / hop) frames."""
    n = -(-x.shape[-1] // hop)
    pad_right = n * hop - x.shape[-1]
    xp = torch.nn.functional.pad(x, (n_fft - hop, pad_right))
    fr = xp.unfold(-1, n_fft, hop) * hann(n_fft).to(x.device)
    return torch.fft.rfft(fr, dim=-1).transpose(-1, -2)


def istft(spec: torch.Tensor, length: int, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """complex [..., bins, frames] → [..., length] samples, aligned with the STFT's input delayed
    by size − hop (what the streaming chain outputs)."""
    fr = torch.fft.irfft(spec.transpose(-1, -2), n=n_fft, dim=-1) * hann(n_fft).to(spec.device)
    lead = fr.shape[:-2]
    t = fr.shape[-2]
    total = (t - 1) * hop + n_fft
    out = torch.nn.functional.fold(
        fr.reshape(-1, t, n_fft).transpose(1, 2), output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop)
    ).reshape(*lead, total)
    w = hann(n_fft).double()
    norm = float((w * w).sum() / hop)
    return (out / norm)[..., :length]


def magnitude_np(x: np.ndarray) -> np.ndarray:
    """[bins, frames] float32 magnitudes of a mono signal (numpy, float64 FFT): the parity mirror."""
    x = np.asarray(x, dtype=np.float32)
    n = int(math.ceil(len(x) / HOP))
    padded = np.zeros((N_FFT - HOP) + n * HOP, dtype=np.float32)
    padded[N_FFT - HOP : N_FFT - HOP + len(x)] = x
    idx = np.arange(n)[:, None] * HOP + np.arange(N_FFT)[None, :]
    w = hann().numpy().astype(np.float32)
    spec = np.fft.rfft((padded[idx] * w[None, :]).astype(np.float64), axis=1)
    return np.abs(spec).astype(np.float32).T
