#!/usr/bin/env python3
"""Occlusion with and without incremental inference (interp/incremental.h), on an ImageNet-size
ResNet-18 imported through ONNX and on the zoo's ResNet-20, as one table (issue 18's goal: at
least 10x on a 224x224 ResNet-18 at window 16, stride 8).

Usage: build/venv/bin/python tools/bench_incremental.py [--models resnet18,resnet20] [--rounds 3]
           [--threads 2] [--timing-reps K] [--ppe 16,64] [--peers captum,forward]
           [--glassbox build/glassbox] [--json build/bench_incremental.json]
(the venv of tools/setup_python.sh holds torch, torchvision, onnx and Captum).

The models, both at seeded random weights (nothing is downloaded):
- resnet18: torchvision's ResNet-18 (1000 classes) with random BatchNorm running statistics (so
  the folded batch norms are not the identity), exported by torch.onnx (opset 13, dynamic batch)
  and read by `glassbox import`; one smooth random 3x224x224 image; window 16, stride 8 (27x27 =
  729 windows);
- resnet20: the checkpoint tools/bench_explain_peers.py uses (tests/agreement/peer_models.py:
  tools/zoo_torch.py in PyTorch, the same weights in a glassbox checkpoint) and its image
  (3x32x32); window 8, stride 4 (49 windows).
Each image is explained for the PyTorch model's predicted class, the occluded pixels set to 0
(of the normalised input), on --threads threads on every side.

The columns: "full ms" is `glassbox probe --methods occlusion --incremental off`, "incr ms" the
same with `--incremental on` (the default, `auto`, is on for images of at least 64x64), both the
median of the
`--timing-reps` timed calls ("reps"; default: 1 for resnet18, whose full run takes seconds, 5 for
resnet20) in a process that already ran the method once (the method's own time: no process
start, model load or file I/O); "speed-up" full / incremental, the median of the
per-round ratios and their range; "MACs" the multiply-adds incremental inference computed over a
full forward's (`info.incremental.mac_fraction` in the explanation.json of one extra
`glassbox explain` run: probe does not report it; the fraction depends on the windows, not on
the pixels); "Captum ms" Captum's Occlusion with the same windows, strides and baseline 0, the
best of the --ppe perturbations_per_eval settings (wall time of one `attribute` call), and
"Captum/incr" its per-round ratio to glassbox's incremental time; "torch fwd ms" PyTorch's plain
batched forward (no_grad, 64 images a batch, making them included) over the same occluded images
and the original. The maps with and without incremental inference must agree: max |difference| /
max |map| below 1e-3 (printed; a larger one fails the run, exit status 1). Every round runs all
sides in alternating order (reversed in odd rounds), so load drifting during the run shows as a
wide range of the per-round ratios. --json writes the rows, the per-round times and the load
average before and after.
"""
import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "agreement"))

try:
    import numpy as np
    import torch
    import torchvision
    from PIL import Image
except ImportError as e:
    sys.exit(f"bench_incremental.py needs torch, torchvision and PIL ({e}): run it with "
             "build/venv/bin/python (tools/setup_python.sh)")
try:
    from captum.attr import Occlusion
except ImportError:
    Occlusion = None

from gb_io import read_tensors, rel_diff, write_tensors  # noqa: E402
from peer_models import seeded_images, seeded_model, write_checkpoint  # noqa: E402

# name -> (image side, occlusion window, stride, probe's timed calls unless --timing-reps)
MODELS = {"resnet18": (224, 16, 8, 1), "resnet20": (32, 8, 4, 5)}
AGREEMENT = 1e-3  # largest max |full - incremental| / max |full| accepted
FORWARD_BATCH = 64  # images per batch of PyTorch's plain forward
SEED = 0


@dataclass
class Case:
    """One model on both sides, its image and occlusion geometry."""
    name: str
    size: int
    window: int
    stride: int
    timing_reps: int  # probe's timed calls per round
    model: torch.nn.Module  # PyTorch's side, eval mode
    checkpoint: str  # glassbox's side
    x: torch.Tensor  # [1,3,size,size], normalised
    inputs: str  # x as safetensors, for probe
    target: int

    def windows(self):
        """The windows' top-left corners (y, x): every stride from 0 while the window fits, as
        Captum places them (the strides here divide size - window, so no window is left out)."""
        starts = range(0, self.size - self.window + 1, self.stride)
        return [(y, x) for y in starts for x in starts]


def randomize_batchnorm(model, seed):
    """Seeded random running statistics (mean N(0, 0.1^2), variance U(0.5, 2)) for every
    BatchNorm of `model`, so that folding them changes the weights."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.empty(m.num_features).uniform_(0.5, 2.0, generator=gen))


def smooth_image(size, seed):
    """One image [1,3,size,size]: a Gaussian field of size/16 cells a side upsampled bilinearly,
    plus 0.3 white noise (peer_models.seeded_images at ImageNet size)."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.randn(1, 3, size // 16, size // 16, generator=gen)
    up = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear",
                                         align_corners=False)
    return (up + 0.3 * torch.randn(1, 3, size, size, generator=gen)).contiguous()


def glassbox_run(args, *cmd):
    """Runs the glassbox binary; raises with its output when it fails."""
    full = [args.glassbox, *map(str, cmd)]
    r = subprocess.run(full, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


def imported_resnet18(args, size, tmp):
    """torchvision's ResNet-18 at seeded weights and its import through ONNX: (module, ck)."""
    torch.manual_seed(SEED)
    model = torchvision.models.resnet18(weights=None)
    randomize_batchnorm(model, SEED + 1)
    model.eval()
    onnx_path = os.path.join(tmp, "resnet18.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, size, size), onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    ck = os.path.join(tmp, "resnet18.safetensors")
    glassbox_run(args, "import", onnx_path, "--out", ck, "--overwrite")
    return model, ck


def prepare(name, args, tmp):
    """The Case of model `name` (MODELS)."""
    size, window, stride, reps = MODELS[name]
    if name == "resnet18":
        model, ck = imported_resnet18(args, size, tmp)
        x = smooth_image(size, seed=5)
    else:
        model = seeded_model(name)
        ck = write_checkpoint(model, name, os.path.join(tmp, name + ".safetensors"))
        x = seeded_images(1, seed=5)
    inputs = os.path.join(tmp, name + ".x.safetensors")
    write_tensors(inputs, {"input": x.numpy()})
    with torch.no_grad():
        target = int(model(x).argmax(1))
    return Case(name, size, window, stride, args.timing_reps or reps, model, ck, x, inputs,
                target)


def occlusion_flags(case):
    """glassbox's flags of the case's occlusion."""
    return ["--methods", "occlusion", "--occlusion-window", str(case.window),
            "--occlusion-stride", str(case.stride), "--target", str(case.target)]


def glassbox_ms(case, args, tmp, incremental):
    """glassbox probe's occlusion: (median ms of the timed calls, map [H,W])."""
    out = os.path.join(tmp, "out.safetensors")
    glassbox_run(args, "probe", "--checkpoint", case.checkpoint, "--input", case.inputs, "--out",
                 out, "--overwrite", "--threads", args.threads, "--timing-reps",
                 case.timing_reps, *occlusion_flags(case),
                 "--incremental", "on" if incremental else "off")
    tensors, meta = read_tensors(out)
    return statistics.median(json.loads(meta["ms.occlusion"])), tensors["map.occlusion"][0].copy()


def mac_fraction(case, args, tmp):
    """info.incremental of `glassbox explain`'s occlusion ({"used", "mac_fraction", ...} or
    {"used": false, "why"}), from the image as a PNG (min-max scaled: the fraction depends on the
    windows, not the pixels)."""
    png = os.path.join(tmp, case.name + ".png")
    img = case.x[0].permute(1, 2, 0).numpy()
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-12)
    Image.fromarray((img * 255).round().astype(np.uint8)).save(png)
    out = os.path.join(tmp, case.name + ".explain")
    glassbox_run(args, "explain", "--checkpoint", case.checkpoint, "--image", png, "--method",
                 "occlusion", "--occlusion-window", case.window, "--occlusion-stride",
                 case.stride, "--incremental", "on", "--threads", args.threads, "--out", out,
                 "--overwrite")
    with open(os.path.join(out, "explanation.json")) as f:
        methods = json.load(f)["methods"]
    return next(m for m in methods if m["method"] == "occlusion").get("incremental", {})


def timed_ms(fn):
    """Wall time of fn() in ms."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


def captum_ms(case, ppe):
    """One Captum Occlusion call with the case's windows, baseline 0, `ppe` per evaluation."""
    shape, strides = (3, case.window, case.window), (3, case.stride, case.stride)
    occ = Occlusion(case.model)
    return timed_ms(lambda: occ.attribute(case.x, sliding_window_shapes=shape, strides=strides,
                                          baselines=0, target=case.target,
                                          perturbations_per_eval=ppe))


def occluded_batches(case):
    """The original image and every occluded one (window set to 0), FORWARD_BATCH at a time."""
    images = [None, *case.windows()]
    for begin in range(0, len(images), FORWARD_BATCH):
        chunk = images[begin:begin + FORWARD_BATCH]
        batch = case.x.repeat(len(chunk), 1, 1, 1)
        for i, corner in enumerate(chunk):
            if corner is not None:
                y, x = corner
                batch[i, :, y:y + case.window, x:x + case.window] = 0
        yield batch


def forward_ms(case):
    """PyTorch's plain batched forward over the original and occluded images (making them
    included)."""
    def run():
        with torch.no_grad():
            for batch in occluded_batches(case):
                case.model(batch)
    return timed_ms(run)


def time_forward(case, t):
    """PyTorch's plain forward into t["forward"]."""
    t["forward"].append(forward_ms(case))


def warm_up(case, args):
    """PyTorch's side: one forward of a batch of the largest size the peers use (allocator,
    thread pool)."""
    with torch.no_grad():
        case.model(case.x.repeat(max([FORWARD_BATCH, *args.ppe]), 1, 1, 1))


def time_glassbox(case, args, tmp, t, maps, incremental):
    """One probe run into t["incremental" or "full"], its map into maps."""
    key = "incremental" if incremental else "full"
    ms, maps[key] = glassbox_ms(case, args, tmp, incremental)
    t[key].append(ms)


def time_captum(case, args, t):
    """Captum's Occlusion at every --ppe setting into t["captum"][ppe]."""
    for p in args.ppe:
        t["captum"][p].append(captum_ms(case, p))


def sides_of(case, args, tmp, t, maps):
    """The timed sides of one round, in even rounds' order."""
    sides = [functools.partial(time_glassbox, case, args, tmp, t, maps, True),
             functools.partial(time_glassbox, case, args, tmp, t, maps, False)]
    if "captum" in args.peers:
        sides.append(functools.partial(time_captum, case, args, t))
    if "forward" in args.peers:
        sides.append(functools.partial(time_forward, case, t))
    return sides


def run_rounds(case, args, tmp):
    """({"incremental": [ms per round], "full": [...], "captum": {ppe: [...]}, "forward": [...]},
    {"incremental": map, "full": map}), every round's sides in alternating order."""
    t = {"incremental": [], "full": [], "captum": {p: [] for p in args.ppe}, "forward": []}
    maps = {}
    if args.peers:
        warm_up(case, args)
    sides = sides_of(case, args, tmp, t, maps)
    for r in range(args.rounds):
        for side in (sides if r % 2 == 0 else sides[::-1]):
            side()
        print(f"round {r + 1}: {case.name}: full {t['full'][-1]:.1f} ms, incremental "
              f"{t['incremental'][-1]:.1f} ms"
              + "".join(f", captum ppe {p} {v[-1]:.0f} ms" for p, v in t["captum"].items() if v)
              + (f", torch forward {t['forward'][-1]:.0f} ms" if t["forward"] else ""),
              file=sys.stderr, flush=True)
    return t, maps


def ratio_range(num, den):
    """The per-round ratios num[i] / den[i]: their median, min and max."""
    r = [a / b for a, b in zip(num, den)]
    return {"median": statistics.median(r), "min": min(r), "max": max(r)}


def captum_best(t):
    """(ppe, per-round ms) of Captum's fastest setting by median, or (None, []) when not run."""
    timed = {p: v for p, v in t["captum"].items() if v}
    if not timed:
        return None, []
    best = min(timed, key=lambda p: statistics.median(timed[p]))
    return best, timed[best]


def summarise(case, t, maps, inc):
    """One row of the table."""
    ppe, captum = captum_best(t)
    return {
        "model": case.name, "size": case.size, "window": case.window, "stride": case.stride,
        "windows": len(case.windows()), "target": case.target, "timing_reps": case.timing_reps,
        "glassbox_full_ms": statistics.median(t["full"]),
        "glassbox_incremental_ms": statistics.median(t["incremental"]),
        "speedup": ratio_range(t["full"], t["incremental"]),
        "mac_fraction": inc.get("mac_fraction"), "incremental_info": inc,
        "map_rel_diff": rel_diff(maps["incremental"], maps["full"]),
        "captum_best_ppe": ppe,
        "captum_ms": statistics.median(captum) if captum else None,
        "captum_ratio": ratio_range(captum, t["incremental"]) if captum else None,
        "torch_forward_ms": statistics.median(t["forward"]) if t["forward"] else None,
    }


def fmt_range(x):
    """A ratio_range as "median x [min-max]" ("-" when absent)."""
    return f"{x['median']:.2f}x [{x['min']:.2f}-{x['max']:.2f}]" if x else "-"


def fmt_ms(v, extra=""):
    """A time in ms ("-" when absent)."""
    return f"{v:.0f}{extra}" if v is not None else "-"


def row_line(r):
    """One row of the table as text."""
    image, geometry = f"{r['size']}x{r['size']}", f"{r['window']}/{r['stride']}"
    macs = f"{r['mac_fraction']:.3f}" if r["mac_fraction"] is not None else "-"
    captum = fmt_ms(r["captum_ms"], f" ({r['captum_best_ppe']})")
    return (f"{r['model']:9s} {image:>7s} {geometry:>7s} {r['windows']:7d} "
            f"{r['timing_reps']:4d} {r['glassbox_full_ms']:9.1f} "
            f"{r['glassbox_incremental_ms']:9.1f} "
            f"{fmt_range(r['speedup']):>22s} {macs:>6s} {captum:>16s} "
            f"{fmt_range(r['captum_ratio']):>22s} {fmt_ms(r['torch_forward_ms']):>12s}")


def print_table(rows, meta):
    """The table, with the agreement of the maps and why incremental inference did not run."""
    print(f"\nocclusion, glassbox full (--incremental off) vs incremental (on); {meta['threads']} "
          f"threads; {meta['rounds']} rounds; CPU: {meta['cpu']}")
    print(f"load average before {meta['load_before']}, after {meta['load_after']}")
    print(f"{'model':9s} {'image':>7s} {'win/str':>7s} {'windows':>7s} {'reps':>4s} "
          f"{'full ms':>9s} {'incr ms':>9s} {'speed-up [range]':>22s} {'MACs':>6s} "
          f"{'Captum ms (ppe)':>16s} {'Captum/incr [range]':>22s} {'torch fwd ms':>12s}")
    for r in rows:
        print(row_line(r))
    for r in rows:
        verdict = "ok" if r["map_rel_diff"] < AGREEMENT else f"FAIL (over {AGREEMENT:g})"
        print(f"{r['model']}: maps full vs incremental: max |diff| / max |map| = "
              f"{r['map_rel_diff']:.2e} {verdict}")
        if not r["incremental_info"].get("used", False):
            print(f"{r['model']}: incremental inference did not run: "
                  f"{r['incremental_info'].get('why', 'no info.incremental in explain JSON')}")


def cpu_name():
    """The CPU's model name (/proc/cpuinfo), for the table's header."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def parse_args(argv):
    """The options, checked."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated subset of {', '.join(MODELS)}")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--timing-reps", type=int, default=0,
                   help="probe's timed calls per round, after one untimed (0: 1 for resnet18, "
                        "5 for resnet20)")
    p.add_argument("--ppe", default="16,64", help="Captum's perturbations_per_eval settings")
    p.add_argument("--peers", default="captum,forward",
                   help="comma-separated subset of captum, forward ('' for none)")
    p.add_argument("--glassbox", default=os.environ.get("GLASSBOX",
                                                        os.path.join(ROOT, "build", "glassbox")))
    p.add_argument("--json", default=os.path.join(ROOT, "build", "bench_incremental.json"))
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.peers = {s for s in args.peers.split(",") if s}
    args.ppe = [int(v) for v in args.ppe.split(",") if v]
    if (not args.models or set(args.models) - set(MODELS) or args.peers - {"captum", "forward"}
            or min([args.rounds, args.threads, *args.ppe]) < 1 or args.timing_reps < 0
            or ("captum" in args.peers and not args.ppe)):
        p.error(f"bad --models (known: {', '.join(MODELS)}) or --peers (captum, forward), or "
                "--rounds, --threads or --ppe below 1, or --timing-reps below 0")
    if not os.access(args.glassbox, os.X_OK):
        p.error(f"no glassbox binary at {args.glassbox} (build it, or --glassbox PATH)")
    if "captum" in args.peers and Occlusion is None:
        print("captum is not importable: no Captum column", file=sys.stderr)
        args.peers.discard("captum")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    meta = {"threads": args.threads, "rounds": args.rounds,
            "cpu": cpu_name(), "torch": torch.__version__,
            "load_before": [round(v, 2) for v in os.getloadavg()]}
    rows, times = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            case = prepare(name, args, tmp)
            inc = mac_fraction(case, args, tmp)
            t, maps = run_rounds(case, args, tmp)
            rows.append(summarise(case, t, maps, inc))
            times[name] = {**t, "captum": {str(p): v for p, v in t["captum"].items()}}
    meta["load_after"] = [round(v, 2) for v in os.getloadavg()]
    print_table(rows, meta)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"meta": meta, "rows": rows, "times_ms": times}, f, indent=2)
    print(f"JSON: {args.json}")
    return 0 if all(r["map_rel_diff"] < AGREEMENT for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
