"""Throwaway (2026-12-06, issue 32): the nine tap matmuls of a 3x3 kernel gradient, min of two runs; run
it as is and under `taskset -c 0` (one core). Run from the repository root."""
import sys
sys.path.insert(0, "experiments/results/cpu_2026-12-06_static")
import numpy as np, jax
from kernel_grad_conv_throwaway import taps_grad, bench
for shape in ((16, 32, 32, 64), (16, 16, 16, 128), (16, 8, 8, 256)):
    x = jax.random.normal(jax.random.key(0), shape); g = jax.random.normal(jax.random.key(1), shape)
    gf = 2 * np.prod(shape) * 9 * shape[-1] / 1e9
    t = min(bench(taps_grad, x, g) for _ in range(2))
    print(shape, f"{t:5.1f} ms ({gf/t*1e3:3.0f} GF/s)", flush=True)
