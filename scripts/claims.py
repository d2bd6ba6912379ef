#!/usr/bin/env python3
"""The declared analysis: every cell of a plan (configs/analysis/*.yaml) from the committed answers, its
multiplicity-adjusted bound (a simultaneous max-T bootstrap over the shared base answers, >= 20,000 draws), the
verdict per cell and per goal by the plan's rule, and the pooled effect across runs → results/headline/claims.json.

    python scripts/claims.py                                   # configs/analysis/headline-v2.yaml → its output
    python scripts/claims.py --check                           # recompute; exit 1 if the committed file differs
    python scripts/claims.py --plan configs/analysis/X.yaml -o /tmp/claims.json

Nothing in claims.json is typed by hand: --check (and tests/test_claims.py) recomputes it and names every field
that differs.
"""

import argparse
import json
import sys
from pathlib import Path

from rarelang.analysis.claims import build_claims, compare_claims, consistent, write_claims
from rarelang.analysis.plan import plan_or_usage_error
from rarelang.params import repo_root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="configs/analysis/headline-v2.yaml", help="the declared analysis plan")
    ap.add_argument("-o", "--output", default=None, help="where to write (default: the plan's output)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing: recompute and compare with the file; exit 1 on any difference")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args()
    root = repo_root()
    plan = plan_or_usage_error(ap, root, args.plan)
    out = Path(args.output or plan.output)
    out = out if out.is_absolute() else root / out
    command = "python scripts/claims.py" + (f" --plan {args.plan}" if args.plan != ap.get_default("plan") else "") \
        + (f" -o {args.output}" if args.output else "")

    def progress(test):
        if not args.quiet:
            print(f"  read {test.label} (checkpoint {test.checkpoint})", file=sys.stderr, flush=True)
    try:
        claims = build_claims(plan, root, command, progress)
    except FileNotFoundError as e:
        sys.exit(f"claims: {e}")
    if args.check:
        if not out.is_file():
            sys.exit(f"claims: {out} does not exist (run without --check to write it)")
        committed = json.loads(out.read_text())
        problems = consistent(committed) + compare_claims(committed, claims)
        for p in problems[:50]:
            print(p)
        print(f"{out}: " + (f"{len(problems)} difference(s)" if problems else "recomputed, identical"))
        return 1 if problems else 0
    write_claims(claims, out)
    fam = ", ".join(f"{k}: {v['cells']} cells, c = {v['critical_value']:.3f}"
                    for k, v in claims["correction"]["families"].items())
    print(f"{out}: {len(claims['cells'])} cells ({fam}); verdicts "
          + ", ".join(f"{v} {sum(r['verdict'] == v for r in claims['cells'])}" for v in ("gain", "loss", "inconclusive"))
          + "; goals " + ", ".join(f"{g['run']}/{g['language']} {g['verdict']}" for g in claims["goals"]
                                   if g["verdict"] != "not tested"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
