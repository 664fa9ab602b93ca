"""Throwaway (2026-12-06, issue 32): the 3x3 kernel gradient split by output channels (2, 4) or as one batched
dot over the nine taps, production compile option. Run from the repository root."""
import sys
sys.path.insert(0, "experiments/results/cpu_2026-12-06_static")
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from kernel_grad_conv_throwaway import taps_grad, bench
from eproxy_jax.nn.windows import taps
def v_split(x, g, parts=2):
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); g2 = g.reshape(-1, g.shape[-1]); co = g.shape[-1]
    gs = [g2[:, k * co // parts:(k + 1) * co // parts] for k in range(parts)]
    t = [jnp.concatenate([lax.dot_general(v.reshape(-1, x.shape[-1]), gk, (((0,), (0,)), ((), ()))) for gk in gs], -1)
         for v in taps(xp, 3, 1, 1, *g.shape[1:3])]
    return jnp.stack(t).reshape(3, 3, x.shape[-1], co)
def v_batched(x, g):
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))); g2 = g.reshape(-1, g.shape[-1])
    p = jnp.stack([v.reshape(-1, x.shape[-1]) for v in taps(xp, 3, 1, 1, *g.shape[1:3])])
    gb = jnp.broadcast_to(g2, (9,) + g2.shape)
    return lax.dot_general(p, gb, (((1,), (1,)), ((0,), (0,)))).reshape(3, 3, x.shape[-1], g.shape[-1])
def v_split4(x, g): return v_split(x, g, 4)
for shape in ((16, 32, 32, 64), (16, 32, 32, 43), (16, 16, 16, 128)):
    x = jax.random.normal(jax.random.key(0), shape); g = jax.random.normal(jax.random.key(1), shape)
    ref = jax.jit(taps_grad)(x, g)
    gf = 2 * np.prod(shape) * 9 * shape[-1] / 1e9
    row = []
    for name, f in (("taps", taps_grad), ("split2", v_split), ("split4", v_split4), ("batched", v_batched), ("taps", taps_grad)):
        t = bench(f, x, g); same = bool(jnp.array_equal(jax.jit(f)(x, g), ref))
        row.append(f"{name} {t:5.1f} ({gf/t*1e3:3.0f}){'=' if same else '~'}")
    print(shape, "  ".join(row), flush=True)
