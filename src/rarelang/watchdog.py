"""A start-up watchdog for commands that start a vLLM engine.

On the GPU machine a vLLM engine start once hung for minutes with no error (after "Using V2 Model
Runner"); the same command then ran normally. The cure is to notice and start again:

* the command marks each engine start: ``with engine_starting("grpo"):`` writes a marker file
  (path from ``$RARELANG_ENGINE_MARKER``; nothing happens when that variable is unset) and removes
  it once the engine is up;
* ``python -m rarelang.watchdog --startup-timeout 300 --retries 1 -- CMD ...`` runs CMD in a
  process group of its own, and when a marker has been there longer than the timeout, kills the
  whole group and runs CMD again (at most ``--retries`` times). Stages are resumable (train resumes
  from its checkpoint), so running again loses at most the unfinished work.

Exit status: CMD's own; 124 when the last try hung too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

MARKER_ENV = "RARELANG_ENGINE_MARKER"


@contextlib.contextmanager
def engine_starting(label: str) -> Iterator[None]:
    """Mark an engine start for a supervising watchdog (a no-op without one)."""
    path = os.environ.get(MARKER_ENV)
    if not path:
        yield
        return
    marker = Path(path)
    marker.write_text(json.dumps({"label": label, "pid": os.getpid(), "since": time.time()}) + "\n")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def _kill_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def supervise(cmd: list[str], startup_timeout_s: float, retries: int = 1, poll_s: float = 1.0,
              log=print) -> int:
    """Run ``cmd``; restart it when an engine start it marked outlasts ``startup_timeout_s``."""
    for attempt in range(retries + 1):
        with tempfile.TemporaryDirectory(prefix="rarelang-watchdog-") as tmp:
            marker = Path(tmp) / "engine.start"
            env = {**os.environ, MARKER_ENV: str(marker)}
            proc = subprocess.Popen(cmd, env=env, start_new_session=True)
            hung = None
            try:
                while proc.poll() is None:
                    time.sleep(poll_s)
                    if marker.exists():
                        try:
                            info = json.loads(marker.read_text())
                        except (OSError, ValueError):
                            continue            # being written; look again
                        if time.time() - float(info["since"]) > startup_timeout_s:
                            hung = info
                            break
            except KeyboardInterrupt:
                _kill_group(proc)
                raise
            if hung is None:
                return proc.returncode
            log(f"watchdog: engine start '{hung.get('label')}' hung for more than {startup_timeout_s:.0f} s "
                f"(attempt {attempt + 1} of {retries + 1}); killing process group {proc.pid}", file=sys.stderr)
            _kill_group(proc)
    return 124


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m rarelang.watchdog", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--startup-timeout", type=float, default=300.0, help="seconds an engine start may take")
    ap.add_argument("--retries", type=int, default=1, help="times to start CMD again after a hung start")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARGS...]")
    args = ap.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given (python -m rarelang.watchdog [options] -- CMD ...)")
    return supervise(cmd, args.startup_timeout, args.retries)


if __name__ == "__main__":
    sys.exit(main())
