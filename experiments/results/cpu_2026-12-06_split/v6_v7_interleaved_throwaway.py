"""Throwaway (2026-12-06, issue 32): NB101 at scoring version 6 (the module `spaces/nb101.py` of a
worktree of 11f3f81, loaded beside the current one) and at version 7, two engines in one process,
the cells interleaved (v6 v7 v7 v6 ...; `experiments/interleaved.py` since this was run, its
round lines worded "v6 X  v7 Y ms/arch", its table's scores with 5 decimals), so drift in this machine's speed slows both alike.

    git worktree add /tmp/head 11f3f81
    python experiments/results/cpu_2026-12-06_split/v6_v7_interleaved_throwaway.py /tmp/head/spaces/nb101.py --sample-seed 3 --limit 8
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
ap.add_argument("--sample-seed", type=int, default=3)
ap.add_argument("--limit", type=int, default=8)
ap.add_argument("--reps", type=int, default=2)
args = ap.parse_args()

from interleaved import cell_table, interleave, load_module, summary, warm  # noqa: E402
from eproxy_jax import images as images_mod  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402

old = load_module(args.old_module, "spaces.nb101_v6")
space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
encs = np.asarray(encs)
engines = {"v6": old.NB101(), "v7": space}
imgs = images_mod.load(size=space.input_size)
buckets = np.asarray(space.bucket_of(encs))
print(f"# nb101, {len(encs)} cells (sample seed {args.sample_seed}), buckets {buckets.tolist()}", flush=True)
engines = {name: Engine(sp, setting, seeds=(0,), images=imgs, chunk=1) for name, sp in engines.items()}
warm(engines, encs, buckets, log=lambda s: print(s, flush=True))
res = interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True))
print("\n".join(cell_table(res, "v6", "v7", buckets)))
print("\n".join(summary(res, "v6")))
