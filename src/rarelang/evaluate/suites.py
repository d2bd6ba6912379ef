"""Evaluation suites as lists of problems.

* ``heldout``: our split's test set (instruction prompt as in training; tests = the row's tests).
* MultiPL-E ``humaneval-r``, ``humaneval-jl``, ``mbpp-r``, ``mbpp-jl``: from a local directory of
  the builder's jsonl files (``evaluate.multipl_e_dir``) or, when a hub is reachable, through
  ``datasets`` (``nuprl/MultiPL-E`` at a pinned revision). Protocol kept exactly: completion-style
  prompt, stop tokens, program = prompt + completion + "\\n" + tests, pass = exit 0 in time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import read_table
from ..train.dataset import build_prompt

MULTIPLE_SUITES = ("humaneval-r", "humaneval-jl", "mbpp-r", "mbpp-jl")
MULTIPLE_REVISION = "3a9e8d226c127392ce81dca29d09f33f0ce3247d"
_LANG = {"r": "r", "jl": "julia"}


@dataclass
class Problem:
    task_id: str
    lang: str
    prompt: str                 # what the model sees (instruction text, or MultiPL-E completion prompt)
    tests: str
    kind: str                   # "instruct" (whole program extracted) | "multipl-e" (complete the prompt)
    entry_point: str = ""
    stop: list[str] = field(default_factory=list)


def heldout(path: Path, languages: list[str]) -> list[Problem]:
    df = read_table(path, "processed")
    df = df[df["lang"].isin(languages)]
    return [Problem(r.task_id, r.lang, build_prompt(r.prompt, r.lang), r.tests, "instruct")
            for r in df.itertuples(index=False)]


def multipl_e(suite: str, directory: Path | None) -> list[Problem]:
    if suite not in MULTIPLE_SUITES:
        raise ValueError(f"unknown MultiPL-E suite {suite!r}; known: {MULTIPLE_SUITES}")
    rows = []
    if directory is not None and (Path(directory) / f"{suite}.jsonl").exists():
        with open(Path(directory) / f"{suite}.jsonl", encoding="utf-8") as f:
            rows = [json.loads(x) for x in f if x.strip()]
    else:
        try:
            from datasets import load_dataset
            rows = list(load_dataset("nuprl/MultiPL-E", suite, revision=MULTIPLE_REVISION, split="test"))
        except Exception as e:
            raise FileNotFoundError(f"MultiPL-E {suite}: no {suite}.jsonl in {directory} and the hub is not "
                                    f"reachable ({type(e).__name__}); set evaluate.multipl_e_dir") from e
    lang = _LANG[suite.split("-")[1]]
    return [Problem(r["name"], lang, r["prompt"], r["tests"], "multipl-e",
                    entry_point=r.get("entry_point") or r["name"].split("_", 2)[-1],
                    stop=list(r.get("stop_tokens") or [])) for r in rows]


def load_suite(name: str, *, heldout_path: Path, languages: list[str], multipl_e_dir: Path | None) -> list[Problem]:
    if name == "heldout":
        return heldout(heldout_path, languages)
    return multipl_e(name, multipl_e_dir)
