#!/usr/bin/env python3
"""Paired comparison of models evaluated in separate runs (e.g. base on one machine, trained on
another) on the same problems: per-problem pass@1 differences with bootstrap CIs and a sign test
(rarelang.evaluate.compare), only on the (suite, protocol, setting, language, problem) cells both
runs answered.

    python scripts/compare.py results/headline/unified-0.5b/eval/base/completions.parquet \\
        results/headline/unified-0.5b/eval/trained/completions.parquet \\
        -o results/headline/unified-0.5b/eval/paired.json
"""

import json
import sys
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser
from rarelang.evaluate.compare import describe, paired_report


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("completions", nargs="+", help="completions parquets (the model column names each model)")
    ap.add_argument("--base", default="base", help="the model the others are compared with")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args()
    params, _ = setup(args)
    df = pd.concat([pd.read_parquet(p) for p in args.completions], ignore_index=True)
    if args.base not in set(df["model"]):
        ap.error(f"no completions of model {args.base!r} in {args.completions}")
    ep = params.get("evaluate") or {}
    report = paired_report(df, base=args.base, iters=int(ep.get("bootstrap", 2000)), seed=int(ep.get("seed", 0)))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": "python scripts/compare.py " + " ".join(sys.argv[1:]),
                               "pairs": report}, indent=1) + "\n")
    for key, d in report.items():
        print(f"{key}: {describe(d)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
