"""Throwaway (2026-12-06, issue 32): a space with HEAD's edges (its module from a worktree of
b49bdf4, loaded beside the current one) and with `Split` conv edges, two engines in one process,
the cells interleaved (`experiments/interleaved.py`, since this was run; its lines were
worded "split faster on k of n cells; scores: max rel diff"), so drift in this machine's speed
slows both alike.

    git worktree add /tmp/head b49bdf4
    python experiments/results/cpu_2026-12-06_params/split_interleaved_throwaway.py /tmp/head/spaces/nb201.py --sample-seed 5 --limit 16
    python experiments/results/cpu_2026-12-06_params/split_interleaved_throwaway.py /tmp/head/spaces/transnas.py --space transnas-micro --limit 12 --sample-seed 5

(The TransNAS run had `Split` conv edges in the working tree's spaces/transnas.py, not kept: they
moved its golden scores at the float-noise level; docs/results.md, NB201's conv edges.)
"""
import argparse, sys
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "experiments"))
ap = argparse.ArgumentParser()
ap.add_argument("old_module")
ap.add_argument("--sample-seed", type=int, default=5)
ap.add_argument("--limit", type=int, default=16)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--space", default="nb201")
args = ap.parse_args()
from interleaved import interleave, load_module, summary  # noqa: E402
from eproxy_jax import images as images_mod  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402
old = load_module(args.old_module, "spaces.head_module")
space, setting, encs = default_draw(args.space, [], args.limit, args.sample_seed)
encs = np.asarray(encs)
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
print("\n".join(summary(interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True)), "head")))
