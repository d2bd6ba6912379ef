#!/usr/bin/env python3
"""Check the GPU machine's Python stack against requirements/device.lock.

    python3 scripts/device/check_stack.py [--lock requirements/device.lock] [--site $SITE] [--json OUT]

Every pinned package must be installed at exactly the locked version (from the carried site
tree: its RARELANG_SITE.txt and the dist-info metadata), every `# provided:` package of the
machine at the named version (local labels such as +cu130 aside), and vllm, trl and datasets
must import. Exit 1 names each mismatch; a machine that drifted fails loudly instead of running
a different stack than the one the lock says was verified.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata as md
import json
import re
import sys
import time
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(carried pins, machine-provided pins) from a device lock file."""
    carried: dict[str, str] = {}
    provided: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("# provided:"):
            for spec in line.split(":", 1)[1].split():
                m = _PIN.match(spec)
                if m:
                    provided[_norm(m.group(1))] = m.group(2)
            continue
        if "# if-missing:" in line:          # the machine's own copy (any version) is used when it has one
            m = _PIN.match(line)
            if m:
                provided.setdefault(_norm(m.group(1)), "*")
            continue
        line = line.split("#", 1)[0].strip()
        m = _PIN.match(line)
        if m:
            carried[_norm(m.group(1))] = m.group(2)
    return carried, provided


def _public(version: str) -> str:
    return version.split("+", 1)[0]


def check(lock: Path, imports: tuple[str, ...] = ("vllm", "trl", "datasets")) -> dict:
    carried, provided = read_lock(lock)
    installed = {_norm(d.metadata["Name"]): d.version for d in md.distributions() if d.metadata["Name"]}
    problems = []
    for name, want in {**carried, **provided}.items():
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}: not installed (lock: {want})")
        elif want != "*" and _public(have) != _public(want):
            problems.append(f"{name}: {have} installed, lock says {want}")
    imported = {}
    for mod in ("numpy", "pandas", "pyarrow", "yaml", "tqdm", "safetensors", "tokenizers", *imports):
        t0 = time.perf_counter()
        try:
            m = importlib.import_module(mod)
            imported[mod] = {"version": getattr(m, "__version__", "?"), "import_s": round(time.perf_counter() - t0, 2)}
        except Exception as e:    # noqa: BLE001 - every failure is reported, none hidden
            problems.append(f"import {mod}: {type(e).__name__}: {e}")
    return {"lock": str(lock), "carried": len(carried), "provided": provided, "imported": imported,
            "problems": problems, "ok": not problems}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lock", default="requirements/device.lock", type=Path)
    ap.add_argument("--imports", default="vllm,trl,datasets", help="modules that must import (comma-separated)")
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args()
    report = check(args.lock, tuple(x for x in args.imports.split(",") if x))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    for p in report["problems"]:
        print(f"check_stack: {p}", file=sys.stderr)
    print(f"check_stack: {'ok' if report['ok'] else 'FAILED'}: {report['carried']} carried + "
          f"{len(report['provided'])} provided pins; imported "
          + ", ".join(f"{k} {v['version']}" for k, v in report["imported"].items()))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
