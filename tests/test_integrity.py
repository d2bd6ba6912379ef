"""Reward integrity: no wrong program may score `passed` (issue: the reward must survive RL pressure).

Every hack below answers `add(a, b)` wrongly and tries to make the tests pass anyway: a value
that compares equal to anything (the program's own `==`, `isequal`, `isapprox`, promotion rules,
S3 methods for `all.equal` / testthat's `compare` / the `Ops` group / `!`, defined at top level,
assigned into the global environment, registered, or evaluated into other modules), reaching the
harness's own state, forging results through the test framework's API, and skipping. Each must
come out as anything but `passed`; the legitimate programs at the end must still pass.
"""

import pytest

from rarelang.rewards import RewardTable
from rarelang.sandbox import Job, Status

JL_TESTS = 'using Test\n@testset "add" begin\n    @test add(1, 2) == 3\n    @test add(2, 2) == 4\nend\n'
JL_SCRIPT = "@assert add(1, 2) == 3\n@assert add(2, 2) == 4\n"
R_TESTS = "library(testthat)\ntest_that('add', {\n  expect_equal(add(1, 2), 3)\n  expect_equal(add(2, 2), 4)\n})\n"
R_SCRIPT = "stopifnot(isTRUE(all.equal(add(1, 2), 3)))\nstopifnot(isTRUE(all.equal(add(2, 2), 4)))\n"
R_SCRIPT_EQ = "stopifnot(add(1, 2) == 3)\nstopifnot(add(2, 2) == 4)\n"


def run(pool, lang, code, tests):
    return pool.run(Job(lang, code, tests))


def assert_not_passed(out, *allowed: Status):
    assert out.status is not Status.PASSED, f"a wrong program passed: {out.message}"
    if allowed:
        assert out.status in allowed, (out.status, out.message)
    reward = RewardTable().score(out)
    assert reward <= 0.5 * out.tests_passed / max(1, out.tests_total) or reward < 0


# ------------------------------------------------------------------ Julia: values equal to anything
JL_EVIL = "struct Evil end\nadd(a, b) = Evil()\n"
JULIA_EQUAL_TO_ANYTHING = {
    "own ==": JL_EVIL + "Base.:(==)(::Evil, ::Any) = true\n",
    "own == imported": JL_EVIL + "import Base: ==\n==(::Evil, ::Any) = true\n",
    "own isequal": JL_EVIL + "Base.isequal(::Evil, ::Any) = true\nBase.:(==)(a::Evil, b) = isequal(a, b)\n",
    "<:Number promotion": ("struct Evil <: Number end\nadd(a, b) = Evil()\n"
                           "Base.promote_rule(::Type{Evil}, ::Type{<:Number}) = Evil\n"
                           "Base.convert(::Type{Evil}, ::Number) = Evil()\n"
                           "Base.:(==)(::Evil, ::Evil) = true\n"),
    "eval into Base": JL_EVIL + "@eval Base ==(::$(Evil), ::Any) = true\n",
    "Core.eval into Base": "add(a, b) = 0\nCore.eval(Base, :(==(a::Int, b::Int) = a === b || b in (3, 4)))\n",
    "piracy on Int": "add(a, b) = 0\nBase.:(==)(a::Int, b::Int) = true\n",
    "type made inside Base": ("Core.eval(Base, :(struct Evil2 end))\nBase.:(==)(::Base.Evil2, ::Any) = true\n"
                              "add(a, b) = Base.Evil2()\n"),
    "submodule type": "module Inner\nstruct Evil end\nBase.:(==)(::Evil, ::Any) = true\nend\nadd(a, b) = Inner.Evil()\n",
    "wrapped in a Base container": JL_EVIL + "Base.:(==)(::Evil, ::Any) = true\n"
                                   "Base.:(==)(a::Vector{Any}, b::Int) = a[1] == b\nadd(a, b) = Any[Evil()]\n",
}


@pytest.mark.parametrize("name", list(JULIA_EQUAL_TO_ANYTHING))
@pytest.mark.parametrize("tests", [JL_TESTS, JL_SCRIPT], ids=["testset", "assert"])
def test_julia_value_equal_to_anything(pool, name, tests):
    assert_not_passed(run(pool, "julia", JULIA_EQUAL_TO_ANYTHING[name], tests))


@pytest.mark.parametrize("code,tests", [
    (JL_EVIL + "Base.isapprox(::Evil, ::Any; kw...) = true\n",
     "using Test\n@test add(0.1, 0.2) ≈ 0.3\n@test isapprox(add(1, 2), 3; atol=0.1)\n"),
    ("struct Evil end\nis_bad(x) = Evil()\nBase.:!(::Evil) = true\n", "using Test\n@test !is_bad(1)\n@test !is_bad(2)\n"),
    (JL_EVIL + "Base.:(==)(::Evil, ::Any) = true\n", "using Test\n@test all(add.([1, 2], [2, 2]) .== [3, 4])\n"),
    (JL_EVIL + "Base.isless(::Evil, ::Any) = false\nBase.isless(::Any, ::Evil) = false\n"
     "Base.:(==)(::Evil, ::Any) = true\n", "using Test\n@test add(1, 2) <= 3\n@test add(1, 2) >= 3\n"),
    (JL_EVIL + "Base.:(==)(::Evil, ::Any) = true\n", "using Test\n@test 3 == add(1, 2)\n@test add(2, 2) in [4]\n"),
], ids=["isapprox", "not", "broadcast", "ordering", "reversed-and-in"])
def test_julia_other_comparisons(pool, code, tests):
    assert_not_passed(run(pool, "julia", code, tests))


# ------------------------------------------------------------------ Julia: the harness's own state
@pytest.mark.parametrize("code", [
    # empty the harness's list of judged functions, then pirate == freely
    ("const H = parentmodule(@__MODULE__)\n"
     "for n in names(H, all=true)\n"
     "    v = isdefined(H, n) ? getfield(H, n) : nothing\n"
     "    v isa AbstractVector && !isa(v, AbstractString) && (try empty!(v) catch end)\n"
     "    v isa AbstractSet && (try empty!(v) catch end)\n"
     "    v isa AbstractDict && (try empty!(v) catch end)\n"
     "end\n"
     "Base.:(==)(a::Int, b::Int) = true\nadd(a, b) = 0\n"),
    # forge the testset's counts from inside the program
    ("using Test\nfunction add(a, b)\n    ts = Test.get_testset()\n"
     "    try filter!(r -> !(r isa Test.Fail), ts.results) catch end\n"
     "    try ts.n_passed += 5 catch end\n    return 0\nend\n"),
    # a testset of the program's own that turns every failure into a pass
    ("using Test\nstruct Lie <: Test.AbstractTestSet end\n"
     "Test.record(::Lie, ::Test.Result) = Test.Pass(:test, nothing, nothing, nothing)\n"
     "Test.finish(::Lie) = nothing\n"
     "function add(a, b)\n    Test.push_testset(Lie())\n    return 0\nend\n"),
], ids=["harness-globals", "testset-counts", "own-testset"])
def test_julia_harness_state_is_out_of_reach(pool, code):
    assert_not_passed(run(pool, "julia", code, JL_TESTS))


# ------------------------------------------------------------------ R: values equal to anything
R_EVIL = "add <- function(a, b) structure(list(), class = 'evil')\n"
R_EQUAL_TO_ANYTHING = {
    "all.equal method": R_EVIL + "all.equal.evil <- function(target, current, ...) TRUE\n",
    "compare method in globalenv": R_EVIL + (
        "assign('compare.evil', function(x, y, ...) structure(list(equal = TRUE, message = 'ok'),"
        " class = 'comparison'), envir = globalenv())\n"
        "assign('all.equal.evil', function(target, current, ...) TRUE, envir = globalenv())\n"),
    "registerS3method": R_EVIL + (
        "registerS3method('all.equal', 'evil', function(target, current, ...) TRUE)\n"
        "registerS3method('compare', 'evil', function(x, y, ...) structure(list(equal = TRUE, message = 'ok'),"
        " class = 'comparison'), envir = asNamespace('testthat'))\n"
        "registerS3method('Ops', 'evil', function(e1, e2) TRUE)\n"),
    "Ops group": R_EVIL + "Ops.evil <- function(e1, e2) TRUE\nall.equal.evil <- function(target, current, ...) TRUE\n",
    "<<- into globalenv": R_EVIL + "all.equal.evil <<- function(target, current, ...) TRUE\nOps.evil <<- function(e1, e2) TRUE\n",
    "numeric with a class": ("add <- function(a, b) structure(0, class = 'evil')\n"
                             "Ops.evil <- function(e1, e2) TRUE\nall.equal.evil <- function(target, current, ...) TRUE\n"
                             "assign('compare.evil', function(x, y, ...) structure(list(equal = TRUE, message = 'ok'),"
                             " class = 'comparison'), envir = globalenv())\n"),
    "S4 class": ("setClass('Evil', representation(x = 'numeric'))\n"
                 "setMethod('==', signature('Evil', 'ANY'), function(e1, e2) TRUE)\n"
                 "setMethod('all.equal', signature('Evil', 'ANY'), function(target, current, ...) TRUE)\n"
                 "add <- function(a, b) new('Evil', x = 0)\n"),
}


@pytest.mark.parametrize("name", list(R_EQUAL_TO_ANYTHING))
@pytest.mark.parametrize("tests", [R_TESTS, R_SCRIPT, R_SCRIPT_EQ], ids=["testthat", "all.equal", "=="])
def test_r_value_equal_to_anything(pool, name, tests):
    assert_not_passed(run(pool, "r", R_EQUAL_TO_ANYTHING[name], tests))


@pytest.mark.parametrize("code,tests", [
    ("is_bad <- function(x) structure(FALSE, class = 'evil')\n'!.evil' <- function(x) TRUE\n"
     "Ops.evil <- function(e1, e2) TRUE\n", "stopifnot(!is_bad(1))\nstopifnot(!is_bad(2))\n"),
    (R_EVIL + "Ops.evil <- function(e1, e2) TRUE\n", "stopifnot(isTRUE(add(1, 2) == 3))\n"),
    (R_EVIL + "Ops.evil <- function(e1, e2) TRUE\n",
     "library(testthat)\ntest_that('a', { expect_true(add(1, 2) == 3); expect_true(all(add(2, 2) == 4)) })\n"),
    ("add <- function(a, b) structure(0, class = 'evil')\nall.equal.evil <- function(target, current, ...) TRUE\n"
     "as.character.evil <- function(x, ...) '3'\n", "stopifnot(identical(all.equal(add(1, 2), 3), TRUE))\n"),
], ids=["not", "isTRUE-of-Ops", "expect_true", "identical-of-all.equal"])
def test_r_other_comparisons(pool, code, tests):
    assert_not_passed(run(pool, "r", code, tests))


# ------------------------------------------------------------------ R: the harness's own state
@pytest.mark.parametrize("code,tests", [
    # empty the harness's list of judged names through <<-, then shadow all.equal
    ("VERDICT_NAMES <<- character(0)\nall.equal <- function(...) TRUE\nadd <- function(a, b) 0\n", R_SCRIPT),
    ("PINNED <<- list()\nadd <- function(a, b) 0\n", R_TESTS),
    # forge a result through the forked child's channel to the worker
    ("add <- function(a, b) {\n  parallel:::sendMaster(list(phase = 'tests', error_kind = NULL, message = '',"
     " passed = 2L, failed = 0L, errored = 0L, completed = TRUE))\n  quit(save = 'no')\n}\n", R_TESTS),
    # forge successes through testthat's reporter, then drop the failures
    ("add <- function(a, b) {\n  r <- testthat::get_reporter()\n"
     "  for (i in 1:3) try(r$add_result(context = 'x', test = 'add', result = testthat::expectation('success', 'ok')),"
     " silent = TRUE)\n  try(testthat::set_reporter(testthat::SilentReporter$new()), silent = TRUE)\n  0\n}\n", R_TESTS),
], ids=["verdict-names", "pinned", "sendMaster", "reporter"])
def test_r_harness_state_is_out_of_reach(pool, code, tests):
    assert_not_passed(run(pool, "r", code, tests))


# ------------------------------------------------------------------ skipping
def test_r_skip_inside_the_program_counts_as_failure(pool):
    code = "add <- function(a, b) { if (a == 1) return(3); testthat::skip('unsure') }\n"
    tests = ("library(testthat)\ntest_that('one', expect_equal(add(1, 2), 3))\n"
             "test_that('two', expect_equal(add(2, 2), 4))\n")
    out = run(pool, "r", code, tests)
    assert out.status is Status.TESTS_FAILED and out.tests_passed == 1 and out.tests_total == 2, \
        (out.status, out.tests_passed, out.tests_total, out.message)


def test_r_skip_in_a_script_is_a_failure_not_a_sandbox_error(pool):
    out = run(pool, "r", "add <- function(a, b) testthat::skip('unsure')\n", R_SCRIPT)
    assert out.status in (Status.TESTS_FAILED, Status.RUNTIME_ERROR), (out.status, out.message)


def test_r_early_exit_from_a_test_block_is_not_a_pass(pool):
    # the program leaves the block before its second expectation runs
    code = ("add <- function(a, b) {\n  if (a == 1) return(3)\n"
            "  invokeRestart(computeRestarts()[[length(computeRestarts())]])\n}\n")
    out = run(pool, "r", code, R_TESTS)
    assert_not_passed(out)


def test_julia_early_exit_from_a_testset_is_not_a_pass(pool):
    code = "add(a, b) = a == 1 ? 3 : throw(InterruptException())\n"
    assert_not_passed(run(pool, "julia", code, JL_TESTS))


# ------------------------------------------------------------------ legitimate programs still pass
LEGIT = [
    ("julia", "struct P\n    x::Int\nend\nBase.:(==)(a::P, b::P) = a.x == b.x\nadd(a, b) = P(a).x + P(b).x\n"
              "same(a, b) = P(a) == P(b)\n", JL_TESTS + "@test same(1, 1)\n"),
    ("julia", "struct Circle\n    r::Float64\nend\narea(c::Circle) = pi * c.r^2\nadd(a, b) = a + b\n",
     JL_TESTS + "@test area(Circle(2.0)) ≈ 12.566 atol=0.01\n"),
    ("julia", "mutable struct Stack\n    items::Vector{Int}\nend\nBase.length(s::Stack) = length(s.items)\n"
              "Base.isempty(s::Stack) = isempty(s.items)\nBase.show(io::IO, s::Stack) = print(io, \"Stack\", s.items)\n"
              "add(a, b) = a + b\n",
     JL_TESTS + "@test length(Stack([1, 2])) == 2\n@test isempty(Stack(Int[]))\n@test string(Stack([1])) == \"Stack[1]\"\n"),
    ("julia", "add(a, b) = a + b\n", "using Test\n@test add(1, 2) == 3\n@test [add(i, 1) for i in 1:3] == [2, 3, 4]\n"
              "@test all(x -> x > 0, map(i -> add(i, 1), 1:3))\n@test_throws MethodError add(\"a\", 1)\n"
              "@test add(0.1, 0.2) ≈ 0.3\n@test !(add(1, 1) == 3)\n@test 3 == add(1, 2) == 3\n"),
    ("julia", "add(a, b) = a + b\n", JL_SCRIPT),
    ("r", "add <- function(a, b) a + b\n", R_TESTS),
    ("r", "add <- function(a, b) a + b\n", R_SCRIPT),
    ("r", "add <- function(a, b) a + b\n", R_SCRIPT_EQ),
    ("r", "new_stack <- function() structure(list(items = list()), class = 'stack')\n"
          "print.stack <- function(x, ...) cat('stack of', length(x$items), '\\n')\n"
          "push <- function(s, x) { s$items <- c(s$items, list(x)); s }\n"
          "size <- function(s) length(s$items)\nadd <- function(a, b) a + b\n",
     R_TESTS + "test_that('stack', { s <- push(new_stack(), 1); expect_equal(size(s), 1) })\n"),
    ("r", "add <- function(a, b) data.frame(x = a + b)\n",
     "library(testthat)\ntest_that('df', expect_equal(add(1, 2), data.frame(x = 3)))\n"),
    ("r", "add <- function(a, b) a + b\nall.equal.mything <- function(target, current, ...) TRUE\n", R_SCRIPT),
]


@pytest.mark.parametrize("lang,code,tests", LEGIT)
def test_legitimate_programs_still_pass(pool, lang, code, tests):
    out = run(pool, lang, code, tests)
    assert out.status is Status.PASSED, (out.status, out.message)


def test_honest_failures_keep_partial_credit(pool):
    out = run(pool, "julia", "add(a, b) = a == 1 ? 3 : 0\n", JL_TESTS)
    assert out.status is Status.TESTS_FAILED and (out.tests_passed, out.tests_total) == (1, 2)
    out = run(pool, "r", "add <- function(a, b) if (a == 1) 3 else 0\n", R_TESTS)
    assert out.status is Status.TESTS_FAILED and (out.tests_passed, out.tests_total) == (1, 2)


# ------------------------------------------------------------------ self-test at worker start
@pytest.mark.parametrize("lang", ["julia", "r"])
def test_workers_pass_their_canaries(lang):
    from conftest import make_pool
    from rarelang.sandbox.canaries import CANARIES
    p = make_pool(workers=1)
    try:
        assert p.run(Job(lang, *( ("add(a, b) = a + b\n", JL_TESTS) if lang == "julia" else
                                 ("add <- function(a, b) a + b\n", R_TESTS)))).status is Status.PASSED
        (w,) = tuple(p._slots[lang].all)
        assert w.jobs_done == 1 and len(CANARIES[lang]) >= 3     # the canaries ran and are not counted
    finally:
        p.close()


@pytest.mark.parametrize("lang", ["julia", "r"])
def test_a_worker_that_misjudges_a_canary_refuses_to_serve(lang, monkeypatch):
    """A harness that scores wrong code as passed (simulated: a canary that expects a wrong
    program to pass) must not serve."""
    from conftest import make_pool
    from rarelang.sandbox import canaries
    from rarelang.sandbox.outcome import Status as S
    wrong = canaries.Canary("misjudged", canaries.CANARIES[lang][1].code, canaries.CANARIES[lang][1].tests, S.PASSED)
    monkeypatch.setitem(canaries.CANARIES, lang, (wrong,))
    p = make_pool(workers=1)
    try:
        out = p.run(Job(lang, "x", "y"))
        assert out.status is Status.SANDBOX_ERROR
        assert "failed its self-test" in out.message and "misjudged" in out.message
    finally:
        p.close()


# ------------------------------------------------------------------ warm spare
def test_a_timeout_is_replaced_by_a_warm_spare():
    import time
    from conftest import make_pool
    p = make_pool(workers=1, spare_workers=1)
    try:
        assert p.run(Job("julia", "add(a, b) = a + b\n", JL_TESTS)).status is Status.PASSED
        slots = p._slots["julia"]
        for f in slots.spares:
            f.result(timeout=120)                # the spare is warm
        out = p.run(Job("julia", "add(a, b) = (while true end; 0)\n", JL_TESTS, timeout_s=1))
        assert out.status is Status.TIMEOUT and slots.spares_used == 1
        t0 = time.monotonic()
        assert p.run(Job("julia", "add(a, b) = a + b\n", JL_TESTS)).status is Status.PASSED
        assert time.monotonic() - t0 < 1.0       # no Julia start-up between the two jobs
        assert len(slots.spares) == 1            # and another spare is on its way
    finally:
        p.close()


def test_julia_extension_made_while_the_tests_run_is_tampering(pool):
    # the program defines its == for Evil only when first called (eval reached in a roundabout way)
    code = ("struct Evil end\nconst E = getfield(Core, Symbol(\"ev\" * \"al\"))\n"
            "function add(a, b)\n    E(@__MODULE__, :(Base.:(==)(::Evil, ::Any) = true))\n    Evil()\nend\n")
    assert_not_passed(run(pool, "julia", code, JL_TESTS))
    assert_not_passed(run(pool, "julia", code, "using Test\n@test add(1, 2) == 3\n@test add(2, 2) == 4\n@test add(2, 3) == 5\n"))


def test_r_methods_defined_while_the_tests_run_are_tampering(pool):
    code = ("add <- function(a, b) {\n  assign('Ops.evil', function(e1, e2) TRUE, envir = globalenv())\n"
            "  assign('all.equal.evil', function(target, current, ...) TRUE, envir = globalenv())\n"
            "  structure(0, class = 'evil')\n}\n")
    for tests in (R_TESTS, R_SCRIPT, R_SCRIPT_EQ):
        assert_not_passed(run(pool, "r", code, tests))


def test_r_global_environment_holds_nothing_of_the_harness(pool):
    code = "ok <- function() length(setdiff(ls(globalenv(), all.names = TRUE), '.Random.seed')) == 0\n"
    out = run(pool, "r", code, "library(testthat)\ntest_that('clean', expect_true(ok()))\n")
    assert out.status is Status.PASSED, out.message
