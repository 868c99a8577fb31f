"""Agreement: torchvision classifiers exported with torch.onnx and imported by `glassbox import`
give the logits of onnxruntime and of PyTorch, and the input gradient and a named layer's
Grad-CAM of PyTorch, within 1e-4 relative to the largest value, at 224x224; the imported
checkpoint exported again by `glassbox export` passes onnx.checker and gives onnxruntime the same
logits within 1e-4.
The input gradient of a deep ReLU network is not always that well defined in float32: a ReLU
input or a max-pool tie within rounding of its kink sends the gradient another way, and PyTorch's
own float32 gradient can differ from the same model's float64 one by far more than 1e-4
(GoogLeNet at random initialisation: tens of percent). Where glassbox and PyTorch float32 differ
by more than 1e-4, the difference must be explained: glassbox as close to the float64 gradient as
PyTorch float32 (within 1.5x, max and L2), or every difference above 1e-4 within the pixels that
elements within 1e-7..1e-6 (relative) of a kink reach, and those under 80% of the input. The
report carries every figure.
Writes the differences to $GB_AGREEMENT_REPORT (default build/agreement/torchvision.json)."""
import copy
import json
import os
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
import torch

import torch_models
from gb_io import read_tensors, rel_diff, run_glassbox, write_tensors

TOL = 1e-4
MAX_FOOTPRINT = 0.8  # pixels near a kink set apart: at most 80% of them
FLOAT32_SLACK = 1.5  # where float32 itself is off: no further from float64 than 1.5x PyTorch's
MODELS = os.environ.get("GB_AGREEMENT_MODELS", ",".join(torch_models.TORCHVISION)).split(",")
REPORT = os.environ.get("GB_AGREEMENT_REPORT", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "agreement", "torchvision.json"))


def input_grad_diffs(model, x, grad_out, glassbox_grad, torch_grad):
    """The input gradient against PyTorch's float32 one, and against the same model run in
    float64 (the exact gradient, near enough) next to PyTorch float32's own distance to it."""
    model64 = copy.deepcopy(model).double()
    x64 = x.double().requires_grad_(True)
    (model64(x64) * grad_out.double()).sum().backward()
    exact = x64.grad.numpy()

    def l2(a):
        return float(np.linalg.norm(a.astype(np.float64) - exact) / np.linalg.norm(exact))

    r = {"input_grad_vs_torch": rel_diff(glassbox_grad, torch_grad),
            "input_grad_vs_float64": rel_diff(glassbox_grad, exact),
            "torch_input_grad_vs_float64": rel_diff(torch_grad, exact),
            "input_grad_l2_vs_float64": l2(glassbox_grad),
         "torch_input_grad_l2_vs_float64": l2(torch_grad)}
    if r["input_grad_vs_torch"] >= TOL:
        r.update(kink_explanation(model, x, glassbox_grad, torch_grad))
    return r


def input_grad_explained(r):
    """A difference above TOL is explained when glassbox is as close to the float64 gradient as
    PyTorch float32 is (max and L2, within FLOAT32_SLACK), or when it lies within the footprint
    of elements near a kink, which leaves out less than MAX_FOOTPRINT of the pixels."""
    as_exact = all(r[ours] < max(TOL, FLOAT32_SLACK * r[theirs]) for ours, theirs in (
        ("input_grad_vs_float64", "torch_input_grad_vs_float64"),
        ("input_grad_l2_vs_float64", "torch_input_grad_l2_vs_float64")))
    kinks = r["kink_footprint"] < MAX_FOOTPRINT and r["input_grad_vs_torch_off_kinks"] < TOL
    return as_exact or kinks


def kink_explanation(model, x, glassbox_grad, torch_grad):
    """The smallest kink distance tau (relative) whose footprint (torch_models.kink_footprint)
    holds every difference above TOL, the fraction of pixels it sets apart and the largest
    difference off it."""
    diff = np.abs(glassbox_grad.astype(np.float64) - torch_grad) / float(np.abs(torch_grad).max())
    r = {}
    for tau in (1e-7, 3e-7, 1e-6):
        footprint = torch_models.kink_footprint(model, x, tau)
        off = diff[~footprint]
        r = {"kink_tau": tau, "kink_footprint": float(footprint.mean()),
             "input_grad_vs_torch_off_kinks": float(off.max()) if off.size else 0.0}
        if r["input_grad_vs_torch_off_kinks"] < TOL:
            break
    return r


def export(model, path, size=224, opset=13):
    x = torch.randn(1, 3, size, size)
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})


class TorchvisionImport(unittest.TestCase):
    results = {}

    @classmethod
    def tearDownClass(cls):
        os.makedirs(os.path.dirname(REPORT), exist_ok=True)
        with open(REPORT, "w") as f:
            json.dump(cls.results, f, indent=2)
        print("\nmodel          logits/torch logits/ort re-export/ort grad-cam  grad.input/torch "
              "(vs float64: glassbox, torch f32)")
        for name, r in cls.results.items():
            print(f"{name:14s} {r['logits_vs_torch']:.2e}     {r['logits_vs_onnxruntime']:.2e}"
                  f"   {r['reexported_vs_onnxruntime']:.2e}      {r['grad_cam_vs_torch']:.2e}  {r['input_grad_vs_torch']:.2e}         "
                  f"({r['input_grad_vs_float64']:.2e}, {r['torch_input_grad_vs_float64']:.2e})")

    def probe(self, name, model, tmp, size, gb_layer):
        """Imports the model exported at `size`, probes it and exports it again with glassbox;
        returns glassbox's results, the input, the output gradient, and onnxruntime's logits on
        torch's file and on glassbox's."""
        gen = torch.Generator().manual_seed(11)
        x = torch.randn(2, 3, size, size, generator=gen)
        grad_out = torch.randn(2, 10, generator=gen)
        onnx_path = os.path.join(tmp, f"{name}_{size}.onnx")
        export(model, onnx_path, size)
        ck = os.path.join(tmp, f"{name}_{size}.safetensors")
        run_glassbox("import", onnx_path, "--out", ck)
        inputs, outputs = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        write_tensors(inputs, {"input": x.numpy(), "grad_output": grad_out.numpy()})
        run_glassbox("probe", "--checkpoint", ck, "--input", inputs, "--out", outputs,
                     "--overwrite", "--backward", "--cam-layer", gb_layer)
        out, _ = read_tensors(outputs)
        again = os.path.join(tmp, f"{name}_{size}_glassbox.onnx")
        run_glassbox("export", "--checkpoint", ck, "--out", again)
        onnx.checker.check_model(onnx.load(again), full_check=True)
        logits = [ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                  .run(None, {"input": x.numpy()})[0] for path in (onnx_path, again)]
        return out, x, grad_out, logits

    def check_model(self, name):
        _, torch_layer, gb_layer = torch_models.TORCHVISION[name]
        model = torch_models.make(name)
        with tempfile.TemporaryDirectory() as tmp:
            out, x, grad_out, (ort_logits, ort_reexported) = self.probe(name, model, tmp, 224,
                                                                       gb_layer)
            xg = x.clone().requires_grad_(True)
            logits = model(xg)
            (logits * grad_out).sum().backward()
            cam = torch_models.grad_cam_low_res(model, x.clone(), torch_layer)
            r = {"max_abs_logit": float(logits.abs().max()),
                 "logits_vs_torch": rel_diff(out["logits"], logits.detach().numpy()),
                 "logits_vs_onnxruntime": rel_diff(out["logits"], ort_logits),
                 "reexported_vs_onnxruntime": rel_diff(out["logits"], ort_reexported),
                 "grad_cam_vs_torch": rel_diff(out["cam.low_res"], cam.numpy()),
                 "grad_cam_max": float(cam.abs().max())}
            r.update(input_grad_diffs(model, x, grad_out, out["grad.input"], xg.grad.numpy()))
        self.results[name] = r
        for key in ("logits_vs_torch", "logits_vs_onnxruntime", "reexported_vs_onnxruntime",
                    "grad_cam_vs_torch"):
            self.assertLess(r[key], TOL, f"{name}: {key} {r[key]:.3g}")
        self.assertGreater(r["grad_cam_max"], 0.0, f"{name}: an all-zero Grad-CAM proves nothing")
        if r["input_grad_vs_torch"] >= TOL:
            self.assertTrue(input_grad_explained(r), f"{name}: input gradient differs by "
                            f"{r['input_grad_vs_torch']:.3g}, unexplained: {r}")

    def test_models(self):
        torch.set_num_threads(2)
        for name in MODELS:
            with self.subTest(model=name):
                self.check_model(name)


if __name__ == "__main__":
    unittest.main()
