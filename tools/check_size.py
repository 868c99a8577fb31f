#!/usr/bin/env python3
"""The size budget: no source file over 700 lines, no function over 120 lines outside kernels/.

Files and functions over the budget today are listed below with their current size; they may
shrink, never grow, and a listed one that is back under the budget (or smaller than listed) is
reported so the list is tightened. Function extents come from Universal Ctags (`end` field), so
a function's length includes its lambdas. Run from anywhere: tools/check_size.py [--verbose].
Exit status 1 when the budget is broken.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ["runtime", "kernels", "interp", "models", "data", "tests", "tools"]
SUFFIXES = {".cpp", ".h", ".cu", ".cuh"}
FILE_BUDGET = 700
FUNCTION_BUDGET = 120

# path -> lines today (only allowed to shrink).
FILE_EXCEPTIONS = {
    "tests/test_cuda_ops.cpp": 1057,
    "tests/test_data.cpp": 805,
    "tests/test_kernels.cpp": 1223,
}

# "path:function" -> lines today (only allowed to shrink).
FUNCTION_EXCEPTIONS = {
}


def sources():
    for d in SOURCE_DIRS:
        for p in sorted((ROOT / d).rglob("*")):
            if p.suffix in SUFFIXES and p.is_file():
                yield p


def line_count(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def functions(path):
    """(name, first line, length) of every function ctags finds in path."""
    out = subprocess.run(
        ["ctags", "--output-format=json", "--fields=+ne", "--kinds-C++=f", "--language-force=C++",
         "-o", "-", str(path)],
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        tag = json.loads(line)
        if tag.get("_type") != "tag" or "end" not in tag:
            continue
        name = tag["name"]
        if name.startswith("__anon"):  # lambdas: counted inside their enclosing function
            continue
        scope = tag.get("scope", "")
        if scope and tag.get("scopeKind") in ("class", "struct"):
            name = scope.split("::")[-1] + "::" + name
        yield name, tag["line"], tag["end"] - tag["line"] + 1


def check(limit, exceptions, key, size, problems, notes):
    allowed = exceptions.get(key, limit)
    if size > allowed:
        problems.append(f"{key}: {size} lines (budget {allowed})")
    elif key in exceptions and size < allowed:
        notes.append(f"{key}: {size} lines, listed at {allowed}: tighten the exception"
                     + (" (now within the budget: remove it)" if size <= limit else ""))


def main():
    verbose = "--verbose" in sys.argv
    problems, notes, seen = [], [], set()
    for path in sources():
        rel = path.relative_to(ROOT).as_posix()
        check(FILE_BUDGET, FILE_EXCEPTIONS, rel, line_count(path), problems, notes)
        seen.add(rel)
        if rel.startswith("kernels/"):
            continue
        for name, first, length in functions(path):
            key = f"{rel}:{name}"
            seen.add(key)
            check(FUNCTION_BUDGET, FUNCTION_EXCEPTIONS, key, length, problems, notes)
            if verbose and length > FUNCTION_BUDGET // 2:
                print(f"  {key} (line {first}): {length} lines")
    for key in list(FILE_EXCEPTIONS) + list(FUNCTION_EXCEPTIONS):
        if key not in seen:
            notes.append(f"{key}: listed but gone: remove the exception")
    for n in notes:
        print("size budget: note:", n)
    for p in problems:
        print("size budget: over:", p)
    if problems:
        print(f"size budget: {len(problems)} over the budget (files {FILE_BUDGET} lines, "
              f"functions {FUNCTION_BUDGET} lines outside kernels/)")
        return 1
    print(f"size budget: ok (files <= {FILE_BUDGET} lines, functions <= {FUNCTION_BUDGET} lines "
          f"outside kernels/, {len(FILE_EXCEPTIONS)} + {len(FUNCTION_EXCEPTIONS)} listed exceptions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
