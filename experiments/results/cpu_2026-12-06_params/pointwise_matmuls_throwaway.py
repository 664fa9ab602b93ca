"""Throwaway (2026-12-06, issue 32): the three matmuls of a 1x1 convolution's training step
(forward, input gradient, kernel gradient) in several forms, inside a 10-step scan, production
compile option (`--dw-only`: the kernel gradient's forms alone); ms per call (median of 7 runs of the scan, best of 2 rounds) and GFLOP/s."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax, jax.numpy as jnp
from jax import lax
from eproxy_jax.chunks import _YNN_NO_CONV
OPT = {"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV}
def run(f, *args):
    g = jax.jit(lambda *a: lax.scan(lambda c, _: (f(c, *a[1:]) * 1e-3 + c, None), a[0], None, length=10)[0])
    c = g.lower(*args).compile(compiler_options=OPT)
    jax.block_until_ready(c(*args)); ts = []
    for _ in range(7):
        t = time.perf_counter(); jax.block_until_ready(c(*args)); ts.append(time.perf_counter() - t)
    return 1e3 * np.median(ts) / 10
def forms(m, cin, cout):
    x = jax.random.normal(jax.random.PRNGKey(0), (m, cin)); g = jax.random.normal(jax.random.PRNGKey(1), (m, cout))
    w = jax.random.normal(jax.random.PRNGKey(2), (cin, cout)); wt = w.T
    dn = lambda a, b, ca, cb: lax.dot_general(a, b, (((ca,), (cb,)), ((), ())))
    return {
        "fwd x@W": (lambda x, w: x @ w, x, w, (m, cout)),
        "dx g@W^T (NT, autodiff form)": (lambda g, w: dn(g, w, 1, 1)[:, :cin] if False else dn(g, w, 1, 1), g, w, (m, cin)),
        "dx g@(W^T copy) (NN)": (lambda g, wt: g @ wt, g, wt, (m, cin)),
        "dW x^T@g (TN, autodiff form)": (lambda x, g: dn(x, g, 0, 0), x, g, (cin, cout)),
        "dW (g^T@x)^T": (lambda x, g: dn(g, x, 0, 0).T, x, g, (cin, cout)),
        "dW x.T copy @ g (NN)": (lambda x, g: x.T @ g, x, g, (cin, cout)),
        "dW 8 chunks batched, summed": (lambda x, g: lax.dot_general(x.reshape(8, -1, cin), g.reshape(8, -1, cout), (((1,), (1,)), ((0,), (0,)))).sum(0), x, g, (cin, cout)),
        "dW 32 chunks batched, summed": (lambda x, g: lax.dot_general(x.reshape(32, -1, cin), g.reshape(32, -1, cout), (((1,), (1,)), ((0,), (0,)))).sum(0), x, g, (cin, cout)),
        "dW 2 chunks batched, summed": (lambda x, g: lax.dot_general(x.reshape(2, -1, cin), g.reshape(2, -1, cout), (((1,), (1,)), ((0,), (0,)))).sum(0), x, g, (cin, cout)),
    }
for m, cin, cout in [(16384, 128, 64), (4096, 256, 128), (1024, 512, 256), (16384, 64, 64), (16384, 128, 128)]:
    print(f"M={m} Cin={cin} Cout={cout}:")
    for name, (f, a, b, oshape) in forms(m, cin, cout).items():
        if "--dw-only" in sys.argv and not name.startswith("dW"): continue
        # the carry must have the output's shape: fold the output back onto the first argument's shape
        def ff(c, b, f=f, oshape=oshape, a=a):
            y = f(c, b)
            return jnp.zeros_like(c) + jnp.sum(y) * 0 if y.shape != c.shape else y
        t = min(run(lambda c, b, f=f: jnp.broadcast_to(jnp.mean(f(c, b)), c.shape) + 0 * c, a, b) for _ in range(2))
        print(f"   {name:32s} {t:6.2f} ms  ({2*m*cin*cout/t/1e6:5.0f} GFLOP/s, incl. a mean pass over the output)")
