#!/usr/bin/env python3
"""Apply a file of dotted-key overrides (e.g. configs/paper.yaml) to params.yaml, in place.

    python scripts/apply_config.py configs/paper.yaml [--params params.yaml] [--dry-run]
"""

import argparse
import sys
from pathlib import Path

import yaml

from rarelang.params_check import apply_overlay


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--dry-run", action="store_true", help="print the result instead of writing it")
    args = ap.parse_args()
    params = yaml.safe_load(Path(args.params).read_text()) or {}
    overrides = yaml.safe_load(Path(args.overrides).read_text()) or {}
    params = apply_overlay(params, overrides)
    text = yaml.safe_dump(params, sort_keys=False, width=110)
    if args.dry_run:
        print(text)
    else:
        Path(args.params).write_text(text)
        print(f"applied {len(overrides)} override(s) from {args.overrides} to {args.params}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
