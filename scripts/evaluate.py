#!/usr/bin/env python3
"""DVC stage `evaluate`: pass@k (unbiased estimator, bootstrap 95% CIs) for every model in
params.yaml `evaluate.models` (base, trained adapter, replayed outputs…) on every suite (held-out
split, MultiPL-E HumanEval/MBPP for R and Julia), with per-status breakdowns.

Writes results/eval/metrics.json (DVC metrics), results/eval/paired.json (every model against
`base` on the same problems: the difference of pass@1 with a bootstrap CI over problems) and
results/eval/completions.parquet (every completion, the program run, and its outcome), and
results/eval/environment.json: the R and Julia versions (and packages, machine) that judged them.
"""

import sys
from pathlib import Path

from _common import setup, stage_parser, write_json
import pandas as pd

from rarelang.evaluate.compare import describe, paired_report
from rarelang.evaluate.run import metrics_from_partial, run_evaluation
from rarelang.manifest import environment


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("-o", "--out-dir", default="results/eval")
    ap.add_argument("--models", default=None, help="comma-separated subset of evaluate.models")
    ap.add_argument("--from-partial", action="store_true",
                    help="generate nothing: finish an evaluation that was cut off from what it left in "
                         "OUT_DIR/completions.partial.parquet (every suite × protocol it completed)")
    args = ap.parse_args()
    params, repo = setup(args)
    out = Path(args.out_dir)
    out = out if out.is_absolute() else repo / out
    if args.from_partial:
        metrics = metrics_from_partial(params, repo, out)
    else:
        metrics = run_evaluation(params, repo, out_dir=out, progress=not args.quiet,
                                 only_models=args.models.split(",") if args.models else None)
    write_json(out / "metrics.json", metrics)
    ep = params.get("evaluate") or {}
    paired = paired_report(pd.read_parquet(out / "completions.parquet"), iters=int(ep.get("bootstrap", 2000)),
                           seed=int(ep.get("seed", 0)))
    write_json(out / "paired.json", paired)
    write_json(out / "environment.json", environment(params))
    for key, m in metrics.items():
        ks = [k for k in m if k.startswith("pass@") and not k.endswith("ci95")]
        print(f"{key}: " + ", ".join(f"{k}={m[k]:.3f} [{m[k + '_ci95'][0]:.3f}, {m[k + '_ci95'][1]:.3f}]"
                                      for k in ks) + f" ({m['problems']} problems)", file=sys.stderr)
    for key, d in paired.items():
        print(f"{key}: {describe(d)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
