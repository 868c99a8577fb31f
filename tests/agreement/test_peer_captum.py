"""Agreement of glassbox's gradient and perturbation attributions with Captum 0.6 (the last
release for Debian's torch 1.13) on the same model and images: resnet20 at seeded random weights
(tools/zoo_torch.py, moved into a glassbox checkpoint by tools/torch_weights.py), 4 smooth random
images, each image's predicted class. glassbox's numbers come from `glassbox probe --methods`
(the raw per-channel "attr.<m>" and the [H,W] "map.<m>" that `glassbox explain` draws); every
comparison is max |glassbox - reference| / max |reference| over the batch, < 1e-4.

- saliency: Captum Saliency(abs=True) is |gradient| per channel; glassbox's saliency is its max
  over the channels (Simonyan et al. 2014), so the reference is reduced the same way.
- input x gradient: per channel, and the map = the sum over channels.
- Integrated Gradients: Gauss-Legendre with 32 points on both sides (Captum's "gausslegendre":
  nodes 0.5(1+x), weights 0.5w of numpy's leggauss), the black baseline glassbox uses
  ("baseline.ig", pixel value 0 after normalisation) passed to Captum.
- occlusion: 8x8 windows, stride 4, fill 0 (the normalised zero) in all channels, the logit's
  drop averaged over the covering windows. Captum's windows start at j*stride for
  j < ceil((D-k)/s)+1 and glassbox's last window touches the edge: the same windows only when
  (D-k) % s == 0, as for 32, 8, 4. Captum attributes per channel with equal values (the window
  covers all 3), so channel 0 is compared.
- feature ablation: Captum FeatureAblation on glassbox's grid ("segments") with glassbox's fill
  ("fill": each image's per-channel mean) as the baselines tensor.
- exact Shapley: over a 2x3 grid (S = 6, 64 coalitions) against a brute force written here on
  the PyTorch model (the Shapley formula over all coalitions, float64), and over a 2x2 grid
  against Captum ShapleyValues (all S! permutations; S = 4 keeps it to 96 forwards per image).
  glassbox's coalition values ("game") are compared with the PyTorch model's too.
Kinks. Two correct float32 forward passes differ by ~1e-7 of a layer's scale, so a ReLU input that
close to 0 may fall on either side and the gradient then differs by a finite amount
(test_zoo_weights.py; measured here: 1 image in 6 of a random resnet20 flips, up to 2.5e-2). The
definitions match there, the arithmetic cannot. So the resnet20 images are screened: the first
4 of a seeded pool whose every ReLU input is at least KINK_TAU = 1e-6 of that call's largest
|input| away from 0 in PyTorch (the flips measured came from elements at <= 5.2e-7). IG
evaluates 32 path points per image, which no screen keeps all clear, so IG (and saliency and
input x gradient once more) is compared on the smooth ViT of the zoo (GELU, softmax,
LayerNorm: no kink; width 0.5), where the same tolerance holds without any screen."""
import os
import tempfile
import unittest
from itertools import combinations
from math import factorial

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import (FeatureAblation, InputXGradient, IntegratedGradients, Occlusion,
                         Saliency, ShapleyValues)

from gb_io import rel_diff
from peer_models import probe, seeded_images, seeded_model, write_checkpoint

TOL = 1e-4
N_IMAGES = 4
KINK_TAU = 1e-6


def kink_distance(model, x):
    """The smallest |ReLU input| / max |ReLU input| over the ReLU calls of a forward, per image
    (zoo_torch's models call F.relu at call time)."""
    seen, relu = [], F.relu

    def recording_relu(t, inplace=False):
        d = t.detach().flatten(1).abs()
        seen.append(d.min(1).values / d.max(1).values.clamp_min(1e-30))
        return relu(t)

    F.relu = recording_relu
    try:
        with torch.no_grad():
            model(x)
    finally:
        F.relu = relu
    return torch.stack(seen).min(0).values


def kink_safe_images(model, count, pool=16, seed=5):
    """The first `count` images of seeded_images(pool, seed) at least KINK_TAU from every
    ReLU kink."""
    x = seeded_images(pool, seed)
    keep = (kink_distance(model, x) >= KINK_TAU).nonzero().flatten()[:count]
    assert len(keep) == count, f"only {len(keep)} kink-safe images in the pool"
    return x[keep].contiguous()


def shapley_brute_force(values, players):
    """phi_i = sum over S not holding i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S)), coalition m
    holding player j when bit j of m is set; values [2^n], float64."""
    n, phi = players, np.zeros(players)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            w = factorial(size) * factorial(n - size - 1) / factorial(n)
            for subset in combinations(others, size):
                m = sum(1 << j for j in subset)
                phi[i] += w * (values[m | (1 << i)] - values[m])
    return phi


def coalition_values(model, image, fill, labels, target, players):
    """The PyTorch model's target logit on every coalition's masked image, float64 [2^S]."""
    masks = torch.stack([torch.from_numpy(np.isin(labels, [j for j in range(players)
                                                           if m >> j & 1]))
                         for m in range(1 << players)])  # [M,H,W]
    batch = torch.where(masks[:, None], image[None], fill[None])
    with torch.no_grad():
        return model(batch)[:, target].double().numpy()


class PeerCaptum(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = seeded_model("resnet20")
        cls.ck = write_checkpoint(cls.model, "resnet20",
                                  os.path.join(cls.tmp.name, "resnet20.safetensors"))
        cls.x = kink_safe_images(cls.model, N_IMAGES)
        cls.out, _ = probe(cls.ck, {"input": cls.x}, os.path.join(cls.tmp.name, "g.safetensors"),
                           "--methods", "saliency,inputxgrad,occlusion")
        cls.targets = torch.from_numpy(cls.out["targets"].copy())

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assert_close(self, name, got, ref):
        d = rel_diff(got, ref)
        where = np.unravel_index(np.abs(np.asarray(got, np.float64) - ref).argmax(), ref.shape)
        print(f"\n  {name}: max|d|/max|ref| = {d:.2e}", end="")
        self.assertLess(d, TOL, f"{name}: {d:.3g} at {where}")

    def test_predictions_match(self):
        with torch.no_grad():
            logits = self.model(self.x)
        self.assert_close("logits", self.out["logits"], logits.numpy())
        self.assertEqual(self.targets.tolist(), logits.argmax(1).tolist())

    def test_saliency(self):
        ref = Saliency(self.model).attribute(self.x, target=self.targets, abs=True)
        ref = ref.max(dim=1, keepdim=True).values.numpy()
        self.assert_close("saliency attr", self.out["attr.saliency"], ref)
        self.assert_close("saliency map", self.out["map.saliency"], ref[:, 0])

    def test_input_x_gradient(self):
        ref = InputXGradient(self.model).attribute(self.x, target=self.targets).detach().numpy()
        self.assert_close("inputxgrad attr", self.out["attr.inputxgrad"], ref)
        self.assert_close("inputxgrad map", self.out["map.inputxgrad"], ref.sum(1))

    def test_occlusion(self):
        ref = Occlusion(self.model).attribute(
            self.x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), baselines=0,
            target=self.targets).numpy()
        self.assertEqual(float(np.abs(ref - ref[:, :1]).max()), 0.0)
        self.assert_close("occlusion map", self.out["map.occlusion"], ref[:, 0])

    def segment_run(self, segments, methods, name, *flags):
        return probe(self.ck, {"input": self.x}, os.path.join(self.tmp.name, name),
                     "--methods", methods, "--segmentation", "grid", "--segments", segments,
                     *flags)[0]

    def test_feature_ablation(self):
        out = self.segment_run(16, "feature-ablation", "fa.safetensors")
        mask = torch.from_numpy(out["segments"].copy())[:, None]  # [N,1,H,W]
        fill = torch.from_numpy(out["fill"].copy())
        ref = FeatureAblation(self.model).attribute(
            self.x, baselines=fill, feature_mask=mask.expand(-1, 3, -1, -1),
            target=self.targets).numpy()
        self.assert_close("feature ablation map", out["map.feature-ablation"], ref[:, 0])

    def test_exact_shapley_brute_force(self):
        out = self.segment_run(6, "exact-shapley", "shapley6.safetensors", "--game")
        labels, fill = out["segments"], torch.from_numpy(out["fill"].copy())
        for n in range(N_IMAGES):
            v = coalition_values(self.model, self.x[n], fill[n], labels[n],
                                 int(self.targets[n]), 6)
            self.assert_close(f"game values, image {n}", out["game"][n], v)
            phi = shapley_brute_force(v, 6)
            self.assert_close(f"exact Shapley vs brute force, image {n}",
                              out["map.exact-shapley"][n], phi[labels[n]])

    def test_exact_shapley_captum(self):
        out = self.segment_run(4, "exact-shapley", "shapley4.safetensors")
        mask = torch.from_numpy(out["segments"].copy())[:, None].expand(-1, 3, -1, -1)
        fill = torch.from_numpy(out["fill"].copy())
        ref = ShapleyValues(self.model).attribute(
            self.x, baselines=fill, feature_mask=mask, target=self.targets,
            perturbations_per_eval=32).numpy()
        self.assert_close("exact Shapley vs Captum ShapleyValues", out["map.exact-shapley"],
                          ref[:, 0])


class PeerCaptumSmooth(PeerCaptum):
    """The gradient methods on the zoo's ViT (width 0.5): no kink, any images."""
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = seeded_model("vit", width=0.5)
        cls.ck = write_checkpoint(cls.model, "vit",
                                  os.path.join(cls.tmp.name, "vit.safetensors"), width=0.5)
        cls.x = seeded_images(N_IMAGES)
        cls.out, _ = probe(cls.ck, {"input": cls.x}, os.path.join(cls.tmp.name, "g.safetensors"),
                           "--methods", "saliency,inputxgrad,ig", "--ig-steps", 32)
        cls.targets = torch.from_numpy(cls.out["targets"].copy())

    def test_integrated_gradients(self):
        base = torch.from_numpy(self.out["baseline.ig"].copy())
        ref = IntegratedGradients(self.model).attribute(
            self.x, baselines=base, target=self.targets, n_steps=32,
            method="gausslegendre").detach().numpy()
        self.assert_close("ig attr", self.out["attr.ig"], ref)
        self.assert_close("ig map", self.out["map.ig"], ref.sum(1))

    test_occlusion = test_feature_ablation = None
    test_exact_shapley_brute_force = test_exact_shapley_captum = None


if __name__ == "__main__":
    unittest.main()
