"""`glassbox train --tensorboard DIR` read back with TensorBoard's own reader (EventAccumulator):
the per-epoch scalars equal the --json metrics, the per-step losses average to the epoch's, the
weight histograms match the checkpoint's weights, every parameter has a gradient histogram, the
images decode to the sizes of their sheets, the graph has one conv node per conv weight, the
weights do not depend on whether TensorBoard is on, a second run adds its own file, an
unwritable directory stops the run at once naming it, and prune's fine-tuning is logged the same
way (its histograms match the pruned checkpoint).

Needs the venv of tools/setup_python.sh (tensorboard, numpy, PIL) and CIFAR-10 ($GB_CIFAR10 or
../shared/data/cifar10-jpg.tar.gz beside the repository); run from this directory:
    ../../build/venv/bin/python -m unittest -v
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "agreement"))
import gb_io  # noqa: E402

from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402

CIFAR = os.environ.get("GB_CIFAR10", os.path.join(HERE, "..", "..", "..", "shared", "data",
                                                  "cifar10-jpg.tar.gz"))
EPOCHS, LIMIT_TRAIN, LIMIT_TEST, BATCH = 2, 256, 64, 64
STEPS_PER_EPOCH = LIMIT_TRAIN // BATCH


def train_args(out, extra=(), epochs=EPOCHS):
    return ["train", "--model", "smallcnn", "--data", CIFAR, "--epochs", epochs,
            "--limit-train", LIMIT_TRAIN, "--limit-test", LIMIT_TEST, "--batch-size", BATCH,
            "--seed", 3, "--threads", 2, "--quiet", "--out", out, *extra]


def load_events(directory):
    acc = ea.EventAccumulator(directory, size_guidance={
        ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.COMPRESSED_HISTOGRAMS: 0,
        ea.TENSORS: 0, ea.GRAPH: 0, ea.AUDIO: 0})
    acc.Reload()
    return acc


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sheet_size(tiles, columns, cell, pad=4, label=9):
    """visualize.h make_sheet: c*cw + (c+1)*pad wide, r*(label + ch) + (r+1)*pad high."""
    rows = -(-tiles // columns)
    return columns * cell + (columns + 1) * pad, rows * (label + cell) + (rows + 1) * pad


@unittest.skipUnless(os.path.exists(CIFAR), f"CIFAR-10 not found at {CIFAR} (set GB_CIFAR10)")
class TrainTensorBoard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = cls.tmp.name
        cls.tb = os.path.join(cls.dir, "tb")
        cls.ck = os.path.join(cls.dir, "ck.safetensors")
        cls.metrics_path = os.path.join(cls.dir, "metrics.json")
        gb_io.run_glassbox(*train_args(cls.ck, ["--json", cls.metrics_path,
                                                "--tensorboard", cls.tb]))
        files = os.listdir(cls.tb)
        assert len(files) == 1, files
        cls.event_file = os.path.join(cls.tb, files[0])
        cls.acc = load_events(cls.tb)
        with open(cls.metrics_path) as f:
            cls.metrics = json.load(f)
        cls.tensors, _ = gb_io.read_tensors(cls.ck)
        # Parameters are what the optimizer keeps state for ("optim.<name>.momentum").
        cls.params = sorted(k[len("optim."):-len(".momentum")] for k in cls.tensors
                            if k.startswith("optim.") and k.endswith(".momentum"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_file_name_holds_tfevents(self):
        self.assertIn("events.out.tfevents.", os.path.basename(self.event_file))

    def test_epoch_scalars_equal_the_json_metrics(self):
        epochs = self.metrics["epochs"]
        self.assertEqual(len(epochs), EPOCHS)
        for tag, key in [("epoch/train_loss", "train_loss"),
                         ("epoch/train_accuracy", "train_accuracy"),
                         ("epoch/test_loss", "test_loss"),
                         ("epoch/test_accuracy", "test_accuracy"),
                         ("epoch/images_per_second", "images_per_second"),
                         ("epoch/seconds", "seconds"),
                         ("epoch/lr", "lr_end"),
                         ("epoch/rss_mb", "rss_mb")]:
            events = self.acc.Scalars(tag)
            self.assertEqual([e.step for e in events], [m["epoch"] for m in epochs], tag)
            for e, m in zip(events, epochs):
                self.assertAlmostEqual(e.value, m[key], delta=1e-6 * max(1.0, abs(m[key])),
                                       msg=tag)

    def test_step_losses_average_to_the_epoch_loss(self):
        losses = self.acc.Scalars("train/loss")
        self.assertEqual([e.step for e in losses], list(range(1, EPOCHS * STEPS_PER_EPOCH + 1)))
        for i, m in enumerate(self.metrics["epochs"]):
            chunk = [e.value for e in losses[i * STEPS_PER_EPOCH:(i + 1) * STEPS_PER_EPOCH]]
            self.assertAlmostEqual(np.mean(chunk), m["train_loss"], delta=1e-5)
        lrs = [e.value for e in self.acc.Scalars("train/lr")]
        self.assertEqual(len(lrs), EPOCHS * STEPS_PER_EPOCH)
        self.assertAlmostEqual(lrs[-1], self.metrics["epochs"][-1]["lr_end"], delta=1e-7)
        accs = [e.value for e in self.acc.Scalars("train/accuracy")]
        self.assertTrue(all(0 <= a <= 1 for a in accs))

    def test_weight_histograms_match_the_checkpoint(self):
        tags = self.acc.Tags()["histograms"]
        self.assertEqual(sorted(t[len("weights/"):] for t in tags if t.startswith("weights/")),
                         self.params)
        for name in self.params:
            w = self.tensors[name].astype(np.float64)
            last = self.acc.Histograms("weights/" + name)
            self.assertEqual([h.step for h in last], list(range(1, EPOCHS + 1)))
            h = last[-1].histogram_value  # after the last epoch: the checkpoint's weights
            self.assertEqual(h.num, w.size, name)
            self.assertEqual(h.min, w.min(), name)
            self.assertEqual(h.max, w.max(), name)
            self.assertAlmostEqual(h.sum, w.sum(), delta=1e-6 * max(1.0, np.abs(w).sum()))
            self.assertAlmostEqual(h.sum_squares, (w * w).sum(), delta=1e-6 * (w * w).sum() + 1e-12)
            self.assertEqual(sum(h.bucket), w.size, name)
            self.assertEqual(len(h.bucket), len(h.bucket_limit))
            self.assertEqual(h.bucket_limit[-1], w.max())

    def test_every_parameter_has_a_gradient_histogram(self):
        for name in self.params:
            grads = self.acc.Histograms("gradients/" + name)
            self.assertEqual([g.step for g in grads], list(range(1, EPOCHS + 1)), name)
            g = grads[-1].histogram_value
            self.assertEqual(g.num, self.tensors[name].size, name)
            self.assertGreater(g.sum_squares, 0, name)  # a real gradient, not zeros

    def decoded(self, tag):
        out = []
        for ev in self.acc.Images(tag):
            img = Image.open(io.BytesIO(ev.encoded_image_string))
            img.load()
            self.assertEqual((img.width, img.height), (ev.width, ev.height), tag)
            self.assertEqual(img.mode, "RGB", tag)
            out.append((ev.step, img.size))
        return out

    def test_images_decode_to_their_sheet_sizes(self):
        # 8 class-balanced 32x32 test images upscaled 4x, one row of 8.
        tile = sheet_size(8, 8, 32 * 4)
        self.assertEqual(self.decoded("views/inputs"), [(1, tile)])
        self.assertEqual(self.decoded("views/gradcam"), [(e, tile) for e in range(1, EPOCHS + 1)])
        # smallcnn's last 4-D output: 128 maps of 8x8 (64 shown, 8 columns), each scaled to 32
        # pixels, 1 pixel apart.
        grid = 8 * 32 + 9
        self.assertEqual(self.decoded("views/activations"),
                         [(e, (grid, grid)) for e in range(1, EPOCHS + 1)])
        aucs = self.acc.Scalars("explanations/gradcam_deletion_auc")
        self.assertEqual([a.step for a in aucs], list(range(1, EPOCHS + 1)))
        self.assertTrue(all(0 <= a.value <= 1 for a in aucs))

    def test_graph_has_one_conv_node_per_conv_weight(self):
        graph = self.acc.Graph()
        nodes = {n.name: n for n in graph.node}
        conv_weights = sorted(k for k in self.params if self.tensors[k].ndim == 4)
        convs = [n for n in graph.node if n.op.startswith("conv2d")]
        self.assertEqual(len(convs), len(conv_weights))
        read = sorted(p for n in convs for p in n.attr["params"].s.decode().split(",")
                      if p in conv_weights)
        self.assertEqual(read, conv_weights)
        self.assertEqual(nodes["input"].op, "Placeholder")
        self.assertEqual([d.size for d in nodes["input"].attr["_output_shapes"].list.shape[0].dim],
                         [1, 3, 32, 32])
        for n in graph.node:
            self.assertIn("_output_shapes", n.attr, n.name)
            for i in n.input:
                self.assertIn(i, nodes, f"{n.name} reads unknown node {i}")
        self.assertTrue(all("/" in n.name for n in convs))  # scoped by module path
        self.assertEqual(nodes["output"].attr["_output_shapes"].list.shape[0].dim[1].size, 10)

    def test_weights_do_not_depend_on_tensorboard(self):
        plain = os.path.join(self.dir, "plain.safetensors")
        gb_io.run_glassbox(*train_args(plain))
        other, _ = gb_io.read_tensors(plain)
        self.assertEqual(sorted(other), sorted(self.tensors))
        for k, v in self.tensors.items():
            np.testing.assert_array_equal(other[k], v, err_msg=k)

    def test_a_second_run_adds_its_own_file(self):
        before = sha256(self.event_file)
        again = os.path.join(self.dir, "again.safetensors")
        gb_io.run_glassbox(*train_args(again, ["--tensorboard", self.tb], epochs=1))
        files = sorted(os.listdir(self.tb))
        self.assertEqual(len(files), 2, files)
        self.assertEqual(sha256(self.event_file), before)
        os.remove(os.path.join(self.tb, [f for f in files if f != os.path.basename(
            self.event_file)][0]))

    def test_an_unwritable_directory_stops_the_run_naming_it(self):
        blocker = os.path.join(self.dir, "plain_file")
        with open(blocker, "w") as f:
            f.write("x")
        bad = os.path.join(blocker, "tb")
        out = os.path.join(self.dir, "never.safetensors")
        r = subprocess.run([gb_io.glassbox_binary(), *map(str, train_args(out, [
            "--tensorboard", bad]))], capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"{bad}: cannot write TensorBoard event files", r.stdout + r.stderr)
        self.assertFalse(os.path.exists(out))

        r = subprocess.run([gb_io.glassbox_binary(), *map(str, train_args(out, [
            "--tensorboard", os.path.join(self.dir, "tb_every"), "--tensorboard-every", 0]))],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--tensorboard-every must be >= 1", r.stdout + r.stderr)

    def test_prune_logs_its_fine_tuning(self):
        tb = os.path.join(self.dir, "tb_prune")
        pruned = os.path.join(self.dir, "pruned.safetensors")
        common = ["prune", "--checkpoint", self.ck, "--unstructured", "--sparsity", 0.5,
                  "--limit-train", LIMIT_TRAIN, "--limit-test", LIMIT_TEST, "--batch-size", BATCH,
                  "--cam-images", 0, "--no-timing", "--threads", 2, "--quiet", "--out", pruned,
                  "--tensorboard", tb]
        r = subprocess.run([gb_io.glassbox_binary(), *map(str, common)], capture_output=True,
                           text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)  # no fine-tuning: nothing to log
        self.assertIn(f"{tb}: --tensorboard logs training", r.stdout + r.stderr)
        gb_io.run_glassbox(*common, "--finetune-epochs", 1.5)
        acc = load_events(tb)
        self.assertEqual([e.step for e in acc.Scalars("epoch/train_loss")], [1, 2])
        self.assertEqual(len(acc.Scalars("train/loss")), round(1.5 * STEPS_PER_EPOCH))
        weights, _ = gb_io.read_tensors(pruned)
        for name in self.params:
            h = acc.Histograms("weights/" + name)[-1].histogram_value
            w = weights[name].astype(np.float64)
            self.assertEqual((h.num, h.min, h.max), (w.size, w.min(), w.max()), name)
        self.assertTrue(any(n.op.startswith("conv2d") for n in acc.Graph().node))
        self.assertEqual(len(acc.Images("views/gradcam")), 2)


if __name__ == "__main__":
    unittest.main()
