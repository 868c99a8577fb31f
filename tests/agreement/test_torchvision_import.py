"""Agreement: torchvision classifiers exported with torch.onnx and imported by `glassbox import`
give the logits of onnxruntime and of PyTorch, and the input gradient and a named layer's
Grad-CAM of PyTorch, within 1e-4 relative to the largest value, at 224x224. The input gradient
is compared everywhere and reported so; where that exceeds the bound, it must hold off the pixels
that a ReLU input or a max-pool window within tau (relative, the smallest of 1e-7..1e-5 that
explains it) of a kink reaches (torch_models.kink_footprint), where a rounding difference of 1e-7
may rightly send the gradient another way, and those pixels must be under 80% of the input;
where they are not (deep networks: some element near a kink reaches every pixel), the relative
L2 difference of the whole gradient must be under 1e-2, and the report says so.
Writes the differences to $GB_AGREEMENT_REPORT (default build/agreement/torchvision.json)."""
import json
import os
import tempfile
import unittest

import numpy as np
import onnxruntime as ort
import torch

import torch_models
from gb_io import read_tensors, rel_diff, run_glassbox, write_tensors

TOL = 1e-4
MAX_FOOTPRINT = 0.8  # at most 80% of the pixels may be set apart as near a kink
L2_TOL = 1e-2  # where kinks reach every pixel: ||glassbox - torch|| / ||torch|| of the gradient
MODELS = os.environ.get("GB_AGREEMENT_MODELS", ",".join(torch_models.TORCHVISION)).split(",")
REPORT = os.environ.get("GB_AGREEMENT_REPORT", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "agreement", "torchvision.json"))


def input_grad_diffs(model, x, glassbox_grad, torch_grad):
    """The input gradient's largest difference; and where that exceeds TOL, the smallest kink
    distance tau whose footprint (torch_models.kink_footprint) holds every difference above TOL,
    with the fraction of pixels it sets apart and the largest difference off it."""
    scale = float(np.abs(torch_grad).max())
    diff = np.abs(glassbox_grad.astype(np.float64) - torch_grad) / scale
    r = {"input_grad_vs_torch": float(diff.max()), "input_grad_kink_tau": 0.0,
         "input_grad_rel_l2": float(np.linalg.norm(glassbox_grad.astype(np.float64) - torch_grad)
                                    / np.linalg.norm(torch_grad)),
         "input_grad_vs_torch_off_kinks": float(diff.max()), "kink_footprint": 0.0}
    if diff.max() < TOL:
        return r
    for tau in (1e-7, 3e-7, 1e-6, 3e-6, 1e-5):
        footprint = torch_models.kink_footprint(model, x, tau)
        off = diff[~footprint]
        r.update({"input_grad_kink_tau": tau, "kink_footprint": float(footprint.mean()),
                  "input_grad_vs_torch_off_kinks": float(off.max()) if off.size else 0.0})
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
        print("\nmodel          logits/torch logits/ort grad.input (off kinks, set apart) grad-cam")
        for name, r in cls.results.items():
            print(f"{name:14s} {r['logits_vs_torch']:.2e}     {r['logits_vs_onnxruntime']:.2e}"
                  f"   {r['input_grad_vs_torch']:.2e} ({r['input_grad_vs_torch_off_kinks']:.2e},"
                  f" {100 * r['kink_footprint']:.1f}%)  {r['grad_cam_vs_torch']:.2e}")

    def probe(self, name, model, tmp, size, gb_layer):
        """Imports the model exported at `size` and probes it; returns glassbox's results, the
        input, the output gradient and onnxruntime's logits."""
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
        session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        return out, x, grad_out, session.run(None, {"input": x.numpy()})[0]

    def check_model(self, name):
        _, torch_layer, gb_layer = torch_models.TORCHVISION[name]
        model = torch_models.make(name)
        with tempfile.TemporaryDirectory() as tmp:
            out, x, grad_out, ort_logits = self.probe(name, model, tmp, 224, gb_layer)
            xg = x.clone().requires_grad_(True)
            logits = model(xg)
            (logits * grad_out).sum().backward()
            cam = torch_models.grad_cam_low_res(model, x.clone(), torch_layer)
            r = {"max_abs_logit": float(logits.abs().max()),
                 "logits_vs_torch": rel_diff(out["logits"], logits.detach().numpy()),
                 "logits_vs_onnxruntime": rel_diff(out["logits"], ort_logits),
                 "grad_cam_vs_torch": rel_diff(out["cam.low_res"], cam.numpy()),
                 "grad_cam_max": float(cam.abs().max())}
            r.update(input_grad_diffs(model, x, out["grad.input"], xg.grad.numpy()))
        self.results[name] = r
        for key in ("logits_vs_torch", "logits_vs_onnxruntime", "grad_cam_vs_torch"):
            self.assertLess(r[key], TOL, f"{name}: {key} {r[key]:.3g}")
        self.assertGreater(r["grad_cam_max"], 0.0, f"{name}: an all-zero Grad-CAM proves nothing")
        if r["input_grad_vs_torch"] >= TOL:  # then only a kink may explain it
            if r["kink_footprint"] < MAX_FOOTPRINT:
                self.assertLess(r["input_grad_vs_torch_off_kinks"], TOL, f"{name}: input gradient")
            else:
                self.assertLess(r["input_grad_rel_l2"], L2_TOL, f"{name}: input gradient")

    def test_models(self):
        torch.set_num_threads(2)
        for name in MODELS:
            with self.subTest(model=name):
                self.check_model(name)


if __name__ == "__main__":
    unittest.main()
