"""Score a model's predictions (written by `cargo xtask eval <model>`) with the field's
reference implementations: `python -m mirsuite.metrics <model> ARGS`. The model's own
`mirsuite.models.<model>.metrics` does it."""

import sys

from .models import dispatch

if __name__ == "__main__":
    sys.exit(dispatch("metrics", sys.argv[1:]))
