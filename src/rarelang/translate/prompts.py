"""The teacher's prompt template. Bump TEMPLATE_VERSION whenever the text changes: it is part of
every cache key, so old answers are never reused for a new template."""

from __future__ import annotations

TEMPLATE_VERSION = "v3"

from ..languages import get_language

LANG_INFO = {   # what the teacher is told per language (name and fence tag: rarelang.languages)
    "julia": {
        "solution_notes": "Use only Julia 1.5 and its standard library (no packages; `Returns`, "
                          "`eachsplit`, `stack`, `allequal` do not exist in 1.5).",
        "tests": "`using Test` followed by one `@testset` block that holds one `@test` per Python "
                 "assert (same inputs, same expected values, in Julia syntax).",
    },
    "r": {
        "solution_notes": "Use only base R (no packages). Python lists become vectors (or lists when "
                          "the elements differ in type), None becomes NULL, True/False become TRUE/FALSE.",
        "tests": "`library(testthat)` followed by `test_that(...)` blocks with one `expect_equal`, "
                 "`expect_true` or `expect_false` per Python assert (same inputs, same expected values).",
    },
}

SYSTEM = ("You are an expert programmer who translates programming problems between languages "
          "precisely. You answer in exactly the requested format.")

USER = """Translate this Python programming problem into {display}.

## Python problem
{question}

## Python tests
```python
{tests}
```

Answer with exactly these three sections, in this order:

### PROMPT
(the problem statement rewritten for {display}: what the function `{entry}` takes and returns, in \
{display} terms; no tests, asserts or example calls with their results)

### SOLUTION
(a complete, correct {display} implementation of `{entry}` in a ```{fence} block. {solution_notes})

### TESTS
(a ```{fence} block: {tests_spec})
"""


# One worked example (a problem not in any dataset we use) shows small teachers the format.
EXAMPLE_QUESTION = ("Write a function `add_one(nums)` that returns a new list with 1 added to every "
                    "integer of the list `nums`.")
EXAMPLE_TESTS = ["assert add_one([1, 2]) == [2, 3]", "assert add_one([]) == []"]
EXAMPLE_ANSWER = {
    "julia": """### PROMPT
Write a function `add_one(nums::Vector{Int})::Vector{Int}` that returns a new vector with 1 added to \
every element of `nums`.

### SOLUTION
```julia
function add_one(nums::Vector{Int})::Vector{Int}
    return [x + 1 for x in nums]
end
```

### TESTS
```julia
using Test

@testset "add_one" begin
    @test add_one([1, 2]) == [2, 3]
    @test add_one(Int[]) == Int[]
end
```""",
    "r": """### PROMPT
Write a function `add_one(nums)` that takes a numeric vector `nums` and returns a new vector with 1 \
added to every element.

### SOLUTION
```r
add_one <- function(nums) {
  nums + 1
}
```

### TESTS
```r
library(testthat)

test_that("add_one adds one to every element", {
  expect_equal(add_one(c(1, 2)), c(2, 3))
  expect_equal(add_one(numeric(0)), numeric(0))
})
```""",
}


def _user(lang: str, question: str, test_cases: list[str], entry: str) -> str:
    info, language = LANG_INFO[lang], get_language(lang)
    return USER.format(display=language.display, question=question.strip(), tests="\n".join(test_cases),
                       entry=entry or "the function", fence=language.fence,
                       solution_notes=info["solution_notes"], tests_spec=info["tests"])


def build_messages(lang: str, question: str, test_cases: list[str], entry: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": _user(lang, EXAMPLE_QUESTION, EXAMPLE_TESTS, "add_one")},
            {"role": "assistant", "content": EXAMPLE_ANSWER[lang]},
            {"role": "user", "content": _user(lang, question, test_cases, entry)}]
