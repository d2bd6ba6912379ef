"""Reward functions for TRL's GRPOTrainer (open-r1 style: ``f(prompts, completions, **columns)``).

``ExecutionReward`` is async and batched: all completions of a step go to the sandbox pool at
once (routed by the dataset's ``lang`` column, tested against its ``tests`` column), and the
reward comes from params.yaml's table. Per-status fractions, the pass rate and the reward time are
logged through TRL's log_metric (train or eval mode). A completion without code is a ``syntax_error`` (no crash).
"""

from __future__ import annotations

import collections
import time
from typing import Any, Callable

from ..sandbox import Job, Outcome, SandboxPool, Status
from ..sandbox.outcome import STATUSES
from ..codeblocks import fenced_blocks
from ..languages import get_language
from ..completions import completion_text, extract_code
import os

from ..params import section
from ..rewards import RewardTable


REWARD_SERVERS_ENV = "RARELANG_REWARD_SERVERS"     # comma-separated URLs; overrides reward_service.servers


def reward_servers(params: dict[str, Any]) -> tuple[list[str], str | None]:
    """The servers that score training's rewards (``$RARELANG_REWARD_SERVERS`` over
    ``reward_service.servers``; none: score in this process) and their token (from the environment
    variable ``reward_service.token_env`` names)."""
    sec = section(params, "reward_service")
    env = os.environ.get(REWARD_SERVERS_ENV)
    servers = [s.strip() for s in env.split(",")] if env is not None else [str(s) for s in sec.get("servers") or []]
    token = os.environ.get(str(sec.get("token_env") or "RARELANG_ENV_TOKEN")) or None
    return [s for s in servers if s], token


def reward_runner(params: dict[str, Any]) -> Any:
    """What scores the rewards: `rarelang serve` servers when ``reward_service.servers`` (or
    ``$RARELANG_REWARD_SERVERS``) names some — a RemoteScorer, the same outcomes over the network —
    else a local SandboxPool."""
    servers, token = reward_servers(params)
    if not servers:
        return SandboxPool.from_params(params)
    from ..env.client import RemoteScorer
    return RemoteScorer(servers, token, rewards=RewardTable.from_params(params.get("reward")))


class ExecutionReward:
    __name__ = "execution"

    def __init__(self, pool: Any, timeout_s: float | None = None, completion_log: Any = None,
                 rewards: RewardTable | None = None):
        self.pool = pool
        self.rewards = rewards or RewardTable()      # outcome → reward (params.yaml `reward`)
        self.timeout_s = timeout_s
        self.completion_log = completion_log        # a CompletionLog: what the reward paid for, for audit
        self.history: list[list[Outcome]] = []      # outcomes of every call, for inspection/tests
        self.last_seconds = 0.0
        self.pending_seconds = 0.0                  # summed until the trainer takes it
        self.log_completions = True                 # off while the trainer evaluates on the validation set

    def take_seconds(self) -> float:
        s, self.pending_seconds = self.pending_seconds, 0.0
        return s

    async def __call__(self, prompts: list[Any], completions: list[Any], lang: list[str], tests: list[str],
                       log_metric: Callable[[str, float], None] | None = None, **columns: Any) -> list[float]:
        t0 = time.perf_counter()
        outcomes: list[Outcome | None] = [None] * len(completions)
        jobs, where = [], []
        for i, (c, lg, t) in enumerate(zip(completions, lang, tests)):
            code = extract_code(c, lg)
            if code is None:
                outcomes[i] = Outcome(Status.SYNTAX_ERROR,
                                      message="no code in the completion", lang=lg)
            else:
                jobs.append(Job(lg, code, t, id=str(i), timeout_s=self.timeout_s))
                where.append(i)
        if jobs:
            for i, o in zip(where, await self.pool.arun_all(jobs)):
                outcomes[i] = o
        done = [o for o in outcomes if o is not None]
        rewards = [self.rewards.score(o) for o in done]
        self.history.append(done)
        if self.completion_log is not None and self.log_completions:
            self.completion_log.record(completions, done, rewards, columns.get("task_id"), lang, completion_text)
        self.last_seconds = time.perf_counter() - t0
        self.pending_seconds += self.last_seconds
        counts = collections.Counter(o.status.value for o in done)
        metrics = {f"status/{s}": counts.get(s, 0) / max(1, len(done)) for s in STATUSES}
        metrics["pass_rate"] = counts.get("passed", 0) / max(1, len(done))
        metrics["timing/reward_s"] = self.last_seconds
        if log_metric is not None:        # TRL ≥ 1.0 passes it (pyproject: trl ≥ 1.0); train or eval mode
            for k, v in metrics.items():
                log_metric(k, v)
        return rewards


class FormatReward:
    """Optional shaping (off by default): ``weight`` when the completion holds exactly one code
    block fenced with the right language tag, else 0."""

    __name__ = "format"

    def __init__(self, weight: float = 0.1):
        self.weight = weight

    def __call__(self, prompts: list[Any], completions: list[Any], lang: list[str], **_: Any) -> list[float]:
        out = []
        for c, lg in zip(completions, lang):
            blocks = fenced_blocks(completion_text(c))
            ok = len(blocks) == 1 and blocks[0][0] in get_language(lg).fence_tags
            out.append(self.weight if ok else 0.0)
        return out
