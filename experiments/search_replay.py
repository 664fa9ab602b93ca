"""`eproxy search nb201 --strategy random` replayed on saved scores, under any MACs weight
`alpha`, beside a random search guided by the parameter count on the same cells.

    python experiments/search_replay.py SCORES.csv[.gz] [--seeds 0,1,2,3,4] [--budget 1000]
        [--alphas 0,0.1,0.2,0.3] [--json]

Random search asks the same cells whatever their scores (`search.ask(..., random_only=True)`
with the key schedule of `eproxy search`: `PRNGKey(seed)`, one split per batch of 16, the
pool = the CIFAR-10 truth table), so its run is fully determined by the seed; the best-found
cell under a weight `alpha` is the argmin of `score x (1 - alpha MACs / MACs_max)` over the
cells it asked, read from SCORES (alpha-0 scores of the default setting, e.g. the search
study's `scores.csv.gz`). Every asked cell must be in SCORES (else the run is reported as
incomplete). `params` is the same random search ranked by the parameter count instead.
Reports the true accuracy and percentile of each run's pick, mean +- std over seeds.

`--rank-sample-excluding RESULTS` also ranks the union of the cells the random runs asked (a
uniform sample of the space) minus the cells of RESULTS (e.g. the sample a setting was tuned
on): Spearman, Kendall and top-end metrics per alpha on that disjoint sample.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))


def asked_cells(pool_size: int, seed: int, budget: int, batch: int = 16, population: int = 64) -> list:
    """Pool indices a random `eproxy search` run asks, in order (scores never change them)."""
    import jax
    from eproxy_jax import search
    pool = jax.numpy.zeros((pool_size, 1), jax.numpy.int32)   # random_only never reads the pool's values
    state = search.init(pool_size, population, min(16, population))
    key = jax.random.PRNGKey(seed)
    out = []
    while len(out) < budget:
        key, k = jax.random.split(key)
        idx = np.array(search.ask(k, state, pool, n=batch, random_only=True))
        idx[budget - len(out):] = -1
        live = idx[idx >= 0]
        out += [int(i) for i in live]
        state = search.tell(state, idx, np.zeros(len(idx), np.float32))
    return out


def rank_rows(space, ids, encs, truth, saved, frac, params, union, exclude, alphas):
    """Rank and top-end metrics per alpha on the random runs' cells outside `exclude`."""
    from alpha_scan import percentile_in, top_end
    from eproxy_jax.api import load_results
    skip = set(load_results(exclude).archs)
    cells = sorted(i for i in union if ids[i] not in skip and ids[i] in saved)
    s = np.asarray([saved[ids[i]] for i in cells])
    pct = percentile_in(np.asarray(truth, np.float64))
    tr = np.asarray(truth, np.float64)[cells]
    print(f"# {len(cells)} cells asked by the random runs, outside {exclude}")
    print("| ranking | Spearman | Kendall | top1 pct | top10 pct | Spearman in true top 10 % |")
    print("|---|---|---|---|---|---|")
    named = [(f"alpha {x:g}", s * (1 - x * frac[cells])) for x in alphas] + [("params", -params[cells])]
    for name, v in named:
        r = top_end(v, tr, pct)
        print(f"| {name} | {r['spearman']:.4f} | {r['kendall']:.4f} | {r['top1_percentile']:.1f} | "
              f"{r['top10_percentile']:.1f} | {r['spearman_top10pct']:.3f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scores")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--alphas", default="0,0.1,0.2,0.3")
    ap.add_argument("--rank-sample-excluding", metavar="RESULTS", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    from eproxy_jax.cli.search import percentile
    from eproxy_jax.api import load_results
    import spaces

    space = spaces.load_space("nb201")
    encs, truth = space.load_truth("cifar10")
    ids = [space.arch_id(e) for e in encs]
    t = load_results(a.scores)
    saved = dict(zip(t.archs, np.asarray(t.score, np.float64)))
    frac = space.macs(encs) / space.max_macs
    params = np.asarray(space.param_count(encs), np.float64)
    alphas = [float(x) for x in a.alphas.split(",")]
    picks = {f"alpha {x:g}": [] for x in alphas} | {"params": []}
    missing, union = {}, set()
    for seed in (int(s) for s in a.seeds.split(",")):
        cells = asked_cells(len(encs), seed, a.budget)
        union.update(cells)
        have = [i for i in cells if ids[i] in saved]
        missing[seed] = len(cells) - len(have)
        s = np.asarray([saved[ids[i]] for i in have])
        for x in alphas:
            w = s * (1 - x * frac[have])
            w = np.where(np.isfinite(w), w, np.inf)
            picks[f"alpha {x:g}"].append(have[int(np.argmin(w))])
        picks["params"].append(cells[int(np.argmax(params[cells]))])
    rows = []
    for name, idx in picks.items():
        acc = [float(truth[i]) for i in idx]
        pct = [percentile(truth, truth[i]) for i in idx]
        rows.append({"ranking": name, "seeds": len(idx), "truth": acc, "mean": statistics.mean(acc),
                     "std": statistics.stdev(acc) if len(acc) > 1 else 0.0, "percentile_mean": statistics.mean(pct)})
    if a.rank_sample_excluding:
        rank_rows(space, ids, encs, truth, saved, frac, params, union, a.rank_sample_excluding, alphas)
    if a.json:
        print(json.dumps({"rows": rows, "missing": missing}))
        return 0
    print(f"# random search, budget {a.budget}, seeds {a.seeds}; cells not in {a.scores}: {missing}")
    print("| ranking | best-found accuracy, mean +- std | mean percentile | per seed |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['ranking']} | {r['mean']:.2f} +- {r['std']:.2f} | {r['percentile_mean']:.1f} | "
              f"{', '.join(f'{v:.2f}' for v in r['truth'])} |")
    return 0 if not any(missing.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
