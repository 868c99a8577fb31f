#!/usr/bin/env python3
"""A glassbox checkpoint of a zoo model (.safetensors) to a PyTorch state_dict (.pt) and back.
Tensor names are PyTorch's on both sides (conv1.weight, layer1.0.bn1.running_mean, ...), so
only the containers and the checkpoint metadata change.

  torch_weights.py to-torch ck.safetensors out.pt
      torch.save({"state_dict": OrderedDict, "glassbox": metadata dict}) in the model's order;
      optimizer state (a `glassbox train` checkpoint) and other metadata go along under
      "optimizer_state" and "safetensors_metadata", so that the way back loses nothing.
  torch_weights.py to-glassbox in.pt out.safetensors --model resnet20 [--classes N]
      [--image-size 32] [--in-channels 3] [--width 1.0] [--mean m,m,m] [--std s,s,s]
      [--class-names a,b,...]
      takes a state_dict (bare, or under "state_dict", "model_state_dict" or "model") or what
      to-torch wrote (whose metadata is reused; options override it). Otherwise the classes
      come from the last linear layer, the input channels from the first conv, the
      normalisation is CIFAR-10's for 3 channels (else none), with a note. The file is written
      only once `glassbox summary` loads it and no tensor is missing, unexpected or of the
      wrong shape (every one is listed). The .pt is read by a restricted unpickler (tensors,
      containers, numbers, strings); --trust-pickle uses torch.load for other objects.

Neither command replaces an output without --overwrite; errors go to stderr, exit status 1.
The binary: --glassbox PATH, else $GLASSBOX, else build/glassbox; --no-verify skips it. Run with
build/venv/bin/python or /usr/bin/python3 (PyTorch); safetensors are read with numpy.
"""
import argparse
import collections
import json
import math
import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
import zipfile

try:
    import numpy as np
    import torch
except ImportError as e:  # depends on the interpreter
    sys.exit(f"torch_weights.py needs numpy and PyTorch ({e}): run it with "
             "build/venv/bin/python (tools/setup_python.sh) or /usr/bin/python3 with python3-torch")

METADATA_KEY = "glassbox"  # models/training/checkpoint_meta.cpp: kMetadataKey
FORMAT = "glassbox-checkpoint/1"  # ... kFormat
OPTIM_PREFIX = "optim."  # runtime/checkpoint.cpp: optimizer state entries
CIFAR10_MEAN = [0.4914, 0.4822, 0.4465]  # data/normalize.h: cifar10_normalization()
CIFAR10_STD = [0.2470, 0.2435, 0.2616]
MAX_HEADER = 100 * 1000 * 1000  # runtime/safetensors.h: the reader's header limit

# safetensors dtype -> (numpy dtype of the stored bytes, torch dtype)
_DTYPES = {
    "F32": (np.float32, torch.float32),
    "F16": (np.float16, torch.float16),
    "BF16": (np.int16, torch.bfloat16),  # the bytes as int16, viewed as bfloat16
    "I64": (np.int64, torch.int64),
    "I32": (np.int32, torch.int32),
    "U8": (np.uint8, torch.uint8),
}
_TORCH_TO_ST = {t: name for name, (_, t) in _DTYPES.items()}


class ConversionError(Exception):
    """A problem with the user's files or options: printed without a traceback."""


def note(msg):
    print(f"torch_weights: {msg}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# safetensors with numpy


def read_safetensors(path):
    """(OrderedDict name -> torch tensor in file order of names, metadata {str: str})."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ConversionError(f"{path}: cannot read: {e.strerror}") from e
    if len(blob) < 8:
        raise ConversionError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER or 8 + n > len(blob):
        raise ConversionError(f"{path}: not a safetensors file (header length {n})")
    try:
        header = json.loads(blob[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError(f"{path}: not a safetensors file (bad JSON header: {e})") from e
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: not a safetensors file (header is not a JSON object)")
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = collections.OrderedDict()
    for name in sorted(header):
        h = header[name]
        try:
            np_dtype, torch_dtype = _DTYPES[h["dtype"]]
            shape = [int(s) for s in h["shape"]]
            begin, end = (int(o) for o in h["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConversionError(f"{path}: tensor '{name}': bad header entry {h!r}") from e
        count = math.prod(shape)
        if end - begin != count * np.dtype(np_dtype).itemsize or begin < 0 or end > len(data):
            raise ConversionError(f"{path}: tensor '{name}': data_offsets [{begin}, {end}] do not "
                                  f"fit dtype {h['dtype']} shape {shape} (file truncated?)")
        a = np.frombuffer(data[begin:end], dtype=np.dtype(np_dtype).newbyteorder("<"))
        a = a.astype(np_dtype).reshape(shape)  # a native-endian, writable copy
        t = torch.from_numpy(a)
        tensors[name] = t.view(torch.bfloat16) if torch_dtype == torch.bfloat16 else t
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes {name: torch tensor} and {str: str} metadata to `path`, the data in sorted-name
    order as glassbox writes it (runtime/safetensors.h)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _TORCH_TO_ST:
            raise ConversionError(f"tensor '{name}': dtype {t.dtype} has no safetensors form here")
        dtype = _TORCH_TO_ST[t.dtype]
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = t.numpy().astype(np.dtype(_DTYPES[dtype][0]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------------------------
# the glassbox binary and its layer table


def glassbox_binary(explicit=None):
    if explicit:
        return explicit
    here = os.path.dirname(os.path.abspath(__file__))
    return os.environ.get("GLASSBOX", os.path.join(here, "..", "build", "glassbox"))


def run_glassbox(binary, *args):
    """(ok, stdout + stderr)."""
    try:
        r = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
    except OSError as e:
        raise ConversionError(f"cannot run the glassbox binary '{binary}': {e.strerror} (set "
                              "$GLASSBOX or --glassbox, or pass --no-verify)") from e
    return r.returncode == 0, r.stdout + r.stderr


_ROW = re.compile(r"^\s*(\S+)\s+(\S+)\s+(.*?)\s*(\[[0-9, ]*\])\s+(\d+)\s+(\d+)\s*$")
_PARAM_FREE = {"ReLU", "GELU", "MaxPool2d", "AvgPool2d", "GlobalAvgPool", "Flatten", "Dropout",
               "Identity", "Sequential", "Scale", "BasicBlock", "Inception", "ResNet", "VGG",
               "SmallCNN", "GoogLeNet", "AirBench", "Softmax", "PatchEmbedding",
               "MultiHeadSelfAttention", "Mlp", "TransformerBlock"}


def expected_tensors(table):
    """{name: (shape tuple, safetensors dtype)} from `glassbox summary`'s layer table, and
    whether it is complete (every layer type understood and the parameter total matches)."""
    expected = collections.OrderedDict()
    complete, total, derived = True, None, 0
    for line in table.splitlines():
        m = re.match(r"total parameters (\d+)", line)
        if m:
            total = int(m.group(1))
            continue
        m = _ROW.match(line)
        if not m:
            continue
        path, kind, detail, params = m.group(1), m.group(2), m.group(3), int(m.group(5))
        prefix = "" if path == "(model)" else path + "."
        if kind == "Conv2d":
            c = re.match(r"(\d+)->(\d+) k(\d+) s\d+ p\d+(?: g(\d+))?", detail)
            cin, cout, k = int(c.group(1)), int(c.group(2)), int(c.group(3))
            groups = int(c.group(4) or 1)
            w = (cout, cin // groups, k, k)
            expected[prefix + "weight"] = (w, "F32")
            if params == math.prod(w) + cout:
                expected[prefix + "bias"] = ((cout,), "F32")
            derived += params
        elif kind == "Linear":
            c = re.match(r"(\d+)->(\d+)", detail)
            fin, fout = int(c.group(1)), int(c.group(2))
            expected[prefix + "weight"] = ((fout, fin), "F32")
            if params == fout * fin + fout:
                expected[prefix + "bias"] = ((fout,), "F32")
            derived += params
        elif kind == "BatchNorm2d":
            ch = int(detail.split()[0])
            for n in ("weight", "bias", "running_mean", "running_var"):
                expected[prefix + n] = ((ch,), "F32")
            expected[prefix + "num_batches_tracked"] = ((), "I64")
            derived += params
        elif kind == "LayerNorm":
            d = int(detail.split()[0])
            for n in ("weight", "bias"):
                expected[prefix + n] = ((d,), "F32")
            derived += params
        elif kind == "VisionTransformer":  # its own parameter: pos_embed [1, tokens, width]
            c = re.match(r"(\d+) tokens, width (\d+)", detail)
            expected[prefix + "pos_embed"] = ((1, int(c.group(1)), int(c.group(2))), "F32")
            derived += params
        elif params or kind not in _PARAM_FREE:
            complete = False
    params_found = sum(math.prod(s) for n, (s, d) in expected.items()
                       if d == "F32" and not n.endswith(("running_mean", "running_var")))
    if total is None or derived != total or params_found != total:
        complete = False
    return expected, complete


def zoo_table(binary, model, cfg):
    ok, out = run_glassbox(binary, "summary", "--model", model, "--classes", cfg["num_classes"],
                           "--in-channels", cfg["in_channels"], "--image-size",
                           cfg["image_size"], "--width", repr(float(cfg["width"])))
    if not ok:
        raise ConversionError(f"glassbox summary --model {model} failed:\n{out.strip()}")
    return out


# ---------------------------------------------------------------------------------------------
# to-torch


def to_torch(args):
    check_output(args.output, args.overwrite)
    tensors, metadata = read_safetensors(args.checkpoint)
    if METADATA_KEY not in metadata:
        raise ConversionError(f"{args.checkpoint}: not a glassbox checkpoint (no '{METADATA_KEY}'"
                              " metadata)")
    try:
        meta = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as e:
        raise ConversionError(f"{args.checkpoint}: bad glassbox metadata: {e}") from e
    if meta.get("format") != FORMAT:
        raise ConversionError(f"{args.checkpoint}: unsupported format {meta.get('format')!r} "
                              f"(expected {FORMAT})")
    state = collections.OrderedDict((n, t) for n, t in tensors.items()
                                    if not n.startswith(OPTIM_PREFIX))
    optim = collections.OrderedDict((n[len(OPTIM_PREFIX):], t) for n, t in tensors.items()
                                    if n.startswith(OPTIM_PREFIX))
    if not args.no_verify:
        # The model's own order (PyTorch's state_dict order: per module, parameters then
        # buffers), and a check that the checkpoint loads.
        binary = glassbox_binary(args.glassbox)
        ok, out = run_glassbox(binary, "summary", "--checkpoint", args.checkpoint)
        if not ok:
            raise ConversionError(f"glassbox does not load {args.checkpoint}:\n{out.strip()}")
        expected, _ = expected_tensors(out)
        order = [n for n in expected if n in state] + [n for n in state if n not in expected]
        state = collections.OrderedDict((n, state[n]) for n in order)
    result = {"state_dict": state, METADATA_KEY: meta}
    if optim:
        result["optimizer_state"] = optim
    extra = {k: v for k, v in metadata.items() if k != METADATA_KEY}
    if extra:
        result["safetensors_metadata"] = extra
    atomic_write(args.output, lambda tmp: torch.save(result, tmp))
    print(f"{args.output}: {len(state)} tensors of '{meta.get('model')}'"
          + (f" (+{len(optim)} optimizer state tensors)" if optim else ""))


# ---------------------------------------------------------------------------------------------
# to-glassbox


_STORAGES = {"FloatStorage": torch.float32, "DoubleStorage": torch.float64,
             "HalfStorage": torch.float16, "BFloat16Storage": torch.bfloat16,
             "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
             "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool}


class _TensorUnpickler(pickle.Unpickler):
    """Reads the pickle of a zip-format torch.save file (PyTorch >= 1.6), building only plain
    containers, numbers, strings and tensors (read from the archive's data/<key> entries): any
    other global is refused. torch.load's own weights_only mode does the same, but the
    PyTorch 1.13 of Debian refuses floats (which the glassbox metadata holds) and ignores a
    pickle_module."""

    def __init__(self, data, archive, prefix):
        super().__init__(data, encoding="utf-8")
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: storage.as_strided(
                size, stride, offset).clone()
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, *_: data
        if module == "torch" and name in _STORAGES:
            return _STORAGES[name]
        raise pickle.UnpicklingError(f"refusing to load the global {module}.{name}")

    def persistent_load(self, pid):
        _, dtype, key, _, _ = pid  # ("storage", storage type, key, location, numel)
        if key not in self.storages:
            raw = bytearray(self.archive.read(f"{self.prefix}/data/{key}"))
            self.storages[key] = (torch.frombuffer(raw, dtype=dtype) if raw
                                  else torch.empty(0, dtype=dtype))
        return self.storages[key]


def load_torch_file(path, trust_pickle):
    """What torch.save wrote to `path`: with trust_pickle through torch.load (any object),
    else through _TensorUnpickler."""
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    if trust_pickle:
        try:
            try:
                return torch.load(path, map_location="cpu", weights_only=False)
            except TypeError:  # a PyTorch before 1.13 (no weights_only)
                return torch.load(path, map_location="cpu")
        except Exception as e:  # noqa: BLE001 - torch.load raises many kinds
            raise ConversionError(f"{path}: cannot load with torch.load: {e}") from e
    hint = ("only tensors, numbers, strings and containers are loaded; if the file holds other "
            "pickled objects, e.g. a saved nn.Module, and you trust it, pass --trust-pickle")
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            with archive.open(pkl) as data:
                return _TensorUnpickler(data, archive, pkl[:-len("/data.pkl")]).load()
    except (zipfile.BadZipFile, StopIteration) as e:
        raise ConversionError(f"{path}: not a zip-format torch.save file (PyTorch >= 1.6); "
                              "older files load with --trust-pickle") from e
    except (pickle.UnpicklingError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ConversionError(f"{path}: cannot load: {e} ({hint})") from e


def split_input(obj, path):
    """(state_dict, glassbox metadata or None, optimizer state, extra safetensors metadata)."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), None, {}, {}
    if not isinstance(obj, dict):
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not a state_dict")
    for key in ("state_dict", "model_state_dict", "model"):
        if key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
            inner = obj[key]
            if isinstance(inner, torch.nn.Module):
                inner = inner.state_dict()
            meta = obj.get(METADATA_KEY)
            if meta is not None and not isinstance(meta, dict):
                raise ConversionError(f"{path}: '{METADATA_KEY}' entry is not a dict")
            return (inner, meta, obj.get("optimizer_state") or {},
                    obj.get("safetensors_metadata") or {})
    return obj, None, {}, {}


def parse_floats(text, what):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError as e:
        raise ConversionError(f"--{what}: expected comma-separated numbers, got '{text}'") from e


def build_metadata(args, meta, state):
    """The glassbox metadata: `meta` (from to-torch) with the explicit options applied, or a new
    entry from the options, inferring classes and input channels from the weights."""
    if meta is not None:
        meta = json.loads(json.dumps(meta))  # a deep copy
        if meta.get("format") != FORMAT:
            raise ConversionError(f"input metadata has format {meta.get('format')!r}, expected "
                                  f"{FORMAT}")
        cfg = meta.setdefault("model_config", {})
        if args.model and args.model != meta.get("model"):
            note(f"--model {args.model} replaces the metadata's '{meta.get('model')}'")
            meta["model"] = args.model
    else:
        if not args.model:
            raise ConversionError("--model is required for a raw state_dict (see `glassbox "
                                  "summary --list`)")
        meta = {"format": FORMAT, "model": args.model}
        cfg = meta["model_config"] = {"num_classes": None, "in_channels": None,
                                      "image_size": 32, "width": 1.0, "channels": {}}
    for key, value in (("num_classes", args.classes), ("in_channels", args.in_channels),
                       ("image_size", args.image_size), ("width", args.width)):
        if value is not None:
            cfg[key] = value
    matrices = [t for n, t in state.items() if n.endswith("weight") and t.dim() == 2]
    convs = [t for n, t in state.items() if n.endswith("weight") and t.dim() == 4]
    if cfg.get("num_classes") is None:
        if not matrices:
            raise ConversionError("cannot infer the number of classes (no linear weight): pass "
                                  "--classes")
        cfg["num_classes"] = int(matrices[-1].shape[0])
        note(f"--classes {cfg['num_classes']} (from the last linear layer)")
    if cfg.get("in_channels") is None:
        if not convs:
            raise ConversionError("cannot infer the input channels: pass --in-channels")
        cfg["in_channels"] = int(convs[0].shape[1])
    cfg.setdefault("image_size", 32)
    cfg.setdefault("width", 1.0)
    cfg.setdefault("channels", {})
    channels, size = int(cfg["in_channels"]), int(cfg["image_size"])
    meta["input_shape"] = [channels, size, size]
    if args.class_names is not None:
        meta["classes"] = [c.strip() for c in args.class_names.split(",")]
    elif len(meta.get("classes", [])) != cfg["num_classes"]:
        meta["classes"] = [str(k) for k in range(cfg["num_classes"])]
    if len(meta["classes"]) != cfg["num_classes"]:
        raise ConversionError(f"--class-names gives {len(meta['classes'])} names for "
                              f"{cfg['num_classes']} classes")
    norm = meta.get("normalization")
    if args.mean is not None or args.std is not None or norm is None:
        default_mean, default_std = ((CIFAR10_MEAN, CIFAR10_STD) if channels == 3
                                     else ([0.0] * channels, [1.0] * channels))
        if args.mean is None or args.std is None:
            if norm is None:
                note(f"normalisation {'CIFAR-10 statistics' if channels == 3 else 'x / 255'} "
                     "assumed (pass --mean and --std to set it)")
            norm = norm or {"mean": default_mean, "std": default_std}
        norm = {"mean": parse_floats(args.mean, "mean") if args.mean else norm["mean"],
                "std": parse_floats(args.std, "std") if args.std else norm["std"]}
        meta["normalization"] = norm
    for key in ("mean", "std"):
        if len(meta["normalization"][key]) != channels:
            raise ConversionError(f"normalisation {key} has {len(meta['normalization'][key])} "
                                  f"values for {channels} input channels")
    if any(not s > 0 for s in meta["normalization"]["std"]):
        raise ConversionError("every --std value must be positive")
    return meta


def prepare_tensors(state):
    """The state_dict as float32 / int64 tensors; integer num_batches_tracked as int64."""
    out = collections.OrderedDict()
    for name, t in state.items():
        if not isinstance(t, torch.Tensor):
            raise ConversionError(f"'{name}' is a {type(t).__name__}, not a tensor")
        t = t.detach().cpu()
        if name.endswith("num_batches_tracked"):
            t = t.to(torch.int64)
        elif t.is_floating_point() and t.dtype != torch.float32:
            note(f"'{name}': {t.dtype} converted to float32")
            t = t.float()
        out[name] = t.contiguous()
    return out


def compare_with(expected, tensors, context):
    """Lists missing, unexpected and mis-shaped tensors against `expected`; raises when any."""
    missing = [n for n in expected if n not in tensors]
    unexpected = [n for n in tensors if n not in expected]
    problems = []
    for n, (shape, dtype) in expected.items():
        if n not in tensors:
            continue
        t = tensors[n]
        if tuple(t.shape) != tuple(shape):
            problems.append(f"  {n}: shape {list(t.shape)}, the model expects {list(shape)}")
        elif _TORCH_TO_ST.get(t.dtype) != dtype:
            problems.append(f"  {n}: dtype {t.dtype}, the model expects {dtype}")
    ratios = {round(tensors[n].shape[0] / shape[0], 4) for n, (shape, _) in expected.items()
              if n in tensors and tensors[n].dim() == 4 and len(shape) == 4
              and tuple(tensors[n].shape) != tuple(shape)}
    if len(ratios) == 1 and not missing:
        problems.append(f"  (every conv that differs has {ratios.pop():g}x the output channels "
                        "expected: a --width that differs from this one?)")
    if missing:
        problems.append(f"  missing ({len(missing)}): " + ", ".join(missing))
    if unexpected:
        problems.append(f"  unexpected ({len(unexpected)}): " + ", ".join(unexpected))
        heads = {n.split(".", 1)[0] + "." for n in unexpected}
        if len(heads) == 1:
            head = heads.pop()
            if all(n[len(head):] in expected for n in unexpected):
                problems.append(f"  (every unexpected name is an expected one under '{head}': "
                                "strip that prefix, e.g. nn.DataParallel's, first)")
    if problems:
        raise ConversionError(f"the tensors do not fit {context}:\n" + "\n".join(problems))


def to_glassbox(args):
    check_output(args.output, args.overwrite)
    obj = load_torch_file(args.input, args.trust_pickle)
    state, meta, optim, extra = split_input(obj, args.input)
    tensors = prepare_tensors(state)
    # Absent in state_dicts of old PyTorch versions; PyTorch itself loads those as 0.
    for name in list(tensors):
        if name.endswith(".running_var"):
            nbt = name[:-len("running_var")] + "num_batches_tracked"
            if nbt not in tensors:
                tensors[nbt] = torch.tensor(0, dtype=torch.int64)
                note(f"'{nbt}' absent: set to 0")
    meta = build_metadata(args, meta, tensors)
    cfg = meta["model_config"]
    context = (f"model '{meta['model']}' (classes {cfg['num_classes']}, in-channels "
               f"{cfg['in_channels']}, image size {cfg['image_size']}, width {cfg['width']})")
    binary = None if args.no_verify else glassbox_binary(args.glassbox)
    all_tensors = collections.OrderedDict(tensors)
    for name, t in optim.items():
        all_tensors[OPTIM_PREFIX + name] = t.detach().cpu().contiguous()
    metadata = {k: str(v) for k, v in extra.items() if k != METADATA_KEY} if optim else {}
    metadata[METADATA_KEY] = json.dumps(meta, separators=(",", ":"))

    def write_and_verify(tmp):
        write_safetensors(tmp, all_tensors, metadata)
        if binary is None:
            return
        ok, out = run_glassbox(binary, "summary", "--checkpoint", tmp)
        if not ok:
            # glassbox names the first problem; list them all where the layer table of the
            # architecture is at hand (a zoo model without per-layer channel overrides).
            if not cfg.get("channels") and meta["model"] != "graph":
                expected, complete = expected_tensors(zoo_table(binary, meta["model"], cfg))
                if complete:
                    compare_with(expected, tensors, context)
            raise ConversionError(f"glassbox does not accept the result:\n"
                                  f"{out.strip().replace(tmp, args.output)}")
        # glassbox loaded every tensor it needs; the table tells which ones those are, so
        # that tensors it would ignore are reported too.
        expected, complete = expected_tensors(out)
        if complete:
            compare_with(expected, tensors, context)
        else:
            note("the layer table names module types this script does not know: unexpected "
                 "tensors were not checked")

    atomic_write(args.output, write_and_verify)
    print(f"{args.output}: {len(tensors)} tensors of '{meta['model']}' "
          f"({cfg['num_classes']} classes, input {meta['input_shape']})"
          + (f" +{len(optim)} optimizer state tensors" if optim else ""))


# ---------------------------------------------------------------------------------------------
# files and the command line


def check_output(path, overwrite):
    if os.path.isdir(path):
        raise ConversionError(f"{path}: is a directory")
    if os.path.exists(path) and not overwrite:
        raise ConversionError(f"{path}: exists (pass --overwrite to replace it)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConversionError(f"{path}: folder {parent} does not exist")


def atomic_write(path, write):
    """write(tmp) into a temporary file next to `path`, then renamed over it; nothing is left
    behind when write raises."""
    parent = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=os.path.basename(path) + ".tmp.",
                               suffix=os.path.splitext(path)[1])
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("to-torch", help="glassbox checkpoint -> torch.save'd state_dict")
    a.add_argument("checkpoint")
    a.add_argument("output")
    b = sub.add_parser("to-glassbox", help="PyTorch state_dict -> glassbox checkpoint")
    b.add_argument("input")
    b.add_argument("output")
    b.add_argument("--model", help="zoo name (glassbox summary --list); default: the input's "
                   "glassbox metadata")
    b.add_argument("--classes", type=int, help="default: the last linear layer's outputs")
    b.add_argument("--image-size", type=int, help="input height = width (default 32)")
    b.add_argument("--in-channels", type=int, help="default: the first conv's input channels")
    b.add_argument("--width", type=float, help="channel width multiplier (default 1.0)")
    b.add_argument("--mean", help="normalisation mean per channel, comma-separated (default: "
                   "CIFAR-10's for 3 channels, 0 otherwise)")
    b.add_argument("--std", help="normalisation std per channel (default: CIFAR-10's, or 1)")
    b.add_argument("--class-names", help="comma-separated class names (default 0..N-1)")
    b.add_argument("--trust-pickle", action="store_true",
                   help="load any pickled object, e.g. a whole nn.Module (runs code from the "
                   "file: only for files you trust)")
    for s in (a, b):
        s.add_argument("--overwrite", action="store_true", help="replace an existing output")
        s.add_argument("--glassbox", help="the glassbox binary (default $GLASSBOX or "
                       "build/glassbox)")
        s.add_argument("--no-verify", action="store_true",
                       help="do not check the result with `glassbox summary`")
    args = p.parse_args(argv)
    try:
        (to_torch if args.command == "to-torch" else to_glassbox)(args)
    except ConversionError as e:
        print(f"torch_weights {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
