# throwaway: a 3x3 conv-bn-relu training step inside a 10-step scan, conv_impl custom vs xla,
# under cpu_convs=xla (the v6 default), batch 16: 43 and 64 channels at 32 px, 128 at 16 px.
# Run from anywhere: python experiments/results/cpu_2026-12-06_ab_timing/kernel_grad_in_scan_throwaway.py
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))   # the checkout
import jax, jax.numpy as jnp, numpy as np
from eproxy_jax.nn import ops
from eproxy_jax.chunks import Lowering, compile_program

def make(c, hw):
    def step(w, _):
        def loss(w):
            x = jnp.ones((16, hw, hw, c)) * 0.1
            y = ops.conv2d(x, w)
            y = ops.batch_norm(y, jnp.ones(c), jnp.zeros(c))
            return jnp.mean(jax.nn.relu(y) ** 2)
        l, g = jax.value_and_grad(loss)(w)
        return w - 0.1 * g, l
    def run(w):
        return jax.lax.scan(step, w, None, length=10)
    return run

for c, hw in ((43, 32), (64, 32), (128, 16)):
    w = jnp.asarray(np.random.RandomState(0).randn(3, 3, c, c).astype(np.float32) * 0.05)
    for impl in ("custom", "xla"):
        prog, cs = compile_program(make(c, hw), Lowering(conv_impl=impl, cpu_convs="xla"), w)
        jax.block_until_ready(prog(w))
        ts = []
        for _ in range(5):
            t = time.perf_counter(); jax.block_until_ready(prog(w)); ts.append(time.perf_counter() - t)
        print(f"c={c} hw={hw} {impl}: {1000*np.median(ts)/10:.1f} ms/step (compile {cs:.1f} s)", flush=True)
