#!/usr/bin/env python3
"""Issue 33's decontamination rules on headline v2's split, and the held-out results on the cleaned set: what each
rule (MBPP entry-point names, paraphrases of a benchmark problem, held-out paraphrases of a train row) removes from
the split's parts, and every cell of the declared analysis recomputed without the problems they take out (the
committed answers filtered; pairs, CIs, the max-T bound and the verdicts as in claims.json).

    python scripts/decontam.py        # reads data/seed-v2/processed (rarelang data seed-v2) → results/headline/decontam/
    python scripts/decontam.py --data .gpu/data   # the older staging (make gpu-data before the experiments' pipeline)

Writes results/headline/decontam/{report.json,claims-cleaned.json,README.md}.
"""

import argparse
import json
import sys
from pathlib import Path

from rarelang.analysis.claims import build_claims, write_claims
from rarelang.analysis.cleaned import (exclusions, load_parts, markdown, removal_report, rule_hits, side_by_side,
                                       touched_benchmark_problems)
from rarelang.analysis.originals import guard
from rarelang.analysis.plan import plan_or_usage_error
from rarelang.params import load_params, repo_root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/seed-v2/processed",
                    help="the headline split: train/validation/test.parquet (`rarelang data seed-v2`)")
    ap.add_argument("--pinned", default="results/headline/heldout.json",
                    help="the held-out problems every headline evaluation asked")
    ap.add_argument("--plan", default="configs/analysis/headline-v2.yaml")
    ap.add_argument("--claims", default="results/headline/claims.json", help="the cells on all problems")
    ap.add_argument("-o", "--out-dir", default="results/headline/decontam")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args()
    root = repo_root()
    plan = plan_or_usage_error(ap, root, args.plan)
    sp = load_params().get("split") or {}
    mdir = Path(sp.get("multipl_e_dir", "../shared/multipl-e"))
    mdir = mdir if mdir.is_absolute() else root / mdir
    try:
        parts = load_parts(root / args.data, root / args.pinned)
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"decontam: {e}")
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    say("applying the rules to the headline split")
    hits = rule_hits(parts, mdir)
    touched = touched_benchmark_problems(parts["train"], mdir)
    ex = exclusions(parts, hits, touched)
    command = "python scripts/decontam.py " + " ".join(sys.argv[1:])
    report = {"command": command.strip(), "data": args.data, "removed": removal_report(parts, hits),
              "touched_benchmark_problems": {f"{s}/{lang}": v for (s, lang), v in sorted(touched.items())},
              "left_out": {f"{s}/{lang}": sorted(v) for (s, lang), v in sorted(ex.items())}}
    say("the declared analysis on the cleaned set")
    cleaned = build_claims(plan, root, command, exclude=ex)
    old = json.loads((root / args.claims).read_text())
    rows = side_by_side(old, cleaned)
    report["cells"] = rows
    out = root / args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_claims(cleaned, guard(out / "claims-cleaned.json", root))
    guard(out / "report.json", root).write_text(json.dumps(report, indent=1) + "\n")
    guard(out / "README.md", root).write_text(markdown(report, rows, (old["goals"], cleaned["goals"]), command.strip()))
    any_rule = report["removed"]["any rule"]
    print("removed by any rule: " + ", ".join(f"{p} {x['rows']}/{x['of']}" for p, x in any_rule.items())
          + "; left out of the cleaned evaluation: " + ", ".join(f"{k} {len(v)}" for k, v in report["left_out"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
