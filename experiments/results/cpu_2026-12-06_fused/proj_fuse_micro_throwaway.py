"""Throwaway (2026-12-06 evening, issue 32): a cell's k input projections (1x1 convs of the same
cell input, then BN-ReLU) as k matmuls or one matmul over the concatenated kernels, forward +
both gradients, inside a 10-step scan, production compile option; ms per step (median of 7 runs
of the scan, best of 2 rounds)."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.chunks import _YNN_NO_CONV
from eproxy_jax.nn import ops
OPT = {"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV}

def bnrelu(z):
    return jax.nn.relu(ops.batch_norm(z, jnp.ones(z.shape[-1]), jnp.zeros(z.shape[-1])))

def loss_sep(x, ws, rs):
    return sum(jnp.sum(bnrelu(ops.conv2d(x, w)) * r) for w, r in zip(ws, rs))

def loss_fused(x, ws, rs):
    wv = ws[0].shape[-1]
    y = ops.conv2d(x, jnp.concatenate(ws, -1))
    return sum(jnp.sum(bnrelu(y[..., i * wv:(i + 1) * wv]) * r) for i, r in enumerate(rs))

def run(loss, x, ws, rs):
    def step(c, _):
        x, ws = c
        gx, gw = jax.grad(loss, (0, 1))(x, ws, rs)
        return (x - 1e-3 * gx, [w - 1e-3 * g for w, g in zip(ws, gw)]), None
    f = jax.jit(lambda x, ws: lax.scan(step, (x, ws), None, length=10)[0])
    c = f.lower(x, ws).compile(compiler_options=OPT)
    jax.block_until_ready(c(x, ws)); ts = []
    for _ in range(7):
        t = time.perf_counter(); jax.block_until_ready(c(x, ws)); ts.append(time.perf_counter() - t)
    return 1e3 * np.median(ts) / 10

for (n, h, ci, wv) in [(16, 32, 128, 64), (16, 16, 256, 128), (16, 8, 512, 256), (16, 32, 128, 43), (16, 32, 128, 128)]:
    for k in (2, 3, 5):
        key = jax.random.split(jax.random.PRNGKey(0), 2 * k + 1)
        x = jax.random.normal(key[0], (n, h, h, ci))
        ws = [jax.random.normal(key[1 + i], (1, 1, ci, wv)) * 0.05 for i in range(k)]
        rs = [jax.random.normal(key[1 + k + i], (n, h, h, wv)) for i in range(k)]
        a = min(run(loss_sep, x, ws, rs) for _ in range(2))
        b = min(run(loss_fused, x, ws, rs) for _ in range(2))
        print(f"x [{n},{h},{h},{ci}] -> {k} x {wv}: separate {a:6.2f} ms, fused {b:6.2f} ms ({100 * (b / a - 1):+.0f} %)", flush=True)
