#!/usr/bin/env python3
"""results/headline/README.md from the declared plan and claims.json (rarelang.analysis.index): one row per run;
and the README's takeaway and results table (the block between its `<!-- results … -->` markers).

    python scripts/results_index.py            # write both
    python scripts/results_index.py --check    # exit 1 when a committed file is not what the inputs give
"""

import argparse
import json
import sys

from rarelang.analysis.index import readme_block, results_index, update_readme
from rarelang.analysis.plan import plan_or_usage_error
from rarelang.params import repo_root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plan", default="configs/analysis/headline-v2.yaml")
    ap.add_argument("--claims", default="results/headline/claims.json")
    ap.add_argument("-o", "--output", default="results/headline/README.md")
    ap.add_argument("--readme", default="README.md", help="the README whose results block is generated")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    root = repo_root()
    plan = plan_or_usage_error(ap, root, args.plan)
    if not (root / args.claims).exists():
        sys.exit(f"results_index: {args.claims} missing (python scripts/claims.py writes it)")
    claims = json.loads((root / args.claims).read_text())
    text = results_index(plan, claims, root / "results" / "headline", "python scripts/results_index.py")
    readme = root / args.readme
    try:
        readme_text = update_readme(readme.read_text(), readme_block(plan, claims))
    except ValueError as e:
        sys.exit(f"results_index: {e}")
    out = root / args.output
    if args.check:
        bad = [str(p.relative_to(root)) for p, t in ((out, text), (readme, readme_text)) if not p.exists() or p.read_text() != t]
        print("as generated" if not bad else f"not what the inputs give: {', '.join(bad)}")
        return 1 if bad else 0
    out.write_text(text)
    readme.write_text(readme_text)
    print(f"wrote {args.output}, the results block of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
