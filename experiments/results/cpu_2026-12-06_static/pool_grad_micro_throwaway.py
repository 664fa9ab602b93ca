"""Throwaway (2026-12-06, issue 32): the stride-1 3x3 max-pool's input gradient (NB101's vertex
pool, `max_pool_grad` from a kept output) at NB101's shapes: HEAD's (b8b67f3's pooling.py, copied
to /tmp/pooling_old.py with its relative import made absolute) against the working tree's, in a
10-step scan, production compile option; medians of 7, the two interleaved, 3 rounds.

    cp /tmp/head/eproxy_jax/nn/pooling.py /tmp/pooling_old.py
    sed -i 's/^from .windows import taps/from eproxy_jax.nn.windows import taps/' /tmp/pooling_old.py
    python experiments/results/cpu_2026-12-06_static/pool_grad_micro_throwaway.py
"""
import importlib.util, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.chunks import _YNN_NO_CONV
from eproxy_jax.nn import pooling
spec = importlib.util.spec_from_file_location("pooling_old", "/tmp/pooling_old.py")
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)


def compiled(mod, x, y, g):
    def run(x, y, g):
        def body(c, _):
            return c + 1e-3 * mod.max_pool_grad(x, y, g + c, 3, 1, 1), None
        return lax.scan(body, jnp.zeros_like(x), None, length=10)[0]
    return jax.jit(run).lower(x, y, g).compile(compiler_options={"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV})


def timed(c, *a):
    ts = []
    for _ in range(7):
        t = time.perf_counter(); c(*a).block_until_ready(); ts.append(time.perf_counter() - t)
    return np.median(ts) * 100   # ms per gradient


for shape in ((16, 32, 32, 64), (16, 16, 16, 128), (16, 8, 8, 256), (16, 32, 32, 128)):
    rng = np.random.default_rng(0)
    x = jnp.asarray(np.round(np.maximum(rng.standard_normal(shape), 0) * 4) / 4, jnp.float32)   # post-ReLU, ties
    y = pooling.max_pool(x, 3, 1, 1)
    g = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    cs = {"HEAD": compiled(old, x, y, g), "new": compiled(pooling, x, y, g)}
    same = bool(jnp.array_equal(cs["HEAD"](x, y, g), cs["new"](x, y, g)))
    t = {k: [] for k in cs}
    for r in range(3):
        for k in (("HEAD", "new") if r % 2 == 0 else ("new", "HEAD")):
            t[k].append(timed(cs[k], x, y, g))
    a, b = np.median(t["HEAD"]), np.median(t["new"])
    print(f"{shape}: HEAD {a:5.2f} ms  new {b:5.2f} ms  ({b / a - 1:+.0%})  identical: {same}", flush=True)
