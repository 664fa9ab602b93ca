"""NAS with the proxy on NB201 CIFAR-10: regularized evolution vs random search, same budget.

    python experiments/search_nb201.py --out-dir experiments/results/search_nb201 [--seeds 10] [--budget 1000]

Runs `eproxy search nb201 --strategy {evolution,random} --seed s --budget B --json` for each
seed (interleaved: evolution s0, random s0, evolution s1, ...). Every proxy score goes to one
shared results file in the output folder, so a cell scored by one run is reused by the next
(each run reports how many it scored itself and its wall time). Resumable: finished runs are
kept in `runs.jsonl` and skipped; rerun the same command after an interrupt. Writes
`table.md` (true CIFAR-10 valid accuracy of each run's best cell, mean +- std per strategy).
Extra arguments after `--` go to every `eproxy search` call (e.g. `-- --space-option channels=4`).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", required=True)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=int, default=1000)
    p.add_argument("--strategies", default="evolution,random")
    p.add_argument("extra", nargs="*", help="arguments passed to every eproxy search call (after --)")
    a = p.parse_args(argv)
    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs_path = out / "runs.jsonl"
    done = {}
    if runs_path.exists():
        for ln in runs_path.read_text().splitlines():
            if ln.strip():
                r = json.loads(ln)
                done[(r["strategy"], r["seed"], r["budget"])] = r
    for seed in range(a.seeds):
        for strat in a.strategies.split(","):
            if (strat, seed, a.budget) in done:
                continue
            cmd = [sys.executable, "-m", "eproxy_jax", "search", "nb201", "--strategy", strat, "--seed", str(seed),
                   "--budget", str(a.budget), "--out", str(out / "scores.csv"), "--json", "--quiet", *a.extra]
            print("$", " ".join(cmd[1:]), flush=True)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  best truth {r['best_truth']:.3f} ({r['best_percentile']:.1f} pct), scored {r['scored']}, "
                  f"reused {r['reused']}, wall {r['wall_s']:.0f} s", flush=True)
            with open(runs_path, "a") as f:
                f.write(json.dumps(r) + "\n")
            done[(strat, seed, a.budget)] = r
    write_table(out, [r for r in done.values() if r["budget"] == a.budget], a)
    return 0


def write_table(out: Path, runs: list, a):
    lines = [f"NB201 CIFAR-10 (valid accuracy), search budget {a.budget} evaluated cells, default Eproxy setting",
             "", "| strategy | seeds done | best-found accuracy, mean +- std | rank percentile, mean | "
             "wall s per run, mean (scored itself) |", "|---|---|---|---|---|"]
    for strat in a.strategies.split(","):
        rs = [r for r in runs if r["strategy"] == strat]
        if not rs:
            continue
        acc = [r["best_truth"] for r in rs]
        sd = statistics.stdev(acc) if len(acc) > 1 else float("nan")
        pct = statistics.mean(r["best_percentile"] for r in rs)
        wall = statistics.mean(r["wall_s"] for r in rs)
        scored = statistics.mean(r["scored"] for r in rs)
        lines.append(f"| {strat} | {len(rs)} | {statistics.mean(acc):.2f} +- {sd:.2f} | {pct:.1f} | "
                     f"{wall:.0f} ({scored:.0f} cells) |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
