"""Throwaway (2026-12-06, issue 32): a space with HEAD's edges (its module from a worktree of
b49bdf4, loaded beside the current one) and with `Split` conv edges, two engines in one process,
the cells interleaved, so drift in this machine's speed slows both alike.

    git worktree add /tmp/head b49bdf4
    python experiments/results/cpu_2026-12-06_params/split_interleaved_throwaway.py /tmp/head/spaces/nb201.py --sample-seed 5 --limit 16
    python experiments/results/cpu_2026-12-06_params/split_interleaved_throwaway.py /tmp/head/spaces/transnas.py --space transnas-micro --limit 12 --sample-seed 5

(The TransNAS run had `Split` conv edges in the working tree's spaces/transnas.py, not kept: they
moved its golden scores at the float-noise level; docs/results.md, NB201's conv edges.)
"""
import argparse, importlib.util, sys, time
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
ap = argparse.ArgumentParser()
ap.add_argument("old_module")
ap.add_argument("--sample-seed", type=int, default=5)
ap.add_argument("--limit", type=int, default=16)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--space", default="nb201")
args = ap.parse_args()
import spaces  # noqa: E402,F401  (the package the loaded module imports from)
from eproxy_jax import images as images_mod  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402
spec = importlib.util.spec_from_file_location("spaces.head_module", args.old_module)
old = importlib.util.module_from_spec(spec); sys.modules["spaces.head_module"] = old; spec.loader.exec_module(old)
space, setting, encs = default_draw(args.space, [], args.limit, args.sample_seed)
head_space = getattr(old, type(space).__name__).__new__(getattr(old, type(space).__name__))
head_space.__dict__.update(space.__dict__)   # the same options, HEAD's module
imgs = images_mod.load(size=space.input_size)
engines = {}
print(f"# {args.space}, {len(encs)} cells (sample seed {args.sample_seed})", flush=True)
for name, sp in (("head", head_space), ("split", space)):
    eng = Engine(sp, setting, seeds=(0,), images=imgs, chunk=1)
    eng.score(encs[:1])
    print(f"{name}: compiled {eng.compile_s:.1f} s", flush=True)
    engines[name] = eng
times = {(n, i): [] for n in engines for i in range(len(encs))}
scores = {}
for r in range(args.reps):
    for i, e in enumerate(encs):
        for n in (["head", "split"] if (r + i) % 2 == 0 else ["split", "head"]):
            t = time.perf_counter(); s = engines[n].score(e[None]); times[(n, i)].append(1000 * (time.perf_counter() - t))
            scores[(n, i)] = float(np.asarray(s).reshape(-1)[0])
    print(f"round {r}: " + "  ".join(f"{n} {np.mean([times[(n, i)][-1] for i in range(len(encs))]):,.0f}" for n in engines) + " ms/arch", flush=True)
med = {n: [float(np.median(times[(n, i)])) for i in range(len(encs))] for n in engines}
faster = sum(b < a for a, b in zip(med["head"], med["split"]))
rel = [abs(scores[("split", i)] / scores[("head", i)] - 1) for i in range(len(encs)) if np.isfinite(scores[("head", i)]) and scores[("head", i)] != 0]
for n in engines:
    print(f"{n}: median {np.median(med[n]):,.0f} ms/arch, mean {np.mean(med[n]):,.0f}")
print(f"split faster on {faster} of {len(encs)} cells; scores: max rel diff {max(rel):.1e}, median {np.median(rel):.1e}")
