#!/usr/bin/env python3
"""Here, after a machine: join what `scripts/device/run.sh pack|state` handed out (one pack's pieces may come in
several device calls' folders), check every piece against its SHA256SUMS and unpack the pack into the checkout
(results/<group>/<experiment>/… or models/<run>/checkpoints/…). A pack with a piece missing or corrupt is refused
whole; nothing outside the checkout is ever written.

    python scripts/device/collect.py /work/.device/17 /work/.device/18 [--root .]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tarfile
from pathlib import Path


def packs(folders: list[str]) -> dict[str, dict[str, Path]]:
    """Each pack's name → its pieces found in the folders (by file name), and its SHA256SUMS."""
    found: dict[str, dict[str, Path]] = {}
    for folder in map(Path, folders):
        for p in sorted(folder.rglob("*")):
            if p.name.endswith(".SHA256SUMS"):
                found.setdefault(p.name[: -len(".SHA256SUMS")], {})["SHA256SUMS"] = p
            elif ".part" in p.name:
                found.setdefault(p.name.split(".part")[0], {})[p.name] = p
    return found


def join(name: str, files: dict[str, Path]) -> bytes:
    if "SHA256SUMS" not in files:
        raise ValueError(f"{name}: no SHA256SUMS came back")
    data = io.BytesIO()
    for line in files["SHA256SUMS"].read_text().split("\n"):
        if not line.strip():
            continue
        digest, part = line.split()
        if part not in files:
            raise ValueError(f"{name}: piece {part} has not come back (yet)")
        blob = files[part].read_bytes()
        if hashlib.sha256(blob).hexdigest() != digest:
            raise ValueError(f"{name}: piece {part} is corrupt")
        data.write(blob)
    return data.getvalue()


def unpack(folders: list[str], root: Path) -> int:
    ok = 0
    for name, files in sorted(packs(folders).items()):
        try:
            blob = join(name, files)
        except ValueError as e:
            print(f"collect: {e}", file=sys.stderr)
            continue
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            members = tar.getmembers()
            bad = [m.name for m in members if m.name.startswith("/") or ".." in Path(m.name).parts
                   or not (m.isfile() or m.isdir())]
            if bad:
                print(f"collect: {name}: refused, it names paths outside the checkout: {bad[:3]}", file=sys.stderr)
                continue
            tar.extractall(root, members=members)
        print(f"collect: {name}: {sum(m.isfile() for m in members)} file(s) → {root}")
        ok += 1
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", help="folders the device tool brought back")
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="the checkout (default: this one)")
    args = ap.parse_args()
    return unpack(args.folders, Path(args.root))


if __name__ == "__main__":
    sys.exit(main())
