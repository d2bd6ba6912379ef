"""The original work beside ours (rarelang.analysis.original): only problems neither side trained on, its programs
run in our sandbox against our tests and its own, its gain paired over the same problems."""
import pandas as pd
import pytest

from rarelang.analysis.original import ORIGINAL, common_problems, score, their_gains, their_programs


def _seed(tmp_path):
    seed = tmp_path / "seed"
    (seed / "results").mkdir(parents=True)
    ok = "double <- function(x) 2 * x"
    for lang, (trained, base, trainsets) in ORIGINAL.items():
        ids = ["task_1", "task_2", "task_3", "task_9"]
        code = ok if lang == "r" else "double(x) = 2x"
        bad = "double <- function(x) x" if lang == "r" else "double(x) = x"
        tests = "expect_equal(double(2), 4)" if lang == "r" else "using Test\n@test double(2) == 4"
        pd.DataFrame({"task_id": ids, f"{lang}_code": [code, code, code, code], f"{lang}_test": tests}
                     ).to_parquet(seed / "results" / f"{trained}.parquet")
        pd.DataFrame({"task_id": ids, f"{lang}_code": [bad, bad, code, bad], f"{lang}_test": tests}
                     ).to_parquet(seed / "results" / f"{base}.parquet")
        for t in trainsets:                              # the original work trained on task_2
            pd.DataFrame({"task_id": ["task_2", "task_7"]}).to_parquet(seed / f"{t}.parquet")
    return seed


def test_only_problems_held_out_on_both_sides_are_compared(tmp_path):
    seed = _seed(tmp_path)
    heldout = pd.DataFrame({"task_id": ["task_1", "task_2", "task_3", "task_5"], "lang": "r",
                            "tests": "expect_equal(double(2), 4)\nexpect_equal(double(0), 0)"})
    common = common_problems(heldout, seed)
    assert common["r"].task_ids == ["task_1", "task_3"]          # task_2: its training; task_5: not scored; task_9: not ours
    assert common["r"].in_their_training == 1 and common["r"].pinned == 4 and common["r"].scored == 4
    assert common["julia"].task_ids == []
    progs = their_programs(seed, common)
    assert sorted(zip(progs.model, progs.task_id)) == [("base", "task_1"), ("base", "task_3"),
                                                       ("trained", "task_1"), ("trained", "task_3")]
    scored = pd.DataFrame({"model": ["base", "base", "trained", "trained"], "lang": "r",
                           "task_id": ["task_1", "task_3", "task_1", "task_3"], "passed": [False, True, True, True]})
    g = their_gains(scored, 2000, 0)["r"]
    assert g["problems"] == 2 and g["diff"] == pytest.approx(0.5) and (g["better"], g["worse"]) == (1, 0)


def test_their_programs_run_against_our_tests_and_their_own(tmp_path, pool):
    seed = _seed(tmp_path)
    heldout = pd.DataFrame({"task_id": ["task_1", "task_3"], "lang": "r",
                            "tests": "expect_equal(double(2), 4)\nexpect_equal(double(0), 0)"})
    common = common_problems(heldout, seed)
    got = score(their_programs(seed, common), heldout, pool, 10, progress=False)
    assert got.set_index(["model", "task_id"])["passed"].to_dict() == {
        ("trained", "task_1"): True, ("trained", "task_3"): True, ("base", "task_1"): False, ("base", "task_3"): True}
    assert (got["passed"] == got["passed_their_tests"]).all()
