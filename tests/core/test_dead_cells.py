"""Dead cells (no route from the input to the output except through `none`): the structural
rule of experiments/dead_cells.py, the engine's numerical verdict (+inf with `dead_last`) on
the same cells, and the re-ranking report."""
import sys

import numpy as np
from scipy import stats

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import dead_cells  # noqa: E402


def test_structural_rule():
    # edge order (1,0) (2,0) (2,1) (3,0) (3,1) (3,2); 0 = none
    assert dead_cells.dead([3, 3, 3, 0, 0, 0])           # nothing enters node 3
    assert dead_cells.dead([0, 0, 3, 0, 3, 3])           # nodes 1, 2 are zero, 0 -> 3 is none
    assert dead_cells.dead([0, 3, 0, 0, 1, 0])           # node 2 is alive but 2 -> 3 is none
    assert not dead_cells.dead([0, 0, 0, 3, 0, 0])       # the direct edge
    assert not dead_cells.dead([1, 0, 0, 0, 2, 0])       # 0 -> 1 -> 3
    assert not dead_cells.dead([0, 4, 0, 0, 0, 1])       # 0 -> 2 -> 3


def test_engine_marks_exactly_the_dead_cells(tiny_space, tiny_setting, tiny_images):
    from eproxy_jax.engine import Engine
    rng = np.random.default_rng(3)
    encs = rng.integers(0, 5, (14, 6)).astype(np.int32)
    encs[rng.random(14) < 0.5, 3] = 0                     # more cells without the direct edge
    encs = np.concatenate([encs, [[3, 3, 3, 0, 0, 0], [0, 0, 3, 0, 3, 3], [2, 0, 0, 0, 0, 4],
                                  [0, 0, 0, 3, 0, 0]]]).astype(np.int32)
    want = np.array([dead_cells.dead(e) for e in encs])
    assert 3 <= want.sum() <= len(encs) - 3
    s = Engine(tiny_space, tiny_setting, [0], tiny_images, chunk=8).score(encs)[:, 0]
    np.testing.assert_array_equal(np.isposinf(s), want)
    assert np.isfinite(s[~want]).all()


def test_report_on_a_results_file():
    path = ROOT / "experiments/results/cpu_2026-11-29_rank_table/compare_nb201_cifar10/eproxy.csv"
    r = dead_cells.analyse(path)
    assert r["space"] == "nb201" and r["n"] == 100 and r["dead"] == 4 and r["scored_inf"] == 0
    from eproxy_jax.store import read_results
    from spaces import load_space
    _, _, cols, rows = read_results(path)
    sp = load_space("nb201")
    score = np.array([float(x[cols.index("score")]) for x in rows])
    truth = np.array([float(x[cols.index("truth")]) for x in rows])
    d = np.array([dead_cells.dead(sp.parse(x[cols.index("arch")])) for x in rows])
    moved = np.where(d, score.max() + 1.0, score)
    np.testing.assert_allclose(r["spearman"], stats.spearmanr(-score, truth).statistic)
    np.testing.assert_allclose(r["spearman_dead_last"], stats.spearmanr(-moved, truth).statistic)
    assert r["spearman_dead_last"] > r["spearman"]
    assert dead_cells.main([str(ROOT / "experiments/results/cpu_2026-11-29_nb301_500.csv.gz")]) == 2
