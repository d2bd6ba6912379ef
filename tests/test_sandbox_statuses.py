"""Every status, for both languages, through the real sandbox."""

import pytest

from rarelang.sandbox import Job, Status

JL_TESTS = 'using Test\n@testset "t" begin\n    @test f(1) == 2\n    @test f(2) == 3\nend\n'
R_TESTS = ("library(testthat)\n"
           "test_that('one', { expect_equal(f(1), 2) })\n"
           "test_that('two', { expect_equal(f(2), 3) })\n")

CASES = {
    # (lang, code, tests, timeout) -> expected status, passed, total
    "julia-passed": (("julia", "f(x) = x + 1\n", JL_TESTS, None), (Status.PASSED, 2, 2)),
    "julia-tests_failed": (("julia", "f(x) = x == 1 ? 2 : 0\n", JL_TESTS, None), (Status.TESTS_FAILED, 1, 2)),
    "julia-syntax_error": (("julia", "function f(x)\n    x + 1\n", JL_TESTS, None), (Status.SYNTAX_ERROR, 0, 0)),
    "julia-lowering_error": (("julia", "f(x) = (return 1) = 2\n", JL_TESTS, None), (Status.SYNTAX_ERROR, 0, 0)),
    "julia-runtime_error_load": (("julia", "f(x) = x + 1\nerror(\"boom\")\n", JL_TESTS, None), (Status.RUNTIME_ERROR, 0, 0)),
    "julia-runtime_error_tests": (("julia", "f(x) = x.nofield\n", JL_TESTS, None), (Status.RUNTIME_ERROR, 0, 2)),
    "julia-timeout": (("julia", "function f(x)\n    while true end\nend\n", JL_TESTS, 2), (Status.TIMEOUT, 0, 0)),
    "julia-memory": (("julia", "f(x) = length(zeros(UInt8, 8 * 1024^3))\n", JL_TESTS, None), (Status.MEMORY_EXCEEDED, None, None)),
    "julia-output": (("julia", "function f(x)\n    while true; print(\"y\"^4096); end\nend\n", JL_TESTS, 20), (Status.OUTPUT_EXCEEDED, 0, 0)),
    "r-passed": (("r", "f <- function(x) x + 1\n", R_TESTS, None), (Status.PASSED, 2, 2)),
    "r-tests_failed": (("r", "f <- function(x) if (x == 1) 2 else 0\n", R_TESTS, None), (Status.TESTS_FAILED, 1, 2)),
    "r-syntax_error": (("r", "f <- function(x) {\n  x + 1\n", R_TESTS, None), (Status.SYNTAX_ERROR, 0, 0)),
    "r-runtime_error_load": (("r", "f <- function(x) x + 1\nstop('boom')\n", R_TESTS, None), (Status.RUNTIME_ERROR, 0, 0)),
    "r-runtime_error_tests": (("r", "f <- function(x) stop('nope')\n", R_TESTS, None), (Status.RUNTIME_ERROR, 0, 2)),
    "r-timeout": (("r", "f <- function(x) { repeat {} }\n", R_TESTS, 2), (Status.TIMEOUT, 0, 0)),
    "r-memory": (("r", "f <- function(x) length(numeric(2e9))\n", R_TESTS, None), (Status.MEMORY_EXCEEDED, None, None)),
    "r-output": (("r", "f <- function(x) { repeat cat(strrep('y', 4096)) }\n", R_TESTS, 20), (Status.OUTPUT_EXCEEDED, 0, 0)),
    # MultiPL-E style scripts count as one test
    "r-script-passed": (("r", "f <- function(x) x + 1\n",
                         "test_h <- function() {\n  candidate <- f\n  stopifnot(isTRUE(all.equal(candidate(1), 2)))\n}\ntest_h()",
                         None), (Status.PASSED, 1, 1)),
    "r-script-failed": (("r", "f <- function(x) x\n",
                         "test_h <- function() {\n  candidate <- f\n  stopifnot(isTRUE(all.equal(candidate(1), 2)))\n}\ntest_h()",
                         None), (Status.TESTS_FAILED, 0, 1)),
    "r-script-runtime": (("r", "f <- function(x) stop('x')\n",
                          "test_h <- function() {\n  candidate <- f\n  stopifnot(isTRUE(all.equal(candidate(1), 2)))\n}\ntest_h()",
                          None), (Status.RUNTIME_ERROR, 0, 1)),
    "julia-script-passed": (("julia", "f(x) = x + 1\n", "@assert f(1) == 2\n", None), (Status.PASSED, 1, 1)),
    "julia-script-failed": (("julia", "f(x) = x\n", "@assert f(1) == 2\n", None), (Status.TESTS_FAILED, 0, 1)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_status(pool, name):
    (lang, code, tests, timeout), (status, passed, total) = CASES[name]
    out = pool.run(Job(lang, code, tests, id=name, timeout_s=timeout))
    assert out.status is status, (out.status, out.message, out.stderr[:500])
    if passed is not None:
        assert (out.tests_passed, out.tests_total) == (passed, total)
    assert out.id == name and out.lang == lang
    assert not hasattr(out, "reward")       # the sandbox returns outcomes; rarelang.rewards maps them
    assert out.duration_s >= 0


def test_syntax_error_in_tests_is_reported_as_such(pool):
    out = pool.run(Job("r", "f <- function(x) x", "test_that('a', { expect_equal(f(1), 1) "))
    assert out.status is Status.SYNTAX_ERROR
    assert out.message.startswith("tests:")


def test_sandbox_errors_for_bad_jobs(pool):
    assert pool.run(Job("cobol", "x", "y")).status is Status.SANDBOX_ERROR
    out = pool.run(Job("r", "x", "y", timeout_s=-1))
    assert out.status is Status.SANDBOX_ERROR and "timeout" in out.message


def test_stdout_is_captured_and_truncated(pool):
    code = 'f(x) = x + 1\nprintln("hello from the program")\nprint("z"^10000)\n'
    out = pool.run(Job("julia", code, JL_TESTS))
    assert out.status is Status.PASSED
    assert out.stdout.startswith("hello from the program")
    assert "truncated" in out.stdout and len(out.stdout) < pool.cfg.capture_bytes + 200


def test_r_messages_go_to_stderr(pool):
    out = pool.run(Job("r", "f <- function(x) x + 1\nmessage('to stderr')\ncat('to stdout\\n')\n", R_TESTS))
    assert out.status is Status.PASSED
    assert "to stderr" in out.stderr and "to stdout" in out.stdout


def test_workers_survive_a_mixed_batch_in_parallel(pool):
    jobs = [Job(lang, code, tests, id=name, timeout_s=t)
            for name, ((lang, code, tests, t), _) in CASES.items()
            if "timeout" not in name and "output" not in name and "memory" not in name] * 2
    outs = pool.run_all(jobs)
    for job, out in zip(jobs, outs):
        assert out.status is CASES[job.id][1][0], (job.id, out.status, out.message)


@pytest.mark.parametrize("code,expected", [
    ({"julia": 'f(x) = error("boom")', "r": 'f <- function(x) stop("boom")'}, ("runtime_error", 0, 2)),
    ({"julia": 'f(x) = x == 1 ? 2 : error("boom")', "r": 'f <- function(x) if (x == 1) 2 else stop("boom")'},
     ("tests_failed", 1, 2)),
])
def test_errored_tests_are_labelled_alike_in_both_languages(pool, code, expected):
    """0 passed with errored tests is a runtime_error (the program crashes on its tests), some passed
    is tests_failed: the same labels for Julia and R."""
    from rarelang.sandbox import Job
    tests = {"julia": 'using Test\n@testset "a" begin\n@test f(1) == 2\n@test f(2) == 3\nend\n',
             "r": 'library(testthat)\ntest_that("a", { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n'}
    for lang in ("julia", "r"):
        o = pool.run(Job(lang, code[lang], tests[lang]))
        assert (o.status.value, o.tests_passed, o.tests_total) == expected, (lang, o)


# ---------------------------------------------------------------- worker start retried on EAGAIN
# (2026-11-25: two Julia evaluations of 16 workers each on one 16-core machine made 1,115 of 88,160
# MultiPL-E jobs sandbox_error: "bwrap: Can't fork …: Resource temporarily unavailable")

def _flaky_acquire(monkeypatch, failures):
    """Make the first len(failures) worker acquisitions raise those errors, then start real workers."""
    from rarelang.sandbox import pool as pool_mod
    real, calls = pool_mod._LanguageSlots.acquire, []

    def acquire(self):
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return real(self)
    monkeypatch.setattr(pool_mod._LanguageSlots, "acquire", acquire)
    monkeypatch.setattr(pool_mod, "START_RETRY_DELAYS_S", (0.0, 0.0, 0.0))
    return calls


def test_worker_start_retried_after_eagain(fresh_pool, monkeypatch):
    from rarelang.sandbox.worker import WorkerStartError
    calls = _flaky_acquire(monkeypatch, [
        WorkerStartError("r worker exited during start-up; its log ends with:\nbwrap: Can't fork for pid 1: "
                         "Resource temporarily unavailable"),
        OSError(11, "Resource temporarily unavailable")])
    out = fresh_pool.run(Job("r", "f <- function(x) x + 1\n", R_TESTS))
    assert out.status == Status.PASSED, out.message
    assert len(calls) == 3


def test_worker_start_gives_up_after_the_retries(fresh_pool, monkeypatch):
    from rarelang.sandbox.worker import WorkerStartError
    eagain = WorkerStartError("bwrap: Creating new namespace failed: Resource temporarily unavailable")
    calls = _flaky_acquire(monkeypatch, [eagain] * 10)
    out = fresh_pool.run(Job("r", "f <- function(x) x + 1\n", R_TESTS))
    assert out.status == Status.SANDBOX_ERROR and "Resource temporarily unavailable" in out.message
    assert len(calls) == 4                              # the first try and one per pause


def test_broken_worker_start_not_retried(fresh_pool, monkeypatch):
    from rarelang.sandbox.worker import WorkerStartError
    calls = _flaky_acquire(monkeypatch, [WorkerStartError("r worker sent 'oops' instead of ready")])
    out = fresh_pool.run(Job("r", "f <- function(x) x + 1\n", R_TESTS))
    assert out.status == Status.SANDBOX_ERROR and "instead of ready" in out.message
    assert len(calls) == 1
