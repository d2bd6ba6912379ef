"""Training with the environment service: rewards scored by `rarelang serve` servers are the rewards local
scoring gives (same statuses, same values), spread over several servers; and multi-turn GRPO steps
through TRL's environment_factory, with a tiny tool-calling model."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import build_tiny_tools  # noqa: E402

from rarelang.env.client import RemoteScorer, ServerError
from rarelang.env.launch import LocalServer
from rarelang.params import load_params
from rarelang.rewards import RewardTable
from rarelang.train.rewards import ExecutionReward, reward_runner

BACKEND = os.environ.get("RARELANG_TEST_BACKEND", "bwrap")
JL_TESTS = "using Test\n@test f(1) == 2\n@test f(2) == 3\n"
R_TESTS = "library(testthat)\ntest_that('a', { expect_equal(f(1), 2); expect_equal(f(2), 3) })\n"

COMPLETIONS = [   # (completion, lang, tests): every status a completion can earn
    ("```julia\nf(x) = x + 1\n```", "julia", JL_TESTS),
    ("```julia\nf(x) = x == 1 ? 2 : 0\n```", "julia", JL_TESTS),
    ("```julia\nfunction f(x)\n    x + 1\n```", "julia", JL_TESTS),
    ("```julia\nf(x) = x.nofield\n```", "julia", JL_TESTS),
    ("```julia\nfunction f(x)\n    while true end\nend\n```", "julia", JL_TESTS),
    ("I cannot write this.", "julia", JL_TESTS),
    ("```r\nf <- function(x) x + 1\n```", "r", R_TESTS),
    ("```r\nf <- function(x) if (x == 1) 2 else 0\n```", "r", R_TESTS),
    ("```r\nf <- function(x) {\n  x + 1\n```", "r", R_TESTS),
    ("```r\nf <- function(x) stop('nope')\n```", "r", R_TESTS),
    ("```r\nf <- function(x) { repeat {} }\n```", "r", R_TESTS),
    ("```r\nf <- function(x) { repeat cat(strrep('y', 4096)) }\n```", "r", R_TESTS),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("servers")
    srvs = [LocalServer(["--workers", "1", "--backend", BACKEND, "--multipl-e-dir", "/nonexistent"],
                        log=tmp / f"server{i}.log") for i in range(2)]
    try:
        for s in srvs:
            s.start()
        yield srvs
    finally:
        for s in srvs:
            s.kill()


def _score(runner, n_times: int = 1):
    reward = ExecutionReward(runner, timeout_s=3, rewards=RewardTable.from_params(load_params().get("reward")))
    comps = [c for c, _, _ in COMPLETIONS] * n_times
    langs = [lg for _, lg, _ in COMPLETIONS] * n_times
    tests = [t for _, _, t in COMPLETIONS] * n_times
    rewards = asyncio.run(reward([""] * len(comps), comps, langs, tests))
    return [o.status.value for o in reward.history[0]], rewards


def test_server_rewards_are_local_rewards(pool, servers):
    local_status, local_reward = _score(pool)
    assert len(set(local_status)) >= 6, local_status            # the cases cover the statuses
    remote_status, remote_reward = _score(RemoteScorer([servers[0].url], rewards=RewardTable()))
    assert remote_status == local_status
    assert remote_reward == local_reward


def test_two_servers_share_the_jobs_and_agree(pool, servers):
    before = [requests.get(s.url + "/info", timeout=30).json()["jobs_run"] for s in servers]
    scorer = RemoteScorer([s.url for s in servers], chunk=4, rewards=RewardTable())
    status, rewards = _score(scorer, n_times=2)
    local_status, local_reward = _score(pool)
    assert status == local_status * 2 and rewards == local_reward * 2
    after = [requests.get(s.url + "/info", timeout=30).json()["jobs_run"] for s in servers]
    ran = [a - b for a, b in zip(after, before)]
    with_code = 2 * sum("```" in c for c, _, _ in COMPLETIONS)
    assert all(r > 0 for r in ran) and sum(ran) == with_code     # each job run once, on one of the two


def test_a_server_paying_another_table_is_refused(servers):
    other = RewardTable(passed=2.0)
    with pytest.raises(ServerError, match="another reward table"):
        _score(RemoteScorer([servers[0].url], rewards=other))


def test_reward_runner_follows_reward_service_servers(servers, monkeypatch):
    monkeypatch.delenv("RARELANG_REWARD_SERVERS", raising=False)
    params = load_params()
    params["reward_service"] = {"servers": [servers[0].url, servers[1].url]}
    runner = reward_runner(params)
    assert isinstance(runner, RemoteScorer) and runner.servers == [servers[0].url, servers[1].url]
    monkeypatch.setenv("RARELANG_REWARD_SERVERS", "")          # the environment variable wins: none → local
    from rarelang.sandbox import SandboxPool
    local = reward_runner({**params, "machine": {**params["machine"], "workers": 1}})
    try:
        assert isinstance(local, SandboxPool)
    finally:
        local.close()


def test_a_server_lost_mid_batch_moves_its_chunks_to_the_other(servers):
    """Two servers; one is killed while a batch runs and stays down: its chunks go to the other, every job
    comes back once. (Kills servers[1]: the module's last test that uses the servers.)"""
    import threading
    import time
    from rarelang.sandbox import Job
    jobs = [Job("julia", f"f(x) = (sleep(0.3); x + {i % 2})\n", JL_TESTS, id=f"j{i}") for i in range(32)]
    scorer = RemoteScorer([s.url for s in servers], chunk=4, retry_s=120)
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(out=scorer.run_all(jobs)))
    t.start()
    deadline = time.monotonic() + 120
    while requests.get(servers[1].url + "/info", timeout=30).json()["in_flight"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    servers[1].kill()
    t.join(240)
    assert not t.is_alive()
    out = box["out"]
    assert [o.id for o in out] == [j.id for j in jobs]
    assert [o.status.value for o in out] == ["tests_failed" if i % 2 == 0 else "passed" for i in range(32)]
    assert scorer.retries >= 1


# ------------------------------------------------------------------ multi-turn GRPO (TRL environment_factory)
def test_multi_turn_grpo_steps_with_draft_runs(tmp_path, pool):
    from test_train_grpo import _params          # the same tiny train set as the single-turn GRPO tests
    from rarelang.train.episodes import CodeTaskEnvironment
    from rarelang.train.run import train
    params = _params(tmp_path, build_tiny_tools(tmp_path / "tiny"), 2)
    params["train"]["run_name"] = "multi"
    params["train"]["grpo"]["max_completion_length"] = 700       # room for a draft, its verdict and an answer
    res = train(params, tmp_path, overrides={"episodes.max_attempts": 3}, pool=pool)
    assert res["summary"]["global_step"] == 2
    trainer = res["trainer"]
    envs = trainer.environments
    assert envs and all(isinstance(e, CodeTaskEnvironment) for e in envs)
    assert all(e.test_runs <= 2 for e in envs)                     # max_attempts - 1 draft runs at most
    logged = [h for h in trainer.state.log_history if "reward" in h]
    assert any(h.get("tools/call_frequency", 0) > 0 for h in logged), logged
    assert any(h.get("episodes/test_runs", 0) > 0 for h in logged), logged
    calls = res["reward"].history
    assert len(calls) == 2 and all(len(c) == 8 for c in calls)
    table = res["reward"].rewards
    for entry, outcomes in zip(logged, calls):       # the logged reward is the final answers' execution reward
        assert entry["reward"] == pytest.approx(sum(table.score(o) for o in outcomes) / len(outcomes))
