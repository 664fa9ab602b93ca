"""The 3x3 convolution by Winograd's F(4x4, 3x3) and F(2x2, 3x3) (eproxy_jax.nn.winograd): the
function XLA's convolution computes, values and both gradients, jitted, vmapped and inside a
scan; which tile each map takes; and when `ops.conv2d(..., winograd=True)` takes it."""
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from eproxy_jax.nn import ops, winograd


def _direct(x, k):
    return lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision=lax.Precision.HIGHEST)


def _data(n, h, w, ci, co, seed=0):
    k = jax.random.split(jax.random.PRNGKey(seed), 3)
    return (jax.random.normal(k[0], (n, h, w, ci)), jax.random.normal(k[1], (3, 3, ci, co)),
            jax.random.normal(k[2], (n, h, w, co)))


@pytest.mark.parametrize("shape,tile", [((2, 4, 4, 3, 5), 2), ((1, 6, 8, 4, 2), 2), ((3, 2, 2, 1, 1), 2),
                                        ((2, 4, 4, 3, 5), 4), ((1, 8, 12, 4, 2), 4), ((1, 4, 8, 6, 1), 4)])
def test_conv3x3_matches_the_direct_convolution(shape, tile):
    x, k, r = _data(*shape)
    conv = functools.partial(winograd.conv3x3, tile=tile)
    atol = {2: 1e-5, 4: 5e-5}[tile]          # F(4x4, 3x3)'s transforms round about 10x more
    chex.assert_trees_all_close(jax.jit(conv)(x, k), _direct(x, k), rtol=1e-5, atol=atol)
    loss = lambda f: lambda x, k: jnp.sum(f(x, k) * r)   # noqa: E731
    got = jax.jit(jax.grad(loss(conv), (0, 1)))(x, k)
    chex.assert_trees_all_close(got, jax.grad(loss(_direct), (0, 1))(x, k), rtol=1e-5, atol=1e-4)
    chex.assert_shape(got, (x.shape, k.shape))


def test_tile_side_and_bad_tiles():
    """F(4x4, 3x3) where both sides divide by 4, else F(2x2, 3x3); a tile that does not divide
    the map, or has no table, is refused."""
    assert [winograd.tile_side(h, w) for h, w in ((16, 16), (32, 16), (18, 18), (16, 18), (8, 4))] == [4, 4, 2, 2, 4]
    x, k, _ = _data(1, 6, 6, 2, 2)
    assert winograd.conv3x3(x, k).shape == x.shape                    # 6 = 2 * 3: F(2x2)
    for tile in (4, 3):
        with pytest.raises(ValueError, match="no F"):
            winograd.conv3x3(x, k, tile=tile)


@pytest.mark.parametrize("width", [4, 6])
def test_conv3x3_under_vmap_and_scan(width):
    """A kernel per architecture (vmap) and ten SGD steps (scan): the direct convolution's
    values and gradients, one trace; F(4x4, 3x3) at width 4, F(2x2, 3x3) at 6."""
    x, k, r = _data(2, 4, width, 3, 3, seed=1)
    ks = jnp.stack([k, 0.5 * k])
    f = lambda conv: jax.vmap(lambda k: jax.grad(lambda x, k: jnp.sum(conv(x, k) * r), (0, 1))(x, k))  # noqa: E731
    chex.assert_trees_all_close(jax.jit(f(winograd.conv3x3))(ks), f(_direct)(ks), rtol=1e-5, atol=1e-4)

    runs = [_train(conv, x + d, k, r) for conv in ("winograd", "direct") for d in (0.0, 1.0)]
    chex.assert_trees_all_close(runs[0], runs[2], rtol=1e-4, atol=1e-4)
    chex.assert_trees_all_close(runs[1], runs[3], rtol=1e-4, atol=1e-4)


@functools.partial(jax.jit, static_argnums=0)
@chex.assert_max_traces(n=4)                 # once per convolution and width, not per call
def _train(conv, x, k, r):
    conv = {"winograd": winograd.conv3x3, "direct": _direct}[conv]

    def step(c, _):
        gx, gk = jax.grad(lambda x, k: jnp.sum(jnp.tanh(conv(x, k)) * r), (0, 1))(*c)
        return (c[0] - 0.01 * gx, c[1] - 0.01 * gk), None
    return lax.scan(step, (x, k), None, length=10)[0]


def test_conv2d_takes_winograd_only_where_it_fits_and_pays():
    """`conv2d(..., winograd=True)`: 3x3, stride and dilation 1, padding 1, even sides, at least
    16x16 (F(4x4, 3x3) at 16x16); otherwise (and without the flag) the usual path, bit for bit."""
    assert winograd.fits((1, 16, 16, 2), (3, 3, 2, 2), 1, 1, 1)
    for args in [((1, 8, 8, 2), (3, 3, 2, 2), 1, 1, 1), ((1, 16, 15, 2), (3, 3, 2, 2), 1, 1, 1),
                 ((1, 16, 16, 2), (1, 1, 2, 2), 1, 0, 1), ((1, 16, 16, 2), (3, 3, 2, 2), 2, 1, 1),
                 ((1, 16, 16, 2), (3, 3, 2, 2), 1, 2, 2), ((1, 16, 16, 2), (5, 5, 2, 2), 1, 2, 1)]:
        assert not winograd.fits(*args), args
    x, k, _ = _data(1, 16, 16, 2, 3)
    conv = jax.jit(ops.conv2d, static_argnames="winograd")
    np.testing.assert_array_equal(conv(x, k, winograd=True), jax.jit(functools.partial(winograd.conv3x3, tile=4))(x, k))
    chex.assert_trees_all_close(conv(x, k, winograd=True), conv(x, k), rtol=1e-5, atol=5e-5)
    small = x[:, :8, :8]
    np.testing.assert_array_equal(conv(small, k, winograd=True), conv(small, k))
    with ops.use_conv_impl("im2col"):        # the vmapped GPU lowering keeps its own form
        np.testing.assert_array_equal(conv(x, k, winograd=True), conv(x, k))
