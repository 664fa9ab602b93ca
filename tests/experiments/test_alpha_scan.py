"""experiments/alpha_scan.py on a bundled results file: each alpha row equals an independent
computation (the engine's MACs weighting, scipy's Spearman, a brute-force percentile), and the
two halves of a split are disjoint and cover the file."""
import csv
import json
import sys

import numpy as np
from scipy import stats

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import alpha_scan  # noqa: E402

RESULTS = ROOT / "experiments/results/cpu_2026-11-29_rank_table/compare_nb201_cifar10/eproxy.csv"


def _rows():
    from spaces import load_space
    rows = list(csv.DictReader(ln for ln in RESULTS.read_text().splitlines() if not ln.startswith("#")))
    sp = load_space("nb201")
    score = np.array([float(r["score"]) for r in rows])
    truth = np.array([float(r["truth"]) for r in rows])
    macs = sp.macs(np.stack([sp.parse(r["arch"]) for r in rows])) / sp.max_macs
    return sp, score, truth, macs


def test_alpha_rows_match_an_independent_computation(capsys):
    sp, score, truth, macs = _rows()
    table = np.asarray(sp.load_truth("cifar10")[1])
    assert alpha_scan.main([str(RESULTS), "--alphas", "0,0.3", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for a in (0.0, 0.3):
        s = score * (1 - a * macs)
        s_rank = np.where(np.isfinite(s), s, np.inf)
        r = rows[f"alpha {a:g}"]
        assert r["n"] == 100
        ok = np.isfinite(s)
        # non-finite (dead) cells rank last: compare on the finite ones only when all are finite
        if ok.all():
            np.testing.assert_allclose(r["spearman"], stats.spearmanr(-s, truth).statistic)
        best = truth[np.argmin(s_rank)]
        expect = 100 * ((table < best).sum() + 0.5 * (table == best).sum()) / len(table)
        np.testing.assert_allclose(r["top1_percentile"], expect)
        assert r["top1_truth"] == best
    # params on the same cells: more parameters rank higher
    pc = sp.param_count(np.stack([sp.parse(r["arch"]) for r in csv.DictReader(
        ln for ln in RESULTS.read_text().splitlines() if not ln.startswith("#"))]))
    np.testing.assert_allclose(rows["params"]["spearman"], stats.spearmanr(pc, truth).statistic)
    # and the MACs of the network as scored, in every space
    np.testing.assert_allclose(rows["macs"]["spearman"], stats.spearmanr(macs, truth).statistic)


def test_halves_are_disjoint_and_cover():
    _, keep0 = alpha_scan.load([RESULTS], 0, 3)
    _, keep1 = alpha_scan.load([RESULTS], 1, 3)
    assert len(keep0) == len(keep1) == 50
    assert not set(keep0) & set(keep1) and len(set(keep0) | set(keep1)) == 100


def test_exclude_leaves_out_the_architectures_of_another_file(tmp_path):
    lines = RESULTS.read_text().splitlines()
    head = [ln for ln in lines if ln.startswith("#")] + [next(ln for ln in lines if not ln.startswith("#"))]
    body = [ln for ln in lines if not ln.startswith("#")][1:]
    other = tmp_path / "other.csv"          # a results file holding 7 of the 100 architectures
    other.write_text("\n".join(head + body[10:17]) + "\n")
    tabs, keep = alpha_scan.load([RESULTS], None, 0, [other])
    assert len(keep) == 93 and not set(range(10, 17)) & set(keep.tolist())
    _, half = alpha_scan.load([RESULTS], 0, 3, [other])     # with --half: the half minus those
    _, half_all = alpha_scan.load([RESULTS], 0, 3)
    assert set(half.tolist()) == set(half_all.tolist()) - set(range(10, 17))
