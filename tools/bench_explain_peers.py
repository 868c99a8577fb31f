#!/usr/bin/env python3
"""glassbox's explanation methods against Captum 0.6 and pytorch-grad-cam 1.5.7, side by side on
the same model, image, class and evaluation counts, as one ratio table (Captum's time / glassbox's
time: above 1, glassbox is faster). The perturbation cases (occlusion, feature ablation, Shapley
sampling, KernelSHAP, LIME) also time glassbox with `--incremental on` ("glassbox incr": incremental
inference forced, interp/incremental.h; the default `auto` uses it on images of at least 64x64
only, so on these 32x32 images the default runs every perturbed image through the whole network)
and with `--precision bf16` ("glassbox bf16": the perturbation batches' Winograd products in
bfloat16, kernels/precision.h; only where the CPU has AVX512-BF16), and give the ratios
default / incremental and default / bf16.

Usage: build/venv/bin/python tools/bench_explain_peers.py [--rounds 5] [--threads 2]
           [--methods occlusion,feature-ablation,...] [--cam-batch 64] [--glassbox build/glassbox]
           [--json build/bench_explain_peers.json]
(the venv of tools/setup_python.sh holds Captum, pytorch-grad-cam and scikit-learn).

The model: resnet20 at seeded random weights (tests/agreement/peer_models.py: tools/zoo_torch.py
in PyTorch, the same weights in a glassbox checkpoint through tools/torch_weights.py); one smooth
random 3x32x32 image explained for its predicted class; both sides on --threads threads
(torch.set_num_threads, `glassbox probe --threads`). The cases, with the same work on both sides:
- occlusion: 8x8 windows, stride 4, fill 0: 49 windows + the image;
- feature ablation: a 4x4 grid of 8x8 cells (16 segments) filled with the image's channel means;
- Shapley value sampling: 32 permutations over the 16 cells (glassbox: 16 antithetic pairs);
- KernelSHAP and LIME: 1000 coalitions over the 16 cells (Captum's LIME fits its default Lasso,
  glassbox a ridge; Captum's KernelShap and glassbox's both solve a weighted least squares);
- Integrated Gradients: 32 Gauss-Legendre points, the black baseline, all in one batch;
- Grad-CAM of layer3.2 on a batch of --cam-batch images (pytorch-grad-cam: GradCAM with the
  predicted classes, its map normalised and resized; glassbox: its map bilinearly upsampled).
Captum's perturbation methods run at perturbations_per_eval 1 (its default) and at 16, 64 and
256; the table gives the ratio against the default and against the best of the three.

glassbox's time is the median of what `glassbox probe --timing-reps 3` reports: the method's own
time in a process that has already run it once (no process start, model load or file I/O). Captum's is the
wall time of one `attribute` call after a warm-up. Each round runs every case on both sides, in
alternating order (glassbox first in even rounds; within glassbox's side, the default first in
even rounds, in reverse order in odd ones), so load drifting during the run shows as a wide range of the
per-round ratios instead of a false figure: the table gives the median ratio and its range over
the rounds. The Captum ratios are against glassbox's default time; the column "default/incr" is
the default's time over the forced incremental time (above 1, forcing it would pay). The load
average before and after is printed and written to the JSON. In the JSON, the perturbation cases'
rows also carry "glassbox_incremental_ms" and "ratio_incremental" (median, min, max), and
"glassbox_bf16_ms" and "ratio_bf16" where bf16 ran, and their "times_ms" "glassbox_incremental"
and "glassbox_bf16" lists (ms per round) beside "glassbox".
"""
import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "agreement"))

try:
    import numpy as np
    import torch
    import captum
    from captum.attr import (FeatureAblation, IntegratedGradients, KernelShap, Lime, Occlusion,
                             ShapleyValueSampling)
    import pytorch_grad_cam
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
except ImportError as e:
    sys.exit(f"bench_explain_peers.py needs torch, captum and pytorch-grad-cam ({e}): run it with "
             "build/venv/bin/python (tools/setup_python.sh)")

from gb_io import read_tensors, write_tensors  # noqa: E402
from peer_models import seeded_images, seeded_model, write_checkpoint  # noqa: E402

PPE = (16, 64, 256)
# Each round's glassbox figure: the median of this many timed calls in one process (a fresh
# process per round; its first calls after the untimed one were seen to take ~400 ms for
# occlusion and feature ablation on a loaded machine where later ones took 25-70 ms).
GLASSBOX_REPS = 3
GRID = ["--segmentation", "grid", "--segments", "16"]
# name -> (glassbox probe flags, metadata key of its time, whether Captum's side has a ppe)
CASES = {
    "occlusion": (["--methods", "occlusion"], "ms.occlusion", True),
    "feature-ablation": (["--methods", "feature-ablation", *GRID], "ms.feature-ablation", True),
    "shapley-sampling": (["--methods", "shapley-sampling", "--samples", "32", *GRID],
                         "ms.shapley-sampling", True),
    "kernelshap": (["--methods", "kernelshap", "--samples", "1000", *GRID], "ms.kernelshap",
                   True),
    "lime": (["--methods", "lime", "--samples", "1000", *GRID], "ms.lime", True),
    "ig": (["--methods", "ig", "--ig-steps", "32"], "ms.ig", False),
    "gradcam": (["--cam-layer", "layer3.2"], "ms.cam", False),
}
# The perturbation cases: each is also timed with --incremental on ("glassbox incr") and, on a CPU
# with AVX512-BF16, with --precision bf16 ("glassbox bf16").
INCREMENTAL_CASES = ("occlusion", "feature-ablation", "shapley-sampling", "kernelshap", "lime")
# glassbox's variants of a perturbation case: {key in the times: extra probe flags}.
PERTURBATION_VARIANTS = {"glassbox": [], "glassbox_incremental": ["--incremental", "on"],
                         "glassbox_bf16": ["--precision", "bf16"]}


def has_avx512_bf16():
    """True where /proc/cpuinfo lists avx512_bf16 (glassbox refuses --precision bf16 elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and "avx512_bf16" in line.split() for line in f)
    except OSError:
        return False
LABELS = {
    "occlusion": "occlusion 8x8/4",
    "feature-ablation": "feature ablation, 16 cells",
    "shapley-sampling": "Shapley sampling, 32 perm.",
    "kernelshap": "KernelSHAP, 1000",
    "lime": "LIME, 1000",
    "ig": "IG, 32 GL points",
    "gradcam": "Grad-CAM, batch {cam_batch}",
}


class Setup:
    """The model on both sides, the inputs, and what Captum needs from glassbox (grid, fill)."""

    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.model = seeded_model("resnet20")
        self.ck = write_checkpoint(self.model, "resnet20", os.path.join(tmp, "resnet20.safetensors"))
        self.x = seeded_images(1, seed=5)
        self.batch = seeded_images(args.cam_batch, seed=6)
        with torch.no_grad():
            self.target = int(self.model(self.x).argmax(1))
            self.batch_targets = self.model(self.batch).argmax(1).tolist()
        self.inputs = os.path.join(tmp, "x.safetensors")
        self.batch_inputs = os.path.join(tmp, "batch.safetensors")
        write_tensors(self.inputs, {"input": self.x.numpy()})
        write_tensors(self.batch_inputs, {"input": self.batch.numpy()})
        out, _ = self.glassbox(["--methods", "feature-ablation", *GRID], self.inputs, reps=0)
        self.mask = torch.from_numpy(out["segments"].copy())[:, None].expand(-1, 3, -1, -1)
        self.fill = torch.from_numpy(out["fill"].copy())
        self.ig_baseline = None

    def glassbox(self, flags, inputs, reps=1):
        out_path = os.path.join(self.tmp, "out.safetensors")
        cmd = [self.args.glassbox, "probe", "--checkpoint", self.ck, "--input", inputs, "--out",
               out_path, "--overwrite", "--threads", str(self.args.threads),
               "--timing-reps", str(reps), "--target", str(self.target), *flags]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
        return read_tensors(out_path)

    def glassbox_ms(self, case, extra=()):
        """The median of glassbox's timed calls of `case`, with the probe flags `extra`."""
        flags, key, _ = CASES[case]
        inputs = self.batch_inputs if case == "gradcam" else self.inputs
        if case == "gradcam":
            flags = [*flags, "--cam-target", "pred"]
        out, meta = self.glassbox([*flags, *extra], inputs, reps=GLASSBOX_REPS)
        if case == "ig" and self.ig_baseline is None:
            self.ig_baseline = torch.from_numpy(out["baseline.ig"].copy())
        return statistics.median(json.loads(meta[key]))

    def captum_call(self, case, ppe):
        """The peer's call for `case` (ppe: perturbations_per_eval, where it applies)."""
        m, x, t = self.model, self.x, self.target
        seg = dict(baselines=self.fill, feature_mask=self.mask, target=t)
        if case == "occlusion":
            return lambda: Occlusion(m).attribute(x, sliding_window_shapes=(3, 8, 8),
                                                  strides=(3, 4, 4), baselines=0, target=t,
                                                  perturbations_per_eval=ppe)
        if case == "feature-ablation":
            return lambda: FeatureAblation(m).attribute(x, perturbations_per_eval=ppe, **seg)
        if case == "shapley-sampling":
            return lambda: ShapleyValueSampling(m).attribute(x, n_samples=32,
                                                             perturbations_per_eval=ppe, **seg)
        if case == "kernelshap":
            return lambda: KernelShap(m).attribute(x, n_samples=1000, perturbations_per_eval=ppe,
                                                   **seg)
        if case == "lime":
            return lambda: Lime(m).attribute(x, n_samples=1000, perturbations_per_eval=ppe, **seg)
        if case == "ig":
            return lambda: IntegratedGradients(m).attribute(
                x, baselines=self.ig_baseline, target=t, n_steps=32, method="gausslegendre")
        if case == "gradcam":
            targets = [ClassifierOutputTarget(k) for k in self.batch_targets]

            def run():
                with GradCAM(model=m, target_layers=[m.layer3[-1]]) as cam:
                    return cam(input_tensor=self.batch, targets=targets)
            return run
        raise KeyError(case)


def timed_ms(fn):
    """Wall time of fn() in ms."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def captum_settings(case):
    """Captum's perturbations_per_eval settings of `case` (None: the case has none)."""
    return (1, *PPE) if CASES[case][2] else (None,)


def glassbox_variants(case):
    """glassbox's timed variants of `case`: {key in the times: extra probe flags}."""
    if case not in INCREMENTAL_CASES:
        return {"glassbox": []}
    return {k: v for k, v in PERTURBATION_VARIANTS.items()
            if k != "glassbox_bf16" or has_avx512_bf16()}


def warm_up(setup, cases):
    """Every case once on both sides (also fetches IG's baseline); Captum at its largest batch
    (ppe 1 would double the longest runs)."""
    for c in cases:
        for extra in glassbox_variants(c).values():
            setup.glassbox_ms(c, extra)
        setup.captum_call(c, captum_settings(c)[-1])()


def time_glassbox(setup, case, t, r):
    """glassbox's variants of `case` once each into t[variant]: the default first in even rounds
    `r`, in reverse order in odd ones."""
    variants = list(glassbox_variants(case).items())
    for name, extra in (variants if r % 2 == 0 else variants[::-1]):
        t[name].append(setup.glassbox_ms(case, extra))


def time_peer(setup, case, t):
    """Captum's settings of `case` once each into t["peer"][ppe]."""
    for p in captum_settings(case):
        t["peer"][p].append(timed_ms(setup.captum_call(case, p)))


def round_line(r, case, t):
    """The progress line of round r's `case`."""
    incr = "".join(f" ({k.split('_')[1]} {t[k][-1]:.1f})" for k in t
                   if k.startswith("glassbox_"))
    return (f"round {r + 1}: {case}: glassbox {t['glassbox'][-1]:.1f} ms{incr}, peer "
            + ", ".join(f"{v[-1]:.0f}" for v in t["peer"].values()) + " ms")


def run_rounds(setup, cases, rounds):
    """{case: {"glassbox": [ms per round], "glassbox_incremental", "glassbox_bf16": [ms per round]
    (INCREMENTAL_CASES only), "peer": {ppe: [ms per round]}}}."""
    times = {c: {**{v: [] for v in glassbox_variants(c)},
                 "peer": {p: [] for p in captum_settings(c)}} for c in cases}
    warm_up(setup, cases)
    for r in range(rounds):
        for c in cases:
            sides = (functools.partial(time_glassbox, setup, c, times[c], r),
                     functools.partial(time_peer, setup, c, times[c]))
            for side in (sides if r % 2 == 0 else sides[::-1]):
                side()
            print(round_line(r, c, times[c]), file=sys.stderr, flush=True)
    return times


def ratio_range(num, den):
    """The per-round ratios num[i] / den[i]: their median, min and max."""
    r = [a / b for a, b in zip(num, den)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r)}


def summarise_case(case, t, cam_batch):
    """One row of the table: medians, and the per-round ratios' median and range."""
    gb = t["glassbox"]
    settings = list(t["peer"])
    default = settings[0]
    best = min(settings[1:], key=lambda p: statistics.median(t["peer"][p])) \
        if len(settings) > 1 else default
    row = {
        "case": case, "label": LABELS[case].format(cam_batch=cam_batch),
        "glassbox_ms": statistics.median(gb),
        "peer_default_ms": statistics.median(t["peer"][default]),
        "ratio_default": ratio_range(t["peer"][default], gb),
        "best_ppe": best,
        "peer_best_ms": statistics.median(t["peer"][best]),
        "ratio_best": ratio_range(t["peer"][best], gb),
        "goal": 3.0 if case == "gradcam" else 2.0,
    }
    for variant in ("incremental", "bf16"):
        if f"glassbox_{variant}" in t:
            row[f"glassbox_{variant}_ms"] = statistics.median(t[f"glassbox_{variant}"])
            row[f"ratio_{variant}"] = ratio_range(gb, t[f"glassbox_{variant}"])
    return row


def summarise(times, cam_batch):
    """Rows of the table, one per case."""
    return [summarise_case(c, t, cam_batch) for c, t in times.items()]


def fmt_range(x):
    """A ratio_range as "median x [min-max]"."""
    return f"{x['median']:.2f}x [{x['min']:.2f}-{x['max']:.2f}]"


def print_table(rows, meta):
    print(f"\nglassbox vs {meta['peers']}; {meta['threads']} threads on both sides; "
          f"{meta['rounds']} rounds; CPU: {meta['cpu']}")
    print(f"load average before {meta['load_before']}, after {meta['load_after']}")
    print("(glassbox ms: the default; incr: --incremental on; bf16: --precision bf16; the peer "
          "ratios are against the default)")
    print(f"{'method':30s} {'glassbox ms':>11s} {'incr ms':>9s} {'default/incr [range]':>20s} "
          f"{'bf16 ms':>9s} {'default/bf16 [range]':>20s} "
          f"{'peer ms (ppe 1)':>16s} {'ratio [range]':>20s} "
          f"{'peer ms (best ppe)':>19s} {'ratio [range]':>20s} goal")
    for r in rows:
        variants = ""
        for v in ("incremental", "bf16"):
            ms = f"{r[f'glassbox_{v}_ms']:.1f}" if f"glassbox_{v}_ms" in r else "-"
            ratio = fmt_range(r[f"ratio_{v}"]) if f"ratio_{v}" in r else "-"
            variants += f" {ms:>9s} {ratio:>20s}"
        best = "-" if r["best_ppe"] in (None, 1) else f"{r['peer_best_ms']:.1f} ({r['best_ppe']})"
        ratio_best = "-" if r["best_ppe"] in (None, 1) else fmt_range(r["ratio_best"])
        print(f"{r['label']:30s} {r['glassbox_ms']:11.1f}{variants} "
              f"{r['peer_default_ms']:16.1f} {fmt_range(r['ratio_default']):>20s} {best:>19s} "
              f"{ratio_best:>20s} >={r['goal']:.0f}x")


def times_json(times):
    """The per-round times as JSON: {case: {"glassbox": [...], "glassbox_incremental": [...],
    "glassbox_bf16": [...] (where timed), "peer": {"ppe": [...]}}}."""
    return {c: {**{k: v for k, v in t.items() if k != "peer"},
                "peer": {str(k): v for k, v in t["peer"].items()}}
            for c, t in times.items()}


def cpu_name():
    """The CPU's model name (/proc/cpuinfo), for the table's header."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", default=",".join(CASES),
                   help=f"comma-separated subset of {', '.join(CASES)}")
    p.add_argument("--cam-batch", type=int, default=64)
    p.add_argument("--glassbox", default=os.environ.get("GLASSBOX",
                                                        os.path.join(ROOT, "build", "glassbox")))
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench_explain_peers.json"))
    args = p.parse_args(argv)
    cases = [c.strip() for c in args.methods.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases or args.rounds < 1 or args.threads < 1 or args.cam_batch < 1:
        p.error(f"bad --methods {unknown or ''} (known: {', '.join(CASES)}), or --rounds, "
                "--threads or --cam-batch below 1")
    if not os.access(args.glassbox, os.X_OK):
        p.error(f"no glassbox binary at {args.glassbox} (build it, or --glassbox PATH)")
    torch.set_num_threads(args.threads)
    meta = {"threads": args.threads, "rounds": args.rounds, "cpu": cpu_name(),
            "peers": f"Captum {captum.__version__}, pytorch-grad-cam 1.5.7 "
                     f"(torch {torch.__version__})",
            "load_before": [round(v, 2) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(args, tmp)
        times = run_rounds(setup, cases, args.rounds)
    meta["load_after"] = [round(v, 2) for v in os.getloadavg()]
    rows = summarise(times, args.cam_batch)
    print_table(rows, meta)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows, "times_ms": times_json(times)}, f, indent=2)
    print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
