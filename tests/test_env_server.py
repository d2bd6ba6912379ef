"""`rarelang serve` on localhost, started as a child process: OpenEnv's protocol (HTTP and /ws), multi-turn
episodes, the batch endpoint, and hostile requests — each answered with a clear error while the server
keeps serving."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
import requests

from rarelang.env.launch import LocalServer
from rarelang.schema import frame_from_records, write_table

BACKEND = os.environ.get("RARELANG_TEST_BACKEND", "bwrap")
TOKEN = "s3cret-token"
JL_TESTS = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
R_TESTS = "library(testthat)\ntest_that('a', { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n"
SESSIONS, TTL = 16, 3.0


def write_split(d: Path) -> Path:
    rows = [dict(task_id="inc", lang="julia", prompt="Write f(x) that returns x + 1.", solution="f(x) = x + 1",
                 tests=JL_TESTS, source="test"),
            dict(task_id="inc", lang="r", prompt="Write f(x) that returns x + 1.", solution="f <- function(x) x + 1",
                 tests=R_TESTS, source="test")]
    d.mkdir(parents=True, exist_ok=True)
    write_table(frame_from_records(rows, "processed"), d / "test.parquet", "processed")
    return d


def server_args(data_dir: Path, *extra: str) -> list[str]:
    return ["--workers", "1", "--backend", BACKEND, "--data-dir", str(data_dir), "--multipl-e-dir", "/nonexistent",
            *extra]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    args = server_args(write_split(tmp / "processed"), "--max-sessions", str(SESSIONS), "--session-ttl", str(TTL),
                       "--max-request-mb", "4", "--max-program-kb", "256", "--max-attempts-cap", "3")
    with LocalServer(args, token=TOKEN, log=tmp / "server.log") as s:
        yield s


def post(s: LocalServer, path: str, body=None, token: str | None = TOKEN, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(s.url + path, json=body, headers=headers, timeout=120, **kw)


def assert_serving(s: LocalServer) -> None:
    """After a hostile request the server still runs a job correctly."""
    r = post(s, "/score", {"jobs": [{"id": f"probe-{time.monotonic_ns()}", "lang": "r", "code": "f <- function(x) x + 1",
                                     "tests": R_TESTS}]})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "passed", r.text


# ------------------------------------------------------------------ OpenEnv's protocol
def test_reset_step_state_over_http_is_a_multi_turn_episode(srv):
    r = post(srv, "/reset", {"split": "test", "task_id": "inc", "lang": "julia", "max_attempts": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"observation", "reward", "done"} and body["reward"] is None and body["done"] is False
    obs = body["observation"]
    assert obs["lang"] == "julia" and obs["attempts_left"] == 3 and "Write f(x)" in obs["prompt"]
    assert "```julia" in obs["prompt"]            # the instruction training uses (rarelang.prompts)
    eid = obs["episode_id"]
    r = post(srv, "/step", {"action": {"code": "f(x) = x\n"}, "episode_id": eid}).json()
    assert r["observation"]["status"] == "tests_failed" and r["reward"] == 0.0 and r["done"] is False
    assert "Attempt 1 of 3" in r["observation"]["feedback"] and r["observation"]["tests_total"] == 2
    r = post(srv, "/step", {"action": {"completion": "Here:\n```julia\nf(x) = x + 1\n```"}, "episode_id": eid}).json()
    assert r["observation"]["status"] == "passed" and r["reward"] == 1.0 and r["done"] is True
    st = requests.get(srv.url + "/state", params={"episode_id": eid}, headers=srv.headers(), timeout=30).json()
    assert st["step_count"] == 2 and st["statuses"] == ["tests_failed", "passed"] and st["rewards"] == [0.0, 1.0]
    r = post(srv, "/step", {"action": {"code": "f(x) = 2\n"}, "episode_id": eid})     # the episode is over
    assert r.status_code == 409 and r.json()["code"] == "EPISODE_DONE"
    assert post(srv, "/close", {"episode_id": eid}).json() == {"closed": True}


def test_openenv_client_unchanged(srv):
    """OpenEnv's own EnvClient (openenv-core), subclassed as OpenEnv's environments do, over /ws."""
    pytest.importorskip("openenv.core.env_client")
    from rarelang.env.client import CodeEnv
    from rarelang.env.models import CodeAction
    with CodeEnv(base_url=f"{srv.url}/t/{TOKEN}").sync() as env:
        res = env.reset(split="test", task_id="inc", lang="r", max_attempts=2)
        assert res.done is False and res.observation.lang == "r" and res.observation.attempts_left == 2
        res = env.step(CodeAction(code="f <- function(x) stop('no')\n"))
        assert res.observation.status == "runtime_error" and res.reward == -0.5 and not res.done
        assert "no" in res.observation.message
        res = env.step(CodeAction(completion="```r\nf <- function(x) x + 1\n```"))
        assert res.observation.status == "passed" and res.reward == 1.0 and res.done
        st = env.state()
        assert st.step_count == 2 and st.rewards == [-0.5, 1.0]
        with pytest.raises(RuntimeError, match="EPISODE_DONE|is done"):
            env.step(CodeAction(code="f <- function(x) 0\n"))


def test_raw_websocket_protocol_and_its_errors(srv):
    """The message shapes OpenEnv's EnvClient sends, written out (no openenv import)."""
    from websockets.sync.client import connect
    with connect(f"ws://127.0.0.1:{srv.port}/ws", additional_headers=srv.headers()) as ws:
        def ask(msg) -> dict:
            ws.send(msg if isinstance(msg, str) else json.dumps(msg))
            return json.loads(ws.recv(timeout=120))
        assert ask("{not json")["data"]["code"] == "INVALID_JSON"
        assert ask({"type": "step", "data": {"code": "x"}})["data"]["code"] == "SESSION_ERROR"   # before reset
        assert ask({"type": "dance"})["data"]["code"] == "UNKNOWN_TYPE"
        bad = ask({"type": "reset", "data": {"lang": "cobol"}})
        assert bad["type"] == "error" and "unknown language 'cobol'" in bad["data"]["message"]
        got = ask({"type": "reset", "data": {"problem": {"lang": "julia", "tests": JL_TESTS}}})   # a caller's own task
        assert got["type"] == "observation" and got["data"]["observation"]["split"] == "inline"
        got = ask({"type": "step", "data": {"code": "f(x) = x + 1\n"}})
        assert got["data"]["reward"] == 1.0 and got["data"]["done"] is True
        assert ask({"type": "state"})["data"]["statuses"] == ["passed"]
        ws.send(json.dumps({"type": "close"}))


def test_batch_scores_in_order_with_the_reward_table_and_answers_a_retried_id_once(srv):
    jobs = [{"id": "b1", "lang": "julia", "code": "f(x) = x + 1\n", "tests": JL_TESTS},
            {"id": "b2", "lang": "r", "code": "f <- function(x) x\n", "tests": R_TESTS},
            {"id": "b3", "lang": "jl", "code": "function f(x)\n", "tests": JL_TESTS}]
    r = post(srv, "/score", {"jobs": jobs})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["id"] for x in res] == ["b1", "b2", "b3"]
    assert [(x["status"], x["reward"]) for x in res] == [("passed", 1.0), ("tests_failed", 0.0), ("syntax_error", -1.0)]
    before = requests.get(srv.url + "/info", headers=srv.headers(), timeout=30).json()["jobs_run"]
    again = post(srv, "/score", {"jobs": jobs}).json()["results"]
    assert all(x["replayed"] for x in again) and [x["status"] for x in again] == [x["status"] for x in res]
    assert requests.get(srv.url + "/info", headers=srv.headers(), timeout=30).json()["jobs_run"] == before
    r = post(srv, "/score", {"jobs": [{**jobs[0], "code": "f(x) = 0\n"}]})      # the same id for another job
    assert r.status_code == 409 and r.json()["code"] == "ID_CONFLICT"


def test_the_example_grpo_reward_reads_tasks_and_rewards_from_the_server(srv):
    """examples/grpo_with_rarelang_env.py: its task list and its reward function, against a server."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("example", Path(__file__).parents[1] / "examples" /
                                                  "grpo_with_rarelang_env.py")
    ex = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ex)
    tasks = ex.fetch_tasks(srv.url, srv.headers(), "test", "r", 1)
    assert [t["task_id"] for t in tasks] == ["inc"] and "Write f(x)" in tasks[0]["prompt"][0]["content"]
    reward = ex.ServiceReward(srv.url, srv.headers())
    answers = [[{"role": "assistant", "content": "```r\nf <- function(x) x + 1\n```"}], "f <- function(x) x\n",
               "no code here"]
    assert reward(None, answers, ["inc"] * 3, ["r"] * 3, ["test"] * 3) == [1.0, 0.0, -1.0]


# ------------------------------------------------------------------ hostile requests
def test_invalid_json_is_a_clear_400(srv):
    r = requests.post(srv.url + "/score", data=b'{"jobs": [', headers={**srv.headers(), "content-type":
                                                                       "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["code"] == "INVALID_JSON"
    r = post(srv, "/score", {"jobs": [{"id": "x", "lang": "julia"}]})             # fields missing
    assert r.status_code == 422 and "code" in r.json()["error"] and "tests" in r.json()["error"]
    assert_serving(srv)


def test_unknown_language_is_refused_by_name(srv):
    r = post(srv, "/score", {"jobs": [{"id": "c", "lang": "cobol", "code": "x", "tests": "y"}]})
    assert r.status_code == 422 and "unknown language 'cobol'" in r.json()["error"]
    r = post(srv, "/reset", {"lang": "cobol"})
    assert r.status_code == 422 and "unknown language 'cobol'" in r.json()["error"]
    assert_serving(srv)


def test_a_50_mb_program_is_refused_unread(srv):
    big = "x" * (50 << 20)
    r = post(srv, "/score", {"jobs": [{"id": "big", "lang": "julia", "code": big, "tests": JL_TESTS}]})
    assert r.status_code == 413 and r.json()["code"] == "REQUEST_TOO_LARGE", r.text[:300]
    mid = "# " + "x" * (1 << 20)            # under the request limit (4 MB), over the program limit (256 KB)
    r = post(srv, "/score", {"jobs": [{"id": "mid", "lang": "julia", "code": mid, "tests": JL_TESTS}]})
    assert r.status_code == 413 and r.json()["code"] == "PROGRAM_TOO_LARGE" and "'mid'" in r.json()["error"]
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    with connect(f"ws://127.0.0.1:{srv.port}/ws", additional_headers=srv.headers(), max_size=None) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"split": "test", "task_id": "inc", "lang": "r"}}))
        ws.recv(timeout=60)
        with pytest.raises(ConnectionClosed) as closed:
            ws.send(json.dumps({"type": "step", "data": {"code": big}}))
            ws.recv(timeout=60)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009     # message too big
    assert_serving(srv)


def test_a_chunked_body_over_the_limit_is_cut_off(srv):
    """No Content-Length (chunked): the server reads up to its limit (4 MB here) and answers 413."""
    def body():
        yield b'{"jobs": [{"id": "c", "lang": "julia", "tests": "", "code": "'
        for _ in range(8):
            yield b"x" * (1 << 20)
        yield b'"}]}'
    r = requests.post(srv.url + "/score", data=body(), headers={**srv.headers(), "content-type": "application/json"},
                      timeout=60)
    assert r.status_code == 413 and r.json()["code"] == "REQUEST_TOO_LARGE"
    small = b'{"jobs": [{"id": "chunked-ok", "lang": "r", "code": "f <- function(x) x + 1", "tests": ' + \
        json.dumps(R_TESTS).encode() + b'}]}'
    r = requests.post(srv.url + "/score", data=iter([small[:20], small[20:]]),
                      headers={**srv.headers(), "content-type": "application/json"}, timeout=60)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "passed"      # under it: served
    assert_serving(srv)


def test_a_wrong_token_learns_nothing(srv):
    for tok in (None, "wrong"):
        r = post(srv, "/score", {"jobs": []}, token=tok)
        assert r.status_code == 401 and r.json()["code"] == "UNAUTHORIZED"
        assert requests.get(srv.url + "/info", headers={"Authorization": f"Bearer {tok}"}, timeout=30).status_code == 401
    assert requests.get(srv.url + "/health", timeout=30).json() == {"status": "healthy"}     # probes need none
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{srv.port}/t/wrong/ws")
    assert refused.value.response.status_code == 403
    assert_serving(srv)


@pytest.mark.parametrize("lang, code, tests", [
    ("r", "f <- function(x) { system(':(){ :|:& };:'); repeat {} }\n", R_TESTS),                  # fork bomb
    ("julia", "function f(x)\n    while true; print(\"y\"^4096); end\nend\n", JL_TESTS),           # output flood
    ("r", "f <- function(x) { repeat cat(strrep('y', 4096)) }\n", R_TESTS),
])
def test_forking_or_flooding_programs_get_a_verdict_and_the_server_keeps_serving(srv, lang, code, tests):
    r = post(srv, "/score", {"jobs": [{"id": f"h-{time.monotonic_ns()}", "lang": lang, "code": code, "tests": tests,
                                       "timeout_s": 5}]})
    assert r.status_code == 200, r.text
    out = r.json()["results"][0]
    assert out["status"] in ("timeout", "runtime_error", "output_exceeded", "memory_exceeded"), out
    assert out["reward"] <= -0.5 and len(out["stdout"]) <= 8192
    assert_serving(srv)


def test_a_thousand_abandoned_sessions_hit_the_limit_then_expire(srv):
    codes, t0 = [], time.monotonic()
    for _ in range(1000):
        r = post(srv, "/reset", {"split": "test", "task_id": "inc", "lang": "julia"})
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["code"] == "CAPACITY_REACHED" and r.json()["max_sessions"] == SESSIONS
    elapsed = time.monotonic() - t0
    opened = codes.count(200)
    # at most SESSIONS open at once; idle ones expire every TTL s, so a slow loop may open a few rounds
    assert SESSIONS <= opened <= SESSIONS * (2 + elapsed / TTL), (opened, elapsed)
    assert codes.count(429) == 1000 - opened and codes.count(429) >= 500
    info = requests.get(srv.url + "/info", headers=srv.headers(), timeout=30).json()["sessions"]
    assert info["open"] <= SESSIONS
    from websockets.sync.client import connect
    with connect(f"ws://127.0.0.1:{srv.port}/ws", additional_headers=srv.headers()) as ws:   # refused while full
        msg = json.loads(ws.recv(timeout=30))
        assert msg["type"] == "error" and msg["data"]["code"] == "CAPACITY_REACHED"
    time.sleep(TTL + 2)                    # idle sessions expire; new ones open again
    r = post(srv, "/reset", {"split": "test", "task_id": "inc", "lang": "julia"})
    assert r.status_code == 200, r.text
    info = requests.get(srv.url + "/info", headers=srv.headers(), timeout=30).json()["sessions"]
    assert info["expired"] >= opened - 1 and info["open"] <= 2
    assert_serving(srv)


def test_a_websocket_left_idle_is_closed_after_the_ttl(srv):
    from websockets.sync.client import connect
    with connect(f"ws://127.0.0.1:{srv.port}/ws", additional_headers=srv.headers()) as ws:
        msg = json.loads(ws.recv(timeout=TTL + 30))     # nothing sent: the server gives up on it
        assert msg["data"]["code"] == "SESSION_ERROR" and "idle" in msg["data"]["message"]


# ------------------------------------------------------------------ restart and shutdown
SLOW_JL = "f(x) = (sleep(0.4); x + 1)\n"


def test_kill_mid_batch_and_restart_loses_no_job_and_counts_none_twice(tmp_path):
    """A RemoteScorer scoring 40 slow jobs; the server is SIGKILLed in the middle and started again on
    the same port: the client retries the chunks that failed, and gets each job exactly once."""
    from rarelang.env.client import RemoteScorer
    from rarelang.sandbox import Job
    args = server_args(write_split(tmp_path / "processed"))
    srv = LocalServer(args, log=tmp_path / "server.log").start()
    jobs = [Job("julia", SLOW_JL if i % 2 else "f(x) = x\n", JL_TESTS, id=f"job{i}") for i in range(40)]
    scorer = RemoteScorer([srv.url], chunk=5, retry_s=240)
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(out=scorer.run_all(jobs)))
    t.start()
    try:
        deadline = time.monotonic() + 120
        while requests.get(srv.url + "/info", timeout=30).json()["jobs_run"] < 5:   # a chunk done, others in flight
            assert time.monotonic() < deadline
            time.sleep(0.2)
        srv.kill()
        time.sleep(1.0)
        srv.start()
        t.join(300)
        assert not t.is_alive()
    finally:
        srv.kill()
    out = box["out"]
    assert [o.id for o in out] == [j.id for j in jobs]                      # every job, once, in order
    assert [o.status.value for o in out] == ["tests_failed" if i % 2 == 0 else "passed" for i in range(40)]
    assert scorer.retries >= 1


def test_shutdown_drains_work_in_flight(tmp_path):
    args = server_args(write_split(tmp_path / "processed"), "--drain-s", "60")
    srv = LocalServer(args, log=tmp_path / "server.log").start()
    jobs = [{"id": f"d{i}", "lang": "julia", "code": SLOW_JL.replace("0.4", "1.0"), "tests": JL_TESTS} for i in range(6)]
    box: dict = {}

    def score():
        box["r"] = requests.post(srv.url + "/score", json={"jobs": jobs}, timeout=120)

    t = threading.Thread(target=score)
    try:
        t.start()
        deadline = time.monotonic() + 60
        while requests.get(srv.url + "/info", timeout=30).json()["in_flight"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        t0 = time.monotonic()
        srv.proc.send_signal(15)
        time.sleep(0.5)
        with pytest.raises(requests.ConnectionError):      # no new work is taken
            requests.post(srv.url + "/score", json={"jobs": jobs[:1]}, timeout=10)
        code = srv.proc.wait(90)
        t.join(30)
    finally:
        srv.kill()
    assert code in (0, -15)      # uvicorn re-raises the SIGTERM it handled once it has drained
    assert box["r"].status_code == 200
    res = box["r"].json()["results"]
    assert [x["id"] for x in res] == [j["id"] for j in jobs] and all(x["status"] == "passed" for x in res)
    assert time.monotonic() - t0 >= 1.0          # it waited for the jobs (6 × 1 s on one worker) to finish
