"""The problems an environment serves, by split: the project's own splits (train, validation, test:
``data/processed/<split>.parquet``, instruction prompts as in training) and MultiPL-E's suites
(humaneval-r, humaneval-jl, mbpp-r, mbpp-jl). Loaded on first use, through the loaders evaluation
uses (``rarelang.evaluate.suites``), so a task looks the same to an agent as to our evaluation."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from ..evaluate.programs import chat_prompt, program_for
from ..evaluate.suites import MULTIPLE_SUITES, Problem, heldout, multipl_e
from ..languages import LANGUAGES

OWN_SPLITS = ("train", "validation", "test")
SPLITS = OWN_SPLITS + MULTIPLE_SUITES


class TaskError(ValueError):
    """A task that cannot be served (unknown split, task or language): the caller's mistake."""


class TaskBank:
    def __init__(self, data_dir: Path | None = Path("data/processed"), multipl_e_dir: Path | None = None,
                 signature: bool = True):
        self.data_dir = Path(data_dir) if data_dir else None
        self.multipl_e_dir = Path(multipl_e_dir) if multipl_e_dir else None
        self.signature = signature
        self._loaded: dict[str, list[Problem]] = {}
        self._lock = threading.Lock()

    def available(self) -> dict[str, bool]:
        """Each split and whether its file is there (MultiPL-E: in multipl_e_dir)."""
        out = {}
        for s in OWN_SPLITS:
            out[s] = bool(self.data_dir and (self.data_dir / f"{s}.parquet").exists())
        for s in MULTIPLE_SUITES:
            out[s] = bool(self.multipl_e_dir and (self.multipl_e_dir / f"{s}.jsonl").exists())
        return out

    def problems(self, split: str) -> list[Problem]:
        if split not in SPLITS:
            raise TaskError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
        with self._lock:
            if split not in self._loaded:
                if not self.available()[split]:
                    where = (self.data_dir / f"{split}.parquet" if split in OWN_SPLITS and self.data_dir
                             else (self.multipl_e_dir or Path("?")) / f"{split}.jsonl")
                    raise TaskError(f"split {split!r} is not available on this server (no {where})")
                if split in OWN_SPLITS:
                    self._loaded[split] = heldout(self.data_dir / f"{split}.parquet", sorted(LANGUAGES),
                                                  self.signature)
                else:
                    self._loaded[split] = multipl_e(split, self.multipl_e_dir)
            return self._loaded[split]

    def draw(self, split: str, *, task_id: str | None = None, lang: str | None = None,
             seed: int | None = None) -> Problem:
        """The named task, or one drawn at random (reproducibly with ``seed``) from the split."""
        cands = [p for p in self.problems(split) if lang is None or p.lang == lang]
        if task_id is not None:
            cands = [p for p in cands if p.task_id == task_id]
            if not cands:
                raise TaskError(f"no task {task_id!r}" + (f" in {lang}" if lang else "") + f" in split {split!r}")
            if len(cands) > 1:
                raise TaskError(f"task {task_id!r} exists in {sorted({p.lang for p in cands})}: give lang")
            return cands[0]
        if not cands:
            raise TaskError(f"split {split!r} has no {lang} tasks")
        return (random.Random(seed) if seed is not None else random).choice(cands)


def instruction(p: Problem) -> str:
    """What the agent is asked (MultiPL-E problems wrapped as our evaluation's chat protocol does)."""
    return chat_prompt(p)


def program_from(p: Problem, completion: str) -> str | None:
    """The program a model's answer stands for (evaluation's chat protocol); None: no code in it."""
    return program_for(p, completion, chat=True)
