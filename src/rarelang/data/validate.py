"""Stage 3: every (solution, tests) through the sandbox; keep ``passed``; the yield funnel."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..rewards import RewardTable
from ..sandbox import Job, SandboxPool
from ..schema import OUTCOMES, frame_from_records

FUNNEL_STEPS = ("sampled", "parsed", "syntax_ok", "runs", "passes")


def validate(translations: pd.DataFrame, pool: SandboxPool, timeout_s: float | None = None,
             progress: bool = True, rewards: RewardTable | None = None) -> pd.DataFrame:
    rewards = rewards or RewardTable()
    jobs = [Job(r.lang, r.solution, r.tests, id=f"{r.task_id}\t{r.lang}", timeout_s=timeout_s)
            for r in translations.itertuples(index=False)]
    outs = pool.run_all(jobs, progress=progress, desc="validate")
    rows = []
    for r, o in zip(translations.itertuples(index=False), outs):
        rows.append({"task_id": r.task_id, "lang": r.lang, "status": o.status.value,
                     "tests_passed": o.tests_passed, "tests_total": o.tests_total, "reward": rewards.score(o),
                     "duration_s": o.duration_s, "message": o.message[:500]})
    return frame_from_records(rows, OUTCOMES)


def funnel(sampled: dict[str, int], outcomes: pd.DataFrame) -> dict[str, Any]:
    """sampled → parsed → syntax_ok → runs → passes, per language, with every status counted."""
    report: dict[str, Any] = {}
    for lang, n in sorted(sampled.items()):
        o = outcomes[outcomes["lang"] == lang]
        statuses = o["status"].value_counts().to_dict()
        parsed = len(o)
        syntax_ok = parsed - statuses.get("syntax_error", 0) - statuses.get("sandbox_error", 0)
        runs = statuses.get("passed", 0) + statuses.get("tests_failed", 0)
        passes = statuses.get("passed", 0)
        report[lang] = {"sampled": int(n), "parsed": int(parsed), "syntax_ok": int(syntax_ok), "runs": int(runs),
                        "passes": int(passes), "yield": round(passes / n, 4) if n else 0.0,
                        "pass_rate_of_parsed": round(passes / parsed, 4) if parsed else 0.0,
                        "statuses": {k: int(v) for k, v in sorted(statuses.items())}}
    tot = {k: sum(report[lang][k] for lang in report) for k in FUNNEL_STEPS}
    tot["yield"] = round(tot["passes"] / tot["sampled"], 4) if tot["sampled"] else 0.0
    report["all"] = tot
    return report
