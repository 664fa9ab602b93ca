"""Throwaway (2026-12-06, issue 32): NB101 programs compiled with some XLA passes disabled
(`xla_disable_hlo_passes`), timed interleaved on one draw. Usage:
    passes_ab_throwaway.py BUCKET LIMIT SAMPLE_SEED REPS 'PASS1;PASS1,PASS2;...'   ('' = default)"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from eproxy_jax import chunks, images as images_mod
from eproxy_jax.cli.bench import default_draw
from eproxy_jax.engine import Engine, enable_compilation_cache
bucket, limit, sseed, reps = (int(a) for a in sys.argv[1:5])
variants = sys.argv[5].split(";")
CUR = [""]
orig = chunks.Lowering.compiler_options
def patched(self):
    d = dict(orig(self))
    if CUR[0]:
        d["xla_disable_hlo_passes"] = CUR[0]
    return d
chunks.Lowering.compiler_options = patched
enable_compilation_cache("off")
space, setting, encs = default_draw("nb101", [], limit, sseed, bucket if bucket else None)
imgs = images_mod.load(size=space.input_size)
engs = []
for v in variants:
    CUR[0] = v
    eng = Engine(space, setting, seeds=(0,), images=imgs, chunk=1)
    for b in np.unique(np.asarray(space.bucket_of(encs))).tolist():
        eng.compile(b)
    engs.append(eng)
    print(f"[{v or 'default'}] compile {eng.compile_s:.1f} s", flush=True)
CUR[0] = ""
times = {v: [[] for _ in encs] for v in variants}
scores = {}
for r in range(reps):
    for i, e in enumerate(encs):
        for v, eng in zip(variants, engs):
            t = time.perf_counter()
            scores[(v, i)] = float(eng.score(e[None])[0, 0])
            times[v][i].append(1e3 * (time.perf_counter() - t))
    print(f"round {r}: " + "  ".join(f"[{v or 'default'}] {sum(ts[-1] for ts in times[v]) / len(encs):,.0f}" for v in variants), flush=True)
for v in variants:
    med = [np.median(ts[1:] if reps > 1 else ts) for ts in times[v]]
    d = max(abs(scores[(v, i)] / scores[(variants[0], i)] - 1) for i in range(len(encs)))
    print(f"[{v or 'default'}] per cell ms (median of rounds 1+): {[round(m) for m in med]}  mean {np.mean(med):,.0f}  max rel score diff {d:.1e}")
