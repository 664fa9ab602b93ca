"""Throwaway (2026-12-06, issue 32): the 3x3 stride-1 max pool, forward and forward + gradient in a scan, at
NB101 shapes, jitted WITHOUT the production compile option (so YNNPACK fusions as XLA's default), against one
elementwise pass. Run from the repository root."""
import time, jax, numpy as np
from eproxy_jax.nn import ops
from spaces.nb101 import max_pool_same, _same_pads
def bench(f, *a, n=7):
    f(*a).block_until_ready(); ts=[]
    for _ in range(n):
        t=time.perf_counter(); f(*a).block_until_ready(); ts.append(time.perf_counter()-t)
    return np.median(ts)*1e3
for shape in ((16,32,32,64),(16,16,16,128),(16,8,8,256),(16,32,32,128)):
    x = jax.random.normal(jax.random.key(0), shape)
    @jax.jit
    def fwd(x):
        def body(c, _):
            y = max_pool_same(c, 3, 1); return c + 1e-3 * y, None
        return jax.lax.scan(body, x, None, length=10)[0]
    @jax.jit
    def fb(x):
        def body(c, _):
            y = max_pool_same(c, 3, 1)
            dx = ops.max_pool_grad(c, y, y, 3, 1, _same_pads(c.shape[1], 3, 1))
            return c + 1e-3 * dx, None
        return jax.lax.scan(body, x, None, length=10)[0]
    @jax.jit
    def copy(x):
        def body(c, _):
            return c * 1.001 + 1e-3, None
        return jax.lax.scan(body, x, None, length=10)[0]
    mb = x.size * 4 / 1e6
    print(shape, f"{mb:.0f} MB: fwd {bench(fwd, x)/10:.2f} ms, fwd+grad {bench(fb, x)/10:.2f} ms, one elementwise pass {bench(copy, x)/10:.2f} ms")
