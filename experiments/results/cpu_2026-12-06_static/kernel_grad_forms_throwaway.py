"""Throwaway (2026-12-06, issue 32): forms of the 3x3 kernel gradient at NB101 shapes (g first, an explicit
transpose, both transposed, one concatenated-taps dot, g-first concatenated), production compile option;
ms per gradient (GFLOP/s), "=" bit-identical to the nine tap matmuls. Run from the repository root."""
import sys
sys.path.insert(0, "experiments/results/cpu_2026-12-06_static")
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from kernel_grad_conv_throwaway import taps_grad, bench
from eproxy_jax.nn.windows import taps
def v_gx(x, g):   # g first: [Co, C] then transpose
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); g2 = g.reshape(-1, g.shape[-1])
    t = [lax.dot_general(g2, v.reshape(-1, x.shape[-1]), (((0,), (0,)), ((), ()))).T for v in taps(xp, 3, 1, 1, *g.shape[1:3])]
    return jnp.stack(t).reshape(3, 3, x.shape[-1], g.shape[-1])
def v_t(x, g):    # explicit transposed x: [C, R] @ [R, Co]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); g2 = g.reshape(-1, g.shape[-1])
    t = [jnp.dot(v.reshape(-1, x.shape[-1]).T, g2) for v in taps(xp, 3, 1, 1, *g.shape[1:3])]
    return jnp.stack(t).reshape(3, 3, x.shape[-1], g.shape[-1])
def v_nt(x, g):   # both transposed: [C, R] x [Co, R]^T
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); gt = g.reshape(-1, g.shape[-1]).T
    t = [lax.dot_general(v.reshape(-1, x.shape[-1]).T, gt, (((1,), (1,)), ((), ()))) for v in taps(xp, 3, 1, 1, *g.shape[1:3])]
    return jnp.stack(t).reshape(3, 3, x.shape[-1], g.shape[-1])
def v_cat(x, g):  # one dot: [R, 9C]^T @ [R, Co]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); g2 = g.reshape(-1, g.shape[-1])
    p = jnp.concatenate(taps(xp, 3, 1, 1, *g.shape[1:3]), -1).reshape(-1, 9 * x.shape[-1])
    return lax.dot_general(p, g2, (((0,), (0,)), ((), ()))).reshape(3, 3, x.shape[-1], g.shape[-1])
def v_gcat(x, g):  # one dot with g on the left: [Co, 9C]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); g2 = g.reshape(-1, g.shape[-1])
    p = jnp.concatenate(taps(xp, 3, 1, 1, *g.shape[1:3]), -1).reshape(-1, 9 * x.shape[-1])
    return lax.dot_general(g2, p, (((0,), (0,)), ((), ()))).T.reshape(3, 3, x.shape[-1], g.shape[-1])
for shape in ((16, 32, 32, 64), (16, 16, 16, 128), (16, 32, 32, 128)):
    x = jax.random.normal(jax.random.key(0), shape); g = jax.random.normal(jax.random.key(1), shape)
    ref = jax.jit(taps_grad)(x, g)
    gf = 2 * np.prod(shape) * 9 * shape[-1] / 1e9
    row = []
    for name, f in (("taps", taps_grad), ("g-first", v_gx), ("xT", v_t), ("NT", v_nt), ("concat", v_cat), ("g-concat", v_gcat), ("taps", taps_grad)):
        t = bench(f, x, g); same = bool(jnp.array_equal(jax.jit(f)(x, g), ref))
        row.append(f"{name} {t:5.1f} ({gf/t*1e3:3.0f}){'=' if same else '~'}")
    print(shape, "  ".join(row), flush=True)
