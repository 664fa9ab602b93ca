"""experiments/score_vs_macs.py on a bundled results file: the figures equal an independent
scipy computation; a missing file is one line and exit 2."""
import csv
import sys

import numpy as np
from scipy import stats

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import score_vs_macs  # noqa: E402

RESULTS = ROOT / "experiments/results/cpu_2026-11-29_rank_table/compare_nb201_cifar10/eproxy.csv"


def test_matches_scipy_on_a_results_file(capsys):
    from spaces import load_space
    rows = list(csv.DictReader(ln for ln in RESULTS.read_text().splitlines() if not ln.startswith("#")))
    sp = load_space("nb201")
    score = np.array([float(r["score"]) for r in rows])
    truth = np.array([float(r["truth"]) for r in rows])
    macs = sp.macs(np.stack([sp.parse(r["arch"]) for r in rows]))
    r = score_vs_macs.analyse(RESULTS)
    assert r["space"] == "nb201" and r["n"] == len(rows) == 100
    np.testing.assert_allclose(r["score_vs_macs_spearman"], stats.spearmanr(-score, macs).statistic)
    np.testing.assert_allclose(r["spearman"], stats.spearmanr(-score, truth).statistic)
    np.testing.assert_allclose(r["macs_spearman"], stats.spearmanr(macs, truth).statistic)
    assert score_vs_macs.main([str(RESULTS)]) == 0
    assert f"Spearman(-score, MACs) {r['score_vs_macs_spearman']:.3f}" in capsys.readouterr().out


def test_missing_file_exits_2(tmp_path, capsys):
    assert score_vs_macs.main([str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "file not found" in err[0]
