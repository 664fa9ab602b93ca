"""Pure array primitives shared by the spaces and the proxy (NHWC layout, HWIO kernels).

Everything here is a plain function of arrays, so it can be used inside `lax.switch`
branches, `lax.scan` bodies and under `vmap` without touching Flax state.
"""
from __future__ import annotations

import contextlib
import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import pooling
from . import winograd as _winograd
from .windows import taps as _taps

# re-exported: `ops` is the spaces' one import of array primitives
avg_pool, max_pool, max_pool_grad = pooling.avg_pool, pooling.max_pool, pooling.max_pool_grad

BN_EPS = 1e-5  # PyTorch's BatchNorm2d default


def _conv(x, kernel, stride, pads, dilation):
    return lax.conv_general_dilated(
        x, kernel, window_strides=(stride, stride), padding=pads,
        rhs_dilation=(dilation, dilation), dimension_numbers=("NHWC", "HWIO", "NHWC"))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_same_form(x, kernel, stride, padding, dilation):
    return _conv(x, kernel, stride, ((padding, padding), (padding, padding)), dilation)


def _conv_fwd(x, kernel, stride, padding, dilation):
    return _conv_same_form(x, kernel, stride, padding, dilation), (x, kernel)


def _conv_bwd(stride, padding, dilation, res, g):
    """Both gradients in forms XLA:CPU runs fast inside loops and branches.

    XLA's own transposes of a convolution (a conv with lhs dilation for the input gradient,
    one contracting over the batch for the kernel gradient) fall off the fast path when they
    sit in a `scan`/`switch` body: measured 20-70x slower on the 2-core CPU. Here the input
    gradient is a plain stride-1 convolution of the zero-upsampled output gradient with the
    flipped kernel, and the kernel gradient is one matmul per kernel tap.
    """
    x, w = res
    k, d, p, s = w.shape[0], dilation, padding, stride
    n, h, wd, _ = x.shape
    _, o1, o2, c_out = g.shape
    gu = g
    if s > 1:
        gu = jnp.zeros((n, (o1 - 1) * s + 1, (o2 - 1) * s + 1, c_out), g.dtype).at[:, ::s, ::s, :].set(g)
    lo = (k - 1) * d - p
    hi1 = h - gu.shape[1] - lo + (k - 1) * d
    hi2 = wd - gu.shape[2] - lo + (k - 1) * d
    gp = jnp.pad(gu, ((0, 0), (max(lo, 0), max(hi1, 0)), (max(lo, 0), max(hi2, 0)), (0, 0)))
    gp = gp[:, max(-lo, 0): gp.shape[1] - max(-hi1, 0), max(-lo, 0): gp.shape[2] - max(-hi2, 0)]
    dx = _conv(gp, jnp.flip(w, (0, 1)).swapaxes(2, 3), 1, ((0, 0), (0, 0)), d)
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    g2 = g.reshape(-1, c_out)
    taps = [lax.dot_general(t.reshape(-1, x.shape[-1]), g2, (((0,), (0,)), ((), ())))
            for t in _taps(xp, k, d, s, o1, o2)]
    dw = jnp.stack(taps).reshape(w.shape)
    return dx, dw


_conv_same_form.defvjp(_conv_fwd, _conv_bwd)


def _conv_im2col(x, kernel, stride, padding, dilation):
    """The convolution as one matmul over image patches: `[N*Ho*Wo, k*k*Cin] @ [k*k*Cin, Cout]`.

    Under `vmap` over architectures (a kernel per architecture) this is a batched matmul,
    where XLA would otherwise emit a grouped convolution (slow on GPUs, DESIGN 2).
    Autodiff gives matmuls and pad/slice sums, all batched the same way."""
    k, d, p, s = kernel.shape[0], dilation, padding, stride
    n, h, w, c_in = x.shape
    c_out = kernel.shape[-1]
    ho = (h + 2 * p - d * (k - 1) - 1) // s + 1
    wo = (w + 2 * p - d * (k - 1) - 1) // s + 1
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
    cols = _taps(xp, k, d, s, ho, wo)
    patches = cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)   # (i, j, c_in) order = HWIO
    y = patches.reshape(-1, k * k * c_in) @ kernel.reshape(k * k * c_in, c_out)
    return y.reshape(n, ho, wo, c_out)


CONV_IMPLS = ("custom", "xla", "im2col")
_conv_impl = ["custom"]


def use_conv_impl(name: str):
    """Trace-time choice of how `conv2d` lowers, for code traced inside the block:

    - `custom` (default): XLA's convolution forward, gradients by `_conv_bwd` (fast on CPU);
      a 1x1 convolution without padding is a matmul (`_pointwise`);
    - `xla`: XLA's convolution and its own transposes (the usual path on GPUs);
    - `im2col`: patches + matmul (`_conv_im2col`), for architectures vmapped on a GPU.

    All three compute the same function; tests check they agree. A change of lowering
    clears JAX's caches, as `use_bn_mode` does: a branch function's trace is kept by identity
    and would otherwise carry the previous lowering into the next program. Programs are built
    under an explicit `eproxy_jax.chunks.Lowering`, which enters this outside any trace."""
    return _use(_conv_impl, name, CONV_IMPLS, "conv impl", on_change=jax.clear_caches)


@contextlib.contextmanager
def _use(slot: list, name: str, choices: tuple, what: str, on_change=None):
    """Set a trace-time switch (`slot[0]`) to `name` for the block; `on_change()` on entry
    and exit where that changes the switch."""
    if name not in choices:
        raise ValueError(f"{what} must be one of {choices}, got {name!r}")
    prev = slot[0]
    slot[0] = name
    if on_change is not None and name != prev:
        on_change()
    try:
        yield
    finally:
        slot[0] = prev
        if on_change is not None and name != prev:
            on_change()


def conv2d(x, kernel, stride: int = 1, padding: int | None = None, dilation: int = 1, winograd: bool = False):
    """2-D convolution, NHWC input, HWIO kernel (square), symmetric zero padding
    (default: 'same' for odd kernels). Lowered as `use_conv_impl` says (default: XLA's
    convolution with the custom VJP of `_conv_bwd`). `winograd`: under the default lowering, a
    3x3 'same' convolution on maps of at least 16x16 by Winograd's F(4x4, 3x3), or F(2x2, 3x3)
    where a side does not divide by 4 (`winograd.conv3x3`: faster on the CPU, the same function
    to about 1e-5; a space opts in with its scoring version)."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    if kh != kw:
        raise ValueError("conv2d takes square kernels")
    if padding is None:
        padding = dilation * (kh - 1) // 2
    impl = _conv_impl[0]
    if impl == "im2col":
        return _conv_im2col(x, kernel, stride, padding, dilation)
    if impl == "xla":
        return _conv(x, kernel, stride, ((padding, padding), (padding, padding)), dilation)
    if kh == 1 and padding == 0:
        return _pointwise(x, kernel, stride)
    if winograd and _winograd.fits(x.shape, kernel.shape, stride, padding, dilation):
        return _winograd.conv3x3(x, kernel)
    return _conv_same_form(x, kernel, stride, padding, dilation)


def _pointwise(x, kernel, stride: int):
    """A 1x1 convolution as one matmul `[N*H*W, Cin] @ [Cin, Cout]` (the strided pixels first),
    its gradients matmuls too: XLA:CPU ran NB101's 1x1 convolutions (31 % of its program)
    about half as fast as the same matmuls (`docs/results.md`)."""
    if stride > 1:
        x = x[:, ::stride, ::stride, :]
    n, h, w, c = x.shape
    y = lax.dot_general(x.reshape(n * h * w, c), kernel.reshape(c, kernel.shape[-1]), (((1,), (0,)), ((), ())))
    return y.reshape(n, h, w, kernel.shape[-1])


BN_MODES = ("train", "affine")
_bn_mode = ["train"]


def use_bn_mode(name: str):
    """Trace-time choice of what `batch_norm` computes, for code traced inside the block:
    `train` (default) normalises with the batch's statistics; `affine` skips the
    normalisation and keeps only `x * scale + bias` (the peer proxies' BN-free network:
    at scale 1 and bias 0 it is the identity, and the affine parameters still take part).

    A change of mode clears JAX's caches: `lax.switch`/`scan` keep the traces of branch
    functions by identity (the spaces' edge functions are module-level or lru-cached), so a
    trace made under the other mode would be reused. Enter it outside any trace
    (`BaselineEngine.compile` does)."""
    return _use(_bn_mode, name, BN_MODES, "bn mode", on_change=jax.clear_caches)


def batch_norm(x, scale=None, bias=None):
    """Training-mode BatchNorm: normalise with the batch's statistics over N, H, W.

    Biased variance and eps 1e-5, as PyTorch normalises in train mode. `scale`/`bias`
    are the affine parameters (None = affine=False). Under `use_bn_mode("affine")` only
    the affine part is applied.
    """
    if _bn_mode[0] == "affine":
        y = x
        if scale is not None:
            y = y * scale
        if bias is not None:
            y = y + bias
        return y
    c = x.shape[-1:]
    scale = jnp.ones(c, x.dtype) if scale is None else scale
    bias = jnp.zeros(c, x.dtype) if bias is None else bias
    if _bn_grad[0] == "autodiff":
        return _bn_forward(x, scale, bias)[0]
    return _bn_train(x, scale, bias)


BN_BACKWARDS = ("custom", "autodiff")
_bn_grad = ["custom"]


def use_bn_backward(name: str):
    """Trace-time choice of train-mode BatchNorm's gradient, for code traced inside the block:
    `custom` (default) the hand-written `_bn_backward`, `autodiff` JAX's differentiation of the
    same forward pass (the numerics before 2026-12-05). Both compute the same gradient; for
    `experiments/ab_timing.py`. Clears JAX's caches on a change, as `use_bn_mode` does."""
    return _use(_bn_grad, name, BN_BACKWARDS, "bn backward", on_change=jax.clear_caches)


def _bn_forward(x, scale, bias):
    mean = jnp.mean(x, axis=(0, 1, 2), keepdims=True)
    xc = x - mean
    rstd = lax.rsqrt(jnp.mean(jnp.square(xc), axis=(0, 1, 2), keepdims=True) + BN_EPS)
    xhat = xc * rstd
    return xhat * scale + bias, (xhat, rstd, scale)


@jax.custom_vjp
def _bn_train(x, scale, bias):
    return _bn_forward(x, scale, bias)[0]


def _bn_backward(res, g):
    """BatchNorm's gradients in two reductions and one elementwise pass (autodiff of the
    forward makes four reductions and more passes; NB101 scores 10 % faster with this on the
    2-core CPU, docs/results.md): with m values per channel,
    dx = rstd * scale * (g - sum(g) / m - xhat * sum(g * xhat) / m)."""
    xhat, rstd, scale = res
    m = g.size // g.shape[-1]
    dbias = jnp.sum(g, axis=(0, 1, 2))
    dscale = jnp.sum(g * xhat, axis=(0, 1, 2))
    dx = (rstd * scale) * (g - dbias / m - xhat * (dscale / m))
    shape, dtype = jnp.shape(scale), scale.dtype    # cotangents in each input's shape and dtype
    return dx.astype(xhat.dtype), dscale.reshape(shape).astype(dtype), dbias.reshape(shape).astype(dtype)


_bn_train.defvjp(_bn_forward, _bn_backward)


def bn_input_var(x):
    """What one train-mode pass adds to a PyTorch BatchNorm's running variance, per unit of
    momentum, averaged over channels: the mean over channels of the unbiased batch variance of
    `x` (over N, H, W). zen reads it (`eproxy_jax.baselines.zen`)."""
    n = x.size // x.shape[-1]
    var = jnp.var(x.reshape(-1, x.shape[-1]), axis=0) * (n / max(n - 1, 1))
    return jnp.mean(var)


def depthwise_conv2d(x, kernel, stride: int = 1, dilation: int = 1):
    """Depthwise convolution (PyTorch `groups=C`), kernel `[k, k, 1, C]`, 'same' padding
    `dilation * (k - 1) // 2`, as a sum of the k*k shifted, strided views times a per-channel
    weight: elementwise work (no grouped convolution, which XLA runs slowly under vmap and
    inside loops: 5-15x a training step on the 2-core CPU). Under the default (`custom`,
    CPU) lowering, gradients by hand (scoring version 10): the input gradient is the same tap
    sum over the output gradient, zero-upsampled by the stride and padded, with the flipped
    kernel; the kernel gradient k*k reductions. Autodiff of the tap sum, which the GPU
    lowerings keep, made every tap a padded copy: NB301 scores 23 % faster per architecture
    on the CPU with this (docs/results.md)."""
    if _conv_impl[0] == "custom":
        return _depthwise(x, kernel, int(stride), int(dilation))
    return _depthwise_fwd(x, kernel, int(stride), int(dilation))[0]


def _tap_sum(xp, kernel, dilation: int, stride: int, h_out: int, w_out: int):
    k = kernel.shape[0]
    views = _taps(xp, k, dilation, stride, h_out, w_out)
    wk = kernel.reshape(k * k, kernel.shape[-1])
    out = views[0] * wk[0]
    for i in range(1, k * k):
        out = out + views[i] * wk[i]
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _depthwise(x, kernel, stride, dilation):
    return _depthwise_fwd(x, kernel, stride, dilation)[0]


def _depthwise_fwd(x, kernel, stride, dilation):
    k = kernel.shape[0]
    p = dilation * (k - 1) // 2
    n, h, w, c = x.shape
    ho = (h + 2 * p - dilation * (k - 1) - 1) // stride + 1
    wo = (w + 2 * p - dilation * (k - 1) - 1) // stride + 1
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x
    return _tap_sum(xp, kernel, dilation, stride, ho, wo), (xp, kernel)


def _depthwise_bwd(stride, dilation, res, g):
    xp, kernel = res
    k = kernel.shape[0]
    p, e = dilation * (k - 1) // 2, dilation * (k - 1)
    hp, wp = xp.shape[1], xp.shape[2]
    ho, wo = g.shape[1], g.shape[2]
    views = _taps(xp, k, dilation, stride, ho, wo)
    dk = jnp.stack([jnp.sum(v * g, axis=(0, 1, 2)) for v in views]).reshape(kernel.shape)
    # the padded input's gradient: output gradients placed every `stride` pixels, e zeros
    # before and the rest after, read through the flipped kernel at stride 1
    gp = lax.pad(g, jnp.zeros((), g.dtype), ((0, 0, 0), (e, hp - (ho - 1) * stride - 1, stride - 1),
                                             (e, wp - (wo - 1) * stride - 1, stride - 1), (0, 0, 0)))
    dxp = _tap_sum(gp, kernel[::-1, ::-1], dilation, 1, hp, wp)
    return dxp[:, p: hp - p, p: wp - p, :].astype(xp.dtype), dk.astype(kernel.dtype)


_depthwise.defvjp(_depthwise_fwd, _depthwise_bwd)


def conv2d_rect(x, kernel, stride=(1, 1), padding=(0, 0)):
    """A convolution with a rectangular kernel `[kh, kw, c_in, c_out]` (e.g. 1x7 then 7x1),
    per-axis stride and zero padding, as one matmul per kernel tap."""
    kh, kw = kernel.shape[0], kernel.shape[1]
    (sh, sw), (ph, pw) = stride, padding
    n, h, w, _ = x.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    xp = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0))) if ph or pw else x
    out = None
    for i in range(kh):
        for j in range(kw):
            t = xp[:, i: i + (ho - 1) * sh + 1: sh, j: j + (wo - 1) * sw + 1: sw, :] @ kernel[i, j]
            out = t if out is None else out + t
    return out


def nearest_indices(n_in: int, n_out: int) -> np.ndarray:
    """Source indices of PyTorch's F.interpolate(mode='nearest'): floor(i * n_in / n_out)."""
    return np.floor(np.arange(n_out) * (n_in / n_out)).astype(np.int32)


def resize_nearest(x, size: int):
    """Nearest-neighbour resize of an NHWC map to size x size (strided slicing when the
    ratio is an integer, a static gather otherwise; enlarges small maps too)."""
    h, w = x.shape[1], x.shape[2]
    if (h, w) == (size, size):
        return x
    if h % size == 0 and w % size == 0:
        return x[:, :: h // size, :: w // size, :]
    x = jnp.take(x, nearest_indices(h, size), axis=1)
    return jnp.take(x, nearest_indices(w, size), axis=2)


def bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """`[n_out, n_in]` weights of PyTorch's F.interpolate(mode='bilinear', align_corners=False)
    along one axis (no antialiasing): source = (i + 0.5) * n_in / n_out - 0.5, clamped at 0."""
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    lam = src - i0
    m = np.zeros((n_out, n_in), np.float32)
    np.add.at(m, (np.arange(n_out), i0), 1.0 - lam)
    np.add.at(m, (np.arange(n_out), i1), lam)
    return m


def resize_bilinear(x, size):
    """Bilinear resize of an NHWC map to `size` (int or (h, w)), as PyTorch's
    F.interpolate(mode='bilinear', align_corners=False); a no-op at the same size."""
    h_out, w_out = (size, size) if isinstance(size, int) else size
    h, w = x.shape[1], x.shape[2]
    if (h, w) == (h_out, w_out):
        return x
    x = jnp.einsum("oh,nhwc->nowc", bilinear_matrix(h, h_out), x)
    return jnp.einsum("pw,nowc->nopc", bilinear_matrix(w, w_out), x)


def conv_macs(h_out: int, w_out: int, c_in: int, c_out: int, k: int, groups: int = 1) -> int:
    """Multiply-accumulates of one convolution for one image."""
    return h_out * w_out * c_out * (c_in // groups) * k * k


def tree_size(tree) -> int:
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(tree)))
