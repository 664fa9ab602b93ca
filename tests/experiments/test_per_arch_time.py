"""experiments/per_arch_time.py without compiling: the analytic work, the summary against the
authors' median and mean, the table, and the argument checks (its runs are benchmarks)."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import per_arch_time as pat  # noqa: E402


def test_train_gflop_counts_ten_forwards_and_nine_pairs_of_gradients():
    assert pat.train_gflop(1e9, 16) == pytest.approx(2 * 16 * 28)      # 1 GMAC per image: 896 GFLOP
    assert pat.train_gflop(1e9, 1, steps=1) == pytest.approx(2.0)       # one forward only


def test_summary_median_and_mean_against_the_authors():
    rows = [{"bucket": b, "gflop": g, "ms": ms} for b, g, ms in ((1, 400.0, 20000.0), (2, 100.0, 4000.0),
                                                                 (2, 100.0, 5000.0), (3, 50.0, 3000.0))]
    s = pat.summary("nb101", rows, peak=200.0)
    assert (s["median_ms"], s["mean_ms"]) == (4500.0, 8000.0)
    assert (s["reference_median_ms"], s["ratio_median"]) == (5100.0, round(4500 / 5100, 2))
    assert (s["reference_mean_ms"], s["ratio_mean"]) == (6019.0, round(8000 / 6019, 2))
    assert s["roofline_mean_ms"] == pytest.approx(1000 * 650 / 200 / 4)     # the work at 200 GFLOP/s
    assert s["gflops_overall"] == pytest.approx(650 / 32.0, abs=0.1)
    other = pat.summary("nb101", rows, peak=200.0, reference=False)        # a resized network
    assert other["ratio_median"] is None and other["reference_mean_ms"] is None
    assert pat.summary("nb201", rows, 200.0)["reference_mean_ms"] is None   # no mean given for NB201


def test_table_lists_each_architecture_and_the_ratios():
    rows = [{"bucket": 2, "gflop": 100.0, "ms": 4000.0}, {"bucket": None, "gflop": 50.0, "ms": 2500.0}]
    text = pat.table(rows, pat.summary("nb101", rows, 100.0))
    assert "| 0 | 2 | 100.0 | 4,000 | 25 |" in text and "| 1 | - | 50.0 | 2,500 | 20 |" in text
    assert "authors' median 5,100 (ratio 0.64)" in text and "authors' mean 6,019 (ratio 0.54)" in text


@pytest.mark.parametrize("argv,msg", [(["nb999"], "nb999"), (["nb201", "--reps", "0"], "--reps"),
                                      (["nb201", "--json", "/no/such/dir/x.json"], "does not exist")])
def test_bad_arguments_exit_2_with_one_line(argv, msg, capsys):
    with pytest.raises(SystemExit) as e:
        pat.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and "\n" not in err
