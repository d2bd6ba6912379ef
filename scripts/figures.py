#!/usr/bin/env python3
"""Every figure (PDF + PNG, paper/figures/) and LaTeX table (paper/tables/) from results/.

  --only pipeline   the embedded default's (dvc.yaml's `figures` stage): the validation funnel, the GRPO
                    reward and status curves, pass@k base vs trained with 95% CIs, the error breakdown
                    → paper/{figures,tables}/pipeline/
  --only headline   the headline experiments' (pipelines/headline/dvc.yaml's `figures` stage): the first
                    headline's per-language runs and the v2 runs → paper/{figures,tables}/headline{,_v2}/
  (neither: both; `make figures`). Missing inputs are skipped with a note."""

import sys
from pathlib import Path

from _common import setup, stage_parser
from rarelang.figures import make_all, make_headline, make_headline_v2


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--results", default="results")
    ap.add_argument("--figures", default="paper/figures")
    ap.add_argument("--tables", default="paper/tables")
    ap.add_argument("--run", default=None, help="training run name (default: train.run_name)")
    ap.add_argument("--only", choices=["pipeline", "headline"], default=None, help="one half (default: both)")
    ap.add_argument("--headline", default="results/headline",
                    help="also draw the GPU headline runs (one sub-directory per run, see docs/GPU.md) into "
                         "<figures>/headline, <tables>/headline when the directory exists")
    args = ap.parse_args()
    params, repo = setup(args)
    run = args.run or (params.get("train") or {}).get("run_name") or "grpo"
    jobs = []
    if args.only in (None, "pipeline"):
        jobs.append((repo / args.results, lambda: make_all(repo / args.results, repo / args.figures / "pipeline",
                                                           repo / args.tables / "pipeline", run=run)))
    if args.only in (None, "headline") and args.headline and (repo / args.headline).is_dir():
        h = repo / args.headline
        jobs.append((h, lambda: make_headline(h, repo / args.figures / "headline", repo / args.tables / "headline")))
        jobs.append((h, lambda: make_headline_v2(h, repo / args.figures / "headline_v2",
                                                 repo / args.tables / "headline_v2")))
    for results, make in jobs:
        made = make()
        print(f"figures from {results}: {len(made['figures'])} file(s), tables: {made['tables']}", file=sys.stderr)
        for s in made["skipped"]:
            print(f"  skipped (no input yet): {s}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
