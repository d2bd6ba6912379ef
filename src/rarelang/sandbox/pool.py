"""A pool of warm workers per language, with parallel dispatch.

    with SandboxPool.from_params() as pool:
        outcome = pool.run(Job("r", code, tests))
        for outcome in pool.run_many(jobs, progress=True):   # completion order
            ...

Workers start lazily (only languages that get jobs), up to ``workers`` per language. A worker
that timed out, died, was tainted by a job or reached its job quota is replaced before it runs
another job. ``fresh=True`` starts a new process for every job (the baseline of ``make bench``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Iterable, Iterator

from ..languages import InterpreterNotFound, UnknownLanguage, canonical_language, get_language
from ..params import load_params
from .backends import SandboxUnavailable, make_backend
from .classify import RawResult, classify
from .config import SandboxConfig
from .outcome import Job, Outcome, Status
from .worker import Worker, WorkerStartError

log = logging.getLogger(__name__)

# Starting a worker can fail for a moment when the machine is short of processes or threads (fork,
# clone of a namespace or pthread_create answer EAGAIN; seen with two Julia evaluations of 16 workers
# each on one 16-core machine). Such a start is retried after these pauses (seconds) before the job
# becomes a sandbox_error; any other start failure is reported at once.
START_RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
_TRANSIENT = ("Resource temporarily unavailable", "Can't fork", "pthread_create")


def transient_start_failure(e: BaseException) -> bool:
    """A worker start that failed for want of processes/threads (EAGAIN), not for a broken setup."""
    if isinstance(e, OSError) and e.errno == errno.EAGAIN:
        return True
    return isinstance(e, (WorkerStartError, OSError)) and any(m in str(e) for m in _TRANSIENT)


class _LanguageSlots:
    """Idle warm workers of one language, at most ``limit`` alive, plus warm spares (not counted):
    a worker that must be replaced (after a timeout, a taint or its quota) is replaced by a spare
    at once, and a new spare starts in the background, so a Julia timeout costs no start-up."""

    def __init__(self, lang_name: str, pool: "SandboxPool"):
        self.lang = get_language(lang_name)
        self.pool = pool
        self.limit = pool.cfg.n_workers
        self.idle: "queue.LifoQueue[Worker | None]" = queue.LifoQueue()   # None: a slot was freed
        self.count = 0
        self.lock = threading.Lock()
        self.all: set[Worker] = set()
        self.spares: list = []                  # futures of spare workers being started or ready
        self.spares_used = 0

    # ------------------------------------------------------------------ spares
    def _start_spare(self) -> Worker:
        w = Worker(self.lang, self.pool.cfg, self.pool.backend, once=self.pool.fresh)
        try:
            return w.start()                    # already on a long-lived spawner thread
        except BaseException:
            w.close()
            raise

    def _top_up_spares(self) -> None:
        want = 0 if self.pool.fresh or self.pool.closed else int(self.pool.cfg.spare_workers)
        with self.lock:
            self.spares = [f for f in self.spares if not (f.done() and f.exception() is not None)]
            missing = want - len(self.spares)
            for _ in range(max(0, missing)):
                self.spares.append(self.pool._spawner.submit(self._start_spare))

    def _take_spare(self) -> Worker | None:
        """A ready spare, if there is one (it then leaves the spares); else None."""
        with self.lock:
            for i, f in enumerate(self.spares):
                if f.done() and f.exception() is None:
                    w = f.result()
                    del self.spares[i]
                    break
            else:
                return None
        if not w.alive():
            w.close()
            return None
        with self.lock:
            self.all.add(w)                     # a spare becomes one of the slots' workers
        self.spares_used += 1
        return w

    def _replacement(self) -> Worker:
        """A worker for a slot being refilled: a ready spare, else a fresh start (here and now)."""
        w = self._take_spare()
        self._top_up_spares()
        return w if w is not None else self._start_in_slot()

    def _new_worker(self) -> Worker:
        w = Worker(self.lang, self.pool.cfg, self.pool.backend, once=self.pool.fresh)
        with self.lock:
            self.all.add(w)
        try:
            # Started from the pool's long-lived spawner threads: bwrap --die-with-parent ties a
            # worker to the *thread* that launched it, and dispatch threads come and go.
            return self.pool._spawner.submit(w.start).result()
        except BaseException:
            w.close()
            with self.lock:
                self.all.discard(w)
            raise

    def _retire(self, w: Worker) -> None:
        w.close()
        with self.lock:
            self.all.discard(w)

    def _free_slot(self) -> None:
        with self.lock:
            self.count -= 1
        # wake a job waiting for an idle worker: with the slot free it may start one. Without this, a job that
        # waited while the last worker of its language could not be replaced waited for ever (the validate
        # stage hung at 19/20 jobs under load, in the Slurm test).
        self.idle.put(None)

    def _start_in_slot(self) -> Worker:
        """Start a worker in a slot already counted; the slot is freed if the start fails."""
        try:
            return self._new_worker()
        except BaseException:
            self._free_slot()
            raise

    def _checked(self, w: Worker) -> Worker:
        if w.alive():
            return w
        log.warning("%s worker died while idle; starting another", self.lang.name)
        self._retire(w)
        return self._replacement()

    def acquire(self) -> Worker:
        while True:
            try:
                w = self.idle.get_nowait()
            except queue.Empty:
                w = None
            if w is not None:
                return self._checked(w)
            with self.lock:
                may_start = self.count < self.limit
                if may_start:
                    self.count += 1
            if may_start:
                w = self._start_in_slot()
                self._top_up_spares()           # the first worker of a language brings its spares
                return w
            w = self.idle.get()                 # a worker released, or None: a slot was freed, go round
            if w is not None:
                return self._checked(w)

    def release(self, w: Worker) -> None:
        if w.needs_restart or not w.alive():
            self._retire(w)
            if self.pool.closed or self.pool.fresh:   # fresh mode: the next job starts its own process
                self._free_slot()
                return
            try:
                w = self._replacement()
            except Exception as e:  # the slot is lost; the next acquire may start one again
                log.error("could not replace %s worker: %s", self.lang.name, e)
                return
        self.idle.put(w)

    def close(self) -> None:
        with self.lock:
            spares, self.spares = self.spares, []
        for f in spares:
            f.cancel()
        for f in spares:                        # a spare still starting: wait, then close it
            try:
                f.result(timeout=self.pool.cfg.startup_timeout_s).close()
            except Exception:
                pass
        with self.lock:
            workers = list(self.all)
            self.all.clear()
        for w in workers:
            w.close()


class SandboxPool:
    def __init__(self, cfg: SandboxConfig | None = None, *, fresh: bool = False):
        self.cfg = cfg or SandboxConfig.from_params()
        self.fresh = fresh
        self.backend = make_backend(self.cfg)
        self.backend.check()
        self.closed = False
        self._spawner = ThreadPoolExecutor(max_workers=max(2, 2 * self.cfg.n_workers),
                                           thread_name_prefix="sandbox-spawn")
        self._slots: dict[str, _LanguageSlots] = {}
        self._slots_lock = threading.Lock()

    @classmethod
    def from_params(cls, params: dict | None = None, *, fresh: bool = False, **overrides) -> "SandboxPool":
        params = load_params() if params is None else params
        cfg = SandboxConfig.from_params(params, **overrides)
        return cls(cfg, fresh=fresh)

    # ------------------------------------------------------------------ context
    def __enter__(self) -> "SandboxPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        for slots in list(self._slots.values()):
            slots.close()
        self._spawner.shutdown(wait=False)

    def __del__(self) -> None:  # best effort: never leave workers behind
        try:
            self.close()
        except Exception:
            pass

    def _slots_for(self, lang: str) -> _LanguageSlots:
        with self._slots_lock:
            if lang not in self._slots:
                self._slots[lang] = _LanguageSlots(lang, self)
            return self._slots[lang]

    def warm_up(self, langs: Iterable[str]) -> None:
        """Start every worker of these languages now (in parallel), instead of on first use."""
        todo = []
        for name in langs:
            slots = self._slots_for(canonical_language(name))
            todo += [slots] * (slots.limit - slots.count)
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as ex:
            workers = list(ex.map(lambda s: (s, s.acquire()), todo))
        for s, w in workers:
            s.release(w)

    # ------------------------------------------------------------------ running jobs
    def _error(self, job: Job, message: str, t0: float) -> Outcome:
        return Outcome(Status.SANDBOX_ERROR,
                       duration_s=time.monotonic() - t0, message=message, id=job.id, lang=job.lang)

    def run(self, job: Job) -> Outcome:
        """Run one job; never raises for a bad job (it becomes a sandbox_error outcome)."""
        t0 = time.monotonic()
        try:
            lang_name = canonical_language(job.lang)
        except UnknownLanguage as e:
            return self._error(job, str(e), t0)
        if not isinstance(job.code, str) or not isinstance(job.tests, str):
            return self._error(job, "code and tests must be strings", t0)
        timeout = float(job.timeout_s) if job.timeout_s else self.cfg.timeout_s
        if not (0 < timeout <= 3600):
            return self._error(job, f"timeout_s must be in (0, 3600], got {job.timeout_s!r}", t0)
        if self.closed:
            return self._error(job, "the sandbox pool is closed", t0)
        slots = self._slots_for(lang_name)
        lang = slots.lang
        style = lang.test_style(job.tests)
        for delay in (*START_RETRY_DELAYS_S, None):
            try:
                worker = slots.acquire()
                break
            except (WorkerStartError, InterpreterNotFound, SandboxUnavailable, OSError) as e:
                if delay is None or self.closed or not transient_start_failure(e):
                    return self._error(job, f"could not start a {lang_name} worker: {e}", t0)
                log.warning("%s worker start failed (%s); retrying in %.0f s", lang_name,
                            str(e).strip().splitlines()[-1][:120], delay)
                time.sleep(delay)
        t_run = time.monotonic()
        try:
            raw, stdout, stderr = worker.run(style, job.code, job.tests, timeout)
        except Exception as e:  # harness/protocol failure: never crash the caller
            worker.needs_restart = True
            raw, stdout, stderr = RawResult("sandbox_error", message=f"{type(e).__name__}: {e}"), "", ""
        finally:
            duration = time.monotonic() - t_run
            slots.release(worker)
        verdict = classify(raw, self.cfg.max_output_bytes, timeout)
        seconds = raw.response.get("seconds") if raw.kind == "response" else None
        return Outcome(
            status=verdict.status,
            tests_passed=verdict.passed,
            tests_total=verdict.total,
            duration_s=float(seconds) if isinstance(seconds, (int, float)) else duration,
            stdout=stdout,
            stderr=stderr,
            message=verdict.message[:2000],
            id=job.id,
            lang=lang_name,
        )

    def run_many(self, jobs: Iterable[Job], *, progress: bool = False, desc: str = "sandbox") -> Iterator[Outcome]:
        """Run jobs in parallel; yields outcomes in completion order."""
        jobs = list(jobs)
        if not jobs:
            return
        langs = set()
        for j in jobs:
            try:
                langs.add(canonical_language(j.lang))
            except UnknownLanguage:
                pass
        threads = max(1, self.cfg.n_workers * max(1, len(langs)))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=len(jobs), desc=desc, unit="job", dynamic_ncols=True, file=None)
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sandbox") as ex:
            futures = [ex.submit(self.run, j) for j in jobs]
            try:
                for fut in as_completed(futures):
                    out = fut.result()
                    if bar is not None:
                        bar.update(1)
                    yield out
            finally:
                for f in futures:
                    f.cancel()
                if bar is not None:
                    bar.close()

    def run_all(self, jobs: Iterable[Job], **kw) -> list[Outcome]:
        """Run jobs in parallel; outcomes in input order."""
        jobs = list(jobs)
        keyed = [Job(j.lang, j.code, j.tests, id=str(i), timeout_s=j.timeout_s) for i, j in enumerate(jobs)]
        by_key = {o.id: o for o in self.run_many(keyed, **kw)}
        result = []
        for i, j in enumerate(jobs):
            o = by_key[str(i)]
            o.id = j.id
            result.append(o)
        return result

    async def arun_all(self, jobs: Iterable[Job], **kw) -> list[Outcome]:
        """Async wrapper (for reward functions): the work runs in threads."""
        return await asyncio.to_thread(self.run_all, list(jobs), **kw)
