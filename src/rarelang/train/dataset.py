"""The GRPO training set: conversational prompts (rarelang.prompts) with the ``lang`` and ``tests``
columns the reward function needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..languages import canonical_language
from ..prompts import build_prompt, entry_signature
from ..schema import read_table

def training_frame(path: Path, languages: list[str], include_first_test: bool = False,
                   limit: int | None = None, seed: int = 0, signature: bool = True) -> pd.DataFrame:
    langs = [canonical_language(x) for x in languages]
    df = read_table(path, "processed")
    df = df[df["lang"].isin(langs)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"{path}: no rows for languages {langs}")
    if limit:
        df = df.sample(n=min(limit, len(df)), random_state=seed).reset_index(drop=True)
    eps = [entry_signature(r.solution, r.tests, r.lang) if signature else ("", "") for r in df.itertuples(index=False)]
    df["entry_point"] = [e[0] for e in eps]
    df["prompt"] = [[{"role": "user", "content": build_prompt(r.prompt, r.lang, r.tests, include_first_test, sig)}]
                    for r, (_, sig) in zip(df.itertuples(index=False), eps)]
    return df[["task_id", "lang", "prompt", "tests", "entry_point"]]


def to_dataset(df: pd.DataFrame) -> Any:
    from datasets import Dataset
    return Dataset.from_list(df.to_dict("records"))
