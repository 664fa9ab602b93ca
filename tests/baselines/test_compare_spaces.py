"""`eproxy compare` with the peer proxies on the spaces without a hand-built classifier
(the generic classifier, `eproxy_jax/baselines/generic.py`): one run per space at the tiny
sizes of that space's own tests, `params,flops` (one compiled counting program; nb101 adds
synflow). COMPILE COST: each test compiles one or two small float64 programs (a few minutes
on a loaded 2-core CPU in all).

Checks that can fail: NB101's counts (analytic and counted on the network) against hand counts, NB301's counted parameters against
its analytic `param_count`, TransNAS micro's count ordering (skip < conv1x1 < conv3x3) as a
truth whose Spearman must be +1, and everywhere the reported Spearman recomputed from
scores.csv and flops = the space's MACs + real deepest channels x classes."""
import csv
import json

import jax.numpy as jnp
import numpy as np
from scipy import stats

from conftest import CACHE
from eproxy_jax import cli
from spaces import load_space
from spaces.base import arch_from_text


def compare(tmp_path, capsys, space, options, extra, proxies="params,flops"):
    opts = [x for k, v in options.items() for x in ("--space-option", f"{k}={v}")]
    out = tmp_path / "cmp"
    capsys.readouterr()
    rc = cli.main(["compare", space, "--proxies", proxies, "--chunk", "3", *opts, *extra,
                   "--out", str(out), "--json", "--quiet", "--cache-dir", str(CACHE)])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    sp = load_space(space, **options)
    encs = np.stack([sp.parse(arch_from_text(r["arch"])) for r in rows])
    vals = {p: np.array([float(r[p]) for r in rows]) for p in res["proxies"]}
    truth = np.array([float(r["truth"]) for r in rows])
    for p, v in vals.items():
        assert np.isfinite(v).all(), p
        if res["proxies"][p]["spearman"] is not None:   # higher = better for every peer
            assert np.isclose(res["proxies"][p]["spearman"], stats.spearmanr(v, truth).statistic, atol=1e-4), p
    head = vals["flops"] - sp.macs(encs)   # the linear layer: real deepest channels x 10 classes
    assert (head > 0).all() and np.allclose(head % 10, 0), head
    return res, vals, sp, encs


NB101 = {"stem_channels": 4, "stacks": 1, "cells_per_stack": 1, "input_size": 8}


def test_nb101_counts_match_hand_counts(tmp_path, capsys):
    e = [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    archs = [[e, ["input", "conv3x3-bn-relu", "output"]], [e, ["input", "conv1x1-bn-relu", "output"]],
             [e, ["input", "maxpool3x3", "output"]]]
    # stem 3x3 3->4 + BN: 116; the input's 1x1 projection 4->4 + BN: 24; head 4x10 + 10: 50;
    # the vertex op: conv3x3 4->4 + BN 152, conv1x1 + BN 24, maxpool 0
    hand = [116 + 24 + 152 + 50, 116 + 24 + 24 + 50, 116 + 24 + 50]
    (tmp_path / "t.json").write_text(json.dumps([[a, float(h)] for a, h in zip(archs, hand)]))
    res, vals, _, _ = compare(tmp_path, capsys, "nb101", NB101, ["--truth", str(tmp_path / "t.json")],
                              "params,flops,synflow")
    assert vals["params"].tolist() == hand   # the space's analytic count
    assert res["proxies"]["params"]["spearman"] == 1.0
    # the generic count on the network (the program flops ran: a persistent-cache hit) agrees
    from eproxy_jax.baselines.runner import BaselineEngine
    sp = load_space("nb101", **NB101)
    eng = BaselineEngine(sp, ["params"], np.zeros((1, 8, 8, 3), np.float32), chunk=3)
    assert eng._run("count", np.stack([sp.parse(a) for a in archs]))["params"].tolist() == hand


def test_transnas_micro_count_order(tmp_path, capsys):
    archs = ["64-41414-1_11_111", "64-41414-2_22_222", "64-41414-3_33_333"]   # all skip / conv1x1 / conv3x3
    (tmp_path / "t.json").write_text(json.dumps([[a, float(i)] for i, a in enumerate(archs)]))
    res, vals, _, _ = compare(tmp_path, capsys, "transnas-micro", {"base": 4, "input_size": 16, "target_size": 4},
                              ["--truth", str(tmp_path / "t.json"), "--dataset", "order"])
    assert res["proxies"]["params"]["spearman"] == 1.0 and res["proxies"]["flops"]["spearman"] == 1.0
    assert vals["params"][0] > 0


def test_transnas_macro(tmp_path, capsys):
    res, vals, _, _ = compare(tmp_path, capsys, "transnas-macro", {"base": 4, "input_size": 16, "max_programs": 1},
                              ["--limit", "3"])
    assert res["n"] == 3 and (vals["params"] > 0).all()


def test_nbmr_last_channel_count(tmp_path, capsys):
    from conftest import NBMR_RECORDS as RECORDS
    narrow = dict(RECORDS[0], last_channel=4)   # last_channel 8 -> 4
    (tmp_path / "t.json").write_text(json.dumps([[RECORDS[0], 1.0], [RECORDS[1], 2.0], [narrow, 0.0]]))
    res, vals, _, _ = compare(tmp_path, capsys, "nbmr", {"modules": 6, "max_programs": 1, "input_size": 16,
                                                         "target_size": 4}, ["--truth", str(tmp_path / "t.json")])
    # 4 fewer channels of the transform layer: its 1x1 conv from the last module's 4 + 8 + 6
    # channels, its BN (2) and the linear layer's 10 weights each
    assert vals["params"][0] - vals["params"][2] == 4 * (18 + 2 + 10)
    assert res["n"] == 3 and (vals["params"] > 0).all()


def test_nb301_counted_params_equal_the_analytic_count(tmp_path, capsys):
    from eproxy_jax.baselines.runner import BaselineEngine
    opts = {"width": 4, "depth": 3, "input_size": 16}
    res, vals, sp, encs = compare(tmp_path, capsys, "nb301", opts, ["--limit", "3"])
    np.testing.assert_array_equal(vals["params"], sp.param_count(encs, 10))   # the space's own count
    # the generic count (the program flops ran: a persistent-cache hit) agrees with the analytic one
    eng = BaselineEngine(sp, ["params"], np.zeros((1, 16, 16, 3), np.float32), chunk=3)
    np.testing.assert_array_equal(eng._run("count", encs)["params"], sp.param_count(encs, 10))


def _bn_branch(x):   # module-level: lax.switch keeps its trace by identity
    from eproxy_jax.nn import ops
    return ops.batch_norm(x, jnp.ones(x.shape[-1]), jnp.zeros(x.shape[-1]))


def test_bn_mode_is_not_served_a_stale_trace():
    """A branch traced in train mode first, then under `use_bn_mode("affine")`: the second
    trace must not reuse the first (the mode change clears JAX's caches)."""
    import jax
    from jax import lax

    from eproxy_jax.nn import ops
    x = jnp.arange(8.0).reshape(2, 2, 2, 1)

    def f(x):
        return lax.switch(0, [_bn_branch, lambda x: x], x)

    trained = jax.jit(f)(x)
    assert abs(float(trained.mean())) < 1e-5          # normalised
    with ops.use_bn_mode("affine"):
        np.testing.assert_allclose(jax.jit(f)(x), x)    # identity at scale 1, bias 0
    np.testing.assert_allclose(jax.jit(f)(x), trained)
