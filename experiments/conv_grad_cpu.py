"""Why `ops.conv2d` has a custom VJP: gradient time of ReLU-conv3x3-BN (16x32x32x16) with
XLA's own conv transposes vs ours, at top level, inside `lax.switch` and inside a
5-step `lax.scan` (the shapes of NB201's first stage).

    python experiments/conv_grad_cpu.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from eproxy_jax.nn import ops  # noqa: E402


def xla_conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"))


def timed(f, *args, n=10):
    jax.block_until_ready(f(*args))
    t = time.perf_counter()
    for _ in range(n):
        jax.block_until_ready(f(*args))
    return 1000 * (time.perf_counter() - t) / n


def main():
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 32, 32, 16))
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 16, 16)) * 0.1
    ws = jnp.stack([w] * 5)
    print(f"# {jax.default_backend()} {jax.devices()[0].device_kind}, jax {jax.__version__}; ms per gradient")
    print("| conv | top level | in lax.switch | lax.scan of 5 |")
    print("|---|---|---|---|")
    for name, conv in (("XLA autodiff", xla_conv), ("eproxy_jax.ops.conv2d", ops.conv2d)):
        def block(x, w):
            return ops.batch_norm(conv(jax.nn.relu(x), w))

        def switched(i, x, w):
            return lax.switch(i, [lambda x, w: x, block], x, w)

        def scanned(i, x, ws):
            return lax.scan(lambda c, w: (switched(i, c, w), None), x, ws)[0]

        top = jax.jit(jax.grad(lambda x, w: jnp.sum(block(x, w) ** 2), argnums=(0, 1)))
        sw = jax.jit(jax.grad(lambda x, w, i: jnp.sum(switched(i, x, w) ** 2), argnums=(0, 1)))
        sc = jax.jit(jax.grad(lambda x, w, i: jnp.sum(scanned(i, x, w) ** 2), argnums=(0, 1)))
        print(f"| {name} | {timed(top, x, w):.1f} | {timed(sw, x, w, 1):.1f} | {timed(sc, x, ws, 1):.1f} |", flush=True)


if __name__ == "__main__":
    main()
