"""CPU speed of `eproxy score` per space: ms per architecture, compile seconds cold and warm,
programs, and the wait for the first result, beside the authors' per-architecture figures.

    python experiments/cpu_bench.py                          # nb201 (40 cells), nb101 (8 cells)
    python experiments/cpu_bench.py --spaces nb201,nb301,transnas-micro --limit 16
    python experiments/cpu_bench.py --spaces nb201 --limit 4 --space-option nb201:channels=4
    python experiments/cpu_bench.py --workers 2     # eproxy score --workers 2: one process per core

Each space runs `eproxy score SPACE --limit N --json --quiet` twice in a subprocess: `cold`
with an empty persistent compilation cache, then `warm` with the cache the cold run filled
(what a second run on the same machine waits). Rows go to `--out` (JSON lines, one per
(space, phase); a rerun skips the rows already there) and the table to stdout. `--quick`
adds the network options the tests use (a few seconds per space), to check the script.

Each row carries a machine probe (`machine_probe`, seconds of a fixed Python loop): the
shared CPU's speed varies several-fold between days, so ratios are only meaningful between
rows taken side by side (similar probes).

Reference (issue 32, the authors' PyTorch loop: GenNAS-Zero model code, default Eproxy
setting, 10 steps, 16 images, one architecture at a time; the 2-core CPU of this project,
2026-12-04): NB201 1,460 ms/arch (median of 40 cells), NB101 5,100 ms/arch (median of 8; mean
6,019). Other spaces have no reference figure. The ms/arch here is a run's scoring seconds over
its architectures, a mean: `per_arch_time.py` times each architecture alone, for the medians.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from eproxy_jax.cli.args import ScriptParser  # noqa: E402
REFERENCE_MS = {"nb201": 1460.0, "nb101": 5100.0}        # the authors' medians
REFERENCE_MEAN_MS = {"nb101": 6019.0}                     # their mean, where the issue gives it
DEFAULT_LIMIT = {"nb201": 40, "nb101": 8}
# the tests' network sizes: compile in seconds, for checking the script itself
QUICK = {"nb201": ["channels=4", "cells_per_stage=1", "input_size=16"],
         "nb101": ["stem_channels=4", "cells_per_stack=1", "input_size=16"],
         "nb301": ["width=4", "depth=3", "input_size=16"],
         "transnas-micro": ["base=4", "input_size=16", "target_size=4"],
         "transnas-macro": ["base=4", "input_size=16", "target_size=4"],
         "nbmr": ["modules=2", "input_size=16"]}
QUICK_SETTING = '{"c_out": [8, 8, 8], "c_last": [8, 8, 8]}'


def run_once(space: str, limit: int, options: list, cache: Path, setting: str | None, timeout: float,
             workers: int = 1) -> dict:
    """One `eproxy score` in a subprocess; its JSON line plus the wall time to the first
    stored result (from the results file's modification time) and the whole wall time."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.csv"
        cmd = [sys.executable, "-m", "eproxy_jax", "score", space, "--limit", str(limit), "--json", "--quiet",
               "--out", str(out), "--cache-dir", str(cache), "--workers", str(workers)]
        for o in options:
            cmd += ["--space-option", o]
        if setting:
            cmd += ["--setting", setting]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = None
        while proc.poll() is None:
            if first is None and _rows(out) > 0:
                first = time.time() - t0
            if time.time() - t0 > timeout:
                proc.kill()
                raise SystemExit(f"cpu_bench: {space} ran past --timeout {timeout:.0f} s")
            time.sleep(0.5)
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"cpu_bench: {space} failed (exit {proc.returncode}): {stderr.strip().splitlines()[-1:]}")
        res = json.loads(stdout.strip().splitlines()[-1])
        res["first_result_s"] = round(first if first is not None else time.time() - t0, 1)
        res["process_wall_s"] = round(time.time() - t0, 1)
        return res


def machine_probe() -> float:
    """Seconds of a fixed single-thread Python loop (10^7 additions): the machine's speed when
    a row was taken. Shared 2-core VMs differ several-fold from day to day (2026-12-04 evening:
    3.3 s, and the same commit scored NB201 3.8x slower than when the issue's reference was
    taken), so only rows with similar probes compare."""
    t = time.perf_counter()
    total = 0
    for i in range(10 ** 7):
        total += i
    return round(time.perf_counter() - t, 2)


def _rows(path: Path) -> int:
    try:
        return sum(1 for ln in path.read_text().splitlines()[1:] if ln and not ln.startswith("#"))
    except OSError:
        return 0


def table(rows: list) -> str:
    head = ("| space | archs | phase | workers | programs | prepare + compile s | first result s | ms/arch | "
            "reference ms/arch | ratio | machine probe s |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        ref = REFERENCE_MS.get(r["space"]) if not r.get("options") else None
        ratio = f"{r['ms_per_arch'] / ref:.2f}" if ref else "-"
        lines.append(f"| {r['space']} | {r['n']} | {r['phase']} | {r.get('workers', 1)} | {r['programs']} | "
                     f"{r['compile_s']:.1f} | "
                     f"{r['first_result_s']:.1f} | {r['ms_per_arch']:,.0f} | {f'{ref:,.0f}' if ref else '-'} | {ratio} | "
                     f"{r.get('probe_s', '-')} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = ScriptParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spaces", default="nb201,nb101", help="comma-separated registered spaces (default nb201,nb101)")
    ap.add_argument("--limit", type=int, help="architectures per space (default: nb201 40, nb101 8, others 16)")
    ap.add_argument("--space-option", action="append", default=[], metavar="SPACE:KEY=VALUE",
                    help="a network option for one space (repeatable)")
    ap.add_argument("--quick", action="store_true", help="the tests' tiny networks and setting (checks the script)")
    ap.add_argument("--out", default="cpu_bench.jsonl", help="JSON lines, one per (space, phase); resumed")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per eproxy run (default 3600)")
    ap.add_argument("--workers", type=int, default=1, help="eproxy score --workers (default 1: one process)")
    args = ap.parse_args(argv)
    spaces = [s for s in args.spaces.split(",") if s]
    options = {}
    for item in args.space_option:
        space, sep, kv = item.partition(":")
        if not sep or "=" not in kv:
            ap.error(f"--space-option: expected SPACE:KEY=VALUE, got {item!r}")
        options.setdefault(space, []).append(kv)
    out = Path(args.out)
    done = [json.loads(ln) for ln in out.read_text().splitlines() if ln.strip()] if out.exists() else []
    have = {(r["space"], r["phase"], tuple(r.get("options", [])), r.get("workers", 1)) for r in done}
    rows = list(done)
    for space in spaces:
        opts = options.get(space, []) + (QUICK.get(space, []) if args.quick else [])
        limit = args.limit or DEFAULT_LIMIT.get(space, 16)
        with tempfile.TemporaryDirectory() as cache:
            for phase in ("cold", "warm"):
                if (space, phase, tuple(opts), args.workers) in have:
                    print(f"{space} {phase}: already in {out}", file=sys.stderr)
                    continue
                print(f"{space} {phase}: eproxy score {space} --limit {limit} ...", file=sys.stderr, flush=True)
                probe = machine_probe()
                res = run_once(space, limit, opts, Path(cache), QUICK_SETTING if args.quick else None, args.timeout,
                               args.workers)
                row = {"space": space, "phase": phase, "options": opts, "workers": args.workers, "n": res["n"],
                       "programs": res["programs"],
                       "compile_s": res["compile_s"], "prepare_s": res["prepare_s"], "ms_per_arch": res["ms_per_arch"],
                       "first_result_s": res["first_result_s"], "wall_s": res["process_wall_s"],
                       "compiles": res.get("compiles"), "cache_hits": res.get("cache_hits"), "probe_s": probe,
                       "machine": f"{platform.node()} {os.cpu_count()} cpus", "date": time.strftime("%Y-%m-%d")}
                with open(out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                rows.append(row)
                print(f"  {row['ms_per_arch']:,.0f} ms/arch, compile {row['compile_s']:.1f} s, "
                      f"first result {row['first_result_s']:.1f} s", file=sys.stderr, flush=True)
    print(table([r for r in rows if r["space"] in spaces and r.get("workers", 1) == args.workers]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
