"""Rank metrics: -score against truth, diverged (NaN/Inf) scores ranked last."""
import math

import numpy as np
from scipy import stats

from eproxy_jax import metrics


def test_lower_score_is_better():
    scores = [0.1, 0.2, 0.3, 0.4]
    truth = [90.0, 80.0, 70.0, 60.0]
    assert metrics.spearman(scores, truth) == 1.0
    assert metrics.kendall(scores, truth) == 1.0
    assert metrics.spearman(scores[::-1], truth) == -1.0


def test_diverged_rank_last():
    scores = [0.1, float("nan"), 0.3, float("inf"), 0.2]
    truth = [90.0, 10.0, 70.0, 11.0, 80.0]
    # the two diverged ones tie below every finite score; here that is exactly right
    want = stats.spearmanr([-0.1, -9, -0.3, -9, -0.2], truth).statistic
    assert math.isclose(metrics.spearman(scores, truth), want)
    assert metrics.spearman(scores, truth) > 0.9
    g = metrics.goodness(scores)
    assert g[1] == g[3] == -np.inf and g[0] == -0.1


def test_top_k_precision_and_degenerate_inputs():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=100)
    assert metrics.top_k_precision(-truth, truth, 0.1) == 1.0
    assert metrics.top_k_precision(truth, truth, 0.1) == 0.0
    assert math.isnan(metrics.spearman([1.0], [2.0]))
    assert math.isnan(metrics.spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # constant scores: undefined


# --- top-end metrics: hand-made tables with known answers ---------------------------------

def test_percentile_mid_rank_with_ties():
    ref = [1.0, 1.0, 2.0, 3.0]
    # 1: nothing below, two equal -> 100 * 1 / 4; 2: two below, one equal; 3: three below, one equal
    assert metrics.percentile([1.0, 2.0, 3.0], ref).tolist() == [25.0, 62.5, 87.5]
    assert metrics.percentile([0.0, 9.0], ref).tolist() == [0.0, 100.0]   # outside the table


def test_top1_percentile_direction_and_reference():
    truth = [10.0, 20.0, 30.0, 40.0]
    loss = [0.4, 0.3, 0.2, 0.1]   # lower = better: the truly best is scored best
    assert metrics.top_percentile(loss, truth, 1) == 87.5         # 100 * (3 + 0.5) / 4
    assert metrics.top_percentile(loss[::-1], truth, 1) == 12.5   # a sign error lands here
    assert metrics.top_percentile(loss, truth, 10) == 50.0        # fewer than 10: all of them
    # within a larger table: 40 has three entries below and one equal among five
    assert metrics.top_percentile([0.1], [40.0], 1, reference=[10, 20, 30, 40, 50]) == 70.0


def test_top10_percentile_counts_exactly_ten():
    truth = np.arange(12.0)
    got = metrics.top_percentile(-truth, truth, 10)
    # the ten best are 2..11, percentile 100 * (t + 0.5) / 12: mean t 6.5 -> 100 * 7 / 12
    assert math.isclose(got, 700 / 12)
    assert not math.isclose(got, 100 * 6.5 / 12) and not math.isclose(got, 100 * 7.5 / 12)   # 11 / 9 archs


def test_top_percentile_score_ties_and_non_finite_last():
    truth = [10.0, 30.0, 20.0, 40.0, 50.0]   # percentiles 10, 50, 30, 70, 90
    loss = [0.1, 0.1, 0.5, float("nan"), float("inf")]
    # best-scored: the tie {0, 1}, mean percentile (10 + 50) / 2; the diverged two rank last
    assert metrics.top_percentile(loss, truth, 1) == 30.0
    # positions: tie (30, 30), then 30 (truth 20), then the non-finite tie (70 + 90) / 2 twice
    assert metrics.top_percentile(loss, truth, 3) == 30.0
    assert metrics.top_percentile(loss, truth, 4) == 42.5   # (30 + 30 + 30 + 80) / 4
    r = metrics.report(loss, truth)
    assert r["top1_percentile"] == 30.0 and r["top10_percentile"] == np.mean([30, 30, 30, 80, 80])


def test_spearman_top10pct_within_the_truly_best():
    truth = np.arange(20.0)          # the best 10 % is {18, 19}
    loss = truth.copy()              # globally reversed ...
    loss[19], loss[18], loss[17] = 0.0, 0.1, -1.0   # ... but 19 scored above 18; 17 scored best
    assert metrics.spearman(loss, truth) < 0
    assert math.isclose(metrics.spearman_top(loss, truth), 1.0)   # on {18, 19} only
    loss[19], loss[18] = 0.1, 0.0
    assert math.isclose(metrics.spearman_top(loss, truth), -1.0)
    # truth ties at the boundary are all kept: k = 1 of 10, but three share the best value
    t = np.array([5.0, 5.0, 5.0, 1, 1, 1, 1, 1, 1, 1])
    assert math.isnan(metrics.spearman_top(np.arange(10.0), t))   # the three 5s: constant truth
    t[2] = 4.9                       # k = 1 keeps the two 5s, tied in truth: still undefined
    assert math.isnan(metrics.spearman_top([0.1, 0.2, 0.0] + [1.0] * 7, t))
    t = np.array([9.0, 8.0] + [0.0] * 18)   # k = 2: {9, 8}
    assert math.isclose(metrics.spearman_top([0.2, 0.1] + [0.0] * 18, t), -1.0)
