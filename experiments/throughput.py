"""Throughput of Eproxy (NAS-Bench-201 by default): compile seconds and ms/arch per chunk size.

    python experiments/throughput.py --n 64 --chunks 8,32 [--arch-vmap 1] [--seeds 1]
    python experiments/throughput.py --n 15625 --chunks 256 --arch-vmap 32   # whole space (GPU)
    python experiments/throughput.py --space nds-darts --nds-dir tests/data/nds --n 16 --chunks 8 --arch-vmap 8 --edge-groups off,default
    python experiments/throughput.py --space nb101 --bucket 2 --n 8 --chunks 8 --arch-vmap 8 --conv-impl im2col --edge-groups default,off

Prints one table row per (chunk, arch_vmap, seed batching): prepare/compile seconds
(the persistent cache is off here, so compile time is real), scoring ms per architecture
(all seeds of one architecture count as one), and the projected time for the whole space
(NB201: 15,625 cells; other spaces: their truth table). Architectures are a seeded uniform
sample of the space (other spaces: of their truth table, as `eproxy bench` draws them);
`--json FILE` saves the rows.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", default="nb201", help="registered space (default nb201)")
    ap.add_argument("--nds-dir", help="folder with the NDS json files (NDS spaces)")
    ap.add_argument("--n", type=int, default=64, help="architectures per configuration")
    ap.add_argument("--chunks", default="8,32", help="comma-separated chunk sizes")
    ap.add_argument("--arch-vmap", default="1", help="comma-separated arch_vmap values (1 = lax.map + switch)")
    ap.add_argument("--seed-batching", default="map", help="comma-separated: vmap, map")
    ap.add_argument("--conv-impl", default="default", help="comma-separated: default, custom, xla, im2col")
    ap.add_argument("--edge-groups", default="default",
                    help="comma-separated edge-group capacities for vmapped architectures "
                         "(eproxy_jax.nn.edge_groups): default, off, or a fraction such as 0.35")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--bucket", type=int, help="draw only architectures of this shape bucket (one program: "
                    "spaces with several network shapes, e.g. nb101's 1-5 vertices feeding the output)")
    ap.add_argument("--space-option", action="append", default=[], metavar="KEY=INT")
    ap.add_argument("--json", help="write the rows to this JSON file")
    args = ap.parse_args()

    import jax
    import numpy as np

    from eproxy_jax import images
    from eproxy_jax.engine import Engine, enable_compilation_cache
    from eproxy_jax.nn import edge_groups
    from spaces import SpaceError, load_space

    enable_compilation_cache("off")
    cfg = {k: int(v) for k, v in (o.split("=") for o in args.space_option)}
    space = load_space(args.space, **cfg)
    if args.space == "nb201" and args.bucket is None:   # the draw behind the README's NB201 rows (from all cells, unsorted)
        all_enc = space.all_encodings()
        idx = np.random.default_rng(args.sample_seed).choice(len(all_enc), args.n, replace=False)
        encs, total = all_enc[idx], len(all_enc)
    else:
        from eproxy_jax.cli.bench import sample_encodings
        try:
            encs, total = sample_encodings(space, args.n, args.nds_dir, args.sample_seed, args.bucket)
        except SpaceError as e:
            ap.exit(2, f"throughput.py: {e}\n")
    args.n = len(encs)
    imgs = images.load(size=space.input_size)
    dev = jax.devices()[0]
    print(f"# device {jax.default_backend()} {dev.device_kind}, {os.cpu_count()} cpus, jax {jax.__version__}, "
          f"{platform.processor() or platform.machine()}; {args.space}{'' if args.bucket is None else f' bucket {args.bucket}'}, n={args.n}, seeds={args.seeds}, config={cfg or 'paper'}")
    of = "" if args.bucket is None else f" of bucket {args.bucket}"
    header = f"| chunk | arch_vmap | conv | edge groups | seeds | prepare s | compile s | ms/arch | archs/s | all {total:,}{of} (projected) |"
    print(header)
    print("|" + "---|" * 10)
    rows = []
    grid = itertools.product(args.seed_batching.split(","), (int(x) for x in args.arch_vmap.split(",")),
                             args.conv_impl.split(","), (int(x) for x in args.chunks.split(",")),
                             args.edge_groups.split(","))
    for sb, v, ci, c, eg in grid:
        edge_groups.set_capacity(edge_groups.parse_capacity(eg))
        eng = Engine(space, None, list(range(args.seeds)), imgs, chunk=c, arch_vmap=v, seed_batching=sb,
                     conv_impl=None if ci == "default" else ci)
        eng.compile()
        t = time.perf_counter()
        eng.score(encs)
        dt = time.perf_counter() - t
        ms = 1000 * dt / args.n
        row = {"chunk": eng.chunk, "arch_vmap": v, "conv_impl": eng.conv_impl, "seed_batching": sb,
               "edge_groups": edge_groups.capacity(), "seeds": args.seeds, "prepare_s": round(eng.prepare_s, 2), "compile_s": round(eng.compile_s, 2),
               "ms_per_arch": round(ms, 2), "all_space_s": round(ms * total / 1000 + eng.compile_s, 1)}
        rows.append(row)
        print(f"| {row['chunk']} | {v} ({sb}) | {eng.conv_impl} | {row['edge_groups'] or 'off'} | {args.seeds} | {row['prepare_s']} | "
              f"{row['compile_s']} | {row['ms_per_arch']} | {1000 / ms:.2f} | {row['all_space_s']} s |", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"device": str(dev.device_kind), "space": args.space, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
