"""A 3x3 convolution (stride 1, 'same' zero padding, NHWC / HWIO) by Winograd's minimal
filtering F(2x2, 3x3), with gradients in the same form: per 2x2 output tile and pair of
channels, 16 multiply-adds in the transformed domain where a direct convolution does 36.

Each 4x4 tile of the padded input (stride 2) becomes `B^T d B`, the kernel `G g G^T`; their
products summed over input channels (one batched matmul, `[16, tiles, C_in] @ [16, C_in,
C_out]`) and mapped back by `A^T m A` give each tile's 2x2 outputs. The input gradient is the
same convolution of the output gradient with the flipped, transposed kernel; the kernel
gradient is 16 matmuls contracting over the tiles, mapped back by `G^T . G`.

On the 2-core CPU (production compile option, a 10-step scan of forward and both gradients,
`experiments/results/cpu_2026-12-06_fused/winograd_step_throwaway.py`, two runs): 33-41 %
faster than `ops.conv2d`'s path at [16, 32, 32, 64], 15-36 % at [16, 16, 16, 128], 7-8 % at
[16, 8, 8, 256] and 23-24 % slower at [16, 8, 8, 171]: the transforms are memory passes that
the matmuls' savings pay for only on maps of at least 16x16 (`MIN_PIXELS`). Float results differ from a
direct convolution's by about 1e-6 relative (the transforms round differently).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .windows import taps

MIN_PIXELS = 256   # maps smaller than 16x16 stay with the direct convolution (module docstring)

_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32)
_G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)


def fits(x_shape, kernel_shape, stride: int, padding: int, dilation: int) -> bool:
    """Whether `conv3x3` computes this convolution, and pays on the CPU: a 3x3 kernel, stride
    and dilation 1, padding 1, even height and width, at least `MIN_PIXELS` per map."""
    _, h, w, _ = x_shape
    return (tuple(kernel_shape[:2]) == (3, 3) and stride == 1 and dilation == 1 and padding == 1
            and h % 2 == 0 and w % 2 == 0 and h * w >= MIN_PIXELS)


def _combine(coefs, arrays):
    """`sum(c * a)` over the nonzero coefficients (all 1, -1 or 0.5 here)."""
    out = None
    for c, a in zip(coefs, arrays):
        if c == 0:
            continue
        term = a if c == 1 else (-a if c == -1 else c * a)
        out = term if out is None else out + term
    return out


def input_tiles(x):
    """`B^T d B` of every 4x4 tile `d` of `x` padded by one pixel, tiles at stride 2:
    `[16, N * H/2 * W/2, C]`, the 16 transformed positions first."""
    n, h, w, c = x.shape
    t1, t2 = h // 2, w // 2
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = taps(xp, 4, 1, 2, t1, t2)                     # tile pixel (i, j), row-major
    d = [views[4 * i: 4 * i + 4] for i in range(4)]
    rows = [[_combine(_BT[a], [d[i][j] for i in range(4)]) for j in range(4)] for a in range(4)]
    return jnp.stack([_combine(_BT[b], rows[a]) for a in range(4) for b in range(4)]).reshape(16, -1, c)


def kernel_tiles(kernel):
    """`G g G^T` of a `[3, 3, C_in, C_out]` kernel: `[16, C_in, C_out]`."""
    g = jnp.asarray(_G, kernel.dtype)
    return jnp.einsum("ai,ijco,bj->abco", g, kernel, g).reshape(16, kernel.shape[2], kernel.shape[3])


def output_from_tiles(m, shape):
    """`A^T m A` of every tile: `m [16, N * H/2 * W/2, C]` to the `[N, H, W, C]` map."""
    n, h, w = shape
    m = m.reshape(4, 4, n, h // 2, w // 2, m.shape[-1])
    rows = [_combine(_AT[p], [m[a] for a in range(4)]) for p in range(2)]
    out = [[_combine(_AT[q], [rows[p][b] for b in range(4)]) for q in range(2)] for p in range(2)]
    return jnp.stack([jnp.stack(row, 3) for row in out], 2).reshape(n, h, w, -1)


def output_tiles_t(g):
    """The transpose of `output_from_tiles`: `[16, N * H/2 * W/2, C]` from `g [N, H, W, C]`."""
    views = taps(g, 2, 1, 2, g.shape[1] // 2, g.shape[2] // 2)            # output pixel (p, q) of each tile
    parts = [views[2 * p: 2 * p + 2] for p in range(2)]
    cols = [[_combine(_AT[:, b], parts[p]) for b in range(4)] for p in range(2)]
    out = [_combine(_AT[:, a], [cols[p][b] for p in range(2)]) for a in range(4) for b in range(4)]
    return jnp.stack(out).reshape(16, -1, g.shape[-1])


def _forward(x, kernel):
    n, h, w, _ = x.shape
    m = lax.dot_general(input_tiles(x), kernel_tiles(kernel), (((2,), (1,)), ((0,), (0,))))
    return output_from_tiles(m, (n, h, w))


@jax.custom_vjp
def conv3x3(x, kernel):
    """The 3x3 'same' convolution of `x [N, H, W, C_in]` (H, W even) by `kernel [3, 3, C_in,
    C_out]`, as `lax.conv_general_dilated` with padding 1 computes it (to about 1e-6)."""
    return _forward(x, kernel)


def _conv3x3_fwd(x, kernel):
    return _forward(x, kernel), (x, kernel)


def _conv3x3_bwd(res, g):
    x, kernel = res
    dx = _forward(g, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
    dm = lax.dot_general(input_tiles(x), output_tiles_t(g), (((1,), (1,)), ((0,), (0,))))
    gm = jnp.asarray(_G, kernel.dtype)
    dk = jnp.einsum("ai,abco,bj->ijco", gm, dm.reshape(4, 4, *dm.shape[1:]), gm)
    return dx, dk.astype(kernel.dtype)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)
