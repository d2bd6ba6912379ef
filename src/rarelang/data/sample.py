"""Stage 1: a seeded sample of Python problems (AceCode-87K schema: id, source, question, test_cases).

Sources: ``acecode`` (the hub dataset through ``datasets``), ``local`` (a parquet/jsonl file with
the same columns, for offline machines), ``embedded`` (the small set shipped in data/embedded/),
and ``seed`` (the original work's finished Julia/R sets, carried through translate unchanged).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..languages import canonical_language
from ..params import default
from ..schema import PROBLEMS, frame_from_records
from ..seed import read_seed

_ENTRY = re.compile(r"^\s*assert\s+(?:not\s+)?\(?\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def entry_point(test_cases: list[str]) -> str:
    """AceCoder's rule: the name between ``assert `` and the first ``(`` of the first test."""
    for t in test_cases:
        m = _ENTRY.match(t)
        if m:
            return m.group(1)
    return ""


def _read_any(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"problem file not found: {path}")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".jsonl", ".json"):
        with open(path, encoding="utf-8") as f:
            return pd.DataFrame([json.loads(line) for line in f if line.strip()])
    raise ValueError(f"{path}: expected .parquet or .jsonl")


def load_acecode(dataset: str, split: str = "train") -> pd.DataFrame:
    """AceCode-87K from the hub (needs network and the `datasets` package)."""
    try:
        from datasets import load_dataset
    except ImportError as e:  # pragma: no cover
        raise RuntimeError("sample.source=acecode needs the `datasets` package") from e
    ds = load_dataset(dataset, split=split, columns=["id", "source", "question", "test_cases"])
    return ds.to_pandas()


def normalize_acecode(df: pd.DataFrame, where: str, min_tests: int = 1, max_tests: int | None = None) -> pd.DataFrame:
    missing = [c for c in ("id", "question", "test_cases") if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing} (AceCode schema: id, source, question, "
                         f"test_cases); has {list(df.columns)}")
    if df.empty:
        raise ValueError(f"{where}: no problems")
    records = []
    for r in df.itertuples(index=False):
        tests = [str(t) for t in (list(r.test_cases) if r.test_cases is not None else []) if str(t).strip()]
        if len(tests) < min_tests:
            continue
        if max_tests:
            tests = tests[:max_tests]
        records.append({"task_id": str(r.id), "source": str(getattr(r, "source", "") or "unknown"),
                        "question": str(r.question), "test_cases": tests, "entry_point": entry_point(tests)})
    return frame_from_records(records, PROBLEMS)


def sample_problems(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """A seeded sample of ``n`` rows (all rows, shuffled, when n is None or ≥ len)."""
    df = df.sort_values("task_id", kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    if n is not None:
        order = order[: int(n)]
    return df.iloc[np.sort(order)].reset_index(drop=True)


def seed_problems(seed_dir: Path, sets: dict[str, list[str]]) -> pd.DataFrame:
    """The original work's published sets as finished per-language rows."""
    records = []
    for lang, names in sets.items():
        lang = canonical_language(lang)
        for name in names:
            df = read_seed(name, seed_dir)
            prompt_col = f"{name.split('_', 1)[0]}_prompt"
            for r in df.itertuples(index=False):
                d = r._asdict()
                records.append({
                    "task_id": str(d["task_id"]), "source": f"seed:{name}",
                    "question": str(d.get(prompt_col) or ""), "test_cases": [], "entry_point": "",
                    "seed_lang": lang, "seed_prompt": str(d.get(prompt_col) or ""),
                    "seed_solution": str(d[f"{name.split('_', 1)[0]}_code"]),
                    "seed_tests": str(d[f"{name.split('_', 1)[0]}_test"]),
                })
    if not records:
        raise ValueError("seed import: no rows (check seed.sets in params.yaml)")
    return frame_from_records(records, PROBLEMS)


def run_sample(params: dict[str, Any], repo: Path) -> pd.DataFrame:
    data = params.get("data") or {}
    sp = params.get("sample") or {}
    source = data.get("source", "embedded")
    seed = int(sp.get("seed", default("sample.seed", 0)))
    n = sp.get("n")
    if source == "prior_work":
        sd = params.get("prior_work") or {}
        seed_dir = Path(sd.get("dir", "../shared/seed-data"))
        seed_dir = seed_dir if seed_dir.is_absolute() else repo / seed_dir
        df = seed_problems(seed_dir, sd.get("sets") or {})
        # one sample per language keeps every language's share
        parts = [sample_problems(g, n, seed) for _, g in df.groupby("seed_lang", sort=True)]
        return pd.concat(parts, ignore_index=True)
    min_tests, max_tests = int(sp.get("min_tests", default("sample.min_tests", 1))), sp.get("max_tests")
    if source == "acecode":
        raw, where = load_acecode(sp.get("acecode_dataset", "TIGER-Lab/AceCode-87K")), "AceCode-87K"
    elif source in ("local", "embedded"):
        key = "local_path" if source == "local" else "embedded_path"
        if not sp.get(key):
            raise ValueError(f"data.source={source} needs sample.{key} in params.yaml")
        path = Path(sp[key])
        path = path if path.is_absolute() else repo / path
        raw, where = _read_any(path), str(path)
    else:
        raise ValueError(f"data.source must be embedded, acecode, local or seed, not {source!r}")
    problems = normalize_acecode(raw, where, min_tests, max_tests)
    if problems.empty:
        raise ValueError(f"{where}: no problem has at least {min_tests} tests")
    return sample_problems(problems, n, seed)
