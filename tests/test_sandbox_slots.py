"""The pool's per-language slots (rarelang.sandbox.pool._LanguageSlots), without interpreters: a job waiting for an
idle worker must not wait for ever when the last worker of its language dies and cannot be replaced.

Seen 2026-12-05: the embedded validate stage in the Slurm test hung at 19/20 jobs — one dispatch thread blocked in
``idle.get()`` while the only R slot had been freed (its worker needed a restart and the restart failed under
load) and no worker process was left."""

import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

from rarelang.sandbox.pool import _LanguageSlots
from rarelang.sandbox.worker import WorkerStartError


class FakeWorker:
    def __init__(self):
        self.needs_restart = False
        self.closed = False

    def alive(self):
        return not self.closed

    def close(self):
        self.closed = True


@pytest.fixture()
def slots():
    spawner = ThreadPoolExecutor(max_workers=2)
    pool = types.SimpleNamespace(cfg=types.SimpleNamespace(n_workers=1, spare_workers=0, startup_timeout_s=5),
                                 fresh=False, closed=False, _spawner=spawner)
    s = _LanguageSlots("r", pool)
    yield s
    spawner.shutdown(wait=False)


def test_a_waiting_job_wakes_when_a_dead_worker_could_not_be_replaced(slots):
    starts = {"ok": True}

    def new_worker():
        if not starts["ok"]:
            raise WorkerStartError("start timed out (machine under load)")
        return FakeWorker()

    slots._new_worker = new_worker
    first = slots.acquire()
    got = {}

    def waiter():
        try:
            got["worker"] = slots.acquire()          # the only slot is busy: waits for a worker
        except Exception as e:                      # noqa: BLE001 - what it raised is what the test reads
            got["error"] = e

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.2)
    assert t.is_alive()                             # it is waiting
    starts["ok"] = False
    first.needs_restart = True
    slots.release(first)                            # the replacement fails: the slot is freed
    assert slots.count == 0
    starts["ok"] = True                             # the machine recovers: the waiter may start one
    t.join(timeout=5)
    assert not t.is_alive(), "the waiting job never woke: the freed slot was lost to it"
    assert isinstance(got.get("worker"), FakeWorker) and slots.count == 1


def test_a_waiting_job_gets_the_start_error_instead_of_hanging(slots):
    slots._new_worker = FakeWorker
    first = slots.acquire()
    got = {}
    t = threading.Thread(target=lambda: got.update(r=_try(slots.acquire)), daemon=True)
    t.start()
    time.sleep(0.2)

    def fail():
        raise WorkerStartError("no interpreter starts")

    slots._new_worker = fail
    first.needs_restart = True
    slots.release(first)
    t.join(timeout=5)
    assert not t.is_alive()
    assert isinstance(got["r"], WorkerStartError) and slots.count == 0   # the caller's retry/sandbox_error path


def test_idle_workers_are_reused_and_the_limit_holds(slots):
    made = []
    slots._new_worker = lambda: made.append(FakeWorker()) or made[-1]
    w = slots.acquire()
    slots.release(w)
    assert slots.acquire() is w and len(made) == 1 and slots.count == 1


def _try(f):
    try:
        return f()
    except Exception as e:  # noqa: BLE001
        return e
