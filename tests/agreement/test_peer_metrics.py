"""Agreement of glassbox's map similarities (interp/eval/map_similarity.h, interp/metrics.h) with
the libraries the papers' code used: SSIM against scikit-image's structural_similarity, HOG
features and their Pearson correlation against skimage.feature.hog, Spearman's rank correlation
against scipy.stats.spearmanr, Pearson against numpy. glassbox's values come from `glassbox
probe --similarity` (input "map_a", "map_b" [N,H,W]). Maps: smooth random fields (a coarse
Gaussian grid upsampled, plus noise), pairs from unrelated to strongly correlated, signed and
non-negative, 32x32 (4x4 cells: 2x2 blocks, 324 features) and 28x28 (3x3 cells: 1 block, 81),
one pair with ties (a map rounded to 1 decimal, for the rank correlation's average ranks).

skimage conventions followed (and stated in map_similarity.h): SSIM with a 7x7 uniform window,
K1 0.01, K2 0.03, sample covariance, the mean over the map cropped by 3 pixels at each border,
data_range = max - min over both maps (what Quantus passes); HOG with 9 unsigned orientations,
8x8-pixel cells, 3x3-cell blocks, L2-Hys. All within 1e-5 (absolute for the correlations and
SSIM, relative to the largest feature for HOG)."""
import os
import tempfile
import unittest

import numpy as np
import torch
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity

from peer_models import probe, seeded_model, write_checkpoint

TOL = 1e-5


def map_pairs(size, count, seed):
    """`count` pairs of [size,size] maps: b = mix * a + (1 - mix) * independent, mix in [0,1]."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(2, count, 1, 6, 6))
    fields = torch.nn.functional.interpolate(torch.from_numpy(coarse.reshape(-1, 1, 6, 6)),
                                             size=(size, size), mode="bilinear",
                                             align_corners=False).numpy().reshape(2, count, size,
                                                                                  size)
    fields += 0.2 * rng.normal(size=fields.shape)
    mix = np.linspace(0, 1, count)[:, None, None]
    a = fields[0]
    b = mix * a + (1 - mix) * fields[1]
    a[1::2] = np.abs(a[1::2])  # some non-negative maps, as |gradient| maps are
    b[1::2] = np.abs(b[1::2])
    b[-1] = np.round(a[-1], 1)  # ties
    return a.astype(np.float32), b.astype(np.float32)


class PeerMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        model = seeded_model("smallcnn", width=0.25)
        cls.ck = write_checkpoint(model, "smallcnn",
                                  os.path.join(cls.tmp.name, "smallcnn.safetensors"), width=0.25)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, size, seed, checkpoint):
        a, b = map_pairs(size, 6, seed)
        out, _ = probe(checkpoint, {"input": np.zeros((1, 3, 32, 32), np.float32), "map_a": a,
                                    "map_b": b},
                       os.path.join(self.tmp.name, f"sim{size}.safetensors"), "--similarity")
        self.assertEqual("logits" in out, checkpoint is not None)
        for n in range(len(a)):
            a64, b64 = a[n].astype(np.float64), b[n].astype(np.float64)
            rng = max(a64.max(), b64.max()) - min(a64.min(), b64.min())
            ssim = structural_similarity(a64, b64, data_range=rng)
            fa = hog(a64, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3),
                     block_norm="L2-Hys", feature_vector=True)
            fb = hog(b64, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3),
                     block_norm="L2-Hys", feature_vector=True)
            expected = {
                "ssim": ssim,
                "pearson": np.corrcoef(a64.ravel(), b64.ravel())[0, 1],
                "spearman": spearmanr(a64.ravel(), b64.ravel()).correlation,
                "hog_similarity": np.corrcoef(fa, fb)[0, 1],
            }
            for key, ref in expected.items():
                self.assertAlmostEqual(float(out[key][n]), ref, delta=TOL,
                                       msg=f"{key}, {size}x{size} pair {n}")
            for got, ref in ((out["hog.a"][n], fa), (out["hog.b"][n], fb)):
                self.assertEqual(got.shape, ref.shape)
                self.assertLess(np.abs(got - ref).max() / np.abs(ref).max(), TOL,
                                f"HOG features, {size}x{size} pair {n}")

    def test_32x32(self):
        self.check(32, seed=1, checkpoint=self.ck)

    def test_28x28_without_a_model(self):
        self.check(28, seed=2, checkpoint=None)


class ProbeRefusals(unittest.TestCase):
    """`glassbox probe` refuses bad explanation options before any work, naming the cause."""

    def test_refusals(self):
        with tempfile.TemporaryDirectory() as tmp:
            ck = write_checkpoint(seeded_model("smallcnn", width=0.25), "smallcnn",
                                  os.path.join(tmp, "s.safetensors"), width=0.25)
            cases = {
                ("--methods", "nonsense"): "unknown method 'nonsense'",
                ("--methods", "feature-ablation"): "feature-ablation needs --segmentation grid",
                ("--methods", "exact-shapley", "--game"): "--game needs --segmentation grid",
                ("--methods", "exact-shapley", "--game", "--segmentation", "grid",
                 "--segments", "17"): "--segments <= 16",
                ("--methods", "ig", "--timing-reps", "-1"): "--timing-reps must be >= 0",
                ("--methods", "ig", "--ig-steps", "0"): "ig",
                ("--similarity",): "map_a",
            }
            no_model = {(): "--checkpoint is required",
                        ("--similarity", "--methods", "ig"): "--methods need --checkpoint"}
            for flags, message in cases.items():
                with self.assertRaises(RuntimeError) as e:
                    probe(ck, {"input": np.zeros((1, 3, 32, 32), np.float32)},
                          os.path.join(tmp, "o.safetensors"), *flags)
                self.assertIn(message, str(e.exception), flags)
            for flags, message in no_model.items():
                with self.assertRaises(RuntimeError) as e:
                    probe(None, {"input": np.zeros((1, 3, 32, 32), np.float32)},
                          os.path.join(tmp, "o.safetensors"), *flags)
                self.assertIn(message, str(e.exception), flags)


if __name__ == "__main__":
    unittest.main()
