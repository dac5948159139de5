"""WAV reading through SciPy's reader (16/32-bit PCM and 32-bit float, as the dataset renderer
and `cargo xtask render` write them), returned in the layout the rest of the package uses."""

import numpy as np
from scipy.io import wavfile

_SCALE = {np.dtype("int16"): 32768.0, np.dtype("int32"): 2147483648.0}


def read(path: str):
    """Returns (float32 array [channels, frames] in [-1, 1], sample_rate)."""
    try:
        rate, x = wavfile.read(path)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    if x.dtype in _SCALE:
        x = x.astype(np.float32) / _SCALE[x.dtype]
    elif x.dtype != np.float32:
        raise ValueError(f"{path}: {x.dtype} samples are not supported (16/32-bit PCM or 32-bit float)")
    x = x.reshape(len(x), -1)
    return np.ascontiguousarray(x.T), int(rate)
