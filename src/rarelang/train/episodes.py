"""Multi-turn GRPO through TRL's environment support (``GRPOTrainer(environment_factory=...)``).

Each rollout gets a ``CodeTaskEnvironment``: its ``run_tests`` method is a tool the model may call up to
``max_attempts - 1`` times with a draft program; each call runs the draft against the task's tests in
the sandbox (or on `rarelang serve` servers) and returns the verdict (status, tests passed of total,
the error message trimmed — rarelang.env.episode's feedback). The reward is the execution reward of
the final answer (the last assistant message), scored exactly as single-turn training scores a
completion (``EpisodeReward`` is ``ExecutionReward`` on that message), so single- and multi-turn
runs are paid by the same table.

Used by ``train(..., overrides={"episodes.max_attempts": k})`` (``scripts/train_grpo.py --set
episodes.max_attempts=3``); k = 1 is single-turn training.
"""

from __future__ import annotations

from typing import Any

from ..env.episode import Episode
from ..env.models import CodeAction
from ..evaluate.suites import Problem
from ..rewards import RewardTable
from .rewards import ExecutionReward

HINT = ("\n\nBefore you answer you may call the tool run_tests with a draft program, at most {n} time(s); it "
        "runs the draft against the hidden unit tests and tells you how it fared. Then answer with the complete "
        "program in a single code block.")


class CodeTaskEnvironment:
    """One rollout's environment. ``runner`` scores a job (``SandboxPool`` or ``RemoteScorer``: ``.run``)."""

    def __init__(self, runner: Any, rewards: RewardTable, max_attempts: int, timeout_s: float | None = None):
        if max_attempts < 2:
            raise ValueError("a multi-turn episode needs max_attempts >= 2 (1 is single-turn training)")
        self.runner, self.rewards = runner, rewards
        self.max_attempts, self.timeout_s = int(max_attempts), timeout_s
        self.episode: Episode | None = None

    def reset(self, **row: Any) -> str:
        problem = Problem(str(row.get("task_id", "")), row["lang"], "", row["tests"], "instruct")
        # drafts get max_attempts - 1 runs; the final answer is the last attempt (scored by EpisodeReward)
        self.episode = Episode(problem, "train", self.max_attempts - 1, self.rewards, timeout_s=self.timeout_s)
        return HINT.format(n=self.max_attempts - 1)

    def run_tests(self, code: str) -> str:
        """Run a draft program against the task's hidden unit tests and report how it fared.

        Args:
            code: The complete program, in the language the task asks for.

        Returns:
            The verdict: the status, how many tests passed of how many, and the error message.
        """
        ep = self.episode
        if ep is None:
            return "No task: the environment was not reset."
        if ep.done:
            return "No test runs left: answer with your final program."
        return ep.step(CodeAction(code=str(code)), self.runner.run).feedback

    @property
    def test_runs(self) -> int:
        return len(self.episode.outcomes) if self.episode else 0


def final_answer(completion: Any) -> Any:
    """The last assistant message of a multi-turn completion (the answer after the tool calls)."""
    if isinstance(completion, list):
        for m in reversed(completion):
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant":
                return [m]
        return []
    return completion


class EpisodeReward(ExecutionReward):
    """ExecutionReward on each rollout's final answer; logs how many draft runs the episodes used."""

    __name__ = "execution"

    async def __call__(self, prompts: list[Any], completions: list[Any], lang: list[str], tests: list[str],
                       log_metric: Any = None, environments: list[Any] | None = None, **columns: Any) -> list[float]:
        rewards = await super().__call__(prompts, [final_answer(c) for c in completions], lang, tests,
                                         log_metric=log_metric, **columns)
        if environments and log_metric is not None:
            runs = [getattr(e, "test_runs", 0) for e in environments]
            log_metric("episodes/test_runs", sum(runs) / max(1, len(runs)))
            log_metric("episodes/used_feedback", sum(r > 0 for r in runs) / max(1, len(runs)))
        return rewards
