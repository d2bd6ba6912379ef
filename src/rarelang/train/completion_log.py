"""The completions GRPO was rewarded for, kept for audit: every completion of every k-th reward
call (prompt id, language, completion, program status, tests passed, reward), written as
``completions.parquet`` beside the trainer log. Flushed at every checkpoint save and at the end,
so a crash loses at most what came after the last save; a resumed run appends to what is there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd


class CompletionLog:
    def __init__(self, path: Path, every: int = 10, per_call: int | None = None):
        if every < 1:
            raise ValueError(f"train.completion_log.every must be ≥ 1, not {every}")
        self.path, self.every, self.per_call = Path(path), int(every), per_call
        self.step = 0                      # the optimizer step, kept current by the trainer callback
        self.calls = 0
        self.rows: list[dict[str, Any]] = []
        self.written = 0

    def record(self, completions: list[Any], outcomes: list[Any], rewards: list[float], task_ids: list[str] | None,
               langs: list[str], text: Any = str) -> None:
        """Called by the reward with one call's completions, outcomes and the rewards it paid; keeps every
        k-th call."""
        call = self.calls
        self.calls += 1
        if call % self.every:
            return
        n = len(completions) if self.per_call is None else min(self.per_call, len(completions))
        for i in range(n):
            o = outcomes[i]
            self.rows.append({"step": self.step, "call": call, "index": i,
                              "task_id": (task_ids[i] if task_ids else ""), "lang": langs[i],
                              "completion": text(completions[i]), "status": o.status.value,
                              "tests_passed": int(o.tests_passed), "tests_total": int(o.tests_total),
                              "reward": float(rewards[i]), "message": (o.message or "")[:300]})

    def flush(self) -> None:
        if len(self.rows) == self.written:
            return
        new = pd.DataFrame(self.rows[self.written:])
        if self.path.exists() and self.written == 0:     # a resumed run: keep what the earlier part logged
            old = pd.read_parquet(self.path)
            new = pd.concat([old[old["step"] < (new["step"].min() if len(new) else 0)], new], ignore_index=True)
        elif self.path.exists():
            new = pd.concat([pd.read_parquet(self.path), new], ignore_index=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        new.to_parquet(tmp, index=False)
        tmp.replace(self.path)
        self.written = len(self.rows)


def completion_log_callback(log: CompletionLog):
    from transformers import TrainerCallback

    class _Cb(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            log.step = state.global_step

        def on_save(self, args, state, control, **kw):
            log.flush()

        def on_train_end(self, args, state, control, **kw):
            log.flush()

    return _Cb()
