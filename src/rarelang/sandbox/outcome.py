"""Records that flow through the sandbox: a job in, an outcome out."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """What happened to one (program, tests) job. Exactly one per job."""

    PASSED = "passed"                    # every test ran and passed
    TESTS_FAILED = "tests_failed"        # tests ran; some (or all) failed
    SYNTAX_ERROR = "syntax_error"        # program (or tests) do not parse / lower
    RUNTIME_ERROR = "runtime_error"      # program crashed loading, every test errored, or it exited early
    TIMEOUT = "timeout"                  # wall-clock limit hit
    MEMORY_EXCEEDED = "memory_exceeded"  # allocation beyond the memory cap
    OUTPUT_EXCEEDED = "output_exceeded"  # wrote more than the output cap
    SANDBOX_ERROR = "sandbox_error"      # our fault or bad input, not the program's

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)


@dataclass(frozen=True)
class Job:
    """A program and its unit tests in one language."""

    lang: str
    code: str
    tests: str
    id: str = ""
    timeout_s: float | None = None


@dataclass
class Outcome:
    status: Status
    tests_passed: int = 0
    tests_total: int = 0
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    message: str = ""
    id: str = ""
    lang: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        extra = d.pop("extra")
        d.update(extra)
        return d
