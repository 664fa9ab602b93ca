"""`eproxy score --workers N`: the architectures scored in N worker processes give the scores one
process gives, into the same resumable results file; bad counts are one line and exit 2; a worker
that fails is one line, after the chunks it finished were saved."""
import json
import textwrap

import numpy as np
import pytest

from conftest import TINY_CLI, TINY_SETTING, one_line_error, run_cli
from eproxy_jax.cli import score_workers
from eproxy_jax.cli.common import UsageError

TINY = TINY_CLI + ["--setting", json.dumps(TINY_SETTING), "--limit", "6", "--chunk", "2", "--json", "--quiet"]


def test_two_workers_score_as_one_process_and_resume(tmp_path):
    one = run_cli(["score", "nb201", *TINY, "--out", str(tmp_path / "one.csv")], tmp_path)
    assert one.returncode == 0, one.stderr
    two = run_cli(["score", "nb201", *TINY, "--workers", "2", "--out", str(tmp_path / "two.csv")], tmp_path)
    assert two.returncode == 0, two.stderr
    r1, r2 = json.loads(one.stdout.splitlines()[-1]), json.loads(two.stdout.splitlines()[-1])
    assert r1["workers"] == 1 and r2["workers"] == 2 and r2["scored"] == 6
    assert r2["spearman"] == pytest.approx(r1["spearman"], abs=1e-4)
    from eproxy_jax.results_table import load_results
    t1, t2 = (load_results(tmp_path / f) for f in ("one.csv", "two.csv"))
    assert len(t2) == 6 and sorted(t1.archs) == sorted(t2.archs)   # every architecture once, in any order
    s1, s2 = dict(zip(t1.archs, t1.score)), dict(zip(t2.archs, t2.score))
    np.testing.assert_allclose([s2[a] for a in t1.archs], [s1[a] for a in t1.archs], rtol=1e-5)
    again = run_cli(["score", "nb201", *TINY, "--workers", "2", "--out", str(tmp_path / "two.csv")], tmp_path)
    r3 = json.loads(again.stdout.splitlines()[-1])
    assert again.returncode == 0 and r3["scored"] == 0 and r3["resumed"] == 6


def test_bad_worker_counts_are_one_line(tmp_path):
    one_line_error(run_cli(["score", "nb201", *TINY, "--workers", "0"], tmp_path), "--workers")
    one_line_error(run_cli(["score", "nb201", *TINY, "--workers", "two"], tmp_path), "--workers")
    n = len(score_workers.usable_cores()) + 1
    one_line_error(run_cli(["score", "nb201", *TINY, "--workers", str(n), "--out", str(tmp_path / "r.csv")],
                           tmp_path), f"--workers {n}: this process may use")


def test_resolve_workers():
    cores = len(score_workers.usable_cores())
    assert score_workers.resolve_workers(1, 10, "gpu") == 1            # one process: nothing to check
    assert score_workers.resolve_workers("auto", 100, "cpu") == cores
    assert score_workers.resolve_workers("auto", 1, "cpu") == 1        # never more workers than architectures
    with pytest.raises(UsageError, match="for CPU runs"):
        score_workers.resolve_workers(2, 10, "gpu")
    with pytest.raises(UsageError, match="may use"):
        score_workers.resolve_workers(cores + 1, 10, "cpu")
    with pytest.raises(UsageError, match="leave out --devices"):
        score_workers.resolve_workers(2, 10, "cpu", devices=2)
    assert score_workers.resolve_workers(1, 10, "cpu", devices=2) == 1


def test_split_deals_every_bucket_evenly():
    buckets = np.array([3, 1, 1, 2, 1, 2, 3, 1, 2, 5])
    parts = score_workers.split(buckets, 2)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))   # every position once
    for b in (1, 2, 3):
        counts = [int((buckets[p] == b).sum()) for p in parts]
        assert max(counts) - min(counts) <= 1, (b, counts)


def test_a_failing_worker_is_one_error_after_its_finished_chunks(tmp_path, monkeypatch):
    """The worker protocol with a stand-in worker: one chunk, then a crash."""
    (tmp_path / "fake_worker.py").write_text(textwrap.dedent("""
        import json, sys
        print(json.dumps({"compiling": [1, 1, 2]}), flush=True)
        print("a library's stray line", flush=True)
        print(json.dumps({"chunk": [0, 1], "scores": [[1.5], [float("inf")]]}), flush=True)
        sys.stderr.write("Traceback ...\\nRuntimeError: out of memory\\n")
        sys.exit(3)
    """))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    got, compiles = [], []
    with pytest.raises(score_workers.WorkerError, match="worker 1/1 failed: RuntimeError: out of memory"):
        score_workers.score_in_workers(1, {}, np.zeros((2, 4, 4, 3), np.float32), np.arange(8).reshape(4, 2),
                                       [0, 0, 0, 0], lambda pos, s: got.append((pos.tolist(), s.tolist())),
                                       on_compile=lambda *a: compiles.append(a), module="fake_worker")
    assert got == [([0, 1], [[1.5], [float("inf")]])] and compiles == [(0, 1, 1, 2)]
