"""experiments/pool_pick.py: the best-scored member of random pools (numpy only, no compile)."""
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
from pool_pick import pool_picks  # noqa: E402


def test_a_perfect_score_picks_each_pool_best_and_a_reversed_one_its_worst():
    truth = np.arange(100.0)
    good = pool_picks(-truth, truth, pool=100, draws=5)          # lower score = better
    bad = pool_picks(truth, truth, pool=100, draws=5)
    assert good["percentile"] == pytest.approx(99.5) and good["truth"] == 99.0
    assert bad["percentile"] == pytest.approx(0.5) and bad["truth"] == 0.0


def test_a_tie_for_the_best_score_counts_as_its_members_mean():
    truth = np.arange(10.0)
    out = pool_picks(np.zeros(10), truth, pool=10, draws=3)       # every member tied
    assert out["truth"] == pytest.approx(4.5) and out["percentile"] == pytest.approx(50.0)


def test_a_pool_larger_than_the_sample_is_refused():
    with pytest.raises(ValueError, match="pool 11"):
        pool_picks(np.zeros(10), np.arange(10.0), pool=11, draws=3)
