"""One package per model (`mirsuite.models.<name>`), each with the same modules: `train` (hooks
for the shared loop in `mirsuite.train`), `export` (`main(argv)`), `metrics` (`main(argv)`),
plus whatever the model needs (`net`, `data`, `readme`, …). The entry points pick the package
by name, as DeepFilterNet's `df/model.py` picks a model module."""

import importlib

NAMES = ("activity", "drums", "melody", "separator")


def module(name: str, part: str):
    """`mirsuite.models.<name>.<part>`, or an exit naming the models there are."""
    if name not in NAMES:
        raise SystemExit(f"unknown model {name!r} (models: {', '.join(NAMES)})")
    return importlib.import_module(f"{__name__}.{name}.{part}")


def dispatch(part: str, argv):
    """`python -m mirsuite.<part> <model> ARGS`: runs the model's `<part>.main(ARGS)`."""
    if not argv or argv[0] in ("-h", "--help"):
        raise SystemExit(f"usage: python -m mirsuite.{part} <model> [args]   (models: {', '.join(NAMES)})")
    return module(argv[0], part).main(argv[1:])
