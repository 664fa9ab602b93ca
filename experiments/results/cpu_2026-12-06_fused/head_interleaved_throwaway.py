"""Throwaway (2026-12-06 evening, issue 32): the current `spaces/<space>.py` against HEAD's (a
worktree, loaded beside the current one, on the current `eproxy_jax`), two engines in one
process, the cells interleaved (`experiments/interleaved.py`). Run twice this session:

    git worktree add /tmp/head 0d5e658
    # NB101's switches keeping BatchNorm's statistics (`Split.stats`, bn_stats.diff; not kept)
    python experiments/results/cpu_2026-12-06_fused/head_interleaved_throwaway.py /tmp/head/spaces/nb101.py --label stats --sample-seed 7
    # NB101's 3x3 vertex convolutions by Winograd (ea2c752, kept)
    python experiments/results/cpu_2026-12-06_fused/head_interleaved_throwaway.py /tmp/head/spaces/nb101.py --label winograd --sample-seed 8

Each was first run as a script of its own with the label written in (the same lines);
`winograd_nb101_sample8_first.txt` is a first run that stopped at the table (a label typo).
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
ap.add_argument("--label", default="new")
ap.add_argument("--space", default="nb101")
ap.add_argument("--sample-seed", type=int, default=8)
ap.add_argument("--limit", type=int, default=8)
ap.add_argument("--reps", type=int, default=2)
args = ap.parse_args()

from interleaved import cell_table, interleave, load_module, summary, warm  # noqa: E402
from eproxy_jax import images as images_mod  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402

old = load_module(args.old_module, f"spaces.head_{args.space}")
space, setting, encs = default_draw(args.space, [], args.limit, args.sample_seed)
encs = np.asarray(encs)
engines = {"head": old.SPACE_CLASS(), args.label: space}
imgs = images_mod.load(size=space.input_size)
buckets = np.asarray(space.bucket_of(encs)) if hasattr(space, "bucket_of") else np.zeros(len(encs), int)
print(f"# {args.space}, {len(encs)} cells (sample seed {args.sample_seed}), buckets {buckets.tolist()}", flush=True)
engines = {name: Engine(sp, setting, seeds=(0,), images=imgs, chunk=1) for name, sp in engines.items()}
warm(engines, encs, buckets, log=lambda s: print(s, flush=True))
res = interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True))
print("\n".join(cell_table(res, "head", args.label, buckets)))
print("\n".join(summary(res, "head")))
