#!/usr/bin/env python3
"""Scaling on one machine: each job as 1 process x T threads against P processes x T/P threads
(mpirun), in alternating rounds, with the median and range of each and their ratio.

Jobs: ResNet-20 training (one epoch of 80 steps on a CIFAR-10 subset; the trainer's own images/s
of the epoch, test pass excluded; train-sync-bn: the processes with --sync-bn), eval of a checkpoint on the test set (its own seconds), and the
wall time of evaluate-explanations and of explain --indices.

Usage: tools/bench_mpi.py --checkpoint r20.safetensors --data cifar10-jpg.tar.gz
           [--glassbox build/glassbox] [--processes 2] [--threads 2] [--rounds 3]
           [--jobs train,train-sync-bn,eval,evaluate,explain]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MPIRUN = ["mpirun", "--oversubscribe", "--bind-to", "none",
          "--mca", "btl_vader_single_copy_mechanism", "none"]


def run(cmd, ranks):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    full = MPIRUN + ["-np", str(ranks)] + cmd if ranks > 1 else cmd
    start = time.perf_counter()
    done = subprocess.run(full, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(full)}\n{done.stdout[-3000:]}")
    return seconds


def jobs(a, tmp):
    """name -> (unit, function(ranks, threads) -> figure, higher_is_better)."""
    g = a.glassbox

    def train(ranks, threads, sync_bn=False):
        out = os.path.join(tmp, f"t{ranks}.safetensors")
        js = os.path.join(tmp, f"t{ranks}.json")
        sync = ["--sync-bn"] if sync_bn and ranks > 1 else []
        run([g, "train", "--model", "resnet20", "--data", a.data, "--limit-train", "10240",
             "--limit-test", "256", "--epochs", "1", "--batch-size", "128", "--threads",
             str(threads), "--quiet", "--overwrite", "--out", out, "--json", js] + sync, ranks)
        return json.load(open(js))["epochs"][0]["images_per_second"]

    def evaluate(ranks, threads):
        js = os.path.join(tmp, f"e{ranks}.json")
        run([g, "eval", "--checkpoint", a.checkpoint, "--data", a.data, "--threads", str(threads),
             "--json", js, "--overwrite"], ranks)
        return json.load(open(js))["seconds"]

    def explanations(ranks, threads):
        js = os.path.join(tmp, f"x{ranks}.json")
        return run([g, "evaluate-explanations", "--checkpoint", a.checkpoint, "--data", a.data,
                    "--count", "16", "--methods", "gradcam,ig,lime,kernelshap", "--threads",
                    str(threads), "--quiet", "--json", js, "--overwrite"], ranks)

    def explain(ranks, threads):
        out = os.path.join(tmp, f"d{ranks}")
        return run([g, "explain", "--checkpoint", a.checkpoint, "--data", a.data, "--indices",
                    "0-15", "--method", "gradcam,lime,kernelshap", "--threads", str(threads),
                    "--out", out, "--overwrite"], ranks)

    return {"train": ("img/s", train, True),
            "train-sync-bn": ("img/s", lambda r, t: train(r, t, True), True),
            "eval": ("s", evaluate, False),
            "evaluate": ("s", explanations, False), "explain": ("s", explain, False)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--glassbox", default="build/glassbox")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--jobs", default="train,train-sync-bn,eval,evaluate,explain")
    a = p.parse_args()
    per_rank = max(1, a.threads // a.processes)
    with tempfile.TemporaryDirectory() as tmp:
        table = jobs(a, tmp)
        print(f"| job | unit | 1 process x {a.threads} threads | {a.processes} processes x "
              f"{per_rank} thread(s) | ratio (higher: processes faster) |")
        print("|---|---|---|---|---|")
        for name in a.jobs.split(","):
            unit, fn, higher = table[name]
            one, many, ratios = [], [], []
            for _ in range(a.rounds):  # alternating, so drift hits both alike
                one.append(fn(1, a.threads))
                many.append(fn(a.processes, per_rank))
                ratios.append(many[-1] / one[-1] if higher else one[-1] / many[-1])
            print(f"| {name} | {unit} | {statistics.median(one):.2f} [{min(one):.2f}-{max(one):.2f}]"
                  f" | {statistics.median(many):.2f} [{min(many):.2f}-{max(many):.2f}] | "
                  f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}] |",
                  flush=True)


if __name__ == "__main__":
    main()
