"""A 3x3 convolution (stride 1, 'same' zero padding, NHWC / HWIO) by Winograd's minimal
filtering F(m x m, 3x3), with gradients in the same form. Per m x m output tile and pair of
channels, F(4x4, 3x3) does 36 multiply-adds in the transformed domain and F(2x2, 3x3) does 16,
where a direct convolution does 144 and 36.

Each (m+2) x (m+2) tile of the padded input (stride m) becomes `B^T d B`, the kernel `G g G^T`;
their products summed over input channels (one batched matmul, `[T, tiles, C_in] @ [T, C_in,
C_out]`, T = (m+2)^2) and mapped back by `A^T m A` give each tile's outputs. The input gradient
is the same convolution of the output gradient with the flipped, transposed kernel; the kernel
gradient is T matmuls contracting over the tiles, mapped back by `G^T . G`.

`conv3x3` takes F(4x4, 3x3) (Lavin & Gray's points 0, +-1, +-2) where both sides divide by 4,
else F(2x2, 3x3). The transforms are a few whole-array terms over rows, then over columns
(`_along`); one term per tile position made F(4x4, 3x3)'s NB101 programs compile 2.2x as long.
On the 2-core CPU (production compile option, a 10-step scan of forward and both gradients,
`experiments/results/cpu_2026-12-06_f43/variants_throwaway.py`), against version 8's F(2x2,
3x3): 40 % faster at [16, 32, 32, 64], 33 % at [16, 32, 32, 128], 23 % at [16, 32, 32, 43],
29 % at [16, 16, 16, 86], 15 % at [16, 16, 16, 256], 11 % at [16, 16, 16, 128]. F(2x2, 3x3)
was 33-41 % faster than `ops.conv2d`'s direct path at [16, 32, 32, 64] and 23-24 % slower at
[16, 8, 8, 171] (`experiments/results/cpu_2026-12-06_fused/winograd_step_throwaway.py`): the
transforms are memory passes that the matmuls' savings pay for only on maps of at least 16x16
(`MIN_PIXELS`). Results differ from a direct convolution's by about 1e-6 (F(2x2)) and 1e-5
(F(4x4)) relative to the largest output: the transforms round differently.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

MIN_PIXELS = 256   # maps smaller than 16x16 stay with the direct convolution (module docstring)

# (B^T, G, A^T) of F(m x m, 3x3), by output tile side m
TABLES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32),
        np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float32),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float32),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float32)),
}


def fits(x_shape, kernel_shape, stride: int, padding: int, dilation: int) -> bool:
    """Whether `conv3x3` computes this convolution, and pays on the CPU: a 3x3 kernel, stride
    and dilation 1, padding 1, even height and width, at least `MIN_PIXELS` per map."""
    _, h, w, _ = x_shape
    return (tuple(kernel_shape[:2]) == (3, 3) and stride == 1 and dilation == 1 and padding == 1
            and h % 2 == 0 and w % 2 == 0 and h * w >= MIN_PIXELS)


def tile_side(h: int, w: int) -> int:
    """The output tile side `conv3x3` uses on `h x w` maps: 4 where both divide by 4, else 2."""
    return 4 if h % 4 == 0 and w % 4 == 0 else 2


def _combine(coefs, arrays):
    """`sum(c * a)` over the nonzero coefficients."""
    out = None
    for c, a in zip(coefs, arrays):
        c = float(c)
        if c == 0:
            continue
        term = a if c == 1 else (-a if c == -1 else c * a)
        out = term if out is None else out + term
    return out


def _along(coefs, arrays):
    """`[sum_k coefs[r, k] * arrays[k] for r]` stacked on a new leading axis."""
    return jnp.stack([_combine(row, arrays) for row in coefs])


def input_tiles(x, m: int = 2):
    """`B^T d B` of every (m+2)-square tile `d` of `x` padded by one pixel, tiles at stride m:
    `[(m+2)^2, N * H/m * W/m, C]`, the transformed positions first. Rows, then columns, each
    a few whole-array terms: XLA compiles a handful of ops where one term per tile position
    made F(4x4, 3x3)'s programs compile twice as long."""
    bt, t = TABLES[m][0], m + 2
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = _along(bt, [xp[:, i: i + h - m + 1: m] for i in range(t)])          # [t(a), n, h/m, w+2, c]
    cols = _along(bt, [rows[:, :, :, j: j + w - m + 1: m] for j in range(t)])   # [t(b), t(a), n, h/m, w/m, c]
    return cols.swapaxes(0, 1).reshape(t * t, -1, c)


def kernel_tiles(kernel, m: int = 2):
    """`G g G^T` of a `[3, 3, C_in, C_out]` kernel: `[(m+2)^2, C_in, C_out]`."""
    g = jnp.asarray(TABLES[m][1], kernel.dtype)
    return jnp.einsum("ai,ijco,bj->abco", g, kernel, g).reshape(-1, kernel.shape[2], kernel.shape[3])


def output_from_tiles(mm, shape, m: int = 2):
    """`A^T mm A` of every tile: `mm [(m+2)^2, N * H/m * W/m, C]` to the `[N, H, W, C]` map."""
    at, t = TABLES[m][2], m + 2
    n, h, w = shape
    mm = mm.reshape(t, t, n, h // m, w // m, mm.shape[-1])
    rows = _along(at, [mm[a] for a in range(t)])                     # [m(p), t(b), n, h/m, w/m, c]
    out = _along(at, [rows[:, b] for b in range(t)])                 # [m(q), m(p), n, h/m, w/m, c]
    return out.transpose(2, 3, 1, 4, 0, 5).reshape(n, h, w, -1)


def output_tiles_t(g, m: int = 2):
    """The transpose of `output_from_tiles`: `[(m+2)^2, N * H/m * W/m, C]` from `g [N, H, W, C]`."""
    at, t = TABLES[m][2], m + 2
    n, h, w, c = g.shape
    px = g.reshape(n, h // m, m, w // m, m, c).transpose(2, 4, 0, 1, 3, 5)   # [m(p), m(q), n, h/m, w/m, c]
    cols = _along(at.T, [px[:, q] for q in range(m)])                # [t(b), m(p), n, ...]
    out = _along(at.T, [cols[:, p] for p in range(m)])               # [t(a), t(b), n, ...]
    return out.reshape(t * t, -1, c)


def _forward(x, kernel, m):
    n, h, w, _ = x.shape
    mm = lax.dot_general(input_tiles(x, m), kernel_tiles(kernel, m), (((2,), (1,)), ((0,), (0,))))
    return output_from_tiles(mm, (n, h, w), m)


def conv3x3(x, kernel, tile: int | None = None):
    """The 3x3 'same' convolution of `x [N, H, W, C_in]` (H, W even) by `kernel [3, 3, C_in,
    C_out]`, as `lax.conv_general_dilated` with padding 1 computes it (to about 1e-5), by
    F(tile x tile, 3x3); `tile` None: `tile_side(H, W)`."""
    m = tile_side(x.shape[1], x.shape[2]) if tile is None else tile
    if m not in TABLES or x.shape[1] % m or x.shape[2] % m:
        raise ValueError(f"no F({m}x{m}, 3x3) for {x.shape[1]}x{x.shape[2]} maps")
    return _conv(x, kernel, m)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv(x, kernel, m):
    return _forward(x, kernel, m)


def _conv_fwd(x, kernel, m):
    return _forward(x, kernel, m), (x, kernel)


def _conv_bwd(m, res, g):
    x, kernel = res
    dx = _forward(g, jnp.flip(kernel, (0, 1)).swapaxes(2, 3), m)
    dm = lax.dot_general(input_tiles(x, m), output_tiles_t(g, m), (((1,), (1,)), ((0,), (0,))))
    gm = jnp.asarray(TABLES[m][1], kernel.dtype)
    dk = jnp.einsum("ai,abco,bj->ijco", gm, dm.reshape(m + 2, m + 2, *dm.shape[1:]), gm)
    return dx, dk.astype(kernel.dtype)


_conv.defvjp(_conv_fwd, _conv_bwd)
