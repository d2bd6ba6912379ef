#!/usr/bin/env python3
"""A training set without the problems the base model always or never solves (issue 15's lever):
their GRPO groups have (almost) no reward variance, so they cost generation and teach nothing.

Reads the pre-pass completions (configs/gpu-prepass.yaml: the base model, n samples per train
problem at the training temperature) and keeps the train rows whose base pass count is strictly
between 0 and n (``--drop never,always``; ``--drop always`` keeps never-solved problems, whose
partial-credit rewards may still vary). Rows the pre-pass did not sample are dropped unless
``--keep-unseen``. Prints the counts per language and writes them to ``--report``.

    python scripts/prepass_filter.py --prepass results/headline/unified-0.5b/prepass/completions.parquet \\
        --train .gpu/data/train.parquet -o .gpu/data/train-mixed.parquet
"""

import json
import sys
from pathlib import Path

import pandas as pd

from _common import stage_parser, setup
from rarelang.evaluate.compare import asked_elsewhere
from rarelang.schema import read_table, write_table


def filter_rows(train: pd.DataFrame, prepass: pd.DataFrame, drop: set[str], keep_unseen: bool
                ) -> tuple[pd.DataFrame, dict]:
    unknown = drop - {"never", "always"}
    if unknown:
        raise ValueError(f"--drop: unknown {sorted(unknown)} (never, always)")
    # a problem the pre-pass asked in another language (the task-id mix-up of two-language evaluations before
    # 2026-11-25: 105 of its 1000 Julia problems got the R prompt) says nothing of it: counted as unseen
    prepass = prepass[~asked_elsewhere(prepass)]
    g = prepass.groupby(["lang", "task_id"])["passed"].agg(["size", "sum"])
    verdict = {}
    for (lang, tid), (n, c) in g.iterrows():
        verdict[(lang, tid)] = "never" if c == 0 else "always" if c == n else "mixed"
    keep, report = [], {}
    for r in train.itertuples(index=False):
        v = verdict.get((r.lang, r.task_id), "unseen")
        rep = report.setdefault(r.lang, {"never": 0, "always": 0, "mixed": 0, "unseen": 0, "kept": 0})
        rep[v] += 1
        k = (v == "mixed") or (v == "unseen" and keep_unseen) or (v in ("never", "always") and v not in drop)
        rep["kept"] += int(k)
        keep.append(k)
    return train[keep].reset_index(drop=True), report


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--prepass", required=True, help="completions parquet of the pre-pass evaluation")
    ap.add_argument("--train", required=True, help="the split's train parquet")
    ap.add_argument("-o", "--output", required=True, help="the filtered train parquet")
    ap.add_argument("--drop", default="never,always", help="never, always or both (default)")
    ap.add_argument("--keep-unseen", action="store_true", help="keep rows the pre-pass did not sample")
    ap.add_argument("--languages", default=None,
                    help="comma-separated languages to keep (default: all of the train file's)")
    ap.add_argument("--report", default=None, help="JSON counts per language (default: beside the output)")
    args = ap.parse_args()
    setup(args)
    train = read_table(args.train, "processed")
    if args.languages:
        langs = [x.strip() for x in args.languages.split(",") if x.strip()]
        missing = sorted(set(langs) - set(train["lang"]))
        if missing:
            sys.exit(f"prepass_filter: --languages {missing} not in {args.train} ({sorted(set(train['lang']))})")
        train = train[train["lang"].isin(langs)].reset_index(drop=True)
    prepass = pd.read_parquet(args.prepass)
    kept, report = filter_rows(train, prepass, {d.strip() for d in args.drop.split(",") if d.strip()},
                               args.keep_unseen)
    if kept.empty:
        sys.exit("prepass_filter: no row left")
    write_table(kept, args.output, "processed")
    rpath = Path(args.report) if args.report else Path(args.output).with_suffix(".json")
    rpath.write_text(json.dumps({"command": "python scripts/prepass_filter.py " + " ".join(sys.argv[1:]),
                                 "per_language": report}, indent=1) + "\n")
    print(json.dumps(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
