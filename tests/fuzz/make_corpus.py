#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets, tests/fuzz/corpus/<target>/: small valid files and
slightly broken ones (run with /usr/bin/python3, which has torch for the ONNX seeds and Pillow for
the JPEG seeds). The checkpoint_meta seeds are "glassbox" metadata entries taken from
checkpoints: pass checkpoint files as arguments to add theirs (those of at most 4 KB are also
safetensors seeds); the committed ones come from a trained smallcnn and from `glassbox import` of
the two ONNX seeds. .onnx files given as arguments become ONNX seeds too; the committed ones are
`glassbox export --model smallcnn|resnet20 --width 0.0625 --num-classes 3 --input-size 1x8x8`.
Usage:
    /usr/bin/python3 tests/fuzz/make_corpus.py [checkpoint.safetensors ...] [model.onnx ...]"""
import gzip
import io
import json
import os
import struct
import sys
import tarfile
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    """tensors: [(name, dtype, shape, bytes)] -> file bytes (data in the given order)."""
    header, data, off = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def raw_header(obj, data=b""):
    text = json.dumps(obj).encode()
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = struct.pack("<6f", *range(6))
    put("safetensors", "valid", safetensors(
        [("a.weight", "F32", [2, 3], f32), ("b", "I64", [2], struct.pack("<2q", 1, -1)),
         ("c", "U8", [], b"\x07"), ("d", "BF16", [0, 4], b""), ("e", "F16", [1], b"\x00\x3c"),
         ("f", "I32", [1, 1], b"\x01\x00\x00\x00")], {"format": "pt", "glassbox": "{}"}))
    put("safetensors", "empty", safetensors([]))
    put("safetensors", "gap", raw_header(
        {"a": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"xyz"))
    put("safetensors", "overlap", raw_header(
        {"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
         "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}, b"xyz"))
    put("safetensors", "huge_shape", raw_header(
        {"a": {"dtype": "F32", "shape": [1000000, 1000000], "data_offsets": [0, 4000000000000]}}))
    put("safetensors", "overflow_shape", raw_header(
        {"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}))
    put("safetensors", "long_header", struct.pack("<Q", 1 << 40) + b"{}")
    put("safetensors", "dup", b"\x10\0\0\0\0\0\0\0" + b'{"a":{},"a":{}} ')


def cifar_seeds():
    rec10 = bytes([3]) + bytes(range(256)) * 12
    rec100 = bytes([1, 42]) + bytes(range(256)) * 12
    put("cifar", "c10_two", rec10 + bytes([9]) + rec10[1:])
    put("cifar", "c100_one", rec100)
    put("cifar", "c10.gz", gzip.compress(rec10 * 2, mtime=0))
    put("cifar", "bad_label", bytes([200]) + rec10[1:])
    put("cifar", "truncated", rec10[:100])


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def idx_seed(labels, images):
    return struct.pack(">H", len(labels)) + labels + images


def idx_seeds():
    labels = idx([3], bytes([0, 1, 9]))
    images = idx([3, 4, 4], bytes(range(48)))
    put("idx", "plain", idx_seed(labels, images))
    put("idx", "gzipped", idx_seed(gzip.compress(labels, mtime=0), gzip.compress(images, mtime=0)))
    put("idx", "two_members", idx_seed(labels, gzip.compress(images[:20], mtime=0) +
                                       gzip.compress(images[20:], mtime=0)))
    put("idx", "count_mismatch", idx_seed(idx([2], b"\0\1"), images))
    put("idx", "huge_dims", idx_seed(labels, idx([0, 100000, 100000], b"")))
    put("idx", "bad_magic", idx_seed(b"\1\2\3\4", images))


def png(w, h, color_type, depth=8, rows=None, extra=b""):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    if rows is None:
        row = bytes((x * 37) % 256 for x in range(w * channels * depth // 8))
        rows = b"".join(b"\0" + row for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(rows)) +
            chunk(b"IEND", b""))


def jpeg(w, h, mode, **kw):
    from PIL import Image
    img = Image.new(mode, (w, h))
    img.putdata([((x * 40) % 256, (x * 7) % 256, 99)[: len(mode)] if mode != "L" else (x * 40) % 256
                 for x in range(w * h)])
    out = io.BytesIO()
    img.save(out, "JPEG", quality=50, **kw)
    return out.getvalue()


def image_seeds():
    put("image", "grey.png", png(4, 3, 0))
    put("image", "rgb.png", png(5, 4, 2))
    put("image", "rgba.png", png(3, 3, 6))
    put("image", "grey_alpha16.png", png(2, 2, 4, depth=16))
    plte = struct.pack(">I", 6) + b"PLTE" + bytes([255, 0, 0, 0, 0, 255])
    plte += struct.pack(">I", zlib.crc32(b"PLTE" + bytes([255, 0, 0, 0, 0, 255])))
    put("image", "palette.png", png(4, 2, 3, depth=1, rows=b"\0\x50" * 2, extra=plte))
    put("image", "huge_header.png", png(40000, 40000, 2, rows=b""))
    put("image", "rgb.jpg", jpeg(8, 8, "RGB"))
    put("image", "grey.jpg", jpeg(9, 7, "L"))
    put("image", "progressive.jpg", jpeg(16, 8, "RGB", progressive=True))
    put("image", "gif_magic", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")


def tar_bytes(files, mode="w:gz"):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as t:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def archive_seeds():
    a, b = png(4, 4, 2), png(4, 4, 2, rows=b"".join(b"\0" + bytes(12) for _ in range(4)))
    tree = [("train", None), ("train/cat", None), ("train/cat/1.png", a), ("train/dog/2.png", b),
            ("test/cat/3.png", a)]
    put("archive", "tree.tar.gz", tar_bytes(tree))
    put("archive", "topped.tar", tar_bytes([("top/" + n, d) for n, d in tree], "w"))
    put("archive", "tree.tar.bz2", tar_bytes(tree, "w:bz2"))
    put("archive", "jpeg.tar.xz", tar_bytes([("train/x/a.jpg", jpeg(8, 8, "RGB"))], "w:xz"))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train/cat/1.png", a)
        zf.writestr("train/dog/2.png", b)
    put("archive", "tree.zip", z.getvalue())
    put("archive", "mixed_sizes.tar.gz", tar_bytes([("train/a/1.png", a), ("train/b/2.png", png(3, 4, 0))]))


def onnx_seeds():
    import torch
    from torch import nn

    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.bn = nn.BatchNorm2d(2)
            self.fc = nn.Linear(2 * 2 * 2, 3)

        def forward(self, x):
            x = torch.relu(self.bn(self.conv(x)))
            x = nn.functional.max_pool2d(x, 2)
            return self.fc(torch.flatten(x, 1))

    class Shapes(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 1, bias=False)

        def forward(self, x):
            y = self.conv(x)
            z = torch.cat([y, y * 0.5 - 1.0], dim=1)
            z = nn.functional.adaptive_avg_pool2d(z, 1)
            z = z.reshape(z.shape[0], -1)
            return torch.log_softmax(z, dim=-1)

    for name, model, shape in [("small.onnx", Small(), (1, 1, 4, 4)),
                               ("shapes.onnx", Shapes(), (1, 3, 2, 2))]:
        torch.manual_seed(0)
        out = io.BytesIO()
        model.eval()
        torch.onnx.export(model, torch.zeros(shape), out, opset_version=13,
                          input_names=["input"], output_names=["logits"])
        put("onnx", name, out.getvalue())


def checkpoint_meta_seeds(checkpoints):
    for i, path in enumerate(checkpoints):
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
        meta = header.get("__metadata__", {}).get("glassbox")
        stem = os.path.basename(path).split(".")[0]
        if os.path.getsize(path) <= 4096:
            with open(path, "rb") as f:
                put("safetensors", "checkpoint_%s_%d" % (stem, i), f.read())
        if meta:
            put("checkpoint_meta", "%s_%d.json" % (stem, i), meta.encode())
    put("checkpoint_meta", "not_object.json", b"[1,2,3]")
    put("checkpoint_meta", "wrong_format.json", b'{"format":"glassbox-checkpoint/2"}')


def main():
    safetensors_seeds()
    cifar_seeds()
    idx_seeds()
    image_seeds()
    archive_seeds()
    onnx_seeds()
    checkpoint_meta_seeds([a for a in sys.argv[1:] if a.endswith(".safetensors")])
    for path in [a for a in sys.argv[1:] if a.endswith(".onnx")]:
        with open(path, "rb") as f:
            put("onnx", "export_" + os.path.basename(path), f.read())


if __name__ == "__main__":
    main()
