"""The activity model's README sections (classes, metrics, response settings) for the shared
README writer (`mirsuite.readme`)."""

from ... import readme

RESPONSE_NAMES = {0.0: "Fast", 0.5: "Balanced", 1.0: "Steady", 2.0: "Slow"}


def sections(card: dict) -> list:
    val = card["metrics"].get("val", {})
    test = card["metrics"].get("test", {})
    real = card["metrics"].get("real", {})
    lines = [
        "## Classes and thresholds",
        "",
        "| class | threshold (tuned on val) | test AUROC 1 s | test F1 1 s |" + (" real AUROC 1 s | real F1 1 s |" if real else ""),
        "|---|---|---|---|" + ("---|---|" if real else ""),
    ]

    def cells(m, c):
        a, f1 = m.get(f"auroc.{c}.1s"), m.get(f"f1.{c}.1s")
        return f" {a:.3f} | {f1:.3f} |" if a is not None and f1 is not None else " – | – |"

    for c, t in zip(card["classes"], card["thresholds"]):
        lines.append(f"| {c} | {t:.2f} |" + cells(test, c) + (cells(real, c) if real else ""))
    lines += ["", "## Metrics", "", "Held-out test split: MuseScore General (lossless) melodic timbres and AVL drum kits, never", "used for training or tuning. F1 is the thesis' mean of positive- and negative-class F1 per", "instrument, averaged over instruments.", "", "| split | scale | AUROC | LRAP | F1 |", "|---|---|---|---|---|"]
    for split, m in [("test", test), ("real", real), ("val", val)]:
        for s in ["1s", "5s", "10s", "track"]:
            if f"auroc.{s}" in m:
                lines.append(f"| {split} | {s} | {m[f'auroc.{s}']:.4f} | {m[f'lrap.{s}']:.4f} | {m[f'f1.{s}']:.4f} |")
    avg = card.get("averaging_seconds", 0.0)
    ci = card["metrics"].get("test_ci95")
    if ci and ci.get("auroc.1s"):
        a, f = ci["auroc.1s"], ci["f1.1s"]
        lines += [
            "",
            f"The test split holds {ci['songs']} songs; a song-level bootstrap ({ci['resamples']} resamples of its songs)",
            f"puts the 1 s scores' {ci['level']:.0%} interval at AUROC {a[0]:.4f}–{a[1]:.4f} and F1 {f[0]:.4f}–{f[1]:.4f}.",
        ]
    rci = card["metrics"].get("real_ci95")
    if real:
        lines += [
            "",
            "Real-recording split (`real`): songs played only by recorded instruments that no model trains or tunes",
            "on: the freepats GUS patches (samples of real instruments) and the Hydrogen kits BJA_Pacific,",
            "ColomboAcousticDrumkit and Millo_MultiLayered3, rendered by the project's samplers with the same",
            "labels as the other splits (`" + card["metrics"].get("real_command", "") + "`)"
            + (f"; {rci['songs']} songs, 1 s 95 % interval AUROC {rci['auroc.1s'][0]:.4f}–{rci['auroc.1s'][1]:.4f}, F1 {rci['f1.1s'][0]:.4f}–{rci['f1.1s'][1]:.4f}." if rci and rci.get("auroc.1s") else "."),
            "Classes the freepats bank plays only rarely rest on few positives; a dash marks a class without any.",
        ]
    lines += [
        "",
        "Test numbers come from `cargo xtask eval activity` (tract inference exactly as in the plugin,",
        "metrics by scikit-learn" + (f", with the default response: {avg:g} s averaging, see below)." if avg else ")."),
        "Validation numbers come from the export step (PyTorch, raw predictions, the training data's",
        "val split). The test split (MuseScore General + AVL kits) is rendered by oxisynth, which",
        "applies the SoundFont modulators MuseScore General's voicing relies on.",
        "",
    ]
    rows = card["metrics"].get("test_responses", [])
    if card.get("responses"):
        tuned = card.get("responses_tuned_on", {})
        lines += [
            "## Response settings",
            "",
            "The plugin averages the probabilities causally (exponential average, time constant below)",
            "before the thresholds and the median filter; each setting has its own thresholds, tuned on",
            f"`{tuned.get('data', '?')}` split `{tuned.get('split', '?')}` (`{tuned.get('command', '')}`).",
            "Longer averages recognize sustained instruments more reliably from several seconds of",
            "evidence, and switch them on and off later. Display lags: seconds from a label change",
            "(an instrument entering or leaving, steady for 1 s on both sides) to the meter's gate",
            "(thresholds + the default 5-step median) following it; changes not followed within 5 s",
            "count as missed. Measured on the test split by `cargo xtask eval activity`.",
            "",
            "| averaging | Response | test AUROC 1 s | test F1 1 s | test AUROC 5 s | onset lag median / p90 | release lag median / p90 | missed on / off |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in card["responses"]:
            m = next((x for x in rows if abs(x["seconds"] - r["seconds"]) < 1e-6), None)
            tag = RESPONSE_NAMES.get(float(r["seconds"]), "–") + (" (default)" if abs(r["seconds"] - avg) < 1e-6 else "")
            if m is None:
                lines.append(f"| {r['seconds']:g} s | {tag} | – | – | – | – | – | – |")
                continue
            lines.append(
                f"| {r['seconds']:g} s | {tag} | {m['auroc.1s']:.4f} | {m['f1.1s']:.4f} | {m['auroc.5s']:.4f} | "
                f"{m['onset_median_s']:.2f} / {m['onset_p90_s']:.2f} s | {m['release_median_s']:.2f} / {m['release_p90_s']:.2f} s | "
                f"{m['missed_onsets']}/{m['onsets']} · {m['missed_releases']}/{m['releases']} |"
            )
        lines.append("")
    return lines


def reproduce(card: dict) -> list:
    """The commands that rebuild the card, in the order they run."""
    cmds = [*readme.dataset_commands(card), card["training"]["command"]]
    tuned = card.get("responses_tuned_on")
    if tuned and tuned.get("dataset_command"):
        # Rendered before the export, which may tune its thresholds on the same data.
        cmds.append(tuned["dataset_command"])
    cmds.append(card["export"]["command"])
    if tuned:
        cmds.append(tuned["command"])
    cmds.append("cargo xtask eval activity" + (f" --data {tuned['data']}" if tuned else ""))
    m = card["metrics"]
    if m.get("real"):
        if m.get("real_dataset_command"):
            cmds.append(m["real_dataset_command"])
        cmds.append(m.get("real_command", "cargo xtask eval activity --split real"))
    return cmds


def write_readme(out: str, card: dict) -> str:
    intro = [
        "Frame-level multi-label instrument activity for the Activity Meter plugin: one second of",
        "log-mel context in, one probability per instrument class out, about "
        f"{card['sample_rate'] / (card['hop_size'] * card['predict_every']):.1f} predictions per second.",
    ]
    features = [
        f"- Features: {card['features']}; {card['n_mels']} bands {card['fmin']}–{card['fmax']} Hz, n_fft {card['frame_size']}, hop {card['hop_size']} at {card['sample_rate']} Hz; context {card['context_frames']} frames (1 s).",
    ]
    return readme.write(out, card, intro, sections(card), features, reproduce(card))
