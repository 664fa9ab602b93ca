"""Where the GPU time of one engine call goes: a jax.profiler trace, grouped by kernel kind.

    PYTHONPATH=. python experiments/gpu_profile.py --out-dir OUT [--arch-vmap 256] [--conv-impl im2col]

Compiles the engine for one chunk of `--arch-vmap` NB201 cells, runs it twice (warm-up,
timed), then traces a third call and prints GPU kernel time per kind (matmul/conv,
reductions, op selection, im2col pads, other elementwise, copies), the top kernels, and
the GPU's busy fraction of the traced span. Leaves the trace under OUT/prof.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = (
    ("matmul/conv (gemm, implicit-gemm conv)", ("gemm", "xmma", "cublas", "cutlass", "dot")),
    ("reductions (BN statistics, loss, weight grads)", ("reduce",)),
    ("copies", ("memcpy", "memset")),
    ("select/slice fusions (op selection)", ("select",)),
    ("pad/concatenate (im2col patches, col2im)", ("pad", "concatenate")),
)


def kind(name: str) -> str:
    for label, keys in KINDS:
        if any(k in name for k in keys):
            return label
    return "other elementwise fusions"


def summarise(trace_file: str, top: int = 8) -> str:
    tr = json.load(gzip.open(trace_file))
    ev = tr["traceEvents"] if isinstance(tr, dict) else tr
    pid = {x["pid"]: x["args"]["name"] for x in ev if x.get("ph") == "M" and x.get("name") == "process_name"}
    gpu = [x for x in ev if x.get("ph") == "X" and "GPU" in pid.get(x["pid"], "")]
    if not gpu:
        return "no GPU kernels in the trace"
    by_kind, n_kind, by_name, n_name = (collections.Counter() for _ in range(4))
    for x in gpu:
        by_kind[kind(x["name"])] += x["dur"]
        n_kind[kind(x["name"])] += 1
        by_name[x["name"][:80]] += x["dur"]
        n_name[x["name"][:80]] += 1
    total = sum(by_kind.values())
    span = max(x["ts"] + x["dur"] for x in gpu) - min(x["ts"] for x in gpu)
    lines = [f"GPU span {span / 1e3:.1f} ms, kernel time {total / 1e3:.1f} ms ({100 * total / span:.0f}% busy), "
             f"{len(gpu)} kernels"]
    for k, v in by_kind.most_common():
        lines.append(f"{k:50s} {v / 1e3:8.1f} ms {100 * v / total:5.1f}%  {n_kind[k]:6d} kernels  "
                     f"avg {v / n_kind[k]:.1f} us")
    lines.append("top kernels:")
    for k, v in by_name.most_common(top):
        lines.append(f"  {100 * v / total:5.1f}%  x{n_name[k]:5d}  {k}")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--arch-vmap", type=int, default=256)
    ap.add_argument("--conv-impl", default="im2col")
    args = ap.parse_args()

    import jax

    from eproxy_jax.engine import Engine
    from spaces import load_space

    space = load_space("nb201")
    encs = space.all_encodings()[: args.arch_vmap]
    eng = Engine(space, None, [0], None, chunk=args.arch_vmap, arch_vmap=args.arch_vmap, conv_impl=args.conv_impl)
    eng.compile()
    eng.score(encs)
    t = time.perf_counter()
    eng.score(encs)
    print(f"{jax.devices()[0].device_kind}: one call of {len(encs)} cells {time.perf_counter() - t:.2f} s "
          f"(arch_vmap {args.arch_vmap}, conv {args.conv_impl}, compile {eng.compile_s:.1f} s)")
    out = Path(args.out_dir) / "prof"
    jax.profiler.start_trace(str(out), create_perfetto_trace=True)
    eng.score(encs)
    jax.profiler.stop_trace()
    files = glob.glob(str(out / "**" / "*perfetto*"), recursive=True)
    print(summarise(files[0]) if files else "no perfetto trace written")


if __name__ == "__main__":
    main()
