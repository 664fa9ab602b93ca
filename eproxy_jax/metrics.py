"""Rank metrics of proxy scores against ground truth (numpy/scipy only).

Eproxy scores are losses (lower = better), so rankings use `-score`. A non-finite score
(diverged training) ranks last, below every finite one.
"""
from __future__ import annotations

import numpy as np
from scipy import stats


def goodness(scores) -> np.ndarray:
    """-score with NaN/Inf mapped to -inf (the worst), higher = better."""
    s = np.asarray(scores, np.float64)
    return np.where(np.isfinite(s), -s, -np.inf)


def _finite_rank_input(g):
    # scipy's correlations reject inf; put diverged below the finite minimum, tied
    g = np.asarray(g, np.float64)
    finite = np.isfinite(g)
    if finite.all():
        return g
    low = (g[finite].min() - 1.0) if finite.any() else 0.0
    return np.where(finite, g, low)


def _defined(g, truth) -> bool:
    """A rank correlation needs two points and neither side constant."""
    return len(truth) >= 2 and np.ptp(g) > 0 and np.ptp(np.asarray(truth, np.float64)) > 0


def spearman(scores, truth) -> float:
    g = _finite_rank_input(goodness(scores))
    return float(stats.spearmanr(g, truth).statistic) if _defined(g, truth) else float("nan")


def kendall(scores, truth) -> float:
    g = _finite_rank_input(goodness(scores))
    return float(stats.kendalltau(g, truth).statistic) if _defined(g, truth) else float("nan")


def top_k_precision(scores, truth, frac: float = 0.1) -> float:
    """Fraction of the proxy's top `frac` that is in the truth's top `frac`."""
    n = len(truth)
    k = max(1, int(round(n * frac)))
    pred = set(np.argsort(-_finite_rank_input(goodness(scores)), kind="stable")[:k])
    true = set(np.argsort(-np.asarray(truth), kind="stable")[:k])
    return len(pred & true) / k
