"""Shapley values of an image game: glassbox's exact Shapley values, its KernelSHAP (Lundberg &
Lee, NeurIPS 2017) and shap 0.46's KernelExplainer on the same game, against a brute force
written here. The game: resnet20 at seeded random weights, 2 smooth random images, a 2x4 grid of
segments (S = 8 players, 256 coalitions), hidden segments showing the image's per-channel mean,
the value the predicted class's logit. glassbox writes every coalition's value ("game",
`glassbox probe --game`; test_peer_captum.py checks it against the PyTorch model), so the
solvers below all work on the very same 256 numbers and only the solvers are compared.

- exact: glassbox's exact Shapley values = the brute-force Shapley formula over the table
  (float64), within 1e-4 of the largest |phi|.
- KernelSHAP with the full budget (samples = 2^S - 2: every coalition, each with its Shapley
  kernel weight) is exact: glassbox's equals the brute force within 1e-4.
- shap.KernelExplainer on the table (a background of all-absent players, the explained point
  all-present, so a coalition's row is its membership vector), l1_reg=False (its default "auto"
  selects features when the budget is small) and nsamples = 2^S, so it enumerates every
  coalition: equals the brute force within 1e-4.
- KernelSHAP's error against the exact values, mean over 5 seeds, falls as the budget grows
  (16 -> 64 -> 254 coalitions)."""
import os
import tempfile
import unittest
from itertools import combinations
from math import factorial

import numpy as np
import torch

from gb_io import rel_diff
from peer_models import probe, seeded_images, seeded_model, write_checkpoint

try:
    import shap
except ImportError as e:  # tools/setup_python.sh pins shap; a venv without it skips that part
    shap, SHAP_MISSING = None, str(e)

TOL = 1e-4
S = 8
N_IMAGES = 2


def shapley_brute_force(values, n):
    """phi_i = sum over coalitions T not holding i of |T|!(n-|T|-1)!/n! (v(T+i) - v(T));
    coalition m holds player j when bit j of m is set."""
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            w = factorial(size) * factorial(n - size - 1) / factorial(n)
            for subset in combinations(others, size):
                m = sum(1 << j for j in subset)
                phi[i] += w * (values[m | (1 << i)] - values[m])
    return phi


def per_segment(map_hw, labels):
    """The value each segment's pixels carry in a segment map [H,W]."""
    return np.array([map_hw[labels == s].mean() for s in range(S)], np.float64)


class PeerShap(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.TemporaryDirectory()
        model = seeded_model("resnet20")
        cls.ck = write_checkpoint(model, "resnet20",
                                  os.path.join(cls.tmp.name, "resnet20.safetensors"))
        cls.x = seeded_images(N_IMAGES, seed=3)
        cls.out = cls.run_probe("full", "exact-shapley,kernelshap", 2 ** S - 2, 0, "--game")
        cls.game = cls.out["game"].astype(np.float64)
        cls.exact = [shapley_brute_force(cls.game[n], S) for n in range(N_IMAGES)]

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def run_probe(cls, name, methods, samples, seed, *flags):
        return probe(cls.ck, {"input": cls.x}, os.path.join(cls.tmp.name, f"{name}.safetensors"),
                     "--methods", methods, "--segmentation", "grid", "--segments", S,
                     "--samples", samples, "--seed", seed, *flags)[0]

    def segment_values(self, method, n, out=None):
        out = self.out if out is None else out
        return per_segment(out[f"map.{method}"][n], out["segments"][n])

    def test_exact_equals_brute_force(self):
        for n in range(N_IMAGES):
            d = rel_diff(self.segment_values("exact-shapley", n), self.exact[n])
            print(f"\n  exact vs brute force, image {n}: {d:.2e}", end="")
            self.assertLess(d, TOL)
            self.assertAlmostEqual(self.exact[n].sum(), self.game[n][-1] - self.game[n][0],
                                   places=4)

    def test_kernelshap_full_budget_is_exact(self):
        for n in range(N_IMAGES):
            d = rel_diff(self.segment_values("kernelshap", n), self.exact[n])
            print(f"\n  glassbox KernelSHAP (254 coalitions) vs exact, image {n}: {d:.2e}", end="")
            self.assertLess(d, TOL)

    @unittest.skipIf(shap is None, "shap is not installed (tools/setup_python.sh)")
    def test_shap_kernel_explainer_full_budget_is_exact(self):
        weights = 1 << np.arange(S)
        for n in range(N_IMAGES):
            table = self.game[n]

            def f(z, table=table):
                return table[(np.asarray(z) > 0.5).astype(np.int64) @ weights]

            explainer = shap.KernelExplainer(f, np.zeros((1, S)))
            phi = np.asarray(explainer.shap_values(np.ones((1, S)), nsamples=2 ** S,
                                                   l1_reg=False, silent=True)).reshape(-1)
            d = rel_diff(phi, self.exact[n])
            print(f"\n  shap KernelExplainer (l1_reg=False, all coalitions) vs exact, image {n}: "
                  f"{d:.2e}", end="")
            self.assertLess(d, TOL)

    def test_kernelshap_error_falls_with_budget(self):
        errors = []
        for budget in (16, 64, 2 ** S - 2):
            e = []
            for seed in range(5):
                out = self.out if budget == 2 ** S - 2 else self.run_probe(
                    f"b{budget}s{seed}", "kernelshap", budget, seed)
                e += [rel_diff(self.segment_values("kernelshap", n, out), self.exact[n])
                      for n in range(N_IMAGES)]
            errors.append(float(np.mean(e)))
        print(f"\n  KernelSHAP mean error at 16/64/254 coalitions: "
              + ", ".join(f"{e:.2e}" for e in errors), end="")
        self.assertGreater(errors[0], errors[1])
        self.assertGreater(errors[1], errors[2])
        self.assertLess(errors[2], TOL)


if __name__ == "__main__":
    unittest.main()
