"""The original work beside ours: its base and GRPO generations (../shared/seed-data/results: Llama-3.2-3B-Instruct
before and after its GRPO LoRA, one sample per task at T = 0.8) scored by our sandbox, on the held-out problems
neither side trained on — our pinned held-out problems (never in our training split) that the original work scored
and did not train on (julia_trainset for Julia, r_dataset for R) — and each system's gain over its own base there.

The two sides are not sampled alike: ours are pass@1 estimated from n = 20 samples per problem at T = 0.2, the
original work's one sample at T = 0.8 (a per-problem 0 or 1: a wider interval, and a lower pass rate at the higher
temperature for base and trained alike). Gains are compared, not pass rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluate.compare import paired_difference
from .cells import read_answers
from .plan import Plan

# the original work's files per language: its generations (GRPO, base) and the sets it trained on
ORIGINAL = {"julia": ("julia_code_output_smaller_model", "julia_code_output_smaller_model_baseline",
                      ("julia_trainset",)),
            "r": ("r_code_output_smaller_model", "r_code_output_smaller_model_baseline", ("r_dataset",))}


@dataclass
class Common:
    lang: str
    task_ids: list[str]         # held out on both sides
    pinned: int                 # our pinned held-out problems of the language
    scored: int                 # problems the original work scored
    in_their_training: int      # of the pinned ∩ scored, those it trained on (left out)


def common_problems(heldout: pd.DataFrame, seed: Path) -> dict[str, Common]:
    out = {}
    for lang, (trained, _base, trainsets) in ORIGINAL.items():
        scored = set(pd.read_parquet(seed / "results" / f"{trained}.parquet", columns=["task_id"])["task_id"])
        theirs = set().union(*(set(pd.read_parquet(seed / f"{t}.parquet", columns=["task_id"])["task_id"])
                               for t in trainsets))
        ours = set(heldout.loc[heldout["lang"] == lang, "task_id"])
        both = ours & scored
        out[lang] = Common(lang, sorted(both - theirs), len(ours), len(scored), len(both & theirs))
    return out


def their_programs(seed: Path, common: dict[str, Common]) -> pd.DataFrame:
    """The original work's programs on the common problems: model (base | trained), lang, task_id, program, their
    own tests."""
    frames = []
    for lang, (trained, base, _t) in ORIGINAL.items():
        for model, name in (("trained", trained), ("base", base)):
            df = pd.read_parquet(seed / "results" / f"{name}.parquet")
            df = df[df["task_id"].isin(common[lang].task_ids)]
            frames.append(pd.DataFrame({"model": model, "lang": lang, "task_id": df["task_id"].to_numpy(),
                                        "program": df[f"{lang}_code"].fillna("").to_numpy(),
                                        "their_tests": df[f"{lang}_test"].to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def score(programs: pd.DataFrame, heldout: pd.DataFrame, pool, timeout_s: float | None,
          progress: bool = True) -> pd.DataFrame:
    """Every program run against our held-out tests of its problem and against the original work's own tests."""
    from ..sandbox import Job
    tests = {(r.lang, r.task_id): r.tests for r in heldout.itertuples(index=False)}
    jobs = []
    for i, r in enumerate(programs.itertuples(index=False)):
        jobs.append(Job(r.lang, r.program, tests[(r.lang, r.task_id)], id=f"ours-{i}", timeout_s=timeout_s))
        jobs.append(Job(r.lang, r.program, r.their_tests, id=f"theirs-{i}", timeout_s=timeout_s))
    outs = pool.run_all(jobs, progress=progress, desc="original work")
    df = programs.drop(columns=["their_tests"]).copy()
    df["status"] = [o.status.value for o in outs[0::2]]
    df["passed"] = [bool(o.passed) for o in outs[0::2]]
    df["status_their_tests"] = [o.status.value for o in outs[1::2]]
    df["passed_their_tests"] = [bool(o.passed) for o in outs[1::2]]
    return df


def _frame(df: pd.DataFrame, setting: str) -> pd.DataFrame:
    return pd.DataFrame({"model": df["model"], "suite": "heldout", "protocol": "chat", "setting": setting,
                         "lang": df["lang"], "task_id": df["task_id"], "sample": 0, "passed": df["passed"]})


def their_gains(scored: pd.DataFrame, draws: int, seed: int, column: str = "passed") -> dict[str, dict[str, Any]]:
    """Each language's GRPO − base difference of the original work (one sample per problem at T = 0.8)."""
    df = scored.assign(passed=scored[column])
    rep = paired_difference(_frame(df[df["model"] == "base"], "t0.8"), _frame(df[df["model"] == "trained"], "t0.8"),
                            iters=draws, seed=seed)
    return {key.split("/")[-1]: _numbers(v) for key, v in rep.items()}


def our_gains(plan: Plan, root: Path, common: dict[str, Common], draws: int, seed: int) -> list[dict[str, Any]]:
    """Every test of the plan on the common held-out problems of each language it answered (n = 20, T = 0.2)."""
    keep = {lang: set(c.task_ids) for lang, c in common.items()}
    out = []
    bases: dict[str, pd.DataFrame] = {}

    def heldout(df: pd.DataFrame) -> pd.DataFrame:
        mine = np.array([t in keep.get(lang, ()) for lang, t in zip(df["lang"], df["task_id"])], dtype=bool)
        return df[(df["suite"] == "heldout").to_numpy() & mine]
    for t in plan.tests:
        if t.base not in bases:
            bases[t.base] = heldout(read_answers(plan.bases[t.base], root, "base"))
        trained = heldout(read_answers(t.trained, root, "trained"))
        for key, d in paired_difference(bases[t.base], trained, iters=draws, seed=seed).items():
            out.append({"run": t.label, "checkpoint": t.checkpoint, "role": t.role, "language": key.split("/")[-1],
                        **_numbers(d)})
    return out


def _numbers(d: dict[str, Any]) -> dict[str, Any]:
    return {"problems": d["problems"], "base": d["base_pass@1"], "trained": d["other_pass@1"], "diff": d["difference"],
            "ci_low": d["difference_ci95"][0], "ci_high": d["difference_ci95"][1], "better": d["better"],
            "worse": d["worse"], "sign_test_p": d["sign_test_p"]}


def markdown(summary: dict[str, Any]) -> str:
    out = ["# The original work beside ours, on the held-out problems neither trained on", "",
           f"Generated by `{summary['command']}` (rarelang.analysis.original). Problems: our pinned held-out problems "
           "that the original work scored and did not train on (it trained on `julia_trainset` / `r_dataset`; ours "
           "never trained on a held-out problem).", "", "| language | our pinned held-out | original scored | "
           "both, but in its training | compared |", "|---|---|---|---|---|"]
    for lang, c in summary["problems"].items():
        out.append(f"| {lang} | {c['pinned']} | {c['scored']} | {c['in_their_training']} | {c['compared']} |")
    out += ["", f"**Sampling differs.** {summary['sampling']}", "",
            "## Each system's gain over its own base (pass@1, paired over the same problems, 95% bootstrap CI)", "",
            "| system | model | n × T | language | problems | base | trained | difference [95% CI] | better/worse |",
            "|---|---|---|---|---|---|---|---|---|"]
    for lang, d in summary["original"].items():
        out.append(f"| original work (GRPO LoRA) | Llama-3.2-3B-Instruct | 1 × 0.8 | {lang} | {d['problems']} | "
                   f"{d['base']:.3f} | {d['trained']:.3f} | **{d['diff']:+.3f}** [{d['ci_low']:+.3f}, "
                   f"{d['ci_high']:+.3f}] | {d['better']}/{d['worse']} |")
    for r in summary["ours"]:
        out.append(f"| ours: {r['run']} (checkpoint {r['checkpoint']}{', a lever' if r['role'] != 'main' else ''}) | "
                   f"{r['student']} | 20 × 0.2 | {r['language']} | {r['problems']} | {r['base']:.3f} | "
                   f"{r['trained']:.3f} | **{r['diff']:+.3f}** [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | "
                   f"{r['better']}/{r['worse']} |")
    ag = summary["their_tests_agreement"]
    out += ["", f"The original work's programs were run against our held-out tests of each problem; against its own "
                f"tests (the files' `*_test` column) {ag['same']} of {ag['programs']} verdicts agree "
                f"(original work's gain with its own tests: " + ", ".join(
                    f"{lang} {d['diff']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
                    for lang, d in summary["original_their_tests"].items()) + ")."]
    return "\n".join(out) + "\n"
