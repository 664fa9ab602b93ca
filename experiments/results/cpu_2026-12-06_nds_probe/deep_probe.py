"""Throwaway: one deep NDS program (a masked-depth, masked-width bucket built from a fixture
genotype at a given width and depth), cells looped (`loop_min` 2, the new default) or written out:
cold compile (lower + compile, no persistent cache) and ms/arch over the fixture's genotypes.

    python deep_probe.py nds-amoeba Amoeba --width 16 --depth 20 --input-size 32 --loop-min 2,1000000 --archs 4
"""
import argparse, json, os, time
os.environ.setdefault("EPROXY_CACHE_DIR", "off")
import numpy as np
from eproxy_jax.engine import Engine
from eproxy_jax.setting import ProxySetting
from spaces import load_space

ap = argparse.ArgumentParser()
ap.add_argument("space"); ap.add_argument("file")
ap.add_argument("--width", type=int, default=16); ap.add_argument("--depth", type=int, default=20)
ap.add_argument("--input-size", type=int, default=32)
ap.add_argument("--loop-min", default="2,1000000")
ap.add_argument("--archs", type=int, default=4)
ap.add_argument("--reps", type=int, default=2)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
recs = json.load(open(os.path.join(here, "../../../tests/data/nds", a.file + ".json")))
recs = recs if isinstance(recs, list) else recs["top"] + recs["mid"]
setting = ProxySetting.from_dict({})   # the default setting
engines = {}
for lm in [int(x) for x in a.loop_min.split(",")]:
    sp = load_space(a.space, input_size=a.input_size)
    orig = sp._net
    sp._net = lambda *x, _o=orig, _lm=lm, **k: _o(*x, **k).clone(loop_min=_lm)
    # real sizes: width a.width - 2 (masked), depth a.depth - 1 and a.depth (masked depth)
    encs = np.stack([sp.parse(dict(r["net"], width=a.width - 2 * (i % 2), depth=a.depth - (i // 2) % 2))
                     for i, r in enumerate(recs[: a.archs])])
    b = sp.bucket_key(a.width, a.depth, True, True)
    eng = Engine(sp, setting, seeds=(0,), chunk=1)
    t0 = time.perf_counter(); eng._context(b); tp = time.perf_counter() - t0
    t0 = time.perf_counter(); eng.compile(b); tc = time.perf_counter() - t0
    print(f"loop_min {lm}: bucket {sp.bucket_shape(b)} prepare {tp:.1f} s  lower+compile {tc:.1f} s", flush=True)
    sp.bucket_of = lambda e, _b=b: np.full(len(e), _b, np.int64)
    engines[lm] = (eng, encs)
times = {lm: [] for lm in engines}
scores = {}
for r in range(a.reps):            # interleaved rounds
    for lm, (eng, encs) in engines.items():
        for j in range(len(encs)):
            t = time.perf_counter(); s = eng.score(encs[j:j + 1]); times[lm].append(time.perf_counter() - t)
            scores.setdefault(lm, {})[j] = float(s[0, 0])
for lm in engines:
    ts = np.asarray(times[lm]) * 1e3
    print(f"loop_min {lm}: ms/arch median {np.median(ts):.0f} mean {ts.mean():.0f}  scores {[round(v, 6) for v in scores[lm].values()]}", flush=True)
ks = list(scores)
if len(ks) == 2:
    d = [abs(scores[ks[0]][j] - scores[ks[1]][j]) / abs(scores[ks[1]][j]) for j in scores[ks[0]]]
    print("max relative score difference", max(d), "identical", sum(x == 0 for x in d), "of", len(d))
