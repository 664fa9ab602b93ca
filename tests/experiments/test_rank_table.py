"""experiments/rank_table.py: which tasks it covers, that every space's selection file reads
back to the same architectures, the table it writes, and bad arguments exit 2 with one line before anything is written."""
import json
import sys

import numpy as np
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import rank_table  # noqa: E402


def test_tasks_cover_every_bundled_table():
    tasks = {(s, t) for s, t, _ in rank_table.all_tasks(None)}
    assert {("nb201", "cifar10"), ("nb201", "imagenet16-120"), ("nb101", "imagenet-500"), ("nb301", "cifar10"),
            ("transnas-micro", "normal"), ("transnas-macro", "autoencoder"), ("nbmr", "seg")} <= tasks
    assert ("nb101", "cifar10-dps20") not in tasks                      # a DPS train set, not a task
    assert not any(s.startswith("nds-") for s, _ in tasks)              # no NDS files given
    nds = {(s, t) for s, t, _ in rank_table.all_tasks(ROOT / "tests" / "data" / "nds")}
    assert ("nds-darts", "cifar10") in nds and ("nds-resnext-b-in", "imagenet") in nds


@pytest.mark.parametrize("space,task", [("nb201", "cifar10"), ("nb101", "cifar10"), ("nb301", "cifar10"),
                                        ("transnas-micro", "class_scene"), ("transnas-macro", "normal"),
                                        ("nbmr", "cls-10c")])
def test_selection_reads_back_to_the_same_architectures(space, task, tmp_path):
    from spaces import load_space
    path, n, _ = rank_table.select(space, task, None, 5, tmp_path, {})
    assert n == 5
    sp = load_space(space)
    encs, truth = sp.load_truth(None, path)
    full_e, full_t = sp.load_truth(task)
    idx = np.sort(np.random.default_rng(0).choice(len(full_e), 5, replace=False))
    np.testing.assert_array_equal(encs, full_e[idx])
    np.testing.assert_allclose(truth, full_t[idx])


def test_table_marks_reduced_runs_and_averages_dps_seeds(tmp_path):
    rows = [{"space": "nb201", "task": "cifar10", "archs": 100,
             "eproxy": {"spearman": 0.7, "kendall": 0.5, "top1_percentile": 97.5, "top10_percentile": 90.2,
                        "spearman_top10pct": 0.3},
             "peers": {"naswot": {"spearman": 0.8, "kendall": 0.6, "top1_percentile": 12.5}},
             "dps": {"0": {"eval_spearman": 0.7, "eval_kendall": 0.5, "default_eval_spearman": 0.6,
                           "eval_top1_percentile": 98.0},
                     "1": {"eval_spearman": 0.8, "eval_kendall": 0.6, "default_eval_spearman": 0.6,
                           "eval_top1_percentile": 100.0}}}]
    proto = {"date": "2026-11-29", "machine": "cpu", "archs": 100, "dps": "2 seeds", "reduced": True, "space_options": {}}
    rank_table.write_table(tmp_path, rows, ["naswot", "synflow"], proto)
    text = (tmp_path / "table.md").read_text()
    assert text.startswith("Protocol (REDUCED)")
    assert ("| nb201 | cifar10 | 100 | 0.700 | 0.500 | 97.5 / 90.2 | 0.300 | 0.750 +- 0.071 (2 seeds) | 0.550 +- 0.071 "
            "| 99.0 +- 1.4 | 0.600 +- 0.000 | 0.800 / 12.5 | - |") in text
    assert json.loads((tmp_path / "table.json").read_text())["rows"] == rows


@pytest.mark.parametrize("extra, needle", [
    (["--tasks", "nb201:foo"], "--tasks: no truth for nb201:foo"),
    (["--truth", "nb201cifar"], "--truth takes SPACE:TASK=FILE, got 'nb201cifar'"),
    (["--truth", "nb201:x=/no/such.json"], "--truth nb201:x=/no/such.json: file not found"),
    (["--sample", "50"], "--sample (50) must not exceed --population (40)"),
    (["--archs", "0"], "--archs must be >= 1, got 0"),
    (["--space-option", "input_size"], "--space-option takes KEY=VALUE"),
    (["--tasks", "nb201:cifar10", "--space-option", "colour=1"], "nb201 has no option 'colour'"),
])
def test_bad_arguments_exit_2_with_one_line_before_anything_is_written(tmp_path, capsys, extra, needle):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        rank_table.main(["--out-dir", str(out), *extra])
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
