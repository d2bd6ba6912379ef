"""What goes over the wire: OpenEnv's shapes (``Action``, ``Observation``, ``State``, reset/step
requests and responses) for the code-task environment, and the batch-scoring request/response.

The fields OpenEnv's base classes define are here with the same names, types and defaults
(``Action.metadata``; ``Observation.done``, ``reward``, ``metadata``; ``State.episode_id``,
``step_count``), so a client written against OpenEnv (``EnvClient._parse_result`` reading
``{"observation", "reward", "done"}``) works unchanged. openenv-core itself is not imported: it brings
gradio, fastmcp and an LLM client with it (``pip install 'rarelang[openenv]'`` for its client classes).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ..languages import UnknownLanguage, canonical_language


def _language(v: str) -> str:
    try:
        return canonical_language(v)
    except UnknownLanguage as e:
        raise ValueError(str(e)) from None


Lang = Annotated[str, AfterValidator(_language)]       # a language name or alias → its canonical name


# ------------------------------------------------------------------ environment (OpenEnv)
class CodeAction(BaseModel):
    """One attempt: a program (``code``, run as is) or a model's answer (``completion``: the program is
    taken from it as training and evaluation take it — the first fenced block; for a MultiPL-E problem
    the body is put under the prompt's signature)."""

    model_config = ConfigDict(extra="forbid")

    code: Optional[str] = Field(default=None, description="the complete program to run against the tests")
    completion: Optional[str] = Field(default=None, description="a model's answer; the program is extracted from it")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Additional metadata for the action")

    @model_validator(mode="after")
    def _one_of(self) -> "CodeAction":
        if (self.code is None) == (self.completion is None):
            raise ValueError("give exactly one of 'code' (a program) or 'completion' (a model's answer)")
        return self


class CodeObservation(BaseModel):
    """What the agent sees: the task at reset, then the sandbox's verdict on each attempt."""

    model_config = ConfigDict(extra="forbid")

    done: bool = Field(default=False, description="Whether the episode has terminated")
    reward: bool | int | float | None = Field(default=None, description="Reward signal from the last action")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Additional metadata for the observation")

    episode_id: str = ""
    split: str = ""
    task_id: str = ""
    lang: str = ""
    prompt: str = Field(default="", description="the instruction for the task")
    attempt: int = Field(default=0, description="attempts made so far (0 at reset)")
    attempts_left: int = 0
    status: Optional[str] = Field(default=None, description="the last attempt's status (passed, tests_failed, ...)")
    tests_passed: int = 0
    tests_total: int = 0
    message: str = Field(default="", description="the sandbox's error message, trimmed")
    feedback: str = Field(default="", description="the verdict as text for the model's next turn")


class CodeState(BaseModel):
    """An episode's state (GET /state, WebSocket ``state``)."""

    model_config = ConfigDict(extra="allow")

    episode_id: Optional[str] = Field(default=None, description="Unique identifier for the current episode")
    step_count: int = Field(default=0, ge=0, description="Number of steps taken in the current episode")
    split: str = ""
    task_id: str = ""
    lang: str = ""
    max_attempts: int = 0
    done: bool = False
    statuses: list[str] = Field(default_factory=list)
    rewards: list[float] = Field(default_factory=list)


class InlineProblem(BaseModel):
    """A task the caller brings (its own tests): the environment then serves any Julia/R task."""

    model_config = ConfigDict(extra="forbid")

    lang: Lang
    tests: str
    prompt: str = ""
    task_id: str = "inline"


class ResetRequest(BaseModel):
    """OpenEnv's reset request (``seed``, ``episode_id``) and the task to draw."""

    model_config = ConfigDict(extra="forbid")

    seed: Optional[int] = Field(default=None, ge=0)
    episode_id: Optional[str] = Field(default=None, max_length=255)
    split: Optional[str] = Field(default=None, description="train | validation | test | humaneval-r | ... (see /info)")
    task_id: Optional[str] = None
    lang: Optional[Lang] = None
    max_attempts: Optional[int] = Field(default=None, ge=1)
    problem: Optional[InlineProblem] = None


class StepRequest(BaseModel):
    """OpenEnv's HTTP step request; ``episode_id`` names the session that /reset opened."""

    model_config = ConfigDict(extra="allow")

    action: dict[str, Any]
    episode_id: Optional[str] = Field(default=None, max_length=255)
    timeout_s: Optional[float] = Field(default=None, gt=0)
    request_id: Optional[str] = Field(default=None, max_length=255)


class StepResponse(BaseModel):
    """OpenEnv's reset/step response."""

    observation: dict[str, Any]
    reward: Optional[float] = None
    done: bool = False


def serialize_observation(obs: CodeObservation) -> dict[str, Any]:
    """OpenEnv's wire form: the observation's own fields, with reward and done beside it."""
    return {"observation": obs.model_dump(exclude={"reward", "done", "metadata"}),
            "reward": obs.reward, "done": obs.done}


# ------------------------------------------------------------------ batch scoring (GRPO rewards)
class ScoreJob(BaseModel):
    """One job, as a line of `rarelang exec-batch`: a program and its tests."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=255, description="the caller's id; a retried id is answered once")
    lang: Lang
    code: str
    tests: str
    timeout_s: Optional[float] = Field(default=None, gt=0, le=3600)


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[ScoreJob]

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[ScoreJob]) -> list[ScoreJob]:
        seen: set[str] = set()
        for j in jobs:
            if j.id in seen:
                raise ValueError(f"duplicate job id {j.id!r} in one request")
            seen.add(j.id)
        return jobs
