"""Clients of `rarelang serve`.

``RemoteScorer`` scores jobs on one or several servers with the ``SandboxPool`` interface (``run``,
``run_all``, ``arun_all``, ``close``), so the training reward uses it in place of a local pool. A
call's jobs go out in chunks, spread round-robin over the servers; a chunk that fails (connection
refused or reset, a timeout, 5xx, 429) is sent again, to the next server, with the same job ids, until
``retry_s`` runs out. Job ids are ``<scorer nonce>-<call>-<index>``: a server that already ran an id
answers it from memory, and the client keeps exactly one result per id, so a restart loses no job and
counts none twice.

``CodeEnv`` (when openenv-core is installed) is OpenEnv's ``EnvClient`` for this environment.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, Iterable

import requests

from ..rewards import RewardTable
from ..sandbox import Job, Outcome, Status

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class ServerError(RuntimeError):
    """A server refused a request for a reason a retry cannot fix (a bad job, a wrong token)."""


def outcome_of(record: dict[str, Any]) -> Outcome:
    """A /score result record back as the sandbox's Outcome."""
    return Outcome(Status(record["status"]), tests_passed=int(record.get("tests_passed", 0)),
                   tests_total=int(record.get("tests_total", 0)), duration_s=float(record.get("duration_s", 0.0)),
                   stdout=record.get("stdout", ""), stderr=record.get("stderr", ""),
                   message=record.get("message", ""), id=str(record.get("id", "")), lang=record.get("lang", ""))


def normalize_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


class RemoteScorer:
    def __init__(self, servers: Iterable[str], token: str | None = None, *, chunk: int = 64,
                 timeout_s: float = 600.0, retry_s: float = 600.0, rewards: RewardTable | None = None,
                 check_rewards: bool = True):
        self.servers = [normalize_url(s) for s in servers if str(s).strip()]
        if not self.servers:
            raise ValueError("RemoteScorer needs at least one server URL")
        self.token = token
        self.chunk = max(1, int(chunk))
        self.timeout_s, self.retry_s = float(timeout_s), float(retry_s)
        self.rewards = rewards
        self.check_rewards = check_rewards and rewards is not None
        self.nonce = uuid.uuid4().hex[:12]
        self._calls = itertools.count()
        self._next_server = itertools.count()
        self._local = threading.local()
        self._checked: set[str] = set()
        self._lock = threading.Lock()
        self.retries = 0                 # chunks sent again (for logs and tests)
        self.closed = False
        # long-lived threads, so each keeps its HTTP connections open from one call to the next
        self._ex = ThreadPoolExecutor(max_workers=4 * len(self.servers), thread_name_prefix="remote-scorer")

    # ------------------------------------------------------------------ HTTP
    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            if self.token:
                s.headers["Authorization"] = f"Bearer {self.token}"
        return s

    def info(self, server: str) -> dict[str, Any]:
        r = self._session().get(f"{server}/info", timeout=30)
        if r.status_code != 200:
            raise ServerError(f"{server}/info: HTTP {r.status_code}: {r.text[:300]}")
        return r.json()

    def _check_server(self, server: str) -> None:
        """A server must pay what this run's reward table pays (else rewards would differ silently)."""
        if not self.check_rewards or server in self._checked:
            return
        theirs = self.info(server).get("reward_table")
        if theirs != asdict(self.rewards):
            raise ServerError(f"{server} scores with another reward table ({theirs}) than this run "
                              f"({asdict(self.rewards)}): start it with the same params.yaml reward section")
        with self._lock:
            self._checked.add(server)

    def _post_chunk(self, jobs: list[Job], first: int) -> list[dict[str, Any]]:
        """Send one chunk until some server answers it; the records in the chunk's order."""
        body = {"jobs": [{"id": j.id, "lang": j.lang, "code": j.code, "tests": j.tests,
                          **({"timeout_s": j.timeout_s} if j.timeout_s else {})} for j in jobs]}
        deadline = time.monotonic() + self.retry_s
        attempt, wait = 0, 0.5
        while True:
            server = self.servers[(first + attempt) % len(self.servers)]
            why = ""
            try:
                self._check_server(server)
                r = self._session().post(f"{server}/score", json=body, timeout=self.timeout_s)
                if r.status_code == 200:
                    results = r.json()["results"]
                    if [x.get("id") for x in results] != [j.id for j in jobs]:
                        raise ServerError(f"{server} answered other job ids than it was sent")
                    return results
                if r.status_code not in RETRYABLE_STATUS:
                    raise ServerError(f"{server}/score: HTTP {r.status_code}: {r.text[:500]}")
                why = f"HTTP {r.status_code}"
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                why = type(e).__name__
            attempt += 1
            if time.monotonic() + wait > deadline:
                raise ConnectionError(f"no server answered {len(jobs)} job(s) within {self.retry_s:g} s "
                                      f"(last: {server}: {why}); servers: {self.servers}")
            with self._lock:
                self.retries += 1
            log.warning("%s: %s; sending %d job(s) again to %s in %.1f s", server, why, len(jobs),
                        self.servers[(first + attempt) % len(self.servers)], wait)
            time.sleep(wait)
            wait = min(wait * 2, 10.0)

    # ------------------------------------------------------------------ the SandboxPool interface
    def run_all(self, jobs: Iterable[Job], **_: Any) -> list[Outcome]:
        """Outcomes in input order (each carrying its job's own id)."""
        if self.closed:
            raise RuntimeError("the scorer is closed")
        jobs = list(jobs)
        if not jobs:
            return []
        call = next(self._calls)
        keyed = [Job(j.lang, j.code, j.tests, id=f"{self.nonce}-{call}-{i}", timeout_s=j.timeout_s)
                 for i, j in enumerate(jobs)]
        chunks = [keyed[i:i + self.chunk] for i in range(0, len(keyed), self.chunk)]
        start = next(self._next_server)
        results: dict[str, dict[str, Any]] = {}
        for recs in self._ex.map(lambda ic: self._post_chunk(ic[1], start + ic[0]), enumerate(chunks)):
            for rec in recs:
                if rec["id"] in results:         # cannot happen with one answer per chunk; guard anyway
                    raise ServerError(f"job {rec['id']} answered twice")
                results[rec["id"]] = rec
        out = []
        for j, k in zip(jobs, keyed):
            o = outcome_of(results[k.id])
            o.id = j.id
            out.append(o)
        return out

    def run(self, job: Job) -> Outcome:
        return self.run_all([job])[0]

    async def arun_all(self, jobs: Iterable[Job], **kw: Any) -> list[Outcome]:
        return await asyncio.to_thread(self.run_all, list(jobs), **kw)

    def describe(self) -> dict[str, Any]:
        """What scored the rewards: each server's settings and interpreters (/info), for config.json."""
        out = {}
        for s in self.servers:
            try:
                info = self.info(s)
                out[s] = {k: info.get(k) for k in ("version", "sandbox", "reward_table", "interpreters", "limits")}
            except Exception as e:        # a server down now says so; it may come back
                out[s] = {"error": f"{type(e).__name__}: {e}"}
        return {"servers": out, "retries": self.retries}

    def close(self) -> None:
        self.closed = True
        self._ex.shutdown(wait=False)

    def __enter__(self) -> "RemoteScorer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _openenv_client():
    """``CodeEnv``: OpenEnv's EnvClient subclass for this environment (openenv-core must be installed)."""
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient

    from .models import CodeAction, CodeObservation, CodeState

    class CodeEnv(EnvClient[CodeAction, CodeObservation, CodeState]):
        """``async with CodeEnv(base_url="http://host:8000/t/<token>") as env: await env.reset(split="test")``
        (or ``CodeEnv(...).sync()``). Actions: ``CodeAction(code=...)`` or ``CodeAction(completion=...)``."""

        def _step_payload(self, action: CodeAction | dict) -> dict[str, Any]:
            if isinstance(action, dict):
                action = CodeAction.model_validate(action)
            return action.model_dump(exclude_none=True)

        def _parse_result(self, payload: dict[str, Any]) -> StepResult[CodeObservation]:
            obs = CodeObservation(**payload.get("observation", {}), reward=payload.get("reward"),
                                  done=payload.get("done", False))
            return StepResult(observation=obs, reward=payload.get("reward"), done=payload.get("done", False))

        def _parse_state(self, payload: dict[str, Any]) -> CodeState:
            return CodeState(**payload)

    return CodeEnv


def __getattr__(name: str) -> Any:
    if name == "CodeEnv":
        try:
            return _openenv_client()
        except ImportError as e:
            raise ImportError(f"CodeEnv needs openenv-core ({e}): pip install 'rarelang[openenv]'") from None
    raise AttributeError(name)
