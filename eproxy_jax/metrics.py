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


# --- top-end metrics ---------------------------------------------------------------------
# Percentile of a truth value v within a truth table T (higher = better):
#     pct(v, T) = 100 * (#{t in T : t < v} + 0.5 * #{t in T : t == v}) / |T|
# (mid-rank: the best of N distinct values is 100 - 50/N, the worst 50/N, the median 50).
# Score ties: architectures whose goodness is equal (identical scores; non-finite scores all
# tie, last) form a tie group; a rank position inside a group is worth the group's mean
# percentile (the expected value when ties are broken at random).

def percentile(values, reference) -> np.ndarray:
    """pct(v, reference) of each v in `values` (see above), in [0, 100]."""
    ref = np.sort(np.asarray(reference, np.float64))
    v = np.asarray(values, np.float64)
    below = np.searchsorted(ref, v, side="left")
    equal = np.searchsorted(ref, v, side="right") - below
    return 100.0 * (below + 0.5 * equal) / len(ref)


def _position_values(scores, truth, reference):
    """The truth percentile of each rank position, best-scored first; each position inside a
    score tie group holds the group's mean percentile."""
    g = goodness(scores)
    pct = percentile(truth, truth if reference is None else reference)
    order = np.argsort(-g, kind="stable")
    _, group, count = np.unique(-g[order], return_inverse=True, return_counts=True)
    mean = np.bincount(group, weights=pct[order]) / count
    return mean[group]


def top_percentile(scores, truth, k: int = 1, reference=None) -> float:
    """Mean truth percentile (within `reference`, default the scored set) of the `k`
    best-scored architectures (all of them where fewer), score ties as above."""
    if len(truth) == 0:
        return float("nan")
    return float(np.mean(_position_values(scores, truth, reference)[:k]))


def spearman_top(scores, truth, frac: float = 0.1) -> float:
    """Spearman rho within the truly best `frac` of the scored architectures: those whose
    truth is at least the k-th best, k = max(1, round(n * frac)) (truth ties at the boundary
    are all kept). NaN where fewer than two or either side is constant."""
    t = np.asarray(truth, np.float64)
    if len(t) == 0:
        return float("nan")
    k = max(1, int(round(len(t) * frac)))
    keep = t >= np.sort(t)[::-1][k - 1]
    return spearman(np.asarray(scores, np.float64)[keep], t[keep])


def report(scores, truth, reference=None) -> dict:
    """Every rank metric of one set of scores (a loss: lower = better) against the truth
    (higher = better); `reference` is the whole truth table the percentiles are read in
    (default: `truth`). Floats, NaN where undefined."""
    return {"spearman": spearman(scores, truth), "kendall": kendall(scores, truth),
            "top10_precision": top_k_precision(scores, truth),
            "top1_percentile": top_percentile(scores, truth, 1, reference),
            "top10_percentile": top_percentile(scores, truth, 10, reference),
            "spearman_top10pct": spearman_top(scores, truth)}


TOP_KEYS = ("top1_percentile", "top10_percentile", "spearman_top10pct")
