"""Turn what a worker reported (or how it died) into one honest Status.

Rules, in order:
1. an output file reached the hard cap (RLIMIT_FSIZE)            → output_exceeded
2. wall-clock limit hit                                          → timeout
3. worker process died mid-job: SIGXFSZ → output_exceeded; an out-of-memory trace →
   memory_exceeded; otherwise the program took the process down → runtime_error
4. the program tampered with what judges it (shadowed or redefined ==, all.equal, the test
   framework …)                                                  → runtime_error
5. the program ended the process itself (quit()/exit()) before its tests finished → runtime_error
   (an early exit is never ``passed``)
6. program or tests do not parse (or Julia lowering fails)       → syntax_error
7. program fails while loading: out of memory → memory_exceeded, else runtime_error
8. tests ran: an out-of-memory error → memory_exceeded; all passed (and at least one) → passed;
   none passed and at least one errored → runtime_error (the program crashes on its tests);
   otherwise tests_failed with passed/total
9. anything the harness itself could not handle                  → sandbox_error
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass, field
from typing import Any

from .outcome import Status

_OOM = re.compile(r"OutOfMemoryError|out of memory|cannot allocate|memory exhausted", re.I)


@dataclass
class RawResult:
    """What the Python side observed for one job."""

    kind: str                                   # response | timeout | died | sandbox_error
    response: dict[str, Any] = field(default_factory=dict)
    returncode: int | None = None               # for died: negative = signal
    message: str = ""
    stdout_size: int = 0
    stderr_size: int = 0
    stderr_tail: str = ""


@dataclass
class Verdict:
    status: Status
    passed: int = 0
    total: int = 0
    message: str = ""


def classify(raw: RawResult, max_output_bytes: int, timeout_s: float) -> Verdict:
    if raw.kind == "sandbox_error":
        return Verdict(Status.SANDBOX_ERROR, message=raw.message)
    if max(raw.stdout_size, raw.stderr_size) >= max_output_bytes:
        return Verdict(Status.OUTPUT_EXCEEDED,
                       message=f"output exceeded the {max_output_bytes}-byte cap")
    resp = raw.response
    if raw.kind == "timeout" or resp.get("error_kind") == "timeout":
        return Verdict(Status.TIMEOUT, message=f"timed out after {timeout_s:g}s")
    if raw.kind == "died":
        rc = raw.returncode
        if rc is not None and rc < 0 and -rc == signal.SIGXFSZ:
            return Verdict(Status.OUTPUT_EXCEEDED, message="output exceeded the file-size cap")
        if _OOM.search(raw.stderr_tail or ""):
            return Verdict(Status.MEMORY_EXCEEDED, message="out of memory")
        how = f"signal {-rc}" if rc is not None and rc < 0 else f"exit code {rc}"
        return Verdict(Status.RUNTIME_ERROR,
                       message=f"the process ended before the tests finished ({how}) {raw.message}".strip())
    if raw.kind != "response":
        return Verdict(Status.SANDBOX_ERROR, message=f"unknown result kind {raw.kind!r}")

    phase = resp.get("phase")
    kind = resp.get("error_kind")
    msg = str(resp.get("message") or "")
    passed = int(resp.get("passed") or 0)
    failed = int(resp.get("failed") or 0)
    errored = int(resp.get("errored") or 0)
    total = passed + failed + errored

    if kind == "tamper":
        return Verdict(Status.RUNTIME_ERROR, passed, total, msg or "the program tampered with the tests")
    if kind == "exited" or phase == "exited":
        return Verdict(Status.RUNTIME_ERROR, message=msg or "the program exited before its tests finished")
    if phase in ("parse_code", "parse_tests"):
        return Verdict(Status.SYNTAX_ERROR, message=msg)
    if phase == "load":
        if kind == "syntax":
            return Verdict(Status.SYNTAX_ERROR, message=msg)
        if kind == "memory":
            return Verdict(Status.MEMORY_EXCEEDED, message=msg)
        return Verdict(Status.RUNTIME_ERROR, message=msg)
    if phase == "tests":
        if kind == "memory":
            return Verdict(Status.MEMORY_EXCEEDED, passed, total, msg)
        if total > 0 and passed == total:
            return Verdict(Status.PASSED, passed, total, "")
        if total == 0:
            return Verdict(Status.TESTS_FAILED, 0, 0, msg or "the tests recorded no result")
        if passed == 0 and errored > 0:
            return Verdict(Status.RUNTIME_ERROR, passed, total, msg)
        return Verdict(Status.TESTS_FAILED, passed, total, msg)
    return Verdict(Status.SANDBOX_ERROR, message=msg or f"harness ended in phase {phase!r}")
