"""Sandbox settings (params.yaml ``sandbox`` section) as a typed record."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from ..machine import machine_settings, moved_keys
from ..params import load_params, section


@dataclass
class SandboxConfig:
    backend: str = "bwrap"              # bwrap | apptainer | none (development only)
    workers: int | None = None          # warm workers per language and machine; None = CPU cores (shared
                                        # out across the local ranks of a multi-process launch)
    timeout_s: float = 10.0             # default wall-clock limit per job
    memory_mb: int = 1024               # address space a job may add on top of the warm worker
    max_output_bytes: int = 1 << 20     # hard cap per output file (RLIMIT_FSIZE) → output_exceeded
    capture_bytes: int = 4096           # stdout/stderr kept in each outcome
    max_procs: int = 256                # RLIMIT_NPROC inside the sandbox
    max_jobs_per_worker: int = 2000     # recycle a worker after this many jobs
    spare_workers: int = 1              # warm spares per language: a replaced worker costs no start-up
    worker_cpu_s: int = 7200            # RLIMIT_CPU of a worker process (a backstop)
    startup_timeout_s: float = 120.0    # a worker must be ready within this
    timeout_grace_s: float = 5.0        # extra wait when the worker enforces the timeout itself
    sandbox_uid: int = 65534            # uid the sandbox runs as when we are root (nobody)
    scratch_dir: str | None = None      # where worker dirs are made (default: system temp)
    extra_binds: list = field(default_factory=list)   # host paths bound read-only at the same place
    self_test: bool = True              # each worker classifies canaries before it serves (canaries.py)
    julia: dict[str, Any] = field(default_factory=lambda: {"bin": "auto", "compile": "min"})
    r: dict[str, Any] = field(default_factory=lambda: {"bin": "auto", "testthat_edition": 2})
    apptainer: dict[str, Any] = field(default_factory=lambda: {
        "bin": "apptainer",
        "images": {"julia": "containers/julia.sif", "r": "containers/r.sif"},
    })

    def __post_init__(self) -> None:
        if self.backend not in ("bwrap", "apptainer", "none"):
            raise ValueError(f"machine.sandbox_backend must be bwrap, apptainer or none, not {self.backend!r}")
        if self.workers in ("auto", 0):
            self.workers = None
        if self.workers is not None and int(self.workers) < 1:
            raise ValueError("machine.workers must be >= 1 (or auto)")
        if self.timeout_s <= 0:
            raise ValueError("sandbox.timeout_s must be > 0")
        if self.capture_bytes < 0 or self.max_output_bytes < 1024:
            raise ValueError("sandbox.capture_bytes must be >= 0 and max_output_bytes >= 1024")

    @property
    def n_workers(self) -> int:
        """Warm workers per language for this process: ``workers`` (default: the CPU cores) is per
        machine, so under a multi-process launch each local rank gets its share (no oversubscription)."""
        from ..distributed import share
        return share(int(self.workers) if self.workers else max(1, os.cpu_count() or 1))

    @classmethod
    def from_params(cls, params: dict[str, Any] | None = None, **overrides: Any) -> "SandboxConfig":
        if params is None:
            params = load_params()
        sec = dict(section(params, "sandbox"))
        moved = moved_keys(sec)
        if moved:
            raise ValueError("params.yaml: " + "; ".join(f"{a} is now called {b}" for a, b in moved.items())
                             + " (where and how fast programs run is the machine's, not the experiment's)")
        for k, v in machine_settings(section(params, "machine")).items():
            sec[k] = {**(sec.get(k) or {}), **v} if isinstance(v, dict) and k in ("julia", "r") else v
        # where the sandbox runs is a property of the machine (e.g. Apptainer on HPC nodes)
        if os.environ.get("RARELANG_SANDBOX_BACKEND"):
            sec["backend"] = os.environ["RARELANG_SANDBOX_BACKEND"]
        sec.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(sec) - known
        if unknown:
            raise ValueError(f"params.yaml sandbox: unknown key(s) {sorted(unknown)}")
        base = cls()
        for nested in ("julia", "r", "apptainer"):
            if nested in sec:
                merged = dict(getattr(base, nested))
                merged.update(sec[nested] or {})
                sec[nested] = merged
        return cls(**sec)
