#!/usr/bin/env python3
"""Inference speed against onnxruntime and PyTorch on the same network, at the same batch and
thread count, in alternating rounds (median images/s, and the range of the per-round ratios); each side warms
up 3 times, then times --reps runs at batch 64 and proportionally more at smaller batches (at
most 100).

Usage: build/venv/bin/python tools/bench_onnx.py [--models resnet18,mobilenet_v2] [--size 224]
           [--zoo resnet20] [--batches 1,64] [--threads 2] [--reps 5] [--rounds 3]
           [--json out.json]

A torchvision name in --models (resnet18, mobilenet_v2, ...) is made here with random weights (10 classes),
exported with torch.onnx (opset 13, dynamic batch) and imported by `glassbox import`: glassbox
runs the imported graph, onnxruntime the same file, PyTorch the module. A glassbox zoo name in
--zoo (resnet20, resnet56; 3x32x32, --size does not apply) is exported by `glassbox export --model`:
glassbox runs its own model ("glassbox") and the import of that file ("imported"), onnxruntime
the file, PyTorch the same architecture from tools/bench_torch.py. Nothing is downloaded. Needs
the venv of tools/setup_python.sh (torch, onnxruntime)."""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GLASSBOX = os.path.join(ROOT, "build", "glassbox")
WARMUP = 3  # untimed runs per side and measurement (allocator caches, page faults, lazy init)


def reps_for(batch, reps):
    """Small batches are fast and noisy: --reps at batch 64 and up, proportionally more below
    (at most 100), so each measurement lasts about as long."""
    return min(100, max(reps, reps * 64 // max(batch, 1)))


def glassbox_img_s(ck, batch, threads, reps):
    time.sleep(1.0)  # PyTorch's and onnxruntime's idle threads spin for a while after a run
    out = subprocess.run([GLASSBOX, "bench", "--model", ck, "--no-train", "--infer-batch-size",
                          str(batch), "--threads", str(threads), "--warmup", str(WARMUP),
                          "--reps", str(reps)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if " inference " in line:
            return float(re.split(r"\s+", line.split(" inference ")[1].strip())[4])
    raise RuntimeError("no inference line in:\n" + out)


def prepare(name, size, tmp, zoo):
    """The .onnx file, the PyTorch module, the input size and the glassbox models to time
    ({label: zoo name or checkpoint})."""
    onnx_path = os.path.join(tmp, name + ".onnx")
    ck = os.path.join(tmp, name + ".safetensors")
    if name in zoo:
        subprocess.run([GLASSBOX, "export", "--model", name, "--out", onnx_path], check=True,
                       capture_output=True)
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import bench_torch  # the same architectures as the zoo, for bench_compare.py
        model, size, sides = bench_torch.build(name).eval(), 32, {"glassbox": name}
    else:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(num_classes=10).eval()
        torch.onnx.export(model, torch.randn(1, 3, size, size), onnx_path,
                          opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        sides = {}
    subprocess.run([GLASSBOX, "import", onnx_path, "--out", ck], check=True, capture_output=True)
    sides["imported" if sides else "glassbox"] = ck
    return onnx_path, model, size, sides


def timed(fn, reps):
    time.sleep(1.0)  # let the other sides' idle threads stop spinning
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--zoo", default="", help="glassbox zoo models (3x32x32)")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = a.threads
    opts.inter_op_num_threads = 1
    results = []
    zoo = {m for m in a.zoo.split(",") if m}
    with tempfile.TemporaryDirectory() as tmp:
        for name in [m for m in a.models.split(",") if m] + sorted(zoo):
            onnx_path, model, size, gb_sides = prepare(name, a.size, tmp, zoo)
            session = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
            for batch in map(int, a.batches.split(",")):
                x = np.random.default_rng(0).standard_normal((batch, 3, size, size),
                                                              dtype=np.float32)
                xt = torch.from_numpy(x)
                rows = {side: [] for side in [*gb_sides, "onnxruntime", "pytorch"]}
                reps = reps_for(batch, a.reps)
                for _ in range(a.rounds):
                    for side, target in gb_sides.items():
                        rows[side].append(glassbox_img_s(target, batch, a.threads, reps))
                    rows["onnxruntime"].append(
                        batch / timed(lambda: session.run(None, {"input": x}), reps))
                    with torch.no_grad():
                        rows["pytorch"].append(batch / timed(lambda: model(xt), reps))
                r = {"model": name, "size": size, "batch": batch, "threads": a.threads}
                for side, v in rows.items():
                    r[side] = statistics.median(v)
                for other in ("onnxruntime", "pytorch"):
                    ratios = [g / o for g, o in zip(rows["glassbox"], rows[other])]
                    r[f"vs_{other}"] = [min(ratios), max(ratios)]
                results.append(r)
                sides = "  ".join(f"{side} {r[side]:8.1f}" for side in rows)
                print(f"{name:13s} {size}px batch {batch:3d}: {sides} img/s  "
                      f"glassbox/ort {r['vs_onnxruntime'][0]:.2f}-{r['vs_onnxruntime'][1]:.2f}  "
                      f"glassbox/torch {r['vs_pytorch'][0]:.2f}-{r['vs_pytorch'][1]:.2f}",
                      flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
