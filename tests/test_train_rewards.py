"""The GRPO reward function on crafted completions, every status, both languages."""

import asyncio

import pytest

from rarelang.sandbox import Status
from rarelang.prompts import build_prompt, first_test
from rarelang.completions import extract_code
from rarelang.rewards import RewardTable
from rarelang.train.rewards import ExecutionReward, FormatReward

JL_T = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
R_T = "library(testthat)\ntest_that('a', { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n"


def fenced(lang, code):
    return f"Here is my answer:\n```{lang}\n{code}\n```\nDone."


CASES = [
    ("julia", JL_T, fenced("julia", "f(x) = x + 1"), Status.PASSED),
    ("julia", JL_T, "f(x) = x + 1\n", Status.PASSED),                                   # bare code
    ("julia", JL_T, [{"role": "assistant", "content": fenced("julia", "f(x) = x + 1")}], Status.PASSED),
    ("julia", JL_T, fenced("julia", "f(x) = x == 1 ? 2 : 0"), Status.TESTS_FAILED),
    ("julia", JL_T, fenced("julia", "function f(x)\n  x +"), Status.SYNTAX_ERROR),
    ("julia", JL_T, "I do not know.", Status.SYNTAX_ERROR),                             # no code at all
    ("julia", JL_T, fenced("julia", "f(x) = error(\"x\")"), Status.RUNTIME_ERROR),
    ("julia", JL_T, fenced("julia", "function f(x)\n  while true end\nend"), Status.TIMEOUT),
    ("r", R_T, fenced("r", "f <- function(x) x + 1"), Status.PASSED),
    ("r", R_T, fenced("r", "f <- function(x) if (x == 1) 2 else 0"), Status.TESTS_FAILED),
    ("r", R_T, fenced("r", "f <- function(x { x }"), Status.SYNTAX_ERROR),
    ("r", R_T, "", Status.SYNTAX_ERROR),
    ("r", R_T, fenced("r", "f <- function(x) stop('no')"), Status.RUNTIME_ERROR),
    ("r", R_T, fenced("r", "f <- function(x) length(numeric(2e9))"), Status.MEMORY_EXCEEDED),
    ("r", R_T, fenced("r", "f <- function(x) repeat cat(strrep('y', 4096))"), Status.OUTPUT_EXCEEDED),
]


def test_every_status_through_the_reward(pool):
    fn = ExecutionReward(pool, timeout_s=2)
    logged = {}
    rewards = asyncio.run(fn(prompts=[None] * len(CASES), completions=[c[2] for c in CASES],
                             lang=[c[0] for c in CASES], tests=[c[1] for c in CASES],
                             log_metric=lambda k, v: logged.__setitem__(k, v)))
    outcomes = fn.history[-1]
    for (lang, _, comp, expected), o, r in zip(CASES, outcomes, rewards):
        assert o.status is expected, (lang, comp, o.status, o.message)
        assert r == fn.rewards.score(o) == RewardTable()(o.status, o.tests_passed, o.tests_total)
    assert rewards[3] == pytest.approx(0.25)         # 1 of 2 tests: 0.5 × 1/2
    assert logged["status/passed"] == pytest.approx(4 / len(CASES))
    assert logged["pass_rate"] == logged["status/passed"]
    assert logged["timing/reward_s"] > 0


def test_extract_code_prefers_the_languages_fence():
    text = "```python\nprint(1)\n```\n```julia\nf(x) = 1\n```"
    assert extract_code(text, "julia") == "f(x) = 1\n"
    assert extract_code("```\nf <- function(x) 1\n```", "r") == "f <- function(x) 1\n"
    assert extract_code("just words", "r") is None
    assert extract_code("```julia\n```", "julia") is None


def test_format_reward_is_optional_shaping():
    f = FormatReward(0.1)
    out = f(prompts=[None] * 3, completions=[fenced("julia", "f(x)=1"), "f(x)=1", fenced("r", "1")],
            lang=["julia", "julia", "julia"])
    assert out == [0.1, 0.0, 0.0]


def test_prompts_do_not_leak_tests_by_default():
    p = build_prompt("Write `f(x)` returning x + 1.", "julia", JL_T)
    assert "@test" not in p and "f(1) == 2" not in p
    ablation = build_prompt("Write `f(x)` returning x + 1.", "julia", JL_T, include_first_test=True)
    assert "@test f(1) == 2" in ablation and "@test f(2) == 3" not in ablation
    r_two = "library(testthat)\ntest_that('one', {\n  expect_equal(f(1), 2)\n})\ntest_that('two', {\n  expect_equal(f(2), 3)\n})\n"
    assert first_test(r_two, "r") == "test_that('one', {\n  expect_equal(f(1), 2)\n})"
    assert first_test("stopifnot(f(1) == 2)\nstopifnot(f(2) == 3)", "r") == "stopifnot(f(1) == 2)"
