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


def export_step(step, examples, path, input_names, output_names):
    """Traces a streaming step module (frame and state in, outputs and the new state last out)
    into an ONNX file with fixed shapes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(step, tuple(examples), path, input_names=input_names, output_names=output_names, opset_version=OPSET, do_constant_folding=True, dynamo=False)


@torch.no_grad()
def stream_golden(step, path, frames, state_len, input_names, first, count):
    """Streams `frames(t)` ([1, C, 1] tensors, t = 0 …) through `step` from a zero state, the
    new state (the step's last output) carried along, and from frame `first` on compares
    `count` frames with ONNX Runtime on the same file. Returns (golden cases {inputs, outputs},
    max abs ORT difference)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    cases, worst = [], 0.0
    st = torch.zeros(1, state_len)
    for t in range(first + count):
        m = frames(t)
        outs = step(m, st)
        if t >= first:
            o = sess.run(None, {input_names[0]: m.numpy(), input_names[1]: st.numpy()})
            worst = max(worst, max(float(np.abs(a - b.numpy()).max()) for a, b in zip(o, outs)))
            cases.append({"inputs": [m.numpy().ravel().tolist(), st.numpy().ravel().tolist()], "outputs": [x.numpy().ravel().tolist() for x in outs]})
        st = outs[-1]
    return cases, worst
