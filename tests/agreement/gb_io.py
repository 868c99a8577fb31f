"""Helpers of the agreement suites: safetensors files read and written with numpy alone (the
format is an 8-byte header length, a JSON header and the raw little-endian data), and running
the glassbox binary."""
import json
import os
import struct
import subprocess

import numpy as np

_DTYPES = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "U8": np.uint8}


def write_tensors(path, tensors, metadata=None):
    """Writes {name: array} as float32 (integers kept as I64) to `path`."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.require(np.asarray(a), requirements="C")  # keeps 0-d arrays 0-d
        if a.dtype.kind == "f":
            a, dtype = a.astype(np.float32), "F32"
        else:
            a, dtype = a.astype(np.int64), "I64"
        raw = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_tensors(path):
    """{name: array} and the metadata dict of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        start, end = h["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=_DTYPES[h["dtype"]]).reshape(h["shape"])
    return out, meta


def glassbox_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "build", "glassbox")
    return os.environ.get("GLASSBOX", default)


def run_glassbox(*args):
    """Runs glassbox; raises with its output when it fails."""
    r = subprocess.run([glassbox_binary(), *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"glassbox {' '.join(map(str, args))} failed ({r.returncode}):\n"
                           f"{r.stdout}{r.stderr}")
    return r.stdout


def rel_diff(a, b):
    """max |a - b| relative to max |b| (the largest reference value)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {b.shape}")
    scale = max(np.abs(b).max(), 1e-30)
    return float(np.abs(a - b).max() / scale)
