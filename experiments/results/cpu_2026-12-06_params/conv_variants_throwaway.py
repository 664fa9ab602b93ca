"""Throwaway (2026-12-06, issue 32): one 3x3 conv's training step (fwd + dx + dw) inside a
10-step scan, under the production compile option (XLA's own convolutions), three ways:
custom (XLA conv fwd, conv dx, per-tap matmuls dw), dw as one im2col matmul, fwd+dw im2col."""
import sys, time
import numpy as np, jax, jax.numpy as jnp
from jax import lax
sys.path.insert(0, __import__("pathlib").Path(__file__).resolve().parents[3].as_posix())
from eproxy_jax.nn import ops
from eproxy_jax.nn.windows import taps
from eproxy_jax.chunks import _YNN_NO_CONV

def patches(x):
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return jnp.concatenate(taps(xp, 3, 1, 1, x.shape[1], x.shape[2]), -1)

def conv_xla(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))

def make(mode):
    @jax.custom_vjp
    def conv(x, w):
        return fwd(x, w)[0]
    def fwd(x, w):
        if mode == "im2col_fwd":
            p = patches(x)
            y = (p.reshape(-1, p.shape[-1]) @ w.reshape(-1, w.shape[-1])).reshape(x.shape[:-1] + w.shape[-1:])
        else:
            y = conv_xla(x, w)
        return y, (x, w)
    def bwd(res, g):
        x, w = res
        dx = conv_xla(g, jnp.flip(w, (0, 1)).swapaxes(2, 3))
        p = patches(x)
        dw = lax.dot_general(p.reshape(-1, p.shape[-1]), g.reshape(-1, g.shape[-1]), (((0,), (0,)), ((), ())))
        return dx, dw.reshape(w.shape)
    conv.defvjp(fwd, bwd)
    return conv

VARIANTS = {"custom": lambda x, w: ops.conv2d(x, w), "im2col_dw": make("dw"), "im2col_fwd_dw": make("im2col_fwd")}

def bench(shape, name, reps=7):
    n, h, _, c = shape
    conv = VARIANTS[name]
    r = jax.random.normal(jax.random.PRNGKey(1), shape)
    def step(carry, _):
        x, w = carry
        loss = lambda x, w: jnp.sum(jax.nn.relu(conv(x, w)) * r)
        gx, gw = jax.grad(loss, (0, 1))(x, w)
        return (x - 1e-6 * gx, w - 1e-6 * gw), None
    f = jax.jit(lambda x, w: lax.scan(step, (x, w), None, length=10)[0])
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    w = jax.random.normal(jax.random.PRNGKey(2), (3, 3, c, c)) * 0.05
    with ops.use_conv_impl("custom"):
        comp = f.lower(x, w).compile(compiler_options={"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV})
    jax.block_until_ready(comp(x, w))
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); jax.block_until_ready(comp(x, w)); ts.append(time.perf_counter() - t)
    return 1e3 * np.median(ts) / 10, comp(x, w)

shapes = [(16, 32, 32, 64), (16, 32, 32, 43), (16, 16, 16, 128), (16, 16, 16, 86), (16, 8, 8, 256), (16, 8, 8, 171), (16, 32, 32, 128)]
for shape in shapes:
    res = {}
    outs = {}
    for rnd in range(2):
        for name in VARIANTS:
            t, o = bench(shape, name)
            res.setdefault(name, []).append(t); outs[name] = o
    gf = 3 * 2 * np.prod(shape) * 9 * shape[-1] / 1e9
    base = outs["custom"][1]
    line = "  ".join(f"{k} {min(v):6.2f} ms ({gf / min(v) * 1e3:4.0f} GF/s, dw rel {float(jnp.max(jnp.abs(outs[k][1] - base)) / jnp.max(jnp.abs(base))):.0e})" for k, v in res.items())
    print(shape, line, flush=True)
