#!/usr/bin/env python3
"""Re-score stored completions with today's problems: each completion's program is rebuilt from
the suite as it loads now (MultiPL-E prompts with their documented repairs, see
rarelang/evaluate/repair.py) and run in the sandbox again. The completions themselves (what the
model wrote) are not touched. Prints old vs new pass@1 per model/suite/lang and writes the new
frame and its metrics.

    python scripts/rescore.py results/headline/julia/eval/completions_base.parquet \\
        results/headline/julia/eval/completions_trained.parquet --suites humaneval-jl \\
        -o results/headline/julia/eval/rescored
"""

import json
import sys
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser, write_json
from rarelang.evaluate.compare import paired_report
from rarelang.evaluate.programs import program_for
from rarelang.evaluate.run import summarize
from rarelang.evaluate.suites import MULTIPLE_SUITES, multipl_e
from rarelang.sandbox import Job, SandboxPool


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("completions", nargs="+")
    ap.add_argument("--suites", default=",".join(MULTIPLE_SUITES), help="MultiPL-E suites to re-score")
    ap.add_argument("-o", "--out-dir", required=True)
    args = ap.parse_args()
    params, repo = setup(args)
    ep = params.get("evaluate") or {}
    mdir = Path(ep.get("multipl_e_dir", "../shared/multipl-e"))
    mdir = mdir if mdir.is_absolute() else repo / mdir
    df = pd.concat([pd.read_parquet(p) for p in args.completions], ignore_index=True)
    suites = [s for s in args.suites.split(",") if s in set(df["suite"])]
    df = df[df["suite"].isin(suites)].reset_index(drop=True)
    if df.empty:
        ap.error(f"no rows of {args.suites} in the given completions")
    problems = {(s, p.task_id): p for s in suites for p in multipl_e(s, mdir)}
    chat = df.get("protocol", pd.Series(["chat"] * len(df))).eq("chat")
    new = df.copy()
    new["program"] = [program_for(problems[(s, t)], c, bool(ch)) or ""
                      for s, t, c, ch in zip(df["suite"], df["task_id"], df["completion"], chat)]
    new["repairs"] = [",".join(problems[(s, t)].repairs) for s, t in zip(df["suite"], df["task_id"])]
    jobs = [Job(r.lang, r.program, problems[(r.suite, r.task_id)].tests, id=str(i), timeout_s=ep.get("timeout_s"))
            for i, r in enumerate(new.itertuples()) if r.program]
    idx = [i for i, r in enumerate(new.itertuples()) if r.program]
    with SandboxPool.from_params(params) as pool:
        outs = pool.run_all(jobs, progress=not args.quiet, desc="re-score")
    for i, o in zip(idx, outs):
        new.loc[i, ["status", "passed", "tests_passed", "tests_total", "message"]] = [
            o.status.value, o.passed, o.tests_passed, o.tests_total, o.message[:300]]
    out = Path(args.out_dir)
    out = out if out.is_absolute() else repo / out
    out.mkdir(parents=True, exist_ok=True)
    new.to_parquet(out / "completions.parquet", index=False)
    report = {}
    for (model, suite, lang), g in new.groupby(["model", "suite", "lang"]):
        old = df.loc[g.index]
        rep = g[g["repairs"] != ""]
        report[f"{model}/{suite}/{lang}"] = {
            "before": summarize(old, [1], 2000, 0)["pass@1"], "after": summarize(g, [1], 2000, 0)["pass@1"],
            "repaired_problems": int(rep["task_id"].nunique()),
            "repaired_problems_passed_before": int(old.loc[rep.index, "passed"].astype(bool).groupby(old.loc[rep.index, "task_id"]).any().sum()),
            "repaired_problems_passed_after": int(rep["passed"].astype(bool).groupby(rep["task_id"]).any().sum()),
            "changed_verdicts": int((old["passed"].astype(bool) != g["passed"].astype(bool)).sum())}
    write_json(out / "rescore.json", {"command": "python scripts/rescore.py " + " ".join(sys.argv[1:]),
                                      "suites": suites, "models": report,
                                      "paired": paired_report(new, iters=2000, seed=0)})
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
