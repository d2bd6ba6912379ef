"""The cells of a plan, read from the committed answers: for every test (a run at one checkpoint) and every
(suite, protocol, language) both it and its base answered, the per-problem pass@k of both models, their
difference, its unadjusted bootstrap CI and the sign test (rarelang.evaluate.compare does the pairing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..evaluate.compare import cell_parts, paired_difference, paired_problems, suite_name
from .plan import Plan, Test

# what the pairing reads of a completions frame (the prompt: to leave out an answer asked in another language)
COLUMNS = ["model", "suite", "protocol", "setting", "lang", "task_id", "sample", "passed", "prompt"]


@dataclass
class Cell:
    test: Test
    suite: str                  # heldout | humaneval | mbpp
    protocol: str               # chat | completion
    language: str
    setting: str
    per_problem: pd.Series      # trained - base pass@k per task id
    base: float
    trained: float
    ci: tuple[float, float]     # unadjusted percentile CI (paired_difference, plan.raw_ci_draws)
    better: int
    worse: int
    sign_p: float

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.test.label, self.suite, self.protocol, self.language)

    @property
    def universe(self) -> tuple[str, str]:
        """The problems the cell is drawn from: cells of one (suite, language) share them, whatever the protocol
        or the base."""
        return (self.suite, self.language)

    @property
    def diff(self) -> float:
        return float(self.per_problem.mean())


Exclude = dict[tuple[str, str], set[str]]         # (suite, language) → task ids left out (e.g. a cleaned set)


def read_answers(paths: tuple[str, ...] | list[str], root: Path, model: str, exclude: Exclude | None = None
                 ) -> pd.DataFrame:
    """The completions frames of one model, concatenated, with only what the pairing needs (without the problems
    ``exclude`` names)."""
    frames = []
    for p in paths:
        f = root / p
        if not f.is_file():
            raise FileNotFoundError(f"{p}: no such completions file (the plan names it)")
        have = set(_columns(f))
        df = pd.read_parquet(f, columns=[c for c in COLUMNS if c in have])
        if exclude:
            gone = [(suite_name(s), lang) in exclude and t in exclude[(suite_name(s), lang)]
                    for s, lang, t in zip(df["suite"], df["lang"], df["task_id"])]
            df = df[~np.array(gone, dtype=bool)]
        frames.append(df.assign(model=model))
    return pd.concat(frames, ignore_index=True)


def _columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq
    return pq.read_schema(path).names


def test_cells(test: Test, base: pd.DataFrame, trained: pd.DataFrame, *, k: int, draws: int,
               seed: int) -> list[Cell]:
    """Every cell of one test, in paired_difference's order."""
    report = paired_difference(base, trained, k=k, iters=draws, seed=seed)
    both, _wrong = paired_problems(base, trained, k)
    cells = []
    for key, d in report.items():
        suite, protocol, lang = cell_parts(key)
        full_suite, setting, _ = key.split("/")
        g = both.xs((full_suite, setting, lang), level=["suite", "setting", "lang"])
        per = (g["other"] - g["base"]).rename("diff")
        assert len(per) == d["problems"] and np.isclose(per.mean(), d["difference"])
        cells.append(Cell(test, suite, protocol, lang, setting, per, d[f"base_pass@{k}"], d[f"other_pass@{k}"],
                          tuple(d["difference_ci95"]), d["better"], d["worse"], d["sign_test_p"]))
    return cells


def plan_cells(plan: Plan, root: Path, progress: Any = None, exclude: Exclude | None = None) -> list[Cell]:
    """Every cell of every test of the plan, from the answers it names (each base read once), without the problems
    ``exclude`` names."""
    bases: dict[str, pd.DataFrame] = {}
    cells: list[Cell] = []
    for test in plan.tests:
        if test.base not in bases:
            bases[test.base] = read_answers(plan.bases[test.base], root, "base", exclude)
        trained = read_answers(test.trained, root, "trained", exclude)
        cells += test_cells(test, bases[test.base], trained, k=plan.k, draws=plan.raw_ci_draws,
                            seed=plan.correction.seed)
        if progress is not None:
            progress(test)
    keys = [c.key for c in cells]
    if len(set(keys)) < len(keys):
        raise ValueError("a cell appears twice: two answer files of one test cover the same suite and language")
    return cells
