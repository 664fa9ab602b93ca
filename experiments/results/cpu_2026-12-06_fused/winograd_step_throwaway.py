"""Throwaway (2026-12-06 evening, issue 32): a Winograd F(2x2, 3x3) convolution with its own
gradients (input: the same Winograd convolution of the output gradient with the flipped
kernel; kernel: 16 matmuls in the transformed domain) against `ops.conv2d`'s (XLA forward, tap
matmuls for the kernel gradient), a training step (forward + both gradients) inside a 10-step
scan, production compile option; ms per step and the largest relative error of each part.
First run with its own copy of the transforms (the prototype of `eproxy_jax.nn.winograd`,
the same arithmetic); now it times the module.

    python experiments/results/cpu_2026-12-06_fused/winograd_step_throwaway.py
"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.chunks import _YNN_NO_CONV
from eproxy_jax.nn import ops, winograd
OPT = {"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV}
wconv = winograd.conv3x3


def run(conv, x, w, r):
    def step(c, _):
        x, w = c
        gx, gw = jax.grad(lambda x, w: jnp.sum(conv(x, w) * r), (0, 1))(x, w)
        return (x - 1e-3 * gx, w - 1e-3 * gw), None
    f = jax.jit(lambda x, w: lax.scan(step, (x, w), None, length=10)[0])
    c = f.lower(x, w).compile(compiler_options=OPT)
    jax.block_until_ready(c(x, w)); ts = []
    for _ in range(7):
        t = time.perf_counter(); jax.block_until_ready(c(x, w)); ts.append(time.perf_counter() - t)
    return 1e3 * np.median(ts) / 10

shapes = [(16, 32, 64), (16, 16, 128), (16, 8, 256), (16, 32, 128), (16, 16, 256), (16, 8, 512), (16, 32, 43), (16, 16, 86), (16, 8, 171)]
for n, h, c in shapes:
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k[0], (n, h, h, c)); w = jax.random.normal(k[1], (3, 3, c, c)) * 0.05
    r = jax.random.normal(k[2], (n, h, h, c))
    gr = jax.jit(jax.grad(lambda x, w: jnp.sum(ops.conv2d(x, w) * r), (0, 1)))(x, w)
    gw = jax.jit(jax.grad(lambda x, w: jnp.sum(wconv(x, w) * r), (0, 1)))(x, w)
    err = [float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip(gr, gw)]
    a = min(run(ops.conv2d, x, w, r) for _ in range(2)); b = min(run(wconv, x, w, r) for _ in range(2))
    gf = 3 * 2 * n * h * h * 9 * c * c / 1e6
    print(f"[{n},{h},{h},{c}] x {c}: conv2d {a:6.2f} ms ({gf / a:4.0f} GFLOP/s)  winograd {b:6.2f} ms ({100 * (b / a - 1):+.0f} %), rel err dx {err[0]:.1e} dw {err[1]:.1e}", flush=True)
