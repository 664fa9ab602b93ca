"""`eproxy bench`: Table 1 of the paper (Eproxy's cost per architecture, each space), ours
beside the paper's A6000 figures.

Each space runs in its own process (`python -m eproxy_jax.cli.bench_worker SPACE ...`, one JSON
line out) because the accelerator's peak-memory counter never resets within a process. A space's
N architectures are drawn (seed 0) from its truth table (bundled, or an NDS file from
`--nds-dir`), ordered by shape bucket as `eproxy score` runs them, and scored chunk by chunk;
each chunk's scoring time (compilation and preparation excluded, reported apart) divided by
its architectures gives the per-architecture figures (mean and median over chunks).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .. import runguard, runlock
from .args import UsageError, positive, space_option
from ..space_protocol import is_bucketed
from .common import check_out_file, checkout_root

# Table 1 of the paper: one A6000, Eproxy, per architecture (ms, MB)
PAPER_A6000 = {
    "nb101": (414, 4137), "nb201": (324, 1603), "nds-darts": (719, 3221), "nds-darts-fix-w-d": (1198, 2275),
    "nds-amoeba": (1191, 3365), "nds-enas": (908, 3245), "nds-enas-fix-w-d": (1408, 2577),
    "nds-nasnet": (879, 3129), "nds-pnas": (1041, 3391), "nds-pnas-fix-w-d": (1825, 3447),
    "nds-resnet": (242, 2765), "nds-resnext-a": (315, 2423), "nds-resnext-b": (299, 2777),
    "transnas-micro": (355, 2081), "nbmr": (1012, 4229),
}


def nds_files() -> dict:
    """NDS space -> the release's file name (e.g. nds-darts -> DARTS.json)."""
    import spaces
    return {name: f for _, name, _, f in spaces._NDS}


def nds_path(name: str, nds_dir):
    """The NDS release file of space `name` in `nds_dir`, or None where it is not there."""
    f = nds_files()[name]
    return Path(nds_dir) / f if nds_dir and (Path(nds_dir) / f).is_file() else None


def default_spaces(nds_dir) -> list:
    """Every registered space that has architectures to time: bundled truth, or an NDS file."""
    import spaces
    files = nds_files()
    return [name for name in spaces.REGISTRY if name not in files or nds_path(name, nds_dir)]


def sample_encodings(space, n: int, nds_dir=None, seed: int = 0, bucket=None):
    """`n` architectures of a space drawn without replacement (seeded) from its truth table
    (NDS: the file in `nds_dir`), ordered by shape bucket as `eproxy score` runs them; and the
    table's size. `bucket`: draw only from the architectures of that shape bucket (spaces with
    `bucket_of`; raises SpaceError when the space has none or the bucket is empty), and
    return the bucket's size instead."""
    import numpy as np

    import spaces
    name, truth_file = space.name, None
    if name in nds_files():
        truth_file = nds_path(name, nds_dir)
        if truth_file is None:
            raise spaces.SpaceError(f"{name}: no NDS file {nds_files()[name]} in --nds-dir {nds_dir}")
    encs, _ = space.load_truth(None, truth_file)
    if bucket is not None:
        if not is_bucketed(space):
            raise spaces.SpaceError(f"{name} has no shape buckets (one program fits every architecture)")
        encs = encs[np.asarray(space.bucket_of(encs)) == bucket]
        if not len(encs):
            raise spaces.SpaceError(f"{name}: no architecture of the truth table is in shape bucket {bucket}")
    total = len(encs)
    idx = np.sort(np.random.default_rng(seed).choice(total, min(n, total), replace=False))
    encs = encs[idx]
    if is_bucketed(space):   # as `eproxy score` runs them: grouped by shape bucket
        encs = encs[np.argsort(np.asarray(space.bucket_of(encs)), kind="stable")]
    return encs, total


def default_draw(name: str, options, limit: int, sample_seed: int = 0, bucket=None):
    """A timing script's inputs: the space `name` with `options` (KEY=VALUE pairs), its default
    setting and `eproxy score`'s `limit` draw from its truth table (`sample_encodings`), as
    `(space, setting, encodings)`. A user mistake raises SpaceError, ValueError (SettingError:
    the default setting does not fit the network), TypeError or OSError."""
    import spaces

    from ..setting import ProxySetting
    space = spaces.load_space(name, **dict(options))
    setting = ProxySetting.for_space(space)
    encs, _ = sample_encodings(space, limit, None, sample_seed, bucket)
    return space, setting, encs


def bench_space(name: str, n: int, options: dict, nds_dir=None, chunk=None, arch_vmap=None, seed: int = 0) -> dict:
    """Time Eproxy (default setting, one proxy seed) on `n` architectures of one space."""
    import statistics

    import jax

    import spaces
    from .. import engine as engine_mod
    from .. import images as images_mod

    space = spaces.load_space(name, **options)
    encs, _ = sample_encodings(space, n, nds_dir, seed)
    engine_mod.CompileCounter.install()
    c0 = engine_mod.CompileCounter.compiles
    gpu = jax.default_backend() != "cpu"
    chunk = chunk or (256 if gpu else 16)
    imgs = images_mod.load(n=16, seed=0, size=space.input_size)
    t0 = time.perf_counter()
    eng = engine_mod.Engine(space, None, [0], imgs, chunk=chunk, arch_vmap=arch_vmap)
    per_arch = []
    for s in range(0, len(encs), eng.chunk):
        part = encs[s:s + eng.chunk]
        before = eng.score_s
        eng.score(part)
        per_arch.append(1000 * (eng.score_s - before) / len(part))
    wall = time.perf_counter() - t0
    dev = jax.devices()[0]
    peak = None
    if gpu:
        stats = dev.memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
    return {
        "space": name, "n": int(len(encs)), "chunk": eng.chunk, "arch_vmap": eng.arch_vmap,
        "ms_mean": round(1000 * eng.score_s / len(encs), 2),
        "ms_median": round(statistics.median(per_arch), 2),
        "compile_s": round(eng.compile_s + eng.prepare_s, 2), "wall_s": round(wall, 2),
        "programs": eng.programs, "compiles": engine_mod.CompileCounter.compiles - c0,
        "peak_mb": round(peak / 2 ** 20, 1) if peak is not None else None,
        "device": f"{jax.default_backend()}:{dev.device_kind}", "options": options,
    }


def table(rows: list) -> str:
    lines = ["| space | archs | ms/arch mean | ms/arch median | compile s | programs | peak MB | "
             "paper A6000 ms | paper MB | speed-up (paper / ours, mean) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['space']} | - | failed: {r['error']} | | | | | | | |")
            continue
        p_ms, p_mb = PAPER_A6000.get(r["space"], (None, None))
        ratio = f"{p_ms / r['ms_mean']:.1f}x" if p_ms and r["ms_mean"] else "-"
        peak = "not measured (CPU)" if r["peak_mb"] is None else f"{r['peak_mb']:,.0f}"
        lines.append(f"| {r['space']} | {r['n']} | {r['ms_mean']:,.1f} | {r['ms_median']:,.1f} | {r['compile_s']:.1f} | "
                     f"{r['programs']} | {peak} | {p_ms or '-'} | {p_mb or '-'} | {ratio} |")
    return "\n".join(lines)


def add_parser(sub):
    b = sub.add_parser("bench", help="Table 1: ms per architecture of each space, beside the paper's A6000 figures")
    b.add_argument("--space", action="append", default=[], help="a space to time (repeatable; default: every "
                   "space with architectures: the bundled tables, and the NDS spaces whose file is in --nds-dir)")
    b.add_argument("--n", type=positive("--n"), default=256, help="architectures per space (default 256)")
    b.add_argument("--nds-dir", help="folder with the NDS release's files (DARTS.json, ...)")
    b.add_argument("--chunk", type=positive("--chunk"), default=None, help="architectures per call (default 16 on CPU, 256 on GPU)")
    b.add_argument("--arch-vmap", type=positive("--arch-vmap"), default=None)
    b.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                   help="network override applied to every space timed (tests, quick looks)")
    b.add_argument("--out", help="JSON lines of finished spaces: rerunning skips them (resume)")
    b.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    b.add_argument("--quiet", action="store_true")
    return b


def run(args) -> int:
    """`eproxy bench`: check every space (and --out) first, then time them."""
    import spaces

    names = args.space or default_spaces(args.nds_dir)
    files = nds_files()
    for name in names:
        spaces.info(name)
        if name in files and nds_path(name, args.nds_dir) is None:
            raise UsageError(f"{name}: needs the NDS file {files[name]} in --nds-dir")
    if args.out:  # checked before the first space's minutes of work, not after
        check_out_file("--out", args.out)
        with runlock.hold(args.out):   # one writer per --out
            return _bench(args, names)
    return _bench(args, names)


def _bench(args, names) -> int:
    """Time each space of `names` in a worker process; finished spaces are kept in --out."""
    import subprocess

    options = dict(args.space_option)
    done = {}
    if args.out and Path(args.out).is_file():
        for ln in Path(args.out).read_text().splitlines():
            try:
                r = json.loads(ln)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupt
            if isinstance(r, dict) and r.get("n_asked") == args.n and r.get("options") == options and "error" not in r:
                done[r["space"]] = r
    rows = []
    for k, name in enumerate(names):
        if name in done:
            rows.append(done[name])
            continue
        if not args.quiet:
            print(f"bench {name} ({k + 1}/{len(names)}): {args.n} architectures...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "eproxy_jax.cli.bench_worker", name, "--n", str(args.n),
               "--options", json.dumps(options)]
        for flag, v in (("--nds-dir", args.nds_dir), ("--chunk", args.chunk), ("--arch-vmap", args.arch_vmap)):
            if v is not None:
                cmd += [flag, str(v)]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([checkout_root(), os.environ.get("PYTHONPATH", "")]))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        try:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            r = {"space": name, "error": f"worker exited {proc.returncode}: {tail[:200]}"}
        r["n_asked"] = args.n
        rows.append(r)
        if not args.quiet and "error" not in r:
            print(f"  {r['ms_mean']:,.1f} ms/arch (median {r['ms_median']:,.1f}), compile {r['compile_s']:.1f} s, "
                  f"{r['programs']} program(s)", file=sys.stderr, flush=True)
        if args.out and "error" not in r:
            with runguard.critical(), open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
    print(table(rows))
    if args.json:
        print(json.dumps({"rows": rows, "paper_a6000": {k: {"ms": v[0], "mb": v[1]} for k, v in PAPER_A6000.items()}}))
    return 1 if any("error" in r for r in rows) else 0
