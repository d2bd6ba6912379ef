#!/usr/bin/env python3
"""The device's original files under results/headline and their sha256 (rarelang.analysis.originals):
results/headline/device-originals.json. No amendment may change one; tests/test_sensitivity.py checks.

    python scripts/device_originals.py --check      # exit 1 when an original changed, went missing or is unlisted
    python scripts/device_originals.py --write      # list them (after a new evaluation came home)
"""

import argparse
import sys

from rarelang.analysis.originals import MANIFEST, changed, write_manifest
from rarelang.params import repo_root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--check", action="store_true")
    g.add_argument("--write", action="store_true")
    args = ap.parse_args()
    root = repo_root()
    if args.write:
        print(f"wrote {write_manifest(root).relative_to(root)}")
        return 0
    if not (root / MANIFEST).exists():
        sys.exit(f"{MANIFEST} missing: python scripts/device_originals.py --write")
    problems = changed(root)
    for p in problems:
        print(p)
    print(f"{MANIFEST}: " + (f"{len(problems)} problem(s)" if problems else "every original as listed"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
