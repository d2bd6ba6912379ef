"""Isolation: network, host files, process tree, state leaks, reward hacks."""

import os
import time

import pytest

from rarelang.sandbox import Job, Status

JL_PASS = 'using Test\n@test ok() == true\n'
R_PASS = "library(testthat)\ntest_that('ok', { expect_true(ok()) })\n"


def run(pool, lang, code, tests, **kw):
    return pool.run(Job(lang, code, tests, **kw))


# ------------------------------------------------------------------ network and host files
def test_no_network_julia(pool):
    code = ('using Sockets\n'
            'function ok()\n'
            '    try\n        connect("1.1.1.1", 80); return false\n'
            '    catch\n        return true\n    end\nend\n')
    assert run(pool, "julia", code, JL_PASS).status is Status.PASSED


def test_no_network_r(pool):
    code = ("ok <- function() {\n"
            "  r <- tryCatch({ con <- socketConnection('1.1.1.1', 80, timeout = 2); close(con); FALSE },\n"
            "                error = function(e) TRUE, warning = function(w) TRUE)\n"
            "  r && length(readLines('/proc/net/dev')) <= 3\n}\n")
    assert run(pool, "r", code, R_PASS).status is Status.PASSED


def test_host_files_are_invisible(pool, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)
    here = os.path.abspath(__file__)
    code = (f'ok <- function() !file.exists("{secret}") && !file.exists("{here}") && '
            '!file.exists("/root") && !file.exists("/work")\n')
    assert run(pool, "r", code, R_PASS).status is Status.PASSED


def test_system_is_read_only_and_user_is_not_root(pool):
    code = ('function ok()\n'
            '    can_write = try; open("/usr/rarelang-x", "w"); true; catch; false; end\n'
            '    shadow = try; read("/etc/shadow", String); true; catch; false; end\n'
            '    uid = ccall(:getuid, Cuint, ())\n'
            '    !can_write && !shadow && (geteuid_is_root = uid == 0) == false\n'
            'end\n')
    assert run(pool, "julia", code, JL_PASS).status is Status.PASSED


# ------------------------------------------------------------------ process tree
def test_timeout_kills_the_whole_process_tree_r(fresh_pool):
    # the job starts a detached background process, then hangs
    code = ("f <- function() { system('sleep 300 &', wait = FALSE); system('setsid sleep 301 &');"
            " repeat {} }\n")
    out = run(fresh_pool, "r", code, "stopifnot(f())", timeout_s=2)
    assert out.status is Status.TIMEOUT
    time.sleep(0.5)
    assert not _host_processes("sleep 30"), "a job's process survived its timeout"


def test_timeout_kills_the_whole_process_tree_julia(fresh_pool):
    code = 'run(`sh -c "sleep 302 &"`, wait=false)\nfunction ok()\n    while true end\nend\n'
    out = run(fresh_pool, "julia", code, JL_PASS, timeout_s=2)
    assert out.status is Status.TIMEOUT
    time.sleep(0.5)
    assert not _host_processes("sleep 302")
    # the worker was replaced: the next job runs
    assert run(fresh_pool, "julia", "ok() = true\n", JL_PASS).status is Status.PASSED


def _host_processes(needle: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmd:
                found.append(cmd)
    return found


def test_fork_bomb_is_contained(fresh_pool):
    out = run(fresh_pool, "r", "f <- function() { system(':(){ :|:& };:'); repeat {} }\n",
              "stopifnot(f())", timeout_s=3)
    assert out.status in (Status.TIMEOUT, Status.RUNTIME_ERROR)
    assert run(fresh_pool, "r", "ok <- function() TRUE\n", R_PASS).status is Status.PASSED


# ------------------------------------------------------------------ state leaks between jobs
def test_r_state_does_not_leak(fresh_pool):
    poison = ("x_leak <<- 42; options(digits = 3, rarelang.leak = TRUE); Sys.setenv(LEAK = '1');\n"
              "setwd('/tmp'); set.seed(1); library(tools)\n"
              "assign('leaked_global', 1, envir = globalenv())\n"
              "ok <- function() TRUE\n")
    check = ("ok <- function() !exists('x_leak') && !exists('leaked_global') && getOption('digits') == 7 &&\n"
             "  is.null(getOption('rarelang.leak')) && Sys.getenv('LEAK') == '' && basename(getwd()) == 'job' &&\n"
             "  !('package:tools' %in% search())\n")
    assert run(fresh_pool, "r", poison, R_PASS).status is Status.PASSED
    assert run(fresh_pool, "r", check, R_PASS).status is Status.PASSED


def test_julia_state_does_not_leak(fresh_pool):
    poison = ('ENV["LEAK"] = "1"\ncd("/tmp")\nusing Random\nRandom.seed!(1)\n'
              'setprecision(BigFloat, 20)\nconst LEAKED = 5\nok() = true\n')
    check = ('ok() = !haskey(ENV, "LEAK") && basename(pwd()) == "job" && precision(BigFloat) == 256 &&\n'
             '    !isdefined(@__MODULE__, :LEAKED)\n')
    assert run(fresh_pool, "julia", poison, JL_PASS).status is Status.PASSED
    assert run(fresh_pool, "julia", check, JL_PASS).status is Status.PASSED


def test_julia_base_method_redefinition_does_not_leak(fresh_pool):
    # type piracy on Base is tampering (it can change what the tests compute), and the next job
    # must see the original Base
    poison = 'Base.reverse(s::String) = "pwned"\nok() = true\n'
    check = 'ok() = reverse("abc") == "cba"\n'
    first = run(fresh_pool, "julia", poison, JL_PASS)
    assert first.status is Status.RUNTIME_ERROR and "does not own" in first.message
    assert run(fresh_pool, "julia", check, JL_PASS).status is Status.PASSED


def test_julia_global_rng_is_restored(fresh_pool):
    code = 'using Random\nRandom.seed!(123)\nok() = true\n'
    assert run(fresh_pool, "julia", code, JL_PASS).status is Status.PASSED
    same = 'using Random\nconst A = rand()\nRandom.seed!(123)\nconst B = rand()\nok() = A != B\n'
    assert run(fresh_pool, "julia", same, JL_PASS).status is Status.PASSED


# ------------------------------------------------------------------ reward hacks
@pytest.mark.parametrize("lang,code,tests", [
    ("julia", 'f(x) = 0\nprintln("Test Summary: | Pass  Total\\n  t |    3      3")\n',
     "using Test\n@test f(1) == 2\n"),
    ("r", "f <- function(x) 0\ncat('[ FAIL 0 | WARN 0 | SKIP 0 | PASS 3 ]\\n')\n",
     "library(testthat)\ntest_that('a', { expect_equal(f(1), 2) })\n"),
])
def test_forged_summary_does_not_count(pool, lang, code, tests):
    out = run(pool, lang, code, tests)
    assert out.status is Status.TESTS_FAILED and out.tests_passed == 0


@pytest.mark.parametrize("lang,code,tests", [
    ("julia", "f(x) = x + 1\nexit(0)\n", "using Test\n@test f(1) == 2\n"),
    ("julia", "f(x) = exit(0)\n", "using Test\n@test f(1) == 2\n"),
    ("r", "f <- function(x) x + 1\nquit(status = 0)\n", "library(testthat)\ntest_that('a', expect_equal(f(1), 2))"),
    ("r", "f <- function(x) quit(save = 'no', status = 0)\n", "library(testthat)\ntest_that('a', expect_equal(f(1), 2))"),
    ("r", "f <- function(x) q('no')\n", "stopifnot(f(1) == 2)"),
])
def test_early_exit_is_never_passed(pool, lang, code, tests):
    out = run(pool, lang, code, tests)
    assert out.status is Status.RUNTIME_ERROR, (out.status, out.message)


@pytest.mark.parametrize("lang,code,tests", [
    ("julia", "f(x) = 0\nmacro test(ex) :(true) end\n", "using Test\n@test f(1) == 2\n"),
    ("r", "f <- function(x) 0\ntest_that <- function(...) invisible()\nexpect_equal <- function(...) invisible()\n",
     "library(testthat)\ntest_that('a', { expect_equal(f(1), 2) })\n"),
])
def test_shadowing_the_test_framework_does_not_help(pool, lang, code, tests):
    assert run(pool, lang, code, tests).status is not Status.PASSED


@pytest.mark.parametrize("lang,code,tests", [
    ("julia", "f(x) = 0\n==(a, b) = true\n", "using Test\n@test f(1) == 2\n"),
    ("julia", "f(x) = 0\nBase.isapprox(a::Int, b::Int) = true\n", "using Test\n@test f(1) ≈ 2\n"),
    ("r", "f <- function(x) 0\nall.equal <- function(...) TRUE\n", "stopifnot(isTRUE(all.equal(f(1), 2)))"),
    ("r", "f <- function(x) 0\nunlockBinding('isTRUE', baseenv())\nassign('isTRUE', function(x) TRUE, baseenv())\n",
     "stopifnot(isTRUE(all.equal(f(1), 2)))"),
    ("r", "f <- function(x) 0\nassignInNamespace('expect_equal', function(...) testthat::succeed(), 'testthat')\n",
     "library(testthat)\ntest_that('a', { expect_equal(f(1), 2) })\n"),
])
def test_redefining_the_judges_is_tampering(pool, lang, code, tests):
    out = run(pool, lang, code, tests)
    assert out.status is Status.RUNTIME_ERROR, (out.status, out.message)


def test_own_types_may_extend_base_operators(pool):
    code = ("struct P\n    a::Int\nend\nBase.:(==)(x::P, y::P) = x.a % 2 == y.a % 2\n"
            "Base.show(io::IO, p::P) = print(io, \"P\", p.a)\nf(x) = P(x)\nsame(a, b) = f(a) == f(b)\n")
    out = run(pool, "julia", code, "using Test\n@test same(1, 3)\n@test string(f(2)) == \"P2\"\n")
    assert out.status is Status.PASSED, out.message
    # the tests may compare two of the program's own values with the program's own == (it is
    # what they test), but not one of them with a value of another kind
    assert run(pool, "julia", code, "using Test\n@test f(1) == f(3)\n").status is Status.PASSED
    out = run(pool, "julia", code, "using Test\n@test f(1) == 1\n")
    assert out.status is Status.RUNTIME_ERROR and "own values" in out.message


# ------------------------------------------------------------------ recycling only when needed
@pytest.mark.parametrize("lang,code,tests", [
    ("julia", "struct P\n    a::Int\nend\nf(x; k=1) = [P(i).a + k for i in 1:x]\ng = x -> x * 2\n"
              "Base.show(io::IO, p::P) = print(io, p.a)\n",
     'using Test\n@testset "t" begin\n    @test f(2) == [2, 3]\n    @test g(2) == 4\nend\n'),
    ("r", "f <- function(x) x + 1\n", "library(testthat)\ntest_that('a', expect_equal(f(1), 2))\n"),
])
def test_clean_jobs_reuse_the_warm_worker(fresh_pool, lang, code, tests):
    assert run(fresh_pool, lang, code, tests).status is Status.PASSED
    slots = fresh_pool._slots[lang]
    (first,) = tuple(slots.all)
    for _ in range(3):
        assert run(fresh_pool, lang, code, tests).status is Status.PASSED
    assert tuple(slots.all) == (first,) and first.jobs_done == 4


def test_tainting_job_replaces_the_julia_worker(fresh_pool):
    run(fresh_pool, "julia", "ok() = true\n", JL_PASS)
    (first,) = tuple(fresh_pool._slots["julia"].all)
    assert run(fresh_pool, "julia", 'Base.reverse(s::String) = "x"\nok() = true\n', JL_PASS).status \
        is Status.RUNTIME_ERROR                      # piracy: tampering, and the worker is not reused
    (second,) = tuple(fresh_pool._slots["julia"].all)
    assert second is not first
