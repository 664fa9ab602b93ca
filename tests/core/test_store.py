"""Results file: append, resume, refuse to mix runs, drop a half-written line."""
import math

import pytest

from eproxy_jax.store import ResultStore, StoreError

META = {"space": "nb201", "setting": {"lr": 1.0}, "seeds": [0, 1]}


def test_append_and_resume(tmp_path):
    p = tmp_path / "r.csv"
    s = ResultStore(p, META, [0, 1])
    s.append(["a", "b"], [[1.0, 3.0], [float("nan"), 2.0]], [90.0, None])
    s2 = ResultStore(p, META, [0, 1])
    assert s2.done("a") and s2.done("b") and not s2.done("c")
    mean, per, div = s2.scores(["a", "b"])
    assert mean[0] == 2.0 and math.isnan(mean[1])
    assert per == [[1.0, 3.0], [pytest.approx(float("nan"), nan_ok=True), 2.0]]
    assert div == [False, True]


def test_dead_is_inf_not_diverged(tmp_path):
    """+inf (a network that ignores its input) is kept as the score and is not 'diverged';
    NaN under any seed is diverged even beside +inf."""
    p = tmp_path / "r.csv"
    ResultStore(p, META, [0, 1]).append(["d", "x"], [[math.inf, math.inf], [math.inf, math.nan]])
    mean, per, div = ResultStore(p, META, [0, 1]).scores(["d", "x"])
    assert mean[0] == math.inf and per[0] == [math.inf, math.inf] and div[0] is False
    assert math.isnan(mean[1]) and div[1] is True
    assert "d,inf,inf,inf,0," in p.read_text()


def test_file_and_api_combine_seeds_alike(tmp_path):
    """The results file's mean column and `api.score` use one rule (`store.seed_mean`)."""
    import numpy as np

    from eproxy_jax import api
    from eproxy_jax.store import seed_mean
    assert api.seed_mean is seed_mean
    per = np.array([[1.0, 2.0, 4.0], [math.inf] * 3, [math.nan, 1.0, math.inf], [0.5, math.nan, 1.0]])
    want = [7.0 / 3, math.inf, math.nan, math.nan]
    np.testing.assert_array_equal(seed_mean(per), want)
    p = tmp_path / "r.csv"
    ResultStore(p, META, [0, 1, 2]).append(list("abcd"), per)
    mean, _, div = ResultStore(p, META, [0, 1, 2]).scores(list("abcd"))
    np.testing.assert_array_equal(mean, want)
    assert div == [False, False, True, True]
    before = p.read_text()
    ResultStore(p, META, [0, 1, 2]).append([], [])          # nothing to add: no error, file unchanged
    assert p.read_text() == before


def test_read_results_reads_gzip(tmp_path):
    import gzip

    from eproxy_jax.store import read_results
    p = tmp_path / "r.csv"
    ResultStore(p, META, [0, 1]).append(["a", "b"], [[1.0, 3.0], [2.0, 2.0]], [90.0, 80.0])
    (tmp_path / "r.csv.gz").write_bytes(gzip.compress(p.read_bytes()))
    assert read_results(tmp_path / "r.csv.gz") == read_results(p)
    (tmp_path / "bad.csv.gz").write_bytes(p.read_bytes())   # not gzip
    with pytest.raises(StoreError, match="not an eproxy-jax results file"):
        read_results(tmp_path / "bad.csv.gz")


def test_refuses_other_run(tmp_path):
    p = tmp_path / "r.csv"
    ResultStore(p, META, [0, 1]).append(["a"], [[1.0, 2.0]])
    with pytest.raises(StoreError, match="different run"):
        ResultStore(p, dict(META, setting={"lr": 0.5}), [0, 1])


def test_refuses_foreign_file(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("arch,score\nx,1\n")
    with pytest.raises(StoreError, match="not an eproxy-jax results file"):
        ResultStore(p, META, [0, 1])


def test_half_written_line_is_dropped(tmp_path):
    p = tmp_path / "r.csv"
    ResultStore(p, META, [0, 1]).append(["a", "b"], [[1.0, 2.0], [3.0, 4.0]])
    text = p.read_text()
    p.write_text(text[:-4])  # cut inside the last row, as a kill mid-write would
    s = ResultStore(p, META, [0, 1])
    assert s.done("a") and not s.done("b")
    s.append(["b"], [[3.0, 4.0]])
    assert p.read_text() == text


def test_load_results_reads_columns_and_space(tmp_path):
    """`load_results` gives the analysis scripts the file's columns as arrays and parses its
    architectures with the space named in its meta (MACs as the space computes them)."""
    import numpy as np

    from eproxy_jax.api import load_results
    from eproxy_jax.store import header_text
    from spaces import load_space
    sp = load_space("nb201")
    enc = [sp.parse(r) for r in ([[3], [3, 1], [2, 4, 3]], [[0], [1, 2], [3, 4, 0]], [[1], [1, 1], [1, 1, 1]])]
    ids = [sp.arch_id(e) for e in enc]
    p = tmp_path / "r.csv"
    ResultStore(p, META, [0, 1]).append(ids, [[1.0, 3.0], [math.inf, math.inf], [0.5, 0.5]], [90.0, 10.0, 80.0])
    t = load_results(p)
    assert len(t) == 3 and t.archs == ids and t.setting == {"lr": 1.0} and t.has_truth_column
    np.testing.assert_array_equal(t.score, [2.0, math.inf, 0.5])
    np.testing.assert_array_equal(t.truth, [90.0, 10.0, 80.0])
    np.testing.assert_array_equal(t.macs(), np.asarray(sp.macs(np.stack(enc)), np.float64))
    for a, b in zip(t.encodings, enc):
        np.testing.assert_array_equal(a, b)
    q = tmp_path / "q.csv"                         # a row without truth: no truth array
    ResultStore(q, META, [0, 1]).append(ids[:2], [[1.0, 1.0], [2.0, 2.0]], [90.0, None])
    t = load_results(q)
    assert t.truth is None and t.has_truth_column
    e = tmp_path / "e.csv"                         # no rows at all (a header-only file)
    e.write_text(header_text(META, ResultStore(e, META, [0, 1]).columns))
    assert len(load_results(e)) == 0 and load_results(e).macs().shape == (0,)
