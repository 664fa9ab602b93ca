"""The proxy score and the batch engine on a tiny NB201."""
import dataclasses
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from eproxy_jax import proxy
from eproxy_jax.engine import Engine
from eproxy_jax.setting import ProxySetting
from conftest import DATA, TINY_SPACE
from ynn import convolutions_in_ynn


def _ctx(space, setting, images, seed=0):
    return proxy.prepare(jax.random.PRNGKey(seed), setting, space.module(), jnp.asarray(images),
                         space.encoding_shape, space.feature_channels, space.target_size)


@pytest.fixture(scope="module")
def ctx(tiny_space, tiny_setting, tiny_images):
    return _ctx(tiny_space, tiny_setting, tiny_images)


@pytest.fixture(scope="module")
def jitted(tiny_space, tiny_images):
    net = tiny_space.module()
    imgs = jnp.asarray(tiny_images)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def score(c, setting, enc, m):
        return proxy.score_one(c, setting, net, imgs, enc, m)

    @jax.jit
    def train(c, setting, enc):
        return proxy.train(c, setting, net, imgs, enc)

    @jax.jit
    def losses(params, c, setting, enc):
        return proxy.branch_losses(params, c, setting, net, imgs, enc)

    return score, train, losses


def test_context_shapes(ctx, tiny_space, tiny_setting, tiny_images):
    t = tiny_space.target_size
    assert len(ctx.targets) == tiny_setting.branches
    for b in range(tiny_setting.branches):
        chex.assert_shape(ctx.targets[b], (16, t, t, tiny_setting.c_last[b]))
        chex.assert_shape(ctx.barrier[b]["kernel"], (3, 3, tiny_setting.c_out[b], tiny_setting.c_last[b]))
        chex.assert_shape(ctx.heads0[b]["conv"]["kernel"], (1, 1, tiny_space.feature_channels[b], tiny_setting.c_out[b]))
    feats = tiny_space.module().apply({"params": ctx.net0}, jnp.asarray(tiny_images), jnp.zeros(6, jnp.int32))
    assert [f.shape for f in feats] == [(16, t, t, c) for c in tiny_space.feature_channels]


def test_no_retrace_across_architectures_and_deterministic(jitted, ctx, tiny_setting, sample_encodings):
    score = jitted[0]
    a = [float(score(ctx, tiny_setting, e, 0.0)) for e in sample_encodings]
    b = [float(score(ctx, tiny_setting, e, 0.0)) for e in sample_encodings]  # same program, same numbers
    assert a == b
    assert a[2] == np.inf         # the all-`none` cell ignores its input: ranked last
    live = a[:2] + a[3:]
    assert np.all(np.isfinite(live))
    assert len(set(live)) == len(live)  # different architectures, different scores


def test_value_genes_reuse_the_program(jitted, ctx, tiny_setting, sample_encodings):
    score = jitted[0]
    other = ProxySetting.from_dict({"c_out": [8, 8, 8], "c_last": [8, 8, 8], "lr": 0.5, "alpha": 0.3,
                                    "level": [2.0, 1.0, 0.5], "init": "kaiming_normal"})
    assert other.shape_key == tiny_setting.shape_key
    base = float(score(ctx, other, sample_encodings[0], 0.0))
    with_macs = float(score(ctx, other, sample_encodings[0], 0.5))
    np.testing.assert_allclose(with_macs, base * (1 - 0.3 * 0.5), rtol=1e-6)


def test_seed_changes_score(tiny_space, tiny_setting, tiny_images, jitted, ctx, sample_encodings):
    score = jitted[0]
    ctx1 = _ctx(tiny_space, tiny_setting, tiny_images, seed=1)
    assert float(score(ctx, tiny_setting, sample_encodings[0], 0.0)) != float(score(ctx1, tiny_setting, sample_encodings[0], 0.0))


def test_input_independent():
    rng = np.random.default_rng(0)
    live = jnp.asarray(rng.standard_normal((4, 3, 3, 2)), jnp.float32)
    const = jnp.broadcast_to(jnp.asarray(rng.standard_normal((1, 3, 3, 2)), jnp.float32), (4, 3, 3, 2))
    assert bool(proxy.input_independent(jnp.zeros((4, 3, 3, 2))))
    assert bool(proxy.input_independent(const))
    assert bool(proxy.input_independent(const * (1 + 1e-7)))        # rounding-level spread
    assert not bool(proxy.input_independent(live))
    assert not bool(proxy.input_independent(const.at[2, 1, 1, 0].add(0.01)))   # one pixel of one image differs


def test_dead_networks_rank_last(jitted, ctx, tiny_setting, sample_encodings):
    """Cells with no route from the input to the output (every path through `none`) score
    +inf by default and the constant predictor's finite loss with dead_last off; live cells
    score the same either way, and the flag is data (no new program)."""
    score = jitted[0]
    keep = ProxySetting.from_dict({**tiny_setting.to_dict(), "dead_last": False})
    assert keep.shape_key == tiny_setting.shape_key and tiny_setting.to_dict()["dead_last"] is True
    dead = [jnp.asarray(e, jnp.int32) for e in ([3, 3, 3, 0, 0, 0], [0, 0, 3, 0, 3, 3], [0, 3, 0, 0, 1, 0])]
    for e in dead:
        assert float(score(ctx, tiny_setting, e, 0.0)) == np.inf
    kept = [float(score(ctx, keep, e, 0.0)) for e in dead]
    assert np.all(np.isfinite(kept)) and kept[0] == kept[1] == kept[2]   # all the same constant predictor
    for e in sample_encodings[[0, 1, 3]]:
        assert float(score(ctx, tiny_setting, e, 0.0)) == float(score(ctx, keep, e, 0.0)) < np.inf
    assert float(score(ctx, tiny_setting, sample_encodings[2], 0.0)) == np.inf       # all `none`
    # +/-inf means dead only: a score that overflows (here through the MACs factor) is NaN
    # (diverged), never +/-inf
    wild = ProxySetting.from_dict({**tiny_setting.to_dict(), "alpha": -10.0})
    blown = [float(score(ctx, wild, e, 3e38)) for e in sample_encodings]
    assert np.isnan(blown[:2] + blown[3:]).all() and blown[2] == np.inf, blown


def test_training_lowers_loss_and_barrier_stays_frozen(jitted, ctx, tiny_setting, sample_encodings):
    score, train, losses = jitted
    enc = sample_encodings[0]
    params, history = train(ctx, tiny_setting, enc)
    chex.assert_shape(history, (tiny_setting.steps - 1, tiny_setting.branches))
    assert float(history[-1].sum()) < float(history[0].sum())
    # the trained tree is candidate + heads only: the barrier is never an optimiser leaf
    assert set(params) == {"net", "heads"}
    chex.assert_trees_all_equal_structs(params, {"net": ctx.net0, "heads": ctx.heads0})
    moved = jax.tree_util.tree_map(lambda a, b: float(jnp.max(jnp.abs(a - b))), params["heads"], ctx.heads0)
    assert max(jax.tree_util.tree_leaves(moved)) > 0
    # the score is sum_i MSE_i / 2**i of the step-10 forward, through the ORIGINAL barrier
    final = losses(params, ctx, tiny_setting, enc)
    s = float(score(ctx, tiny_setting, enc, 0.0))
    np.testing.assert_allclose(s, float(final[0] + final[1] / 2 + final[2] / 4), rtol=1e-5)
    # and the barrier matters: a different barrier gives a different score
    other = ctx.replace(barrier=jax.tree_util.tree_map(lambda x: x * 1.5, ctx.barrier))
    assert float(score(other, tiny_setting, enc, 0.0)) != pytest.approx(s, rel=1e-4)


def test_optimizer_matches_pytorch_sgd():
    """optax chain == torch.optim.SGD(lr, momentum, weight_decay) with decay on kernels only
    (a 2-D BN scale, as NB101 stacks them, takes none)."""
    s = ProxySetting.from_dict({"lr": 0.7, "momentum": 0.9, "weight_decay": 0.1})
    tx = proxy.optimizer(s)
    p = {"w": {"kernel": jnp.full((2, 2), 2.0), "bias": jnp.full((2,), 2.0)}, "bn": {"scale": jnp.full((2, 2), 2.0)}}
    g = {"w": {"kernel": jnp.full((2, 2), 0.5), "bias": jnp.full((2,), 0.5)}, "bn": {"scale": jnp.full((2, 2), 0.5)}}
    st = tx.init(p)
    buf_w = buf_b = 0.0
    pw = pb = 2.0
    for _ in range(3):
        upd, st = tx.update(g, st, p)
        p = optax.apply_updates(p, upd)
        buf_w = 0.9 * buf_w + (0.5 + 0.1 * pw)
        buf_b = 0.9 * buf_b + 0.5
        pw, pb = pw - 0.7 * buf_w, pb - 0.7 * buf_b
    np.testing.assert_allclose(p["w"]["kernel"], pw, rtol=1e-5)
    np.testing.assert_allclose(p["w"]["bias"], pb, rtol=1e-5)
    np.testing.assert_allclose(p["bn"]["scale"], pb, rtol=1e-5)


@pytest.mark.slow
def test_engine_chunking_vmap_and_seeds_agree(tiny_space, tiny_setting, tiny_images, jitted, ctx, sample_encodings):
    """lax.map over archs (switch runs one op) == vmap over archs (select over all ops);
    padding of the last chunk is invisible; seed 0 of a 2-seed run == the 1-seed run."""
    score = jitted[0]
    ref = np.array([float(score(ctx, tiny_setting, e, 0.0)) for e in sample_encodings[:3]])
    eng = Engine(tiny_space, tiny_setting, [0, 1], tiny_images, chunk=2, arch_vmap=2, seed_batching="vmap")
    out = eng.score(sample_encodings[:3])
    chex.assert_shape(out, (3, 2))
    # different conv algorithms (grouped under vmap) differ in float32 rounding, which ten
    # steps at lr 1.0 amplify to ~1e-3 relative; a wrong op selection differs by >5%
    np.testing.assert_allclose(out[:, 0], ref, rtol=3e-3)
    assert not np.allclose(out[:, 0], out[:, 1])
    eng_map = Engine(tiny_space, tiny_setting, [1], tiny_images, chunk=4, arch_vmap=1, seed_batching="map")
    np.testing.assert_allclose(eng_map.score(sample_encodings[:3])[:, 0], out[:, 1], rtol=3e-3)


@pytest.mark.slow
def test_engine_im2col_convs_agree(tiny_space, tiny_setting, tiny_images, jitted, ctx, sample_encodings):
    """The GPU path (architectures vmapped, convolutions as patch matmuls) scores as the
    per-architecture path does."""
    score = jitted[0]
    ref = np.array([float(score(ctx, tiny_setting, e, 0.0)) for e in sample_encodings[:2]])
    eng = Engine(tiny_space, tiny_setting, [0], tiny_images, chunk=2, arch_vmap=2, conv_impl="im2col")
    np.testing.assert_allclose(eng.score(sample_encodings[:2])[:, 0], ref, rtol=3e-3)


def test_engine_programs_run_cpu_convolutions_in_xla(tiny_setting, tiny_images):
    """Scoring version 6: on a CPU the engine compiles with `cpu_convs='xla'`
    (`Lowering.cpu_convs`'s default), so YNNPACK runs no convolution of a scoring program."""
    if jax.default_backend() != "cpu":
        pytest.skip("a CPU compile option")
    from spaces import load_space
    space = load_space("nb201", **{**TINY_SPACE, "channels": 32})   # YNNPACK takes convs of >= 32 channels
    engines = [Engine(space, tiny_setting, [0], tiny_images, chunk=1) for _ in range(2)]
    assert engines[0].lowering.cpu_convs == "xla"
    engines[1].lowering = dataclasses.replace(engines[1].lowering, cpu_convs="ynn")
    own, ynn = (e.compile().as_text() for e in engines)
    if not convolutions_in_ynn(ynn):
        pytest.skip("this XLA:CPU puts no convolution in YNNPACK (the default has nothing to take)")
    assert convolutions_in_ynn(own) == 0 and "convolution(" in own


def test_engine_respects_a_disabled_cache():
    import jax

    from eproxy_jax import engine

    before = jax.config.jax_compilation_cache_dir
    try:
        assert engine.enable_compilation_cache("off") is None
        engine.ensure_compilation_cache()   # what every Engine does first
        assert jax.config.jax_compilation_cache_dir is None
    finally:
        engine._cache_choice[0] = None
        jax.config.update("jax_compilation_cache_dir", before)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="memory maps are counted on Linux")
@pytest.mark.slow
def test_release_programs_frees_the_memory_maps_of_a_dropped_engine(tiny_space, tiny_setting, tiny_images,
                                                                    sample_encodings):
    """A long job compiles program after program; on the CPU each keeps memory maps, capped per
    process (vm.max_map_count). A dropped engine's program gives its maps back on release."""
    from eproxy_jax.engine import release_programs

    def maps():
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)

    release_programs()
    before = maps()
    eng = Engine(tiny_space, tiny_setting, [0], tiny_images, chunk=2)   # compiles (or reads) its own program
    eng.score(sample_encodings[:2])
    grown = maps() - before
    assert grown > 20, grown   # the program's machine code, mapped
    del eng
    release_programs()
    assert maps() - before < grown / 2, (before, grown, maps())


NDS_DIR = str(DATA / "nds")
DECAY_SPACES = {   # tiny options; each space's own parameter names
    "nb201": ({"channels": 4, "cells_per_stage": 1, "input_size": 16}, None),
    "nb101": ({"input_size": 16}, None),
    "nb301": ({"input_size": 16}, None),
    "nds-darts": ({"input_size": 16, "max_programs": 1}, os.path.join(NDS_DIR, "DARTS.json")),
    "nds-resnet": ({"input_size": 16, "max_programs": 1}, os.path.join(NDS_DIR, "ResNet.json")),
    "transnas-micro": ({"base": 8, "input_size": 16, "target_size": 4}, None),
    "transnas-macro": ({"base": 4, "input_size": 16, "target_size": 4, "max_programs": 1}, None),
    "nbmr": ({"input_size": 16, "target_size": 4, "max_programs": 1}, None),
}


@pytest.mark.parametrize("name", sorted(DECAY_SPACES))
def test_weight_decay_on_every_kernel_and_no_bn_or_bias(name):
    """In every space, whatever the leaf's ndim (NB101 and the masked spaces stack BN
    parameters per slot): conv/dense kernels (HWIO, ndim >= 4 with any stacking) decay, BN
    scales and biases and conv biases (ndim <= 3) never do."""
    from spaces import load_space
    options, truth = DECAY_SPACES[name]
    sp = load_space(name, **options)
    if sp.module_fits_all:
        net = sp.module()
    else:
        encs = sp.load_truth(path=truth)[0][:1]
        net = sp.module(int(np.asarray(sp.bucket_of(encs))[0]))
    shapes = proxy.net_param_shapes(net, jnp.zeros((2, sp.input_size, sp.input_size, 3)), sp.encoding_shape)
    leaves = jax.tree_util.tree_flatten_with_path(shapes)[0]
    mask = jax.tree_util.tree_leaves(proxy.decay_mask(shapes))
    assert len(mask) == len(leaves)
    stacked_bn = 0
    for (path, leaf), decays in zip(leaves, mask):
        where = jax.tree_util.keystr(path)
        if leaf.ndim >= 4:
            assert decays, f"{name}: kernel {where} takes no weight decay"
        else:
            assert path[-1].key in ("scale", "bias") and not decays, f"{name}: {where} decays"
            stacked_bn += leaf.ndim > 1
    assert any(mask) and not all(mask)
    if name in ("nb101", "nbmr", "nds-darts", "transnas-micro"):
        assert stacked_bn > 0   # what the old rule (decay every ndim > 1 leaf) got wrong


def test_weight_decay_on_head_kernels_only(ctx):
    for head, decays in zip(ctx.heads0, proxy.decay_mask(ctx.heads0)):
        assert decays == {"conv": {"kernel": True, "bias": False}, "bn": {"scale": False, "bias": False}}
