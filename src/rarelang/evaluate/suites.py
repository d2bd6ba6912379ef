"""Evaluation suites as lists of problems.

* ``heldout``: our split's test set (instruction prompt as in training; tests = the row's tests).
* MultiPL-E ``humaneval-r``, ``humaneval-jl``, ``mbpp-r``, ``mbpp-jl``: from a local directory of
  the builder's jsonl files (``evaluate.multipl_e_dir``) or, when a hub is reachable, through
  ``datasets`` (``nuprl/MultiPL-E`` at a pinned revision), with the documented repairs of
  ``repair.py`` applied to prompts that cannot parse as presented (each problem records its
  repairs). Two protocols (``evaluate.protocols``; see programs.py): ``completion`` (MultiPL-E's
  own: the prompt completed as text, cut at the suite's stop tokens, program = prompt +
  completion + tests) and ``chat`` (our adaptation for instruct models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import read_table
from ..prompts import build_prompt, entry_signature
from .repair import repair_problem

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
    repairs: list[str] = field(default_factory=list)     # repair.py's names for what was changed


def heldout(path: Path, languages: list[str], signature: bool = True) -> list[Problem]:
    """The split's test rows as instruction prompts, as in training (with the entry point's
    signature from the reference solution unless ``signature`` is off)."""
    df = read_table(path, "processed")
    df = df[df["lang"].isin(languages)]
    out = []
    for r in df.itertuples(index=False):
        entry, sig = entry_signature(r.solution, r.tests, r.lang)
        out.append(Problem(r.task_id, r.lang, build_prompt(r.prompt, r.lang, signature=sig if signature else ""),
                           r.tests, "instruct", entry_point=entry))
    return out


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
    out = []
    for r in rows:
        entry = r.get("entry_point") or r["name"].split("_", 2)[-1]
        prompt, tests, repairs = repair_problem(lang, r["prompt"], r["tests"], entry)
        out.append(Problem(r["name"], lang, prompt, tests, "multipl-e", entry_point=entry,
                           stop=list(r.get("stop_tokens") or []), repairs=repairs))
    return out


def load_suite(name: str, *, heldout_path: Path, languages: list[str], multipl_e_dir: Path | None,
               signature: bool = True) -> list[Problem]:
    if name == "heldout":
        return heldout(heldout_path, languages, signature)
    return multipl_e(name, multipl_e_dir)
