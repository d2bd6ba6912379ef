"""What the server remembers between requests: recent batch results by job id (a retried id is
answered once, never run twice while the server lives) and the open sessions (bounded in number,
dropped after an idle time)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from .episode import Episode
from .models import ScoreJob


class IdConflict(ValueError):
    """A job id seen before with another program, tests or timeout."""


def job_digest(j: ScoreJob) -> str:
    return hashlib.sha256(json.dumps([j.lang, j.code, j.tests, j.timeout_s]).encode()).hexdigest()


class ResultCache:
    """Batch results by job id (the newest ``size``). A job whose id is being run already waits for
    that run; one already answered gets the same record back (``"replayed": true``)."""

    def __init__(self, size: int = 20000):
        self.size = int(size)
        self.done: "OrderedDict[str, tuple[str, dict]]" = OrderedDict()
        self.running: dict[str, tuple[str, asyncio.Future]] = {}
        self.runs = 0           # jobs actually run (a replay is not one)
        self.replays = 0

    def _check(self, job: ScoreJob, digest: str, seen: str) -> None:
        if seen != digest:
            raise IdConflict(f"job id {job.id!r} was used before for a different job (another program, tests "
                             "or timeout): ids must name one job")

    async def results(self, jobs: list[ScoreJob], run: Callable[[list[ScoreJob]], Awaitable[list[dict]]]) -> list[dict]:
        digests = [job_digest(j) for j in jobs]
        for j, d in zip(jobs, digests):         # refuse the whole request before running any of it
            if j.id in self.done:
                self._check(j, d, self.done[j.id][0])
            elif j.id in self.running:
                self._check(j, d, self.running[j.id][0])
        loop = asyncio.get_running_loop()
        waits: dict[str, asyncio.Future] = {}
        todo: list[ScoreJob] = []
        todo_digests: list[str] = []
        for j, d in zip(jobs, digests):
            if j.id in self.done:
                continue
            if j.id in self.running:
                waits[j.id] = self.running[j.id][1]
            else:
                fut = loop.create_future()
                self.running[j.id] = (d, fut)
                waits[j.id] = fut
                todo.append(j)
                todo_digests.append(d)
        if todo:
            try:
                records = await run(todo)
            except BaseException as e:
                for j in todo:
                    _, fut = self.running.pop(j.id)
                    if not fut.done():
                        fut.set_exception(e)
                        fut.exception()          # retrieved: no "never retrieved" warning
                raise
            self.runs += len(todo)
            for j, d, rec in zip(todo, todo_digests, records):
                _, fut = self.running.pop(j.id)
                self.done[j.id] = (d, rec)
                fut.set_result(rec)
            while len(self.done) > self.size:
                self.done.popitem(last=False)
        out = []
        ran = {j.id for j in todo}
        for j in jobs:
            if j.id in waits:
                rec = await waits[j.id]
                if j.id not in ran:
                    rec = {**rec, "replayed": True}
                    self.replays += 1
            else:
                rec = {**self.done[j.id][1], "replayed": True}
                self.done.move_to_end(j.id)
                self.replays += 1
            out.append(rec)
        return out


class CapacityReached(RuntimeError):
    def __init__(self, active: int, limit: int, ttl_s: float):
        super().__init__(f"the server holds {active} sessions, its limit ({limit}); idle sessions close after "
                         f"{ttl_s:g} s — close yours (POST /close, or the WebSocket 'close' message) when done")
        self.active, self.limit = active, limit


@dataclass
class Session:
    key: str
    websocket: bool
    episode: Episode | None = None
    last_used: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def touch(self) -> None:
        self.last_used = time.monotonic()


class SessionStore:
    """Open sessions: HTTP ones by episode id, WebSocket ones by connection. At most ``limit``;
    one idle for ``ttl_s`` is dropped (a full store drops its idle ones before refusing)."""

    def __init__(self, limit: int, ttl_s: float):
        self.limit, self.ttl_s = int(limit), float(ttl_s)
        self.sessions: dict[str, Session] = {}
        self.expired = 0

    def reap(self) -> int:
        now = time.monotonic()
        old = [k for k, s in self.sessions.items()
               if not s.websocket and now - s.last_used > self.ttl_s and not s.lock.locked()]
        for k in old:
            del self.sessions[k]
        self.expired += len(old)
        return len(old)

    def open(self, *, websocket: bool, key: str | None = None) -> Session:
        if len(self.sessions) >= self.limit:
            self.reap()
        if len(self.sessions) >= self.limit:
            raise CapacityReached(len(self.sessions), self.limit, self.ttl_s)
        key = key or (("ws:" if websocket else "") + uuid.uuid4().hex)
        if key in self.sessions:
            raise KeyError(key)
        s = self.sessions[key] = Session(key, websocket)
        return s

    def get(self, key: str) -> Session | None:
        s = self.sessions.get(key)
        if s is not None:
            s.touch()
        return s

    def close(self, key: str) -> bool:
        return self.sessions.pop(key, None) is not None

    def counts(self) -> dict[str, Any]:
        ws = sum(s.websocket for s in self.sessions.values())
        return {"open": len(self.sessions), "websocket": ws, "http": len(self.sessions) - ws, "limit": self.limit,
                "idle_timeout_s": self.ttl_s, "expired": self.expired}
