"""experiments/cpu_bench.py without running eproxy: its table (ratios to the authors' figures only
for the paper-size networks), its resume (rows already in --out are not run again) and its
argument check. The script's runs themselves are benchmarks, not tests."""
import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import cpu_bench  # noqa: E402


def _row(space, phase, ms, options=()):
    return {"space": space, "phase": phase, "options": list(options), "n": 8, "programs": 2, "compile_s": 30.0,
            "prepare_s": 5.0, "ms_per_arch": ms, "first_result_s": 41.5, "wall_s": 60.0, "probe_s": 0.7}


def test_table_ratio_only_against_the_reference_network():
    text = cpu_bench.table([_row("nb101", "cold", 10200.0), _row("nb101", "warm", 2550.0, ["stem_channels=4"]),
                            _row("nb301", "cold", 900.0)])
    lines = text.splitlines()
    assert lines[2] == "| nb101 | 8 | cold | 1 | 2 | 30.0 | 41.5 | 10,200 | 5,100 | 2.00 | 0.7 |"   # rows before --workers: 1
    assert lines[3].endswith("| 2,550 | - | - | 0.7 |")   # a tiny network is not the reference's
    assert lines[4].endswith("| 900 | - | - | 0.7 |")      # no reference for nb301


def test_rows_already_written_are_not_run_again(tmp_path, monkeypatch, capsys):
    out = tmp_path / "b.jsonl"
    out.write_text("".join(json.dumps(_row("nb201", p, 1000.0)) + "\n" for p in ("cold", "warm")))
    monkeypatch.setattr(cpu_bench, "run_once", lambda *a, **k: pytest.fail("ran again"))
    assert cpu_bench.main(["--spaces", "nb201", "--out", str(out)]) == 0
    assert "| nb201 | 8 | warm | 1 |" in capsys.readouterr().out


def test_worker_rows_are_their_own(tmp_path, monkeypatch, capsys):
    """Rows taken with --workers 2 neither stand for nor hide the one-process rows."""
    out = tmp_path / "b.jsonl"
    out.write_text("".join(json.dumps(_row("nb201", p, 1000.0)) + "\n" for p in ("cold", "warm")))
    calls = []
    monkeypatch.setattr(cpu_bench, "run_once", lambda *a, **k: calls.append(a[-1]) or {
        "n": 8, "programs": 1, "compile_s": 9.0, "prepare_s": 2.0, "ms_per_arch": 700.0, "first_result_s": 20.0,
        "process_wall_s": 30.0})
    monkeypatch.setattr(cpu_bench, "machine_probe", lambda: 0.5)
    assert cpu_bench.main(["--spaces", "nb201", "--out", str(out), "--workers", "2"]) == 0
    assert calls == [2, 2]                        # cold and warm, each with --workers 2
    text = capsys.readouterr().out
    assert "| nb201 | 8 | cold | 2 | 1 |" in text and "| 1,000 |" not in text


def test_bad_space_option_exits_2(tmp_path):
    with pytest.raises(SystemExit) as e:
        cpu_bench.main(["--space-option", "channels=4", "--out", str(tmp_path / "b.jsonl")])
    assert e.value.code == 2
