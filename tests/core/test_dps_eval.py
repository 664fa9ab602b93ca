"""DPS fitness: shape buckets equal the exact-shape build, every gene value gives a valid
proxy, targets are channel-nested, few compiles, resumable runs, and the CLI contract."""
import json
import os
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from conftest import ROOT, TINY_CLI
from eproxy_jax import dps, dps_run, targets
from eproxy_jax.dps_eval import Evaluator, bucket_of, buckets_for_limits
from eproxy_jax.engine import Engine
from eproxy_jax.setting import ProxySetting
from eproxy_jax.setting_spec import SIGNALS, validate

ODD = {"branches": 2, "head_kernel": [1, 3], "barrier_kernel": [3, 1], "c_out": [8, 16], "c_last": [16, 8],
       "signals": [["wave_h", "dot"], ["net", "wave_l"]], "level": [1.5, 0.5], "lr": 0.7, "alpha": 0.2,
       "init": "xavier_normal", "barrier_init": "kaiming_uniform"}


@pytest.mark.slow
def test_bucket_equals_exact_build(tiny_space, tiny_images, sample_encodings):
    """Masked program (kernels 1 and 3 inside 7, channels inside 32, an off branch) == the
    exact-shape engine, on the per-architecture path and on the vmapped im2col path."""
    encs = sample_encodings[:2]
    exact = Engine(tiny_space, ProxySetting.from_dict(ODD), [0], tiny_images, chunk=2).score(encs)[:, 0]
    bucket = ((7, 7, 32, 32),)
    got = Evaluator(tiny_space, encs, tiny_images, seed=0, buckets=bucket, batch=1).scores([ODD])[0]
    # convolutions over zero-padded channels round differently; ten steps at lr ~1 amplify
    # that to ~1e-4 relative, while a wrong mask (a padded channel or tap that counts) is >1%
    np.testing.assert_allclose(got, exact, rtol=2e-3)
    ev_v = Evaluator(tiny_space, encs, tiny_images, seed=0, buckets=bucket, batch=1, arch_vmap=2,
                     conv_impl="im2col")
    np.testing.assert_allclose(ev_v.scores([ODD])[0], exact, rtol=2e-3)


@pytest.mark.slow
def test_per_image_waves_in_a_bucket_equal_the_exact_build(tiny_space, tiny_images, sample_encodings):
    """`per_image_waves` (not a gene) is shared by a DPS run like momentum: a bucket scores
    per-image waves as the exact build does, and a setting that differs from the run's is refused."""
    encs = sample_encodings[:2]
    odd = dict(ODD, per_image_waves="all")
    exact = Engine(tiny_space, ProxySetting.from_dict(odd), [0], tiny_images, chunk=2).score(encs)[:, 0]
    ev = Evaluator(tiny_space, encs, tiny_images, seed=0, buckets=((3, 3, 16, 16),), batch=1,
                   base_setting={"per_image_waves": "all"})
    np.testing.assert_allclose(ev.scores([odd])[0], exact, rtol=2e-3)
    with pytest.raises(ValueError, match="per_image_waves"):
        ev.scores([ODD])


def test_targets_are_channel_nested(tiny_images):
    key = jax.random.PRNGKey(2)
    for name in SIGNALS:
        small = ProxySetting.from_dict({"signals": [name], "c_last": 8})
        big = ProxySetting.from_dict({"signals": [name], "c_last": 24})
        ts = targets.make_targets(key, small, tiny_images, 4)
        tb = targets.make_targets(key, big, tiny_images, 4)
        for a, b in zip(ts, tb):
            np.testing.assert_allclose(b[..., :8], a, rtol=1e-5, atol=1e-6, err_msg=name)


def test_bucket_policy():
    assert buckets_for_limits() == ((3, 3, 128, 128), (7, 7, 512, 512))
    assert buckets_for_limits(16, 3) == ((3, 3, 16, 16),)
    default = validate({})
    assert bucket_of(default) == 0
    assert bucket_of(validate({"c_out": [16, 512, 16]})) == 1
    with pytest.raises(ValueError):
        bucket_of(validate({"barrier_kernel": 9}))


def _genomes_covering_every_value():
    """max-cardinality genomes; gene i takes value j mod its cardinality in genome j, so
    every value of every gene occurs."""
    j = np.arange(int(dps.CARDINALITIES.max()))[:, None]
    return list((j % dps.CARDINALITIES[None, :]).astype(np.int32))


@pytest.mark.slow
def test_every_gene_value_gives_a_valid_proxy(tiny_space, tiny_images, sample_encodings):
    """All values of all genes (channels and kernels capped to 16 / 3 to stay small on a CPU;
    the largest grid values are checked once below)."""
    settings = [dps.decode(g, 3, 16, 3) for g in _genomes_covering_every_value()]
    ev = Evaluator(tiny_space, sample_encodings[:1], tiny_images, buckets=buckets_for_limits(16, 3), batch=16)
    s = ev.scores(settings)
    chex.assert_shape(s, (len(settings), 1))
    assert np.isfinite(s).all()


@pytest.mark.slow
def test_largest_grid_values(tiny_images, sample_encodings):
    """The largest kernel and channel values (7, 512) on the exact-shape path, one branch and
    8 px inputs to stay cheap on a CPU (their bucket is the masked version of this program)."""
    from spaces import load_space
    sp = load_space("nb201", channels=2, cells_per_stage=1, input_size=8)
    big = {"branches": 1, "head_kernel": 7, "barrier_kernel": 7, "c_out": 512, "c_last": 512,
           "signals": [list(SIGNALS)], "level": 2.0, "lr": 1.5, "alpha": 0.5}
    s = Engine(sp, ProxySetting.from_dict(big), [0], tiny_images[:, :8, :8], chunk=1).score(sample_encodings[:1])
    chex.assert_shape(s, (1, 1))
    assert np.isfinite(s).all()


# four NB201 cells with a route from the input to the output (dead cells score +inf, and
# four of them would leave no ranking to fit)
FOUR_LIVE = np.asarray([[3, 3, 3, 3, 3, 3], [2, 1, 4, 3, 0, 1], [4, 0, 2, 1, 3, 0], [1, 3, 0, 2, 4, 2]], np.int32)


def _run(tiny_space, tiny_images, encs, truth, **kw):
    # caps at the paper's size: one bucket, which also holds the default setting
    return dps_run.run(tiny_space, encs, truth, cycles=4, population=2, sample=2, seed=1, images=tiny_images,
                       max_channels=128, max_kernel=3, **kw)


@pytest.mark.slow
def test_dps_run_compiles_per_bucket_not_per_candidate(tiny_space, tiny_images):
    encs = FOUR_LIVE
    truth = np.arange(4.0)
    res = dps_run.run(tiny_space, encs, truth, cycles=8, population=2, sample=2, seed=1, images=tiny_images,
                      max_channels=128, max_kernel=3)
    # init, ask, tell and the one bucket, each compiled or fetched from the persistent cache
    # once, for 8 candidates plus the default setting (a compile per candidate would be >= 9)
    assert res["compiles"] <= 4 and res["cache_hits"] <= 4, res
    fit = [x for x in res["history_fitness"] if x is not None]
    assert len(fit) == 8 and all(np.isfinite(fit))
    assert set(res["setting"]) >= {"lr", "branches", "c_out"}


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result(tiny_space, tiny_images, tmp_path):
    encs = FOUR_LIVE
    truth = np.arange(4.0)
    full = _run(tiny_space, tiny_images, encs, truth, state_path=tmp_path / "a.state", meta={"x": 1})

    def stop(ev):
        raise KeyboardInterrupt

    state = tmp_path / "b.state"
    with pytest.raises(KeyboardInterrupt):
        _run(tiny_space, tiny_images, encs, truth, state_path=state, meta={"x": 1}, progress=stop)
    assert state.exists()
    resumed = _run(tiny_space, tiny_images, encs, truth, state_path=state, meta={"x": 1})
    assert resumed["setting"] == full["setting"]
    assert resumed["history_fitness"] == full["history_fitness"]
    with pytest.raises(ValueError, match="other arguments"):
        _run(tiny_space, tiny_images, encs, truth, state_path=state, meta={"x": 2})


@pytest.mark.slow
def test_a_run_cut_inside_a_batch_keeps_the_settings_already_scored(tiny_space, tiny_images, tmp_path):
    """Scored one setting per evaluator call, the state keeps a partly scored batch: the resumed
    run scores only the rest, and the result equals an uncut run scored in whole batches."""
    encs = FOUR_LIVE
    truth = np.arange(4.0)
    kw = dict(cycles=8, population=4, sample=2, seed=3, images=tiny_images, max_channels=128, max_kernel=3)
    whole = dps_run.run(tiny_space, encs, truth, eval_batch=4, **kw)
    events = []

    def stop_after_two(ev):
        events.append(ev)
        if ev["scored"] == 2:
            raise KeyboardInterrupt

    state = tmp_path / "c.state"
    with pytest.raises(KeyboardInterrupt):
        dps_run.run(tiny_space, encs, truth, eval_batch=1, state_path=state, meta={}, progress=stop_after_two, **kw)
    assert [(e["scored"], e["batch_size"], e["told"]) for e in events] == [(1, 4, 0), (2, 4, 0)]
    events.clear()
    resumed = dps_run.run(tiny_space, encs, truth, eval_batch=1, state_path=state, meta={}, progress=events.append, **kw)
    assert [(e["scored"], e["told"]) for e in events][:2] == [(3, 0), (4, 4)]    # settings 1-2 not rescored
    assert resumed["setting"] == whole["setting"]
    assert resumed["history_fitness"] == whole["history_fitness"]


def cli(args, cwd, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "eproxy_jax", "dps", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args,needle", [
    (["nb999"], "unknown space"),
    (["nb201", "--sample", "5", "--population", "3"], "--sample"),
    (["nb201", "--mutation", "1.5"], "--mutation"),
    (["nb201", "--train-truth", "missing.json"], "not found"),
    (["nb201", "--plot", "curve.svg"], ".png"),
    (["nb201", "--plot", "no/curve.png"], "does not exist"),
    (["nb201", "--out", "no/best.json"], "does not exist"),
    (["nb201", "--out", "."], "is a directory"),
    (["nb201", "--dataset", "mnist"], "unknown dataset"),
    (["nb201", "--train-archs", "2"], "--train-archs"),
])
def test_cli_errors_are_one_line_exit_2(args, needle, tmp_path):
    r = cli(args, tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr


@pytest.mark.slow
def test_cli_json_contract_plot_and_setting_reuse(tmp_path):
    train = tmp_path / "train.json"
    from spaces import load_space
    sp = load_space("nb201")
    encs, acc = sp.load_truth("cifar10")
    train.write_text(json.dumps([[sp.arch_id(e), float(a)] for e, a in zip(encs[:5], acc[:5])]))
    r = cli(["nb201", *TINY_CLI, "--train-truth", str(train), "--eval-archs", "3",
             "--cycles", "2", "--population", "2", "--sample", "2", "--max-channels", "128", "--max-kernel", "3",
             "--out", "best.json", "--plot", "curve.png", "--keep-default", "--json", "--quiet"], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    for k in ("space", "dataset", "best_fitness", "eval_spearman", "default_eval_spearman", "cycles", "compiles",
              "wall_s", "setting", "eval_spearman_top10pct", "default_eval_top10_percentile"):
        assert k in res
    for k in ("eval_top1_percentile", "default_eval_top1_percentile"):   # read in the whole cifar10 table
        assert 100 * 0.5 / len(acc) <= res[k] <= 100 - 100 * 0.5 / len(acc), k
    assert isinstance(res["compiles"], int) and res["eval_archs"] == 3 and res["train_archs"] == 5
    assert 0 < res["search_s"] <= res["wall_s"] and 0 < res["eval_s"] < res["wall_s"]
    assert (tmp_path / "curve.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "best.json").read_text())
    assert saved["setting"] == res["setting"] and saved["fitness"] == res["fitness"]
    # --keep-default: the default where the search found nothing fitting the train archs better
    assert res["keep_default"] is True
    best, default = res["best_fitness"], res["default_fitness"]   # None: undefined (constant scores)
    assert res["kept_default"] == (default is not None and (best is None or best <= default))
    assert res["setting"] == (validate({}, 3) if res["kept_default"] else res["searched_setting"])
    # `eproxy score --setting` takes the DPS output (the CLI's setting loader reads it; scoring
    # with a --setting file is covered in test_cli)
    from eproxy_jax import setting_spec
    assert setting_spec.load(tmp_path / "best.json")["c_out"] == res["setting"]["c_out"]


@pytest.mark.slow
def test_on_other_architectures_of_several_shapes_reuses_programs(tiny_images):
    """`Evaluator.on` keeps each known network shape's chunk size, so its programs run the new
    architectures without a compile, and each architecture gets the score it had."""
    from spaces import load_space
    from eproxy_jax.engine import CompileCounter

    sp = load_space("transnas-macro", base=4, input_size=16, target_size=4, max_programs=1)
    train = np.stack([sp.parse(f"64-{c}-basic") for c in ("1311", "3141", "4111", "2413")])
    assert len(set(sp.bucket_of(train).tolist())) == 2          # one and two stride-2 digits
    small = {"c_out": [8, 8, 8], "c_last": [8, 8, 8]}
    ev = Evaluator(sp, train, tiny_images, buckets=((3, 3, 8, 8),))
    assert len(ev.parts) == 2
    CompileCounter.install()
    want = ev.scores([small])
    perm = [3, 0, 0, 1, 2, 2, 1]                                 # other counts per shape than the train set
    c0 = CompileCounter.compiles + CompileCounter.cache_hits
    got = ev.on(train[perm]).scores([small])
    assert CompileCounter.compiles + CompileCounter.cache_hits == c0
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want[:, perm], rtol=1e-5)


@pytest.mark.slow
def test_score_cache_shares_settings_across_truths_without_changing_results(tiny_space, tiny_images, tmp_path):
    """Two tasks of one space (same train cells, other truth) with one cache file: the second
    run reads the settings both asked (at least the shared random first batch) instead of
    scoring them, and each run's result equals its run without a cache. A cache made in
    another context is never read; given default eval scores are used as they are."""
    encs = FOUR_LIVE
    kw = dict(cycles=4, population=2, sample=2, seed=1, images=tiny_images, max_channels=128, max_kernel=3,
              eval_batch=2)
    t1, t2 = np.arange(4.0), np.asarray([1.0, 0.0, 3.0, 2.0])
    plain = [dps_run.run(tiny_space, encs, t1, encs, t1, **kw), dps_run.run(tiny_space, encs, t2, **kw)]
    cache = tmp_path / "cache.json"
    given = np.asarray([1.0, 2.0, 3.0, 4.0])    # the default's eval scores, given: ranks t1 backwards
    first = dps_run.run(tiny_space, encs, t1, encs, t1, score_cache=cache, cache_context="nb201 tiny",
                        default_eval_scores=given, **kw)
    second = dps_run.run(tiny_space, encs, t2, score_cache=cache, cache_context="nb201 tiny", **kw)
    # (a run can meet its own settings again: a child equal to its parent)
    assert second["settings_from_cache"] >= first["settings_from_cache"] + 3   # the default, the two random ones
    for res, ref in zip((first, second), plain):
        assert res["setting"] == ref["setting"]
        assert res["history_fitness"] == ref["history_fitness"]
        assert res["default_fitness"] == ref["default_fitness"]
    # eval: the best setting scored as without the cache, the default's given scores taken as they are
    assert first["eval_spearman"] == plain[0]["eval_spearman"]
    assert first["default_eval_spearman"] == pytest.approx(-1.0)
    assert plain[0]["default_eval_spearman"] != pytest.approx(-1.0)
    with pytest.raises(ValueError, match="default_eval_scores"):
        dps_run.run(tiny_space, encs, t1, encs, t1, default_eval_scores=given[:3], **kw)
    with pytest.raises(ValueError, match="cache_context"):
        dps_run.run(tiny_space, encs, t1, score_cache=cache, **kw)
    # another context: the same setting gets another key, so nothing of this cache is read
    a = dps_run.ScoreCache(cache, json.dumps({"context": "nb201 tiny"}))
    b = dps_run.ScoreCache(cache, json.dumps({"context": "another space"}))
    assert a.key({"lr": 0.5}) != b.key({"lr": 0.5}) and b.get({"lr": 0.5}) is None


def test_keep_default_returns_the_default_only_where_no_searched_setting_fits_better(tiny_space, tiny_images):
    """`keep_default` (a score is a loss: lower ranks higher): truth ranked as the default setting
    ranks the train cells (default fitness 1, unbeatable) keeps the default, its eval row both
    rows; truth ranked the other way (default fitness -1) returns the search's best."""
    encs = FOUR_LIVE
    d = Evaluator(tiny_space, encs, tiny_images, buckets=buckets_for_limits(128, 3)).scores([{}])[0]
    assert np.isfinite(d).all() and len(set(d.tolist())) == 4
    kept = _run(tiny_space, tiny_images, encs, -d, eval_encs=encs, eval_truth=-d, keep_default=True)
    assert kept["default_fitness"] == pytest.approx(1.0) and kept["kept_default"]
    assert kept["setting"] == validate({}, kept["setting"]["branches"]) and kept["fitness"] == kept["default_fitness"]
    assert kept["searched_setting"] != kept["setting"]
    assert kept["eval_spearman"] == kept["default_eval_spearman"] == pytest.approx(1.0)
    other = _run(tiny_space, tiny_images, encs, d, eval_encs=encs, eval_truth=d, keep_default=True)
    assert other["default_fitness"] == pytest.approx(-1.0) and other["best_fitness"] > -1.0
    assert not other["kept_default"] and other["default_eval_spearman"] == pytest.approx(-1.0)
    assert other["setting"] == other["searched_setting"] and other["fitness"] == other["best_fitness"]
    # eval architectures and truth are the train ones: the eval row is the returned setting's
    assert other["eval_spearman"] == pytest.approx(other["best_fitness"], abs=1e-5)
