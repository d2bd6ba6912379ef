"""Every dataset of the pipeline, in one place: columns, types, and a validating reader.

Records flow one way: problems (sample) → translations (translate) → outcomes/validated
(validate) → train/test (split). ``read_table(path, "translations")`` checks the columns and
values before a stage uses them, so a wrong file fails early with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pandas as pd
import pyarrow as pa

from .languages import LANGUAGES


@dataclass(frozen=True)
class TableSchema:
    name: str
    schema: pa.Schema
    lang_column: str | None = None       # values must be known languages
    non_empty: tuple[str, ...] = ()      # string columns that must not be empty

    @property
    def columns(self) -> list[str]:
        return self.schema.names


def _s(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in fields])


PROBLEMS = TableSchema("problems", _s(
    ("task_id", pa.string()), ("source", pa.string()), ("question", pa.string()),
    ("test_cases", pa.list_(pa.string())), ("entry_point", pa.string()),
    # the seed import carries finished per-language rows through the translate stage
    ("seed_lang", pa.string()), ("seed_prompt", pa.string()), ("seed_solution", pa.string()),
    ("seed_tests", pa.string()),
), non_empty=("task_id",))

TRANSLATIONS = TableSchema("translations", _s(
    ("task_id", pa.string()), ("lang", pa.string()), ("prompt", pa.string()), ("solution", pa.string()),
    ("tests", pa.string()), ("source", pa.string()), ("teacher", pa.string()), ("cache_key", pa.string()),
    ("prompt_origin", pa.string()),     # teacher | question (teacher gave none) | seed
), lang_column="lang", non_empty=("task_id", "prompt", "solution", "tests"))

REJECTS = TableSchema("rejects", _s(
    ("task_id", pa.string()), ("lang", pa.string()), ("reason", pa.string()), ("response", pa.string()),
    ("cache_key", pa.string()),
), lang_column="lang")

OUTCOMES = TableSchema("outcomes", _s(
    ("task_id", pa.string()), ("lang", pa.string()), ("status", pa.string()), ("tests_passed", pa.int64()),
    ("tests_total", pa.int64()), ("reward", pa.float64()), ("duration_s", pa.float64()),
    ("message", pa.string()),
), lang_column="lang")

PROCESSED = TableSchema("processed", _s(
    ("task_id", pa.string()), ("lang", pa.string()), ("prompt", pa.string()), ("solution", pa.string()),
    ("tests", pa.string()), ("source", pa.string()),
), lang_column="lang", non_empty=("task_id", "prompt", "solution", "tests"))

SCHEMAS = {s.name: s for s in (PROBLEMS, TRANSLATIONS, REJECTS, OUTCOMES, PROCESSED)}


class SchemaError(ValueError):
    pass


def _schema(name: str | TableSchema) -> TableSchema:
    if isinstance(name, TableSchema):
        return name
    if name not in SCHEMAS:
        raise KeyError(f"unknown table schema {name!r}; known: {sorted(SCHEMAS)}")
    return SCHEMAS[name]


def check_frame(df: pd.DataFrame, name: str | TableSchema, *, where: str = "", allow_empty: bool = False) -> pd.DataFrame:
    """Validate columns and values; returns the frame with exactly the schema's columns, in order."""
    ts = _schema(name)
    label = f"{where}: " if where else ""
    missing = [c for c in ts.columns if c not in df.columns]
    if missing:
        raise SchemaError(f"{label}{ts.name} table is missing column(s) {missing}; has {list(df.columns)}")
    if df.empty and not allow_empty:
        raise SchemaError(f"{label}{ts.name} table is empty")
    if ts.lang_column and not df.empty:
        bad = sorted(set(df[ts.lang_column].dropna()) - set(LANGUAGES))
        if bad:
            raise SchemaError(f"{label}unknown language(s) {bad} in column '{ts.lang_column}'; "
                              f"supported: {sorted(LANGUAGES)}")
    for col in ts.non_empty:
        blank = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if blank.any():
            raise SchemaError(f"{label}{int(blank.sum())} row(s) with empty '{col}' in {ts.name} table")
    return df[ts.columns].reset_index(drop=True)


def empty_frame(name: str | TableSchema) -> pd.DataFrame:
    return _schema(name).schema.empty_table().to_pandas()


def frame_from_records(records: Iterable[dict], name: str | TableSchema) -> pd.DataFrame:
    ts = _schema(name)
    rows = [{c: r.get(c) for c in ts.columns} for r in records]
    if not rows:
        return empty_frame(ts)
    return pa.Table.from_pylist(rows, schema=ts.schema).to_pandas()


def write_table(df: pd.DataFrame, path: str | Path, name: str | TableSchema, *, allow_empty: bool = True) -> Path:
    ts = _schema(name)
    df = check_frame(df, ts, where=str(path), allow_empty=allow_empty)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, schema=ts.schema, preserve_index=False)
    tmp = path.with_suffix(path.suffix + ".tmp")
    import pyarrow.parquet as pq
    pq.write_table(table, tmp)
    tmp.replace(path)
    return path


def read_table(path: str | Path, name: str | TableSchema, *, allow_empty: bool = False) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (run the stage that makes it: `dvc repro`)")
    return check_frame(pd.read_parquet(path), name, where=str(path), allow_empty=allow_empty)
