"""What a random-search user gets from a results file: draw many pools of P architectures from
the scored ones, keep each pool's best-scored architecture, report the mean truth percentile
(within all scored architectures; a tie for the best score counts as its members' mean) and the mean truth of the picks, with a 95% bootstrap interval.

    python experiments/pool_pick.py RESULTS.csv [RESULTS.csv ...] --pools 10,100 --draws 2000 [--macs]

`--macs` adds the free baseline: the pool's largest network by MACs (the first file's MACs column).

The same pools (seeded by --seed) are drawn for every file, over the architectures all files
share, so the files compare pick by pick. Scores as stored (the setting's alpha applied).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pool_picks(score, truth, pool: int, draws: int, seed: int = 0) -> dict:
    """Mean truth percentile and truth of the best-scored member of `draws` random pools."""
    from eproxy_jax import metrics

    score, truth = np.asarray(score, np.float64), np.asarray(truth, np.float64)
    if not 1 <= pool <= len(score):
        raise ValueError(f"pool {pool} must be within 1..{len(score)} (the shared architectures)")
    rng = np.random.default_rng(seed)
    pct = metrics.percentile(truth, truth)
    good = metrics.goodness(score)
    idx = np.stack([rng.choice(len(score), pool, replace=False) for _ in range(draws)])
    g = good[idx]
    best = g == g.max(axis=1, keepdims=True)          # a score tie at the top: its mean is the pick
    pick_pct = (pct[idx] * best).sum(axis=1) / best.sum(axis=1)
    pick_truth = (truth[idx] * best).sum(axis=1) / best.sum(axis=1)
    boot = rng.integers(0, draws, size=(1000, draws))
    lo, hi = np.percentile(pick_pct[boot].mean(axis=1), [2.5, 97.5])
    return {"pool": pool, "draws": draws, "percentile": float(pick_pct.mean()),
            "percentile_ci95": (float(lo), float(hi)), "truth": float(pick_truth.mean())}


def main(argv=None) -> int:
    from eproxy_jax.api import load_results
    from eproxy_jax.store import StoreError

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--pools", default="10,100")
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--macs", action="store_true", help="add a row per pool: the largest MACs wins")
    a = ap.parse_args(argv)
    try:
        pools = [int(p) for p in a.pools.split(",")]
        tables = [load_results(Path(f)) for f in a.files]
    except (ValueError, OSError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = [dict(zip(t.archs, zip(t.score, t.truth if t.truth is not None else [np.nan] * len(t))))
            for t in tables]
    names = list(a.files)
    if a.macs:       # lower "score" = better, so the negated MACs make the largest network the pick
        t = tables[0]
        rows.append(dict(zip(t.archs, zip(-np.asarray(t.macs(), np.float64),
                                          [rows[0][x][1] for x in t.archs]))))
        names.append("largest MACs")
    common = sorted(set.intersection(*(set(r) for r in rows)))
    print(f"{len(common)} architectures shared by {len(a.files)} files; {a.draws} pools each\n")
    print("| file | pool | mean truth percentile of the pick (95% CI) | mean truth of the pick |")
    print("|---|---|---|---|")
    for f, r in zip(names, rows):
        s = np.array([r[c][0] for c in common])
        y = np.array([r[c][1] for c in common])
        if not np.isfinite(y).all():
            print(f"error: {f}: rows without a truth value", file=sys.stderr)
            return 2
        for p in pools:
            try:
                o = pool_picks(s, y, p, a.draws, a.seed)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"| {f} | {p} | {o['percentile']:.1f} [{o['percentile_ci95'][0]:.1f}, "
                  f"{o['percentile_ci95'][1]:.1f}] | {o['truth']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
