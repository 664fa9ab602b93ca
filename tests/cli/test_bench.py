"""`eproxy bench`: the per-space timing table, its JSON, resume and errors."""
import json

from eproxy_jax.cli import bench
from conftest import one_line_error as _one_line_error, run_cli as run

TINY = ["--space-option", "channels=4", "--space-option", "cells_per_stage=1", "--space-option", "input_size=16"]


def test_bench_json_resume_and_errors(tmp_path):
    out = tmp_path / "bench.jsonl"
    args = ["bench", "--space", "nb201", "--n", "4", "--chunk", "2", *TINY, "--out", str(out), "--json"]
    r = run(args, tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    (row,) = res["rows"]
    assert row["space"] == "nb201" and row["n"] == 4 and row["chunk"] == 2 and row["programs"] == 1
    assert row["ms_mean"] > 0 and row["ms_median"] > 0 and row["compile_s"] > 0
    assert row["peak_mb"] is None and row["device"].startswith("cpu")     # CPU: memory not measured
    assert res["paper_a6000"]["nb201"] == {"ms": 324, "mb": 1603}
    assert "| nb201 | 4 |" in r.stdout and "not measured (CPU)" in r.stdout
    assert "bench nb201 (1/1)" in r.stderr
    # rerun: the finished space comes from --out, nothing is timed again
    r2 = run(args, tmp_path)
    assert r2.returncode == 0 and "bench nb201" not in r2.stderr
    assert json.loads(r2.stdout.strip().splitlines()[-1])["rows"][0]["ms_mean"] == row["ms_mean"]
    _one_line_error(run(["bench", "--space", "nb999"], tmp_path), "unknown space")
    _one_line_error(run(["bench", "--space", "nds-darts"], tmp_path), "needs the NDS file DARTS.json in --nds-dir")
    _one_line_error(run(["bench", "--n", "0"], tmp_path), "--n must be >= 1")


def test_table_ratio_and_gpu_memory():
    rows = [{"space": "nb201", "n": 256, "ms_mean": 12.96, "ms_median": 12.5, "compile_s": 37.5, "programs": 1,
             "peak_mb": 5120.0},
            {"space": "nb301", "n": 256, "ms_mean": 50.0, "ms_median": 49.0, "compile_s": 80.0, "programs": 1,
             "peak_mb": None},
            {"space": "nds-darts", "error": "no NDS file"}]
    t = bench.table(rows).splitlines()
    assert "| 324 | 1603 | 25.0x |" in t[2] and "5,120" in t[2]       # 324 / 12.96
    assert t[3].endswith("| - | - | - |")                             # no paper figure for nb301
    assert "failed: no NDS file" in t[4]
    assert set(bench.PAPER_A6000) <= set(__import__("spaces").REGISTRY)
    assert "nds-darts" not in bench.default_spaces(None) and "nb201" in bench.default_spaces(None)


def test_sample_encodings_by_bucket():
    """The benchmark draw: seeded, without replacement, ordered by shape bucket; `bucket`
    keeps one program's architectures; spaces without buckets and empty buckets are errors."""
    import numpy as np
    import pytest

    import spaces
    sp = spaces.load_space("nb101", stem_channels=4, cells_per_stack=1, input_size=16)
    encs, total = bench.sample_encodings(sp, 12)
    assert len(encs) == 12 and total == len(sp.load_truth(None)[0]) and len({e.tobytes() for e in encs}) == 12
    b = sp.bucket_of(encs)
    assert (np.diff(b) >= 0).all() and len(set(b.tolist())) > 1
    np.testing.assert_array_equal(bench.sample_encodings(sp, 12)[0], encs)        # seeded
    two, n_two = bench.sample_encodings(sp, 6, bucket=2)
    assert len(two) == 6 and (sp.bucket_of(two) == 2).all()
    assert n_two == (sp.bucket_of(sp.load_truth(None)[0]) == 2).sum() < total   # the bucket's size
    with pytest.raises(spaces.SpaceError, match="no architecture .* in shape bucket 9"):
        bench.sample_encodings(sp, 4, bucket=9)
    with pytest.raises(spaces.SpaceError, match="has no shape buckets"):
        bench.sample_encodings(spaces.load_space("nb201"), 4, bucket=1)
