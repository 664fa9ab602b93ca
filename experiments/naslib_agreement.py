"""How our peer proxies agree with NASLib's published values on the same NB301 genotypes.

    eproxy compare nb301 --truth experiments/data/naslib_zc_nb301.json.gz --limit 100 \
        --proxies plain,l2_norm,grasp,epe_nas,snip,grad_norm,jacob_cov,synflow,params,flops \
        --out OUT --json
    python experiments/naslib_agreement.py OUT/scores.csv[.gz] [--naslib experiments/data/naslib_zc_nb301.json.gz]

For every proxy column of `scores.csv` that NASLib also computed (their `jacov` is our
`jacob_cov`): Spearman between our values and NASLib's over the same genotypes, and each
one's Spearman with the validation accuracy (the truth column). Different weights (their
PyTorch init draw, our JAX draw), images (their CIFAR-10 training batch, our bundled 20) and
BN details mean data-dependent proxies cannot match value for value: the agreement says
whether the two implementations rank the architectures alike, and whether ours ranks the
benchmark as theirs does. `--json FILE` writes the rows.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from eproxy_jax.cli.args import ScriptParser  # noqa: E402
from eproxy_jax.jsonio import read_json  # noqa: E402

NASLIB_NAME = {"jacob_cov": "jacov"}   # ours -> theirs, where they differ
DEFAULT = ROOT / "experiments" / "data" / "naslib_zc_nb301.json.gz"


def load_naslib(path: Path) -> dict:
    return read_json(path)["nasbench301"]["cifar10"]


def _key(arch: str) -> str:
    """A genotype string with its spacing normalised (the CSV and NASLib's keys agree on it)."""
    return "".join(arch.split())


def agreement(rows: list, naslib: dict) -> list:
    table = {_key(k): v for k, v in naslib.items()}
    missing = [r["arch"] for r in rows if _key(r["arch"]) not in table]
    if missing:
        raise SystemExit(f"naslib_agreement: {len(missing)} architectures of scores.csv are not in the NASLib file, "
                         f"e.g. {missing[0]!r}")
    theirs = [table[_key(r["arch"])] for r in rows]
    truth = np.array([float(r["truth"]) for r in rows])
    out = []
    for name in (c for c in rows[0] if c not in ("arch", "truth")):
        key = NASLIB_NAME.get(name, name)
        if key not in theirs[0]:
            continue
        ours = np.array([float(r[name]) for r in rows])
        ref = np.array([float(t[key]) for t in theirs])
        ok = np.isfinite(ours) & np.isfinite(ref)
        rho = lambda a, b: float(stats.spearmanr(a[ok], b[ok]).statistic)  # noqa: E731
        out.append({"proxy": name, "n": int(ok.sum()), "ours_vs_naslib": rho(ours, ref),
                    "ours_vs_truth": rho(ours, truth), "naslib_vs_truth": rho(ref, truth)})
    return out


def main(argv=None) -> int:
    ap = ScriptParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scores", help="scores.csv of an `eproxy compare nb301 --truth <NASLib file>` run")
    ap.add_argument("--naslib", default=str(DEFAULT), help="NASLib's zc_nasbench301.json (.gz)")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    try:
        opener = gzip.open if str(args.scores).endswith(".gz") else open
        with opener(args.scores, "rt") as f:
            rows = list(csv.DictReader(ln for ln in f if not ln.startswith("#")))
        naslib = load_naslib(Path(args.naslib))
    except (OSError, ValueError, KeyError) as e:
        ap.error(f"cannot read the inputs: {e}")
    if len(rows) < 3:
        ap.error(f"{args.scores}: {len(rows)} rows; need at least 3")
    res = agreement(rows, naslib)
    print("| proxy | archs | ours vs NASLib (Spearman) | ours vs val. acc. | NASLib vs val. acc. |")
    print("|---|---|---|---|---|")
    for r in res:
        print(f"| {r['proxy']} | {r['n']} | {r['ours_vs_naslib']:.3f} | {r['ours_vs_truth']:.3f} | {r['naslib_vs_truth']:.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
