"""experiments/settings_screen.py --report-only on two bundled NB201 results files (the same
1,000 cells under two settings): the table equals a direct computation, the MACs-weight
columns rescale as the engine does, the bootstrap interval brackets the point difference;
user mistakes are one line and exit 2."""
import json
import shutil
import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "experiments"))
import settings_screen  # noqa: E402

RES = ROOT / "experiments/results"
FILES = {"default": RES / "cpu_2026-11-30_nb201_1000_dead_last_s0.csv.gz",
         "lr12": RES / "cpu_2026-11-29_nb201_1000_lr1.2_wd4e-5_s0.csv.gz"}


def _screen_dir(tmp_path):
    for name, f in FILES.items():
        shutil.copy(f, tmp_path / f"{name}.csv.gz")
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"default": {}, "lr12": {"lr": 1.2, "weight_decay": 4e-5}}))
    return settings


def test_report_matches_direct_computation(tmp_path, capsys):
    from eproxy_jax import metrics
    from eproxy_jax.store import read_results
    from spaces import load_space
    from spaces.base import arch_from_text

    settings = _screen_dir(tmp_path)
    out = tmp_path / "table.json"
    assert settings_screen.main(["nb201", "--settings", str(settings), "--out-dir", str(tmp_path),
                                 "--report-only", "--n-boot", "200", "--json", str(out)]) == 0
    rows = {r["setting"]: r for r in json.loads(out.read_text())["rows"]}
    sp = load_space("nb201")
    direct = {}
    for name, f in FILES.items():
        _, _, cols, recs = read_results(f)
        c = {k: i for i, k in enumerate(cols)}
        direct[name] = {r[c["arch"]]: (float(r[c["score"]]), float(r[c["truth"]])) for r in recs}
    archs = sorted(set(direct["default"]) & set(direct["lr12"]))
    assert rows["default"]["n"] == rows["lr12"]["n"] == len(archs) > 900
    truth = np.array([direct["default"][a][1] for a in archs])
    frac = np.asarray(sp.macs(np.stack([sp.parse(arch_from_text(a)) for a in archs]))) / sp.max_macs
    rho = {}
    for name in FILES:
        s = np.array([direct[name][a][0] for a in archs])
        rho[name] = metrics.spearman(s, truth)
        np.testing.assert_allclose(rows[name]["spearman"], rho[name])
        np.testing.assert_allclose(rows[name]["kendall"], metrics.kendall(s, truth))
        np.testing.assert_allclose(rows[name]["alpha0.2"], metrics.spearman(s * (1 - 0.2 * frac), truth))
    lo, hi = rows["lr12"]["delta_ci95"]
    assert lo < rho["lr12"] - rho["default"] < hi and "delta_ci95" not in rows["default"]
    table = capsys.readouterr().out
    assert f"| lr12 | {len(archs)} | {rho['lr12']:.3f} |" in table


def test_user_mistakes_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert settings_screen.main(["nb201", "--settings", str(bad), "--out-dir", str(tmp_path), "--report-only"]) == 2
    bad.write_text(json.dumps({"../x": {}}))
    assert settings_screen.main(["nb201", "--settings", str(bad), "--out-dir", str(tmp_path), "--report-only"]) == 2
    bad.write_text(json.dumps({"a": {}}))
    assert settings_screen.main(["nb201", "--settings", str(bad), "--out-dir", str(tmp_path), "--report-only"]) == 2
    (tmp_path / "a.csv").write_text("not a results file\n")
    assert settings_screen.main(["nb201", "--settings", str(bad), "--out-dir", str(tmp_path), "--report-only"]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln]
    assert len(err) == 4 and all(ln.startswith("error: ") for ln in err)


def test_a_run_with_no_rows_yet_is_left_out(tmp_path, capsys):
    """A setting whose scoring run was stopped before its first chunk (header only) is left
    out of the table, the others are reported."""
    import gzip
    settings = _screen_dir(tmp_path)
    head = [ln for ln in gzip.decompress((tmp_path / "lr12.csv.gz").read_bytes()).decode().splitlines()
            if ln.startswith("#") or ln.startswith("arch,")]
    (tmp_path / "lr12.csv.gz").unlink()
    (tmp_path / "lr12.csv").write_text("\n".join(head) + "\n")
    assert settings_screen.main(["nb201", "--settings", str(settings), "--out-dir", str(tmp_path),
                                 "--report-only"]) == 0
    cap = capsys.readouterr()
    assert "[lr12] no rows scored yet: left out" in cap.err
    assert "| default |" in cap.out and "| lr12 |" not in cap.out


def test_scores_into_a_relative_out_dir_from_any_working_directory(tmp_path, monkeypatch, capsys):
    """End to end on a tiny NB201: each setting's `eproxy score` child runs in the caller's
    working directory (a relative --out-dir is where the results go, not the checkout), and a
    second screen resumes every setting without scoring anything."""
    from conftest import TINY_CLI, TINY_SETTING

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.json").write_text(json.dumps({"base": TINY_SETTING, "lr12": dict(TINY_SETTING, lr=1.2)}))
    args = ["nb201", "--settings", "s.json", "--out-dir", "screen", "--limit", "6", "--n-boot", "50",
            "--json", "t.json", "--", *TINY_CLI, "--chunk", "3"]
    before = set(ROOT.iterdir())
    assert settings_screen.main(args) == 0
    assert set(ROOT.iterdir()) == before                          # nothing written into the checkout
    for name in ("base", "lr12"):
        line = json.loads((tmp_path / "screen" / f"{name}.json").read_text())
        assert line["scored"] == 6 and (tmp_path / "screen" / f"{name}.csv").exists()
    rows = {r["setting"]: r for r in json.loads((tmp_path / "t.json").read_text())["rows"]}
    assert rows["base"]["n"] == rows["lr12"]["n"] == 6 and "delta_ci95" in rows["lr12"]
    first = (tmp_path / "screen" / "base.json").read_text()
    capsys.readouterr()
    assert settings_screen.main(args) == 0                         # resumed: nothing scored again
    assert (tmp_path / "screen" / "base.json").read_text() == first
    assert "| base | 6 |" in capsys.readouterr().out
