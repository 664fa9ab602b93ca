"""Rank quality of the default Eproxy on NAS-Bench-201: Spearman / Kendall per proxy seed
on the same random architectures, mean +- std over seeds, and the seed-averaged score.

    python experiments/quality.py --limit 1000 --seeds 0,1,2,3,4 --jobs 2 --out-dir results/quality

Each seed is one `eproxy score nb201 --first-seed S --seeds 1` run into its own resumable
CSV (`--jobs` of them at a time), so an interrupted study continues where it stopped.
`--report-only` aggregates whatever the CSVs hold (partial runs are labelled with their n).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def read(path: Path):
    with open(path) as f:
        rows = list(csv.DictReader(ln for ln in f if not ln.startswith("#")))
    return {r["arch"]: (float(r["score"]), float(r["truth"])) for r in rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--jobs", type=int, default=1, help="seeds scored at the same time")
    ap.add_argument("--out-dir", default="results/quality")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--json", help="write the summary here")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {s: out / f"nb201_{args.dataset}_n{args.limit}_s{s}.csv" for s in seeds}

    if not args.report_only:
        from eproxy_jax.cli import checkout_env

        def run(seed):
            cmd = [sys.executable, "-m", "eproxy_jax", "score", "nb201", "--dataset", args.dataset,
                   "--limit", str(args.limit), "--sample-seed", str(args.sample_seed), "--first-seed", str(seed),
                   "--seeds", "1", "--out", str(files[seed]), "--quiet"]
            return subprocess.run(cmd, env=checkout_env()).returncode
        with ThreadPoolExecutor(args.jobs) as pool:
            codes = list(pool.map(run, seeds))
        if any(codes):
            sys.exit(f"a scoring run failed: exit codes {codes}")

    from eproxy_jax import metrics

    tables = {s: read(f) for s, f in files.items() if f.exists()}
    common = set.intersection(*(set(t) for t in tables.values())) if tables else set()
    archs = sorted(common)
    print("| seed | n | spearman | kendall |\n|---|---|---|---|")
    rhos, taus = [], []
    for s, t in tables.items():
        sc = [t[a][0] for a in archs]
        tr = [t[a][1] for a in archs]
        rho, tau = metrics.spearman(sc, tr), metrics.kendall(sc, tr)
        rhos.append(rho)
        taus.append(tau)
        print(f"| {s} | {len(archs)} | {rho:.4f} | {tau:.4f} |")
    summary = {"n": len(archs), "seeds": list(tables), "spearman": rhos, "kendall": taus}
    if len(rhos) > 1:
        summary["spearman_mean"], summary["spearman_std"] = statistics.mean(rhos), statistics.stdev(rhos)
        summary["kendall_mean"], summary["kendall_std"] = statistics.mean(taus), statistics.stdev(taus)
        mean_scores = [statistics.mean(tables[s][a][0] for s in tables) for a in archs]
        tr = [tables[seeds[0]][a][1] for a in archs]
        summary["spearman_of_mean_score"] = metrics.spearman(mean_scores, tr)
        print(f"\nspearman {summary['spearman_mean']:.4f} +- {summary['spearman_std']:.4f}, kendall "
              f"{summary['kendall_mean']:.4f} +- {summary['kendall_std']:.4f} over {len(rhos)} seeds; "
              f"spearman of the seed-averaged score {summary['spearman_of_mean_score']:.4f} (n={len(archs)})")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
