"""Throwaway (2026-12-06 evening, issue 32): NB101 with its 3x3 vertex convolutions by
F(4x4, 3x3) (scoring version 9, the current `eproxy_jax.nn.winograd`) against F(2x2, 3x3)
(version 8), two engines in one process, the cells interleaved (`experiments/interleaved.py`).
The version-8 engine is HEAD's `spaces/nb101.py` (a worktree: its functions are other
objects, so JAX keeps their traces apart) compiled while `ops` calls HEAD's
`eproxy_jax/nn/winograd.py` (loaded from the worktree).

    git worktree add /tmp/head ee8964c
    python experiments/results/cpu_2026-12-06_f43/ab_f43_throwaway.py /tmp/head/spaces/nb101.py --sample-seed 9

A first run (`ab_nb101_sample9_unvectorized.txt`) timed the first F(4x4, 3x3) module (a term
per tile position in the transforms, compiling 2.3x as long), against the current module with
`winograd.tile_side` patched to answer 2 for the version-8 engine.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))
ap = argparse.ArgumentParser()
ap.add_argument("old_module")
ap.add_argument("--sample-seed", type=int, default=9)
ap.add_argument("--limit", type=int, default=8)
ap.add_argument("--reps", type=int, default=2)
args = ap.parse_args()

from interleaved import cell_table, interleave, load_module, summary, warm  # noqa: E402
from eproxy_jax import images as images_mod  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402
from eproxy_jax.nn import ops, winograd  # noqa: E402

old = load_module(args.old_module, "spaces.head_nb101")
space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
encs = np.asarray(encs)
imgs = images_mod.load(size=space.input_size)
buckets = np.asarray(space.bucket_of(encs))
print(f"# nb101, {len(encs)} cells (sample seed {args.sample_seed}), buckets {buckets.tolist()}", flush=True)
engines = {name: Engine(sp, setting, seeds=(0,), images=imgs, chunk=1)
           for name, sp in (("f23", old.SPACE_CLASS()), ("f43", space))}
head_winograd = load_module(str(Path(args.old_module).resolve().parents[1] / "eproxy_jax/nn/winograd.py"),
                            "eproxy_jax.nn.head_winograd")
ops._winograd = head_winograd
warm({"f23": engines["f23"]}, encs, buckets, log=lambda s: print(s, flush=True))
ops._winograd = winograd
warm({"f43": engines["f43"]}, encs, buckets, log=lambda s: print(s, flush=True))
res = interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True))
print("\n".join(cell_table(res, "f23", "f43", buckets)))
print("\n".join(summary(res, "f23")))
