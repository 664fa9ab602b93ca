"""experiments/multitask.py on a tiny TransNAS micro network: the default rows, the MACs
baseline beside them (same architectures and whole table), and a resumed run that fills the
MACs fields of rows written without them, without scoring again, and a rerun with --peers that
adds the peers' rows; bad arguments exit 2 with one
line before anything is scored or written."""
import json
import sys

import numpy as np
import pytest
from scipy import stats

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import multitask  # noqa: E402

TINY = ["--space-option", "base=4", "--space-option", "input_size=16", "--space-option", "target_size=4"]


def test_default_rows_with_macs_baseline_and_resume(tmp_path, capsys):
    from spaces import load_space

    argv = ["--spaces", "transnas-micro", "--archs", "6", "--chunk", "6", "--dps-tasks", "none",
            "--out-dir", str(tmp_path), *TINY]
    multitask.main(argv)
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["task"] for r in rows] == ["class_object", "class_scene", "autoencoder", "normal"]
    scores = json.loads((tmp_path / "transnas-micro_scores.json").read_text())
    assert len(scores) == 6 and not np.isnan(list(scores.values())).any()
    # node 3 of 2_11_000 takes `none` from every node: the encoder ignores its input (its
    # affine BNs make the features a trained constant, not zero) and ranks last
    assert [k for k, v in scores.items() if v == np.inf] == ["64-41414-2_11_000"]

    sp = load_space("transnas-micro", base=4, input_size=16, target_size=4)
    ids = list(scores)
    encs = np.stack([sp.parse(i) for i in ids])
    macs = sp.macs(encs)
    for r in rows:
        enc, val = sp.load_truth(r["task"])
        truth = dict(zip((sp.arch_id(e) for e in enc), val))
        y = [truth[i] for i in ids]
        assert r["n"] == 6
        np.testing.assert_allclose(r["spearman"], stats.spearmanr([-scores[i] for i in ids], y).statistic)
        np.testing.assert_allclose(r["macs_spearman"], stats.spearmanr(macs, y).statistic)
        np.testing.assert_allclose(r["macs_spearman_all"], stats.spearmanr(sp.macs(enc), val).statistic)
        np.testing.assert_allclose(r["score_vs_macs_spearman"],
                                   stats.spearmanr([-scores[i] for i in ids], macs).statistic)
        # the best-scored architectures (a tie: their mean) at their percentile in the whole table
        best = [i for i in ids if scores[i] == min(scores.values())]
        pct = [100 * (np.sum(val < truth[i]) + 0.5 * np.sum(val == truth[i])) / len(val) for i in best]
        np.testing.assert_allclose(r["top1_percentile"], np.mean(pct))
    table = (tmp_path / "table.md").read_text()
    assert "| MACs: Spearman (whole table) | Spearman(-score, MACs) |" in table
    r0 = rows[0]
    assert (f"| transnas-micro | class_object | 6 | {r0['spearman']:.3f} | {r0['kendall']:.3f} | "
            f"{r0['top1_percentile']:.1f} / {r0['top10_percentile']:.1f} | {r0['spearman_top10pct']:.3f} | not run | "
            f"{r0['macs_spearman']:.3f} ({r0['macs_spearman_all']:.3f}) | {r0['score_vs_macs_spearman']:.3f} |") in table

    # rows from before the MACs columns: a rerun fills them in and scores nothing
    first = [(r["macs_spearman"], r["macs_spearman_all"], r["score_vs_macs_spearman"], r["top1_percentile"]) for r in rows]
    for r in rows:
        for k in ("macs_spearman", "macs_spearman_all", "score_vs_macs_spearman", "top1_percentile"):
            del r[k]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    capsys.readouterr()
    multitask.main(argv)
    assert "scored" not in capsys.readouterr().out
    again = json.loads((tmp_path / "rows.json").read_text())
    assert len(again) == 4
    assert [(r["macs_spearman"], r["macs_spearman_all"], r["score_vs_macs_spearman"], r["top1_percentile"])
            for r in again] == first


    # --peers on a finished run: the peer rows are added, Eproxy scores nothing again
    capsys.readouterr()
    multitask.main(argv + ["--peers", "params"])
    assert "scored" not in capsys.readouterr().out
    peers = json.loads((tmp_path / "transnas-micro_peers.json").read_text())["scores"]["params"]
    assert sorted(peers) == sorted(ids) and min(peers.values()) > 0
    with_peers = json.loads((tmp_path / "rows.json").read_text())
    for r in with_peers:
        enc, val = sp.load_truth(r["task"])
        truth = dict(zip((sp.arch_id(e) for e in enc), val))
        np.testing.assert_allclose(r["peers"]["params"]["spearman"],
                                   stats.spearmanr([peers[i] for i in ids], [truth[i] for i in ids]).statistic)
    p0 = with_peers[0]["peers"]["params"]
    assert f"| params {p0['spearman']:.3f} ({p0['top1_percentile']:.0f}) |" in (tmp_path / "table.md").read_text()


def test_dps_rows_share_one_cache_per_space_and_a_resume_under_another_setting_is_refused(tmp_path, capsys):
    """DPS on two tasks of one space: the same train architectures, so the second task reads the
    default and the shared random batch from the first task's cache; both are evaluated on the
    first --eval-archs scored architectures against the default row's own scores."""

    argv = ["--spaces", "transnas-micro", "--archs", "5", "--chunk", "5", "--dps-tasks", "class_object,normal",
            "--train-archs", "4", "--eval-archs", "3", "--cycles", "2", "--population", "2", "--sample", "2",
            "--max-channels", "128", "--max-kernel", "3", "--out-dir", str(tmp_path), *TINY]
    multitask.main(argv)
    rows = json.loads((tmp_path / "rows.json").read_text())
    dps = [r for r in rows if r["kind"] == "dps"]
    assert [r["task"] for r in dps] == ["class_object", "normal"]
    assert all(r["n"] == 3 and r["train_archs"] == 4 and r["max_channels"] == 128 for r in dps)
    assert dps[1]["settings_from_cache"] >= dps[0]["settings_from_cache"] + 3   # default + two random settings
    assert (tmp_path / "transnas-micro_s0_dps_cache.json").exists()
    # the default column of a DPS row: the default row's scores on the first 3 scored archs
    from spaces import load_space
    sp = load_space("transnas-micro", base=4, input_size=16, target_size=4)
    scores = json.loads((tmp_path / "transnas-micro_scores.json").read_text())
    enc_all, _ = sp.load_truth("class_object")   # the order the script draws from
    ids_all = [sp.arch_id(e) for e in enc_all]
    pick = [ids_all[i] for i in np.random.default_rng(0).permutation(len(ids_all))[:5]][:3]
    enc, val = sp.load_truth("normal")
    truth = dict(zip((sp.arch_id(e) for e in enc), val))
    np.testing.assert_allclose(dps[1]["default_spearman"],
                               stats.spearmanr([-scores[i] for i in pick], [truth[i] for i in pick]).statistic)
    table = (tmp_path / "table.md").read_text()
    for r in dps:
        kept = r["default_fitness"] >= r["best_fitness"]   # both defined here (checked below)
        kd = r["default_spearman"] if kept else r["spearman"]
        assert f"{r['spearman']:.3f} ({r['default_spearman']:.3f}), 2 settings, keep-default {kd:.3f}" in table
    assert all(np.isfinite([r["default_fitness"], r["best_fitness"]]).all() for r in dps)

    # scores made with another setting are never mixed in
    meta_path = tmp_path / "transnas-micro_meta.json"
    meta = json.loads(meta_path.read_text())
    meta["made_with"]["setting"]["lr"] = 9.0
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(SystemExit) as e:
        multitask.main(argv)
    assert e.value.code == 2 and "choose another --out-dir" in capsys.readouterr().err


@pytest.mark.parametrize("extra, needle", [
    (["--spaces", "nb201"], "--spaces: 'nb201' is not a multi-task space"),
    (["--spaces", "transnas-micro", "--dps-tasks", "jigsaw"], "no bundled table for 'jigsaw'"),
    (["--spaces", "nbmr", "--dps-tasks", "seg,class_scene"], "'class_scene' is not a task of nbmr"),
    (["--dps-seeds", "0,x"], "--dps-seeds takes comma-separated integers (e.g. 0,1), got '0,x'"),
    (["--dps-seeds", "1,-1"], "--dps-seeds values must be >= 0, got -1"),
    (["--cycles", "0"], "--cycles must be >= 1, got 0"),
    (["--archs", "abc"], "--archs must be an integer, got 'abc'"),
    (["--train-archs", "2"], "--train-archs must be >= 3, got 2"),
    (["--space-option", "input_size"], "--space-option takes KEY=VALUE"),
    (["--space-option", "input_size="], "--space-option takes KEY=VALUE"),
    (["--spaces", "transnas-micro", "--space-option", "skeleton=bogus"], "option skeleton must be a string of digits"),
    (["--spaces", "transnas-macro", "--space-option", "colour=1"], "has no option 'colour'"),
    (["--spaces", "nbmr", "--peers", "naswot"], "--peers: naswot not available for nbmr"),
    (["--spaces", "nbmr", "--peers", "synflw"], "--peers: unknown proxy 'synflw'"),
])
def test_bad_arguments_exit_2_with_one_line_before_anything_is_written(tmp_path, capsys, extra, needle):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as e:
        multitask.main([*extra, "--out-dir", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
