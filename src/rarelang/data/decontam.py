"""Paraphrase duplicates: two problems whose entry points have the same normalised name (case, underscores and
other punctuation dropped: ``reverseVowels`` = ``reverse_vowels``) and whose tests call it with a same input (the
literal arguments of a call — numbers, strings, booleans — compared as values: ``c(1L, 2)`` in R = ``[1, 2.0]`` in
Julia). The n-gram filter misses them when the prompt is reworded, the exact entry-point rule when the name is
respelled. Two uses in the split (rarelang.data.split):

* against benchmarks (``paraphrase_hits``): a row that paraphrases a MultiPL-E HumanEval/MBPP problem (its tests call
  ``candidate``) is removed before the split, like a row named after one;
* across the split (``cross_split_paraphrases``): a test row that paraphrases a train row, in any language, leaves
  the test set.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?L?'
                      r'|\b(?:TRUE|FALSE|true|false|NULL|nothing|missing|NA|Inf)\b')


def normalise_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _literal(tok: str) -> str:
    if tok[0] in "\"'":
        return "s:" + tok[1:-1]
    low = tok.lower()
    if low in ("true", "false"):
        return low
    if low in ("null", "nothing", "missing", "na"):
        return "null"
    try:
        return repr(float(tok.rstrip("L")))
    except ValueError:
        return tok


def call_arguments(text: str, name: str) -> list[str]:
    """The argument text of every call ``name(...)`` in ``text`` (brackets balanced)."""
    out = []
    for m in re.finditer(r"(?<![\w.])" + re.escape(name) + r"\s*\(", str(text)):
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += 1 if text[j] in "([{" else -1 if text[j] in ")]}" else 0
            j += 1
        out.append(text[m.end():j - 1])
    return out


def call_inputs(tests: str, name: str) -> frozenset[tuple[str, ...]]:
    """The inputs the tests give ``name``: per call, its literal arguments as values (calls without one dropped)."""
    return frozenset(t for t in (tuple(_literal(x) for x in _LITERAL.findall(a)) for a in call_arguments(tests, name))
                     if t)


@dataclass(frozen=True)
class Signature:
    label: str                  # the problem (a benchmark problem's name, or a row's task id)
    name: str                   # the normalised entry point
    inputs: frozenset           # call_inputs


def row_signatures(df: pd.DataFrame) -> list[Signature | None]:
    """Each row's signature (None: no entry point found in its solution and tests)."""
    from ..languages import get_language
    out: list[Signature | None] = []
    for r in df.itertuples(index=False):
        found = get_language(r.lang).entry_point(r.solution, r.tests)
        out.append(Signature(r.task_id, normalise_name(found[0]), call_inputs(r.tests, found[0])) if found else None)
    return out


def load_benchmark_signatures(directory: Path, benchmarks: list[str]) -> list[Signature]:
    """The signatures of the MultiPL-E problems of the given benchmarks (humaneval, mbpp), R and Julia."""
    out = []
    for f in sorted(Path(directory).glob("*.jsonl")):
        if f.stem.split("-")[0] not in benchmarks:
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                entry = d.get("entry_point") or d["name"].split("_", 2)[-1]
                out.append(Signature(d["name"], normalise_name(entry), call_inputs(d["tests"], "candidate")))
    return out


def _index(sigs: list[Signature | None]) -> dict[str, list[int]]:
    by: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sigs):
        if s is not None and s.inputs:
            by[s.name].append(i)
    return by


def paraphrases(sigs: list[Signature | None], reference: list[Signature | None], min_shared: int = 1
                ) -> dict[int, int]:
    """Positions in ``sigs`` → the position in ``reference`` of a paraphrase: the same normalised entry point and at
    least ``min_shared`` identical inputs."""
    by = _index(reference)
    hits: dict[int, int] = {}
    for i, s in enumerate(sigs):
        if s is None or not s.inputs:
            continue
        j = next((j for j in by.get(s.name, ()) if len(s.inputs & reference[j].inputs) >= min_shared), None)
        if j is not None:
            hits[i] = j
    return hits


def paraphrase_hits(df: pd.DataFrame, benchmark: list[Signature], min_shared: int = 1) -> dict[int, str]:
    """Row positions that paraphrase a benchmark problem, and its name."""
    return {i: benchmark[j].label for i, j in paraphrases(row_signatures(df), benchmark, min_shared).items()}


def cross_split_paraphrases(train: pd.DataFrame, test: pd.DataFrame, min_shared: int = 1) -> dict[int, str]:
    """Test row positions (``test``'s index) that paraphrase a train row, in any language."""
    hits = paraphrases(row_signatures(test), row_signatures(train), min_shared)
    return {test.index[i]: "same_entry_and_inputs" for i in hits}
