"""The reward table: execution outcome → scalar reward (values from params.yaml ``reward``). The one
place rewards are made: the sandbox returns outcomes only; training, validation and `rarelang exec`
map them here."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .sandbox.outcome import Outcome, Status


@dataclass(frozen=True)
class RewardTable:
    """Default values follow the paper: compile failure −1, runtime error −0.5,
    partial tests 0–0.5 (linear in the passed fraction), all pass +1.

    ``sandbox_error`` (the harness could not judge the program) is scored as a failure, the same
    as a runtime error: it may never pay more than ``runtime_error``, or a policy would learn to
    break the harness rather than write code. (TRL cannot mask a sample: a ``None`` reward
    becomes 0 in the group, which is better than −0.5, so it is not offered.)
    """

    syntax_error: float = -1.0
    runtime_error: float = -0.5
    timeout: float = -0.5
    memory_exceeded: float = -0.5
    output_exceeded: float = -0.5
    tests_failed_max: float = 0.5   # tests_failed → tests_failed_max × passed / total
    passed: float = 1.0
    sandbox_error: float = -0.5

    def __post_init__(self) -> None:
        if self.sandbox_error > self.runtime_error:
            raise ValueError(f"reward.sandbox_error ({self.sandbox_error}) pays more than reward.runtime_error "
                             f"({self.runtime_error}): a program that breaks the harness would be rewarded for it")

    @classmethod
    def from_params(cls, section: dict[str, Any] | None) -> "RewardTable":
        section = dict(section or {})
        known = {f.name for f in fields(cls)}
        unknown = set(section) - known
        if unknown:
            raise ValueError(f"params.yaml reward: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: float(v) for k, v in section.items()})

    def __call__(self, status: Status, tests_passed: int = 0, tests_total: int = 0) -> float:
        if status is Status.TESTS_FAILED:
            if tests_total <= 0:
                return 0.0
            frac = min(max(tests_passed / tests_total, 0.0), 1.0)
            return self.tests_failed_max * frac
        return float(getattr(self, status.value))

    def score(self, outcome: Outcome) -> float:
        return self(outcome.status, outcome.tests_passed, outcome.tests_total)
