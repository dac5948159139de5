"""The classic baseline: NMF with fixed drum templates (partially fixed NMF, as NMF-D systems
use it): W holds one spectral template per synthesizer component (the mean magnitude spectrum
of the first 100 ms of every training kit's one-shot) plus FREE columns learnt per song for
whatever else sounds; H follows multiplicative KL updates; a class's activation is the
positive difference of its components' H rows (the onsets), picked by the same causal peak
picker as the model's with thresholds tuned on the val split."""

import numpy as np

from .config import COMPONENT_CLASS, CLASSES, HOP, N_FFT, RATE

FREE = 2
ITERS = 60
ATTACK = 0.1  # seconds of each one-shot in its template


def _stft_mag(x: np.ndarray) -> np.ndarray:
    from ...features import frames, hann

    fr = frames(x, N_FFT, HOP) * hann(N_FFT)[None, :]
    return np.abs(np.fft.rfft(fr.astype(np.float64), axis=1)).T  # [F, T]


def spectral_templates(templates: np.ndarray) -> np.ndarray:
    """templates [kits, K, samples] → W [F, K] (unit-sum columns)."""
    n = int(ATTACK * RATE)
    w = np.zeros((N_FFT // 2 + 1, templates.shape[1]))
    for k in range(templates.shape[1]):
        for kit in templates[:, k, :n]:
            w[:, k] += _stft_mag(kit).mean(1)
    return w / np.maximum(w.sum(0, keepdims=True), 1e-12)


def activations(x: np.ndarray, w_fixed: np.ndarray, seed: int = 0) -> np.ndarray:
    """[classes, frames] onset activations of mono 16 kHz audio (frame t at t·HOP)."""
    v = _stft_mag(x) + 1e-9
    rng = np.random.default_rng(seed)
    k = w_fixed.shape[1]
    w = np.concatenate([w_fixed, rng.random((v.shape[0], FREE)) + 0.1], 1)
    h = rng.random((w.shape[1], v.shape[1])) + 0.1
    for _ in range(ITERS):
        wh = w @ h + 1e-9
        h *= (w.T @ (v / wh)) / np.maximum(w.sum(0)[:, None], 1e-12)
        wh = w @ h + 1e-9
        w[:, k:] *= ((v / wh) @ h[k:].T) / np.maximum(h[k:].sum(1)[None, :], 1e-12)
    onset = np.maximum(np.diff(h[:k], axis=1, prepend=h[:k, :1]), 0.0)
    # The STFT frame t ends at (t + 1)·HOP: an onset shows up fully about N_FFT / 2 later.
    shift = N_FFT // (2 * HOP) - 1
    onset = np.pad(onset[:, shift:], ((0, 0), (0, shift)))
    out = np.zeros((len(CLASSES), v.shape[1]), dtype=np.float32)
    for comp, c in enumerate(COMPONENT_CLASS):
        out[c] = np.maximum(out[c], onset[comp])
    return out
