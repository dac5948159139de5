"""Model cards (`models/<name>/card.json`): the single source of truth the Rust side reads.
Reading, writing and updating them is the same for every model; what a card holds beyond the
generic fields (name, version, rates, tensors, classes, thresholds) is each model's business."""

import json
import math
import os


def path(model_dir: str) -> str:
    return os.path.join(model_dir, "card.json")


def load(model_dir: str, missing_ok: bool = False) -> dict:
    """The card in `model_dir` ({} when absent and `missing_ok`)."""
    p = path(model_dir)
    if missing_ok and not os.path.exists(p):
        return {}
    with open(p) as f:
        return json.load(f)


def finite(v):
    """NaN and ±Inf (a metric over no examples) become null: JSON has no such numbers."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [finite(x) for x in v]
    return v


def save(model_dir: str, card: dict, ensure_ascii: bool = True) -> None:
    os.makedirs(model_dir, exist_ok=True)
    with open(path(model_dir), "w") as f:
        json.dump(finite(card), f, indent=2, ensure_ascii=ensure_ascii, allow_nan=False)
        f.write("\n")


def update(model_dir: str, change, write_readme) -> dict:
    """Applies `change(card)` to the card in `model_dir`, saves it and regenerates its README
    with the model's `write_readme(model_dir, card)`."""
    card = load(model_dir)
    change(card)
    save(model_dir, card, ensure_ascii=False)
    write_readme(model_dir, card)
    return card
