"""Multiplicity over a family of paired differences whose cells share answers.

Every 0.5B run is paired with the same base answers, every 1.5B run with its own base's, and a suite's chat and
completion cells are over the same problems: the cells are not independent. ``joint_draws`` resamples problems once
per (suite, language) for every cell that holds them, so each draw keeps the correlations; from the same draws come

* a simultaneous max-T interval for every cell (single step: the (1 - alpha) quantile of the largest studentized
  deviation over the family; Romano & Wolf 2005; Westfall & Young 1993),
* a bootstrap p-value per cell (for Holm and Bonferroni, reported beside it),
* the pooled effect of several cells (the mean of their differences, with a percentile CI).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from typing import Sequence

import numpy as np
import pandas as pd


def joint_draws(per_problem: Sequence[pd.Series], universes: Sequence[tuple], draws: int, seed: int) -> np.ndarray:
    """Bootstrap means, shape (draws, cells): problems drawn with replacement once per universe (the cells of one
    universe share the draw; a cell that lacks some of the universe's problems averages over those it has).
    Each universe draws from its own seeded stream, so a cell's draws do not depend on other universes' cells."""
    out = np.full((draws, len(per_problem)), np.nan)
    members: dict[tuple, list[int]] = defaultdict(list)
    for i, u in enumerate(universes):
        members[tuple(u)].append(i)
    for u in sorted(members):
        tasks = sorted(set().union(*(per_problem[i].index for i in members[u])))
        pos = {t: j for j, t in enumerate(tasks)}
        n = len(tasks)
        rng = np.random.default_rng([seed, zlib.crc32("/".join(map(str, u)).encode())])
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(np.float64)
        for i in members[u]:
            d = per_problem[i]
            idx = np.fromiter((pos[t] for t in d.index), dtype=np.int64, count=len(d))
            w = counts[:, idx]
            tot = w.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[:, i] = (w @ d.to_numpy(dtype=np.float64)) / tot
    return out


def max_t(diffs: np.ndarray, boots: np.ndarray, alpha: float) -> dict[str, np.ndarray | float]:
    """Simultaneous intervals diff ± c·SE over the family (c: the (1 - alpha) quantile of max_i |T_i|, T_i the
    draw's deviation from the cell's difference over the cell's bootstrap SE), and each cell's two-sided bootstrap
    p-value for a difference of zero ((1 + #{|T*| >= |t|}) / (1 + draws), t = diff / SE)."""
    se = np.nanstd(boots, axis=0, ddof=1)
    safe = np.where(se > 0, se, np.inf)                      # a cell with no spread cannot be the maximum
    t = (boots - diffs[None, :]) / safe[None, :]
    c = float(np.quantile(np.nanmax(np.abs(t), axis=1), 1 - alpha))
    stat = np.abs(diffs / safe)
    p = (1 + (np.abs(t) >= stat[None, :]).sum(axis=0)) / (1 + boots.shape[0])
    return {"critical": c, "se": se, "low": diffs - c * se, "high": diffs + c * se, "p": p}


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def bonferroni(p: Sequence[float]) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.minimum(1.0, len(p) * p)


def pooled(diffs: np.ndarray, boots: np.ndarray, alpha: float) -> tuple[float, float, float]:
    """The equal-weight mean of several cells' differences and its percentile CI from the joint draws (which keep
    the cells' shared base answers)."""
    m = boots.mean(axis=1)
    lo, hi = np.quantile(m, [alpha / 2, 1 - alpha / 2])
    return float(diffs.mean()), float(lo), float(hi)
