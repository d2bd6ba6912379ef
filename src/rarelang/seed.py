"""The original work's published datasets (``../shared/seed-data``): reading them as sandbox jobs.

Their columns: ``task_id, {lang}_prompt, {lang}_code, {lang}_test[, first_test_case]``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .languages import canonical_language
from .params import repo_root
from .sandbox.outcome import Job

SEED_ENV = "RARELANG_SEED_DIR"


def seed_dir() -> Path:
    env = os.environ.get(SEED_ENV)
    return Path(env) if env else repo_root().parent / "shared" / "seed-data"


def read_seed(name: str, directory: Path | None = None) -> pd.DataFrame:
    """Read e.g. ``r_testset``; a clear error when the file or its columns are missing."""
    d = directory or seed_dir()
    path = d / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"seed dataset not found: {path} (set ${SEED_ENV} to the seed-data dir)")
    df = pd.read_parquet(path)
    lang = name.split("_", 1)[0]
    need = ["task_id", f"{lang}_code", f"{lang}_test"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    return df


def seed_jobs(lang: str, split: str = "testset", limit: int | None = None,
              directory: Path | None = None) -> list[Job]:
    """Reference solution + tests of a seed set as jobs (id = task_id)."""
    lang = canonical_language(lang)
    df = read_seed(f"{lang}_{split}", directory)
    if limit is not None:
        df = df.head(limit)
    return [Job(lang, str(r[f"{lang}_code"]), str(r[f"{lang}_test"]), id=str(r["task_id"]))
            for _, r in df.iterrows()]
