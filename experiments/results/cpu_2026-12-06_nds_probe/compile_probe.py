"""Throwaway: cold compile of one NDS program (no persistent cache), by op set.

    python compile_probe.py nds-amoeba [--ops all|each|NAME,NAME] [--which 0]
Prints per variant: ops, bucket, lower s, compile s, optimized HLO instructions.
"""
import argparse, os, time
os.environ.setdefault("EPROXY_CACHE_DIR", "off")
import jax
from eproxy_jax.engine import Engine
from eproxy_jax.setting import ProxySetting
from eproxy_jax.chunks import chunk_args
from spaces import load_space

ap = argparse.ArgumentParser()
ap.add_argument("space")
ap.add_argument("--truth")
ap.add_argument("--ops", default="all")
ap.add_argument("--which", type=int, default=0, help="which bucket of the file (sorted)")
ap.add_argument("--input-size", type=int, default=16)
ap.add_argument("--option", action="append", default=[])
ap.add_argument("--no-remat", action="store_true", help="edges without jax.checkpoint (cellnet's make_edge remat=False)")
ap.add_argument("--score", type=int, default=0, help="then time this many of the file's architectures of the bucket")
a = ap.parse_args()
opts = dict(kv.split("=") for kv in a.option)
opts = {k: int(v) if v.isdigit() else v for k, v in opts.items()}
if a.no_remat:
    import spaces.cellnet as cn
    _orig = cn.make_edge
    cn.make_edge = lambda b, g: _orig(b, g, remat=False)
    cn._edge.cache_clear()
sp = load_space(a.space, input_size=a.input_size, **opts)
encs, _ = sp.load_truth(path=a.truth)
buckets = sorted(set(sp.bucket_of(encs).tolist()))
b = buckets[a.which]
full = tuple(sp.op_names)
if a.ops == "all":
    variants = [full]
elif a.ops == "each":
    variants = [tuple(sorted({"skip_connect", n}, key=full.index)) for n in full if n != "skip_connect"]
else:
    variants = [tuple(a.ops.split(","))]
setting = ProxySetting.from_dict({"c_out": [8, 8, 8], "c_last": [8, 8, 8]})
print("buckets", [sp.bucket_shape(x) for x in buckets], "using", sp.bucket_shape(b), flush=True)
for v in variants:
    sp.op_names = v
    eng = Engine(sp, setting, seeds=(0,))
    ctx = eng._context(b)
    args = (ctx, eng.setting, eng.images) + chunk_args(eng.chunk, sp.encoding_shape)
    fn = lambda c, s, i, e, m, ok: eng.chunk_scores(c, s, i, e, m, ok, b)
    t0 = time.perf_counter()
    with eng.lowering.active():
        low = jax.jit(fn).lower(*args)
        t1 = time.perf_counter()
        comp = low.compile(compiler_options=eng.lowering.compiler_options() or None)
    t2 = time.perf_counter()
    n_hlo = sum(1 for ln in comp.as_text().splitlines() if " = " in ln)
    n_pre = sum(1 for ln in low.as_text().splitlines() if " = " in ln)
    if a.score:
        sel = encs[sp.bucket_of(encs) == b][: a.score]
        eng._compiled[b] = comp
        eng.score(sel)
        t3 = time.perf_counter(); sc = eng.score(sel); t4 = time.perf_counter()
        print("scores", [float(x) for x in sc[:, 0]], f"ms/arch {1e3 * (t4 - t3) / len(sel):.0f}")
    print(f"{','.join(v):60s} lower {t1-t0:6.1f} s  compile {t2-t1:6.1f} s  stablehlo {n_pre:7d}  hlo {n_hlo:7d}", flush=True)
