"""The 3x3 convolution by Winograd's F(2x2, 3x3) (eproxy_jax.nn.winograd): the function XLA's
convolution computes, values and both gradients, jitted, vmapped and inside a scan; and when
`ops.conv2d(..., winograd=True)` takes it."""
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


@pytest.mark.parametrize("shape", [(2, 4, 4, 3, 5), (1, 6, 8, 4, 2), (3, 2, 2, 1, 1)])
def test_conv3x3_matches_the_direct_convolution(shape):
    x, k, r = _data(*shape)
    chex.assert_trees_all_close(jax.jit(winograd.conv3x3)(x, k), _direct(x, k), rtol=1e-5, atol=1e-5)
    loss = lambda f: lambda x, k: jnp.sum(f(x, k) * r)   # noqa: E731
    got = jax.jit(jax.grad(loss(winograd.conv3x3), (0, 1)))(x, k)
    chex.assert_trees_all_close(got, jax.grad(loss(_direct), (0, 1))(x, k), rtol=1e-5, atol=1e-4)
    chex.assert_shape(got, (x.shape, k.shape))


def test_conv3x3_under_vmap_and_scan():
    """A kernel per architecture (vmap) and ten SGD steps (scan): the direct convolution's
    values and gradients, one trace."""
    x, k, r = _data(2, 4, 4, 3, 3, seed=1)
    ks = jnp.stack([k, 0.5 * k])
    f = lambda conv: jax.vmap(lambda k: jax.grad(lambda x, k: jnp.sum(conv(x, k) * r), (0, 1))(x, k))  # noqa: E731
    chex.assert_trees_all_close(jax.jit(f(winograd.conv3x3))(ks), f(_direct)(ks), rtol=1e-5, atol=1e-4)

    runs = [_train(conv, x + d, k, r) for conv in ("winograd", "direct") for d in (0.0, 1.0)]
    chex.assert_trees_all_close(runs[0], runs[2], rtol=1e-4, atol=1e-4)
    chex.assert_trees_all_close(runs[1], runs[3], rtol=1e-4, atol=1e-4)


@functools.partial(jax.jit, static_argnums=0)
@chex.assert_max_traces(n=2)                 # once per convolution, not per call
def _train(conv, x, k, r):
    conv = {"winograd": winograd.conv3x3, "direct": _direct}[conv]

    def step(c, _):
        gx, gk = jax.grad(lambda x, k: jnp.sum(jnp.tanh(conv(x, k)) * r), (0, 1))(*c)
        return (c[0] - 0.01 * gx, c[1] - 0.01 * gk), None
    return lax.scan(step, (x, k), None, length=10)[0]


def test_conv2d_takes_winograd_only_where_it_fits_and_pays():
    """`conv2d(..., winograd=True)`: 3x3, stride and dilation 1, padding 1, even sides, at least
    16x16; otherwise (and without the flag) the usual path, bit for bit."""
    assert winograd.fits((1, 16, 16, 2), (3, 3, 2, 2), 1, 1, 1)
    for args in [((1, 8, 8, 2), (3, 3, 2, 2), 1, 1, 1), ((1, 16, 15, 2), (3, 3, 2, 2), 1, 1, 1),
                 ((1, 16, 16, 2), (1, 1, 2, 2), 1, 0, 1), ((1, 16, 16, 2), (3, 3, 2, 2), 2, 1, 1),
                 ((1, 16, 16, 2), (3, 3, 2, 2), 1, 2, 2), ((1, 16, 16, 2), (5, 5, 2, 2), 1, 2, 1)]:
        assert not winograd.fits(*args), args
    x, k, _ = _data(1, 16, 16, 2, 3)
    conv = jax.jit(ops.conv2d, static_argnames="winograd")
    np.testing.assert_array_equal(conv(x, k, winograd=True), jax.jit(winograd.conv3x3)(x, k))
    chex.assert_trees_all_close(conv(x, k, winograd=True), conv(x, k), rtol=1e-5, atol=1e-5)
    small = x[:, :8, :8]
    np.testing.assert_array_equal(conv(small, k, winograd=True), conv(small, k))
    with ops.use_conv_impl("im2col"):        # the vmapped GPU lowering keeps its own form
        np.testing.assert_array_equal(conv(x, k, winograd=True), conv(x, k))
