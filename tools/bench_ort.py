#!/usr/bin/env python3
"""onnxruntime's side of tools/bench_compare.py: inference images/s of one .onnx file (input
"input" [N,C,H,W], float32) at one batch and thread count, median of --reps after --warmup, as
the JSON rows bench_compare reads.

Usage: build/venv/bin/python tools/bench_ort.py --onnx model.onnx --batch 256 --threads 2
           [--warmup 2] [--reps 5] --json out.json"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(a.onnx, opts, providers=["CPUExecutionProvider"])
    shape = [a.batch] + [d if isinstance(d, int) else 1 for d in session.get_inputs()[0].shape[1:]]
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    for _ in range(a.warmup):
        session.run(None, {"input": x})
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        session.run(None, {"input": x})
        times.append(time.perf_counter() - t)
    row = {"mode": "inference", "batch": a.batch,
           "images_per_second": a.batch / statistics.median(times)}
    with open(a.json, "w") as f:
        json.dump({"onnxruntime": ort.__version__, "rows": [row]}, f)


if __name__ == "__main__":
    main()
