import pytest

from rarelang.translate.parse import ParseReject, parse_response

GOOD_JL = """### PROMPT
Write a function `f(x::Int)::Int` returning x + 1.

### SOLUTION
```julia
f(x::Int)::Int = x + 1
```

### TESTS
```julia
using Test
@testset "f" begin
    @test f(1) == 2
end
```
"""


def test_well_formed():
    p = parse_response(GOOD_JL, "julia", "f")
    assert p.prompt.startswith("Write a function `f")
    assert p.solution == "f(x::Int)::Int = x + 1\n"
    assert p.tests.startswith("using Test") and "@test f(1) == 2" in p.tests
    assert p.prompt_origin == "teacher"


def test_heading_variants_and_crlf():
    text = ("**Prompt:**\r\nImplement `f(x)` in R.\r\n\r\n**Solution:**\r\n```R\r\nf <- function(x) x + 1\r\n```\r\n"
            "**Tests:**\r\n```\r\nlibrary(testthat)\r\ntest_that('a', expect_equal(f(1), 2))\r\n```\r\n")
    p = parse_response(text, "r", "f")
    assert p.solution.strip() == "f <- function(x) x + 1"
    assert "expect_equal" in p.tests and "\r" not in p.tests


def test_no_headings_two_blocks():
    text = "Here you go:\n```julia\nf(x) = x + 1\n```\nAnd tests:\n```julia\nusing Test\n@test f(1) == 2\n```"
    p = parse_response(text, "julia", "f", question="Write a Python function f.")
    assert p.solution.strip() == "f(x) = x + 1" and p.tests.startswith("using Test")
    assert p.prompt == "Here you go:"


def test_single_block_is_split_and_prompt_falls_back_to_question():
    text = ("```r\n# helper\nf <- function(x) {\n  x + 1\n}\n\n# Test cases\nlibrary(testthat)\n"
            "test_that('a', { expect_equal(f(1), 2) })\n```")
    p = parse_response(text, "r", "f", question="Write a Python function `f(x)` that adds one.")
    assert "library(testthat)" not in p.solution and p.solution.rstrip().endswith("}")
    assert p.tests.startswith("library(testthat)")
    assert p.prompt == "Write a R function `f(x)` that adds one." and p.prompt_origin == "question"


@pytest.mark.parametrize("text,lang,reason", [
    ("", "julia", "empty response"),
    ("I cannot do that.", "r", "no code"),
    ("```julia\nf(x) = x + 1\n```", "julia", "missing TESTS"),
    (GOOD_JL.replace("```julia\nf(x::Int)", "```python\nf(x::Int)"), "julia", "fenced as python"),
    (GOOD_JL.replace("f(x::Int)::Int = x + 1", "def f(x):\n    return x + 1"), "julia", "looks like Python"),
    (GOOD_JL.replace("@test f(1) == 2", "println(f(1))").replace("using Test\n", ""), "julia", "do not use"),
    (GOOD_JL.replace("returning x + 1.", "returning x + 1. assert f(1) == 2"), "julia", "prompt contains tests"),
    (GOOD_JL.replace("using Test", "using Test\nfunction f(x)\n    x\nend"), "julia", "tests redefine"),
    (GOOD_JL.replace("f(x::Int)::Int = x + 1", "g(x) = x"), "julia", "does not define `f`"),
    ("### PROMPT\nx\n### SOLUTION\n```r\nf <- function(x) x\n```\n### TESTS\n```r\n`library(testthat)` followed by "
     "`test_that(...)` blocks with one `expect_equal` per Python assert\n```", "r", "instructions"),
    ("### SOLUTION\n```julia\nf(x) = 1\n```\n### TESTS\n```julia\nusing Test\n@test f(1) == 1\n```", "julia",
     "missing PROMPT"),
])
def test_rejects_with_reason(text, lang, reason):
    with pytest.raises(ParseReject, match=reason):
        parse_response(text, lang, "f")
