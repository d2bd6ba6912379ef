"""One multi-turn episode: a task, up to ``max_attempts`` programs, each answered by the sandbox's
verdict (status, tests passed of total, the error message trimmed) and the reward table's reward.
The episode ends when an attempt passes or the attempts are spent. The same logic serves the
environment server's sessions and in-process episodes (``rarelang.train.episodes``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable

from ..evaluate.suites import Problem
from ..rewards import RewardTable
from ..sandbox import Job, Outcome, Status
from .models import CodeAction, CodeObservation, CodeState
from .tasks import instruction, program_from

MESSAGE_CHARS = 600          # the error message an observation carries (the sandbox keeps 2000)


class EpisodeDone(RuntimeError):
    """A step after the episode ended."""


def trim(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit - 15].rstrip() + " … [trimmed]"


def feedback(outcome: Outcome, attempt: int, max_attempts: int) -> str:
    """The verdict as the model reads it in its next turn."""
    head = f"Attempt {attempt} of {max_attempts}: {outcome.status.value}"
    if outcome.tests_total:
        head += f", {outcome.tests_passed} of {outcome.tests_total} tests passed"
    lines = [head + "."]
    if outcome.message and outcome.status is not Status.PASSED:
        lines.append(trim(outcome.message))
    if outcome.status is not Status.PASSED and attempt < max_attempts:
        lines.append("Fix the program and answer again with the complete code.")
    return "\n".join(lines)


@dataclass
class Episode:
    problem: Problem
    split: str
    max_attempts: int
    rewards_table: RewardTable
    episode_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timeout_s: float | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return bool(self.outcomes) and (self.outcomes[-1].status is Status.PASSED
                                        or len(self.outcomes) >= self.max_attempts)

    def _observation(self, **kw) -> CodeObservation:
        p = self.problem
        return CodeObservation(episode_id=self.episode_id, split=self.split, task_id=p.task_id, lang=p.lang,
                               prompt=instruction(p), attempt=len(self.outcomes),
                               attempts_left=self.max_attempts - len(self.outcomes), done=self.done, **kw)

    def start(self) -> CodeObservation:
        return self._observation()

    def job(self, action: CodeAction) -> Job | Outcome:
        """The sandbox job for an attempt, or its outcome at once when the answer holds no code."""
        if self.done:
            raise EpisodeDone(f"episode {self.episode_id} is done ({len(self.outcomes)} attempt(s), last "
                              f"{self.outcomes[-1].status.value}); reset to start another")
        p = self.problem
        if action.code is not None:
            program = action.code
        else:
            program = program_from(p, action.completion or "")
        if program is None:
            return Outcome(Status.SYNTAX_ERROR, message="no code in the completion", lang=p.lang)
        return Job(p.lang, program, p.tests, id=f"{self.episode_id}:{len(self.outcomes) + 1}", timeout_s=self.timeout_s)

    def record(self, outcome: Outcome) -> CodeObservation:
        """Take an attempt's outcome; the observation the agent gets back."""
        self.outcomes.append(outcome)
        reward = self.rewards_table.score(outcome)
        self.rewards.append(reward)
        return self._observation(reward=reward, status=outcome.status.value, tests_passed=outcome.tests_passed,
                                 tests_total=outcome.tests_total, message=trim(outcome.message),
                                 feedback=feedback(outcome, len(self.outcomes), self.max_attempts))

    def step(self, action: CodeAction, run: Callable[[Job], Outcome]) -> CodeObservation:
        job = self.job(action)
        return self.record(job if isinstance(job, Outcome) else run(job))

    def state(self) -> CodeState:
        return CodeState(episode_id=self.episode_id, step_count=len(self.outcomes), split=self.split,
                         task_id=self.problem.task_id, lang=self.problem.lang, max_attempts=self.max_attempts,
                         done=self.done, statuses=[o.status.value for o in self.outcomes], rewards=list(self.rewards))
