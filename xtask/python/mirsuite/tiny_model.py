"""Builds the tiny spectral-mask ONNX model the runner tests use, plus its card and golden data.

The model is built directly with onnx.helper (no training framework needed) from seeded numpy
weights, so the output is bit-for-bit reproducible:

    PYTHONPATH=xtask/python python3 -m mirsuite.tiny_model --out tests/fixtures/tiny_mask

Graph: mag [1, 129, 4] -> log(1 + mag) -> Conv1d(129->16, k3, pad 1) -> Relu
       -> Conv1d(16->129, k1) -> Sigmoid -> mask [1, 129, 4]
Golden outputs are computed with ONNX Runtime; the Rust test runs the same inputs in tract.
"""

import argparse
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLE_RATE = 16000
N_FFT = 256
HOP = 64
BINS = N_FFT // 2 + 1
CONTEXT = 4
HIDDEN = 16
SEED = 1234


def build(seed: int = SEED) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((HIDDEN, BINS, 3)) * 0.05).astype(np.float32)
    b1 = (rng.standard_normal(HIDDEN) * 0.05).astype(np.float32)
    w2 = (rng.standard_normal((BINS, HIDDEN, 1)) * 0.2).astype(np.float32)
    # A positive bias keeps the mask close to (but not at) one, so audio passes almost intact
    # while every bin still depends on the input.
    b2 = (3.0 + rng.standard_normal(BINS) * 0.1).astype(np.float32)
    one = np.array([1.0], dtype=np.float32)
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(b2, "b2"),
        numpy_helper.from_array(one, "one"),
    ]
    nodes = [
        helper.make_node("Add", ["mag", "one"], ["mag1"]),
        helper.make_node("Log", ["mag1"], ["logmag"]),
        helper.make_node("Conv", ["logmag", "w1", "b1"], ["h"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Conv", ["hr", "w2", "b2"], ["logits"], kernel_shape=[1]),
        helper.make_node("Sigmoid", ["logits"], ["mask"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_mask",
        [helper.make_tensor_value_info("mag", TensorProto.FLOAT, [1, BINS, CONTEXT])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, BINS, CONTEXT])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="mirsuite.tiny_model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def card() -> dict:
    return {
        "name": "tiny_mask",
        "version": "1.0.0",
        "sample_rate": SAMPLE_RATE,
        "frame_size": N_FFT,
        "hop_size": HOP,
        "window": "hann",
        "inputs": [{"name": "mag", "shape": [1, BINS, CONTEXT]}],
        "outputs": [{"name": "mask", "shape": [1, BINS, CONTEXT]}],
        "classes": [],
        "thresholds": [],
        "description": "Test fixture: untrained, seeded spectral-mask model for the runner tests.",
        "command": "PYTHONPATH=xtask/python python3 -m mirsuite.tiny_model --out tests/fixtures/tiny_mask",
        "license": "GPL-3.0-or-later",
    }


def golden(model: onnx.ModelProto, n: int = 3) -> dict:
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(SEED + 1)
    cases = []
    for i in range(n):
        scale = [0.01, 1.0, 50.0][i % 3]
        x = (np.abs(rng.standard_normal((1, BINS, CONTEXT))) * scale).astype(np.float32)
        (y,) = sess.run(None, {"mag": x})
        cases.append({"inputs": [x.ravel().tolist()], "outputs": [y.ravel().tolist()]})
    return {"model": "tiny_mask", "reference": f"onnxruntime {ort.__version__}", "cases": cases}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    model = build()
    onnx.save(model, os.path.join(args.out, "model.onnx"))
    with open(os.path.join(args.out, "card.json"), "w") as f:
        json.dump(card(), f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "golden.json"), "w") as f:
        json.dump(golden(model), f)
        f.write("\n")
    print(f"wrote model.onnx, card.json, golden.json to {args.out}")


if __name__ == "__main__":
    main()
