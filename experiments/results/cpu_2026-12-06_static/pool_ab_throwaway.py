"""Throwaway (2026-12-06, issue 32): NB101 with HEAD's max-pool gradient (eproxy_jax/nn/pooling.py of a
worktree of b8b67f3, patched into `ops` while its engine compiles) against the working tree's
(the first-maximum gather, reverted since), two engines in one process, the cells of one bucket
interleaved (`experiments/interleaved.py`).

    git worktree add /tmp/head b8b67f3
    python experiments/results/cpu_2026-12-06_static/pool_ab_throwaway.py /tmp/head/eproxy_jax/nn/pooling.py --limit 16 --sample-seed 3 --bucket 2
"""
import argparse, sys
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "experiments"))
ap = argparse.ArgumentParser()
ap.add_argument("old_pooling")
ap.add_argument("--sample-seed", type=int, default=3)
ap.add_argument("--limit", type=int, default=16)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--bucket", type=int, default=2)
args = ap.parse_args()
import jax  # noqa: E402
from interleaved import interleave, load_module, summary  # noqa: E402
from eproxy_jax.nn import ops  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402
old = load_module(args.old_pooling, "eproxy_jax.nn.head_pooling")
space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
encs = np.asarray(encs)
encs = encs[space.bucket_of(encs) == args.bucket]
print(f"# nb101, {len(encs)} cells of bucket {args.bucket} (sample seed {args.sample_seed}, limit {args.limit})", flush=True)
engines, new = {}, (ops.max_pool, ops.max_pool_grad)
for name, fns in (("head", (old.max_pool, old.max_pool_grad)), ("new", new)):
    ops.max_pool, ops.max_pool_grad = fns
    jax.clear_caches()      # branch traces are cached by identity
    engines[name] = Engine(space, setting, seeds=(0,), chunk=1)
    engines[name].score(encs[:1])
    print(f"{name}: compiled {engines[name].compile_s:.1f} s", flush=True)
ops.max_pool, ops.max_pool_grad = new
print("\n".join(summary(interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True)), "head")))
