"""R: ``testthat`` (each expectation counts) or a plain ``stopifnot`` script (counts 1), as used
by MultiPL-E."""

from __future__ import annotations

import os
import re

from typing import TYPE_CHECKING

from .base import balanced_signature, InterpreterNotFound, Language, which_or_none

if TYPE_CHECKING:
    from ..sandbox.config import SandboxConfig

_TESTTHAT = re.compile(r"\b(test_that|expect_[a-z_]+|describe)\s*\(")


_R_FUNCTION = re.compile(r"^`?([A-Za-z.][\w.]*)`?\s*(?:<-|=)\s*function\s*\(")


class R(Language):
    name = "r"
    display = "R"
    fence = "r"
    fence_tags = frozenset({"r"})
    aliases = ("R",)
    suffix = ".R"
    harness_file = "r_worker.R"
    default_binary = "Rscript"
    worker_enforces_timeout = True   # each job is a forked child; the worker kills it and lives on

    def find_interpreter(self, cfg: SandboxConfig) -> str:
        configured = str(cfg.r.get("bin", "auto"))
        found = which_or_none(configured if configured != "auto" else "",
                              os.environ.get("RARELANG_RSCRIPT", ""), "Rscript")
        if not found:
            raise InterpreterNotFound(
                f"Rscript not found (machine.rscript_bin={configured!r}); run `make setup` (Debian "
                "packages r-base-core r-cran-testthat r-cran-jsonlite)")
        return found

    def interpreter_args(self, cfg: SandboxConfig) -> list[str]:
        return ["--vanilla"]

    def env(self, cfg: SandboxConfig, home: str) -> dict[str, str]:
        env = {"R_LIBS_USER": "/nonexistent", "OMP_NUM_THREADS": "1",
               "RARELANG_TESTTHAT_EDITION": str(cfg.r.get("testthat_edition", 2))}
        env.update(super().env(cfg, home))
        return env

    def definitions(self, code: str) -> dict[str, str]:
        lines = code.split("\n")
        out: dict[str, str] = {}
        for i, ln in enumerate(lines):
            m = _R_FUNCTION.match(ln)
            if m and m.group(1) not in out:
                out[m.group(1)] = balanced_signature(lines, i, 0)[0]
        return out

    def test_style(self, tests: str) -> str:
        return "testthat" if _TESTTHAT.search(tests) else "script"

    def assemble(self, code: str, tests: str) -> str:
        return code.rstrip("\n") + "\n\n" + tests.lstrip("\n")
