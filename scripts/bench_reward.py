#!/usr/bin/env python3
"""Benchmark the execution reward the way a GRPO step pays it: batches of completions (default
64 = 8 prompts × 8 generations) scored by the sandbox pool, seconds per batch.

Completions come from an evaluation's completions parquet (columns task_id, lang, program,
suite); tests from the held-out split (`--tests`, by task_id). Each run starts a warm pool (its
start-up is not timed), then scores `--batches` random batches; `--set KEY=VALUE` overrides a
sandbox setting (e.g. spare_workers=0 for the behaviour before warm spares). Adds one record
per run to results/bench/reward.json (a record with the same --label is replaced).

    python scripts/bench_reward.py --lang julia --label spare-1 --set spare_workers=1
"""

import datetime
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import setup, stage_parser
from rarelang.sandbox import Job, SandboxPool
from rarelang.train.bench import append_record


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--lang", required=True, choices=["julia", "r"])
    ap.add_argument("--completions", default=None,
                    help="default: results/headline/<lang>/eval/completions_base.parquet")
    ap.add_argument("--tests", default="data/processed/test.parquet", help="held-out split with the tests")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override sandbox.KEY")
    ap.add_argument("-o", "--output", default="results/bench/reward.json")
    args = ap.parse_args()
    params, repo = setup(args)
    import yaml
    comp = Path(args.completions or f"results/headline/{args.lang}/eval/completions_base.parquet")
    df = pd.read_parquet(comp if comp.is_absolute() else repo / comp)
    tests_path = Path(args.tests) if Path(args.tests).is_absolute() else repo / args.tests
    if not tests_path.exists():
        ap.error(f"{tests_path} not found (the held-out split: `dvc repro split`, or .gpu/data/test.parquet "
                 "after `make device-stage`)")
    tests = pd.read_parquet(tests_path)
    tests = dict(zip(tests.loc[tests.lang == args.lang, "task_id"], tests.loc[tests.lang == args.lang, "tests"]))
    df = df[(df.lang == args.lang) & (df.suite == "heldout") & df.task_id.isin(tests) & (df.program.str.len() > 0)]
    if len(df) < args.batch:
        ap.error(f"only {len(df)} usable held-out {args.lang} completions in {comp}")
    overrides = {}
    for item in args.set:
        k, v = item.split("=", 1)
        overrides[k.strip()] = yaml.safe_load(v)
    rng = np.random.default_rng(args.seed)
    batches = [df.iloc[rng.choice(len(df), args.batch, replace=False)] for _ in range(args.batches)]
    seconds, statuses = [], {}
    with SandboxPool.from_params(params, **overrides) as pool:
        pool.warm_up([args.lang])
        slots = pool._slots[args.lang]
        for f in getattr(slots, "spares", []):     # (a harness before warm spares has none)
            f.result(timeout=300)
        for b in batches:
            jobs = [Job(args.lang, r.program, tests[r.task_id], id=str(i)) for i, r in enumerate(b.itertuples())]
            t0 = time.perf_counter()
            outs = pool.run_all(jobs)
            seconds.append(time.perf_counter() - t0)
            for o in outs:
                statuses[o.status.value] = statuses.get(o.status.value, 0) + 1
        spares_used = getattr(slots, "spares_used", None)
        workers = pool.cfg.n_workers
    rec = {"label": args.label, "lang": args.lang, "batch": args.batch, "batches": args.batches,
           "workers": workers, "spare_workers": getattr(pool.cfg, "spare_workers", 0),
           "median_s": round(statistics.median(seconds), 3), "mean_s": round(statistics.mean(seconds), 3),
           "max_s": round(max(seconds), 3), "per_batch_s": [round(s, 3) for s in seconds],
           "statuses": dict(sorted(statuses.items())), "spares_used": spares_used,
           "cores": os.cpu_count(), "completions": str(comp), "date": datetime.date.today().isoformat(),
           "command": "python scripts/bench_reward.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])}
    append_record(repo / args.output if not Path(args.output).is_absolute() else Path(args.output), rec)
    print(json.dumps({k: rec[k] for k in ("label", "median_s", "mean_s", "max_s", "statuses", "spares_used")}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
