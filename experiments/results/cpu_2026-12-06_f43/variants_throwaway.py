"""Throwaway (2026-12-06 evening, issue 32): Winograd variants for a 3x3 'same' convolution's
training step (forward + both gradients, 10-step scan, production compile option), against
the module's F(2x2, 3x3) (`eproxy_jax.nn.winograd.conv3x3`):

- `f23t`: F(2x2, 3x3) whose input gradient is the transpose of the forward (the output
  gradient's tiles `A g A^T`, shared with the kernel gradient, times the transposed kernel
  tiles, then the overlap-add of `B . B^T`) and whose input tiles are kept from the forward;
- `f23s`: as the module, input tiles kept from the forward instead of recomputed;
- `f43`: F(4x4, 3x3) (Lavin & Gray's points 0, +-1, +-2), the module's structure; `f43s`
  keeps the input tiles too;
- `f23v`, `f43v`: the module as it is now (`eproxy_jax.nn.winograd.conv3x3` with tile 2 / 4:
  the transforms as whole-array terms over rows, then columns). `f23` is version 8's module
  (a term per tile position), written out here.
Each variant's compile seconds (the last of its two compiles) are printed beside its time.
A first run also timed `f23t` (input gradient as the transposed forward: 1-37 % slower, the
overlap-add of the tiles is a chain of strided scatter-adds), `make(F23)` below.

ms per step, and each variant's largest relative error against XLA's convolution.

    python experiments/results/cpu_2026-12-06_f43/variants_throwaway.py
"""
import functools, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.chunks import _YNN_NO_CONV
from eproxy_jax.nn import ops, winograd
from eproxy_jax.nn.windows import taps
OPT = {"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV}

F23 = (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float32),
       np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]], np.float32),
       np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float32))
F43 = (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float32),
       np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                 [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float32),
       np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float32))


comb = winograd._combine          # sum(c * a) over the nonzero coefficients


def make(F, dx_by_forward=False, keep_tiles=True):
    BT, G, AT = F
    t, m = BT.shape[0], AT.shape[0]

    def in_tiles(x):
        n, h, w, c = x.shape
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        v = taps(xp, t, 1, m, h // m, w // m)
        d = [v[t * i: t * i + t] for i in range(t)]
        rows = [[comb(BT[a], [d[i][j] for i in range(t)]) for j in range(t)] for a in range(t)]
        return jnp.stack([comb(BT[b], rows[a]) for a in range(t) for b in range(t)]).reshape(t * t, -1, c)

    def in_tiles_t(u, shape):          # transpose of in_tiles: overlap-add of B u B^T
        n, h, w = shape
        c = u.shape[-1]
        u = u.reshape(t, t, n, h // m, w // m, c)
        rows = [[comb(BT[:, i], [u[a][b] for a in range(t)]) for b in range(t)] for i in range(t)]
        d = [[comb(BT[:, j], rows[i]) for j in range(t)] for i in range(t)]
        xp = jnp.zeros((n, h + 2, w + 2, c), u.dtype)
        for i in range(t):
            for j in range(t):
                xp = xp.at[:, i: i + h - m + 1: m, j: j + w - m + 1: m, :].add(d[i][j])
        return xp[:, 1:-1, 1:-1, :]

    def k_tiles(k):
        g = jnp.asarray(G, k.dtype)
        return jnp.einsum("ai,ijco,bj->abco", g, k, g).reshape(t * t, k.shape[2], k.shape[3])

    def out_from(mm, shape):
        n, h, w = shape
        mm = mm.reshape(t, t, n, h // m, w // m, mm.shape[-1])
        rows = [comb(AT[p], [mm[a] for a in range(t)]) for p in range(m)]
        out = [[comb(AT[q], [rows[p][b] for b in range(t)]) for q in range(m)] for p in range(m)]
        return jnp.stack([jnp.stack(r, 3) for r in out], 2).reshape(n, h, w, -1)

    def out_t(g):
        v = taps(g, m, 1, m, g.shape[1] // m, g.shape[2] // m)
        parts = [v[m * p: m * p + m] for p in range(m)]
        cols = [[comb(AT[:, b], parts[p]) for b in range(t)] for p in range(m)]
        out = [comb(AT[:, a], [cols[p][b] for p in range(m)]) for a in range(t) for b in range(t)]
        return jnp.stack(out).reshape(t * t, -1, g.shape[-1])

    @jax.custom_vjp
    def conv(x, k):
        n, h, w, _ = x.shape
        return out_from(lax.dot_general(in_tiles(x), k_tiles(k), (((2,), (1,)), ((0,), (0,)))), (n, h, w))

    def fwd(x, k):
        n, h, w, _ = x.shape
        u, kt = in_tiles(x), k_tiles(k)
        return out_from(lax.dot_general(u, kt, (((2,), (1,)), ((0,), (0,)))), (n, h, w)), (u if keep_tiles else x, kt, k)

    def bwd(res, g):
        u, kt, k = res
        shape = g.shape
        if not keep_tiles:
            u = in_tiles(u)
        gt = out_t(g)
        if dx_by_forward:
            dx = conv(g, jnp.flip(k, (0, 1)).swapaxes(2, 3))
        else:
            du = lax.dot_general(gt, kt, (((2,), (2,)), ((0,), (0,))))
            dx = in_tiles_t(du, shape[:3])
        dm = lax.dot_general(u, gt, (((1,), (1,)), ((0,), (0,))))
        gm = jnp.asarray(G, g.dtype)
        dk = jnp.einsum("ai,abco,bj->ijco", gm, dm.reshape(t, t, *dm.shape[1:]), gm)
        return dx, dk

    conv.defvjp(fwd, bwd)
    return conv


VARIANTS = {"f23": make(F23, True, False), "f23s": make(F23, True, True), "f43": make(F43, True, False),
            "f43s": make(F43, True, True),
            "f23v": functools.partial(winograd.conv3x3, tile=2), "f43v": functools.partial(winograd.conv3x3, tile=4)}
COMPILE_S = {}


def run(conv, x, w, r):
    def step(c, _):
        x, w = c
        gx, gw = jax.grad(lambda x, w: jnp.sum(conv(x, w) * r), (0, 1))(x, w)
        return (x - 1e-3 * gx, w - 1e-3 * gw), None
    f = jax.jit(lambda x, w: lax.scan(step, (x, w), None, length=10)[0])
    t0 = time.perf_counter()
    c = f.lower(x, w).compile(compiler_options=OPT)
    COMPILE_S[conv] = time.perf_counter() - t0
    jax.block_until_ready(c(x, w)); ts = []
    for _ in range(7):
        t0 = time.perf_counter(); jax.block_until_ready(c(x, w)); ts.append(time.perf_counter() - t0)
    return 1e3 * np.median(ts) / 10


if __name__ == "__main__":
    shapes = [(16, 32, 64), (16, 16, 128), (16, 8, 256), (16, 32, 43), (16, 16, 86), (16, 8, 171),
              (16, 32, 128), (16, 16, 256), (16, 8, 512)]
    if len(sys.argv) > 1:                       # a list of indices into `shapes`, then variant names
        shapes = [shapes[int(i)] for i in sys.argv[1].split(",")]
    if len(sys.argv) > 2:
        VARIANTS = {k: VARIANTS[k] for k in sys.argv[2].split(",")}
    for n, h, c in shapes:
        k = jax.random.split(jax.random.PRNGKey(0), 3)
        x = jax.random.normal(k[0], (n, h, h, c)); w = jax.random.normal(k[1], (3, 3, c, c)) * 0.05
        r = jax.random.normal(k[2], (n, h, h, c))
        ref = jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(ops._conv(x, w, 1, ((1, 1), (1, 1)), 1) * r), (0, 1)))(x, w)
        yref = ops._conv(x, w, 1, ((1, 1), (1, 1)), 1)
        line = f"[{n},{h},{h},{c}]:"
        base = None
        for name, conv in VARIANTS.items():
            y = jax.jit(conv)(x, w)
            gr = jax.jit(jax.grad(lambda x, w: jnp.sum(conv(x, w) * r), (0, 1)))(x, w)
            err = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip((yref,) + tuple(ref[1]), (y,) + tuple(gr)))
            ms = min(run(conv, x, w, r) for _ in range(2))
            base = base or ms
            line += f"  {name} {ms:6.2f} ms ({100 * (ms / base - 1):+4.0f} %, err {err:.1e}, compile {COMPILE_S[conv]:.2f} s)"
        print(line, flush=True)
