"""Melody model metrics, as the AR-VAE paper computes them, plus the slider test the plugin
needs:

* `recon_acc`: the fraction of tokens greedy decoding of the latent mean reproduces;
* `interp.<attr>`: the latent dim with the highest mutual information with the attribute
  (scikit-learn's kNN estimator), then the R² of a one-variable linear regression of the
  attribute on it (AR-VAE's interpretability);
* `mig`: the mean over attributes of the gap between the two latent dims most informative about
  it, over the attribute's own (kNN) entropy estimate (AR-VAE's MIG: continuous estimator, no
  binning);
* `spearman.<attr>`: the slider: for each measure, its regularized dim set to 9 positions across
  the 5th–95th percentile of that dim over the val measures, each decoded greedily; Spearman's ρ
  between position and the decoded measure's attribute, pooled over measures after removing each
  measure's own mean (so ρ measures how the slider moves the attribute, not which measure it is).

Latent codes are the encoder's means (the plugin encodes with the mean; the reference samples).
"""

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.feature_selection import mutual_info_regression
from sklearn.linear_model import LinearRegression

from .tokens import ATTRIBUTES, attributes

SLIDER_POSITIONS = 9


def _mi(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return mutual_info_regression(z, y, random_state=0)


@torch.no_grad()
def encode(model, tokens: np.ndarray, dev, batch: int = 2048) -> np.ndarray:
    model.eval()
    out = [model.encode(torch.from_numpy(tokens[i : i + batch].astype(np.int64)).to(dev))[0].cpu().numpy() for i in range(0, len(tokens), batch)]
    return np.concatenate(out)


@torch.no_grad()
def decode(model, z: np.ndarray, dev, batch: int = 2048) -> np.ndarray:
    model.eval()
    out = [model.decode_free(torch.from_numpy(z[i : i + batch].astype(np.float32)).to(dev))[1].cpu().numpy() for i in range(0, len(z), batch)]
    return np.concatenate(out)


def interpretability(z: np.ndarray, a: np.ndarray):
    """Per attribute column: (R², the latent dim chosen by mutual information)."""
    out = []
    for k in range(a.shape[1]):
        d = int(np.argmax(_mi(z, a[:, k])))
        r2 = LinearRegression().fit(z[:, d : d + 1], a[:, k]).score(z[:, d : d + 1], a[:, k])
        out.append((float(r2), d))
    return out


def mig(z: np.ndarray, a: np.ndarray) -> float:
    gaps = []
    for k in range(a.shape[1]):
        m = np.sort(_mi(z, a[:, k]))[::-1]
        h = _mi(a[:, k : k + 1], a[:, k])[0]
        gaps.append((m[0] - m[1]) / h if h > 0 else 0.0)
    return float(np.mean(gaps))


def mig_ceiling(a: np.ndarray, free: int = 28, seed: int = 0) -> float:
    """The MIG of an ideal AR-VAE code on these measures: each attribute exactly in its own dim
    (MI is invariant to monotone maps, so any perfectly ordered dim scores the same) plus `free`
    dims of noise. Correlated attributes (note density and rhythmic complexity) cap the gap."""
    rng = np.random.default_rng(seed)
    return mig(np.concatenate([a, rng.standard_normal((len(a), free)).astype(np.float32)], axis=1), a)


def slider_spearman(model, z: np.ndarray, dev, dims=range(len(ATTRIBUTES)), n: int = 512) -> list:
    """Per regularized dim k (attribute k): Spearman's ρ of slider position against the decoded
    attribute (each measure's mean removed)."""
    return slider_spearman_of(lambda zz: decode(model, zz, dev), z, dims, n)


def slider_spearman_of(decode_fn, z: np.ndarray, dims=range(len(ATTRIBUTES)), n: int = 512) -> list:
    """`slider_spearman` with any greedy decoder `decode_fn(z) -> tokens` (e.g. the exported
    graphs)."""
    z = z[:n]
    out = []
    for k in dims:
        lo, hi = np.percentile(z[:, k], [5, 95])
        pos = np.linspace(lo, hi, SLIDER_POSITIONS)
        zz = np.repeat(z[:, None, :], SLIDER_POSITIONS, axis=1).copy()
        zz[:, :, k] = pos[None, :]
        a = attributes(decode_fn(zz.reshape(-1, z.shape[1])))[:, k].reshape(len(z), SLIDER_POSITIONS)
        a = a - a.mean(axis=1, keepdims=True)
        rho = spearmanr(np.tile(np.arange(SLIDER_POSITIONS), len(z)), a.reshape(-1)).statistic
        out.append(float(0.0 if np.isnan(rho) else rho))
    return out


def score(model, tokens: np.ndarray, attrs: np.ndarray, dev, sliders: bool = False, names=ATTRIBUTES) -> dict:
    """The metrics on measures `tokens` with attribute columns `attrs` (dict of flat keys)."""
    z = encode(model, tokens, dev)
    rec = decode(model, z, dev)
    out = {"recon_acc": float((rec == tokens).mean()), "measures": int(len(tokens))}
    interp = interpretability(z, attrs)
    for (r2, d), name in zip(interp, names):
        out[f"interp.{name}"] = r2
        out[f"interp_dim.{name}"] = d
    out["interp"] = float(np.mean([r for r, _ in interp]))
    out["mig"] = mig(z, attrs)
    if sliders:
        for rho, name in zip(slider_spearman(model, z, dev), names):
            out[f"spearman.{name}"] = rho
    return out
