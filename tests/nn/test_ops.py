"""eproxy_jax.nn.ops against independent references.

`ops.conv2d` carries a hand-written VJP; every check here compares it with
`lax.conv_general_dilated`, whose gradients come from JAX's own autodiff. Each case is one
jitted function computing both sides, so a case costs one compilation.
"""
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from eproxy_jax.nn import ops

RTOL, ATOL = 1e-4, 1e-4


def ref_conv(x, w, stride=1, padding=None, dilation=1):
    """Reference: XLA's convolution with 'same' padding computed here, autodiff by JAX."""
    k = w.shape[0]
    p = dilation * (k - 1) // 2 if padding is None else padding
    return lax.conv_general_dilated(
        x, w, window_strides=(stride, stride), padding=((p, p), (p, p)),
        rhs_dilation=(dilation, dilation), dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _rand(seed, *shape):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _value_and_grads(x, w, g, stride, padding, dilation):
    out = []
    for f in (ops.conv2d, ref_conv):
        y, vjp = jax.vjp(lambda x, w: f(x, w, stride, padding, dilation), x, w)
        out.append((y,) + vjp(g))
    return out


# (kernel, stride, dilation, input size, padding); None = 'same' default
CONV_CASES = [  # covers k 1/3/5/7, stride 1/2, dilation 1/2, odd/even sizes, explicit padding
    (1, 2, 1, 9, None),
    (1, 1, 1, 8, None),   # a matmul on the default path (`_pointwise`)
    (3, 1, 1, 9, None),
    (3, 2, 2, 8, None),
    (5, 1, 2, 8, None),
    (5, 2, 1, 9, None),
    (7, 2, 2, 9, None),
    (3, 1, 1, 8, 0),      # 'valid'
    (3, 2, 1, 9, 3),      # more padding than "same" (the input gradient is cropped on both sides)
]


@pytest.mark.parametrize("k,stride,dilation,size,padding", CONV_CASES)
def test_conv2d_value_and_grads(k, stride, dilation, size, padding):
    x = _rand(0, 2, size, size, 3)
    w = _rand(1, k, k, 3, 5)
    y_ref = ref_conv(x, w, stride, padding, dilation)
    g = _rand(2, *y_ref.shape)
    (y, dx, dw), (ry, rdx, rdw) = _value_and_grads(x, w, g, stride, padding, dilation)
    chex.assert_shape(y, y_ref.shape)
    chex.assert_shape(dx, x.shape)
    chex.assert_shape(dw, w.shape)
    if padding is None and stride == 1:
        chex.assert_shape(y, (2, size, size, 5))  # 'same'
    chex.assert_trees_all_close((y, dx, dw), (ry, rdx, rdw), rtol=RTOL, atol=ATOL)
    # the gradients are not trivially zero
    assert float(jnp.abs(dw).max()) > 1e-2 and float(jnp.abs(dx).max()) > 1e-2


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _traced_value_and_grads(x, w, g, stride, padding, dilation, impl):
    def f(x, w):
        return jax.vmap(lambda x, w: ops.conv2d(x, w, stride, padding, dilation))(x, w)
    y, vjp = jax.vjp(f, x, w)
    return (y,) + vjp(g)


def _impl_value_and_grads(x, w, g, stride, padding, dilation, impl):
    """vmap over a kernel per 'architecture' (as the engine's arch_vmap), one conv impl: the
    switch is entered outside the trace (it clears JAX's caches on a change), and `impl` is a
    static argument so that each lowering has its own jit cache entry."""
    with ops.use_conv_impl(impl):
        return _traced_value_and_grads(x, w, g, stride, padding, dilation, impl)


@pytest.mark.parametrize("impl", ["xla", "im2col"])
@pytest.mark.parametrize("k,stride,dilation,size,padding", [CONV_CASES[0], CONV_CASES[2], CONV_CASES[7]])
def test_conv_impls_agree_under_vmap(impl, k, stride, dilation, size, padding):
    x = _rand(3, 2, 2, size, size, 3)     # [archs, n, h, w, c]
    w = _rand(4, 2, k, k, 3, 5)           # a kernel per architecture
    y_ref = jax.vmap(lambda x, w: ref_conv(x, w, stride, padding, dilation))(x, w)
    g = _rand(5, *y_ref.shape)
    got = _impl_value_and_grads(x, w, g, stride, padding, dilation, impl)
    ref = _impl_value_and_grads(x, w, g, stride, padding, dilation, "custom")
    chex.assert_trees_all_close(got[0], y_ref, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(got, ref, rtol=RTOL, atol=ATOL)


def test_use_conv_impl_rejects_unknown_and_restores():
    with pytest.raises(ValueError):
        with ops.use_conv_impl("cudnn"):
            pass
    with ops.use_conv_impl("im2col"):
        assert ops._conv_impl[0] == "im2col"
    assert ops._conv_impl[0] == "custom"


def test_pointwise_conv_lowers_to_a_matmul():
    """The default path's 1x1 convolution is a dot in its program and in its gradient's."""
    x, w = _rand(0, 2, 8, 8, 3), _rand(1, 1, 1, 3, 5)
    f = jax.jit(jax.grad(lambda x, w: jnp.sum(ops.conv2d(x, w) ** 2), argnums=(0, 1)))
    hlo = f.lower(x, w).as_text()
    assert "convolution" not in hlo and "dot_general" in hlo


def test_conv2d_rejects_non_square_kernel():
    with pytest.raises(ValueError):
        ops.conv2d(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 1, 2, 2)))


def _scan_loss(conv, h0, ws, xs, a, b):
    """A carry through stride-1 dilated convs plus per-step stride-2 outputs."""

    def body(h, inp):
        w, x = inp
        h = jnp.tanh(conv(h, w, 1, None, 2))
        y = conv(x, w, 2, None, 1)
        return h, y

    h, ys = lax.scan(body, h0, (ws, xs))
    return jnp.sum(h * a) + jnp.sum(ys * b)


def test_conv2d_grads_under_scan():
    L, n, s, c = 3, 2, 8, 4
    h0, ws, xs = _rand(0, n, s, s, c), _rand(1, L, 3, 3, c, c) * 0.3, _rand(2, L, n, s + 1, s + 1, c)
    a, b = _rand(3, n, s, s, c), _rand(4, L, n, 5, 5, c)

    @jax.jit
    def both(h0, ws, xs):
        return [jax.value_and_grad(functools.partial(_scan_loss, conv), argnums=(0, 1, 2))(h0, ws, xs, a, b)
                for conv in (ops.conv2d, ref_conv)]

    (v, g), (rv, rg) = both(h0, ws, xs)
    chex.assert_trees_all_close((v, g), (rv, rg), rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_equal_shapes(g, (h0, ws, xs))


def _switch_fn(conv, i, x, w3, w1):
    branches = (
        lambda x, w3, w1: conv(x, w3, 1, None, 1),
        lambda x, w3, w1: conv(jax.nn.relu(x), w1, 1, None, 1),
        lambda x, w3, w1: jnp.repeat(jnp.repeat(conv(x, w3, 2, None, 2), 2, 1), 2, 2),
        lambda x, w3, w1: x * 2.0,
    )
    return lax.switch(i, branches, x, w3, w1)


def test_conv2d_grads_inside_switch_with_traced_index():
    x, w3, w1 = _rand(0, 2, 8, 8, 4), _rand(1, 3, 3, 4, 4), _rand(2, 1, 1, 4, 4)
    t = _rand(3, 2, 8, 8, 4)

    @jax.jit
    def both(i, x, w3, w1):
        return [jax.grad(lambda *args: jnp.sum(t * _switch_fn(conv, i, *args)), argnums=(0, 1, 2))(x, w3, w1)
                for conv in (ops.conv2d, ref_conv)]

    for i in range(4):
        g, rg = both(jnp.int32(i), x, w3, w1)
        chex.assert_trees_all_close(g, rg, rtol=RTOL, atol=ATOL)
        # only the selected branch's weights get a gradient
        assert (float(jnp.abs(g[1]).max()) > 0) == (i in (0, 2))
        assert (float(jnp.abs(g[2]).max()) > 0) == (i == 1)


def test_conv2d_grads_switch_inside_checkpointed_scan():
    """The NB201 pattern: per-step op index from the scanned input, lax.switch, jax.checkpoint."""
    L, c = 4, 4
    x0, w3s, w1s = _rand(0, 2, 8, 8, c), _rand(1, L, 3, 3, c, c) * 0.3, _rand(2, L, 1, 1, c, c) * 0.5
    idx = jnp.asarray([0, 1, 2, 0], jnp.int32)
    t = _rand(3, 2, 8, 8, c)

    def loss(conv, x0, w3s, w1s):
        edge = jax.checkpoint(lambda x, i, w3, w1: _switch_fn(conv, i, x, w3, w1))

        def body(x, inp):
            i, w3, w1 = inp
            return jnp.tanh(edge(x, i, w3, w1)), None

        x, _ = lax.scan(body, x0, (idx, w3s, w1s))
        return jnp.sum(t * x)

    @jax.jit
    def both(x0, w3s, w1s):
        return [jax.value_and_grad(functools.partial(loss, conv), argnums=(0, 1, 2))(x0, w3s, w1s)
                for conv in (ops.conv2d, ref_conv)]

    got, ref = both(x0, w3s, w1s)
    chex.assert_trees_all_close(got, ref, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- pooling, resize, BN

def np_avg_pool(x, window, stride, padding, count_include_pad):
    n, h, w, c = x.shape
    ho = (h + 2 * padding - window) // stride + 1
    wo = (w + 2 * padding - window) // stride + 1
    out = np.zeros((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * stride - padding, j * stride - padding
            rs = [r for r in range(r0, r0 + window) if 0 <= r < h]
            cs = [q for q in range(c0, c0 + window) if 0 <= q < w]
            total = x[:, rs][:, :, cs].sum(axis=(1, 2))
            out[:, i, j] = total / (window * window if count_include_pad else len(rs) * len(cs))
    return out


@pytest.mark.parametrize("window,stride,padding,size,include", [
    (3, 1, 1, 7, False),
    (3, 2, 1, 8, False),
    (3, 1, 1, 6, True),
    (2, 2, 0, 8, False),
])
def test_avg_pool(window, stride, padding, size, include):
    x = np.random.default_rng(5).standard_normal((2, size, size, 3)).astype(np.float32) + 1.0
    got = ops.avg_pool(jnp.asarray(x), window, stride, padding, count_include_pad=include)
    want = np_avg_pool(x.astype(np.float64), window, stride, padding, include)
    chex.assert_shape(got, want.shape)
    chex.assert_trees_all_close(np.asarray(got), want.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_avg_pool_border_divides_by_real_pixels():
    x = jnp.ones((1, 5, 5, 1))
    got = np.asarray(ops.avg_pool(x, 3, 1, 1, count_include_pad=False))
    np.testing.assert_allclose(got, 1.0, rtol=1e-6)  # every window averages only ones
    inc = np.asarray(ops.avg_pool(x, 3, 1, 1, count_include_pad=True))
    assert abs(inc[0, 0, 0, 0] - 4 / 9) < 1e-6 and abs(inc[0, 0, 2, 0] - 6 / 9) < 1e-6


def _tied(shape, seed):
    """Post-ReLU-like values on a coarse grid: many windows with tied maxima (zeros, repeats)."""
    rng = np.random.default_rng(seed)
    x = np.maximum(rng.standard_normal(shape), 0) * (rng.random(shape) < 0.7)
    return jnp.asarray(np.round(x * 4) / 4, jnp.float32)


@pytest.mark.parametrize("window,stride,pads,size", [
    (3, 1, ((1, 1), (1, 1)), 8),      # NB101 vertex / DARTS max_pool_3x3
    (2, 2, ((0, 0), (0, 0)), 8),      # NB101 stack downsampling
    (3, 2, ((1, 1), (1, 1)), 9),      # anynet stem pool, odd size
    (2, 2, ((0, 1), (0, 1)), 7),      # TF 'same', asymmetric
    (5, 1, ((2, 2), (2, 2)), 6),
])
def test_max_pool_is_reduce_window_bit_for_bit(window, stride, pads, size):
    """Value and gradient equal XLA's `reduce_window` max and its autodiff to the last bit,
    ties included (the first maximum of a window takes the gradient), also under vmap."""
    x = _tied((3, 2, size, size, 4), 0)
    ref = lambda v: lax.reduce_window(v, -jnp.inf, lax.max, (1, window, window, 1),  # noqa: E731
                                      (1, stride, stride, 1), ((0, 0),) + pads + ((0, 0),))
    new = lambda v: ops.max_pool(v, window, stride, pads)  # noqa: E731
    g = jnp.asarray(np.random.default_rng(1).standard_normal(jax.eval_shape(ref, x[0]).shape), jnp.float32)
    for f in (ref, new):
        chex.assert_shape(f(x[0]), g.shape)
    np.testing.assert_array_equal(np.asarray(jax.jit(new)(x[0])), np.asarray(ref(x[0])))
    grads = [jax.jit(jax.vmap(jax.grad(lambda v, f=f: jnp.vdot(f(v), g))))(x) for f in (ref, new)]
    np.testing.assert_array_equal(np.asarray(grads[1]), np.asarray(grads[0]))
    assert np.count_nonzero(np.asarray(grads[1])) > 0


def test_tiling_max_pool_gradient_has_no_scatter():
    """Windows that tile the input (NB101's 2x2 stride-2 downsampling) take their gradient by
    interleaving the window's parts, one copy, where the general strided case adds each part by
    a scatter (the bits are the same: the test above)."""
    x = _tied((2, 8, 8, 4), 4)
    grad = lambda k, s, p: jax.jit(jax.grad(lambda v: jnp.sum(ops.max_pool(v, k, s, p) ** 2)))  # noqa: E731
    tiling = grad(2, 2, 0).lower(x).compile().as_text()
    strided = grad(3, 2, 1).lower(x).compile().as_text()
    assert " scatter(" not in tiling
    assert " scatter(" in strided   # the general path is still the scatter one


def test_max_pool_second_order_matches_reduce_window():
    """Reverse-over-reverse (grasp's Hessian-gradient product) through the pool."""
    x = _tied((2, 6, 6, 3), 2) + jnp.linspace(0, 1e-3, 2 * 6 * 6 * 3).reshape(2, 6, 6, 3)
    v = jnp.asarray(np.random.default_rng(3).standard_normal(x.shape), jnp.float32)
    ref = lambda u: lax.reduce_window(u, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 1, 1, 1),  # noqa: E731
                                      ((0, 0), (1, 1), (1, 1), (0, 0)))

    def hvp(f):
        return jax.grad(lambda u: jnp.vdot(jax.grad(lambda w: jnp.sum(f(w) ** 2))(u), v))(x)
    np.testing.assert_allclose(np.asarray(hvp(lambda u: ops.max_pool(u, 3, 1, 1))), np.asarray(hvp(ref)),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("n_in,n_out,expected", [
    (16, 4, [0, 4, 8, 12]),           # integer ratio
    (8, 4, [0, 2, 4, 6]),
    (6, 4, [0, 1, 3, 4]),             # ratio 1.5
    (5, 3, [0, 1, 3]),                # ratio 5/3
    (2, 8, [0, 0, 0, 0, 1, 1, 1, 1]),  # enlarging
    (3, 4, [0, 0, 1, 2]),             # enlarging by a non-integer ratio
])
def test_resize_nearest_matches_pytorch(n_in, n_out, expected):
    idx = [(i * n_in) // n_out for i in range(n_out)]  # PyTorch: floor(i * in / out)
    assert idx == expected
    np.testing.assert_array_equal(ops.nearest_indices(n_in, n_out), expected)
    x = np.arange(2 * n_in * n_in * 3, dtype=np.float32).reshape(2, n_in, n_in, 3)
    got = np.asarray(ops.resize_nearest(jnp.asarray(x), n_out))
    chex.assert_shape(got, (2, n_out, n_out, 3))
    np.testing.assert_array_equal(got, x[:, idx][:, :, idx])


def test_resize_nearest_identity():
    x = _rand(0, 1, 4, 4, 2)
    chex.assert_trees_all_equal(ops.resize_nearest(x, 4), x)


def np_batch_norm(x, scale=None, bias=None):
    x = x.astype(np.float64)
    mean = x.mean(axis=(0, 1, 2))
    var = ((x - mean) ** 2).mean(axis=(0, 1, 2))  # biased
    y = (x - mean) / np.sqrt(var + 1e-5)
    if scale is not None:
        y = y * scale
    if bias is not None:
        y = y + bias
    return y


def test_batch_norm():
    rng = np.random.default_rng(7)
    # tiny batch (n*h*w = 8: biased vs unbiased variance differ by 8/7) and a channel whose
    # variance is comparable to eps, so the eps value matters
    x = rng.standard_normal((2, 2, 2, 3)) * np.array([1.0, 3.0, 0.003]) + np.array([0.5, -2.0, 1.0])
    x = x.astype(np.float32)
    scale, bias = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    got = ops.batch_norm(jnp.asarray(x))
    chex.assert_trees_all_close(np.asarray(got), np_batch_norm(x).astype(np.float32), rtol=1e-4, atol=1e-4)
    got = ops.batch_norm(jnp.asarray(x), jnp.asarray(scale), jnp.asarray(bias))
    chex.assert_trees_all_close(np.asarray(got), np_batch_norm(x, scale, bias).astype(np.float32),
                                rtol=1e-4, atol=1e-4)


def _plain_batch_norm(x, scale, bias):
    """The forward formula differentiated by JAX (the reference for the custom VJP)."""
    mean = jnp.mean(x, axis=(0, 1, 2), keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2), keepdims=True)
    return (x - mean) * lax.rsqrt(var + ops.BN_EPS) * scale + bias


def test_batch_norm_gradients_match_autodiff():
    """The hand-written backward pass equals autodiff of the formula: first order (jitted and
    vmapped over a leading axis, as arch-vmapped programs use it) and second order (grasp)."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal((2, 3, 3, 4)) * np.array([1.0, 3.0, 0.003, 0.0]) + 0.5)
    scale, bias = jnp.asarray(rng.standard_normal(4)), jnp.asarray(rng.standard_normal(4))
    w = jnp.asarray(rng.standard_normal((2, 3, 3, 4)))
    with jax.enable_x64(True):
        x, scale, bias, w = (a.astype(jnp.float64) for a in (x, scale, bias, w))
        loss = lambda f: lambda x, s, b: jnp.sum(jnp.tanh(f(x, s, b)) * w)   # noqa: E731
        got = jax.jit(jax.grad(loss(ops.batch_norm), argnums=(0, 1, 2)))(x, scale, bias)
        want = jax.grad(loss(_plain_batch_norm), argnums=(0, 1, 2))(x, scale, bias)
        chex.assert_trees_all_close(got, want, rtol=1e-9, atol=1e-9)
        xs = jnp.stack([x, 2.0 * x + 1.0])
        got = jax.vmap(jax.grad(loss(ops.batch_norm), argnums=(0, 1, 2)), in_axes=(0, None, 0))(
            xs, scale, jnp.stack([bias, -bias]))
        want = jax.vmap(jax.grad(loss(_plain_batch_norm), argnums=(0, 1, 2)), in_axes=(0, None, 0))(
            xs, scale, jnp.stack([bias, -bias]))
        chex.assert_trees_all_close(got, want, rtol=1e-9, atol=1e-9)
        hv = lambda f: jax.grad(lambda x: jnp.sum(jax.grad(loss(f))(x, scale, bias) ** 2))   # noqa: E731
        chex.assert_trees_all_close(hv(ops.batch_norm)(x), hv(_plain_batch_norm)(x), rtol=1e-8, atol=1e-8)
        with ops.use_bn_backward("autodiff"):    # the switch experiments/ab_timing.py times
            want = jax.grad(loss(ops.batch_norm), argnums=(0, 1, 2))(x, scale, bias)
        chex.assert_trees_all_close(jax.grad(loss(ops.batch_norm), argnums=(0, 1, 2))(x, scale, bias), want,
                                    rtol=1e-9, atol=1e-9)
        with pytest.raises(ValueError, match="bn backward"):
            with ops.use_bn_backward("fused"):
                pass
        # affine=False (no scale or bias): the same gradient with scale 1 and bias 0
        g0 = jax.grad(lambda x: jnp.sum(jnp.tanh(ops.batch_norm(x)) * w))(x)
        g1 = jax.grad(lambda x: jnp.sum(jnp.tanh(_plain_batch_norm(x, 1.0, 0.0)) * w))(x)
        chex.assert_trees_all_close(g0, g1, rtol=1e-9, atol=1e-9)


def test_conv_macs_and_tree_size():
    assert ops.conv_macs(8, 8, 4, 6, 3) == 8 * 8 * 6 * 4 * 9
    assert ops.conv_macs(8, 8, 4, 6, 3, groups=2) == 8 * 8 * 6 * 2 * 9
    assert ops.tree_size({"a": jnp.zeros((2, 3)), "b": [jnp.zeros((4,))]}) == 10


def ref_depthwise(x, w, stride, dilation):
    """Reference: XLA's grouped convolution (PyTorch groups=C), autodiff by JAX."""
    k, c = w.shape[0], w.shape[-1]
    p = dilation * (k - 1) // 2
    return lax.conv_general_dilated(x, w, (stride, stride), [(p, p), (p, p)], rhs_dilation=(dilation, dilation),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c)


@pytest.mark.parametrize("k,stride,dilation,size", [
    (3, 1, 1, 8), (3, 2, 1, 8), (3, 2, 1, 7), (5, 1, 1, 7), (3, 1, 2, 8), (5, 2, 2, 9), (7, 1, 1, 8), (7, 2, 1, 8)])
def test_depthwise_value_and_grads(k, stride, dilation, size):
    """The depthwise tap sum and its hand-written gradients against the grouped convolution's
    autodiff: values, input and kernel gradients, jitted, under vmap and in a scan, second
    order too (through the custom VJP's own differentiable backward)."""
    c = 5
    x = jax.random.normal(jax.random.PRNGKey(0), (3, size, size, c))
    w = jax.random.normal(jax.random.PRNGKey(1), (k, k, 1, c))
    g = jax.random.normal(jax.random.PRNGKey(2), ref_depthwise(x, w, stride, dilation).shape)

    def both(f):
        def loss(x, w):
            return jnp.sum(f(x, w, stride, dilation) * g)
        return jax.value_and_grad(loss, argnums=(0, 1))

    @jax.jit
    def run(x, w):
        mine, ref = both(ops.depthwise_conv2d)(x, w), both(ref_depthwise)(x, w)
        vm = jax.vmap(lambda xi: jax.grad(lambda a: jnp.sum(ops.depthwise_conv2d(a, w, stride, dilation) ** 2))(xi))(x[:, None])
        vr = jax.vmap(lambda xi: jax.grad(lambda a: jnp.sum(ref_depthwise(a, w, stride, dilation) ** 2))(xi))(x[:, None])
        sc = lax.scan(lambda a, _: (a, both(ops.depthwise_conv2d)(x, a)[1][1]), w, None, length=2)[1][-1]
        hess = [jax.grad(lambda v: jnp.sum(jax.grad(lambda a: jnp.sum(f(a, w, stride, dilation) ** 2))(x) * v))(x)
                for f in (ops.depthwise_conv2d, ref_depthwise)]
        return mine, ref, (vm, vr), (sc, ref[1][1]), hess
    mine, ref, vmapped, scanned, hess = run(x, w)
    chex.assert_trees_all_close(mine, ref, rtol=RTOL, atol=ATOL)
    def pads():   # autodiff transposes every tap into a padded copy; the VJP by hand pads twice
        return str(jax.make_jaxpr(jax.grad(lambda a: jnp.sum(ops.depthwise_conv2d(a, w, stride, dilation))))(x)).count("pad[")
    assert pads() == 2
    with ops.use_conv_impl("im2col"):   # the GPU lowerings keep autodiff of the tap sum
        assert pads() > k * k
        chex.assert_trees_all_close(jax.jit(both(ops.depthwise_conv2d))(x, w), ref, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(*vmapped, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(*scanned, rtol=RTOL, atol=ATOL)
    chex.assert_trees_all_close(*hess, rtol=RTOL, atol=ATOL)
    assert float(jnp.abs(mine[1][1]).max()) > 0.1
