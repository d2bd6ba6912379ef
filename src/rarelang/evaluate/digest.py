"""A fingerprint of an evaluation's answers that two machines agree on when they gave the same answers.

results/eval/completions.parquet carries each program's wall-clock time (``duration_s``), so its md5 (what dvc.lock
records) differs on every run, even on one machine. The digest leaves the timings out and the row order aside: the
same models, prompts, completions, programs, statuses and messages give the same digest. It is written per
(model, suite) as well, so a difference says where it lies.
"""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd

# what differs between two runs of the same answers: how long each program took
TIMINGS = ("duration_s",)
KEY = ("model", "suite", "protocol", "setting", "task_id", "sample")


def _plain(v):
    """A cell as JSON sees it, the same whatever pandas/numpy type it came as (NaN as null)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _sha(rows: list[dict]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def answers_digest(answers: pd.DataFrame) -> dict:
    """``{"rows", "columns", "sha256", "groups": {"MODEL/SUITE": {"rows", "sha256"}}}`` of an answers table."""
    missing = [k for k in KEY if k not in answers.columns]
    if missing:
        raise ValueError(f"not an answers table (results/eval/completions.parquet): no column {', '.join(missing)}")
    cols = sorted(c for c in answers.columns if c not in TIMINGS)
    # by the key, then by everything else: rows that share a key (none should) come out in one order too
    table = answers[cols].sort_values([*KEY, *(c for c in cols if c not in KEY)], kind="mergesort")
    rows = [{c: _plain(v) for c, v in zip(cols, t)} for t in table.itertuples(index=False, name=None)]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['model']}/{r['suite']}", []).append(r)
    return {"rows": len(rows), "columns": cols, "ignored": list(TIMINGS), "sha256": _sha(rows),
            "groups": {g: {"rows": len(rs), "sha256": _sha(rs)} for g, rs in sorted(groups.items())}}


def differences(a: dict, b: dict) -> list[str]:
    """Where two digests disagree, in words (empty when the answers are the same)."""
    if a["sha256"] == b["sha256"]:
        return []
    out = [f"columns differ: {a['columns']} vs {b['columns']}"] if a["columns"] != b["columns"] else []
    for g in sorted(set(a["groups"]) | set(b["groups"])):
        x, y = a["groups"].get(g), b["groups"].get(g)
        if x is None or y is None:
            out.append(f"{g}: only in the {'second' if x is None else 'first'}")
        elif x != y:
            out.append(f"{g}: different answers ({x['rows']} vs {y['rows']} rows)")
    return out or ["different answers"]
