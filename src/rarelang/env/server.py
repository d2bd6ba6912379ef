"""The sandbox as a network service: a Julia/R code-task environment on OpenEnv's protocol and a
batch endpoint for GRPO rewards (``rarelang serve``).

Endpoints (JSON; the token, when the server has one, as ``Authorization: Bearer <token>`` or the
path prefix ``/t/<token>``):

* ``GET /health`` (no token) — ``{"status": "healthy"}`` while the process serves (OpenEnv's).
* ``GET /ready`` — 200 once the warm workers are up, 503 while starting or draining.
* ``POST /reset``, ``POST /step``, ``GET /state`` — OpenEnv's HTTP simulation endpoints. A reset
  opens a session; its observation's ``episode_id`` goes with each step (``{"action": {...},
  "episode_id": ...}``). ``POST /close`` ends it early.
* ``WS /ws`` — OpenEnv's session protocol: ``{"type": "reset"|"step"|"state"|"close", "data": ...}``
  answered by ``{"type": "observation"|"state"|"error", "data": ...}``. What OpenEnv's ``EnvClient``
  speaks: one session per connection.
* ``POST /score`` — ``{"jobs": [{"id", "lang", "code", "tests", "timeout_s"?}]}`` → ``{"results":
  [...]}`` in the same order, each a `rarelang exec-batch` record (status, tests, reward, ...). A job
  id answered before is answered again from memory, never run twice.
* ``GET /metadata``, ``GET /schema`` (OpenEnv's), ``GET /info`` (reward table, sandbox settings,
  interpreters, splits, limits, counters).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from dataclasses import asdict
from typing import Any

from fastapi import Body, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from .. import __version__
from ..cli import _outcome_record
from ..rewards import RewardTable
from ..sandbox import Job, SandboxPool
from .episode import Episode, EpisodeDone
from .guard import Guard, error_body
from .settings import ServerSettings
from .models import (CodeAction, CodeObservation, CodeState, ResetRequest, ScoreJob, ScoreRequest, StepRequest,
                     StepResponse, serialize_observation)
from .state import CapacityReached, IdConflict, ResultCache, SessionStore
from .tasks import TaskBank, TaskError
from ..evaluate.suites import Problem

log = logging.getLogger(__name__)


class _Refused(Exception):
    def __init__(self, status: int, message: str, code: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra


class EnvService:
    """The state behind the endpoints: the pool, the tasks, the reward table, sessions, results."""

    def __init__(self, settings: ServerSettings, pool: SandboxPool, tasks: TaskBank, table: RewardTable,
                 info: dict[str, Any] | None = None):
        self.s = settings
        self.pool, self.tasks, self.table = pool, tasks, table
        self.sessions = SessionStore(settings.max_sessions, settings.session_ttl_s)
        self.cache = ResultCache(settings.cache_size)
        self.info_extra = info or {}
        self.ready = threading.Event()
        self.draining = False
        self.in_flight = 0
        self.started = time.time()
        self.steps = 0

    # ------------------------------------------------------------------ checks
    def _check_text(self, what: str, text: str | None) -> None:
        if text is not None and len(text.encode("utf-8", "replace")) > self.s.max_program_bytes:
            raise _Refused(413, f"{what} is {len(text.encode('utf-8', 'replace'))} bytes, over this server's limit "
                                f"of {self.s.max_program_bytes} bytes", "PROGRAM_TOO_LARGE",
                           limit_bytes=self.s.max_program_bytes)

    # ------------------------------------------------------------------ episodes
    def new_episode(self, req: ResetRequest) -> Episode:
        attempts = req.max_attempts or self.s.max_attempts
        if attempts > self.s.max_attempts_cap:
            raise _Refused(422, f"max_attempts {attempts} is over this server's cap of {self.s.max_attempts_cap}",
                           "VALIDATION_ERROR")
        if req.problem is not None:
            self._check_text("the problem's tests", req.problem.tests)
            self._check_text("the problem's prompt", req.problem.prompt)
            problem = Problem(req.problem.task_id, req.problem.lang, req.problem.prompt, req.problem.tests, "instruct")
            split = "inline"
        else:
            split = req.split or self.s.split
            try:
                problem = self.tasks.draw(split, task_id=req.task_id, lang=req.lang, seed=req.seed)
            except TaskError as e:
                raise _Refused(404 if "no task" in str(e) else 422, str(e), "TASK_ERROR") from None
        kw = {"episode_id": req.episode_id} if req.episode_id else {}
        return Episode(problem, split, attempts, self.table, **kw)

    async def step(self, episode: Episode, action: CodeAction) -> CodeObservation:
        self._check_text("the program", action.code)
        self._check_text("the completion", action.completion)
        try:
            job = episode.job(action)
        except EpisodeDone as e:
            raise _Refused(409, str(e), "EPISODE_DONE") from None
        outcome = job if not isinstance(job, Job) else await self._run_thread(self.pool.run, job)
        self.steps += 1
        return episode.record(outcome)

    async def _run_thread(self, fn, *a):
        self.in_flight += 1
        try:
            return await asyncio.to_thread(fn, *a)
        finally:
            self.in_flight -= 1

    # ------------------------------------------------------------------ batch
    async def score(self, req: ScoreRequest) -> list[dict[str, Any]]:
        if len(req.jobs) > self.s.max_batch_jobs:
            raise _Refused(413, f"{len(req.jobs)} jobs in one request; this server takes at most "
                                f"{self.s.max_batch_jobs}", "BATCH_TOO_LARGE", limit_jobs=self.s.max_batch_jobs)
        for j in req.jobs:
            self._check_text(f"job {j.id!r}'s program", j.code)
            self._check_text(f"job {j.id!r}'s tests", j.tests)

        async def run(jobs: list[ScoreJob]) -> list[dict]:
            todo = [Job(j.lang, j.code, j.tests, id=j.id, timeout_s=j.timeout_s) for j in jobs]
            outcomes = await self._run_thread(self.pool.run_all, todo)
            return [_outcome_record(o, self.table) for o in outcomes]

        try:
            return await self.cache.results(req.jobs, run)
        except IdConflict as e:
            raise _Refused(409, str(e), "ID_CONFLICT") from None

    def info(self) -> dict[str, Any]:
        return {"name": "rarelang-code", "version": __version__, "reward_table": asdict(self.table),
                "sandbox": jsonable_encoder(self.pool.cfg.__dict__), "splits": self.tasks.available(),
                "limits": self.s.limits(), "sessions": self.sessions.counts(),
                "jobs_run": self.cache.runs, "jobs_replayed": self.cache.replays, "steps": self.steps,
                "in_flight": self.in_flight, "ready": self.ready.is_set(), "draining": self.draining,
                "uptime_s": round(time.time() - self.started, 1), **self.info_extra}


def create_app(svc: EnvService) -> Any:
    """The FastAPI application, wrapped in the token/size guard (an ASGI app)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # threads that wait on the sandbox: enough to keep every worker of both languages busy (the loop's
        # default, min(32, cores + 4), would cap concurrent episodes below the workers on a big node)
        from concurrent.futures import ThreadPoolExecutor
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=max(32, 4 * svc.pool.cfg.n_workers), thread_name_prefix="env"))
        def warm() -> None:
            try:
                if svc.s.warm:
                    svc.pool.warm_up(svc.s.warm)
            except Exception as e:       # the jobs will say what is wrong; /ready tells it too
                log.error("warming the sandbox failed: %s", e)
                svc.info_extra["warm_error"] = str(e)
            svc.ready.set()
        threading.Thread(target=warm, name="warm-up", daemon=True).start()

        async def reaper() -> None:
            while True:
                await asyncio.sleep(max(0.5, min(30.0, svc.s.session_ttl_s / 4)))
                svc.sessions.reap()
        task = asyncio.create_task(reaper())
        try:
            yield
        finally:
            svc.draining = True
            task.cancel()
            svc.pool.close()

    app = FastAPI(title="rarelang code environment", version=__version__, lifespan=lifespan,
                  description="Julia and R code tasks scored by rarelang's sandbox (OpenEnv protocol).")

    def refuse(status: int, message: str, code: str, **extra: Any) -> JSONResponse:
        return JSONResponse(error_body(message, code, **extra), status_code=status)

    @app.exception_handler(_Refused)
    async def _refused(request: Request, e: _Refused):
        return refuse(e.status, str(e), e.code, **e.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError):
        errors = jsonable_encoder(e.errors())
        if any(err.get("type") == "json_invalid" for err in errors):
            return refuse(400, "the request body is not valid JSON", "INVALID_JSON", detail=errors)
        msg = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', [])[1:]) or 'body'}: {err.get('msg')}"
                        for err in errors[:5])
        return refuse(422, f"invalid request: {msg}", "VALIDATION_ERROR", detail=errors)

    # ------------------------------------------------------------------ probes and descriptions
    @app.get("/health")
    async def health():
        return {"status": "healthy"}

    @app.get("/ready")
    async def ready():
        ok = svc.ready.is_set() and not svc.draining
        body = {"ready": ok, "draining": svc.draining, "in_flight": svc.in_flight}
        if "warm_error" in svc.info_extra:
            body["warm_error"] = svc.info_extra["warm_error"]
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metadata")
    async def metadata():
        return {"name": "rarelang-code", "version": __version__,
                "description": "Julia and R code tasks: reset draws a problem (held-out split, train, "
                               "validation or MultiPL-E), step runs a program against its unit tests in "
                               "rarelang's sandbox and returns the verdict and the reward-table reward; "
                               "episodes of up to max_attempts attempts.",
                "readme_content": None, "author": "rarelang", "documentation_url": None}

    @app.get("/schema")
    async def schema():
        return {"action": CodeAction.model_json_schema(), "observation": CodeObservation.model_json_schema(),
                "state": CodeState.model_json_schema()}

    @app.get("/info")
    async def info():
        return svc.info()

    # ------------------------------------------------------------------ HTTP sessions
    def _open(req: ResetRequest):
        episode = svc.new_episode(req)
        try:
            session = svc.sessions.open(websocket=False, key=episode.episode_id)
        except CapacityReached as e:
            raise _Refused(429, str(e), "CAPACITY_REACHED", active_sessions=e.active, max_sessions=e.limit) from None
        except KeyError:
            raise _Refused(409, f"episode_id {episode.episode_id!r} is open already", "SESSION_ERROR") from None
        session.episode = episode
        return episode.start()

    @app.post("/reset", response_model=StepResponse)
    async def reset(req: ResetRequest = Body(default_factory=ResetRequest)):
        return serialize_observation(_open(req))

    def _session(episode_id: str | None):
        if not episode_id:
            raise _Refused(400, "POST /step over HTTP needs the episode_id that POST /reset returned "
                                "(or use the WebSocket /ws, one session per connection)", "SESSION_ERROR")
        s = svc.sessions.get(episode_id)
        if s is None or s.websocket:
            raise _Refused(404, f"no open session {episode_id!r} (closed, or idle for more than "
                                f"{svc.s.session_ttl_s:g} s)", "SESSION_ERROR")
        return s

    @app.post("/step", response_model=StepResponse)
    async def step(req: StepRequest):
        try:
            action = CodeAction.model_validate(req.action)
        except ValidationError as e:
            raise RequestValidationError([{**err, "loc": ("body", "action", *err["loc"])} for err in e.errors()])
        s = _session(req.episode_id)
        async with s.lock:
            obs = await svc.step(s.episode, action)
            s.touch()
        return serialize_observation(obs)

    @app.get("/state")
    async def state(episode_id: str | None = None):
        if episode_id is None:         # OpenEnv's stateless GET /state: an empty state
            return CodeState().model_dump()
        return _session(episode_id).episode.state().model_dump()

    @app.post("/close")
    async def close(body: dict = Body(...)):
        episode_id = body.get("episode_id") if isinstance(body, dict) else None
        return {"closed": bool(episode_id) and svc.sessions.close(str(episode_id))}

    # ------------------------------------------------------------------ batch scoring
    @app.post("/score")
    async def score(req: ScoreRequest):
        if svc.draining:
            raise _Refused(503, "the server is shutting down; send this batch to another server", "DRAINING")
        return {"results": await svc.score(req)}

    # ------------------------------------------------------------------ WebSocket sessions (OpenEnv's EnvClient)
    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()

        async def send(kind: str, data: dict[str, Any]) -> None:
            await websocket.send_text(json.dumps({"type": kind, "data": data}))

        async def error(message: str, code: str, **extra: Any) -> None:
            await send("error", {"message": message, "code": code, **extra})

        try:
            session = svc.sessions.open(websocket=True)
        except CapacityReached as e:
            await error(str(e), "CAPACITY_REACHED", active_sessions=e.active, max_sessions=e.limit)
            await websocket.close(code=1013)
            return
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(websocket.receive_text(), timeout=svc.s.session_ttl_s)
                except asyncio.TimeoutError:
                    await error(f"session idle for more than {svc.s.session_ttl_s:g} s: closed", "SESSION_ERROR")
                    break
                session.touch()
                try:
                    msg = json.loads(raw)
                    if not isinstance(msg, dict):
                        raise ValueError("expected a JSON object")
                except ValueError as e:
                    await error(f"Invalid JSON: {e}", "INVALID_JSON")
                    continue
                kind, data = msg.get("type", ""), msg.get("data") or {}
                try:
                    if kind == "reset":
                        episode = svc.new_episode(ResetRequest.model_validate(data))
                        session.episode = episode
                        await send("observation", serialize_observation(episode.start()))
                    elif kind == "step":
                        if session.episode is None:
                            await error("step before reset: send a 'reset' message first", "SESSION_ERROR")
                            continue
                        action = CodeAction.model_validate(data)
                        async with session.lock:
                            obs = await svc.step(session.episode, action)
                        await send("observation", serialize_observation(obs))
                    elif kind == "state":
                        st = session.episode.state() if session.episode else CodeState()
                        await send("state", st.model_dump())
                    elif kind == "close":
                        break
                    else:
                        await error(f"Unknown message type: {kind!r} (reset, step, state, close)", "UNKNOWN_TYPE")
                except ValidationError as e:
                    errs = jsonable_encoder(e.errors())
                    await error("Invalid message: " + "; ".join(f"{'.'.join(map(str, x.get('loc', ()))) or 'data'}: "
                                                                f"{x.get('msg')}" for x in errs[:5]),
                                "VALIDATION_ERROR", errors=errs)
                except _Refused as e:
                    await error(str(e), e.code if e.code in ("VALIDATION_ERROR",) else "EXECUTION_ERROR",
                                reason=e.code, **e.extra)
        except WebSocketDisconnect:
            pass
        finally:
            svc.sessions.close(session.key)
            with contextlib.suppress(Exception):
                await websocket.close()

    return Guard(app, svc.s.token, svc.s.max_request_bytes)


def serve(settings: ServerSettings, pool: SandboxPool, tasks: TaskBank, table: RewardTable,
          info: dict[str, Any] | None = None, log_level: str = "info") -> None:
    """Run the server until SIGINT/SIGTERM; then stop taking connections, finish what is in flight
    (at most ``settings.drain_s``) and close the warm workers."""
    import uvicorn

    svc = EnvService(settings, pool, tasks, table, info)
    config = uvicorn.Config(create_app(svc), host=settings.host, port=settings.port, log_level=log_level,
                            ws_max_size=settings.max_request_bytes, timeout_graceful_shutdown=settings.drain_s,
                            lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    _install_drain_flag(server, svc)
    server.run()


def _install_drain_flag(server: Any, svc: EnvService) -> None:
    """/ready turns 503 the moment a shutdown signal arrives (load balancers stop sending work)."""
    original = server.handle_exit

    def handle_exit(sig, frame):
        svc.draining = True
        original(sig, frame)

    server.handle_exit = handle_exit
