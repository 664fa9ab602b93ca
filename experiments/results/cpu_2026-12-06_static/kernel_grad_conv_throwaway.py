"""Throwaway (2026-12-06, issue 32): a 3x3 convolution's kernel gradient as nine tap matmuls
(ops._conv_bwd) against one XLA convolution that contracts over the batch (batch and feature
swapped: x as [C_in batch, H, W, N features], g as the [H, W] kernel), inside a 10-step scan,
the production compile option (YNNPACK without convolutions); medians of 7."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.chunks import _YNN_NO_CONV
from eproxy_jax.nn.windows import taps


def taps_grad(x, g):
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    g2 = g.reshape(-1, g.shape[-1])
    t = [lax.dot_general(v.reshape(-1, x.shape[-1]), g2, (((0,), (0,)), ((), ()))) for v in taps(xp, 3, 1, 1, *g.shape[1:3])]
    return jnp.stack(t).reshape(3, 3, x.shape[-1], g.shape[-1])


def conv_grad(x, g):
    return lax.conv_general_dilated(x, g, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("CHWN", "IHWO", "NHWC")).transpose(1, 2, 0, 3)


def bench(f, x, g):
    def run(x, g):
        def body(c, _):
            return c + 1e-3 * jnp.sum(f(x + c[0, 0, 0, 0], g)), None
        return lax.scan(body, jnp.zeros((1, 1, 1, 1)), None, length=10)[0]
    comp = jax.jit(run).lower(x, g).compile(compiler_options={"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV})
    comp(x, g).block_until_ready(); ts = []
    for _ in range(7):
        t = time.perf_counter(); comp(x, g).block_until_ready(); ts.append(time.perf_counter() - t)
    return np.median(ts) * 100


if __name__ == "__main__":
  for shape in ((16, 32, 32, 64), (16, 16, 16, 128), (16, 8, 8, 256), (16, 32, 32, 128), (16, 32, 32, 43)):
      x = jax.random.normal(jax.random.key(0), shape); g = jax.random.normal(jax.random.key(1), shape)
      a, b = jax.jit(taps_grad)(x, g), jax.jit(conv_grad)(x, g)
      gf = 2 * np.prod(shape) * 9 * shape[-1] / 1e9
      ta, tb = bench(taps_grad, x, g), bench(conv_grad, x, g)
      print(f"{shape}: taps {ta:6.2f} ms ({gf / ta * 1e3:4.0f} GF/s)  conv {tb:6.2f} ms ({gf / tb * 1e3:4.0f} GF/s)  "
            f"max rel diff {float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))):.1e}", flush=True)
