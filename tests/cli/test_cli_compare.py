"""The `eproxy compare` contract: JSON, files, resume, user errors (exit 2, one line)."""
import csv
import json
import shutil

import numpy as np

from conftest import TINY_CLI, TINY_SETTING, TINY_SPACE
from scipy import stats

from spaces import load_space
from conftest import one_line_error as _one_line_error, run_cli as run



def test_compare_user_errors(tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    unlabeled = tmp_path / "imgs"
    unlabeled.mkdir()
    from eproxy_jax import images
    for f in images._image_files(images.BUNDLED_DIR)[:8]:
        shutil.copy(f, unlabeled / f"img{f.stem.split('_')[1]}.png")  # no label in the name
    cases = [
        (["compare", "nb201", "--proxies", "naswot,zenn"], "unknown proxy 'zenn'"),
        (["compare", "nb101", "--proxies", "zen", "--limit", "2"], "zen not available for nb101"),
        (["compare", "nb201", "--proxies", ","], "--proxies is empty"),
        (["compare", "nb201", "--batch-size", "64"], "only 20 images"),
        (["compare", "nb201", "--lower-is-better"], "applies to a --truth file"),
        (["compare", "nb201", "--dataset", "mnist"], "unknown dataset"),
        (["compare", "nb201", "--out", str(afile)], "not a folder"),
        (["compare", "nb201", "--out", str(tmp_path / "no" / "dir")], "does not exist"),
        (["compare", "nb201", "--proxies", "snip", "--images", str(unlabeled), "--batch-size", "4", "--limit", "2",
          *TINY_CLI, "--out", str(tmp_path / "o")], "need class labels"),
    ]
    for args, needle in cases:
        _one_line_error(run(args, tmp_path), needle)


def test_compare_json_files_and_resume(tmp_path):
    setting = tmp_path / "s.json"
    setting.write_text(json.dumps(TINY_SETTING))
    out = tmp_path / "cmp"
    args = ["compare", "nb201", "--limit", "6", "--sample-seed", "1", "--proxies", "eproxy,naswot,synflow,params",
            "--batch-size", "8", "--setting", str(setting), "--chunk", "4", *TINY_CLI, "--out", str(out),
            "--json", "--quiet"]
    r = run(args, tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["n"] == 6 and list(res["proxies"]) == ["eproxy", "naswot", "synflow", "params"]
    for name, p in res["proxies"].items():
        assert isinstance(p["kendall"], float) and isinstance(p["ms_per_arch"], float), name
        assert isinstance(p["diverged"], int) and p["scored"] == 6, name
    assert res["proxies"]["naswot"]["batch"] == 8 and res["proxies"]["eproxy"]["batch"] == 16
    for f in ["scores.csv", "table.md", "summary.json", "eproxy.csv", "naswot.png", "params.png", "synflow.csv"]:
        assert (out / f).is_file(), f
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and set(rows[0]) == {"arch", "truth", "eproxy", "naswot", "synflow", "params"}
    # every proxy's metrics recomputed from its column, in its own direction (a sign error fails)
    truth = np.array([float(r["truth"]) for r in rows])
    _, table = load_space("nb201", **TINY_SPACE).load_truth("cifar10")
    for name, p in res["proxies"].items():
        good = np.array([float(r[name]) for r in rows]) * (-1 if name == "eproxy" else 1)
        assert np.isclose(p["spearman"], stats.spearmanr(good, truth).statistic, atol=1e-4), name
        best = good == good.max()
        pct = [100 * (np.sum(table < t) + 0.5 * np.sum(table == t)) / len(table) for t in truth[best]]
        assert np.isclose(p["top1_percentile"], np.mean(pct), atol=0.01), name
        col = np.array([float(r[name]) for r in rows])   # a peer's -inf (log 0) counts, Eproxy's dead +inf not
        assert p["diverged"] == (np.isnan(col).sum() if name == "eproxy" else (~np.isfinite(col)).sum()), name
    # params: the benchmark's count of each cell, so its rho is that of the counts
    sp = load_space("nb201", **TINY_SPACE)
    counts = sp.param_count(np.stack([sp.parse(r["arch"]) for r in rows]), 10)
    np.testing.assert_allclose([float(r["params"]) for r in rows], counts)
    assert "| naswot |" in (out / "table.md").read_text()
    # the eproxy column is the `eproxy score` results of the same architectures
    with open(out / "eproxy.csv") as f:
        per = {r["arch"]: float(r["score"]) for r in csv.DictReader(ln for ln in f if not ln.startswith("#"))}
    np.testing.assert_allclose([float(r["eproxy"]) for r in rows], [per[r["arch"]] for r in rows])

    again = run(args, tmp_path)
    assert again.returncode == 0, again.stderr
    res2 = json.loads(again.stdout.strip().splitlines()[-1])
    for name in res["proxies"]:
        assert res2["proxies"][name]["scored"] == 0 and res2["proxies"][name]["ms_per_arch"] is None
        assert res2["proxies"][name]["spearman"] == res["proxies"][name]["spearman"]
    # another image batch is another run: refused, not mixed
    bad = run([a if a != "8" else "6" for a in args], tmp_path)
    _one_line_error(bad, "different run")


def test_compare_space_without_peer_proxies(tmp_path):
    r = run(["compare", "nb101", "--limit", "2", "--proxies", "naswot", "--out", str(tmp_path / "o")], tmp_path)
    _one_line_error(r, "naswot not available for nb101")
