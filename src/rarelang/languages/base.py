"""What the sandbox needs to know about one language. Adding a language = adding one module
with a ``Language`` subclass and a harness (warm worker script) under ``harness/``."""

from __future__ import annotations

import re
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the sandbox package imports this one: no runtime import back
    from ..sandbox.config import SandboxConfig

HARNESS_DIR = Path(__file__).resolve().parent / "harness"


class InterpreterNotFound(RuntimeError):
    pass


@dataclass
class Mount:
    """A host path the sandbox needs read-only (e.g. an interpreter prefix outside /usr)."""

    host: Path
    inside: str


class Language(ABC):
    name: str = ""
    display: str = ""                   # the name people use ("Julia", "R")
    fence: str = ""                     # the tag of a fenced code block in this language
    fence_tags: frozenset[str] = frozenset()   # tags accepted as this language
    suffix: str = ""
    harness_file: str = ""
    #: True when the worker enforces the per-job timeout itself and survives it (fork-based);
    #: False when the Python side must kill the worker to stop a job.
    worker_enforces_timeout: bool = False

    # --- interpreter ---------------------------------------------------------------------
    @abstractmethod
    def find_interpreter(self, cfg: SandboxConfig) -> str:
        """Absolute path of the interpreter on this machine (raise InterpreterNotFound)."""

    #: the interpreter's name on a container image's PATH (the sandbox backend decides which one runs)
    default_binary: str = ""

    def host_mounts(self, cfg: SandboxConfig) -> list[Mount]:
        """Host paths outside /usr the host's interpreter needs inside the sandbox."""
        return [Mount(Path(p), str(p)) for p in cfg.extra_binds]

    @abstractmethod
    def interpreter_args(self, cfg: SandboxConfig) -> list[str]:
        """Flags between the interpreter and the harness script."""

    def env(self, cfg: SandboxConfig, home: str) -> dict[str, str]:
        env = {"HOME": home, "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        # sandbox.<lang>.env: extra variables, e.g. LD_LIBRARY_PATH for an interpreter unpacked
        # into a private prefix
        env.update({str(k): str(v) for k, v in (getattr(cfg, self.name, {}) or {}).get("env", {}).items()})
        return env

    def worker_argv(self, cfg: SandboxConfig, interpreter: str, harness_dir: str, req_fd: int, resp_fd: int,
                    once: bool) -> list[str]:
        """The warm worker's command line: ``interpreter`` and ``harness_dir`` as the sandbox sees
        them (the sandbox backend's choice: the host's interpreter, or a container image's)."""
        harness = f"{harness_dir}/{self.harness_file}"
        argv = [interpreter, *self.interpreter_args(cfg), harness,
                "--req-fd", str(req_fd), "--resp-fd", str(resp_fd),
                "--memory-mb", str(int(cfg.memory_mb))]
        return argv + (["--once"] if once else [])

    # --- functions a program defines ----------------------------------------------------------
    @abstractmethod
    def definitions(self, code: str) -> dict[str, str]:
        """Top-level function definitions of ``code``: name → its signature as written (one line)."""

    def entry_point(self, solution: str, tests: str) -> tuple[str, str] | None:
        """(name, signature) of the function the tests call, from the reference solution: the
        defined function whose call appears first in the tests (MultiPL-E gives every prompt this
        signature). None when the tests call no function the solution defines."""
        defs = self.definitions(solution)
        first: tuple[int, str] | None = None
        for name in defs:
            m = re.search(rf"(?<![\w.!]){re.escape(name)}\s*\(", tests)
            if m and (first is None or m.start() < first[0]):
                first = (m.start(), name)
        return (first[1], defs[first[1]]) if first else None

    # --- tests -----------------------------------------------------------------------------
    @abstractmethod
    def test_style(self, tests: str) -> str:
        """Which way the harness counts tests: a framework style or ``script`` (counts 1)."""

    @abstractmethod
    def assemble(self, code: str, tests: str) -> str:
        """One standalone program file: the program followed by its tests."""


def which_or_none(*candidates: str) -> str | None:
    for c in candidates:
        if not c:
            continue
        p = Path(c)
        if p.is_absolute() and p.exists():
            return str(p)
        found = shutil.which(c)
        if found:
            return found
    return None


def balanced_signature(lines: list[str], i: int, start: int) -> tuple[str, str]:
    """(signature, rest): the signature beginning at ``lines[i][start:]``, continued over following
    lines until its parentheses balance, joined into one line, and what follows its closing
    parenthesis on that line (Julia keeps a ``::ReturnType``/``where`` clause from it)."""
    text, depth, j = "", 0, i
    while j < len(lines):
        part = lines[j][start:] if j == i else " " + lines[j].strip()
        for k, c in enumerate(part):
            depth += (c == "(") - (c == ")")
            if depth == 0 and c == ")":
                return text + part[:k + 1], part[k + 1:].rstrip().rstrip("{").rstrip()
        text += part
        j += 1
    return text.strip(), ""
