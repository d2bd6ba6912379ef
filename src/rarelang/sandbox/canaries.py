"""Canaries: jobs whose verdict is known, classified by every worker before it serves.

A harness that mis-scores on an interpreter nobody ran it on (the Apptainer images ship Julia
1.10 and R 4.4; development happens on Julia 1.5.3 and R 4.2) must fail loudly, not hand out
wrong rewards: an honest pass, an honest failure, a tamper attempt (a value equal to anything)
and, for R, a skip from inside the program. A worker that gets any of them wrong refuses to
serve (``sandbox.self_test: false`` turns this off).
"""

from __future__ import annotations

from dataclasses import dataclass

from .outcome import Status

_JL_TESTS = 'using Test\n@testset "add" begin\n    @test add(1, 2) == 3\n    @test add(2, 2) == 4\nend\n'
_R_TESTS = "library(testthat)\ntest_that('add', {\n  expect_equal(add(1, 2), 3)\n  expect_equal(add(2, 2), 4)\n})\n"


@dataclass(frozen=True)
class Canary:
    name: str
    code: str
    tests: str
    status: Status
    passed: int | None = None       # tests passed, where it matters


CANARIES: dict[str, tuple[Canary, ...]] = {
    "julia": (
        Canary("honest pass", "add(a, b) = a + b\n", _JL_TESTS, Status.PASSED, 2),
        Canary("honest failure", "add(a, b) = a == 1 ? 3 : 0\n", _JL_TESTS, Status.TESTS_FAILED, 1),
        Canary("value equal to anything", "struct Evil end\nBase.:(==)(::Evil, ::Any) = true\nadd(a, b) = Evil()\n",
               _JL_TESTS, Status.RUNTIME_ERROR),
    ),
    "r": (
        Canary("honest pass", "add <- function(a, b) a + b\n", _R_TESTS, Status.PASSED, 2),
        Canary("honest failure", "add <- function(a, b) if (a == 1) 3 else 0\n", _R_TESTS, Status.TESTS_FAILED, 1),
        Canary("value equal to anything",
               "add <- function(a, b) structure(0, class = 'evil')\nOps.evil <- function(e1, e2) TRUE\n"
               "all.equal.evil <- function(target, current, ...) TRUE\n",
               "stopifnot(isTRUE(all.equal(add(1, 2), 3)))\nstopifnot(add(2, 2) == 4)\n", Status.RUNTIME_ERROR),
        Canary("skip inside the program", "add <- function(a, b) if (a == 1) 3 else testthat::skip('unsure')\n",
               _R_TESTS, Status.TESTS_FAILED, 1),
    ),
}


def check(canary: Canary, status: Status, passed: int) -> str | None:
    """None when the verdict is the expected one, else what went wrong."""
    if status is not canary.status or (canary.passed is not None and passed != canary.passed):
        want = canary.status.value + (f" with {canary.passed} passed" if canary.passed is not None else "")
        return f"canary '{canary.name}': expected {want}, got {status.value} with {passed} passed"
    return None
