"""experiments/naslib_agreement.py on a hand-made scores.csv over the bundled NASLib NB301 file:
a copy of NASLib's values agrees at +1, a negated one at -1, our names map to theirs (jacob_cov
-> jacov), and a genotype NASLib does not have is one line, exit 2."""
import csv
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import naslib_agreement as na  # noqa: E402


def _scores(tmp_path, keys, cols):
    path = tmp_path / "scores.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "truth"] + list(cols))
        for i, k in enumerate(keys):
            w.writerow([k, 90 + i] + [cols[c][i] for c in cols])
    return path


def test_copies_agree_and_names_map(tmp_path, capsys):
    naslib = na.load_naslib(na.DEFAULT)
    keys = list(naslib)[:8]
    cols = {"plain": [naslib[k]["plain"] for k in keys], "grasp": [-naslib[k]["grasp"] for k in keys],
            "jacob_cov": [naslib[k]["jacov"] for k in keys], "eproxy": list(range(8))}
    path = _scores(tmp_path, keys, cols)
    assert na.main([str(path), "--json", str(tmp_path / "r.json")]) == 0
    rows = {r["proxy"]: r for r in na.agreement(list(csv.DictReader(open(path))), naslib)}
    assert set(rows) == {"plain", "grasp", "jacob_cov"}   # eproxy: NASLib has no such column
    assert rows["plain"]["ours_vs_naslib"] == pytest.approx(1.0) and rows["jacob_cov"]["ours_vs_naslib"] == pytest.approx(1.0)
    assert rows["grasp"]["ours_vs_naslib"] == pytest.approx(-1.0)
    truth = np.arange(8) + 90
    from scipy import stats
    want = stats.spearmanr([naslib[k]["plain"] for k in keys], truth).statistic
    assert rows["plain"]["naslib_vs_truth"] == pytest.approx(want)
    assert "| plain | 8 | 1.000 |" in capsys.readouterr().out


def test_unknown_genotype_exits_with_one_line(tmp_path):
    keys = list(na.load_naslib(na.DEFAULT))[:3]
    path = _scores(tmp_path, keys[:2] + ["[[(0, 0)], [(0, 0)]]"], {"plain": [1.0, 2.0, 3.0]})
    with pytest.raises(SystemExit, match="not in the NASLib file"):
        na.main([str(path)])
    with pytest.raises(SystemExit) as e:
        na.main([str(tmp_path / "missing.csv")])
    assert e.value.code == 2


def test_reads_a_gzipped_scores_file(tmp_path, capsys):
    """The results folders ship `scores.csv.gz`: read as it is."""
    import gzip
    naslib = na.load_naslib(na.DEFAULT)
    keys = list(naslib)[:6]
    path = _scores(tmp_path, keys, {"plain": [naslib[k]["plain"] for k in keys]})
    gz = tmp_path / "scores.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert na.main([str(gz)]) == 0
    assert "| plain | 6 | 1.000 |" in capsys.readouterr().out
