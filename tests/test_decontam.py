"""Paraphrase duplicates (rarelang.data.decontam) in the split: a respelled benchmark entry point with the
benchmark's test inputs, and a test row that repeats a train row under another task id, in any language."""
import pandas as pd
import pytest

from rarelang.data.decontam import (cross_split_paraphrases, load_benchmark_signatures, normalise_name,
                                    paraphrase_hits, call_inputs)
from rarelang.data.split import load_entry_points, split_dataset
from rarelang.params import repo_root

SHARED_MULTIPLE = repo_root().parent / "shared" / "multipl-e"


def _rows(rows):
    return pd.DataFrame([{"task_id": t, "lang": lang, "prompt": f"Prompt of {t}, a problem on its own words {i}",
                          "solution": sol, "tests": tests, "source": "s"}
                         for i, (t, lang, sol, tests) in enumerate(rows)])


def test_inputs_are_values_whatever_the_language_writes():
    assert normalise_name("reverseVowels") == normalise_name("reverse_vowels") == "reversevowels"
    r = call_inputs('expect_equal(f(c(1L, 2.0), "a"), 3)\nexpect_equal(f(c(4, 5), TRUE), 1)', "f")
    jl = call_inputs('@test f([1, 2], "a") == 3\n@test g([4, 5]) == 1', "f")
    assert r & jl == {("1.0", "2.0", "s:a")} and len(r) == 2
    assert call_inputs("candidate = f;\n@test(candidate(\"Python\") == \"Python\")", "candidate") == {("s:Python",)}


def test_a_respelled_benchmark_problem_with_its_inputs_is_removed():
    sigs = load_benchmark_signatures(SHARED_MULTIPLE, ["mbpp"])
    df = _rows([
        # MBPP 131 reverse_vowels, respelled, one of its inputs ("USA"): a paraphrase
        ("a", "julia", "function reverseVowels(s)\n  s\nend", '@test reverseVowels("USA") == "ASU"\n@test reverseVowels("x") == "x"'),
        # the same name, other inputs: a problem of its own
        ("b", "julia", "function reverseVowels(s)\n  s\nend", '@test reverseVowels("hello") == "holle"'),
        # R, respelled the other way
        ("c", "r", "reverse.vowels <- function(s) s", 'expect_equal(reverse.vowels("Python"), "Python")')])
    hits = paraphrase_hits(df, sigs)
    assert hits == {0: "mbpp_131_reverse_vowels", 2: "mbpp_131_reverse_vowels"}
    assert "reverseVowels" not in load_entry_points(SHARED_MULTIPLE, ["mbpp"])     # the name rule misses them
    train, test, rep = split_dataset(df, test_fraction=0.5, seed=0, dedup_threshold=0.9, decontam_ngram=13,
                                     reference=None, benchmark_signatures=sigs, paraphrase_inputs=1)
    assert set(pd.concat([train, test]).task_id) == {"b"}
    assert rep["paraphrase_contaminated_removed"] == 2
    assert rep["per_language"]["julia"]["paraphrase_contaminated_removed"] == ["mbpp_131_reverse_vowels"]
    # off (0): nothing removed, as the headline v2 split was made
    train, test, rep = split_dataset(df, test_fraction=0.5, seed=0, dedup_threshold=0.9, decontam_ngram=13,
                                     reference=None, benchmark_signatures=sigs, paraphrase_inputs=0)
    assert len(train) + len(test) == 3 and rep["paraphrase_contaminated_removed"] == 0


def test_a_test_row_paraphrasing_a_train_row_in_any_language_leaves_the_test_set():
    train = _rows([("t1", "julia", "function shell_sort(v)\n  sort(v)\nend", "@test shell_sort([3, 1, 2]) == [1, 2, 3]")])
    test = _rows([("u1", "r", "shellSort <- function(v) sort(v)", "expect_equal(shellSort(c(3, 1, 2)), c(1, 2, 3))"),
                  ("u2", "r", "shellSort <- function(v) sort(v)", "expect_equal(shellSort(c(9, 8)), c(8, 9))"),
                  ("u3", "julia", "function bubble(v)\n  v\nend", "@test bubble([3, 1, 2]) == [1, 2, 3]")])
    assert cross_split_paraphrases(train, test) == {0: "same_entry_and_inputs"}
    # through split_dataset: only test rows leave, counted with the other duplicates of train problems
    df = _rows([("t1", "julia", "function shell_sort(v)\n  sort(v)\nend", "@test shell_sort([3, 1, 2]) == [1, 2, 3]"),
                ("t2", "r", "shellSort <- function(x) { x[order(x)] }", "expect_equal(shellSort(c(3, 1, 2)), c(1, 2, 3))")])
    from rarelang.data.split import in_test
    seed = next(s for s in range(200) if not in_test("t1", s, 0.5) and in_test("t2", s, 0.5))
    tr, te, rep = split_dataset(df, test_fraction=0.5, seed=seed, dedup_threshold=0.9, decontam_ngram=13,
                                reference=None, paraphrase_inputs=1)
    assert list(tr.task_id) == ["t1"] and te.empty
    assert rep["per_language"]["r"]["test_duplicates_of_train_removed"] == {"same_entry_and_inputs": 1}
    tr, te, rep = split_dataset(df, test_fraction=0.5, seed=seed, dedup_threshold=0.9, decontam_ngram=13,
                                reference=None, paraphrase_inputs=0)
    assert list(te.task_id) == ["t2"]                 # off: the headline v2 split kept it


def test_a_cleaned_evaluation_leaves_out_what_training_touched(tmp_path):
    """results/headline/decontam: held-out rows a rule removes and benchmark problems a train row is named after or
    paraphrases are left out of the cleaned pairings."""
    from rarelang.analysis.cleaned import PARTS, exclusions, load_parts, rule_hits, touched_benchmark_problems
    train = _rows([("t1", "julia", "function reverse_vowels(s)\n  s\nend", '@test reverse_vowels("zz") == "zz"'),
                   ("t2", "r", "rollingMax <- function(v) cummax(v)",
                    "expect_equal(rollingMax(c(4, 3, 2, 1)), c(4, 4, 4, 4))"),
                   ("t3", "julia", "function double(x)\n  2x\nend", "@test double(4) == 8")])
    test = _rows([("h1", "r", "double <- function(x) 2 * x", "expect_equal(double(4), 8)"),
                  ("h2", "r", "triple <- function(x) 3 * x", "expect_equal(triple(4), 12)")])
    split = pd.concat([test, _rows([("h3", "julia", "function other(x)\n  x\nend", "@test other(1) == 1")])],
                      ignore_index=True)
    for part, df in {"train": train, "validation": train.iloc[:0], "test": split}.items():   # the pipeline's layout
        df.to_parquet(tmp_path / f"{part}.parquet")
    import json
    (tmp_path / "heldout.json").write_text(json.dumps({"task_ids": {"r": ["h1", "h2"]}}))     # the pinned problems
    parts = load_parts(tmp_path, tmp_path / "heldout.json")
    assert set(parts) == set(PARTS) and list(parts["test"].task_id) == ["h1", "h2"] and len(parts["test-split"]) == 3
    (tmp_path / "heldout.json").write_text(json.dumps({"task_ids": {"r": ["h1", "h9"]}}))
    with pytest.raises(ValueError, match="another split"):
        load_parts(tmp_path, tmp_path / "heldout.json")
    hits = rule_hits(parts, SHARED_MULTIPLE)
    assert hits["mbpp_entry_point"]["train"] == {0: "reverse_vowels"}
    assert hits["benchmark_paraphrase"]["train"] == {1: "HumanEval_9_rolling_max"}
    assert hits["train_paraphrase"]["test"] == {0: "t3"}
    touched = touched_benchmark_problems(parts["train"], SHARED_MULTIPLE)
    assert set(touched[("mbpp", "r")]) == set(touched[("mbpp", "julia")]) == {"mbpp_131_reverse_vowels"}
    assert set(touched[("humaneval", "julia")]) == {"HumanEval_9_rolling_max"}
    ex = exclusions(parts, hits, touched)
    assert ex[("heldout", "r")] == {"h1"} and ex[("mbpp", "r")] == {"mbpp_131_reverse_vowels"}
