"""Julia: ``using Test`` with ``@test``/``@testset`` (each ``@test`` counts), or a plain script."""

from __future__ import annotations

import os
import re
from pathlib import Path

from typing import TYPE_CHECKING

from .base import balanced_signature, InterpreterNotFound, Language, Mount, which_or_none

if TYPE_CHECKING:
    from ..sandbox.config import SandboxConfig

DEFAULT_PREFIX = "/opt/julia-1.5.3"
_TEST_MACRO = re.compile(r"@test(set|_throws|_broken|_skip)?\b")


_JL_FUNCTION = re.compile(r"^function\s+([A-Za-z_][\w!]*)\s*[({]")
_JL_SHORT = re.compile(r"^([A-Za-z_][\w!]*)\s*\([^=]*\)\s*(?:::\s*[\w{}, ]+)?\s*=(?!=)")

class Julia(Language):
    name = "julia"
    display = "Julia"
    fence = "julia"
    fence_tags = frozenset({"julia", "jl"})
    aliases = ("jl",)
    suffix = ".jl"
    harness_file = "julia_worker.jl"
    default_binary = "julia"
    worker_enforces_timeout = False   # a busy Julia task cannot be interrupted: the worker is killed

    def definitions(self, code: str) -> dict[str, str]:
        lines = code.split("\n")
        out: dict[str, str] = {}
        for i, ln in enumerate(lines):
            m = _JL_FUNCTION.match(ln) or _JL_SHORT.match(ln)
            if m and m.group(1) not in out:
                head, rest = balanced_signature(lines, i, 0)
                # keep a return type / where clause after the closing parenthesis, never a body
                m2 = re.match(r"^\s*((?:::\s*[^=#]+?)?(?:\s+where\s+[^=#]+?)?)\s*(?:=.*)?$", rest)
                sig = head + (m2.group(1).rstrip() if m2 else "")
                if not sig.startswith("function"):
                    sig = "function " + sig
                out[m.group(1)] = sig.strip()
        return out

    def find_interpreter(self, cfg: SandboxConfig) -> str:
        configured = str(cfg.julia.get("bin", "auto"))
        if configured != "auto":
            found = which_or_none(configured)
        else:
            found = which_or_none(os.environ.get("RARELANG_JULIA", ""),
                                  f"{DEFAULT_PREFIX}/usr/bin/julia", "julia")
        if not found:
            raise InterpreterNotFound(
                f"julia not found (machine.julia_bin={configured!r}); run `make setup`, which installs "
                f"Julia 1.5.3 into {DEFAULT_PREFIX}, or point machine.julia_bin / $RARELANG_JULIA at one")
        return found

    def host_mounts(self, cfg: SandboxConfig) -> list[Mount]:
        binary = Path(self.find_interpreter(cfg)).resolve()
        prefix = binary.parent.parent          # <prefix>/usr/bin/julia or <prefix>/bin/julia
        if prefix.name == "usr":
            prefix = prefix.parent
        extra = super().host_mounts(cfg)
        if str(prefix) in ("/", "/usr"):
            return extra
        return [Mount(prefix, str(prefix))] + extra

    def interpreter_args(self, cfg: SandboxConfig) -> list[str]:
        args = ["--startup-file=no", "--history-file=no", "--color=no", "--banner=no"]
        compile_mode = str(cfg.julia.get("compile", "min"))
        if compile_mode not in ("yes", "no", "all", "min"):
            raise ValueError(f"sandbox.julia.compile must be yes|no|all|min, not {compile_mode!r}")
        if compile_mode != "yes":
            args.append(f"--compile={compile_mode}")
        opt = cfg.julia.get("optimize")
        if opt is not None:
            args.append(f"--optimize={int(opt)}")
        return args

    def env(self, cfg: SandboxConfig, home: str) -> dict[str, str]:
        env = {"JULIA_DEPOT_PATH": "/tmp/julia-depot", "JULIA_NUM_THREADS": "1",
               "OPENBLAS_NUM_THREADS": "1", "JULIA_PKG_OFFLINE": "true"}
        env.update(super().env(cfg, home))
        return env

    def test_style(self, tests: str) -> str:
        return "test" if _TEST_MACRO.search(tests) else "script"

    def assemble(self, code: str, tests: str) -> str:
        return code.rstrip("\n") + "\n\n" + tests.lstrip("\n")
