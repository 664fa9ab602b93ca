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
