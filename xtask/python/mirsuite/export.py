"""Export a trained model to `models/<name>/` (ONNX checked against ONNX Runtime, golden data for
the Rust tract check, card, README): `python -m mirsuite.export <model> ARGS`, or
`cargo xtask export <model> ARGS`. The model's own `mirsuite.models.<model>.export` does it."""

import sys

from .models import dispatch

if __name__ == "__main__":
    sys.exit(dispatch("export", sys.argv[1:]))
