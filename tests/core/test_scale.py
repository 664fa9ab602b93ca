"""Scaling out: `--shard I/N` + `eproxy merge` (many hosts) and `--devices` (chunks split over
the local devices with jax.sharding; two CPU devices forced with XLA_FLAGS)."""
import json
import os

from conftest import TINY_CLI
from eproxy_jax.store import read_results
from conftest import one_line_error as _one_line_error, run_cli as run

BASE = ["score", "nb201", "--limit", "10", "--sample-seed", "3", "--chunk", "4", "--json", "--quiet", *TINY_CLI]


def _last_json(r):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _scores(path):
    _, _, cols, rows = read_results(path)
    return {r[0]: float(r[cols.index("score")]) for r in rows}


def test_shards_merge_to_the_whole_run(tmp_path):
    parts = []
    for i in range(3):
        res = _last_json(run([*BASE, "--shard", f"{i}/3"], tmp_path))
        assert res["n"] == (4 if i == 0 else 3)         # interleaved slices: sizes differ by at most one
        assert res["out"].endswith(f"_shard{i}of3.csv")
        parts.append(res["out"])
    ids = [set(_scores(tmp_path / p)) for p in parts]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])

    merged = tmp_path / "merged.csv"
    files = [str(tmp_path / p) for p in parts]
    m = _last_json(run(["merge", str(merged), *files, files[0], "--json"], tmp_path))
    assert m["rows"] == 10 and m["added"] == 10
    assert [f["new"] for f in m["inputs"]] == [4, 3, 3, 0]   # the repeated file adds nothing
    again = _last_json(run(["merge", str(merged), str(tmp_path / parts[1]), "--json"], tmp_path))
    assert again["added"] == 0 and again["rows"] == 10

    # the unsharded run resumes from the merged file: nothing left to score, same correlation
    whole = _last_json(run([*BASE, "--out", str(merged)], tmp_path))
    assert whole["scored"] == 0 and whole["resumed"] == 10 and whole["n"] == 10
    assert whole["spearman"] == m["spearman"] and whole["kendall"] == m["kendall"]

    # two forced CPU devices, each chunk split over them: the same scores
    # added to the suite's XLA flags (tests/xla_flags.py): scores of another XLA build differ at the noise level
    env2 = {"XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()}
    dev = _last_json(run([*BASE, "--devices", "2", "--out", str(tmp_path / "dev2.csv")], tmp_path, env=env2))
    assert dev["devices"] == 2 and dev["scored"] == 10
    a, b = _scores(merged), _scores(tmp_path / "dev2.csv")
    assert a.keys() == b.keys()
    assert max(abs(a[k] - b[k]) for k in a) < 1e-4 * max(abs(v) for v in a.values())
    _one_line_error(run([*BASE, "--devices", "3"], tmp_path, env=env2), "this host has 2 cpu device(s)")

    # merge refuses other runs, non-results files and writing over an input
    other = _last_json(run([*BASE, "--limit", "2", "--seeds", "2", "--out", str(tmp_path / "seeds2.csv")], tmp_path))
    notes = tmp_path / "notes.csv"
    notes.write_text("hello\n")
    for args, needle in (([str(tmp_path / "m2.csv"), str(merged), other["out"]], "different run"),
                         ([str(tmp_path / "m3.csv"), str(notes)], "not an eproxy-jax results file"),
                         ([str(tmp_path / "m4.csv"), str(tmp_path / "missing.csv")], "not found"),
                         ([str(merged), str(merged)], "must not be one of the inputs")):
        _one_line_error(run(["merge", *args], tmp_path), needle)
    for bad in ("3/3", "a/b", "1"):
        _one_line_error(run([*BASE, "--shard", bad], tmp_path), "--shard")
    assert os.path.exists(merged)
