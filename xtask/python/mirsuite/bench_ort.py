"""Single-thread ONNX Runtime timing of a model on a given input, for `cargo xtask bench`.

    python -m mirsuite.bench_ort --model models/activity/model.onnx --golden models/activity/golden.json
prints JSON: {"median_ms": ..., "p90_ms": ..., "iters": ...}

With --serve it instead loads the model, warms up, prints {"ready": true} and then, for each line
N read from stdin, times N runs and prints {"median_ms": ...}: `cargo xtask bench` alternates
such blocks with blocks of tract runs, so both engines see the same machine state and the
ratio is taken block by block.
"""

import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--golden", required=True, help="golden.json whose first case's inputs are used")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--serve", action="store_true", help="time blocks of runs on request (see the module doc)")
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])
    golden = json.load(open(args.golden))
    feeds = {}
    for inp, data in zip(sess.get_inputs(), golden["cases"][0]["inputs"]):
        feeds[inp.name] = np.array(data, dtype=np.float32).reshape([int(d) for d in inp.shape])
    for _ in range(args.warmup):
        sess.run(None, feeds)

    def timed(n):
        times = []
        for _ in range(n):
            t = time.perf_counter()
            sess.run(None, feeds)
            times.append((time.perf_counter() - t) * 1e3)
        times.sort()
        return times

    if args.serve:
        print(json.dumps({"ready": True, "onnxruntime": ort.__version__}), flush=True)
        for line in sys.stdin:
            times = timed(max(1, int(line)))
            print(json.dumps({"median_ms": times[len(times) // 2]}), flush=True)
        return
    times = timed(args.iters)
    print(json.dumps({"median_ms": times[len(times) // 2], "p90_ms": times[int(len(times) * 0.9)], "iters": args.iters, "onnxruntime": ort.__version__}))


if __name__ == "__main__":
    main()
