"""Agreement of glassbox's Grad-CAM (Selvaraju et al., ICCV 2017) with pytorch-grad-cam 1.5.7
(tools/setup_python.sh pins it) on the same model and images: resnet20 (layer3.2, the last
block) and vgg11 (features.27, its last ReLU) at seeded random weights moved into glassbox
checkpoints, 8 smooth random images, each image's predicted class. glassbox's numbers come from
`glassbox probe --cam-layer`.

Both sides weight each channel by the mean of the target logit's gradient over (h, w), sum,
ReLU. pytorch-grad-cam then normalises each map, (cam - min) / (1e-7 + max), resizes it to the
input with cv2 (bilinear, half-pixel centres), and normalises the mean over its target layers
once more (aggregate_multi_layers). glassbox's "cam.map" is the raw map upsampled bilinearly,
not normalised: normalising before or after upsampling differs, so the library's pipeline is
applied to glassbox's "cam.low_res" with the library's own scale_cam_image (twice, as it does)
and compared with its output; and the raw low-resolution map is compared with the library's
own get_cam_image on the activations and gradients it captured (ReLU applied, as it does).
Both within 1e-4 of the largest reference value. The gradient reaching these layers passes only
the average pool and the linear layer (resnet20), and for vgg11 the last 2x2 max-pool before
them: no ReLU kink lies between, and a max-pool window whose two largest values are within
float32 rounding of each other (the one kink left, test_zoo_weights.py) does not occur in these
images, so they need no screening (test_peer_captum.py)."""
import os
import tempfile
import unittest

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from gb_io import rel_diff
from peer_models import probe, seeded_images, seeded_model, write_checkpoint

TOL = 1e-4


class PeerGradCam(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(2)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.x = seeded_images(8, seed=9)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check(self, name, layer_name, layer_of):
        model = seeded_model(name)
        ck = write_checkpoint(model, name, os.path.join(self.tmp.name, f"{name}.safetensors"))
        out, _ = probe(ck, {"input": self.x}, os.path.join(self.tmp.name, f"{name}.out"),
                       "--cam-layer", layer_name)
        with torch.no_grad():
            targets = model(self.x).argmax(1).tolist()
        self.assertEqual(targets, out["logits"].argmax(1).tolist())
        cam = GradCAM(model=model, target_layers=[layer_of(model)])
        ref = cam(input_tensor=self.x, targets=[ClassifierOutputTarget(t) for t in targets])
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy()
        raw = np.maximum(cam.get_cam_image(self.x, layer_of(model), None, acts, grads, False), 0)
        low = out["cam.low_res"][:, 0]
        d_raw = rel_diff(low, raw)
        mine = scale_cam_image(scale_cam_image(low, (self.x.shape[-1], self.x.shape[-2])))
        d_map = rel_diff(mine, ref)
        print(f"\n  {name} {layer_name}: low-res {d_raw:.2e}, through scale_cam_image {d_map:.2e}",
              end="")
        self.assertGreater(float(np.abs(raw).max()), 0.0, "an all-zero CAM tests nothing")
        self.assertLess(d_raw, TOL, f"{name}: raw low-res Grad-CAM")
        self.assertLess(d_map, TOL, f"{name}: the library's normalised, resized map")

    def test_resnet20(self):
        self.check("resnet20", "layer3.2", lambda m: m.layer3[-1])

    def test_vgg11(self):
        self.check("vgg11", "features.27", lambda m: m.features[27])


if __name__ == "__main__":
    unittest.main()
