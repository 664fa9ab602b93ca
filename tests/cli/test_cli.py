"""The `eproxy score` contract: JSON output, user errors (exit 2, one stderr line), resume."""
import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TINY_SETTING, TINY_CLI, one_line_error as _one_line_error, run_cli as run



@pytest.fixture(scope="module")
def setting_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("setting") / "tiny.json"
    p.write_text(json.dumps(TINY_SETTING))
    return p


ERROR_CASES = [
    (["score", "nb999"], "unknown space"),
    (["score", "nb201", "--dataset", "mnist"], "unknown dataset"),
    (["score", "nb201", "--truth", "{tmp}/missing.json"], "not found"),
    (["score", "nb201", "--truth", "{tmp}/bad.json"], "not valid JSON"),
    (["score", "nb201", "--setting", "{tmp}/s.json"], "unknown setting field 'colour'"),
    (["score", "nb201", "--setting", "{tmp}/v.json"], "odd kernel"),
    (["score", "nb201", "--setting", "{tmp}/bad.json"], "not valid JSON"),
    (["score", "nb201", "--setting", '{"lr": 1.2'], "inline setting is not valid JSON"),
    (["search", "nb201", "--setting", '{"colour": 1}'], "unknown setting field 'colour'"),
    (["score", "nb201", "--limit", "0"], "--limit must be >= 1"),
    (["score", "nb201", "--limit", "many"], "--limit must be an integer"),
    (["score", "nb201", "--images", "{tmp}/nope"], "not a directory"),
    (["score", "nb201", "--lower-is-better"], "--truth"),
    (["score", "nb201", "--setting", "{tmp}/huge.json"], "out of range"),
    (["score", "nb201", "--limit", "2", "--out", "{tmp}/results.bin"], "not an eproxy-jax results file"),
    (["score", "nb201", "--limit", "2", "--out", "{tmp}/results.bin/x.csv"], "is not a directory"),
    (["score", "nb201", "--limit", "2", "--out", "{tmp}"], "is a directory"),
    (["bench", "--space", "nb201", "--out", "{tmp}/no/b.jsonl"], "does not exist"),
    (["bench", "--space", "nb201", "--out", "{tmp}"], "is a directory"),
    (["merge", "{tmp}/results.bin/m.csv", "{tmp}/results.bin"], "is not a directory"),
    (["score", "nb201", "--limit", "2", "--space-option", "channels=0"], "channels must be an integer >= 1"),
    (["score", "nb201", "--limit", "2", "--space-option", "colour=3"],
     "nb201 has no option 'colour' (options: channels, cells_per_stage, input_size, target_size)"),
    (["score"], "space"),
    ([], "missing command"),
]


@pytest.fixture
def error_files(tmp_path):
    (tmp_path / "bad.json").write_text("[[1, 2")
    (tmp_path / "s.json").write_text(json.dumps({"lr": 1.0, "colour": "red"}))
    (tmp_path / "v.json").write_text(json.dumps({"head_kernel": [2, 1, 1]}))
    (tmp_path / "huge.json").write_text('{"steps": ' + "9" * 400 + "}")
    (tmp_path / "results.bin").write_bytes(bytes(range(256)) * 4)
    return tmp_path


@pytest.mark.parametrize("args,needle", ERROR_CASES, ids=[" ".join(a)[:60] or "no-args" for a, _ in ERROR_CASES])
def test_user_errors_exit_2_with_one_line(error_files, args, needle, capsys, monkeypatch):
    """In process, through main(argv): exit 2 and one stderr line naming the problem."""
    from eproxy_jax.cli import main
    monkeypatch.chdir(error_files)
    code = main([a.replace("{tmp}", str(error_files)) for a in args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert needle in lines[0], lines[0]
    assert lines[0].startswith("eproxy") and not lines[0].startswith("eproxy: eproxy "), lines[0]


def test_user_error_in_a_subprocess_exits_2(tmp_path):
    """The same contract through the installed entry point (one case: the process exit code)."""
    _one_line_error(run(["score", "nb999"], tmp_path), "unknown space")


def test_check_out_file(tmp_path):
    from eproxy_jax.cli import UsageError, check_out_file

    (tmp_path / "f.txt").write_text("x")
    assert check_out_file("--out", tmp_path / "new.csv") == tmp_path / "new.csv"
    assert check_out_file("--out", tmp_path / "f.txt") == tmp_path / "f.txt"  # overwriting/extending is allowed
    assert check_out_file("--out", tmp_path / "a" / "b" / "c.csv", parent_must_exist=False)
    for path, kw, needle in [(tmp_path, {}, "is a directory"),
                             (tmp_path / "a" / "c.csv", {}, "does not exist"),
                             (tmp_path / "f.txt" / "c.csv", {}, "is not a directory"),
                             (tmp_path / "f.txt" / "d" / "c.csv", {"parent_must_exist": False}, "is not a directory")]:
        with pytest.raises(UsageError, match=needle):
            check_out_file("--out", path, **kw)
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(UsageError, match="not writable"):
            check_out_file("--plot", ro / "x.png")


def test_malformed_architectures_exit_2(tmp_path):
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps([[[3], [3, 3], [3, 3, 3]], [[9], [0, 0], [0, 0, 0]]]))
    _one_line_error(run(["score", "nb201", "--archs", str(archs)], tmp_path), "architecture #1")
    truth = tmp_path / "truth.json.gz"
    with gzip.open(truth, "wt") as f:
        json.dump([["|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|", 1.0]], f)
    _one_line_error(run(["score", "nb201", "--truth", str(truth)], tmp_path), "unknown NB201 op")


@pytest.mark.slow
def test_json_contract_and_resume_after_kill(tmp_path, setting_file):
    base = ["score", "nb201", "--limit", "5", "--sample-seed", "3", "--setting", str(setting_file),
            "--chunk", "1", *TINY_CLI, "--json", "--quiet"]
    # uninterrupted run
    full = run(base + ["--out", str(tmp_path / "full.csv")], tmp_path)
    assert full.returncode == 0, full.stderr
    res = json.loads(full.stdout.strip().splitlines()[-1])
    for key, typ in [("space", str), ("dataset", str), ("n", int), ("spearman", float), ("kendall", float),
                     ("wall_s", float), ("compile_s", float), ("ms_per_arch", float), ("device", str),
                     ("diverged", int), ("top1_percentile", float), ("top10_percentile", float)]:
        assert isinstance(res[key], typ), (key, res[key])
    assert res["spearman_top10pct"] is None   # 5 architectures: the truly best 10 % is one
    assert res["n"] == 5 and res["space"] == "nb201" and res["dataset"] == "cifar10" and res["diverged"] == 0
    assert -1.0 <= res["spearman"] <= 1.0

    # the same run killed after its first chunk, then restarted with the same arguments
    out = tmp_path / "killed.csv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "eproxy_jax", *base, "--out", str(out)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline:
        if out.exists() and len([ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")]) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows_before = [ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")]
    assert 2 <= len(rows_before) < 6, "the kill should land mid-run"
    again = run(base + ["--out", str(out)], tmp_path)
    assert again.returncode == 0, again.stderr
    res2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert res2["resumed"] >= 1 and res2["resumed"] + res2["scored"] == 5

    def table(p):
        with open(p) as f:
            return {r["arch"]: r for r in csv.DictReader(ln for ln in f if not ln.startswith("#"))}
    assert table(out) == table(tmp_path / "full.csv")
    assert res2["spearman"] == res["spearman"] and res2["kendall"] == res["kendall"]

    # resuming into that file with another setting is refused instead of mixing scores
    other = tmp_path / "other.json"
    other.write_text(json.dumps(dict(TINY_SETTING, lr=0.5)))
    bad = run(["score", "nb201", "--limit", "5", "--sample-seed", "3", "--setting", str(other), *TINY_CLI,
               "--out", str(out)], tmp_path)
    _one_line_error(bad, "different run")


def test_archs_without_truth(tmp_path, setting_file):
    archs = tmp_path / "archs.json"
    archs.write_text(json.dumps(["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                                 [[0], [0, 0], [0, 0, 0]]]))
    r = run(["score", "nb201", "--archs", str(archs), "--setting", str(setting_file), *TINY_CLI, "--json", "--quiet",
             "--out", str(tmp_path / "a.csv")], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["n"] == 2 and res["spearman"] is None and res["kendall"] is None
    rows = [ln for ln in (tmp_path / "a.csv").read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(rows) == 3 and rows[1].startswith("|nor_conv_3x3~0|")


def test_user_truth_file_lower_is_better(tmp_path, setting_file):
    truth = tmp_path / "losses.json"
    archs = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
             "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
             [[2], [1, 2], [4, 0, 3]]]
    truth.write_text(json.dumps([[a, v] for a, v in zip(archs, [0.31, 2.30, 0.55])]))
    r = run(["score", "nb201", "--truth", str(truth), "--lower-is-better", "--dataset", "my-task",
             "--setting", str(setting_file), *TINY_CLI, "--json", "--quiet", "--out", str(tmp_path / "t.csv")], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["dataset"] == "my-task" and res["n"] == 3 and res["spearman"] is not None
    with open(tmp_path / "t.csv") as f:
        rows = list(csv.DictReader(ln for ln in f if not ln.startswith("#")))
    assert sorted(float(r["truth"]) for r in rows) == [0.31, 0.55, 2.30]  # stored as given, not negated


def test_results_meta_holds_the_full_setting_and_its_name():
    """Scoring version 3 (weight decay on kernels only) never resumes a version-2 file, even
    one whose setting it reproduces; its meta holds every setting field and the setting's
    name (the named setting it equals when the caller gives none)."""
    from eproxy_jax import images, setting_spec
    from eproxy_jax.cli import score_meta
    from eproxy_jax.setting import ProxySetting
    from eproxy_jax.store import read_results, run_hash
    from eproxy_jax.version import SCORING_VERSION

    path = ROOT / "experiments/results/cpu_2026-11-29_rank_table/compare_nb201_cifar10/eproxy.csv"
    h, meta, _, _ = read_results(path)
    raw = images.load_raw(meta["images"], n=16, seed=meta["image_seed"], size=32)

    def rebuilt(name=None, **extra):   # that file predates the truth source in the identity
        setting = ProxySetting.from_dict({**meta["setting"], **extra})
        m = score_meta(meta["space"], meta["space_config"], setting, meta["seeds"], meta["images"],
                       meta["image_seed"], raw, truth=None, setting_name=name)
        assert m.pop("truth") is None
        return m

    assert meta["proxy"] == "eproxy-jax/2" and run_hash(rebuilt(dead_last=False)) != h
    m = rebuilt()
    assert m["proxy"] == f"eproxy-jax/{SCORING_VERSION}" and SCORING_VERSION == 10
    assert set(m["setting"]) == set(setting_spec.FIELDS) and m["setting"]["dead_last"] is True
    assert m["setting_name"] == "default" and rebuilt(dead_last=False)["setting_name"] == "custom"
    assert rebuilt("paper")["setting_name"] == "paper" and run_hash(rebuilt("paper")) != run_hash(m)


def test_version_flag(capsys):
    from eproxy_jax import __version__
    from eproxy_jax.cli import main
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"eproxy-jax {__version__}"
    tomllib = pytest.importorskip("tomllib")    # Python 3.11+: pyproject reads the version from version.py
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "eproxy_jax.version.__version__"}


def test_default_results_folder_is_git_ignored(tmp_path, monkeypatch):
    """The folder the CLI creates for results without --out holds a `.gitignore` of `*`; a
    folder the user made keeps what they put there."""
    from eproxy_jax.cli import default_results_path
    monkeypatch.chdir(tmp_path)
    path = default_results_path("nb201", "cifar10", {"space": "nb201"})
    assert path.parent.resolve() == (tmp_path / "eproxy-results").resolve()
    assert (tmp_path / "eproxy-results" / ".gitignore").read_text().splitlines()[-1] == "*"
    if subprocess.run(["git", "--version"], capture_output=True).returncode == 0:
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
        path.write_text("x\n")
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True, check=True)
        assert st.stdout == "", st.stdout             # neither the results nor the .gitignore show up
    mine = tmp_path / "other"
    (mine / "eproxy-results").mkdir(parents=True)
    monkeypatch.chdir(mine)
    default_results_path("nb201", "cifar10", {"space": "nb201"})
    assert not (mine / "eproxy-results" / ".gitignore").exists()
