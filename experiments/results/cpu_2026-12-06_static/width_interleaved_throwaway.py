"""Throwaway (2026-12-06, issue 32): NB101 at HEAD (b8b67f3's spaces/nb101.py from a worktree, loaded
beside the current one) against the working tree's even compute widths (reverted since), two
engines in one process, the cells of one shape bucket interleaved (`experiments/interleaved.py`;
the other buckets' programs were unchanged). "even" is the working tree's.

    git worktree add /tmp/head b8b67f3
    python experiments/results/cpu_2026-12-06_static/width_interleaved_throwaway.py /tmp/head/spaces/nb101.py --limit 16 --sample-seed 3 --bucket 3
"""
import argparse, sys
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "experiments"))
ap = argparse.ArgumentParser()
ap.add_argument("old_module")
ap.add_argument("--sample-seed", type=int, default=3)
ap.add_argument("--limit", type=int, default=16)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--bucket", type=int, default=3)
args = ap.parse_args()
from interleaved import interleave, load_module, summary  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402
old = load_module(args.old_module, "spaces.head_module")
space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
encs = np.asarray(encs)
encs = encs[space.bucket_of(encs) == args.bucket]
head_space = old.NB101.__new__(old.NB101)
head_space.__dict__.update(space.__dict__)   # the same options, HEAD's module
print(f"# nb101, {len(encs)} cells of bucket {args.bucket} (sample seed {args.sample_seed}, limit {args.limit})", flush=True)
engines = {}
for name, sp in (("head", head_space), ("even", space)):
    engines[name] = Engine(sp, setting, seeds=(0,), chunk=1)
    engines[name].score(encs[:1])
    print(f"{name}: compiled {engines[name].compile_s:.1f} s", flush=True)
print("\n".join(summary(interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True)), "head")))
