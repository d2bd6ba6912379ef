import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from prepass_filter import filter_rows  # noqa: E402


def test_keeps_only_problems_the_base_model_sometimes_solves():
    train = pd.DataFrame({"task_id": ["a", "b", "c", "d", "a"], "lang": ["julia"] * 4 + ["r"]})
    pre = pd.DataFrame({"task_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4 + ["a"] * 2,
                        "lang": ["julia"] * 12 + ["r"] * 2,
                        "passed": [True, False, False, False] + [False] * 4 + [True] * 4 + [True, True]})
    kept, rep = filter_rows(train, pre, {"never", "always"}, keep_unseen=False)
    assert list(zip(kept["lang"], kept["task_id"])) == [("julia", "a")]
    assert rep["julia"] == {"never": 1, "always": 1, "mixed": 1, "unseen": 1, "kept": 1}
    assert rep["r"]["always"] == 1 and rep["r"]["kept"] == 0           # languages are judged apart
    kept, _ = filter_rows(train, pre, {"always"}, keep_unseen=True)
    assert sorted(kept["task_id"]) == ["a", "b", "d"]
    with pytest.raises(ValueError):
        filter_rows(train, pre, {"sometimes"}, keep_unseen=False)


def test_a_problem_the_prepass_asked_in_another_language_counts_as_unseen():
    """Two-language pre-passes before 2026-11-25 showed some Julia problems the R prompt: their base
    pass counts say nothing about the Julia problem, so it is neither dropped nor kept as 'mixed'."""
    from rarelang.prompts import INSTRUCTION
    ask = {lang: INSTRUCTION.format(display=d, fence=lang, prompt="p") for lang, d in (("julia", "Julia"), ("r", "R"))}
    train = pd.DataFrame({"task_id": ["a", "b"], "lang": ["julia", "julia"]})
    pre = pd.DataFrame({"task_id": ["a"] * 4 + ["b"] * 4, "lang": ["julia"] * 8, "passed": [False] * 8,
                        "prompt": [ask["r"]] * 4 + [ask["julia"]] * 4})
    kept, rep = filter_rows(train, pre, {"never", "always"}, keep_unseen=True)
    assert rep["julia"] == {"never": 1, "always": 0, "mixed": 0, "unseen": 1, "kept": 1}
    assert list(kept["task_id"]) == ["a"]
