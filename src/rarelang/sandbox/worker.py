"""One warm language worker inside the sandbox, and how to talk to it.

A worker is a long-lived interpreter (Julia or R) running our harness script inside the chosen
backend. It owns a private scratch dir (bound at /sandbox), reads jobs on stdin and answers on a
dedicated pipe. The Python side enforces the wall clock (and, for Julia, kills and replaces the
worker on timeout) and replaces a worker that died, was tainted by a job, or ran its quota of
jobs. The worker caps its own address space once warm (``--memory-mb``).
"""

from __future__ import annotations

import logging
import os
import resource
import secrets
import select
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..languages import Language
from ..languages.base import HARNESS_DIR
from .backends import Backend
from .canaries import CANARIES, check
from .classify import RawResult, classify
from .config import SandboxConfig
from .protocol import QUIT, ProtocolError, decode_response, encode_request

log = logging.getLogger(__name__)


class WorkerStartError(RuntimeError):
    pass


def sandbox_preexec(cfg: SandboxConfig, backend: Backend) -> None:
    """Between fork and exec of a sandboxed process: new session, rlimits, drop root."""
    os.setsid()
    for res, val in ((resource.RLIMIT_CORE, 0),
                     (resource.RLIMIT_FSIZE, cfg.max_output_bytes),
                     (resource.RLIMIT_CPU, cfg.worker_cpu_s)):
        resource.setrlimit(res, (val, val))
    # RLIMIT_NPROC counts per uid: only meaningful for the unprivileged sandbox user
    if os.geteuid() == 0 and backend.isolated:
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg.max_procs, cfg.max_procs))
        os.setgroups([])
        os.setgid(cfg.sandbox_uid)
        os.setuid(cfg.sandbox_uid)


class Worker:
    """A warm worker. Not thread-safe: one job at a time (the pool guarantees it)."""

    def __init__(self, lang: Language, cfg: SandboxConfig, backend: Backend, *, once: bool = False):
        self.lang = lang
        self.cfg = cfg
        self.backend = backend
        self.once = once
        self.proc: subprocess.Popen | None = None
        self.dir: Path | None = None
        self._resp_fd: int | None = None
        self._req = None
        self._buf = b""
        self.jobs_done = 0
        self.needs_restart = False
        self.info: dict = {}

    # ------------------------------------------------------------------ lifecycle
    def _preexec(self) -> None:  # runs in the child between fork and exec
        sandbox_preexec(self.cfg, self.backend)

    def start(self) -> "Worker":
        self.dir = Path(tempfile.mkdtemp(prefix=f"rarelang-{self.lang.name}-", dir=self.cfg.scratch_dir))
        r, w = os.pipe()            # responses: worker → us
        req_r, req_w = os.pipe()    # requests: us → worker (stdin stays /dev/null for the jobs)
        if os.geteuid() == 0 and self.backend.isolated:
            # the sandbox user must own its dir and be able to reopen the pipes by /dev/fd/N
            os.chown(self.dir, self.cfg.sandbox_uid, self.cfg.sandbox_uid)
            os.fchown(w, self.cfg.sandbox_uid, self.cfg.sandbox_uid)
            os.fchown(req_r, self.cfg.sandbox_uid, self.cfg.sandbox_uid)
        home = self.backend.workdir_inside(self.dir)
        env = self.lang.env(self.cfg, home)
        if self.backend.pid_namespace:
            env["RARELANG_PIDNS"] = "1"
        argv = self.lang.worker_argv(self.cfg, self.backend.interpreter(self.lang),
                                     self.backend.harness_inside(HARNESS_DIR), req_fd=req_r, resp_fd=w, once=self.once)
        cmd = self.backend.command(argv, workdir=self.dir, harness_dir=HARNESS_DIR,
                                   mounts=self.backend.mounts(self.lang), env=env,
                                   lang=self.lang.name)
        self._log_path = self.dir.parent / f"{self.dir.name}.log"
        logf = open(self._log_path, "wb")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                         pass_fds=(w, req_r), cwd=self.dir, preexec_fn=self._preexec,
                                         close_fds=True)
        except OSError as e:
            for fd in (r, w, req_r, req_w):
                os.close(fd)
            raise WorkerStartError(f"cannot launch {self.lang.name} worker: {e}") from e
        finally:
            logf.close()
        os.close(w)
        os.close(req_r)
        self._resp_fd = r
        self._req = os.fdopen(req_w, "wb")
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        line = self._read_line(deadline)
        if line is None or line == b"":
            tail = self._log_tail()
            self.kill()
            what = "did not get ready in time" if line is None else "exited during start-up"
            raise WorkerStartError(f"{self.lang.name} worker {what}; its log ends with:\n{tail}")
        ready = decode_response(line)
        if not ready.get("ready"):
            self.kill()
            raise WorkerStartError(f"{self.lang.name} worker sent {ready!r} instead of ready")
        self.info = ready
        if self.cfg.memory_mb > 0 and int(ready.get("as_limit", -1)) <= 0:
            log.warning("%s worker could not cap its memory (as_limit=%s)", self.lang.name,
                        ready.get("as_limit"))
        if self.cfg.self_test and not self.once:
            self.self_test()
        return self

    def self_test(self) -> None:
        """Classify the language's canaries (rarelang.sandbox.canaries); refuse to serve when any
        verdict is wrong: a harness that mis-scores must fail loudly, not hand out rewards."""
        problems = []
        for c in CANARIES.get(self.lang.name, ()):
            raw, _, stderr = self.run(self.lang.test_style(c.tests), c.code, c.tests, max(30.0, self.cfg.timeout_s))
            v = classify(raw, self.cfg.max_output_bytes, self.cfg.timeout_s)
            bad = check(c, v.status, v.passed)
            if bad:
                problems.append(f"{bad} ({v.message[:200]!r})")
            if self.needs_restart or not self.alive():
                problems.append(f"canary '{c.name}' left the worker unusable")
                break
        self.jobs_done = 0
        if problems:
            version = self.info.get("julia") or self.info.get("r") or "?"
            self.kill()
            raise WorkerStartError(
                f"{self.lang.name} worker ({self.lang.display} {version}) failed its self-test and will not "
                f"serve: its verdicts cannot be trusted on this interpreter.\n  " + "\n  ".join(problems)
                + "\n(the harness was developed on Julia 1.5.3 / R 4.2 with testthat 3.1; "
                  "sandbox.self_test: false skips this check at your own risk)")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                log.error("worker %s did not die", self.proc.pid)
        if self._req is not None:
            try:
                self._req.close()
            except OSError:
                pass
            self._req = None
        if self._resp_fd is not None:
            os.close(self._resp_fd)
            self._resp_fd = None

    def close(self) -> None:
        if self.alive():
            try:
                assert self.proc and self._req
                self._req.write(QUIT)
                self._req.flush()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired, AssertionError):
                pass
        self.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            try:
                self._log_path.unlink()
            except OSError:
                pass
            self.dir = None

    # ------------------------------------------------------------------ I/O
    def _read_line(self, deadline: float) -> bytes | None:
        """A line from the response pipe; b"" at EOF; None when the deadline passes."""
        assert self._resp_fd is not None
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._resp_fd], [], [], min(remaining, 1.0))
            if not ready:
                continue
            chunk = os.read(self._resp_fd, 1 << 16)
            if not chunk:
                return b""
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def _log_tail(self, n: int = 2000) -> str:
        try:
            data = self._log_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", errors="replace")

    def _job_output(self, name: str) -> tuple[str, int]:
        assert self.dir is not None
        p = self.dir / "job" / name
        try:
            size = p.stat().st_size
            with open(p, "rb") as f:
                head = f.read(self.cfg.capture_bytes)
        except OSError:
            return "", 0
        text = head.decode("utf-8", errors="replace")
        if size > self.cfg.capture_bytes:
            text += f"\n…[truncated: {size} bytes in all]"
        return text, size

    def _stderr_tail(self) -> str:
        assert self.dir is not None
        p = self.dir / "job" / "stderr"
        try:
            with open(p, "rb") as f:
                f.seek(max(0, p.stat().st_size - 4096))
                return f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ one job
    def run(self, style: str, code: str, tests: str, timeout_s: float) -> tuple[RawResult, str, str]:
        """Run one job; returns (raw result, captured stdout, captured stderr)."""
        if not self.alive():
            raise WorkerStartError(f"{self.lang.name} worker is not running")
        nonce = secrets.token_hex(8)
        request = encode_request(nonce, style, timeout_s, code, tests)
        self.jobs_done += 1
        try:
            assert self._req is not None
            self._req.write(request)
            self._req.flush()
        except (BrokenPipeError, OSError) as e:
            self.needs_restart = True
            return RawResult("sandbox_error", message=f"worker pipe closed: {e}"), "", ""
        wait = timeout_s + (self.cfg.timeout_grace_s if self.lang.worker_enforces_timeout else 0.0)
        line = self._read_line(time.monotonic() + wait)
        raw: RawResult
        if line is None:
            self.kill()
            self.needs_restart = True
            raw = RawResult("timeout")
        elif line == b"":
            rc = self.proc.wait(timeout=10) if self.proc else None
            self.needs_restart = True
            raw = RawResult("died", returncode=self._inner_returncode(rc))
        else:
            try:
                resp = decode_response(line)
            except ProtocolError as e:
                self.kill()
                self.needs_restart = True
                return RawResult("sandbox_error", message=str(e)), "", ""
            if resp.get("nonce") != nonce:
                # something other than the harness wrote to the response channel
                self.kill()
                self.needs_restart = True
                raw = RawResult("died", message="(the response channel was tampered with)")
            else:
                raw = RawResult("response", response=resp)
                if resp.get("taint"):
                    self.needs_restart = True
        stdout, out_size = self._job_output("stdout")
        stderr, err_size = self._job_output("stderr")
        raw.stdout_size, raw.stderr_size = out_size, err_size
        if raw.kind == "died":
            raw.stderr_tail = self._stderr_tail()
        if self.once or self.jobs_done >= self.cfg.max_jobs_per_worker:
            self.needs_restart = True
        return raw, stdout, stderr

    def _inner_returncode(self, rc: int | None) -> int | None:
        """bwrap reports a child killed by signal N as exit code 128+N; map it back to -N."""
        if rc is not None and self.backend.name in ("bwrap", "apptainer") and 128 < rc < 160:
            return -(rc - 128)
        return rc
