#!/usr/bin/env python3
"""Damages a checkpoint in many ways and counts how many of the damaged copies glassbox accepts.

Each copy gets one kind of damage: a single flipped bit (at a random byte of the header or of the
tensor data), a zeroed 64-byte block, a truncation, or bytes appended. Every copy is loaded with
`glassbox summary --checkpoint`, which reads and verifies the whole file, and the result is
tallied by kind: refused (with an error naming the file) or accepted. A glassbox that verifies
checkpoint checksums accepts none.

Usage: tools/corrupt_checkpoints.py CHECKPOINT [--copies N] [--seed S] [--no-verify]
                                    [--glassbox build/glassbox]
"""
import argparse
import collections
import os
import random
import struct
import subprocess
import tempfile


def damaged_copies(data, copies, rng):
    """Yields (kind, bytes) pairs: `copies` damaged versions of `data`."""
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    for i in range(copies):
        kind = ["flip-header", "flip-data", "zero-block", "truncate", "append"][i % 5]
        b = bytearray(data)
        if kind == "flip-header":
            pos = rng.randrange(8, header_end)
            b[pos] ^= 1 << rng.randrange(8)
        elif kind == "flip-data":
            pos = rng.randrange(header_end, len(b))
            b[pos] ^= 1 << rng.randrange(8)
        elif kind == "zero-block":
            pos = rng.randrange(header_end, len(b) - 64)
            if all(x == 0 for x in b[pos:pos + 64]):
                b[pos] = 1  # a block that was zero already would be no damage
            else:
                b[pos:pos + 64] = bytes(64)
        elif kind == "truncate":
            del b[rng.randrange(1, len(b)):]
        else:
            b += bytes(rng.randrange(1, 64))
        yield kind, bytes(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--copies", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true",
                    help="load with --no-verify: what the file format alone catches")
    ap.add_argument("--glassbox", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                       "glassbox"))
    args = ap.parse_args()
    data = open(args.checkpoint, "rb").read()
    rng = random.Random(args.seed)
    tally = collections.defaultdict(collections.Counter)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "damaged.safetensors")
        for kind, bytes_ in damaged_copies(data, args.copies, rng):
            with open(path, "wb") as f:
                f.write(bytes_)
            r = subprocess.run([args.glassbox, "summary", "--checkpoint", path]
                               + (["--no-verify"] if args.no_verify else []),
                               capture_output=True, text=True, errors="replace")
            ok = r.returncode == 0
            named = path in r.stderr
            tally[kind]["accepted" if ok else ("refused" if named else "refused, file not named")] += 1
    print(f"{'damage':<12} {'copies':>6} {'refused':>8} {'accepted':>9}")
    total = collections.Counter()
    for kind, c in sorted(tally.items()):
        n = sum(c.values())
        total.update(c)
        print(f"{kind:<12} {n:>6} {c['refused']:>8} {c['accepted']:>9}"
              + (f"  ({c['refused, file not named']} refused without naming the file)"
                 if c['refused, file not named'] else ""))
    print(f"{'all':<12} {sum(total.values()):>6} {total['refused']:>8} {total['accepted']:>9}")


if __name__ == "__main__":
    main()
