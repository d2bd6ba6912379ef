#!/usr/bin/env python3
"""Re-score stored completions with today's problems: each completion's program is rebuilt from
the suite as it loads now (MultiPL-E prompts with their documented repairs, see
rarelang/evaluate/repair.py) and run in the sandbox again. The completions themselves (what the
model wrote) are not touched. Prints old vs new pass@1 per model/suite/lang and writes the new
frame and its metrics.

    python scripts/rescore.py results/headline/julia/eval/completions_base.parquet \\
        results/headline/julia/eval/completions_trained.parquet --suites humaneval-jl \\
        -o results/headline/julia/eval/rescored

With --only-changed, only rows whose program today's rule builds differently from the stored one run
again, with the new program (e.g. after the completion protocol learned to end an answer at a control
token written as text, `<|fim_prefix|>`); output as with --only-status:

    python scripts/rescore.py results/headline/r-1.5b/eval/trained-humaneval-r/completions.parquet \
        --only-changed -o /tmp/rescored

With --only-status (e.g. sandbox_error: jobs the harness could not judge, such as a worker that
could not start), only rows with those statuses run again, each with the program it ran before;
every other row keeps its verdict. Each input is written to OUT/<its folder name>/
(completions.parquet, metrics.json recomputed as scripts/evaluate.py computes it, rescore.json: what
changed against the metrics beside the input, completions-X.parquet's being metrics-X.json).

    python scripts/rescore.py results/headline/unified-1.5b/eval/base-multipl-e/completions.parquet \
        --only-status sandbox_error -o /tmp/rescored
"""

import json
import sys
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser, write_json
from rarelang.evaluate.compare import paired_report
from rarelang.evaluate.programs import program_for
from rarelang.evaluate.run import frame_metrics, metric_key, summarize
from rarelang.evaluate.suites import MULTIPLE_SUITES, multipl_e
from rarelang.params import default
from rarelang.sandbox import Job, SandboxPool, Status


def metrics_of(df: pd.DataFrame, ks: list[int], iters: int, seed: int, old: dict) -> dict:
    """metrics.json as scripts/evaluate.py writes it, one entry per model/suite/protocol/setting/lang
    (``repaired_prompts`` carried over from the old file: it depends on the prompts, not the verdicts)."""
    metrics = {}
    for _, frame in df.groupby(["model", "suite", "protocol", "setting"], sort=False):
        for _lang, key, entry in frame_metrics(frame, ks, iters, seed):
            metrics[key] = entry
            if "repaired_prompts" in old.get(key, {}):
                entry["repaired_prompts"] = old[key]["repaired_prompts"]
    return metrics


def recomputed_metrics(df: pd.DataFrame, ep: dict, old: dict) -> dict:
    """metrics_of with the settings the stored metrics were made with: the k's of ``old``'s pass@k entries, the
    params' bootstrap iterations and seed (scripts/evaluate.py's)."""
    iters, seed = int(ep.get("bootstrap", 2000)), int(ep.get("seed", default("evaluate.seed", 0)))
    ks = sorted({int(k.split("@")[1]) for m in old.values() for k in m if k.startswith("pass@") and "_" not in k}) or [1]
    return metrics_of(df, ks, iters, seed, old)


def rebuilt_programs(df: pd.DataFrame, problems: dict) -> pd.Series:
    """Each MultiPL-E row's program as today's rule builds it from the stored completion (program_for; "" for
    an answer with no usable code); rows of other suites keep their stored program."""
    chat = df["protocol"].eq("chat") if "protocol" in df else pd.Series(True, index=df.index)
    stored = df["program"] if "program" in df else pd.Series("", index=df.index)
    return pd.Series([program_for(problems[(s, t)], c, bool(ch)) or "" if (s, t) in problems else old
                      for s, t, c, ch, old in zip(df["suite"], df["task_id"], df["completion"], chat, stored)],
                     index=df.index)


def retry(args, params: dict, ep: dict, mdir: Path, out: Path, statuses: set[str] | None,
          only_changed: bool = False) -> int:
    """Re-run the rows with these statuses (their stored programs), or (only_changed) the rows whose program
    today's rule builds differently (with the new program), file by file; report what changed."""
    frames = {Path(p): pd.read_parquet(p) for p in args.completions}
    names = [p.parent.name for p in frames]
    if len(set(names)) < len(names):
        sys.exit(f"inputs must lie in folders of different names (outputs go to {out}/<folder>/): {names}")
    if only_changed:
        if any("program" not in df for df in frames.values()):
            sys.exit("--only-changed compares with the stored programs: these completions have no program column")
        suites = {s for df in frames.values() for s in df["suite"].unique() if s in MULTIPLE_SUITES}
        problems = {(s, pr.task_id): pr for s in suites for pr in multipl_e(s, mdir)}
        rebuilt = {p: rebuilt_programs(df, problems) for p, df in frames.items()}
        todo = {p: df.index[(rebuilt[p] != df["program"]) & (rebuilt[p] != "")] for p, df in frames.items()}
        for p, df in frames.items():
            df.loc[todo[p], "program"] = rebuilt[p][todo[p]]
        what = "whose program changed"
    else:
        todo = {p: df.index[df["status"].isin(statuses)] for p, df in frames.items()}
        suites = {s for p, df in frames.items() for s in df.loc[todo[p], "suite"]}
        problems = {(s, pr.task_id): pr for s in suites if s in MULTIPLE_SUITES for pr in multipl_e(s, mdir)}
        what = f"with status {sorted(statuses)}"
    jobs, where = [], []
    for p, df in frames.items():
        for i in todo[p]:
            r = df.loc[i]
            if (r["suite"], r["task_id"]) not in problems:
                sys.exit(f"{p}: row {i} is from {r['suite']}: only MultiPL-E rows can be re-run here")
            jobs.append(Job(r["lang"], r["program"], problems[(r["suite"], r["task_id"])].tests,
                            id=f"{len(jobs)}", timeout_s=ep.get("timeout_s")))
            where.append((p, i))
    print(f"re-running {len(jobs)} row(s) {what} of {sum(map(len, frames.values()))}", file=sys.stderr)
    with SandboxPool.from_params(params) as pool:
        outs = pool.run_all(jobs, progress=not args.quiet, desc="re-run")
    before = {p: df.loc[todo[p], "status"].value_counts() for p, df in frames.items()}
    # duration_s too: a re-run row kept the device's time (a re-scored timeout recorded 0.01 s)
    cols = ["status", "passed", "tests_passed", "tests_total", "message", "duration_s"]
    for (p, i), o in zip(where, outs):
        frames[p].loc[i, cols] = [o.status.value, o.passed, o.tests_passed, o.tests_total, o.message[:300],
                                  o.duration_s]
    for p, df in frames.items():
        # the metrics written with this frame: completions.parquet → metrics.json, completions-X → metrics-X
        mpath = p.parent / p.name.replace("completions", "metrics", 1).replace(".parquet", ".json")
        old = json.loads(mpath.read_text()) if mpath.exists() else {}
        new = recomputed_metrics(df, ep, old)
        rows = df.loc[todo[p]]
        touched = {metric_key(r.model, r.suite, r.protocol, r.setting, r.lang) for r in rows.itertuples()}
        # a check of the recomputation itself: entries with no re-run row come out as before
        reproduce = all(new[k] == old[k] for k in new if k in old and k not in touched)
        dest = out / p.parent.name
        dest.mkdir(parents=True, exist_ok=True)
        df.to_parquet(dest / "completions.parquet", index=False)
        write_json(dest / "metrics.json", new)
        write_json(dest / "rescore.json", {
            "command": "python scripts/rescore.py " + " ".join(sys.argv[1:]), "input": str(p),
            "re_run": "rows whose program changed" if only_changed else f"statuses {sorted(statuses)}",
            "rows_re_run": int(len(rows)),
            "statuses_before": {k: int(v) for k, v in before[p].items()},
            "statuses_after": {k: int(v) for k, v in rows["status"].value_counts().items()},
            "untouched_entries_reproduce": reproduce,
            "pass@1": {k: {"before": old.get(k, {}).get("pass@1"), "after": v.get("pass@1")}
                       for k, v in new.items() if old.get(k, {}).get("pass@1") != v.get("pass@1")}})
        print(f"{p}: {len(rows)} row(s) re-run → {dict(rows['status'].value_counts().astype(int).items())}; "
              f"untouched entries reproduce: {reproduce}", file=sys.stderr)
    return 0


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("completions", nargs="+")
    ap.add_argument("--suites", default=",".join(MULTIPLE_SUITES), help="MultiPL-E suites to re-score")
    ap.add_argument("-o", "--out-dir", required=True)
    ap.add_argument("--only-status", default=None, metavar="STATUS[,STATUS]",
                    help="re-run only rows with these statuses (their stored programs); keep the rest")
    ap.add_argument("--only-changed", action="store_true",
                    help="re-run only rows whose program today's rule (rarelang.evaluate.programs) builds "
                         "differently from the stored one, with the new program; keep the rest")
    args = ap.parse_args()
    params, repo = setup(args)
    ep = params.get("evaluate") or {}
    mdir = Path(ep.get("multipl_e_dir", "../shared/multipl-e"))
    mdir = mdir if mdir.is_absolute() else repo / mdir
    out = Path(args.out_dir)
    out = out if out.is_absolute() else repo / out
    if args.only_changed:
        if args.only_status:
            ap.error("--only-changed and --only-status: choose one")
        return retry(args, params, ep, mdir, out, None, only_changed=True)
    if args.only_status:
        statuses = set(args.only_status.split(","))
        unknown = statuses - {s.value for s in Status}
        if unknown:
            ap.error(f"unknown status(es) {sorted(unknown)}; valid: {[s.value for s in Status]}")
        return retry(args, params, ep, mdir, out, statuses)
    df = pd.concat([pd.read_parquet(p) for p in args.completions], ignore_index=True)
    suites = [s for s in args.suites.split(",") if s in set(df["suite"])]
    df = df[df["suite"].isin(suites)].reset_index(drop=True)
    if df.empty:
        ap.error(f"no rows of {args.suites} in the given completions")
    problems = {(s, p.task_id): p for s in suites for p in multipl_e(s, mdir)}
    new = df.copy()
    new["program"] = rebuilt_programs(df, problems)
    new["repairs"] = [",".join(problems[(s, t)].repairs) for s, t in zip(df["suite"], df["task_id"])]
    jobs = [Job(r.lang, r.program, problems[(r.suite, r.task_id)].tests, id=str(i), timeout_s=ep.get("timeout_s"))
            for i, r in enumerate(new.itertuples()) if r.program]
    idx = [i for i, r in enumerate(new.itertuples()) if r.program]
    with SandboxPool.from_params(params) as pool:
        outs = pool.run_all(jobs, progress=not args.quiet, desc="re-score")
    for i, o in zip(idx, outs):
        new.loc[i, ["status", "passed", "tests_passed", "tests_total", "message", "duration_s"]] = [
            o.status.value, o.passed, o.tests_passed, o.tests_total, o.message[:300], o.duration_s]
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
