#!/usr/bin/env python3
"""The held-out problems every headline-v2 evaluation asked, pinned by name, so that a later evaluation asks the
same ones whatever the split it is staged from.

The evaluations draw 400 problems per language from the split's test rows by position (evaluate.heldout_per_language,
a seeded permutation). The seed import's validation is not exactly reproducible from machine to machine (a
handful of reference solutions near a time limit pass on one and fail on another: 12,995 to 12,998 validated
rows), and one row more or less moves the sample: the split `make gpu-data` made on 2026-12-04 drew only 666 of
the 800 problems every committed evaluation asked, though each of those 800 is in it with the same prompt. So:

    python scripts/gpu/pin_heldout.py write results/headline/unified-0.5b/eval/base/completions.parquet
        → results/headline/heldout.json: the (language, task id) of each held-out problem that frame asked
    python scripts/gpu/pin_heldout.py apply .gpu/data/test-split.parquet -o .gpu/data/test.parquet
        → the split's rows of just those problems, in the split's order (scripts/gpu/stage_data.sh does this);
          a pinned problem the split lacks is an error, never a silent substitute

With exactly 400 rows per language, the evaluation's sample of 400 is all of them, in the same order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
PIN = ROOT / "results" / "headline" / "heldout.json"


def pinned(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Each language's held-out task ids a completions frame asked (sorted)."""
    h = frame[frame["suite"] == "heldout"]
    if h.empty:
        raise ValueError("the frame holds no held-out answers")
    return {lang: sorted(set(g["task_id"])) for lang, g in sorted(h.groupby("lang"))}


def apply_pin(split: pd.DataFrame, pin: dict[str, list[str]]) -> pd.DataFrame:
    """The split's rows of the pinned problems, in the split's order."""
    keys = {(lang, t) for lang, ids in pin.items() for t in ids}
    have = set(zip(split["lang"], split["task_id"]))
    missing = sorted(keys - have)
    if missing:
        raise ValueError(f"{len(missing)} pinned held-out problem(s) are not in the split, e.g. {missing[:5]}: "
                         "it is not the seed import the headline runs were evaluated on")
    rows = split[[(lang, t) in keys for lang, t in zip(split["lang"], split["task_id"])]]
    dup = rows.duplicated(["lang", "task_id"])
    if dup.any():
        raise ValueError(f"the split holds {int(dup.sum())} pinned problem(s) twice")
    return rows.reset_index(drop=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="record the held-out problems a stored evaluation asked")
    w.add_argument("completions", help="a stored evaluation's completions parquet")
    w.add_argument("-o", "--output", default=str(PIN))
    a = sub.add_parser("apply", help="the split's rows of the pinned problems")
    a.add_argument("split", help="the split's test parquet")
    a.add_argument("-o", "--output", required=True)
    a.add_argument("--pin", default=str(PIN))
    args = ap.parse_args()
    try:
        if args.cmd == "write":
            pin = pinned(pd.read_parquet(args.completions))
            rel = Path(args.completions).resolve()
            rel = rel.relative_to(ROOT) if rel.is_relative_to(ROOT) else rel
            Path(args.output).write_text(json.dumps({
                "what": "the held-out problems every headline-v2 evaluation asked (scripts/gpu/pin_heldout.py)",
                "from": str(rel), "problems": {k: len(v) for k, v in pin.items()}, "task_ids": pin}, indent=1) + "\n")
            print(f"pin_heldout: {json.dumps({k: len(v) for k, v in pin.items()})} → {args.output}", file=sys.stderr)
            return 0
        pin = json.loads(Path(args.pin).read_text())["task_ids"]
        rows = apply_pin(pd.read_parquet(args.split), pin)
    except (ValueError, OSError, KeyError) as e:
        sys.exit(f"pin_heldout {args.cmd}: {e}")
    rows.to_parquet(args.output, index=False)
    md5 = hashlib.md5(Path(args.output).read_bytes()).hexdigest()
    print(f"pin_heldout: {len(rows)} pinned held-out rows {rows.groupby('lang').size().to_dict()} → {args.output} "
          f"(md5 {md5})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
