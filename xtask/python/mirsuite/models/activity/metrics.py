"""Activity metrics with scikit-learn's reference implementations, at the thesis' time scales.

Segments are 1 s; 5 s, 10 s and track level max-pool the 1 s predictions and labels of each
track (the thesis' protocol). F1 is the thesis' definition: per instrument, the mean of the F1 of
the positive class and the F1 of the negative class, then averaged over instruments. AUROC is
macro over classes that have both labels in the pooled set; LRAP (scikit-learn) over segments
with at least one active class. The 1 s macro AUROC and F1 also get a 95 % interval from a
song-level bootstrap (`--bootstrap N` resamples of the split's songs, seeded): with a few hundred
30 s songs, which songs the split happens to hold moves these scores by about ±0.01.

    python -m mirsuite.metrics activity --preds P.json --json OUT.json --plot OUT.png
where P (JSON, written by `cargo xtask eval`) holds `probs` [segments][classes], `labels`
[segments][classes], `track` [segments] (track index of each 1 s segment, in time order),
`classes` and `thresholds` (of the card's default response), and `responses` (per response
setting: `seconds`, `thresholds`, `probs`, and the display `lags`). `--update-card DIR` writes the
metrics into DIR/card.json and regenerates DIR/README.md; with `--tune SECONDS` the thresholds of
every response are tuned on this (validation) split instead and written into the card's
`responses`, SECONDS becoming its default `averaging_seconds`.
"""

import argparse
import json

import numpy as np
from sklearn.metrics import f1_score, label_ranking_average_precision_score, roc_auc_score

from ... import card as cards
from .readme import write_readme

SCALES = {"1s": 1, "5s": 5, "10s": 10, "track": None}


def pool(probs, labels, track, size):
    """Max-pools consecutive 1 s segments of each track into blocks of `size` (None: whole track)."""
    out_p, out_l = [], []
    for t in np.unique(track):
        idx = np.where(track == t)[0]
        step = len(idx) if size is None else size
        for a in range(0, len(idx), step):
            blk = idx[a : a + step]
            out_p.append(probs[blk].max(axis=0))
            out_l.append(labels[blk].max(axis=0))
    return np.array(out_p), np.array(out_l)


def thesis_f1(y, yhat):
    """Mean of positive- and negative-class F1 for one class."""
    pos = f1_score(y, yhat, pos_label=1, zero_division=0)
    neg = f1_score(y, yhat, pos_label=0, zero_division=0)
    return 0.5 * (pos + neg)


def scale_metrics(p, l, thresholds, classes):
    per_auc, per_f1 = {}, {}
    for c, name in enumerate(classes):
        y = l[:, c]
        if 0 < y.sum() < len(y):
            per_auc[name] = float(roc_auc_score(y, p[:, c]))
        per_f1[name] = float(thesis_f1(y, (p[:, c] >= thresholds[c]).astype(int)))
    rows = l.sum(axis=1) > 0
    lrap = float(label_ranking_average_precision_score(l[rows], p[rows])) if rows.any() else float("nan")
    return {
        "auroc": float(np.mean(list(per_auc.values()))) if per_auc else float("nan"),
        "lrap": lrap,
        "f1": float(np.mean(list(per_f1.values()))),
        "auroc_per_class": per_auc,
        "f1_per_class": per_f1,
        "segments": int(len(l)),
    }


def activity_metrics(probs, labels, track, thresholds, classes):
    """All scales. Returns (flat dotted-key metrics, nested detail)."""
    flat, detail = {}, {}
    for scale, size in SCALES.items():
        p, l = pool(probs, labels, track, size)
        m = scale_metrics(p, l, thresholds, classes)
        detail[scale] = m
        flat[f"auroc.{scale}"] = m["auroc"]
        flat[f"lrap.{scale}"] = m["lrap"]
        flat[f"f1.{scale}"] = m["f1"]
        for name, v in m["auroc_per_class"].items():
            flat[f"auroc.{name}.{scale}"] = v
        for name, v in m["f1_per_class"].items():
            flat[f"f1.{name}.{scale}"] = v
    return flat, detail


def fast_auroc(y, score):
    """AUROC as the Mann–Whitney statistic with average ranks for ties: the same number as
    scikit-learn's `roc_auc_score` (up to rounding), without its per-call checks, for the
    bootstrap's many resamples."""
    from scipy.stats import rankdata

    pos = y.astype(bool)
    n1 = int(pos.sum())
    n0 = len(y) - n1
    r = rankdata(score)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def fast_thesis_f1(l, hat):
    """`thesis_f1` of every column of 0/1 arrays [segments, classes] at once (F1 = 2TP/(2TP+FP+FN)
    per class and polarity, 0 where undefined, as scikit-learn's zero_division=0)."""
    l, hat = l.astype(bool), hat.astype(bool)
    tp = (l & hat).sum(axis=0)
    tn = (~l & ~hat).sum(axis=0)
    err = (l != hat).sum(axis=0)
    f = lambda t: np.divide(2.0 * t, 2.0 * t + err, out=np.zeros(len(t)), where=(2 * t + err) > 0)
    return 0.5 * (f(tp) + f(tn))


def _song_resamples(track, n, seed):
    """`n` seeded song-level resamples of a split: the segment indices of as many songs as the
    split holds, drawn with replacement (songs are the independent units, segments are not)."""
    rng = np.random.default_rng(seed)
    rows = [np.where(track == t)[0] for t in np.unique(track)]
    for _ in range(n):
        yield np.concatenate([rows[i] for i in rng.integers(len(rows), size=len(rows))])


def _scores_1s(p, l, th):
    """Macro AUROC over the classes with both label values (NaN if none has) and macro thesis F1
    at thresholds `th` [1, classes], of 1 s segments."""
    aucs = [fast_auroc(l[:, c], p[:, c]) for c in range(l.shape[1]) if 0 < l[:, c].sum() < len(l)]
    return (float(np.mean(aucs)) if aucs else np.nan), float(np.mean(fast_thesis_f1(l, p >= th)))


def bootstrap_ci(probs, labels, track, thresholds, n=1000, seed=0, level=0.95):
    """Song-level bootstrap of the 1 s macro AUROC and F1 (`_song_resamples`), `n` resamples,
    seeded. Returns {"auroc.1s": [low, high], "f1.1s": [low, high], "resamples": n, "songs": k}; a
    resample where a class has a single label value averages over the classes that have both,
    as the point estimate does."""
    th = np.asarray(thresholds)[None, :]
    auc, f1 = np.array([_scores_1s(probs[idx], labels[idx], th) for idx in _song_resamples(track, n, seed)]).T
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    return {
        "auroc.1s": [float(x) for x in np.nanpercentile(auc, q)] if np.isfinite(auc).any() else None,
        "f1.1s": [float(x) for x in np.percentile(f1, q)],
        "level": level,
        "resamples": n,
        "songs": int(len(np.unique(track))),
    }


def paired_bootstrap(probs, base, labels, track, thresholds, base_thresholds, n=1000, seed=0, level=0.95):
    """Song-level paired bootstrap of the 1 s macro AUROC and F1 differences between two models
    scored on the same segments (`probs` − `base`, each at its own thresholds): every resample
    draws the same songs for both, so what the songs share cancels. Returns the point
    differences, their intervals and the share of resamples where the first model is not better."""
    th, bth = np.asarray(thresholds)[None, :], np.asarray(base_thresholds)[None, :]

    def diff(idx):
        (a, f), (ba, bf) = _scores_1s(probs[idx], labels[idx], th), _scores_1s(base[idx], labels[idx], bth)
        return a - ba, f - bf

    point = diff(np.arange(len(labels)))
    draws = np.array([diff(idx) for idx in _song_resamples(track, n, seed)])
    draws = draws[np.isfinite(draws[:, 0])]
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    return {
        "auroc.1s": point[0],
        "auroc.1s.ci": [float(x) for x in np.percentile(draws[:, 0], q)],
        "auroc.1s.not_better": float(np.mean(draws[:, 0] <= 0)),
        "f1.1s": point[1],
        "f1.1s.ci": [float(x) for x in np.percentile(draws[:, 1], q)],
        "f1.1s.not_better": float(np.mean(draws[:, 1] <= 0)),
        "level": level,
        "resamples": int(len(draws)),
        "songs": int(len(np.unique(track))),
    }


def tune_thresholds(probs, labels, classes, grid=None):
    """Per-class threshold maximizing the thesis F1 at 1 s (on validation data)."""
    grid = np.round(np.arange(0.02, 0.99, 0.02), 2) if grid is None else grid
    out = []
    for c in range(len(classes)):
        y = labels[:, c]
        scores = [thesis_f1(y, (probs[:, c] >= t).astype(int)) for t in grid]
        out.append(float(grid[int(np.argmax(scores))]))
    return out


def lag_summary(lags):
    """Median and 90th percentile of the onset and release delays (seconds), and the misses."""
    q = lambda v, x: float(np.percentile(v, x)) if len(v) else float("nan")
    on, off = lags["onset_s"], lags["release_s"]
    return {
        "onset_median_s": q(on, 50),
        "onset_p90_s": q(on, 90),
        "release_median_s": q(off, 50),
        "release_p90_s": q(off, 90),
        "onsets": len(on) + lags["missed_onsets"],
        "missed_onsets": lags["missed_onsets"],
        "releases": len(off) + lags["missed_releases"],
        "missed_releases": lags["missed_releases"],
    }


def response_table(d, labels, track, classes):
    """Per response setting: 1 s / 5 s scores with its own thresholds, and display lags."""
    out = []
    for r in d.get("responses", []):
        flat, _ = activity_metrics(np.array(r["probs"], dtype=np.float64), labels, track, r["thresholds"], classes)
        row = {"seconds": r["seconds"]}
        row.update({k: flat[k] for k in ("auroc.1s", "lrap.1s", "f1.1s", "auroc.5s", "f1.5s")})
        row.update(lag_summary(r["lags"]))
        out.append(row)
    return out


def tune_responses(d, labels, track, classes, default):
    """Thresholds of every response tuned on this split; returns (card responses, summary rows)."""
    table, rows = [], []
    for r in d["responses"]:
        p = np.array(r["probs"], dtype=np.float64)
        th = tune_thresholds(p, labels, classes)
        flat, _ = activity_metrics(p, labels, track, th, classes)
        table.append({"seconds": r["seconds"], "thresholds": th})
        rows.append({"seconds": r["seconds"], "auroc.1s": flat["auroc.1s"], "f1.1s": flat["f1.1s"]})
    if not any(abs(t["seconds"] - default) < 1e-6 for t in table):
        raise SystemExit(f"--tune {default}: no response with that averaging time ({[t['seconds'] for t in table]})")
    return table, rows


def plot(detail, classes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    x = np.arange(len(classes))
    for i, scale in enumerate(["1s", "10s", "track"]):
        auc = [detail[scale]["auroc_per_class"].get(c, np.nan) for c in classes]
        f1 = [detail[scale]["f1_per_class"].get(c, np.nan) for c in classes]
        axes[0].bar(x + (i - 1) * 0.27, auc, 0.27, label=scale)
        axes[1].bar(x + (i - 1) * 0.27, f1, 0.27, label=scale)
    for ax, title in zip(axes, ["AUROC per class", "F1 (mean of pos/neg) per class"]):
        ax.set_xticks(x)
        ax.set_xticklabels(classes, rotation=60, ha="right")
        ax.set_ylim(0.4, 1.0)
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m mirsuite.metrics activity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preds", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--plot")
    ap.add_argument("--split", default="test")
    ap.add_argument("--update-card", default=None, help="model folder whose card/README get these metrics")
    ap.add_argument("--tune", type=float, default=None, help="tune every response's thresholds here; default averaging (s)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="song-level bootstrap resamples for the 1 s intervals (0: none)")
    args = ap.parse_args(argv)
    args.model = "activity"
    with open(args.preds) as f:
        d = json.load(f)
    classes = [str(c) for c in d["classes"]]
    labels, track = np.array(d["labels"], dtype=int), np.array(d["track"], dtype=int)
    if args.tune is not None:
        table, rows = tune_responses(d, labels, track, classes, args.tune)
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "split": args.split, "tuned": table, "responses": rows}, f, indent=2)
        print(f"{'averaging':>9} {'AUROC 1s':>9} {'F1 1s (tuned here)':>19}  thresholds")
        for t, r in zip(table, rows):
            print(f"{t['seconds']:>8.1f}s {r['auroc.1s']:9.4f} {r['f1.1s']:19.4f}  {t['thresholds']}")
        if args.update_card:
            cards.update(args.update_card, lambda card: tune_card(card, table, args.tune, d, args.split), write_readme)
        return
    probs = np.array(d["probs"], dtype=np.float64)
    flat, detail = activity_metrics(probs, labels, track, d["thresholds"], classes)
    responses = response_table(d, labels, track, classes)
    ci = bootstrap_ci(probs, labels, track, d["thresholds"], n=args.bootstrap) if args.bootstrap > 0 else None
    b = d.get("baseline")
    paired = None
    if b and args.bootstrap > 0:
        base = np.array(b["probs"], dtype=np.float64)
        paired = paired_bootstrap(probs, base, labels, track, d["thresholds"], b["thresholds"], n=args.bootstrap)
        paired["baseline"] = b["dir"]
    with open(args.json, "w") as f:
        json.dump({"model": args.model, "split": args.split, "averaging_seconds": d.get("averaging_seconds", 0.0), "metrics": flat, "ci95": ci, "against_baseline": paired, "responses": responses, "detail": detail}, f, indent=2)
    if args.plot:
        plot(detail, classes, args.plot)
    if args.update_card:

        def put(card):
            card.setdefault("metrics", {})[args.split] = flat
            card["metrics"][f"{args.split}_command"] = "cargo xtask eval activity" + ("" if args.split == "test" else f" --data {d.get('data', '?')} --split {args.split}")
            if args.split not in ("test", "val"):
                card["metrics"][f"{args.split}_dataset_command"] = d.get("data_command")
            if responses:
                card["metrics"][f"{args.split}_responses"] = responses
            if ci:
                card["metrics"][f"{args.split}_ci95"] = ci

        cards.update(args.update_card, put, write_readme)
    if responses:
        print(f"{'averaging':>9} {'AUROC 1s':>9} {'F1 1s':>7} {'onset med/p90 s':>16} {'release med/p90 s':>18}")
        for r in responses:
            print(
                f"{r['seconds']:>8.1f}s {r['auroc.1s']:9.4f} {r['f1.1s']:7.4f} {r['onset_median_s']:7.2f}/{r['onset_p90_s']:<8.2f}"
                f" {r['release_median_s']:8.2f}/{r['release_p90_s']:<8.2f}"
            )
    print(f"{'scale':<6} {'AUROC':>7} {'LRAP':>7} {'F1':>7}")
    for scale in SCALES:
        print(f"{scale:<6} {flat[f'auroc.{scale}']:7.4f} {flat[f'lrap.{scale}']:7.4f} {flat[f'f1.{scale}']:7.4f}")
    if ci and ci["auroc.1s"]:
        a, f = ci["auroc.1s"], ci["f1.1s"]
        print(f"1 s, {ci['level']:.0%} song-bootstrap interval ({ci['songs']} songs, {ci['resamples']} resamples): AUROC {a[0]:.4f}–{a[1]:.4f}, F1 {f[0]:.4f}–{f[1]:.4f}")
    if paired:
        print(
            f"against {paired['baseline']} (paired, same songs): AUROC {paired['auroc.1s']:+.4f} "
            f"[{paired['auroc.1s.ci'][0]:+.4f}, {paired['auroc.1s.ci'][1]:+.4f}], not better in {paired['auroc.1s.not_better']:.1%} of resamples; "
            f"F1 {paired['f1.1s']:+.4f} [{paired['f1.1s.ci'][0]:+.4f}, {paired['f1.1s.ci'][1]:+.4f}], not better in {paired['f1.1s.not_better']:.1%}"
        )
    print(f"\n{'class':<22} {'AUROC 1s':>9} {'F1 1s':>7}")
    for c in classes:
        print(f"{c:<22} {detail['1s']['auroc_per_class'].get(c, float('nan')):9.4f} {detail['1s']['f1_per_class'][c]:7.4f}")


def tune_card(card, table, default, preds, split):
    """Writes tuned responses into a card; the default's thresholds become the top-level ones."""
    data = preds.get("data", "?")
    card["responses"] = table
    card["averaging_seconds"] = default
    card["thresholds"] = next(t["thresholds"] for t in table if abs(t["seconds"] - default) < 1e-6)
    card["responses_tuned_on"] = {
        "data": data,
        "split": split,
        "command": f"cargo xtask eval activity --data {data} --split {split} --tune --averaging {default:g}",
        "dataset_command": preds.get("data_command"),
    }

