"""`eproxy search`: the pure ask/tell evolution over a pool, and the CLI contract."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import TINY_CLI
from eproxy_jax import search
from conftest import one_line_error as _one_line_error, run_cli as run

CONV3 = 3  # nb201 op id of nor_conv_3x3


@pytest.fixture(scope="module")
def pool():
    from spaces import load_space
    return jnp.asarray(load_space("nb201").all_encodings())


def _run(pool, fitness_fn, budget, seed, random_only=False, population=16, sample=4, batch=8):
    state = search.init(pool.shape[0], population, sample)
    key = jax.random.PRNGKey(seed)
    asked = []
    while int(state.told) < budget:
        key, k = jax.random.split(key)
        idx = search.ask(k, state, pool, n=batch, random_only=random_only)
        asked.append((np.asarray(idx), np.asarray(state.members), int(state.told)))
        state = search.tell(state, idx, fitness_fn(pool[jnp.maximum(idx, 0)]))
    return state, asked


def count_conv3(e):
    return jnp.sum(e == CONV3, axis=1).astype(jnp.float32)


def test_ask_gives_unseen_distinct_children_one_op_from_a_member(pool):
    state, asked = _run(pool, count_conv3, budget=64, seed=0)
    flat = np.concatenate([a for a, _, _ in asked])
    assert len(set(flat.tolist())) == len(flat) == 64             # every architecture evaluated once
    assert int(state.told) == 64 and int(state.seen.sum()) == 64
    enc = np.asarray(pool)
    for idx, members, told in asked:
        if told < 16:
            continue                                                # the random phase
        for i in idx:                                               # a child differs from some member in one op
            assert (enc[members] != enc[i]).sum(1).min() == 1


def test_evolution_beats_random_on_a_synthetic_fitness(pool):
    # fitness = number of conv3x3 edges; one cell of 15,625 has all six
    evo = [float(_run(pool, count_conv3, 160, s)[0].best_fitness) for s in range(3)]
    rnd = [float(_run(pool, count_conv3, 160, s, random_only=True)[0].best_fitness) for s in range(3)]
    assert evo == [6.0, 6.0, 6.0], evo
    assert max(rnd) < 6.0, rnd
    best = _run(pool, count_conv3, 160, 0)[0].best
    assert np.asarray(pool)[int(best)].tolist() == [CONV3] * 6


def test_exhausted_pool_and_nan_fitness(pool):
    small = pool[:5]
    state = search.init(5, 4, 2)
    idx = search.ask(jax.random.PRNGKey(0), state, small, n=8)
    got = np.asarray(idx)
    assert sorted(got[got >= 0].tolist()) == [0, 1, 2, 3, 4] and (got < 0).sum() == 3
    fit = jnp.where(idx == 2, 5.0, jnp.where(idx == 3, jnp.nan, 1.0))
    state = search.tell(state, idx, fit)
    assert int(state.told) == 5 and int(state.best) == 2
    chex.assert_trees_all_close(state.best_fitness, jnp.float32(5.0))
    assert np.isneginf(np.asarray(state.fitness)).sum() == 1           # the NaN one ranks worst
    assert (np.asarray(search.ask(jax.random.PRNGKey(1), state, small, n=8)) == -1).all()


def test_ask_and_tell_compile_once(pool):
    inner_ask, inner_tell = search.ask.__wrapped__, search.tell.__wrapped__
    ask = jax.jit(chex.assert_max_traces(n=1)(lambda k, s: inner_ask(k, s, pool, n=8)))
    tell = jax.jit(chex.assert_max_traces(n=1)(inner_tell))
    state = search.init(pool.shape[0], 16, 4)
    key = jax.random.PRNGKey(3)
    for _ in range(5):
        key, k = jax.random.split(key)
        idx = ask(k, state)
        state = tell(state, idx, count_conv3(pool[idx]))
    assert int(state.told) == 40


def test_cli_search_json_resume_and_errors(tmp_path):
    out = tmp_path / "scores.csv"
    args = ["search", "nb201", "--budget", "12", "--population", "8", "--sample", "3", "--batch", "4",
            "--seed", "1", "--top", "3", "--out", str(out), "--json", *TINY_CLI]
    r = run(args, tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "nb201" and res["dataset"] == "cifar10" and res["strategy"] == "evolution"
    assert res["evaluated"] == 12 and res["scored"] == 12 and res["reused"] == 0 and res["pool"] == 15625
    assert res["stopped"] == "budget" and res["programs"] == 1
    assert len(res["best"]) == 3
    scores = [b["score"] for b in res["best"]]
    assert scores == sorted(scores)
    for b in res["best"]:
        assert 0.0 <= b["percentile"] <= 100.0 and 0.0 < b["truth"] <= 100.0
    assert res["best_truth"] == res["best"][0]["truth"]
    # the top-end metrics of the 12 evaluated, percentiles in the pool's truth: the best-scored
    # tie group (cells computing the same function score the same) at its mean percentile
    tied = [b["percentile"] for b in res["best"] if b["score"] == res["best"][0]["score"]]
    if len(tied) < len(res["best"]):   # the whole tie group is listed
        assert abs(res["top1_percentile"] - sum(tied) / len(tied)) < 0.01
    assert "search nb201 [evolution]: 12/12 evaluated" in r.stderr      # progress
    rows = [ln for ln in out.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(rows) == 1 + 12

    # the same command again: the same search replayed from the stored scores, nothing rescored
    r2 = run(args, tmp_path)
    res2 = json.loads(r2.stdout.strip().splitlines()[-1])
    assert res2["scored"] == 0 and res2["reused"] == 12 and res2["best"] == res["best"]

    # a budget below the population: random sampling, no error; random search shares the scores
    r3 = run(["search", "nb201", "--budget", "5", "--population", "8", "--sample", "3", "--strategy", "random",
              "--out", str(out), "--json", "--quiet", *TINY_CLI], tmp_path)
    assert r3.returncode == 0, r3.stderr
    res3 = json.loads(r3.stdout.strip().splitlines()[-1])
    assert res3["evaluated"] == 5 and res3["strategy"] == "random" and r3.stderr.strip() == ""

    for bad, needle in ((["--sample", "9", "--population", "8"], "must not exceed --population"),
                        (["--seconds", "-1"], "--seconds must be > 0"),
                        (["--budget", "0"], "--budget must be >= 1"),
                        (["--archs", str(tmp_path / "none.json")], "not found")):
        _one_line_error(run(["search", "nb201", *bad], tmp_path), needle)
