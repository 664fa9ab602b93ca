"""Pooling (NHWC): average pooling with PyTorch's border rule and max pooling with a
hand-written gradient. Re-exported by `eproxy_jax.nn.ops`, where the spaces call them."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .windows import taps


def avg_pool(x, window: int, stride: int, padding: int, count_include_pad: bool = False):
    """Average pooling; with count_include_pad=False the border windows divide by the
    number of real pixels they cover (PyTorch's AvgPool2d(count_include_pad=False))."""
    pads = ((0, 0), (padding, padding), (padding, padding), (0, 0))
    dims, strides = (1, window, window, 1), (1, stride, stride, 1)
    total = lax.reduce_window(x, 0.0, lax.add, dims, strides, pads)
    if count_include_pad or padding == 0:
        return total / float(window * window)
    # traced ones, not a NumPy constant: a captured array constant would become a batched
    # operand of a vmapped lax.cond around an op-grouped edge, which custom_vmap rejects
    ones = jnp.ones((1, x.shape[1], x.shape[2], 1), x.dtype)
    counts = lax.reduce_window(ones, 0.0, lax.add, dims, strides, pads)
    return total / counts


def max_pool(x, window: int, stride: int, padding):
    """Max pooling whose padding never wins (PyTorch's MaxPool2d): `padding` an int (both
    sides of both axes) or `((lo, hi), (lo, hi))`. The gradient goes to the first maximum of
    each window in row-major order, as XLA's own (`reduce_window`'s) does, and is summed over
    the windows in XLA's order: the same bits (tested). Written as the maximum of the k*k
    shifted views with that gradient by hand: XLA:CPU differentiates `reduce_window` into a
    variadic window argmax and a scatter, which took 18-28 % of a paper-size NB101 program
    (`docs/results.md`, 'Levers tried against the profile'); this runs 4-8x faster."""
    return _max_pool(x, int(window), int(stride), _pads(padding))


def _pads(padding):
    """`padding` (an int, or `((lo, hi), (lo, hi))`) as a hashable tuple of ints."""
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def max_pool_grad(x, y, g, window: int, stride: int, padding):
    """The input gradient of `max_pool(x, window, stride, padding)` from its output `y` and the
    output's gradient `g` (for a backward pass that keeps `y` itself, `edge_groups.Split`)."""
    return _max_pool_bwd(int(window), int(stride), _pads(padding), (x, y), g)[0]


def _pool_views(x, k, s, pads, out_hw):
    (l1, h1), (l2, h2) = pads
    xp = jnp.pad(x, ((0, 0), (l1, h1), (l2, h2), (0, 0)), constant_values=-jnp.inf)
    return xp, taps(xp, k, 1, s, *out_hw)


def _pool_out(x, k, s, pads):
    (l1, h1), (l2, h2) = pads
    return (x.shape[1] + l1 + h1 - k) // s + 1, (x.shape[2] + l2 + h2 - k) // s + 1


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool(x, k, s, pads):
    return functools.reduce(jnp.maximum, _pool_views(x, k, s, pads, _pool_out(x, k, s, pads))[1])


def _max_pool_fwd(x, k, s, pads):
    y = _max_pool(x, k, s, pads)
    return y, (x, y)


def _max_pool_bwd(k, s, pads, res, g):
    """g to each window's first maximum (taps in row-major order), then summed into the input
    taps last to first: windows in row-major output order, the order XLA's scatter adds in."""
    x, y = res
    xp, views = _pool_views(x, k, s, pads, y.shape[1:3])
    taken = jnp.zeros(y.shape, bool)
    parts = []
    for v in views:
        hit = (v == y) & ~taken
        taken = taken | hit
        parts.append(jnp.where(hit, g, jnp.zeros_like(g)))
    o1, o2 = y.shape[1], y.shape[2]
    if s == k and pads == ((0, 0), (0, 0)) and x.shape[1:3] == (o1 * k, o2 * k):
        # windows tile the input: each input pixel is in one window, so the parts interleave
        # into dx (one transposing copy) where the strided scatter-adds wrote them one by one
        n, c = g.shape[0], g.shape[-1]
        dx = jnp.stack(parts, axis=3).reshape(n, o1, o2, k, k, c).transpose(0, 1, 3, 2, 4, 5)
        return (dx.reshape(x.shape),)
    hp, wp = xp.shape[1], xp.shape[2]
    dxp = jnp.zeros(xp.shape, g.dtype)
    for t in reversed(range(k * k)):
        i, j = divmod(t, k)
        if s == 1:     # placed by a pad, not a scatter: XLA fuses the k*k pads and adds into one loop
            dxp = dxp + lax.pad(parts[t], jnp.zeros((), g.dtype), ((0, 0, 0), (i, hp - i - o1, 0), (j, wp - j - o2, 0),
                                                                   (0, 0, 0)))
        else:          # strided: a pad with interior zeros measured 7x slower than the scatter
            dxp = dxp.at[:, i: i + (o1 - 1) * s + 1: s, j: j + (o2 - 1) * s + 1: s, :].add(parts[t])
    (l1, _), (l2, _) = pads
    return (dxp[:, l1: l1 + x.shape[1], l2: l2 + x.shape[2], :],)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)
