"""Sandbox throughput: warm pre-started workers vs a fresh process per job, same jobs.

Three ways, same jobs, same sandbox (bwrap), same number of parallel workers:

* ``fresh_file``    — the naive way: write program + tests to one file and run
                      ``julia file.jl`` / ``Rscript file.R`` in a new sandbox per job; pass = exit 0.
* ``fresh_harness`` — our harness, but a new interpreter (and sandbox) per job, no warm-up.
* ``warm``          — pre-started workers reused across jobs (start-up not timed).

The speed-up target is warm vs ``fresh_file`` (a fresh process per job).
"""

from __future__ import annotations

import collections
import os
import platform
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..languages import get_language
from .config import SandboxConfig
from .outcome import Job
from .backends import make_backend
from .pool import SandboxPool
from .worker import sandbox_preexec

PLAIN_ARGS = {"julia": ["--startup-file=no", "--history-file=no"], "r": ["--vanilla"]}


def _timed(pool: SandboxPool, jobs: list[Job], progress: bool, desc: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    outs = list(pool.run_many(jobs, progress=progress, desc=desc))
    seconds = time.perf_counter() - t0
    statuses = collections.Counter(o.status.value for o in outs)
    return {"jobs": len(jobs), "seconds": round(seconds, 3),
            "jobs_per_s": round(len(jobs) / seconds, 2),
            "ms_per_job_per_worker": round(1000 * seconds * pool.cfg.n_workers / len(jobs), 1),
            "statuses": dict(sorted(statuses.items()))}


def run_fresh_file(cfg: SandboxConfig, job: Job) -> bool:
    """The naive baseline for one job: a new interpreter on program+tests in one file."""
    lang = get_language(job.lang)
    backend = make_backend(cfg)
    workdir = Path(tempfile.mkdtemp(prefix="rarelang-bench-", dir=cfg.scratch_dir))
    try:
        (workdir / f"program{lang.suffix}").write_text(lang.assemble(job.code, job.tests))
        if os.geteuid() == 0 and backend.isolated:
            os.chown(workdir, cfg.sandbox_uid, cfg.sandbox_uid)
        inside = backend.workdir_inside(workdir)
        argv = [backend.interpreter(lang), *PLAIN_ARGS[lang.name], f"{inside}/program{lang.suffix}"]
        cmd = backend.command(argv, workdir=workdir, harness_dir=workdir, mounts=backend.mounts(lang),
                              env=lang.env(cfg, inside), lang=lang.name)
        try:
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=workdir, timeout=job.timeout_s or cfg.timeout_s,
                               preexec_fn=lambda: sandbox_preexec(cfg, backend))
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _timed_fresh_file(cfg: SandboxConfig, jobs: list[Job]) -> dict[str, Any]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=cfg.n_workers) as ex:
        ok = list(ex.map(lambda j: run_fresh_file(cfg, j), jobs))
    seconds = time.perf_counter() - t0
    return {"jobs": len(jobs), "seconds": round(seconds, 3), "jobs_per_s": round(len(jobs) / seconds, 2),
            "ms_per_job_per_worker": round(1000 * seconds * cfg.n_workers / len(jobs), 1),
            "exit_0": sum(ok)}


def bench_language(cfg: SandboxConfig, lang: str, jobs: list[Job], warm_repeats: int = 5,
                   progress: bool = True) -> dict[str, Any]:
    fresh_file = _timed_fresh_file(cfg, jobs)
    with SandboxPool(cfg, fresh=True) as pool:
        fresh = _timed(pool, jobs, progress, f"{lang} fresh")
    with SandboxPool(cfg) as pool:
        t0 = time.perf_counter()
        pool.warm_up([lang])
        for f in pool._slots[lang].spares:      # a spare still starting would compete for the cores
            f.result(timeout=cfg.startup_timeout_s)
        startup = time.perf_counter() - t0
        # the same jobs, several times over, for a stable figure
        warm = _timed(pool, jobs * warm_repeats, progress, f"{lang} warm")
        warm["startup_s"] = round(startup, 3)
        warm["repeats"] = warm_repeats
    return {"jobs": len(jobs), "workers": cfg.n_workers, "fresh_file": fresh_file,
            "fresh_harness": fresh, "warm": warm,
            "speedup": round(warm["jobs_per_s"] / fresh_file["jobs_per_s"], 1),
            "speedup_vs_fresh_harness": round(warm["jobs_per_s"] / fresh["jobs_per_s"], 1)}


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown"


def machine_info(cfg: SandboxConfig) -> dict[str, Any]:
    julia = get_language("julia").find_interpreter(cfg)
    rscript = get_language("r").find_interpreter(cfg)
    return {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "julia": _version([julia, "--version"]), "r": _version([rscript, "--version"]),
            "backend": cfg.backend, "julia_compile": cfg.julia.get("compile")}
