"""Throwaway (2026-12-06, issue 32): a conv-bn-relu step (forward, both gradients, in a 10-step
scan) at NB101's bucket widths (43, 86, 171 for bucket 3; 26, 52, 103 for bucket 5) against the
same widths rounded up to a multiple of 16 (zero channels), interleaved, medians of 5."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import jax, jax.numpy as jnp, numpy as np
from eproxy_jax.nn import ops


def step_fn(k):
    def loss(w, x):
        y = jax.nn.relu(ops.batch_norm(ops.conv2d(x, w)))
        return jnp.sum(y * y)

    @jax.jit
    def run(w, x):
        def body(w, _):
            l, (gw, gx) = jax.value_and_grad(loss, argnums=(0, 1))(w, x)
            return w - 1e-3 * gw, l + jnp.sum(gx)
        return jax.lax.scan(body, w, None, length=10)[1]
    return run


def timeit(f, *a):
    f(*a).block_until_ready()
    t = time.perf_counter(); f(*a).block_until_ready(); return 1e3 * (time.perf_counter() - t)


PAIRS = [tuple(int(v) for v in a.split(",")) for a in sys.argv[1:]] or [
    (32, 43, 48), (16, 86, 96), (8, 171, 176), (32, 26, 32), (16, 52, 64), (8, 103, 112), (32, 64, 64)]
for h, c, cp in PAIRS:
    for k in (3, 1):
        res = {}
        fs = {}
        for cc in (c, cp):
            x = jax.random.normal(jax.random.key(0), (16, h, h, cc))
            w = jax.random.normal(jax.random.key(1), (k, k, cc, cc)) * 0.05
            fs[cc] = (step_fn(k), w, x)
            res[cc] = []
        for r in range(5):
            for cc in ((c, cp) if r % 2 == 0 else (cp, c)):
                f, w, x = fs[cc]
                res[cc].append(timeit(f, w, x))
        a, b = np.median(res[c]), np.median(res[cp])
        print(f"{h:2d}px k{k} width {c:3d}: {a:6.1f} ms   width {cp:3d}: {b:6.1f} ms  ({b / a - 1:+.0%}; MACs {cp * cp / c / c - 1:+.0%})", flush=True)
