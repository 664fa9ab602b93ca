"""Throwaway (2026-12-06, issue 32): two architectures as two independent graphs in one program
step (not vmapped), so XLA:CPU may overlap them on the two cores; against one at a time.
Usage: pairs_throwaway.py BUCKET LIMIT SAMPLE_SEED REPS"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np, jax.numpy as jnp
from jax import lax
from eproxy_jax import engine as engmod, images as images_mod
from eproxy_jax.chunks import map_archs as orig_map
from eproxy_jax.cli.bench import default_draw
from eproxy_jax.engine import Engine, enable_compilation_cache

def paired(score, encs, macs, valid, arch_vmap):
    n = encs.shape[0]
    if n % 2:
        return orig_map(score, encs, macs, valid, arch_vmap)
    def one(e, m, ok):
        return lax.cond(ok, lambda: score(e, m), lambda: jnp.full((), jnp.nan, jnp.float32))
    def two(args):
        e, m, ok = args
        return jnp.stack([one(e[0], m[0], ok[0]), one(e[1], m[1], ok[1])])
    out = lax.map(two, (encs.reshape((n // 2, 2) + encs.shape[1:]), macs.reshape(-1, 2), valid.reshape(-1, 2)))
    return out.reshape(-1)

bucket, limit, sseed, reps = (int(a) for a in sys.argv[1:5])
enable_compilation_cache("off")
space, setting, encs = default_draw("nb101", [], limit, sseed, bucket)
imgs = images_mod.load(size=space.input_size)
single = Engine(space, setting, seeds=(0,), images=imgs, chunk=1); single.compile(bucket)
engmod.map_archs = paired
pair = Engine(space, setting, seeds=(0,), images=imgs, chunk=2); pair.compile(bucket)
engmod.map_archs = orig_map
print(f"compile single {single.compile_s:.1f} s, paired {pair.compile_s:.1f} s", flush=True)
for r in range(reps):
    t = time.perf_counter(); s1 = single.score(encs)[:, 0]; a = (time.perf_counter() - t) / len(encs)
    t = time.perf_counter(); s2 = pair.score(encs)[:, 0]; b = (time.perf_counter() - t) / len(encs)
    print(f"round {r}: single {1e3*a:,.0f} ms/arch, paired {1e3*b:,.0f} ms/arch ({b/a-1:+.1%}); max rel diff {np.max(np.abs(s2/s1-1)):.1e}", flush=True)
