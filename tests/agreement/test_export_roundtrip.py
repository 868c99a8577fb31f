"""Export round trip: every zoo architecture (the vision transformer included: LayerNormalization,
MatMul of values, linear layers on tokens; small width, two training steps on Fashion-MNIST so
that batch-norm statistics are not the identity), a channel-pruned and a weight-shared
checkpoint, exported with `glassbox export`, accepted by onnx.checker (full check), run by
onnxruntime with logits within 1e-4 of glassbox's relative to the largest, and imported back
with `glassbox import`: the same logits (to 1e-6), the same parameter names, and the class names
and normalisation restored from the file's metadata. Writes build/agreement/export.json."""
import json
import os
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort

from gb_io import read_tensors, rel_diff, run_glassbox, write_tensors

ZOO = ["resnet20", "resnet32", "resnet56", "resnet18", "vgg11", "vgg16", "smallcnn", "inception",
       "airbench", "vit"]
TOL_ORT = 1e-4
TOL_REIMPORT = 1e-6
REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build",
                      "agreement", "export.json")


def ort_logits(path, x):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def probe(ck, x, tmp):
    inputs, out = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
    write_tensors(inputs, {"input": x})
    run_glassbox("probe", "--checkpoint", ck, "--input", inputs, "--out", out, "--overwrite")
    return read_tensors(out)[0]["logits"]


def checkpoint_meta(ck):
    """The model's tensor names (not the optimizer state a trained checkpoint keeps) and its
    glassbox metadata."""
    tensors, meta = read_tensors(ck)
    return {n for n in tensors if not n.startswith("optim.")}, json.loads(meta["glassbox"])


class ExportRoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.report = {}

    @classmethod
    def tearDownClass(cls):
        os.makedirs(os.path.dirname(REPORT), exist_ok=True)
        with open(REPORT, "w") as f:
            json.dump(cls.report, f, indent=2)
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def train(self, model):
        ck = self.path(model + ".safetensors")
        run_glassbox("train", "--model", model, "--width", "0.25", "--epochs", "1",
                     "--limit-train", "64", "--limit-test", "32", "--batch-size", "32",
                     "--threads", "2", "--out", ck, "--overwrite", "--quiet")
        return ck

    def round_trip(self, label, ck):
        onnx_path, back = self.path(label + ".onnx"), self.path(label + "_back.safetensors")
        run_glassbox("export", "--checkpoint", ck, "--out", onnx_path, "--overwrite")
        onnx.checker.check_model(onnx.load(onnx_path), full_check=True)
        x = np.random.RandomState(7).randn(3, 1, 28, 28).astype(np.float32)
        logits = probe(ck, x, self.tmp.name)
        d_ort = rel_diff(ort_logits(onnx_path, x), logits)
        run_glassbox("import", onnx_path, "--out", back, "--overwrite")
        d_back = rel_diff(probe(back, x, self.tmp.name), logits)
        names, meta = checkpoint_meta(ck)
        names_back, meta_back = checkpoint_meta(back)
        self.report[label] = {"logits_vs_onnxruntime": d_ort, "reimported_logits": d_back}
        self.assertLess(d_ort, TOL_ORT)
        self.assertLess(d_back, TOL_REIMPORT)
        self.assertEqual(names_back, names)
        self.assertEqual(meta_back["classes"], meta["classes"])
        self.assertEqual(meta_back["normalization"], meta["normalization"])

    def test_zoo(self):
        for model in ZOO:
            with self.subTest(model=model):
                self.round_trip(model, self.train(model))

    def test_pruned_and_weight_shared(self):
        ck = self.train("resnet20")
        pruned, shared = self.path("pruned.safetensors"), self.path("shared.safetensors")
        run_glassbox("prune", "--checkpoint", ck, "--target-macs", "0.6", "--limit-train", "64",
                     "--limit-test", "32", "--no-timing", "--quiet", "--out", pruned)
        run_glassbox("compress", "--checkpoint", ck, "--weight-sharing", "8", "--limit-train",
                     "64", "--limit-test", "32", "--quiet", "--out", shared)
        for label, path in [("resnet20_pruned", pruned), ("resnet20_weight_shared", shared)]:
            with self.subTest(model=label):
                self.round_trip(label, path)


if __name__ == "__main__":
    unittest.main()
