"""The MACs weight `alpha` read off saved scores: how rank quality moves with
`score x (1 - alpha * MACs / MACs_max)` on architectures already scored at alpha 0.

    python experiments/alpha_scan.py RESULTS_s0.csv.gz [RESULTS_s1.csv.gz ...] [--dataset D]
        [--alphas 0,0.1,0.2,0.3] [--half 0|1 --split-seed S] [--exclude RESULTS ...] [--json]

Every file must hold the same architectures scored with `alpha = 0` (one file per proxy seed;
a file's own seeds are averaged first, as `eproxy score` does). The weight is applied to the
saved scores exactly as the engine applies it (the same MACs and the same space maximum), so
no architecture is rescored. Per alpha: Spearman and Kendall (mean and per proxy seed), and
the top-end metrics: the truth percentile of the best-scored architecture (`top1_percentile`,
within the space's whole truth table), the mean percentile of the 10 best-scored
(`top10_percentile`), Spearman within the truly best 10 % of the scored set
(`spearman_top10pct`) and the accuracy of the best-scored one. Where the space counts
parameters and FLOPs (the peer-proxy spaces) they get a row on the same architectures; elsewhere
MACs alone does.

`--multitask SPACE` reads `experiments/multitask.py`'s `<space>_scores.json` instead (one
file: the default's scores of the sampled architectures) and reports every bundled task of
the space on them.

`--half 0|1` keeps one half of the architectures (a seeded random split): tune on one half,
confirm on the other, when no disjoint draw exists (NB301's 500 genotypes).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def percentile_in(table: np.ndarray):
    """Truth percentile of a value within `table` (`metrics.percentile`: below + half the ties)."""
    from eproxy_jax import metrics
    return lambda v: float(metrics.percentile(v, table))


def top_end(scores, truth, pct) -> dict:
    from eproxy_jax import metrics
    g = metrics.goodness(scores)
    order = np.argsort(-g, kind="stable")
    best = truth >= np.quantile(truth, 0.9)
    return {"spearman": metrics.spearman(scores, truth), "kendall": metrics.kendall(scores, truth),
            "top1_percentile": pct(truth[order[0]]), "top10_percentile": float(np.mean([pct(t) for t in truth[order[:10]]])),
            "spearman_top10pct": metrics.spearman(scores[best], truth[best]), "top1_truth": float(truth[order[0]])}


def load(files, half, split_seed, exclude=()):
    """The results tables and the positions kept (`--half`, minus architectures of `exclude`)."""
    from eproxy_jax.api import load_results
    tabs = [load_results(f) for f in files]
    archs = list(tabs[0].archs)
    for t, f in zip(tabs, files):
        if list(t.archs) != archs:
            sys.exit(f"alpha_scan: {f} holds other architectures than {files[0]}")
        if float(t.meta.get("setting", {}).get("alpha", 0.0)) != 0.0:
            sys.exit(f"alpha_scan: {f} was scored with alpha != 0")
    keep = np.arange(len(archs))
    if half is not None:
        perm = np.random.default_rng(split_seed).permutation(len(archs))
        keep = np.sort(perm[: len(archs) // 2] if half == 0 else perm[len(archs) // 2:])
    if exclude:
        drop = {a for f in exclude for a in load_results(f).archs}
        keep = np.asarray([i for i in keep if archs[i] not in drop], np.int64)
    return tabs, keep


def multitask_rows(path, space_name, alphas):
    """Alpha rows per bundled task on a `multitask.py` scores file: {task: [row, ...]}."""
    import spaces
    space = spaces.load_space(space_name)
    scores = json.loads(Path(path).read_text())
    ids = list(scores)
    out = {}
    for task in [t for t, f in spaces.info(space_name).datasets.items() if f]:
        enc_all, val_all = space.load_truth(task)
        by_id = {space.arch_id(e): (e, v) for e, v in zip(enc_all, val_all)}
        enc = np.stack([by_id[i][0] for i in ids])
        truth = np.asarray([by_id[i][1] for i in ids], np.float64)
        pct = percentile_in(np.asarray(val_all, np.float64))
        macs = space.macs(enc) / space.max_macs
        s = np.asarray([scores[i] for i in ids], np.float64)
        out[task] = [{"name": f"alpha {a:g}", "n": len(ids), **top_end(s * (1 - a * macs), truth, pct)} for a in alphas]
        out[task].append({"name": "macs", "n": len(ids), **top_end(-np.asarray(space.macs(enc), np.float64), truth, pct)})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--dataset", default=None, help="the truth table for percentiles (default: the space's)")
    ap.add_argument("--alphas", default="0,0.1,0.2,0.3,0.4,0.5")
    ap.add_argument("--half", type=int, choices=(0, 1), default=None)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--exclude", nargs="+", default=(), metavar="RESULTS",
                    help="leave out the architectures of these results files (a confirmation sample minus "
                         "the tuning sample's architectures)")
    ap.add_argument("--multitask", metavar="SPACE", help="RESULTS is a multitask.py <space>_scores.json")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.multitask:
        res = multitask_rows(a.results[0], a.multitask, [float(x) for x in a.alphas.split(",")])
        if a.json:
            print(json.dumps(res))
            return 0
        print(f"# {a.multitask}: Spearman (top1 pct) per task and alpha, {a.results[0]}")
        names = [r["name"] for r in next(iter(res.values()))]
        print("| task | n | " + " | ".join(names) + " |")
        print("|---|---|" + "---|" * len(names))
        for task, rows in res.items():
            print(f"| {task} | {rows[0]['n']} | " + " | ".join(f"{r['spearman']:.3f} ({r['top1_percentile']:.0f})" for r in rows) + " |")
        return 0
    tabs, keep = load(a.results, a.half, a.split_seed, a.exclude)
    t0 = tabs[0]
    space = t0.space
    truth = np.asarray(t0.truth, np.float64)[keep]
    pct = percentile_in(np.asarray(space.load_truth(a.dataset)[1], np.float64))
    macs = (t0.macs() / space.max_macs)[keep]
    rows = []
    for alpha in (float(x) for x in a.alphas.split(",")):
        per = [top_end(np.asarray(t.score, np.float64)[keep] * (1 - alpha * macs), truth, pct) for t in tabs]
        row = {"name": f"alpha {alpha:g}", "n": int(len(keep)), "seeds": len(per)}
        for k in per[0]:
            row[k] = float(np.mean([p[k] for p in per]))
        row["spearman_per_seed"] = [round(p["spearman"], 4) for p in per]
        rows.append(row)
    enc = np.stack(t0.encodings)[keep]
    # the space's analytic counts where it has them, and the MACs of the network as scored (its --space-option)
    counts = [(name, getattr(space, fn)(enc)) for name, fn in (("params", "param_count"), ("flops", "flops"))
              if space.implements(fn)] + [("macs", space.macs(enc))]
    for name, v in counts:
        rows.append({"name": name, "n": int(len(keep)), "seeds": 0, **top_end(-np.asarray(v, np.float64), truth, pct)})
    if a.json:
        print(json.dumps(rows))
        return 0
    print(f"# {t0.meta['space']}, {len(keep)} architectures, {len(tabs)} proxy seed file(s)"
          + (f", half {a.half} of split seed {a.split_seed}" if a.half is not None else ""))
    print("| ranking | Spearman | Kendall | top1 pct | top10 pct | Spearman in true top 10 % | best-scored truth | Spearman per seed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['spearman']:.4f} | {r['kendall']:.4f} | {r['top1_percentile']:.1f} | "
              f"{r['top10_percentile']:.1f} | {r['spearman_top10pct']:.3f} | {r['top1_truth']:.2f} | "
              f"{r.get('spearman_per_seed', '')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
