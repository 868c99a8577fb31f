#!/usr/bin/env python3
"""The PyTorch side of `glassbox bench`: the same networks, batches and thread count, so the
ratio glassbox/PyTorch can be quoted from one run on one machine.

Usage: tools/bench_torch.py [--models resnet20,resnet56,resnet18] [--threads 2]
                            [--batch-size 128] [--infer-batch-size 256] [--reps 5] [--json out.json]
                            [--device cpu|cuda] [--tf32]
On a GPU, every timed step ends with torch.cuda.synchronize(), cuDNN runs in its default
(heuristic, non-benchmark) mode, and TF32 is off unless --tf32 is given, so both sides do fp32
arithmetic as glassbox's hand-written kernels do.
Needs Debian's python3-torch (run it with /usr/bin/python3); prints a clear message and exits 0
when torch is missing, so benchmark scripts can go on without it.

Memory, as `glassbox bench` reports it: rss_baseline_mb is VmRSS after importing torch and before
the model is built; peak_rss_mb is VmHWM (and maxrss_mb getrusage's ru_maxrss) when the row's
measurement ends. Both are process-wide, so give one model per process for per-model figures
(tools/bench_compare.py does). MB = 10^6 bytes.
"""
import argparse
import json
import resource
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    import zoo_torch  # the zoo's networks, the same ones the agreement suite checks
except ImportError:
    print("bench_torch: PyTorch is not installed here (apt-get install python3-torch); "
          "skipping the PyTorch side")
    sys.exit(0)


def build(name):
    """The zoo model `name` in PyTorch (tools/zoo_torch.py), 10 classes, 3x32x32."""
    try:
        return zoo_torch.make(name)
    except KeyError as e:
        raise SystemExit(f"bench_torch: {e.args[0]}")


def memory():
    """(VmRSS, VmHWM, ru_maxrss) of this process in MB (10^6 bytes); 0 where unreadable."""
    rss = hwm = 0.0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024 / 1e6
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    return rss, hwm, maxrss


def timed(fn, warmup, reps, sync=lambda: None):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet20")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--infer-batch-size", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 on the GPU (off: fp32)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    sync = (lambda: None)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("bench_torch: --device cuda but torch sees no GPU")
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        sync = torch.cuda.synchronize
    rows = []
    for name in a.models.split(","):
        baseline, _, _ = memory()
        model = build(name).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
        x = torch.randn(a.batch_size, 3, 32, 32, device=dev)
        y = torch.arange(a.batch_size, device=dev) % 10
        model.train()

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        med, lo, hi = timed(step, a.warmup, a.reps, sync)
        _, hwm, maxrss = memory()
        rows.append(dict(model=name, mode="train", batch=a.batch_size, median_ms=med, min_ms=lo,
                         max_ms=hi, images_per_second=a.batch_size * 1000 / med,
                         rss_baseline_mb=baseline, peak_rss_mb=hwm, maxrss_mb=maxrss))
        model.eval()
        xi = torch.randn(a.infer_batch_size, 3, 32, 32, device=dev)

        def infer():
            with torch.no_grad():
                model(xi)

        med, lo, hi = timed(infer, a.warmup, a.reps, sync)
        _, hwm, maxrss = memory()
        rows.append(dict(model=name, mode="inference", batch=a.infer_batch_size, median_ms=med,
                         min_ms=lo, max_ms=hi, images_per_second=a.infer_batch_size * 1000 / med,
                         rss_baseline_mb=baseline, peak_rss_mb=hwm, maxrss_mb=maxrss))
    where = (torch.cuda.get_device_name(dev) + (" (TF32)" if a.tf32 else " (fp32)")
             if dev.type == "cuda" else f"{a.threads} threads")
    print(f"PyTorch {torch.__version__}, {where}")
    print(f"{'model':<12} {'mode':<10} {'batch':>6} {'median ms':>11} {'img/s':>10} "
          f"{'RSS base MB':>12} {'peak RSS MB':>12}")
    for r in rows:
        print(f"{r['model']:<12} {r['mode']:<10} {r['batch']:>6} {r['median_ms']:>11.1f} "
              f"{r['images_per_second']:>10.1f} {r['rss_baseline_mb']:>12.1f} "
              f"{r['peak_rss_mb']:>12.1f}")
    if len(rows) > 2:
        print("(peak RSS is the process's high-water mark: rows after the first model include "
              "what earlier models used; one model per process gives per-model figures)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(torch=torch.__version__, threads=a.threads, device=a.device,
                           tf32=a.tf32, rows=rows), f, indent=2)


if __name__ == "__main__":
    main()
