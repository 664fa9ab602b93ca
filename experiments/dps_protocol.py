"""DPS quality protocol on NAS-Bench-201: several DPS seeds, each fitted on 20 random
architectures and judged on held-out ones against the paper's default setting.

    python experiments/dps_protocol.py --seeds 0,1,2,3,4 --eval-archs 1000          # full protocol (GPU)
    python experiments/dps_protocol.py --seeds 0 --cycles 12 --population 6 --eval-archs 100 \\
        -- --max-channels 128 --max-kernel 3                                         # reduced, CPU

Each seed is one `eproxy dps nb201 --seed S --json` run (resumable through its own
`<out>.state`); arguments after `--` go to every run. Prints one table row per seed (best
fitness, eval rho of the DPS setting, eval rho of the default, wall time, compiles) and
writes the rows to `<out-dir>/summary.json`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--train-archs", type=int, default=20)
    ap.add_argument("--eval-archs", type=int, default=1000)
    ap.add_argument("--cycles", type=int, default=200)
    ap.add_argument("--population", type=int, default=40)
    ap.add_argument("--sample", type=int, default=10)
    ap.add_argument("--out-dir", default="results/dps")
    args = ap.parse_args(argv)
    from eproxy_jax.cli import checkout_env
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    print("| DPS seed | best fitness (train) | default fitness (train) | eval rho DPS | eval rho default | "
          "eval n | wall s (DPS alone) | compiles |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        cmd = [sys.executable, "-m", "eproxy_jax", "dps", "nb201", "--dataset", args.dataset, "--seed", str(seed),
               "--train-archs", str(args.train_archs), "--eval-archs", str(args.eval_archs),
               "--cycles", str(args.cycles), "--population", str(args.population),
               "--sample", str(min(args.sample, args.population)), "--out", str(out / f"dps_s{seed}.json"),
               "--plot", str(out / f"dps_s{seed}.png"), "--json", *extra]
        r = subprocess.run(cmd, env=checkout_env(), stdout=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"seed {seed}: eproxy dps exited {r.returncode}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(res)
        print(f"| {seed} | {res['best_fitness']} | {res['default_fitness']} | {res['eval_spearman']} | "
              f"{res['default_eval_spearman']} | {res['eval_archs']} | {res['wall_s']} ({res.get('search_s')}) | "
              f"{res['compiles']} |",
              flush=True)
    wins = [r for r in rows if r["eval_spearman"] is not None and r["default_eval_spearman"] is not None
            and r["eval_spearman"] > r["default_eval_spearman"]]
    summary = {"rows": rows, "dps_beats_default": f"{len(wins)}/{len(rows)}", "extra_args": extra}
    ev = [r["eval_spearman"] for r in rows if r["eval_spearman"] is not None]
    if len(ev) > 1:
        summary["eval_spearman_mean"], summary["eval_spearman_std"] = statistics.mean(ev), statistics.stdev(ev)
    print(f"\nDPS setting beats the default on held-out archs for {summary['dps_beats_default']} seeds")
    (out / "summary.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
