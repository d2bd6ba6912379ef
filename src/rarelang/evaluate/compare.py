"""Paired comparison of two models on the same problems: the per-problem difference of pass@k,
with a percentile bootstrap over problems.

Both models answer the same problems, so the difference is estimated far more tightly from the
pairs than by comparing two independent confidence intervals. Reported with it: the bootstrap tail
fraction (the share of bootstrap means ≤ 0, not a p-value) and an exact two-sided sign test on the
problems that got better vs worse (ties dropped).
"""

from __future__ import annotations

from typing import Any

import math
import zlib

import numpy as np
import pandas as pd

from ..prompts import asked_language
from .passk import pass_at_k

KEYS = ["suite", "setting", "lang", "task_id"]


def sign_test(better: int, worse: int) -> float:
    """Exact two-sided sign test: P(a split at least this uneven | no difference), ties dropped."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(better, worse) + 1)) / 2 ** n
    return float(min(1.0, 2 * tail))


def with_protocol_suite(df: pd.DataFrame) -> pd.DataFrame:
    """Name a MultiPL-E suite scored under the completion protocol ``<suite>+completion`` (as in
    metrics.json), so the two protocols are never pooled."""
    if "protocol" not in df.columns:
        return df
    comp = (df["protocol"] == "completion") & (df["suite"] != "heldout")
    if not comp.any():
        return df
    df = df.copy()
    df.loc[comp, "suite"] = df.loc[comp, "suite"] + "+completion"
    return df


def suite_name(suite: str) -> str:
    """A suite without its language and protocol: 'humaneval-r+completion' → 'humaneval', 'heldout' → 'heldout'."""
    return suite.split("+")[0].split("-")[0]


def cell_parts(key: str) -> tuple[str, str, str]:
    """A paired_difference key's cell: '[<model>-vs-<base>/]humaneval-r+completion/t0.2/r' → ('humaneval',
    'completion', 'r')."""
    suite, _setting, lang = key.split("/")[-3:]
    return suite_name(suite), "completion" if suite.endswith("+completion") else "chat", lang


def asked_elsewhere(df: pd.DataFrame) -> pd.Series:
    """Rows whose prompt asks for another language than the row's problem is in (``prompts.asked_language``):
    evaluations before 2026-11-25 showed held-out Julia problems that share a task id with a sampled R problem
    the R prompt. Such an answer does not test the model on its problem."""
    if "prompt" not in df or df.empty:
        return pd.Series(False, index=df.index)
    asked = df["prompt"].map(asked_language)
    return asked.notna() & (asked != df["lang"])


def per_problem(df: pd.DataFrame, k: int) -> pd.Series:
    """pass@k of every (suite, setting, lang, task_id) in a completions frame."""
    g = with_protocol_suite(df).groupby(KEYS)["passed"].agg(["size", "sum"])
    return pd.Series([pass_at_k(int(n), int(c), k) if k <= n else np.nan for n, c in zip(g["size"], g["sum"])],
                     index=g.index, dtype=float)


def paired_problems(base: pd.DataFrame, other: pd.DataFrame, k: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    """The per-problem pass@k of both models on every problem both answered (columns ``base``, ``other``;
    index ``KEYS``), and per (suite, setting, lang) how many problems were left out because a side's
    prompt asked for another language (``asked_elsewhere``)."""
    wb, wo = asked_elsewhere(base), asked_elsewhere(other)
    wrong = pd.concat([with_protocol_suite(base[wb]), with_protocol_suite(other[wo])])
    wrong = wrong.groupby(["suite", "setting", "lang"])["task_id"].nunique() if len(wrong) else pd.Series(dtype=int)
    a, b = per_problem(base[~wb], k), per_problem(other[~wo], k)
    return pd.concat({"base": a, "other": b}, axis=1, join="inner").dropna(), wrong


def paired_difference(base: pd.DataFrame, other: pd.DataFrame, *, k: int = 1, iters: int = 2000,
                      alpha: float = 0.05, seed: int = 0) -> dict[str, dict[str, Any]]:
    """For every (suite, setting, lang) both frames cover: mean pass@k of each model on the
    problems both answered, their difference (other - base) with a bootstrap CI over problems,
    and how many problems got better / worse."""
    both, wrong = paired_problems(base, other, k)
    out: dict[str, dict[str, Any]] = {}
    for (suite, setting, lang), g in both.groupby(level=["suite", "setting", "lang"]):
        # each cell draws from its own seeded stream, so its CI does not depend on which other cells the
        # frames hold (one stream for all made a cell's CI move when another suite was added or left out)
        rng = np.random.default_rng([seed, zlib.crc32(f"{suite}/{setting}/{lang}".encode())])
        d = (g["other"] - g["base"]).to_numpy()
        idx = rng.integers(0, len(d), size=(iters, len(d)))
        boots = d[idx].mean(axis=1)
        lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
        out[f"{suite}/{setting}/{lang}"] = {
            "problems": int(len(d)), "k": k,
            f"base_pass@{k}": float(g["base"].mean()), f"other_pass@{k}": float(g["other"].mean()),
            "difference": float(d.mean()), "difference_ci95": [float(lo), float(hi)],
            "bootstrap_tail_le_0": float((boots <= 0).mean()),
            "better": int((d > 0).sum()), "worse": int((d < 0).sum()), "same": int((d == 0).sum()),
            "sign_test_p": sign_test(int((d > 0).sum()), int((d < 0).sum()))}
        if wrong.get((suite, setting, lang), 0):
            out[f"{suite}/{setting}/{lang}"]["left_out_asked_in_another_language"] = int(wrong[(suite, setting, lang)])
    return out


def describe(d: dict[str, Any]) -> str:
    """One line for a paired_difference entry (the stage scripts print it)."""
    k = d.get("k", 1)
    lo, hi = d["difference_ci95"]
    return (f"pass@{k} {d[f'base_pass@{k}']:.3f} → {d[f'other_pass@{k}']:.3f}, difference {d['difference']:+.3f} "
            f"[{lo:+.3f}, {hi:+.3f}], {d['better']} better / {d['worse']} worse of {d['problems']}"
            + (f" (sign test p = {d['sign_test_p']:.3g})" if "sign_test_p" in d else ""))


def paired_report(completions: pd.DataFrame, *, base: str = "base", iters: int = 2000,
                  seed: int = 0) -> dict[str, dict[str, Any]]:
    """Every other model of a completions frame against ``base``, for every k = 1 the samples allow:
    keys ``<model>-vs-<base>/<suite>/<setting>/<lang>``. Empty when ``base`` is missing."""
    if completions.empty or base not in set(completions["model"]):
        return {}
    ref = completions[completions["model"] == base]
    out: dict[str, dict[str, Any]] = {}
    for name, g in completions[completions["model"] != base].groupby("model", sort=False):
        for key, v in paired_difference(ref, g, k=1, iters=iters, seed=seed).items():
            out[f"{name}-vs-{base}/{key}"] = v
    return out
