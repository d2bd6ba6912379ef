#!/usr/bin/env python3
"""Run every reference solution of the seed test sets through the sandbox.

Reports the pass rate and the failure statuses per language (and lists the failures), and
writes results/seed_references.json plus a per-row outcome parquet under results/, and
results/env/seed_references.json: the R and Julia versions (and packages, machine) that ran them.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import pandas as pd

from rarelang.manifest import environment
from rarelang.params import load_params
from rarelang.sandbox import SandboxPool
from rarelang.seed import seed_jobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", default="r,julia")
    ap.add_argument("--split", default="testset")
    ap.add_argument("--limit", type=int, default=None, help="first N rows only")
    ap.add_argument("-o", "--output", default="results/seed_references.json")
    ap.add_argument("--environment", default="results/env/seed_references.json",
                    help="where to record the interpreters and packages that ran the references")
    args = ap.parse_args()
    report, rows = {}, []
    params = load_params()        # once: the pool and the environment record read the same params
    with SandboxPool.from_params(params) as pool:
        for lang in [x.strip() for x in args.langs.split(",") if x.strip()]:
            jobs = seed_jobs(lang, args.split, limit=args.limit)
            t0 = time.perf_counter()
            outs = pool.run_all(jobs, progress=True, desc=f"{lang} {args.split}")
            seconds = time.perf_counter() - t0
            counts = collections.Counter(o.status.value for o in outs)
            failures = [{"task_id": o.id, "status": o.status.value, "message": o.message[:300]}
                        for o in outs if not o.passed]
            report[lang] = {"split": args.split, "rows": len(outs), "passed": counts.get("passed", 0),
                            "pass_rate": round(counts.get("passed", 0) / max(1, len(outs)), 4),
                            "statuses": dict(sorted(counts.items())), "seconds": round(seconds, 1),
                            "failures": failures}
            rows += [{"lang": lang, **{k: v for k, v in o.to_dict().items() if k not in ("stdout", "stderr")}}
                     for o in outs]
            print(f"{lang}: {report[lang]['passed']}/{len(outs)} passed ({report[lang]['pass_rate']:.2%}); "
                  f"{dict(counts)} in {seconds:.0f}s", file=sys.stderr)
            for f in failures:
                print(f"  {f['task_id']}: {f['status']}: {f['message'][:160]!r}", file=sys.stderr)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    pd.DataFrame(rows).to_parquet(out.with_suffix(".parquet"), index=False)
    env = Path(args.environment)
    env.parent.mkdir(parents=True, exist_ok=True)
    env.write_text(json.dumps(environment(params), indent=2) + "\n")
    print(f"wrote {out}, {out.with_suffix('.parquet')} and {env}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
