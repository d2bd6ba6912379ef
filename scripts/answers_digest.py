#!/usr/bin/env python3
"""Fingerprint an evaluation's answers, timings left out, so that a reproduction can be checked against the paper's.

dvc.lock's md5 of results/eval/completions.parquet differs on every run (each answer carries how long its program
ran); this digest does not. After `dvc repro`, `git diff results/eval/answers.json` shows whether this machine gave
the committed answers, and for which model and suite it did not.

    python scripts/answers_digest.py results/eval/completions.parquet -o results/eval/answers.json
    python scripts/answers_digest.py mine.parquet --check results/eval/answers.json     # exit 1 when they differ

Exit status: 0 written, or the same answers; 1 different answers (said per model and suite); 2 nothing to compare
(no answers table, not one, or an unreadable digest).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from rarelang.evaluate.digest import answers_digest, differences


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("answers", type=Path, help="an answers table (the evaluate stage's completions.parquet)")
    ap.add_argument("-o", "--output", type=Path, help="write the digest here (JSON); printed when absent")
    ap.add_argument("--check", type=Path, metavar="DIGEST",
                    help="compare with a digest written before (exit 1 and say where they differ)")
    args = ap.parse_args(argv)
    if not args.answers.is_file():
        print(f"answers_digest: no {args.answers} (run the evaluate stage first: dvc repro evaluate)", file=sys.stderr)
        return 2
    try:
        # the digest to compare with is read first: it may be the file -o is about to write
        before = json.loads(args.check.read_text()) if args.check else None
        if before is not None and not {"sha256", "groups", "columns"} <= set(before):
            raise ValueError("no sha256/groups/columns: not a digest this script wrote")
    except (OSError, ValueError) as e:
        print(f"answers_digest: --check {args.check}: {e}", file=sys.stderr)
        return 2
    try:
        digest = answers_digest(pd.read_parquet(args.answers))
    except (ValueError, TypeError, OSError) as e:
        print(f"answers_digest: {args.answers}: {e}", file=sys.stderr)
        return 2
    text = json.dumps(digest, indent=2) + "\n"
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    elif not args.check:
        print(text, end="")
    if before is not None:
        diff = differences(digest, before)
        for line in diff:
            print(f"answers_digest: {line}", file=sys.stderr)
        if not diff:
            print(f"{args.answers}: the same {digest['rows']} answers as {args.check}")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
