"""Throwaway A/B: the depthwise convolution of scoring version 9 (k x k taps, autodiff) against
version 10's `ops.depthwise_conv2d` (the gradients by hand), in one process, interleaved rounds.
(As run on 2026-12-06 the script held a copy of version 10's code; it is now the package's.)

    python ab_dw_throwaway.py nb301 --archs 8 --rounds 2 [--sample-seed 5]
"""
import argparse, os, time
os.environ.setdefault("EPROXY_CACHE_DIR", "off")
import jax
import numpy as np
from eproxy_jax.engine import Engine
from eproxy_jax.nn import ops
import spaces.cellnet as cn
from spaces import load_space

NEW = ops.depthwise_conv2d   # version 10: the gradients by hand


def old(x, kernel, stride=1, dilation=1):
    """Version 9: the same tap sum (the custom VJP's forward), differentiated by JAX."""
    return ops._depthwise_fwd(x, kernel, int(stride), int(dilation))[0]


ap = argparse.ArgumentParser()
ap.add_argument("space", nargs="?", default="nb301")
ap.add_argument("--archs", type=int, default=8)
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--sample-seed", type=int, default=5)
a = ap.parse_args()
sp = load_space(a.space)
encs, _ = sp.load_truth()
encs = encs[np.random.default_rng(a.sample_seed).choice(len(encs), a.archs, replace=False)]
engines = {}
for name, fn in (("taps", old), ("custom_vjp", NEW)):
    ops.depthwise_conv2d = fn
    cn._edge.cache_clear(); jax.clear_caches()
    eng = Engine(sp, seeds=(0,), chunk=1)
    t = time.perf_counter(); eng.score(encs[:1]); print(name, f"first call (prepare + compile + 1 arch) {time.perf_counter() - t:.1f} s, compile {eng.compile_s:.1f} s", flush=True)
    engines[name] = eng
times, scores = {n: [] for n in engines}, {}
for r in range(a.rounds):
    for n, eng in engines.items():
        for j in range(len(encs)):
            t = time.perf_counter(); s = eng.score(encs[j:j + 1]); times[n].append(time.perf_counter() - t)
            scores.setdefault(n, []).append(float(s[0, 0])) if r == 0 else None
for n in engines:
    ts = np.asarray(times[n]) * 1e3
    print(f"{n}: ms/arch median {np.median(ts):.0f} mean {ts.mean():.0f}", flush=True)
d = np.abs(np.asarray(scores["taps"]) - np.asarray(scores["custom_vjp"])) / np.abs(scores["taps"])
print("relative score differences: max", d.max(), "median", np.median(d))
per = np.asarray(times["custom_vjp"]).reshape(a.rounds, -1).mean(0) / np.asarray(times["taps"]).reshape(a.rounds, -1).mean(0)
print("per-arch ratio custom/taps:", np.round(per, 3).tolist())
