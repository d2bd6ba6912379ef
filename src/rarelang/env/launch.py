"""Start `rarelang serve` as a child process on this machine (tests, benchmarks, smoke runs, a
training job that brings its own scorers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """``with LocalServer(["--workers", "1"]) as srv: requests.get(srv.url + "/health")``."""

    def __init__(self, args: list[str] | None = None, *, port: int | None = None, token: str | None = None,
                 log: Path | None = None, env: dict[str, str] | None = None, params: str | None = None):
        self.args = list(args or [])
        self.port = port or free_port()
        self.token = token
        self.log = log
        self.params = params
        self.env = {**os.environ, **(env or {})}
        src = str(Path(__file__).resolve().parents[2])
        self.env["PYTHONPATH"] = src + os.pathsep + self.env.get("PYTHONPATH", "")
        if token:
            self.env["RARELANG_ENV_TOKEN"] = token
        else:
            self.env.pop("RARELANG_ENV_TOKEN", None)
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def start(self, wait_s: float = 180.0) -> "LocalServer":
        cmd = [sys.executable, "-m", "rarelang.cli"] + (["--params", self.params] if self.params else []) + \
              ["serve", "--port", str(self.port), "--log-level", "warning", *self.args]
        self._log_file = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT)
        self.wait_ready(wait_s)
        return self

    def wait_ready(self, wait_s: float = 180.0) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"rarelang serve exited with {self.proc.returncode} while starting"
                                   + (f" (log: {self.log})" if self.log else ""))
            try:
                if requests.get(self.url + "/ready", headers=self.headers(), timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"rarelang serve on port {self.port} not ready after {wait_s:g} s")

    def terminate(self, timeout_s: float = 90.0) -> int:
        """SIGTERM (drain, then exit); the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._close_log()

    def kill(self) -> None:
        """SIGKILL: the server dies at once, work in flight and all."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file not in (None, subprocess.DEVNULL):
            self._log_file.close()
        self._log_file = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.terminate(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
