"""Agreement: ONNX models that store their weights in float16 or bfloat16 (each initializer in 16
bits, widened by a Cast to float before use, as weight-compressed exports are written) imported by
`glassbox import` give onnxruntime's logits on the same file within 1e-4 relative to the largest
logit. The model is the zoo's resnet20 at seeded random weights exported by torch.onnx; its
initializers are then rewritten in 16 bits (float16 by numpy, bfloat16 rounded to nearest even
here). The 16-bit rounding must show: the logits differ from the float32 file's by more than the
tolerance, so the test cannot pass by reading the weights at full precision.
Writes the differences to $GB_AGREEMENT_REPORT_HALF (default build/agreement/half_onnx.json)."""
import json
import os
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import helper, numpy_helper

from gb_io import rel_diff, run_glassbox
from peer_models import probe, seeded_images, seeded_model

TOL = 1e-4
REPORT = os.environ.get("GB_AGREEMENT_REPORT_HALF", os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "agreement", "half_onnx.json"))


def bf16_bits(a):
    """float32 array -> uint16 bfloat16 bit patterns, rounded to nearest even (no NaNs here)."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def to_16_bits(model, elem):
    """The model with every float initializer stored as `elem` (FLOAT16 or BFLOAT16) under a new
    name, and a Cast to FLOAT at the top of the graph producing the original name."""
    g = model.graph
    casts, kept = [], []
    for init in g.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            kept.append(init)
            continue
        a = numpy_helper.to_array(init)
        bits = a.astype(np.float16).view(np.uint16) if elem == onnx.TensorProto.FLOAT16 \
            else bf16_bits(a)
        t = onnx.TensorProto(name=init.name + "_16", data_type=elem, dims=list(a.shape),
                             raw_data=bits.astype("<u2").tobytes())
        kept.append(t)
        casts.append(helper.make_node("Cast", [t.name], [init.name], to=onnx.TensorProto.FLOAT,
                                      name=f"/cast16/{init.name}"))
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    return model


class HalfOnnxImport(unittest.TestCase):
    results = {}

    @classmethod
    def tearDownClass(cls):
        os.makedirs(os.path.dirname(REPORT), exist_ok=True)
        with open(REPORT, "w") as f:
            json.dump(cls.results, f, indent=2)
        print("\nweights   logits vs onnxruntime   16-bit vs float32 file (must exceed 1e-4)")
        for name, r in cls.results.items():
            print(f"{name:8s}  {r['logits_vs_onnxruntime']:.2e}                "
                  f"{r['rounding_visible']:.2e}")

    def check(self, name, elem):
        torch.set_num_threads(2)
        model = seeded_model("resnet20")
        x = seeded_images(4, seed=9)
        with tempfile.TemporaryDirectory() as tmp:
            f32 = os.path.join(tmp, "f32.onnx")
            torch.onnx.export(model, x[:1], f32, opset_version=13, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "N"}})
            half = os.path.join(tmp, f"{name}.onnx")
            onnx.save(to_16_bits(onnx.load(f32), elem), half)
            onnx.checker.check_model(onnx.load(half), full_check=True)
            ck = os.path.join(tmp, f"{name}.safetensors")
            run_glassbox("import", half, "--out", ck)
            out, _ = probe(ck, {"input": x}, os.path.join(tmp, "out.safetensors"))
            ort_logits = {p: ort.InferenceSession(p, providers=["CPUExecutionProvider"])
                          .run(None, {"input": x.numpy()})[0] for p in (half, f32)}
        r = {"logits_vs_onnxruntime": rel_diff(out["logits"], ort_logits[half]),
             "rounding_visible": rel_diff(ort_logits[half], ort_logits[f32])}
        self.results[name] = r
        self.assertLess(r["logits_vs_onnxruntime"], TOL, f"{name}: {r}")
        self.assertGreater(r["rounding_visible"], TOL, f"{name}: the 16-bit weights changed "
                           f"nothing, so the test proves nothing: {r}")

    def test_float16_weights(self):
        self.check("float16", onnx.TensorProto.FLOAT16)

    def test_bfloat16_weights(self):
        self.check("bfloat16", onnx.TensorProto.BFLOAT16)


if __name__ == "__main__":
    unittest.main()
