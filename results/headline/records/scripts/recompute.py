#!/usr/bin/env python3
"""Recompute the paired comparisons and attribution tables under results/headline from the command each
one records, and say which came out different.

Every ``paired.json`` (scripts/compare.py) and ``attribution.json`` (scripts/attribution.py) keeps the
command that wrote it. After the answers behind them change (a re-score, answers re-asked with
scripts/reask.py, a fix in how pairs are counted), one call brings them all up to date:

    python scripts/recompute.py                      # rewrite every file whose inputs are here
    python scripts/recompute.py --check              # a reviewer's check: recompute into a temporary folder,
                                                     # compare with the committed file, exit 1 on any difference
    python scripts/recompute.py --only r-1.5b unified-1.5b/eval-step300
    python scripts/recompute.py --check --exclude headline/r/   # leave out what contains this

A folder with a file NOT_RECOMPUTABLE (its first line says why: the first headline runs' tables read a split
that is gone) is skipped.

A result whose inputs are missing here is skipped with the missing path named (``.gpu/data/test.parquet`` and
the MultiPL-E files: ``make gpu-data`` builds them). Two files are the same when everything but the
recorded command is equal. The summary tables and the paper's numbers are drawn from these files by
``make figures``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"scripts/compare.py", "scripts/attribution.py"}
# options of those scripts that name an input path
PATH_OPTIONS = {"--heldout", "--multipl-e-dir", "--params"}
# a folder whose results cannot be recomputed here (their inputs are gone, though files of the same name exist:
# the first headline runs read the split of 2026-11-24) holds this file, first line the reason: skipped, never
# rewritten from today's inputs (which a plain `recompute.py` did once, 2026-12-04, to those runs' attribution)
FROZEN = "NOT_RECOMPUTABLE"
OUTPUT = "<output>"                 # stands for the output path in a recorded command's arguments


@dataclass
class Recorded:
    path: Path                  # the result file
    script: str                 # scripts/compare.py | scripts/attribution.py
    args: list[str]             # its arguments, the output path as OUTPUT (where the command had it)

    @property
    def inputs(self) -> list[str]:
        out, it = [], iter(self.args)
        for a in it:
            if a in PATH_OPTIONS:
                out.append(next(it, ""))
            elif not a.startswith("-") and a is not OUTPUT:
                out.append(a)
        return out

    def command(self, output: Path) -> list[str]:
        return [sys.executable, str(ROOT / self.script), *(str(output) if a is OUTPUT else a for a in self.args)]


def shown(path: Path) -> Path:
    """A path as the recorded commands write it: relative to the repository when inside it."""
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def recorded(path: Path) -> Recorded | None:
    """The command a result file records (None: the file records none, or not one of the two scripts)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    cmd = data.get("command") if isinstance(data, dict) else None
    if not isinstance(cmd, str):
        return None
    words = shlex.split(cmd)
    if len(words) < 2 or words[0] not in ("python", "python3") or words[1] not in SCRIPTS:
        return None
    args, it = [], iter(words[2:])
    for a in it:
        if a in ("-o", "--output"):
            next(it, None)
            args += [a, OUTPUT]
        elif a.startswith("--output="):
            args += ["--output", OUTPUT]
        else:
            args.append(a)
    if OUTPUT not in args:
        return None
    return Recorded(path, words[1], args)


def same(a: Path, b: Path) -> bool:
    """Equal but for the recorded command (and, for attribution, its markdown table beside it)."""
    def body(p: Path) -> dict:
        d = json.loads(p.read_text())
        d.pop("command", None)
        return d
    if body(a) != body(b):
        return False
    ma, mb = a.with_suffix(".md"), b.with_suffix(".md")
    return not ma.exists() or (mb.exists() and ma.read_text() == mb.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="results/headline", help="where to look for paired.json / attribution.json")
    ap.add_argument("--only", nargs="+", default=None,
                    help="only results whose path contains one of these (e.g. a run's name)")
    ap.add_argument("--exclude", nargs="+", default=[],
                    help="leave out results whose path contains one of these (e.g. headline/r/ headline/julia/: the "
                         "first headline runs' attribution tables read the split of 2026-11-24, which the seed import "
                         "no longer makes row for row)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing: recompute into a temporary folder and exit 1 when a file differs or fails")
    args = ap.parse_args()
    root = (ROOT / args.root).resolve()
    if not root.is_dir():
        ap.error(f"{root}: no such folder")
    files = sorted(p for name in ("paired.json", "attribution.json") for p in root.rglob(name))
    if args.only:
        files = [p for p in files if any(o in str(shown(p)) for o in args.only)]
    files = [p for p in files if not any(x in str(shown(p)) for x in args.exclude)]
    todo = [(p, recorded(p)) for p in files]
    if not todo:
        ap.error(f"no paired.json or attribution.json under {root}" + (f" matching {args.only}" if args.only else ""))
    counts = {"same": 0, "changed": 0, "rewritten": 0, "skipped": 0, "failed": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (path, rec) in enumerate(todo, 1):
            rel = shown(path)
            head = f"[{i}/{len(todo)}] {rel}:"
            if rec is None:
                print(f"{head} skipped (it records no compare.py/attribution.py command)", flush=True)
                counts["skipped"] += 1
                continue
            frozen = path.parent / FROZEN
            if frozen.exists():
                print(f"{head} skipped, frozen ({frozen.name}: {frozen.read_text().strip().splitlines()[0]})", flush=True)
                counts["skipped"] += 1
                continue
            missing = [x for x in rec.inputs if not (ROOT / x).exists()]
            if missing:
                print(f"{head} skipped, missing {', '.join(missing)}"
                      + (" (make gpu-data builds .gpu/data)" if any(m.startswith(".gpu/") for m in missing) else ""),
                      flush=True)
                counts["skipped"] += 1
                continue
            out = Path(tmp, str(i), path.name) if args.check else rel      # rel: the command it records stays as it was
            before = Path(tmp, f"before-{i}", path.name)
            if not args.check:                      # keep the committed version to tell whether it changed
                before.parent.mkdir(parents=True)
                before.write_bytes(path.read_bytes())
                if path.with_suffix(".md").exists():
                    before.with_suffix(".md").write_bytes(path.with_suffix(".md").read_bytes())
            (ROOT / out).parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run(rec.command(out), cwd=ROOT, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{head} FAILED ({rec.script} exit {r.returncode}): {r.stderr.strip()[-800:]}", flush=True)
                counts["failed"] += 1
                continue
            changed = not same(path if args.check else before, ROOT / out)
            if not args.check and not changed:          # nothing but the command's spelling could differ: keep the file
                path.write_bytes(before.read_bytes())
                if before.with_suffix(".md").exists():
                    path.with_suffix(".md").write_bytes(before.with_suffix(".md").read_bytes())
            status = ("changed" if args.check else "rewritten") if changed else "same"
            counts[status] += 1
            print(f"{head} {status}", flush=True)
    print(", ".join(f"{v} {k}" for k, v in counts.items() if v), flush=True)
    return 1 if counts["failed"] or (args.check and counts["changed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
