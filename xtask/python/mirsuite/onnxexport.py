"""ONNX export and its first check: PyTorch against ONNX Runtime on the same inputs (the second
check, tract against the golden outputs, runs in Rust). Any model's export uses these."""

import warnings

import numpy as np
import torch

TOLERANCE = 1e-4
OPSET = 17


def export_onnx(module, example, path, input_name, output_name):
    """Traces `module` (eval mode) on `example` into an ONNX file with fixed shapes."""
    module.eval()
    kwargs = dict(input_names=[input_name], output_names=[output_name], opset_version=OPSET, do_constant_folding=True)
    with warnings.catch_warnings():
        # Input shapes are fixed (the card's), so sizes read off tensors while tracing are constants.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        try:
            torch.onnx.export(module, (example,), path, dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo switch
            torch.onnx.export(module, (example,), path, **kwargs)


def check_ort(path, inputs, expected, input_name):
    """Max abs difference of ONNX Runtime from `expected` over `inputs`, and ORT's version;
    exits when it exceeds TOLERANCE."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    worst = 0.0
    for x, y in zip(inputs, expected):
        (out,) = sess.run(None, {input_name: x})
        worst = max(worst, float(np.abs(out - y).max()))
    if worst > TOLERANCE:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {worst:.2e} (> {TOLERANCE})")
    return worst, ort.__version__
