"""eproxy_jax.nn.layers: the stages' cell loop (`stage_scan`) computes the same function, with
the same parameter tree, whether it loops or is unrolled."""
import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from eproxy_jax.nn import layers, ops


class _Cell(nn.Module):
    @nn.compact
    def __call__(self, x, scale):
        k = layers.Kernel((3, 3, x.shape[-1], x.shape[-1]), name="conv")()
        bn = layers.BNParams((x.shape[-1],), name="bn")()
        return jax.nn.relu(ops.batch_norm(ops.conv2d(x, k), bn["scale"], bn["bias"])) * scale + x, None


class _Stage(nn.Module):
    length: int = 3

    @nn.compact
    def __call__(self, x):
        y, _ = layers.stage_scan(_Cell, self.length, in_axes=nn.broadcast)(name="stage")(x, 0.5)
        return y


def _loss_and_grad(params, x):
    return jax.jit(jax.value_and_grad(lambda p: jnp.mean(jnp.square(_Stage().apply(p, x)))))(params)


def test_unrolled_stage_computes_the_same_function_with_the_same_parameters():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 6, 6, 3))
    params = _Stage().init(jax.random.PRNGKey(1), x)
    params = jax.tree_util.tree_map(lambda a: a + 0.1 * jax.random.normal(jax.random.PRNGKey(2), a.shape), params)
    chex.assert_shape(params["params"]["stage"]["conv"]["kernel"], (3, 3, 3, 3, 3))   # stacked on axis 0
    got, loops = {}, {}
    for mode in ("loop", "full"):
        with layers.use_scan_unroll(mode):
            assert jax.tree_util.tree_structure(_Stage().init(jax.random.PRNGKey(1), x)) == \
                jax.tree_util.tree_structure(params)
            got[mode] = _loss_and_grad(params, x)
            hlo = jax.jit(lambda p: _Stage().apply(p, x)).lower(params).as_text()
            loops[mode] = hlo.count("while")
    assert loops["loop"] > 0 and loops["full"] == 0        # the switch reaches the program
    chex.assert_trees_all_close(got["loop"], got["full"], rtol=1e-5, atol=1e-6)
    assert layers._scan_unroll[0] == "full"          # the default, restored after the blocks


def test_unknown_unroll_is_refused():
    with pytest.raises(ValueError, match="scan unroll must be one of"):
        with layers.use_scan_unroll("twice"):
            pass
