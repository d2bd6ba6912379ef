import signal

from rarelang.sandbox.classify import RawResult, classify
from rarelang.sandbox.outcome import Status

CAP = 1 << 20


def resp(**kw):
    base = {"phase": "tests", "error_kind": None, "message": "", "passed": 0, "failed": 0, "errored": 0}
    base.update(kw)
    return RawResult("response", response=base)


def test_all_passed():
    v = classify(resp(passed=3), CAP, 5)
    assert (v.status, v.passed, v.total) == (Status.PASSED, 3, 3)


def test_partial():
    v = classify(resp(passed=1, failed=2), CAP, 5)
    assert (v.status, v.passed, v.total) == (Status.TESTS_FAILED, 1, 3)


def test_none_passed_with_errors_is_runtime_error():
    assert classify(resp(failed=1, errored=2), CAP, 5).status is Status.RUNTIME_ERROR


def test_none_passed_only_failures_is_tests_failed():
    assert classify(resp(failed=2), CAP, 5).status is Status.TESTS_FAILED


def test_no_tests_recorded_is_not_passed():
    v = classify(resp(), CAP, 5)
    assert v.status is Status.TESTS_FAILED and v.total == 0


def test_parse_failures_are_syntax_errors():
    assert classify(resp(phase="parse_code", error_kind="syntax"), CAP, 5).status is Status.SYNTAX_ERROR
    assert classify(resp(phase="parse_tests", error_kind="syntax"), CAP, 5).status is Status.SYNTAX_ERROR
    assert classify(resp(phase="load", error_kind="syntax"), CAP, 5).status is Status.SYNTAX_ERROR


def test_load_errors():
    assert classify(resp(phase="load", error_kind="runtime"), CAP, 5).status is Status.RUNTIME_ERROR
    assert classify(resp(phase="load", error_kind="memory"), CAP, 5).status is Status.MEMORY_EXCEEDED


def test_memory_during_tests_wins_over_counts():
    assert classify(resp(passed=1, errored=1, error_kind="memory"), CAP, 5).status is Status.MEMORY_EXCEEDED


def test_early_exit_and_tamper_are_runtime_errors():
    assert classify(resp(phase="exited", error_kind="exited"), CAP, 5).status is Status.RUNTIME_ERROR
    assert classify(resp(passed=4, error_kind="tamper"), CAP, 5).status is Status.RUNTIME_ERROR


def test_timeout():
    assert classify(RawResult("timeout"), CAP, 5).status is Status.TIMEOUT
    assert classify(resp(error_kind="timeout"), CAP, 5).status is Status.TIMEOUT


def test_output_cap_wins_even_over_a_pass():
    raw = resp(passed=1)
    raw.stdout_size = CAP
    assert classify(raw, CAP, 5).status is Status.OUTPUT_EXCEEDED


def test_died_by_sigxfsz_is_output_exceeded():
    raw = RawResult("died", returncode=-signal.SIGXFSZ)
    assert classify(raw, CAP, 5).status is Status.OUTPUT_EXCEEDED


def test_died_with_oom_trace_is_memory_exceeded():
    raw = RawResult("died", returncode=-6, stderr_tail="ERROR: OutOfMemoryError()")
    assert classify(raw, CAP, 5).status is Status.MEMORY_EXCEEDED


def test_died_otherwise_is_runtime_error_never_passed():
    for rc in (0, 1, -11):
        assert classify(RawResult("died", returncode=rc), CAP, 5).status is Status.RUNTIME_ERROR


def test_harness_failure_is_sandbox_error():
    assert classify(resp(phase="harness", error_kind="runtime"), CAP, 5).status is Status.SANDBOX_ERROR
    assert classify(RawResult("sandbox_error", message="x"), CAP, 5).status is Status.SANDBOX_ERROR
