import pandas as pd
import pytest

from rarelang.data.split import contaminated, in_test, load_multipl_e_texts, near_duplicates, split_dataset
from rarelang.params import repo_root

SHARED_MULTIPLE = repo_root().parent / "shared" / "multipl-e"


def frame(rows):
    # distinct solutions and tests per task: identical ones are cross-split duplicates
    return pd.DataFrame([{"task_id": t, "lang": l, "prompt": p, "solution": f"x_{t} = 1", "tests": f"@test x_{t} == 1",
                          "source": "s"} for t, l, p in rows])


def many(n=200):
    rows = []
    for i in range(n):
        p = f"Write a function number {i} that computes value {i * 7} from the input list and returns it quickly {i}"
        rows += [(f"task_{i}", "julia", p), (f"task_{i}", "r", p)]
    return frame(rows)


def test_no_source_task_on_both_sides_and_languages_agree():
    train, test, rep = split_dataset(many(), test_fraction=0.25, seed=7, dedup_threshold=0.9,
                                     decontam_ngram=10, reference=None)
    assert not set(train.task_id) & set(test.task_id)
    for t, g in pd.concat([train.assign(side="train"), test.assign(side="test")]).groupby("task_id"):
        assert g["side"].nunique() == 1
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.35
    assert rep["train_rows"] + rep["test_rows"] == 400


def test_split_is_deterministic_and_seeded():
    a = split_dataset(many(), test_fraction=0.2, seed=1, dedup_threshold=0.9, decontam_ngram=10, reference=None)
    b = split_dataset(many().sample(frac=1, random_state=3), test_fraction=0.2, seed=1, dedup_threshold=0.9,
                      decontam_ngram=10, reference=None)
    assert sorted(a[1].task_id) == sorted(b[1].task_id)
    c = split_dataset(many(), test_fraction=0.2, seed=2, dedup_threshold=0.9, decontam_ngram=10, reference=None)
    assert sorted(a[1].task_id) != sorted(c[1].task_id)
    assert in_test("x", 1, 0.5) == in_test("x", 1, 0.5)


def test_near_duplicates():
    base = ("Given a list of integers return the sum of all even numbers in the list and ignore the odd ones. "
            "The list may be empty, in which case the function returns zero. Negative even numbers count too, "
            "and the order of the elements does not matter for the result; duplicates are summed each time "
            "they occur in the input list, which holds at most one thousand elements")
    texts = [base, base.upper() + "!!", base.replace("ignore", "skip"), "Reverse a string and return it",
             "Completely different problem about parsing dates from text in a format"]
    drop = near_duplicates(texts, 0.8)
    assert 1 in drop                 # same after normalization
    assert 2 in drop                 # one word changed
    assert 0 not in drop and 3 not in drop and 4 not in drop
    assert near_duplicates(texts, 0.99) == [1]


def test_dedup_counts_in_report():
    df = frame([("a", "r", "return the sum of the two given integers a and b as an integer value"),
                ("b", "r", "Return the sum of the two given integers a and b as an integer value."),
                ("c", "r", "sort the list")])
    train, test, rep = split_dataset(df, test_fraction=0.5, seed=0, dedup_threshold=0.9, decontam_ngram=10,
                                     reference=None)
    assert rep["near_duplicates_removed"] == 1 and len(train) + len(test) == 2


def test_a_task_translated_twice_is_one_problem():
    df = frame([("a", "r", "return the sum of the two given integers a and b"),
                ("a", "r", "compute the total of integer arguments a plus b, written differently"),
                ("a", "julia", "return the sum of the two given integers a and b"),
                ("b", "r", "sort the list in place and return nothing at all")])
    train, test, rep = split_dataset(df, test_fraction=0.5, seed=0, dedup_threshold=0.9, decontam_ngram=10,
                                     reference=None)
    both = pd.concat([train, test])
    assert not both.duplicated(["lang", "task_id"]).any()
    assert len(both) == 3 and rep["repeated_tasks_removed"] == 1
    assert rep["per_language"]["r"]["repeated_tasks_removed"] == 1
    assert both[(both.lang == "r") & (both.task_id == "a")].prompt.item().startswith("return the sum")


def test_decontamination_against_multipl_e():
    ref = load_multipl_e_texts(repo_root().parent / "shared" / "multipl-e")
    assert set(ref) == {"humaneval-jl", "humaneval-r", "mbpp-jl", "mbpp-r"}
    leaked_prompt = ref["humaneval-r"][0]
    df = frame([("a", "r", "Some honest new problem statement about trees and graphs"),
                ("b", "r", "Intro. " + leaked_prompt)])
    hits = contaminated(df, ref, 10)
    assert hits == {1: "humaneval"}
    train, test, rep = split_dataset(df, test_fraction=0.5, seed=0, dedup_threshold=0.9, decontam_ngram=10,
                                     reference=ref)
    assert rep["contaminated_removed"] == 1 and "b" not in set(train.task_id) | set(test.task_id)
    assert rep["per_language"]["r"]["contaminated_removed"] == {"humaneval": 1}


def test_bad_fraction():
    with pytest.raises(ValueError):
        split_dataset(many(5), test_fraction=1.0, seed=0, dedup_threshold=0.9, decontam_ngram=10, reference=None)


def test_test_rows_repeating_a_train_problem_leave_the_test_set():
    from rarelang.data.split import assertions, cross_split_duplicates, normalized_solution
    assert assertions("using Test\n@test f(1) == 2\n  @test  f(2)==3\nprintln(1)") == {"@testf(1)==2", "@testf(2)==3"}
    assert normalized_solution("f(x) = x + 1  # add one\n") == normalized_solution("f(x)=x+1")
    assert normalized_solution('s = "#" # c') == 's="#"'
    train = pd.DataFrame({"lang": ["julia", "julia", "r"], "solution": ["f(x) = x + 1", "g(x) = 2x", "h <- function(x) x"],
                          "tests": ["@test f(1) == 2\n@test f(2) == 3", "@test g(1) == 2", "expect_equal(h(1), 1)\nexpect_equal(h(2), 2)"]})
    test = pd.DataFrame({"lang": ["julia", "julia", "julia", "r", "r"],
                         "solution": ["f(x)=x+1 # same", "k(x) = x", "f2(x) = x + 1", "h <- function(y) y", "q <- 1"],
                         "tests": ["@test f(9) == 10", "@test f(1) == 2\n@test f(2)  ==  3", "@test f(1) == 2",
                                   "expect_equal(h(1), 1)\n expect_equal(h(2), 2)", "expect_equal(h(1), 1)"]})
    hits = cross_split_duplicates(train, test, 2)
    assert hits == {0: "same_solution", 1: "shared_assertions", 3: "shared_assertions"}   # one shared assertion is not enough
    # through split_dataset: counted in the report, and only the test side loses rows
    df = many(100)
    df.loc[df.index[1::2], "solution"] = "identical <- function() 1"          # every R row has the same solution
    train_df, test_df, rep = split_dataset(df, test_fraction=0.3, seed=1, dedup_threshold=0.9, decontam_ngram=10,
                                           reference=None)
    assert (test_df.lang == "r").sum() == 0 and (train_df.lang == "r").sum() > 0
    assert rep["per_language"]["r"]["test_duplicates_of_train_removed"] == {"same_solution": rep["test_duplicates_of_train_removed"]}


def test_rows_named_like_a_humaneval_entry_point_are_removed():
    from rarelang.data.split import load_entry_points
    names = load_entry_points(SHARED_MULTIPLE, ["humaneval"])
    assert {"x_or_y", "fibfib", "will_it_fly", "cycpattern_check", "separate_paren_groups"} <= names
    assert "remove_Occ" not in names and len(load_entry_points(SHARED_MULTIPLE, ["mbpp"]) & {"remove_Occ"}) == 1
    df = frame([("a", "julia", "Pick x or y depending on n being prime, a problem of its own"),
                ("b", "julia", "Sum the list of numbers and return the total value computed")])
    df.loc[0, ["solution", "tests"]] = ["function x_or_y(n, x, y)\n  x\nend", "@test x_or_y(7, 34, 12) == 34"]
    df.loc[1, ["solution", "tests"]] = ["function total(v)\n  sum(v)\nend", "@test total([1]) == 1"]
    train, test, rep = split_dataset(df, test_fraction=0.5, seed=0, dedup_threshold=0.9, decontam_ngram=13,
                                     reference=None, entry_points=names)
    assert set(pd.concat([train, test]).task_id) == {"b"}
    assert rep["per_language"]["julia"]["entry_point_contaminated_removed"] == ["x_or_y"]
    assert rep["entry_point_contaminated_removed"] == 1


def test_validation_is_carved_from_train_by_whole_tasks():
    from rarelang.data.split import carve_validation
    train, _, _ = split_dataset(many(), test_fraction=0.25, seed=7, dedup_threshold=0.9, decontam_ngram=10,
                                reference=None)
    rest, val, per = carve_validation(train, 3, seed=5)
    assert per and all(n >= 3 for n in per.values())
    assert len(rest) + len(val) == len(train)
    assert not set(rest["task_id"]) & set(val["task_id"])          # a task is on one side in every language
    again = carve_validation(train.sample(frac=1, random_state=1).reset_index(drop=True), 3, seed=5)[1]
    assert sorted(again["task_id"]) == sorted(val["task_id"])      # seeded, order-independent
    assert sorted(carve_validation(train, 3, seed=6)[1]["task_id"]) != sorted(val["task_id"])
    assert carve_validation(train, 0, seed=5)[1].empty
    with pytest.raises(ValueError):
        carve_validation(train, -1, seed=5)
