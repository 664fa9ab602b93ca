"""Throwaway (2026-12-06, issue 32): a 3x3 conv's training step inside a 10-step scan with its
kernel gradient's per-tap matmuls (x_tap^T g, contracting the N*H*W rows) as one dot (HEAD) or
split into C row chunks as a batched dot summed over the chunks. Interleaved rounds."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.nn.windows import taps
from eproxy_jax.chunks import _YNN_NO_CONV

def conv_xla(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))

def make(chunks):
    @jax.custom_vjp
    def conv(x, w):
        return conv_xla(x, w)
    def fwd(x, w):
        return conv_xla(x, w), (x, w)
    def bwd(res, g):
        x, w = res
        dx = conv_xla(g, jnp.flip(w, (0, 1)).swapaxes(2, 3))
        xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        cin, cout = x.shape[-1], g.shape[-1]
        g2 = g.reshape(-1, cout)
        out = []
        for t in taps(xp, 3, 1, 1, x.shape[1], x.shape[2]):
            t2 = t.reshape(-1, cin)
            if chunks == 1:
                out.append(lax.dot_general(t2, g2, (((0,), (0,)), ((), ()))))
            else:
                out.append(lax.dot_general(t2.reshape(chunks, -1, cin), g2.reshape(chunks, -1, cout),
                                           (((1,), (1,)), ((0,), (0,)))).sum(0))
        return dx, jnp.stack(out).reshape(w.shape)
    conv.defvjp(fwd, bwd)
    return conv

def build(shape, chunks):
    n, h, _, c = shape
    conv = make(chunks)
    r = jax.random.normal(jax.random.PRNGKey(1), shape)
    def step(carry, _):
        x, w = carry
        gx, gw = jax.grad(lambda x, w: jnp.sum(jax.nn.relu(conv(x, w)) * r), (0, 1))(x, w)
        return (x - 1e-6 * gx, w - 1e-6 * gw), None
    f = jax.jit(lambda x, w: lax.scan(step, (x, w), None, length=10)[0])
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    w = jax.random.normal(jax.random.PRNGKey(2), (3, 3, c, c)) * 0.05
    return f.lower(x, w).compile(compiler_options={"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV}), x, w

def once(c, x, w, reps=5):
    jax.block_until_ready(c(x, w)); ts = []
    for _ in range(reps):
        t = time.perf_counter(); jax.block_until_ready(c(x, w)); ts.append(time.perf_counter() - t)
    return 1e3 * np.median(ts) / 10

variants = [int(v) for v in sys.argv[1].split(",")]
for shape in [(16, 32, 32, 64), (16, 32, 32, 43), (16, 16, 16, 128), (16, 16, 16, 86), (16, 8, 8, 256), (16, 32, 32, 128)]:
    progs = {v: build(shape, v) for v in variants}
    res = {v: [] for v in variants}
    for _ in range(4):
        for v in variants:
            res[v].append(once(*progs[v]))
    base = np.median(res[variants[0]])
    print(shape, "  ".join(f"chunks={v}: {np.median(res[v]):.2f} ms ({np.median(res[v]) / base - 1:+.1%})" for v in variants), flush=True)
