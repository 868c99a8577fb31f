#!/usr/bin/python3
"""glassbox against PyTorch and onnxruntime (and its SGEMM against OpenBLAS) in one run, on the
same models, batches and thread count, as one table.

Usage: tools/bench_compare.py [--models resnet20,resnet56] [--threads 2] [--batch-size 128]
           [--infer-batch-size 256] [--warmup 2] [--reps 5] [--gemm 256,512,1024,2048 | --no-gemm]
           [--rounds R] [--baseline-conv-algorithm padded-flat]
           [--baseline-glassbox OLD/glassbox] [--glassbox build/glassbox] [--json out.json]

--rounds R repeats the whole series R times, alternating the sides (glassbox, its baseline,
PyTorch, next model, next round), and prints the median images/s with the range of the per-round
ratios, so that a busy moment shows up as a wide range instead of a false figure.
--baseline-conv-algorithm NAME also runs glassbox with `--conv-algorithm NAME` (e.g. padded-flat,
the kernels before Winograd) and prints new/baseline: the previous version, in the same run.
--baseline-glassbox PATH runs another glassbox binary (a build of the previous commit) as the
baseline side instead, in the same alternating rounds (with --baseline-conv-algorithm, that
binary runs with that algorithm).

Each model runs in a process of its own on each side (`glassbox bench --model M` and
`tools/bench_torch.py --models M`), so peak RSS is that model's: the training step and then
inference, in one process. "base" is the process's RSS before the model is built (glassbox: the
binary and its libraries; PyTorch: after `import torch`), so peak - base is what the model, its
activations and the framework's working memory added. MB = 10^6 bytes.
The onnxruntime column (inference only) runs tools/bench_ort.py with --ort-python (default: the
venv of tools/setup_python.sh, build/venv/bin/python) on the file `glassbox export --model M`
writes; without that interpreter the column is skipped with a message.
The PyTorch side needs Debian's python3-torch for this interpreter (/usr/bin/python3); without it
the PyTorch columns are skipped with a message. The GEMM part runs `glassbox bench --gemm`, which
loads OpenBLAS at run time (libopenblas0-pthread) and reports only glassbox's figures without it.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        print(p.stdout, file=sys.stderr)
        print(f"bench_compare: command failed with exit status {p.returncode}", file=sys.stderr)
    return p.returncode, p.stdout


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, spec=".1f"):
    return format(v, spec) if isinstance(v, (int, float)) else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="resnet20")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--infer-batch-size", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--gemm", default="256,512,1024,2048", help="square SGEMM sizes")
    ap.add_argument("--no-gemm", action="store_true", help="skip the SGEMM comparison")
    ap.add_argument("--glassbox", default=os.path.join(ROOT, "build", "glassbox"))
    ap.add_argument("--json", help="write all results to this file")
    ap.add_argument("--device", default="cpu", help="cpu | cuda (both sides)")
    ap.add_argument("--conv-backend", default="handwritten",
                    help="glassbox's CUDA convolution: handwritten | cudnn")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the series, alternating sides; report medians and ratio ranges")
    ap.add_argument("--baseline-conv-algorithm",
                    help="also run glassbox with this --conv-algorithm (e.g. padded-flat)")
    ap.add_argument("--baseline-glassbox",
                    help="a previous glassbox binary to run as the baseline side")
    ap.add_argument("--ort-python", default=os.path.join(ROOT, "build", "venv", "bin", "python"),
                    help="an interpreter with onnxruntime, for the onnxruntime column")
    a = ap.parse_args()
    if a.rounds < 1:
        sys.exit("bench_compare: --rounds must be at least 1")

    for binary in [a.glassbox] + ([a.baseline_glassbox] if a.baseline_glassbox else []):
        if not os.access(binary, os.X_OK):
            sys.exit(f"bench_compare: {binary} not found; build it first (tools/setup.sh) or "
                     "pass --glassbox / --baseline-glassbox")
    has_baseline = bool(a.baseline_conv_algorithm or a.baseline_glassbox)
    have_torch = importlib.util.find_spec("torch") is not None
    if not have_torch:
        print(f"bench_compare: PyTorch is not installed for {sys.executable} "
              "(Debian: apt-get install python3-torch, then run this with /usr/bin/python3); "
              "skipping the PyTorch side", flush=True)

    common = ["--threads", str(a.threads), "--batch-size", str(a.batch_size),
              "--infer-batch-size", str(a.infer_batch_size), "--warmup", str(a.warmup),
              "--reps", str(a.reps), "--device", a.device]
    glassbox_only = ["--conv-backend", a.conv_backend] if a.device != "cpu" else []
    if a.device != "cpu":
        a.no_gemm = True  # the SGEMM comparison is a CPU (OpenBLAS) one
    have_ort = a.device == "cpu" and os.access(a.ort_python, os.X_OK)
    if not have_ort and a.device == "cpu":
        print(f"bench_compare: {a.ort_python} not found (tools/setup_python.sh makes it); "
              "skipping the onnxruntime column", flush=True)
    models = [m for m in a.models.split(",") if m]
    sides = (["glassbox"] + (["baseline"] if has_baseline else []) + ["torch"]
             + (["onnxruntime"] if have_ort else []))
    # results["models"][m][side] is the last round's JSON; rounds[m][side][mode] the img/s list.
    results = {"threads": a.threads, "models": {}, "gemm": None, "rounds": {}}
    with tempfile.TemporaryDirectory(prefix="bench_compare_") as tmp:
        for rnd in range(a.rounds):
            for m in models:
                r = results["models"].setdefault(m, {side: None for side in sides})
                per = results["rounds"].setdefault(m, {side: {} for side in sides})
                for side in sides:
                    out = os.path.join(tmp, f"{side}-{m}-{rnd}.json")
                    if side == "onnxruntime":
                        onnx_path = os.path.join(tmp, m + ".onnx")
                        if not os.path.exists(onnx_path):
                            run([a.glassbox, "export", "--model", m, "--out", onnx_path])
                        run([a.ort_python, os.path.join(ROOT, "tools", "bench_ort.py"), "--onnx",
                             onnx_path, "--batch", str(a.infer_batch_size), "--threads",
                             str(a.threads), "--warmup", str(a.warmup), "--reps", str(a.reps),
                             "--json", out])
                    elif side == "torch":
                        if not have_torch:
                            continue
                        run([sys.executable, os.path.join(ROOT, "tools", "bench_torch.py"),
                             "--models", m, *common, "--json", out])
                    else:
                        base = side == "baseline"
                        extra = (["--conv-algorithm", a.baseline_conv_algorithm]
                                 if base and a.baseline_conv_algorithm else [])
                        binary = a.baseline_glassbox if base and a.baseline_glassbox else a.glassbox
                        run([binary, "bench", "--model", m, *common, *glassbox_only, *extra,
                             "--json", out])
                    j = load(out)
                    if j is None:
                        continue
                    r[side] = j
                    for row in j.get("rows", []):
                        per[side].setdefault(row["mode"], []).append(row["images_per_second"])
                if have_torch and r["torch"] is None:
                    print(f"bench_compare: no PyTorch figures for {m} (bench_torch.py builds "
                          "resnet20/32/56 and resnet18)", file=sys.stderr)
        if not a.no_gemm:
            gj = os.path.join(tmp, "gemm.json")
            run([a.glassbox, "bench", "--gemm", a.gemm, "--threads", str(a.threads),
                 "--warmup", str(a.warmup), "--reps", str(a.reps), "--json", gj])
            j = load(gj)
            results["gemm"] = j.get("gemm") if j else None

    def median(v):
        v = sorted(v)
        return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2 if v else None

    def ratios(num, den):
        return [x / y for x, y in zip(num, den) if x and y]

    def span_of(r):
        return f"[{min(r):.2f}-{max(r):.2f}]" if r else "-"

    torch_version = next((r["torch"]["torch"] for r in results["models"].values() if r["torch"]),
                         None)
    where = f"{a.threads} threads" if a.device == "cpu" else f"device {a.device}, fp32"
    print(f"\nglassbox vs PyTorch {torch_version or '(not run)'}, {where}, synthetic "
          f"data, median of {a.reps} after {a.warmup} warm-up"
          + (f"; {a.rounds} alternating rounds: medians, ratio range in brackets"
             if a.rounds > 1 else ""))
    base_head = (f" {'baseline img/s':>15} {'new/base':>9}"
                 + (f" {'range':>13}" if a.rounds > 1 else "") if has_baseline else "")
    ort_head = (f" {'ORT img/s':>10} {'ratio':>6}" + (f" {'range':>13}" if a.rounds > 1 else "")
                if have_ort else "")
    print(f"{'model':<12} {'mode':<10} {'batch':>6} {'glassbox img/s':>15}{base_head} "
          f"{'PyTorch img/s':>14} {'ratio':>6}" + (f" {'range':>13}" if a.rounds > 1 else "")
          + ort_head)
    for m, per in results["rounds"].items():
        r = results["models"][m]
        for mode in ("train", "inference"):
            g = per["glassbox"].get(mode, [])
            t = per.get("torch", {}).get(mode, [])
            b = per.get("baseline", {}).get(mode, [])
            if not g and not t:
                continue
            rows = [x for side in ("glassbox", "torch") for x in (r[side] or {}).get("rows", [])
                    if x["mode"] == mode]
            batch = rows[0]["batch"] if rows else "-"
            rt = ratios(g, t)
            line = f"{m:<12} {mode:<10} {batch:>6} {fmt(median(g)):>15}"
            if has_baseline:
                rb = ratios(g, b)
                line += f" {fmt(median(b)):>15} {fmt(median(rb), '.2f'):>9}"
                if a.rounds > 1:
                    span = f"[{min(rb):.2f}-{max(rb):.2f}]" if rb else "-"
                    line += f" {span:>13}"
            line += f" {fmt(median(t)):>14} {fmt(median(rt), '.2f'):>6}"
            if a.rounds > 1:
                line += f" {span_of(rt):>13}"
            if have_ort:
                o = per.get("onnxruntime", {}).get(mode, [])
                ro = ratios(g, o)
                line += f" {fmt(median(o)):>10} {fmt(median(ro), '.2f'):>6}"
                if a.rounds > 1:
                    line += f" {span_of(ro):>13}"
            print(line)
    if has_baseline:
        print("baseline: " + (a.baseline_glassbox or "glassbox")
              + (f" --conv-algorithm {a.baseline_conv_algorithm}"
                 if a.baseline_conv_algorithm else ""))

    print("\npeak resident memory per model process (train then inference), MB")
    print(f"{'model':<12} {'glassbox base':>14} {'peak':>8} {'peak-base':>10} "
          f"{'PyTorch base':>13} {'peak':>8} {'peak-base':>10} {'glassbox peak tensors':>22}")
    for m, r in results["models"].items():
        def mem(side):
            rows = (r[side] or {}).get("rows", [])
            if not rows:
                return None, None
            return rows[0].get("rss_baseline_mb"), max(x.get("peak_rss_mb", 0) for x in rows)
        gb, gp = mem("glassbox")
        tb, tp = mem("torch")
        tensors = next((x["peak_tensor_mb"] for x in (r["glassbox"] or {}).get("rows", [])
                        if x["mode"] == "train"), None)
        print(f"{m:<12} {fmt(gb):>14} {fmt(gp):>8} {fmt(gp - gb if gp and gb else None):>10} "
              f"{fmt(tb):>13} {fmt(tp):>8} {fmt(tp - tb if tp and tb else None):>10} "
              f"{fmt(tensors):>22}")

    g = results["gemm"]
    if g:
        print(f"\nSGEMM, square float32, {g['threads']} threads, median of {g['reps']}: "
              f"OpenBLAS: {g['openblas']['info']}")
        print(f"{'n':>6} {'glassbox GFLOP/s':>17} {'OpenBLAS GFLOP/s':>17} {'ratio':>6}")
        for row in g["rows"]:
            print(f"{row['n']:>6} {fmt(row['glassbox_gflops']):>17} "
                  f"{fmt(row.get('openblas_gflops')):>17} {fmt(row.get('ratio'), '.2f'):>6}")
    elif not a.no_gemm:
        print("\nSGEMM: glassbox bench --gemm failed (see above)")

    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
