import pytest

from rarelang.params import load_params
from rarelang.rewards import RewardTable
from rarelang.sandbox import Outcome, Status


@pytest.mark.parametrize("status,passed,total,expected", [
    (Status.SYNTAX_ERROR, 0, 0, -1.0),
    (Status.RUNTIME_ERROR, 0, 3, -0.5),
    (Status.TIMEOUT, 0, 0, -0.5),
    (Status.MEMORY_EXCEEDED, 0, 0, -0.5),
    (Status.OUTPUT_EXCEEDED, 0, 0, -0.5),
    (Status.TESTS_FAILED, 0, 4, 0.0),
    (Status.TESTS_FAILED, 1, 4, 0.125),
    (Status.TESTS_FAILED, 3, 4, 0.375),
    (Status.TESTS_FAILED, 0, 0, 0.0),      # no test recorded: nothing earned
    (Status.PASSED, 4, 4, 1.0),
    (Status.SANDBOX_ERROR, 0, 0, -0.5),     # scored as a failure
])
def test_default_table_every_row(status, passed, total, expected):
    assert RewardTable()(status, passed, total) == pytest.approx(expected)


def test_every_status_has_a_reward():
    table = RewardTable()
    for s in Status:
        assert isinstance(table(s, 1, 2), float)


def test_partial_reward_is_monotone_and_below_pass():
    t = RewardTable()
    values = [t(Status.TESTS_FAILED, k, 10) for k in range(10)]
    assert values == sorted(values)
    assert max(values) < t(Status.PASSED, 10, 10)
    assert t(Status.TESTS_FAILED, 9, 10) <= t.tests_failed_max


def test_from_params_overrides_and_rejects_unknown_keys():
    t = RewardTable.from_params({"syntax_error": -2, "tests_failed_max": 0.8})
    assert t(Status.SYNTAX_ERROR) == -2.0
    assert t(Status.TESTS_FAILED, 1, 2) == pytest.approx(0.4)
    assert t(Status.PASSED) == 1.0
    with pytest.raises(ValueError, match="unknown key"):
        RewardTable.from_params({"compile_error": -1})


def test_params_yaml_reward_section_matches_the_paper_defaults():
    table = RewardTable.from_params(load_params()["reward"])
    assert table == RewardTable()


def test_score_uses_outcome_counts():
    o = Outcome(Status.TESTS_FAILED, tests_passed=2, tests_total=4)
    assert RewardTable().score(o) == pytest.approx(0.25)


def test_sandbox_error_may_never_pay_more_than_a_runtime_error():
    with pytest.raises(ValueError, match="pays more than reward.runtime_error"):
        RewardTable(sandbox_error=0.0)
    with pytest.raises(ValueError, match="sandbox_error"):
        RewardTable.from_params({"sandbox_error": 0.0})
    table = RewardTable.from_params(load_params()["reward"])
    assert table.sandbox_error <= table.runtime_error
