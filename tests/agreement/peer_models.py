"""Shared by the peer suites (test_peer_*.py) and tools/bench_explain_peers.py: a zoo model with
seeded random weights in PyTorch (tools/zoo_torch.py, as test_zoo_weights.py builds them), the
same weights in a glassbox checkpoint (tools/torch_weights.py to-glassbox), seeded input images
(normalised, as the model sees them) and `glassbox probe` run on them."""
import contextlib
import io
import json
import os
import sys

import torch

from gb_io import read_tensors, run_glassbox, write_tensors

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import torch_weights  # noqa: E402
import zoo_torch  # noqa: E402


def seeded_model(name="resnet20", seed=1, width=1.0):
    """The zoo model at random weights of order one (zoo_torch.randomize), in eval mode."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(11)
    model = zoo_torch.make(name, width=width)
    zoo_torch.randomize(model, torch.randn(16, 3, 32, 32, generator=gen), seed=seed)
    return model.eval()


def seeded_images(n, seed=5):
    """n images [n,3,32,32]: smooth random patterns (a 8x8 Gaussian field upsampled), so that
    segments and occlusion windows carry structure rather than white noise."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 3, 8, 8, generator=gen)
    up = torch.nn.functional.interpolate(low, size=(32, 32), mode="bilinear",
                                         align_corners=False)
    return (up + 0.3 * torch.randn(n, 3, 32, 32, generator=gen)).contiguous()


def write_checkpoint(model, name, path, width=1.0):
    """`model`'s weights as a glassbox checkpoint at `path` (CIFAR-10 normalisation)."""
    pt = path + ".pt"
    torch.save(model.state_dict(), pt)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = torch_weights.main(["to-glassbox", pt, path, "--model", name, "--width", str(width),
                                 "--overwrite"])
    if rc != 0:
        raise RuntimeError(f"to-glassbox failed: {out.getvalue()}")
    return path


def probe(checkpoint, tensors, out_path, *flags):
    """`glassbox probe` on `tensors` ({"input": [N,C,H,W], ...}): ({name: array}, metadata)
    with the "ms.*" metadata decoded from JSON. checkpoint None: no --checkpoint (--similarity
    alone runs without a model)."""
    in_path = out_path + ".in.safetensors"
    write_tensors(in_path, {k: v.numpy() if hasattr(v, "numpy") else v
                            for k, v in tensors.items()})
    model = ["--checkpoint", checkpoint] if checkpoint is not None else []
    run_glassbox("probe", *model, "--input", in_path, "--out", out_path, "--overwrite", *flags)
    out, meta = read_tensors(out_path)
    return out, {k: json.loads(v) if k.startswith("ms.") else v for k, v in meta.items()}
