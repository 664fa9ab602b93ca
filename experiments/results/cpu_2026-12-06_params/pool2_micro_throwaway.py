"""Throwaway (2026-12-06, issue 32): NB101's 2x2 stride-2 max-pool gradient inside a 10-step
scan, the strided scatter-adds (HEAD's pooling.py, copied to /tmp/pooling_old.py) against the
interleaving copy; production compile option; medians of 7 calls, 3 rounds."""
import sys, time, importlib.util
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.nn import pooling
from eproxy_jax.chunks import _YNN_NO_CONV
spec = importlib.util.spec_from_file_location("pooling_old", "/tmp/pooling_old.py"); old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
def bench(mod, shape):
    r = jax.random.normal(jax.random.PRNGKey(1), (shape[0], shape[1] // 2, shape[2] // 2, shape[3]))
    def step(x, _):
        gx = jax.grad(lambda x: jnp.vdot(mod.max_pool(x, 2, 2, 0), r))(x)
        return x - 1e-3 * gx, None
    f = jax.jit(lambda x: lax.scan(step, x, None, length=10)[0])
    x = jax.nn.relu(jax.random.normal(jax.random.PRNGKey(0), shape))
    c = f.lower(x).compile(compiler_options={"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV})
    jax.block_until_ready(c(x)); ts = []
    for _ in range(7):
        t = time.perf_counter(); out = jax.block_until_ready(c(x)); ts.append(time.perf_counter() - t)
    return 1e3 * np.median(ts) / 10, out
for shape in [(16, 32, 32, 128), (16, 16, 16, 256), (16, 32, 32, 64)]:
    res = {"scatter (HEAD)": [], "interleave": []}
    for _ in range(3):
        for name, mod in (("scatter (HEAD)", old), ("interleave", pooling)):
            t, o = bench(mod, shape); res[name].append(t); outs = res.setdefault("_" + name, o)
    same = bool(jnp.array_equal(res["_scatter (HEAD)"], res["_interleave"]))
    print(shape, "  ".join(f"{k} {np.median(v):.3f} ms/step" for k, v in res.items() if not k.startswith("_")), "identical:", same)
