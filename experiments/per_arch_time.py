"""Per-architecture CPU time of the scoring engine, one architecture at a time, beside its
analytic work: the like-for-like comparison with the authors' per-architecture median and mean
(issue 32), and what bounds each architecture.

    python experiments/per_arch_time.py nb101                  # the 8 cells cpu_bench scores
    python experiments/per_arch_time.py nb201 --limit 40
    python experiments/per_arch_time.py nb101 --reps 3 --json per_arch.json

The architectures are `eproxy score`'s `--limit` draw (`--sample-seed`, default 0: the cells
`cpu_bench.py` scores). One engine (the space's default setting, proxy seed 0, bundled images,
chunk 1) compiles every program the draw needs and runs each once; then every architecture is
scored alone, `--reps` rounds over all of them, and its median kept. `cpu_bench.py`'s ms/arch
is a run's scoring seconds over its architectures, a mean; the authors' reference for NB101 is a
median (5,100 ms; their mean 6,019), so this script gives both.

Per architecture: its shape bucket, the analytic work of the ten SGD steps (the space's conv
MACs per image x images x 2 FLOP x 28 passes: ten forward passes and two gradients, input and
kernel, for each of the nine updates; heads, BatchNorm and pooling left out), the milliseconds,
and the GFLOP/s that makes. A roofline for scale: this machine's fp32 matmul rate, measured
here (best of 5 of a 2048^3 matmul), and the time the analytic work would take at that rate.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_bench import REFERENCE_MEAN_MS, REFERENCE_MS  # noqa: E402
from eproxy_jax.cli.args import ScriptParser, nonneg, positive, space_option  # noqa: E402

def train_gflop(macs_per_image: float, images: int, steps: int = 10) -> float:
    """Analytic GFLOP of `steps` proxy steps (the last one forward only) on `images` images:
    a forward pass per step and an input and a kernel gradient per update, each about the
    forward's MACs (28 passes for ten steps)."""
    passes = steps + 2 * (steps - 1)
    return 2.0 * macs_per_image * images * passes / 1e9


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """This machine's fp32 matmul rate through XLA (best of `reps`), GFLOP/s."""
    import jax
    import jax.numpy as jnp
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best / 1e9


def summary(space: str, rows: list, peak: float, reference: bool = True) -> dict:
    """Median and mean ms/arch, the authors' figures where the space has them (and `reference`:
    the paper-size network), the ratios, and the roofline: the ms/arch the analytic work needs
    at `peak` GFLOP/s, mean over the rows."""
    import numpy as np
    ms = np.array([r["ms"] for r in rows], float)
    gflop = np.array([r["gflop"] for r in rows], float)
    out = {"space": space, "archs": len(rows), "median_ms": round(float(np.median(ms)), 1),
           "mean_ms": round(float(ms.mean()), 1), "matmul_gflops": round(peak, 1),
           "roofline_mean_ms": round(float((gflop / peak * 1000).mean()), 1),
           "gflops_overall": round(float(gflop.sum() / ms.sum() * 1000), 1)}
    for key, refs in (("median", REFERENCE_MS), ("mean", REFERENCE_MEAN_MS)):
        ref = refs.get(space) if reference else None
        out[f"reference_{key}_ms"] = ref
        out[f"ratio_{key}"] = round(out[f"{key}_ms"] / ref, 2) if ref else None
    return out


def table(rows: list, s: dict) -> str:
    lines = ["| # | bucket | GFLOP (analytic) | ms | GFLOP/s |", "|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        lines.append(f"| {i} | {'-' if r['bucket'] is None else r['bucket']} | {r['gflop']:,.1f} | {r['ms']:,.0f} | "
                     f"{r['gflop'] / r['ms'] * 1000:,.0f} |")
    ref = lambda k: "-" if s[f"reference_{k}_ms"] is None else (   # noqa: E731
        f"{s[f'reference_{k}_ms']:,.0f} (ratio {s[f'ratio_{k}']:.2f})")
    lines += ["", f"median {s['median_ms']:,.0f} ms/arch, authors' median {ref('median')}",
              f"mean {s['mean_ms']:,.0f} ms/arch, authors' mean {ref('mean')}",
              f"overall {s['gflops_overall']:,.0f} GFLOP/s; this machine's matmul {s['matmul_gflops']:,.0f} GFLOP/s, "
              f"at which the analytic work takes {s['roofline_mean_ms']:,.0f} ms/arch (mean)"]
    return "\n".join(lines)


def timed_rows(space, setting, encs, reps: int, log=print) -> list:
    """Per architecture {'bucket', 'gflop', 'ms' (median of `reps` lone scorings), 'rounds_ms'}."""
    import numpy as np

    from eproxy_jax import images as images_mod
    from eproxy_jax.engine import Engine
    imgs = images_mod.load(size=space.input_size)
    eng = Engine(space, setting, seeds=(0,), images=imgs, chunk=1)
    buckets = np.asarray(space.bucket_of(encs)).tolist() if eng.bucketed else [None] * len(encs)
    for b in dict.fromkeys(buckets):                       # every program compiled and run once
        eng.score(encs[buckets.index(b)][None])
        log(f"program {'-' if b is None else b}: ready ({eng.compile_s:.1f} s compile so far)")
    macs = np.asarray(space.macs(encs), float)
    times = [[] for _ in encs]
    for r in range(reps):
        for i, e in enumerate(encs):
            t = time.perf_counter()
            eng.score(e[None])
            times[i].append(1000 * (time.perf_counter() - t))
        log(f"round {r}: {sum(t[-1] for t in times) / len(encs):,.0f} ms/arch")
    return [{"bucket": b, "gflop": round(train_gflop(m, imgs.shape[0]), 2), "ms": round(float(np.median(t)), 1),
             "rounds_ms": [round(x, 1) for x in t]} for b, m, t in zip(buckets, macs, times)]


def main(argv=None) -> int:
    ap = ScriptParser(prog="per_arch_time.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("space")
    ap.add_argument("--limit", type=positive("--limit"), default=8, help="architectures (default 8)")
    ap.add_argument("--sample-seed", type=nonneg("--sample-seed"), default=0)
    ap.add_argument("--reps", type=positive("--reps"), default=2, help="rounds over the architectures (default 2)")
    ap.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", help="write the rows and the summary to this JSON file")
    args = ap.parse_args(argv)
    from eproxy_jax.cli.bench import default_draw
    from eproxy_jax.cli.common import UsageError, check_out_file
    from spaces import SpaceError
    try:
        if args.json:
            check_out_file("--json", args.json)
        space, setting, encs = default_draw(args.space, args.space_option, args.limit, args.sample_seed)
    except (UsageError, SpaceError, TypeError, ValueError, OSError) as e:   # SettingError is a ValueError
        ap.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    log = lambda m: print(m, file=sys.stderr, flush=True)   # noqa: E731
    peak = matmul_gflops()
    log(f"# {args.space}: {len(encs)} archs (sample seed {args.sample_seed}), {args.reps} rounds; "
        f"matmul {peak:,.0f} GFLOP/s")
    rows = timed_rows(space, setting, encs, args.reps, log)
    s = summary(args.space, rows, peak, reference=not args.space_option)   # options: not the reference's network
    print(table(rows, s))
    if args.json:
        Path(args.json).write_text(json.dumps({"options": dict(args.space_option), "sample_seed": args.sample_seed,
                                               "reps": args.reps, "date": time.strftime("%Y-%m-%d %H:%M"),
                                               "summary": s, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
