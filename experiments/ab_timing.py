"""Side-by-side timing of lowering variants of `eproxy score`, in one process, interleaved.

    python experiments/ab_timing.py nb101 --variants bn_backward=autodiff,bn_backward=custom \\
        --bucket 2 --limit 4 --reps 3
    python experiments/ab_timing.py nb201 --variants bn_backward=autodiff,bn_backward=custom --limit 8

Each variant (`KEY=VALUE`, several joined by `+`) builds its own engine (default setting, proxy
seed 0, bundled images, one chunk of all `--limit` architectures) with the variant's trace-time
switches active while its programs compile; then the variants score the same architectures in
turn, `--reps` rounds (A B A B ...), so a shared CPU whose speed drifts during the run slows
every variant alike. Printed per variant: programs, compile and prepare seconds, ms/arch of
each round (the first includes each program's first run), the median and the minimum, and the
largest relative score difference from the first variant (a variant that computes the same function in another order moves scores at the
float-noise level; see docs/results.md for how large that is per space).

Keys: `bn_backward` (`custom` | `autodiff`: `eproxy_jax.nn.ops.use_bn_backward`), `scan_unroll`
(`loop` | `full`: `eproxy_jax.chunks.Lowering.scan_unroll`, the stages' cell loops) and `conv_impl`
(`custom` | `xla` | `im2col`: the engine's convolution lowering), `cpu_convs` (`ynn` | `xla`:
`eproxy_jax.chunks.Lowering.cpu_convs`, who runs the convolutions on a CPU), `edge_vjp` (`split` |
`autodiff`: `eproxy_jax.nn.edge_groups.use_edge_vjp`, what a switch keeps for its backward pass). The persistent compilation
cache is off, so compile seconds are real. `--json FILE` writes the rows."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eproxy_jax.cli.args import ScriptParser, nonneg, positive, space_option  # noqa: E402

KEYS = {"bn_backward": ("custom", "autodiff"), "conv_impl": ("custom", "xla", "im2col"), "scan_unroll": ("loop", "full"),
        "cpu_convs": ("ynn", "xla"), "edge_vjp": ("split", "autodiff")}


def parse_variants(text: str) -> list:
    """'a=x+b=y,a=z' -> [{'a': 'x', 'b': 'y'}, {'a': 'z'}], every key and value checked."""
    out = []
    for item in text.split(","):
        v = {}
        for part in item.split("+"):
            key, eq, val = part.partition("=")
            if not eq or key not in KEYS:
                raise argparse.ArgumentTypeError(f"variant part {part!r}: expected KEY=VALUE with KEY one of "
                                                 f"{', '.join(KEYS)}")
            if val not in KEYS[key]:
                raise argparse.ArgumentTypeError(f"{key} must be one of {', '.join(KEYS[key])}, got {val!r}")
            v[key] = val
        out.append(v)
    if len(out) < 2:
        raise argparse.ArgumentTypeError("give at least two variants, comma-separated")
    return out


def label(v: dict) -> str:
    return "+".join(f"{k}={x}" for k, x in v.items())


def max_rel_diff(a, b) -> float | None:
    """Largest |b / a - 1| over the entries finite in both (None when there is none)."""
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a != 0)
    return float(np.max(np.abs(b[ok] / a[ok] - 1))) if ok.any() else None


def build(space, setting, v: dict, encs, images):
    """An engine whose programs (every bucket the draw needs) were compiled under the variant's
    switches."""
    import numpy as np

    from eproxy_jax.engine import Engine
    from eproxy_jax.nn import edge_groups, ops
    with contextlib.ExitStack() as stack:
        if "bn_backward" in v:
            stack.enter_context(ops.use_bn_backward(v["bn_backward"]))
        if "edge_vjp" in v:
            stack.enter_context(edge_groups.use_edge_vjp(v["edge_vjp"]))
        eng = Engine(space, setting, seeds=(0,), images=images, chunk=len(encs), conv_impl=v.get("conv_impl"))
        for key in ("scan_unroll", "cpu_convs"):     # the engine's own choices are part of its lowering
            if key in v:
                eng.lowering = dataclasses.replace(eng.lowering, **{key: v[key]})
        for b in (np.unique(np.asarray(space.bucket_of(encs))).tolist() if eng.bucketed else [None]):
            eng.compile(b)
        return eng


def main(argv=None) -> int:
    ap = ScriptParser(prog="ab_timing.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("space")
    ap.add_argument("--variants", type=parse_variants, required=True, help="KEY=VALUE[+KEY=VALUE],... (two or more)")
    ap.add_argument("--limit", type=positive("--limit"), default=4, help="architectures (one chunk)")
    ap.add_argument("--bucket", type=positive("--bucket"), help="draw only from this shape bucket (e.g. nb101's 1-5)")
    ap.add_argument("--sample-seed", type=nonneg("--sample-seed"), default=0)
    ap.add_argument("--reps", type=positive("--reps"), default=3, help="timed rounds over the variants")
    ap.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json", help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    from eproxy_jax.cli.bench import default_draw
    from spaces import SpaceError
    try:   # the space's default setting; refused where it does not fit
        space, setting, encs = default_draw(args.space, args.space_option, args.limit, args.sample_seed, args.bucket)
    except (SpaceError, TypeError, ValueError, OSError) as e:   # SettingError is a ValueError
        ap.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    import numpy as np

    from eproxy_jax import images as images_mod
    from eproxy_jax.engine import enable_compilation_cache
    enable_compilation_cache("off")
    imgs = images_mod.load(size=space.input_size)
    n = len(encs)
    print(f"# {args.space} {dict(args.space_option) or ''} {n} archs"
          f"{'' if args.bucket is None else f' of bucket {args.bucket}'}, sample seed {args.sample_seed}, "
          f"{args.reps} rounds", flush=True)
    built = []
    for v in args.variants:
        eng = build(space, setting, v, encs, imgs)
        built.append(eng)
        print(f"{label(v)}: {eng.programs} program(s), compile {eng.compile_s:.1f} s, prepare {eng.prepare_s:.1f} s",
              flush=True)
    times = [[] for _ in built]
    scores = [None] * len(built)
    for r in range(args.reps):
        for i, (v, eng) in enumerate(zip(args.variants, built)):
            t = time.perf_counter()
            scores[i] = eng.score(encs)[:, 0]
            times[i].append(1000 * (time.perf_counter() - t) / n)
            print(f"round {r} {label(v)}: {times[i][-1]:,.0f} ms/arch", flush=True)
    rows = []
    print("\n| variant | compile s | ms/arch (median) | ms/arch (min) | rounds | max rel. score diff vs first |")
    print("|---|---|---|---|---|---|")
    for i, v in enumerate(args.variants):
        d = max_rel_diff(scores[0], scores[i])
        rows.append({"variant": label(v), "compile_s": round(built[i].compile_s, 1),
                     "ms_per_arch_median": round(float(np.median(times[i])), 1),
                     "ms_per_arch_min": round(min(times[i]), 1), "rounds_ms_per_arch": [round(t, 1) for t in times[i]],
                     "max_rel_score_diff": d})
        print(f"| {label(v)} | {rows[-1]['compile_s']} | {rows[-1]['ms_per_arch_median']:,.0f} | "
              f"{rows[-1]['ms_per_arch_min']:,.0f} | {args.reps} | {'-' if d is None else f'{d:.1e}'} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"space": args.space, "options": dict(args.space_option), "archs": n,
                                               "bucket": args.bucket, "sample_seed": args.sample_seed,
                                               "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
