"""Throwaway (2026-12-06, issue 32): NB101 at scoring version 6 (the module `spaces/nb101.py` of a
worktree of 11f3f81, loaded beside the current one) and at version 7, two engines in one process,
the cells interleaved (v6 v7 v7 v6 ...), so drift in this machine's speed slows both alike.

    git worktree add /tmp/head 11f3f81
    python experiments/results/cpu_2026-12-06_split/v6_v7_interleaved_throwaway.py /tmp/head/spaces/nb101.py --sample-seed 3 --limit 8
"""
import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
ap = argparse.ArgumentParser()
ap.add_argument("old_module")
ap.add_argument("--sample-seed", type=int, default=3)
ap.add_argument("--limit", type=int, default=8)
ap.add_argument("--reps", type=int, default=2)
args = ap.parse_args()

import spaces  # noqa: E402,F401  (the package the old module imports relatively from)
from eproxy_jax import images as images_mod  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402

spec = importlib.util.spec_from_file_location("spaces.nb101_v6", args.old_module)
old = importlib.util.module_from_spec(spec)
sys.modules["spaces.nb101_v6"] = old
spec.loader.exec_module(old)

space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
engines = {"v6": old.NB101(), "v7": space}
imgs = images_mod.load(size=space.input_size)
buckets = np.asarray(space.bucket_of(encs))
print(f"# nb101, {len(encs)} cells (sample seed {args.sample_seed}), buckets {buckets.tolist()}", flush=True)
for name, sp in list(engines.items()):
    eng = Engine(sp, setting, seeds=(0,), images=imgs, chunk=1)
    for b in dict.fromkeys(buckets.tolist()):
        eng.score(encs[buckets.tolist().index(b)][None])
    print(f"{name}: compiled {eng.compile_s:.1f} s", flush=True)
    engines[name] = eng
times = {(n, i): [] for n in engines for i in range(len(encs))}
scores = {}
for r in range(args.reps):
    for i, e in enumerate(encs):
        order = ["v6", "v7"] if (r + i) % 2 == 0 else ["v7", "v6"]
        for n in order:
            t = time.perf_counter()
            s = engines[n].score(e[None])
            times[(n, i)].append(1000 * (time.perf_counter() - t))
            scores[(n, i)] = float(np.asarray(s).reshape(-1)[0])
    print(f"round {r}: v6 {np.mean([times[('v6', i)][-1] for i in range(len(encs))]):,.0f} "
          f"v7 {np.mean([times[('v7', i)][-1] for i in range(len(encs))]):,.0f} ms/arch", flush=True)
print("| cell | bucket | v6 ms | v7 ms | change | score v6 | score v7 |\n|---|---|---|---|---|---|---|")
med = {n: [float(np.median(times[(n, i)])) for i in range(len(encs))] for n in engines}
for i in range(len(encs)):
    a, b = med["v6"][i], med["v7"][i]
    print(f"| {i} | {buckets[i]} | {a:,.0f} | {b:,.0f} | {100 * (b / a - 1):+.1f} % | {scores[('v6', i)]:.5f} | {scores[('v7', i)]:.5f} |")
for n in engines:
    print(f"{n}: median {np.median(med[n]):,.0f} ms/arch, mean {np.mean(med[n]):,.0f}")
