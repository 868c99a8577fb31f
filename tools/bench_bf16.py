#!/usr/bin/env python3
"""bf16 perturbation forwards against fp32 (issue 18: at least 1.6x on LIME, KernelSHAP and exact
Shapley with the maps' rank correlation above 0.99).

Usage: python3 tools/bench_bf16.py --checkpoint r20.safetensors [--data cifar10-jpg.tar.gz]
           [--indices 0,1,2] [--methods lime,kernelshap,occlusion,rise] [--rounds 3]
           [--exact-shapley-segments 12] [--threads 2] [--glassbox build/glassbox]
           [--json build/bench_bf16.json]

Each round runs, per test image (--indices of the checkpoint's data set), one
`glassbox explain --precision bf16 --compare-fp32` with every method: each method runs with its
perturbation batches in bf16 (the Winograd convolutions multiply bfloat16 operands into float32
sums, kernels/precision.h) and then again in fp32 on the same image, in the same process, and the
explanation.json entry carries both times and the two maps' Spearman and largest difference
(bf16_vs_fp32). exact-shapley, when listed, runs in a call of its own with
--exact-shapley-segments grid cells (2^S coalitions). A first, untimed round warms the caches.
Columns: the medians over rounds x images of the fp32 and bf16 times (ms, the method alone), the
median of the per-run speed-ups fp32 / bf16 with their range, the smallest Spearman and the
largest difference relative to the fp32 map's largest |value|. The machine is shared and noisy:
quote the ranges.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def explain(args, index, methods, extra, out):
    cmd = [args.glassbox, "explain", "--checkpoint", args.checkpoint, "--index", str(index),
           "--method", ",".join(methods), "--precision", "bf16", "--compare-fp32",
           "--threads", str(args.threads), "--seed", "0", "--out", out, "--overwrite", *extra]
    if args.data:
        cmd += ["--data", args.data]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "explanation.json")) as f:
        return {m["method"]: m for m in json.load(f)["methods"]}


def one_round(args, tmp, record):
    plain = [m for m in args.methods if m != "exact-shapley"]
    for index in args.indices:
        results = explain(args, index, plain, [], tmp) if plain else {}
        if "exact-shapley" in args.methods:
            results.update(explain(args, index, ["exact-shapley"],
                                   ["--segmentation", "grid", "--segments",
                                    str(args.exact_shapley_segments)], tmp))
        for name, m in results.items():
            c = m["bf16_vs_fp32"]
            record.setdefault(name, []).append(
                {"image": index, "fp32_ms": c["fp32_ms"], "bf16_ms": c["ms"],
                 "spearman": c["spearman"], "rel_diff": c["max_abs_diff_relative"]})


def summarise(runs):
    speedups = [r["fp32_ms"] / r["bf16_ms"] for r in runs]
    return {"fp32_ms": statistics.median(r["fp32_ms"] for r in runs),
            "bf16_ms": statistics.median(r["bf16_ms"] for r in runs),
            "speedup": statistics.median(speedups), "speedup_min": min(speedups),
            "speedup_max": max(speedups),
            "spearman_min": min(r["spearman"] for r in runs),
            "rel_diff_max": max(r["rel_diff"] for r in runs), "runs": len(runs)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default="")
    p.add_argument("--indices", default="0,1,2")
    p.add_argument("--methods", default="lime,kernelshap,occlusion,rise")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--exact-shapley-segments", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--glassbox", default=os.path.join(ROOT, "build", "glassbox"))
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench_bf16.json"))
    args = p.parse_args(argv)
    args.indices = [int(i) for i in args.indices.split(",")]
    args.methods = args.methods.split(",")
    record = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        one_round(args, out, {})  # warm-up, not recorded
        for r in range(args.rounds):
            one_round(args, out, record)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    rows = {name: summarise(runs) for name, runs in record.items()}
    print(f"{'method':16} {'fp32 ms':>9} {'bf16 ms':>9} {'speed-up':>22} {'min Spearman':>13} "
          f"{'max rel diff':>13}")
    for name, s in rows.items():
        rng = f"{s['speedup']:.2f}x ({s['speedup_min']:.2f}-{s['speedup_max']:.2f})"
        print(f"{name:16} {s['fp32_ms']:9.1f} {s['bf16_ms']:9.1f} {rng:>22} "
              f"{s['spearman_min']:13.4f} {s['rel_diff_max']:13.2e}")
    load = os.getloadavg()
    with open(args.json, "w") as f:
        json.dump({"rows": rows, "runs": record, "load_average_after": load,
                   "command": sys.argv}, f, indent=1)
    print(f"wrote {args.json} (load average {load[0]:.2f})")


if __name__ == "__main__":
    main()
