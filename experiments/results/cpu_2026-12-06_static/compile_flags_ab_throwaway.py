"""Throwaway (2026-12-06, issue 32): NB101 programs compiled with extra XLA:CPU options (added to
`Lowering.compiler_options` while an engine compiles) against the production options, engines in
one process, the cells of one bucket interleaved (`experiments/interleaved.py`).

    python experiments/results/cpu_2026-12-06_static/compile_flags_ab_throwaway.py --bucket 2 \
        --variant sched=xla_cpu_enable_concurrency_optimized_scheduler:false
"""
import argparse, sys
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "experiments"))
ap = argparse.ArgumentParser()
ap.add_argument("--sample-seed", type=int, default=3)
ap.add_argument("--limit", type=int, default=16)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--bucket", type=int, default=2)
ap.add_argument("--max-cells", type=int, default=4)
ap.add_argument("--variant", action="append", default=[], help="NAME=FLAG:VALUE[,FLAG:VALUE]")
args = ap.parse_args()
import jax  # noqa: E402
from interleaved import interleave, summary  # noqa: E402
from eproxy_jax import chunks  # noqa: E402
from eproxy_jax.cli.bench import default_draw  # noqa: E402
from eproxy_jax.engine import Engine  # noqa: E402


def parse(v):
    name, flags = v.split("=", 1)
    out = {}
    for f in flags.split(","):
        k, val = f.split(":", 1)
        out[k] = {"true": True, "false": False}.get(val, int(val) if val.isdigit() else val)
    return name, out


space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
encs = np.asarray(encs)
encs = encs[space.bucket_of(encs) == args.bucket][:args.max_cells]
print(f"# nb101, {len(encs)} cells of bucket {args.bucket} (sample seed {args.sample_seed}, limit {args.limit})", flush=True)
base = chunks.Lowering.compiler_options
engines = {}
for name, extra in [("production", {})] + [parse(v) for v in args.variant]:
    chunks.Lowering.compiler_options = lambda self, extra=extra: dict(base(self), **extra)
    jax.clear_caches()
    eng = Engine(space, setting, seeds=(0,), chunk=1)
    eng.score(encs[:1])
    print(f"{name} {extra}: compiled {eng.compile_s:.1f} s", flush=True)
    engines[name] = eng
chunks.Lowering.compiler_options = base
print("\n".join(summary(interleave(engines, encs, args.reps, log=lambda s: print(s, flush=True)), "production")))
