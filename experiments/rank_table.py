"""The paper's ranking table: for every space and task with truth, Spearman and Kendall (and the
top-end metrics: truth percentile of the best-scored, Spearman within the truly best 10%) of the
default Eproxy, of Eproxy+DPS (20 train architectures, several DPS seeds, mean +- std on the
rest) and of each peer proxy, all on the same architectures.

    # the full protocol (GPU work: ~10^5 proxy runs): every architecture, DPS 200 settings x 3 seeds
    python experiments/rank_table.py --out-dir rank_table
    # a reduced run (what a 2-core CPU allows), labelled as such in the table
    python experiments/rank_table.py --out-dir rank_table_cpu --tasks nb201:cifar10 --archs 100 \\
        --cycles 12 --population 6 --sample 3 --max-channels 128 --max-kernel 3

Every (space, task) uses one draw of `--archs` architectures (seed 0; all of them by default),
written as `<space>_<task>_archs.json`; Eproxy and the peers score exactly those (`eproxy
compare` with the peers the space supports: naswot and fisher on NB201 only; `eproxy score`
when no peer is asked for), and each DPS seed trains on 20 of them and is evaluated on the
other ones. Tasks: every bundled truth table
(`--tasks space:task,...` to choose), NDS spaces whose file is in `--nds-dir`, and any
`--truth space:task=FILE`. Resumable: every step is an `eproxy` command whose own results are
resumable, and finished steps are kept in `rows.json`. Writes `table.md` and `table.json`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eproxy_jax.cli.args import ScriptParser, int_at_least, nonneg, positive, space_option  # noqa: E402

PEERS = ("naswot", "synflow", "jacob_cov", "snip", "grad_norm", "fisher", "params", "flops")
# reported per proxy: the correlations and the top-end metrics (eproxy_jax.metrics.report); the
# percentiles are read in the task's selection file, the whole table unless --archs draws fewer
RANK_KEYS = ("spearman", "kendall", "top1_percentile", "top10_percentile", "spearman_top10pct")
SKIP_TASKS = {("nb101", "cifar10-dps20")}   # the authors' 20 DPS cells: a train set, not a task


def all_tasks(nds_dir) -> list:
    import spaces
    from eproxy_jax.cli.bench import nds_files, nds_path
    files = nds_files()
    out = []
    for name, info in spaces.REGISTRY.items():
        if name in files:
            f = nds_path(name, nds_dir)
            if f:
                out.append((name, info.default_dataset, str(f)))
            continue
        for task, f in info.datasets.items():
            if f and (name, task) not in SKIP_TASKS:
                out.append((name, task, None))
    return out


def select(space_name, task, truth_file, n, out_dir: Path, options) -> tuple:
    """The task's architectures: `n` drawn with seed 0 (all if n is None), as a truth file."""
    import spaces
    from spaces.base import arch_from_text
    path = out_dir / f"{space_name}_{task}_archs.json"
    sp = spaces.load_space(space_name, **options)
    if not path.exists():
        encs, truth = sp.load_truth(None if truth_file else task, truth_file)
        idx = np.arange(len(encs))
        if n and n < len(encs):
            idx = np.sort(np.random.default_rng(0).choice(len(encs), n, replace=False))
        rows = [[arch_from_text(sp.arch_id(encs[i])), float(truth[i])] for i in idx]
        path.write_text(json.dumps(rows))
    from eproxy_jax import baselines
    return path, len(json.loads(path.read_text())), baselines.supported(sp)


def eproxy_cmd(args_list, options) -> dict:
    opts = [x for k, v in options.items() for x in ("--space-option", f"{k}={v}")]
    cmd = [sys.executable, "-m", "eproxy_jax", *args_list, *opts, "--json", "--quiet"]
    print("$ eproxy", " ".join(args_list + opts), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"rank_table.py: eproxy {' '.join(args_list)} failed ({proc.returncode}): "
              f"{(proc.stderr.strip().splitlines() or [''])[-1]}; finished steps are kept, rerun to resume",
              file=sys.stderr)
        sys.exit(proc.returncode if proc.returncode in (1, 2) else 1)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _truth_arg(v):
    key, eq, f = v.partition("=")
    sp, colon, task = key.partition(":")
    if not (eq and colon and sp and task and f):
        raise argparse.ArgumentTypeError(f"--truth takes SPACE:TASK=FILE, got {v!r}")
    return sp, task, f


def main(argv=None) -> int:
    p = ScriptParser(prog="rank_table.py", description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", required=True)
    p.add_argument("--tasks", help="space:task,... (default: every bundled table, NDS files in --nds-dir, --truth)")
    p.add_argument("--truth", type=_truth_arg, action="append", default=[], metavar="SPACE:TASK=FILE",
                   help="a task of your own")
    p.add_argument("--nds-dir")
    p.add_argument("--archs", type=positive("--archs"), default=None, help="architectures per task (default: all)")
    p.add_argument("--dps-seeds", type=nonneg("--dps-seeds"), default=3, help="DPS seeds 0..K-1 (default 3)")
    p.add_argument("--train-archs", type=int_at_least("--train-archs", 3), default=20)
    p.add_argument("--cycles", type=positive("--cycles"), default=200)
    p.add_argument("--population", type=int_at_least("--population", 2), default=40)
    p.add_argument("--sample", type=positive("--sample"), default=10)
    p.add_argument("--max-channels", type=positive("--max-channels"), default=512)
    p.add_argument("--max-kernel", type=positive("--max-kernel"), default=7)
    p.add_argument("--peers", default=",".join(PEERS), help="peer proxies where the space has a classifier ('' for none)")
    p.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                   help="passed to every command")
    p.add_argument("--machine", default=None, help="label of the machine in the table (default: platform + device)")
    a = p.parse_args(argv)
    if a.sample > a.population:
        p.error(f"--sample ({a.sample}) must not exceed --population ({a.population})")
    if a.nds_dir and not Path(a.nds_dir).is_dir():
        p.error(f"--nds-dir {a.nds_dir}: not a folder")
    options = dict(a.space_option)
    tasks = all_tasks(a.nds_dir)
    for sp, task, f in a.truth:
        if not Path(f).is_file():
            p.error(f"--truth {sp}:{task}={f}: file not found")
        tasks.append((sp, task, f))
    if a.tasks:
        want = [tuple(x.split(":", 1)) for x in a.tasks.split(",")]
        tasks = [t for t in tasks if (t[0], t[1]) in want]
        missing = set(want) - {(t[0], t[1]) for t in tasks}
        if missing:
            p.error(f"--tasks: no truth for {', '.join(':'.join(m) for m in sorted(missing))} "
                    "(bundled, --nds-dir or --truth)")
    import spaces
    for sp in dict.fromkeys(t[0] for t in tasks):   # every space and option checked before the first command
        try:
            spaces.load_space(sp, **options)
        except (spaces.SpaceError, TypeError, ValueError) as e:
            p.error(str(e).splitlines()[0] if str(e) else f"{sp}: {type(e).__name__}")
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.json"
    rows = json.loads(rows_path.read_text()) if rows_path.exists() else {}

    def save():
        tmp = rows_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1))
        tmp.replace(rows_path)

    peers = [x for x in a.peers.split(",") if x]
    for space, task, truth_file in tasks:
        key = f"{space}:{task}"
        row = rows.setdefault(key, {"space": space, "task": task})
        sel, n, supported = select(space, task, truth_file, a.archs, out, options)
        run_peers = [q for q in peers if q in supported]   # naswot and fisher: NB201 only
        row["archs"] = n
        common = ["--truth", str(sel), "--dataset", task]
        if "eproxy" not in row:
            if run_peers:
                r = eproxy_cmd(["compare", space, *common, "--proxies", ",".join(["eproxy", *run_peers]),
                                "--out", str(out / f"compare_{space}_{task}")], options)
                row["eproxy"] = {k: r["proxies"]["eproxy"][k] for k in RANK_KEYS}
                row["peers"] = {q: {k: r["proxies"][q][k] for k in RANK_KEYS} for q in run_peers}
            else:
                r = eproxy_cmd(["score", space, *common, "--out", str(out / f"{space}_{task}_eproxy.csv")], options)
                row["eproxy"] = {k: r[k] for k in RANK_KEYS}
            save()
        dps = row.setdefault("dps", {})
        for s in range(a.dps_seeds):
            if str(s) in dps or n <= a.train_archs + 2:
                continue
            r = eproxy_cmd(["dps", space, *common, "--train-archs", str(a.train_archs),
                            "--eval-archs", str(n - a.train_archs), "--cycles", str(a.cycles),
                            "--population", str(a.population), "--sample", str(a.sample), "--seed", str(s),
                            "--max-channels", str(a.max_channels), "--max-kernel", str(a.max_kernel),
                            "--out", str(out / f"dps_{space}_{task}_s{s}.json")], options)
            dps[str(s)] = {k: r[k] for k in ("eval_spearman", "eval_kendall", "default_eval_spearman",
                                             "default_eval_kendall", "best_fitness", "wall_s",
                                             "eval_top1_percentile", "eval_spearman_top10pct")}
            save()
    protocol = {
        "date": datetime.date.today().isoformat(),
        "machine": a.machine or f"{platform.machine()} {platform.system()}",
        "archs": a.archs or "all", "dps": f"{a.dps_seeds} seeds x {a.cycles} settings (population {a.population}, "
        f"sample {a.sample}, channels <= {a.max_channels}, kernels <= {a.max_kernel}), {a.train_archs} train archs",
        "reduced": bool(a.archs) or a.cycles < 200 or a.population < 40 or a.max_channels < 512 or a.max_kernel < 7,
        "space_options": options,
    }
    write_table(out, [rows[f"{s}:{t}"] for s, t, _ in tasks if f"{s}:{t}" in rows], peers, protocol)
    return 0


def _ms(vals, digits=3):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} +- {statistics.stdev(vals):.{digits}f}"


def write_table(out: Path, rows: list, peers: list, protocol: dict):
    head = ["space", "task", "archs", "Eproxy rho", "Eproxy tau", "Eproxy top-1 / top-10 pct", "Eproxy rho in top 10%",
            "Eproxy+DPS rho", "Eproxy+DPS tau", "Eproxy+DPS top-1 pct",
            "default on the same eval archs rho"] + [f"{q} rho / top-1 pct" for q in peers]
    lines = [f"Protocol ({'REDUCED' if protocol['reduced'] else 'full'}): {protocol['date']}, {protocol['machine']}; "
             f"archs per task: {protocol['archs']}; DPS: {protocol['dps']}"
             + (f"; space options {protocol['space_options']}" if protocol["space_options"] else ""), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        e = r.get("eproxy", {})
        d = list(r.get("dps", {}).values())
        cells = [r["space"], r["task"], str(r["archs"]), _ms([e.get("spearman")]), _ms([e.get("kendall")]),
                 f"{_ms([e.get('top1_percentile')], 1)} / {_ms([e.get('top10_percentile')], 1)}",
                 _ms([e.get("spearman_top10pct")]),
                 _ms([x["eval_spearman"] for x in d]) + (f" ({len(d)} seeds)" if d else ""),
                 _ms([x["eval_kendall"] for x in d]), _ms([x.get("eval_top1_percentile") for x in d], 1),
                 _ms([x["default_eval_spearman"] for x in d])]
        cells += [f"{_ms([r['peers'][q]['spearman']])} / {_ms([r['peers'][q].get('top1_percentile')], 1)}"
                  if q in r.get("peers", {}) else "-" for q in peers]
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    (out / "table.json").write_text(json.dumps({"protocol": protocol, "rows": rows}, indent=1))
    print(text)


if __name__ == "__main__":
    sys.exit(main())
