"""Raw attributions out (`explain --save-maps`, `evaluate-explanations --save-maps`) read by the
tools numpy and PyTorch users have: numpy.load for the .npy files, the safetensors package's own
loaders (numpy and torch) for the .safetensors file, with the metadata that says what made each
map. A smallcnn is trained for one epoch on 64 Fashion-MNIST images first (seconds)."""
import json
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "agreement"))
from gb_io import run_glassbox  # noqa: E402


class RawMaps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="glassbox_raw_maps_")
        cls.dir = cls.tmp.name
        cls.ck = os.path.join(cls.dir, "fm.safetensors")
        run_glassbox("train", "--model", "smallcnn", "--width", "0.25", "--epochs", "1",
                     "--batch-size", "32", "--limit-train", "64", "--limit-test", "16",
                     "--out", cls.ck, "--threads", "2")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_explain_maps_load_in_numpy_and_torch(self):
        import safetensors
        import safetensors.numpy
        import safetensors.torch
        out = os.path.join(self.dir, "explain")
        run_glassbox("explain", "--checkpoint", self.ck, "--index", "2", "--method",
                     "gradcam,ig,kernelshap", "--samples", "64", "--segments", "8",
                     "--save-maps", "--maps-format", "both", "--out", out, "--threads", "2")
        st = os.path.join(out, "maps.safetensors")
        arrays = safetensors.numpy.load_file(st)
        self.assertEqual(set(arrays), {"input", "gradcam", "ig", "kernelshap"})
        self.assertEqual(arrays["input"].shape, (1, 28, 28))
        for m in ("gradcam", "ig", "kernelshap"):
            self.assertEqual(arrays[m].dtype, np.float32)
            self.assertEqual(arrays[m].shape, (28, 28))
            self.assertTrue(np.isfinite(arrays[m]).all())
            np.testing.assert_array_equal(np.load(os.path.join(out, m + ".npy")), arrays[m])
        tensors = safetensors.torch.load_file(st)
        np.testing.assert_array_equal(tensors["ig"].numpy(), arrays["ig"])
        with safetensors.safe_open(st, framework="np") as f:
            meta = json.loads(f.metadata()["glassbox.maps"])
        explanation = json.load(open(os.path.join(out, "explanation.json")))
        self.assertEqual(meta["ig"]["target"], explanation["target"]["class"])
        self.assertEqual(meta["kernelshap"]["options"]["samples"], 64)
        # IG's completeness: the recorded error matches the one in explanation.json.
        ig = next(m for m in explanation["methods"] if m["method"] == "ig")
        self.assertAlmostEqual(meta["ig"]["completeness_error"], ig["completeness_error"])
        sidecar = json.load(open(os.path.join(out, "maps.json")))
        self.assertEqual(sidecar["arrays"]["gradcam"]["shape"], [28, 28])

    def test_evaluate_maps_stack_every_image(self):
        import safetensors.numpy
        st = os.path.join(self.dir, "eval.safetensors")
        run_glassbox("evaluate-explanations", "--checkpoint", self.ck, "--count", "4",
                     "--methods", "gradcam,saliency", "--save-maps", st, "--threads", "2",
                     "--quiet")
        arrays = safetensors.numpy.load_file(st)
        self.assertEqual(arrays["gradcam"].shape, (4, 28, 28))
        self.assertEqual(arrays["random"].shape, (4, 28, 28))
        self.assertEqual(arrays["inputs"].shape, (4, 1, 28, 28))
        self.assertEqual(arrays["targets"].dtype, np.int64)
        self.assertTrue(((arrays["labels"] >= 0) & (arrays["labels"] < 10)).all())
        # Without --overwrite an existing file is refused and left as it was.
        before = open(st, "rb").read()
        with self.assertRaises(RuntimeError) as e:
            run_glassbox("evaluate-explanations", "--checkpoint", self.ck, "--count", "4",
                         "--methods", "gradcam", "--save-maps", st, "--quiet")
        self.assertIn("already exists", str(e.exception))
        self.assertEqual(open(st, "rb").read(), before)


if __name__ == "__main__":
    unittest.main()
