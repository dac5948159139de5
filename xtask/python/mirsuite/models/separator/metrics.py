"""Separation on whole songs (PyTorch path) and the scores used for validation and evaluation.

The gate is IASS's: activity probability → threshold → median filter over time (centred,
`median` frames) → each stem's mask multiplied frame by frame; the gated-out share goes to
"other" (its mask is one minus the gated stems'), so the masks still sum to one. "Other" has an
activity class too: when its gate is shut, the open stems take its share in proportion to their
masks, each scaled by at most 1 / OTHER_FLOOR (a bin that no open stem holds keeps the rest in
"other", rather than being pushed into a stem the model says is not there)."""

import numpy as np
import torch

from .config import CLASSES, HOP, N_FFT, RATE, SOURCES, STEMS, SYSTEMS
from .dsp import istft, stft


@torch.no_grad()
def masks_for(model, mag: torch.Tensor):
    """mag [F, T] → (masks [5, F, T], activity probabilities [4, T]) aligned with mag's frames."""
    la = getattr(model, "lookahead", 0)
    x = torch.nn.functional.pad(mag, (0, la))[None]
    masks, logits, _ = model(x)
    return masks[0, ..., la:], torch.sigmoid(logits[0, :, la:])


# When "other" is gated shut, the open stems' masks are divided by max(their sum, OTHER_FLOOR).
OTHER_FLOOR = 0.5


def median_gate(probs: np.ndarray, thresholds, median: int) -> np.ndarray:
    """[5, T] probabilities → [5, T] float 0/1 gates (centred median of the thresholded
    activity, `median` odd, zeros beyond the ends as the streaming plugin sees them)."""
    on = (probs >= np.asarray(thresholds, dtype=np.float32)[:, None]).astype(np.float32)
    if median <= 1:
        return on
    h = median // 2
    p = np.pad(on, ((0, 0), (h, h)))
    win = np.lib.stride_tricks.sliding_window_view(p, median, axis=1)
    return (win.sum(axis=2) > h).astype(np.float32)


def gated(masks: torch.Tensor, gates: np.ndarray) -> torch.Tensor:
    """masks [5, F, T] × gates [5, T] (0/1) → gated masks [5, F, T] (the plugin's rule, see the
    module docs; they still sum to one)."""
    g = torch.from_numpy(np.ascontiguousarray(gates, dtype=np.float32))[:, None, :]
    stems = masks[: len(STEMS)] * g[: len(STEMS)]
    total = stems.sum(0, keepdim=True)
    scale = torch.where(g[len(STEMS) :] > 0, torch.ones_like(total), 1.0 / total.clamp(min=OTHER_FLOOR))
    stems = stems * scale
    return torch.cat([stems, (1.0 - stems.sum(0, keepdim=True)).clamp(min=0.0)], 0)


def window_sdr(ref: np.ndarray, est: np.ndarray, win: int = RATE) -> np.ndarray:
    """SDR (signal to error, dB) per window of `win` samples where `ref` is not all zero: a quick
    stand-in for museval's framewise SDR, which the evaluation reports."""
    nw = len(ref) // win
    r = ref[: nw * win].astype(np.float64).reshape(nw, win)
    e = r - est[: nw * win].astype(np.float64).reshape(nw, win)
    num, den = (r**2).sum(1), (e**2).sum(1)
    keep = num > 0
    return 10 * np.log10(np.maximum(num[keep], 1e-12) / np.maximum(den[keep], 1e-12))


def separate(spec: torch.Tensor, masks: torch.Tensor, length: int) -> torch.Tensor:
    """Complex spec [..., F, T] (mono or [2, F, T]) × masks [5, F, T] → [5, ..., length] aligned
    with the input (the size − hop delay removed)."""
    d = N_FFT - HOP
    m = masks if spec.dim() == 2 else masks[:, None]
    return istft(m * spec[None], length + d)[..., d:]


def sdr(ref: np.ndarray, est: np.ndarray) -> float:
    num = float((ref.astype(np.float64) ** 2).sum())
    den = float(((ref.astype(np.float64) - est) ** 2).sum())
    return 10 * np.log10(max(num, 1e-12) / max(den, 1e-12))


def f1(pred: np.ndarray, label: np.ndarray) -> float:
    tp = float((pred * label).sum())
    fp = float((pred * (1 - label)).sum())
    fn = float(((1 - pred) * label).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1e-9)


@torch.no_grad()
def quick_scores(model, songs, dev) -> dict:
    """Mid-signal SDR per source (songs where it has energy) and activity F1 at 0.5."""
    model.eval()
    per = {s: [] for s in SOURCES}
    preds, labels = [], []
    for song in songs:
        src = song.sources(0, song.frames)  # [5, n]
        mix = src.sum(0)
        spec = stft(torch.from_numpy(mix))
        m, p = masks_for(model, spec.abs().to(dev))
        est = separate(spec, m.cpu(), len(mix)).numpy()
        for k, s in enumerate(SOURCES):
            if np.abs(src[k]).max() > 1e-3:
                per[s].append(sdr(src[k], est[k]))
        preds.append((p.cpu().numpy() >= 0.5).astype(np.float32))
        labels.append(song.activity_at(0, spec.shape[-1]))
    model.train()
    out = {f"sdr_{s}": float(np.mean(v)) if v else float("nan") for s, v in per.items()}
    out["sdr_mean"] = float(np.nanmean([out[f"sdr_{s}"] for s in STEMS]))
    P, L = np.concatenate(preds, 1), np.concatenate(labels, 1)
    for k, s in enumerate(CLASSES):
        out[f"act_f1_{s}"] = f1(P[k], L[k])
    return out


# --- `cargo xtask eval separator`: the evaluation table -------------------------------------

LEAK_FRAME = 4410  # 100 ms at 44.1 kHz
SILENT_RMS = 1e-3  # −60 dBFS


def _find_museval():
    """museval's BSSEval v4 (`museval/metrics.py`), loaded without the package's __init__,
    which imports musdb → stempeg → an ffmpeg binary that scoring does not need."""
    import importlib.util as u

    spec = u.find_spec("museval")
    if spec is None:
        raise SystemExit("museval is not installed: run `bash xtask/python/venv.sh`")

    path = spec.submodule_search_locations[0] + "/metrics.py"
    s = u.spec_from_file_location("museval_metrics", path)
    m = u.module_from_spec(s)
    s.loader.exec_module(m)
    return m.bss_eval


def oracle(refs: np.ndarray, kind: str) -> np.ndarray:
    """Ideal masks at the model's STFT per channel: `irm` |S_k| / Σ|S|, `ibm` 1 for the
    loudest source. refs [5, 2, n] → estimates [5, 2, n]."""
    spec = stft(torch.from_numpy(refs))  # [5, 2, F, T]
    mag = spec.abs()
    if kind == "irm":
        m = mag / mag.sum(0, keepdim=True).clamp(min=1e-8)
    else:
        m = torch.nn.functional.one_hot(mag.argmax(0), refs.shape[0]).permute(3, 0, 1, 2).float()
    d = N_FFT - HOP
    return istft(m * spec.sum(0, keepdim=True), refs.shape[-1] + d)[..., d:].numpy()


def umx_estimate(model, mix: np.ndarray) -> np.ndarray:
    """The UMX baseline: masks from the mid magnitude, applied to both channels."""
    spec = stft(torch.from_numpy(mix))  # [2, F, T]
    m, _ = masks_for(model, ((spec[0] + spec[1]) * 0.5).abs())
    return separate(spec, m, mix.shape[-1]).numpy()


def score_song(task):
    """(system → source → (sdr, sir, sar)), leakage sums, for one song."""
    refs, ests = task
    bss = _find_museval()
    mix = refs.sum(0)
    scores, leak = {}, {}
    nf = refs.shape[-1] // LEAK_FRAME
    frame_e = lambda x: (x[..., : nf * LEAK_FRAME].reshape(x.shape[0], nf, LEAK_FRAME) ** 2).sum(axis=(0, 2))  # noqa: E731
    mix_e = frame_e(mix)
    for system, est in ests.items():
        scores[system], leak[system] = {}, {}
        for k, src in enumerate(SOURCES):
            ref = refs[k]
            if np.abs(ref).max() < SILENT_RMS:
                per = None
            else:
                r = np.stack([ref.T, (mix - ref).T])
                e = np.stack([est[k].T, (mix - est[k]).T])
                # BSSEval refuses an all-zero estimate (a stem gated shut all song); a −160 dB
                # dither scores it as what it is (≈ 0 dB SDR: nothing separated).
                e = e + 1e-8 * np.random.default_rng(k).standard_normal(e.shape).astype(np.float32)
                sdr, _, sir, sar, _ = bss(r, e, window=RATE, hop=RATE, compute_permutation=False)
                per = tuple(float(np.nanmedian(v[0])) if np.isfinite(v[0]).any() else float("nan") for v in (sdr, sir, sar))
            scores[system][src] = per
            silent = frame_e(ref) < SILENT_RMS**2 * 2 * LEAK_FRAME
            leak[system][src] = (float(frame_e(est[k])[silent].sum()), float(mix_e[silent].sum()), int(silent.sum()))
    return scores, leak


def main(argv=None):
    import argparse
    import json
    import os
    from multiprocessing import Pool

    from .data import Song
    from ...data import Dataset

    ap = argparse.ArgumentParser(prog="metrics separator")
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--preds", required=True, help="folder of <song>.{gated,ungated}.npy [5, 2, n] and <song>.results.npy from the Rust task")
    ap.add_argument("--songs", required=True)
    ap.add_argument("--umx", default=None, help="run folder of the Open-Unmix-style baseline")
    ap.add_argument("--json", required=True)
    ap.add_argument("--plot", required=True)
    ap.add_argument("--update-card", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    _find_museval()
    ds = Dataset(args.data)
    songs = [Song(args.data, args.split, s, ds.classes) for s in args.songs.split(",")]
    umx = None
    if args.umx:
        from .net import load_run

        umx, uargs, _ = load_run(args.umx)
        if uargs.arch != "umx":
            raise SystemExit(f"{args.umx} is a {uargs.arch} run, not the umx baseline")
    systems = [s for s in SYSTEMS if s != "umx" or umx is not None]
    tasks, f1_pred, f1_true = [], [], []
    for s in songs:
        refs = s.sources(0, s.frames, stereo=True)
        mix = refs.sum(0)
        ests = {"input": np.broadcast_to(mix, refs.shape).copy(), "irm": oracle(refs, "irm"), "ibm": oracle(refs, "ibm")}
        if umx is not None:
            ests["umx"] = umx_estimate(umx, mix)
        for sys_ in ("ungated", "gated"):
            ests[sys_] = np.load(os.path.join(args.preds, f"{s.id}.{sys_}.npy"))
        res = np.load(os.path.join(args.preds, f"{s.id}.results.npy"))
        labels = s.activity_at(0, len(res))
        f1_pred.append(res[:, len(CLASSES) :].T)
        f1_true.append(labels)
        tasks.append((refs, ests))
    with Pool(max(1, args.jobs)) as pool:
        per_song = pool.map(score_song, tasks)
    metrics = {}
    for system in systems:
        for src in SOURCES:
            vals = [p[0][system][src] for p in per_song if p[0][system][src] is not None]
            for i, name in enumerate(("sdr", "sir", "sar")):
                v = [x[i] for x in vals if np.isfinite(x[i])]
                metrics[f"{name}.{system}.{src}"] = float(np.median(v)) if v else float("nan")
            e = sum(p[1][system][src][0] for p in per_song)
            m = sum(p[1][system][src][1] for p in per_song)
            metrics[f"leak_db.{system}.{src}"] = float(10 * np.log10(max(e, 1e-20) / m)) if m > 0 else float("nan")
        metrics[f"sdr.{system}.mean"] = float(np.nanmean([metrics[f"sdr.{system}.{s}"] for s in SOURCES]))
        if system != "input":
            for src in SOURCES:
                metrics[f"sdri.{system}.{src}"] = metrics[f"sdr.{system}.{src}"] - metrics[f"sdr.input.{src}"]
            metrics[f"sdri.{system}.mean"] = metrics[f"sdr.{system}.mean"] - metrics["sdr.input.mean"]
    P, L = np.concatenate(f1_pred, 1), np.concatenate(f1_true, 1)
    for k, s in enumerate(CLASSES):
        metrics[f"activity_f1.{s}"] = f1(P[k], L[k])
    metrics["songs"] = len(songs)
    out = {"model": "separator", "split": args.split, "data": args.data, "baseline": args.umx, "metrics": metrics}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    print(table(metrics, systems))
    plot(metrics, systems, args.plot, f"{args.split} split, {len(songs)} songs")
    if args.update_card:
        from ... import card as cards
        from .readme import write_readme

        def change(card):
            card.setdefault("metrics", {}).setdefault("eval", {})[args.split] = out
        cards.update(args.update_card, change, write_readme)


def table(m, systems) -> str:
    head = f"{'system':<9}" + "".join(f"{s:>16}" for s in SOURCES) + f"{'mean':>9}"
    lines = ["SDR dB (median over songs) / leakage dB in the stem's silent frames", head]
    for sys_ in systems:
        row = f"{sys_:<9}" + "".join(f"{m[f'sdr.{sys_}.{s}']:>8.2f} /{m[f'leak_db.{sys_}.{s}']:>6.1f}" for s in SOURCES)
        lines.append(row + f"{m[f'sdr.{sys_}.mean']:>9.2f}")
    lines.append("activity F1: " + ", ".join(f"{s} {m[f'activity_f1.{s}']:.3f}" for s in CLASSES))
    return "\n".join(lines)


def plot(m, systems, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    w = 0.8 / len(systems)
    x = np.arange(len(SOURCES))
    for i, sys_ in enumerate(systems):
        axes[0].bar(x + i * w, [m[f"sdr.{sys_}.{s}"] for s in SOURCES], w, label=sys_)
        axes[1].bar(x + i * w, [m[f"leak_db.{sys_}.{s}"] for s in SOURCES], w, label=sys_)
    for ax, t in zip(axes, ("SDR (dB, higher is better)", "leakage in silent frames (dB re mix, lower is better)")):
        ax.set_xticks(x + 0.4 - w / 2, SOURCES)
        ax.set_title(t)
        ax.axhline(0, color="k", lw=0.5)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Stem Separator: {title}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
