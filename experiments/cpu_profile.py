"""Where `eproxy score`'s CPU time goes, per space: a `jax.profiler` trace of warm scoring,
each XLA op's exclusive time matched to its HLO instruction (opcode and the JAX op path that
made it), summed into kinds (convolutions forward / backward / recomputed, BatchNorm
statistics, masks and selects, gathers, pooling, control flow, runtime overhead).

    python experiments/cpu_profile.py nb101 --limit 8 --chunk 4
    python experiments/cpu_profile.py nb301 --limit 8 --json > nb301.json
    python experiments/cpu_profile.py transnas-micro --limit 16 --space-option input_size=32
    python experiments/cpu_profile.py nb101 --bucket 2 --limit 4     # one program, by HLO op

`--bucket K` draws only from one shape bucket (one program), so the HLO instruction names
are one program's (they repeat between programs). Convolutions are split by kernel size.

The architectures are the `--limit` draw of `eproxy score` (sample seed 0). They are scored
once to compile and warm up, then again under the profiler; only the second pass is read.
Exclusive time: an event's duration minus the events nested in it on the same thread (a
`while` or `conditional` keeps only its own dispatch). Times are summed over the XLA worker
threads, so the total can exceed the wall time when both cores work. Waits for other
threads ("wait for completion") are left out; the profiler adds some overhead of its own,
so read the shares, not the absolute milliseconds.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eproxy_jax.cli.args import ScriptParser, nonneg, positive, space_option  # noqa: E402

_INSTR = re.compile(r'\s*(?:ROOT )?%?([\w.\-]+) = .*? ([a-z][\w\-]*)\(')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_COMP = re.compile(r'^(?:ENTRY )?%?([\w.\-]+) \(.*\{\s*$')
_WINDOW = re.compile(r'convolution\(.*window=\{size=(\w+)')
_CALLS = re.compile(r'calls=%([\w.\-]+)')
_SKIP = ("ThreadpoolListener", "end: ", "ThunkExecutor::Execute (wait")


def hlo_index(texts) -> dict:
    """{instruction name: (opcode, op_name, window)} over the optimized HLO of every program;
    `window` the convolution's kernel size ("3x3") where the instruction is a convolution or a
    fusion whose computation holds one, else "". Instruction names repeat between programs
    (NB101's buckets): `--bucket` profiles one program where that matters."""
    out = {}
    for text in texts:
        bodies, name = {}, None
        for line in text.splitlines():                 # computation name -> its windows
            head = _COMP.match(line)
            if head:
                name = head.group(1)
            elif name and (w := _WINDOW.search(line)):
                bodies.setdefault(name, w.group(1))
        for line in text.splitlines():
            m = _INSTR.match(line)
            if m:
                op = _OP_NAME.search(line)
                own, calls = _WINDOW.search(line), _CALLS.search(line)
                window = own.group(1) if own else bodies.get(calls.group(1), "") if calls else ""
                out[m.group(1)] = (m.group(2), op.group(1) if op else "", window)
    return out


def exclusive_times(events) -> dict:
    """{event name: exclusive ns} of one thread's events (nested by time)."""
    out = collections.Counter()
    stack = []   # [end_ns, name, child_ns]
    for e in sorted(events, key=lambda e: (e.start_ns, -e.duration_ns)):
        while stack and e.start_ns >= stack[-1][0]:
            end, name, child = stack.pop()
            out[name] -= child
        if stack:
            stack[-1][2] += e.duration_ns
        out[e.name] += e.duration_ns
        stack.append([e.start_ns + e.duration_ns, e.name, 0])
    while stack:
        end, name, child = stack.pop()
        out[name] -= child
    return out


def _short(op_name: str) -> str:
    """The JAX op path without its control-flow plumbing: module scopes, branch and op name."""
    drop = ("while", "body", "closed_call", "cond", "checkpoint", "rematted_computation")
    parts = [p for p in op_name.split("/") if p and p not in drop and not p.startswith("jit(")]
    return "/".join(parts[-4:])


def kind_of(opcode: str, op_name: str, window: str = "") -> str:
    """A coarse kind from the opcode, the JAX op path and a convolution's kernel size."""
    leaf = op_name.rsplit("/", 1)[-1]
    where = ("backward" if "transpose(" in op_name else
             "recomputed" if "rematted_computation" in op_name else "forward")
    if opcode == "convolution" or "conv_general_dilated" in leaf:
        return f"convolution {window} ({where})" if window else f"convolution ({where})"
    if opcode == "dot" or leaf.startswith("dot_general"):
        return f"matmul ({where})"
    if opcode in ("while", "conditional", "call"):
        return "control flow (own dispatch)"
    if opcode in ("gather", "scatter", "dynamic-slice", "dynamic-update-slice") or leaf in ("gather", "take", "scatter-add"):
        return "gather / scatter / dynamic slices"
    if "reduce_window" in leaf or "select_and_scatter" in leaf or opcode in ("reduce-window", "select-and-scatter"):
        return "pooling"
    if leaf in ("select_n", "where") or opcode == "select":
        return "masks and selects"
    if leaf.startswith("reduce_") or opcode == "reduce":
        return "reductions (BN statistics, losses)"
    if opcode in ("copy", "transpose") or leaf in ("transpose", "copy"):
        return "copies and transposes"
    return f"elementwise and other fusions ({where})"


def op_times(trace_dir, index):
    """From the newest trace under `trace_dir`: each XLA op of `index` (`hlo_index`) with its
    exclusive nanoseconds summed over the CPU threads, the thunk executor's own nanoseconds,
    and how many events each name had (calls)."""
    import jax
    files = glob.glob(str(Path(trace_dir) / "**" / "*.xplane.pb"), recursive=True)
    data = jax.profiler.ProfileData.from_file(max(files, key=lambda f: Path(f).stat().st_mtime))
    per_op, overhead, calls = collections.Counter(), 0, collections.Counter()
    for plane in data.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if line.name == "python":
                continue
            for name, ns in exclusive_times([e for e in line.events if not e.name.startswith(_SKIP)]).items():
                if name in index:
                    per_op[name] += ns
                elif name.startswith("ThunkExecutor"):
                    overhead += ns
            for e in line.events:
                calls[e.name] += 1
    return per_op, overhead, calls


def traced_score(eng, encs, trace_dir):
    """`eng.score(encs)` under the profiler, its trace written to `trace_dir`: the wall seconds
    and the optimized HLO text of each of the engine's programs."""
    import jax
    t = time.perf_counter()
    with jax.profiler.trace(trace_dir):
        eng.score(encs)
    return time.perf_counter() - t, [c.as_text() for c in eng._compiled.values()]


def profile(eng, encs, trace_dir) -> dict:
    wall, texts = traced_score(eng, encs, trace_dir)
    index = hlo_index(texts)
    per_op, overhead, _ = op_times(trace_dir, index)
    kinds, members = collections.Counter(), collections.defaultdict(collections.Counter)
    for name, ns in per_op.items():
        kind = kind_of(*index[name])
        kinds[kind] += ns
        members[kind][_short(index[name][1]) or name] += ns
    kinds["runtime overhead (thunk dispatch)"] += overhead
    total = sum(kinds.values())
    n = len(encs)
    top = [{"op": name, "opcode": index[name][0], "path": index[name][1][-140:], "ms_per_arch": ns / 1e6 / n}
           for name, ns in per_op.most_common(15)]
    return {"archs": n, "wall_s": round(wall, 3), "wall_ms_per_arch": round(1000 * wall / n, 1),
            "busy_ms_per_arch": round(total / 1e6 / n, 1),
            "kinds": [{"kind": k, "ms_per_arch": round(ns / 1e6 / n, 1), "share": round(ns / total, 4),
                       "largest": [{"where": w, "ms_per_arch": round(t / 1e6 / n, 1)}
                                   for w, t in members[k].most_common(3)]}
                      for k, ns in kinds.most_common()],
            "top_ops": top}


def untraced_note(wall_ms: float, busy_ms: float) -> str | None:
    """A warning when the traced op time falls well short of the wall time (both per
    architecture): work that emits no trace events, whose time the kinds' shares leave out. On a
    CPU that is XLA's own convolution runtime (Eigen's thread pool; the engine's default since
    scoring version 6, `Lowering.cpu_convs`)."""
    if wall_ms <= 0 or busy_ms >= 0.75 * wall_ms:
        return None
    return (f"# note: the traced ops add up to {100 * busy_ms / wall_ms:.0f} % of the wall time; the rest emits no "
            "trace events (on a CPU: XLA's own convolution runtime), so the shares are of the traced ops only")


def main(argv=None):
    ap = ScriptParser(prog="cpu_profile.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("space")
    ap.add_argument("--limit", type=positive("--limit"), default=8)
    ap.add_argument("--sample-seed", type=nonneg("--sample-seed"), default=0)
    ap.add_argument("--chunk", type=positive("--chunk"), default=4)
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--bucket", type=positive("--bucket"), help="draw only from this shape bucket (e.g. nb101's 1-5)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    args = ap.parse_args(argv)
    from spaces import SpaceError, load_space
    try:
        sp = load_space(args.space, **dict(args.space_option))
        if args.bucket is None:
            encs, truth = sp.load_truth(args.dataset)
        elif args.dataset is not None:
            ap.error("--bucket draws from the space's default truth table: leave out --dataset")
        else:
            from eproxy_jax.cli.bench import sample_encodings
            encs, _ = sample_encodings(sp, args.limit, None, args.sample_seed, args.bucket)
    except (SpaceError, TypeError, ValueError, OSError) as e:
        ap.error(str(e).splitlines()[0] if str(e) else type(e).__name__)
    import numpy as np
    from eproxy_jax.cli.common import draw_limit
    from eproxy_jax.engine import Engine
    if args.bucket is None:
        encs, _ = draw_limit(encs, truth, args.limit, args.sample_seed)
    eng = Engine(sp, chunk=args.chunk)
    t = time.perf_counter()
    eng.score(encs)
    first = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        res = profile(eng, np.asarray(encs), d)
    res = {"space": args.space, "options": dict(args.space_option), "chunk": eng.chunk, "programs": eng.programs,
           "first_pass_s": round(first, 1), "compile_s": round(eng.compile_s, 1), **res}
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"# {args.space} {res['options'] or ''}: {res['archs']} archs, {res['programs']} program(s), "
          f"warm {res['wall_ms_per_arch']:,.0f} ms/arch under the profiler (busy {res['busy_ms_per_arch']:,.0f} "
          f"ms/arch summed over threads); first pass {res['first_pass_s']} s incl. compile {res['compile_s']} s")
    note = untraced_note(res["wall_ms_per_arch"], res["busy_ms_per_arch"])
    if note:
        print(note)
    print("| kind | ms/arch | share | largest (JAX op path: ms/arch) |\n|---|---|---|---|")
    for k in res["kinds"]:
        big = "; ".join(f"`{b['where']}` {b['ms_per_arch']:,.0f}" for b in k["largest"])
        print(f"| {k['kind']} | {k['ms_per_arch']:,.1f} | {100 * k['share']:.1f} % | {big} |")
    print("\n| op | opcode | ms/arch | JAX op path (end) |\n|---|---|---|---|")
    for o in res["top_ops"]:
        print(f"| {o['op']} | {o['opcode']} | {o['ms_per_arch']:,.1f} | `{o['path'][-90:]}` |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
