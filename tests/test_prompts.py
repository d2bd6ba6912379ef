"""Every instruction prompt names the function the tests call: its signature, derived from the
reference solution (MultiPL-E gives its prompts one; ~17% of the seed prompts never name it)."""

from __future__ import annotations

import pandas as pd
import pytest

from rarelang.languages import get_language
from rarelang.prompts import build_prompt, entry_signature
from rarelang.train.dataset import training_frame


@pytest.mark.parametrize("lang,solution,tests,expected", [
    ("julia", "helper(x) = x + 1\n\nfunction transform_string(a::String, b::String)::String\n    a * b\nend\n",
     '@test transform_string("a", "b") == "ab"', ("transform_string", "function transform_string(a::String, b::String)::String")),
    ("julia", "is_even(n::Int64) = n % 2 == 0\n", "@test is_even(2)", ("is_even", "function is_even(n::Int64)")),
    ("julia", "function f(a,\n           b::Int)\n    a + b\nend\nfunction g()\nend\n", "@test g() === nothing\n@test f(1, 2) == 3",
     ("g", "function g()")),           # the first one the tests call
    ("julia", "function process!(v::Vector{Int64})\n    push!(v, 1)\nend", "@test process!([0]) == [0, 1]",
     ("process!", "function process!(v::Vector{Int64})")),
    ("r", "combine <- function(a,\n                    b = 'x') {\n  paste0(a, b)\n}\n", "expect_equal(combine('a', 'b'), 'ab')",
     ("combine", "combine <- function(a, b = 'x')")),
    ("r", "`my.fun` = function(x) x\n", "stopifnot(my.fun(1) == 1)", ("my.fun", "`my.fun` = function(x)")),
])
def test_entry_point_and_signature_from_the_reference_solution(lang, solution, tests, expected):
    assert get_language(lang).entry_point(solution, tests) == expected


def test_no_entry_point_when_the_tests_call_nothing_the_solution_defines():
    assert get_language("julia").entry_point("struct S\nend\n", "@test typeof(S()) == S") is None
    assert entry_signature("x <- 1", "stopifnot(x == 1)", "r") == ("", "")


def test_prompts_carry_the_signature_in_training_and_evaluation(tmp_path):
    from rarelang.evaluate.suites import heldout
    df = pd.DataFrame({"task_id": ["t1", "t2"], "lang": ["r", "julia"],
                       "prompt": ["Combine two strings.", "Combine two strings."],
                       "solution": ["transform_string <- function(a, b) {\n  paste0(a, b)\n}",
                                    "function transform_string(a::String, b::String)\n    a * b\nend"],
                       "tests": ["expect_equal(transform_string('a', 'b'), 'ab')",
                                 "using Test\n@testset \"t\" begin\n@test transform_string(\"a\", \"b\") == \"ab\"\nend"],
                       "source": ["seed", "seed"]})
    path = tmp_path / "test.parquet"
    df.to_parquet(path)
    frame = training_frame(path, ["r", "julia"])
    texts = {r.lang: r.prompt[0]["content"] for r in frame.itertuples()}
    assert "```r\ntransform_string <- function(a, b)\n```" in texts["r"]
    assert "```julia\nfunction transform_string(a::String, b::String)\n```" in texts["julia"]
    assert frame["entry_point"].tolist() == ["transform_string"] * 2
    probs = {p.lang: p for p in heldout(path, ["r", "julia"])}
    assert probs["r"].prompt == texts["r"] and probs["julia"].entry_point == "transform_string"
    # the switch turns it off in both
    assert "signature" not in training_frame(path, ["r"], signature=False).prompt[0][0]["content"]
    assert "signature" not in heldout(path, ["r"], signature=False)[0].prompt
    assert build_prompt("p", "r") == build_prompt("p", "r", signature="")
