"""Peer proxies against their published NB201 figures (issue 4's faithfulness check).

Runs `eproxy compare nb201` (resumable: rerun to continue) and prints each proxy's Spearman
next to the value published for it (DESIGN §2: 9,445 unique NB201 cells, CIFAR-10 valid
accuracy), flagging gaps over 0.05.

    python experiments/faithfulness.py --limit 1000 --out compare-nb201-1000
    python experiments/faithfulness.py --limit 1000 --out compare-nb201-1000 -- --proxies naswot,synflow
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PUBLISHED = {"jacob_cov": 0.82, "naswot": 0.79, "params": 0.74, "synflow": 0.73, "flops": 0.71, "snip": 0.55}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--out", required=True)
    ap.add_argument("extra", nargs="*", help="more `eproxy compare` arguments, after --")
    a = ap.parse_args(argv)
    from eproxy_jax.cli import main as cli
    proxies = "naswot,synflow,jacob_cov,snip,grad_norm,fisher,params,flops"
    args = ["compare", "nb201", "--limit", str(a.limit), "--sample-seed", str(a.sample_seed), "--batch-size",
            str(a.batch_size), "--out", a.out, "--proxies", proxies, *a.extra]
    rc = cli(args)
    if rc:
        return rc
    res = json.loads((Path(a.out) / "summary.json").read_text())
    print(f"\n{res['n']} cells, batch {a.batch_size}, {res['device']}")
    print("| proxy | spearman here | published | gap |")
    print("|---|---|---|---|")
    for p, s in res["proxies"].items():
        pub = PUBLISHED.get(p)
        rho = s["spearman"]
        gap = "" if pub is None or rho is None else f"{rho - pub:+.3f}" + (" **> 0.05**" if abs(rho - pub) > 0.05 else "")
        print(f"| {p} | {rho if rho is not None else '-'} | {pub if pub is not None else '-'} | {gap} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
