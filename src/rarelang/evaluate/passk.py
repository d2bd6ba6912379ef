"""The unbiased pass@k estimator (Chen et al. 2021) and bootstrap confidence intervals."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples (drawn from n with c correct) passes:
    1 - C(n-c, k) / C(n, k), computed stably as in the paper's reference code."""
    if n < 1 or k < 1 or c < 0 or c > n:
        raise ValueError(f"need n >= 1, k >= 1, 0 <= c <= n (got n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(ns: Sequence[int], cs: Sequence[int], k: int) -> float:
    vals = [pass_at_k(n, c, k) for n, c in zip(ns, cs)]
    return float(np.mean(vals)) if vals else float("nan")


def bootstrap_ci(ns: Sequence[int], cs: Sequence[int], k: int, *, iters: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap over problems of the mean pass@k."""
    per = np.array([pass_at_k(n, c, k) for n, c in zip(ns, cs)])
    if len(per) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(per), size=(iters, len(per)))
    means = per[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)
