#!/usr/bin/env python3
"""Write or check a run manifest (code, params, data and environment hashes; rarelang.manifest).

    python scripts/manifest.py write --params P [--overlay F ...] [--what train] -o manifest.json
    python scripts/manifest.py check MANIFEST [--data-root .gpu/data]

`write` runs on the machine that makes the result (scripts/gpu/headline.sh writes one per training
and evaluation, and bundles it with the results); `check` runs here and lists every code file,
overlay and data file that differs from what made the result (exit 1 when something does).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rarelang import manifest

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write the manifest of a run made from a resolved params file")
    w.add_argument("--params", type=Path, required=True, help="the resolved params file the run used")
    w.add_argument("--overlay", action="append", default=[], metavar="F", help="an overlay applied to it (repeatable)")
    w.add_argument("--what", default="", help="what the run made (train, eval, ...)")
    w.add_argument("--command", default="", help="the command that made it")
    w.add_argument("-o", "--out", type=Path, required=True)
    c = sub.add_parser("check", help="compare a manifest with this repository (and carried data)")
    c.add_argument("manifest", type=Path)
    c.add_argument("--data-root", type=Path, help="a folder holding the run's data files by name (e.g. .gpu/data)")
    a = ap.parse_args(argv)
    if a.cmd == "write":
        if not a.params.is_file():
            print(f"manifest: no params file {a.params}", file=sys.stderr)
            return 2
        m = manifest.build(REPO, a.params, [Path(o) for o in a.overlay], what=a.what, command=a.command)
        manifest.write(m, a.out)
        print(f"manifest: {a.out} (code {m['code']['md5']}, {len(m['data'])} data input(s))")
        return 0
    try:
        m = json.loads(a.manifest.read_text())
    except (OSError, json.JSONDecodeError) as e:
        print(f"manifest: cannot read {a.manifest}: {e}", file=sys.stderr)
        return 2
    problems = manifest.check(m, REPO, a.data_root)
    for p in problems:
        print(p)
    print(f"manifest: {a.manifest}: " + ("the repository holds what made it" if not problems
                                         else f"{len(problems)} difference(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
