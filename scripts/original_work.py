#!/usr/bin/env python3
"""The original work beside ours (rarelang.analysis.original): its base and GRPO generations
(../shared/seed-data/results, Llama-3.2-3B-Instruct, one sample per task at T = 0.8) scored by our sandbox on the
held-out problems neither side trained on, and each system's gain over its own base there, with CIs.

    python scripts/original_work.py      # the pinned held-out problems of data/seed-v2/processed → results/headline/original-work/

Writes scored.parquet (every program's verdict, with our tests and with the original work's own), summary.json and
README.md.
"""

import json
import sys
from pathlib import Path

from _common import setup, stage_parser
from rarelang.analysis.cleaned import load_parts
from rarelang.analysis.original import (common_problems, markdown, our_gains, score, their_gains, their_programs)
from rarelang.analysis.originals import guard
from rarelang.analysis.plan import plan_or_usage_error


def main() -> int:
    ap = stage_parser(__doc__)
    ap.add_argument("--data", default="data/seed-v2/processed",
                    help="the headline split (`rarelang data seed-v2`; or the older staging, .gpu/data)")
    ap.add_argument("--pinned", default="results/headline/heldout.json",
                    help="the held-out problems every headline evaluation asked")
    ap.add_argument("--seed-data", default="../shared/seed-data", help="the original work's published files")
    ap.add_argument("--plan", default="configs/analysis/headline-v2.yaml")
    ap.add_argument("-o", "--out-dir", default="results/headline/original-work")
    args = ap.parse_args()
    params, repo = setup(args)
    plan = plan_or_usage_error(ap, repo, args.plan)
    seed = Path(args.seed_data)
    seed = seed if seed.is_absolute() else repo / seed
    try:
        heldout = load_parts(repo / args.data, repo / args.pinned)["test"]
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"original_work: {e}")
    common = common_problems(heldout, seed)
    programs = their_programs(seed, common)
    from rarelang.sandbox import SandboxPool
    with SandboxPool.from_params(params) as pool:
        scored = score(programs, heldout, pool, (params.get("evaluate") or {}).get("timeout_s"), not args.quiet)
    draws, rs = plan.raw_ci_draws, plan.correction.seed
    ours = our_gains(plan, repo, common, draws, rs)
    for r in ours:
        r["student"] = "Qwen2.5-Coder-" + ("1.5B" if "1.5b" in plan.test(r["run"]).base else "0.5B") + "-Instruct"
    same = int((scored["passed"] == scored["passed_their_tests"]).sum())
    summary = {
        "command": ("python scripts/original_work.py " + " ".join(sys.argv[1:])).strip(),
        "problems": {lang: {"pinned": c.pinned, "scored": c.scored, "in_their_training": c.in_their_training,
                            "compared": len(c.task_ids)} for lang, c in common.items()},
        "sampling": "ours: pass@1 estimated from n = 20 samples per problem at T = 0.2 (Qwen2.5-Coder 0.5B/1.5B "
                    "Instruct from 4-bit GGUF, LoRA GRPO); the original work: one sample per problem at T = 0.8 "
                    "(Llama-3.2-3B-Instruct, LoRA GRPO), so each problem counts 0 or 1 — a wider interval, and the "
                    "higher temperature lowers base and trained alike. Compare the gains, not the pass rates.",
        "original": their_gains(scored, draws, rs), "original_their_tests": their_gains(scored, draws, rs,
                                                                                         "passed_their_tests"),
        "ours": ours, "their_tests_agreement": {"programs": int(len(scored)), "same": same},
        "task_ids": {lang: c.task_ids for lang, c in common.items()}}
    out = repo / args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    scored.to_parquet(guard(out / "scored.parquet", repo), index=False)
    guard(out / "summary.json", repo).write_text(json.dumps(summary, indent=1) + "\n")
    guard(out / "README.md", repo).write_text(markdown(summary))
    for lang, d in summary["original"].items():
        print(f"original work {lang}: {d['base']:.3f} → {d['trained']:.3f}, {d['diff']:+.3f} "
              f"[{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] over {d['problems']} problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
