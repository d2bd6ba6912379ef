#!/usr/bin/env python3
"""Benchmark the sandbox: warm workers vs a fresh process per job, on seed-data jobs.

Writes results/bench/sandbox.json. Targets (2 cores, same jobs): warm ≥ 15× (R) and ≥ 40×
(Julia) faster than fresh.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rarelang.params import load_params
from rarelang.sandbox.bench import bench_language, machine_info
from rarelang.sandbox.config import SandboxConfig
from rarelang.seed import seed_jobs

TARGETS = {"r": 15.0, "julia": 40.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=60, help="seed test-set jobs per language (default 60)")
    ap.add_argument("--repeats", type=int, default=5, help="warm passes over the same jobs (default 5)")
    ap.add_argument("--langs", default="r,julia", help="comma-separated languages")
    ap.add_argument("-o", "--output", default="results/bench/sandbox.json")
    ap.add_argument("--workers", type=int, default=None, help="workers per language (default: cores)")
    args = ap.parse_args()

    cfg = SandboxConfig.from_params(load_params(), workers=args.workers)
    report = {"machine": machine_info(cfg), "targets_speedup": TARGETS, "languages": {}}
    for lang in [x.strip() for x in args.langs.split(",") if x.strip()]:
        jobs = seed_jobs(lang, limit=args.jobs)
        res = bench_language(cfg, lang, jobs, warm_repeats=args.repeats)
        res["target_speedup"] = TARGETS.get(lang)
        res["target_met"] = res["speedup"] >= TARGETS.get(lang, 0)
        report["languages"][lang] = res
        print(f"{lang}: fresh process per job {res['fresh_file']['jobs_per_s']} jobs/s "
              f"(our harness fresh: {res['fresh_harness']['jobs_per_s']}), warm {res['warm']['jobs_per_s']} jobs/s "
              f"→ {res['speedup']}× (target {TARGETS.get(lang)}×; {res['speedup_vs_fresh_harness']}× vs "
              "fresh harness)", file=sys.stderr)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
