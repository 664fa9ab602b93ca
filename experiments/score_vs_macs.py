"""How far a results file's proxy ranking follows the architectures' MACs, and MACs' own rank
quality on the same architectures: the trivial baseline a proxy has to beat.

    python experiments/score_vs_macs.py RESULTS.csv [RESULTS2.csv.gz ...] [--json]

For each `eproxy score` results file (plain or gzipped): the space and its options from the
file's header, then over the rows with a finite score: n, Spearman(-score, MACs), and where the
rows carry truth, Spearman(-score, truth) and Spearman(MACs, truth) (more MACs = better).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def analyse(path) -> dict:
    from eproxy_jax import metrics
    from eproxy_jax.api import load_results

    t = load_results(path)
    ok = np.isfinite(t.score)
    scores, macs = t.score[ok], t.macs()[ok]
    out = {"file": str(path), "space": t.meta["space"], "n": int(ok.sum()),
           "score_vs_macs_spearman": metrics.spearman(scores, macs)}
    if t.truth is not None:
        truth = t.truth[ok]
        out["spearman"] = metrics.spearman(scores, truth)
        out["macs_spearman"] = metrics.spearman(-macs, truth)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    from eproxy_jax.store import StoreError
    from spaces import SpaceError
    for p in a.results:
        try:
            r = analyse(p)
        except (StoreError, SpaceError, OSError) as e:
            print(f"score_vs_macs: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
        if a.json:
            print(json.dumps(r))
        else:
            extra = (f", Spearman(-score, truth) {r['spearman']:.3f}, Spearman(MACs, truth) {r['macs_spearman']:.3f}"
                     if "spearman" in r else "")
            print(f"{r['file']}: {r['space']}, n {r['n']}, Spearman(-score, MACs) "
                  f"{r['score_vs_macs_spearman']:.3f}{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
