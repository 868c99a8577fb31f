#!/usr/bin/env python3
"""Concept folders for `glassbox tcav`, made from a data set's own training images.

Concepts (any number of --concept):
  class:NAME   images of class NAME (e.g. class:Sandal): "another class as a concept"
  dark         the images with the lowest mean pixel value over the object's interior
  bright       the images with the highest such mean
  striped      the images with the most horizontal stripes: the mean |change| between
               consecutive rows of the object's row-mean profile (objects >= 14 rows tall)
  dotted       the images with the most high-frequency texture: mean |Laplacian| inside the object
  blue, green  colour images whose blue (green) channel most exceeds the mean of the other two
               (sky and water, grass and leaves)
Each concept gets --per-concept images, picked from the training split (seeded shuffle of
ties), written as PNGs into OUT/<concept>/ (grey for Fashion-MNIST, RGB for CIFAR).
With --random R, also R disjoint folders OUT/random_<r>/ of --per-concept random training
images that are not in any concept folder.

Data: a Fashion-MNIST IDX folder (default /usr/share/datasets/fashion-mnist) or a CIFAR-style
image-tree archive (.tar.gz with train/<class>/*.jpg|png). Needs numpy and Pillow only.
"""
import argparse
import gzip
import io
import os
import sys
import tarfile

import numpy as np
from PIL import Image

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]


def load_idx(folder):
    def read(name):
        path = os.path.join(folder, name)
        opener = gzip.open if path.endswith(".gz") else open
        if not os.path.exists(path) and os.path.exists(path + ".gz"):
            path, opener = path + ".gz", gzip.open
        with opener(path, "rb") as f:
            return f.read()
    raw = read("train-images-idx3-ubyte.gz")
    n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w)
    labels = np.frombuffer(read("train-labels-idx1-ubyte.gz"), np.uint8, offset=8).astype(int)
    return images, labels, FASHION


def load_tree_archive(path, limit):
    by_class = {}
    with tarfile.open(path) as tar:
        for m in tar:
            parts = m.name.split("/")
            if not m.isfile() or "train" not in parts[:-2]:
                continue
            cls = parts[-2]
            if len(by_class.setdefault(cls, [])) >= limit:
                continue
            data = tar.extractfile(m).read()
            by_class[cls].append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    classes = sorted(by_class)
    images, labels = [], []
    for k, c in enumerate(classes):
        images += [im.transpose(2, 0, 1) for im in by_class[c]]
        labels += [k] * len(by_class[c])
    return np.stack(images), np.array(labels), classes


def erode(mask, steps):
    for _ in range(steps):
        m = mask.copy()
        m[1:] &= mask[:-1]
        m[:-1] &= mask[1:]
        m[:, 1:] &= mask[:, :-1]
        m[:, :-1] &= mask[:, 1:]
        mask = m
    return mask


def object_mask(img):
    """Grey image and the object's interior: Fashion-MNIST pixels > 8 eroded by 2 (so the
    outline does not count as texture); every pixel for colour images."""
    grey = img.astype(np.float64).mean(axis=0)
    return grey, erode(grey > 8, 2) if img.shape[0] == 1 else np.ones_like(grey, bool)


def statistic(name, img):
    grey, mask = object_mask(img)
    if mask.sum() < 100:
        return np.nan
    if name in ("dark", "bright"):
        return grey[mask].mean()
    if name == "striped":
        rows = [grey[y][mask[y]].mean() for y in range(grey.shape[0]) if mask[y].sum() >= 4]
        if len(rows) < 14:
            return np.nan
        return np.abs(np.diff(rows)).mean()
    if name in ("blue", "green"):
        if img.shape[0] != 3:
            raise SystemExit(f"--concept {name}: needs colour images")
        rgb = img.astype(np.float64)
        channel = 2 if name == "blue" else 1
        others = [c for c in range(3) if c != channel]
        return (rgb[channel] - rgb[others].mean(axis=0)).mean()
    if name == "dotted":
        lap = np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2]
                     - grey[1:-1, 2:])
        return lap[mask[1:-1, 1:-1]].mean()
    raise SystemExit(f"unknown concept '{name}'")


def pick(name, images, labels, classes, count, rng):
    order = rng.permutation(len(images))
    if name.startswith("class:"):
        cls = name[6:]
        if cls not in classes:
            raise SystemExit(f"--concept {name}: no such class; classes: {', '.join(classes)}")
        return [i for i in order if labels[i] == classes.index(cls)][:count]
    scores = np.array([statistic(name, images[i]) for i in order])
    keep = ~np.isnan(scores)
    order, scores = order[keep], scores[keep]
    ranked = order[np.argsort(scores if name == "dark" else -scores, kind="stable")]
    return list(ranked[:count])


def write(folder, images, indices):
    os.makedirs(folder, exist_ok=True)
    for i in indices:
        img = images[i]
        pil = Image.fromarray(img[0]) if img.shape[0] == 1 else Image.fromarray(img.transpose(1, 2, 0))
        pil.save(os.path.join(folder, f"{int(i):05d}.png"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", required=True)
    ap.add_argument("--concept", action="append", required=True)
    ap.add_argument("--per-concept", type=int, default=50)
    ap.add_argument("--random", type=int, default=0, help="random folders to write")
    ap.add_argument("--scan", type=int, default=10000,
                    help="training images scanned (archives: scan/10 per class)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if os.path.isdir(a.data):
        images, labels, classes = load_idx(a.data)
        images, labels = images[:a.scan], labels[:a.scan]
    else:  # the first scan/10 training images of each class folder
        images, labels, classes = load_tree_archive(a.data, max(1, a.scan // 10))
    rng = np.random.default_rng(a.seed)
    used = set()
    for name in a.concept:
        idx = pick(name, images, labels, classes, a.per_concept, rng)
        used.update(idx)
        write(os.path.join(a.out, name.replace("class:", "").replace("/", "_").replace(" ", "_")), images, idx)
        print(f"{name}: {len(idx)} images")
    free = [i for i in rng.permutation(len(images)) if i not in used]
    for r in range(a.random):
        write(os.path.join(a.out, f"random_{r}"), images, free[r * a.per_concept:(r + 1) * a.per_concept])
    if a.random:
        print(f"random: {a.random} folders of {a.per_concept}")


if __name__ == "__main__":
    sys.exit(main())
