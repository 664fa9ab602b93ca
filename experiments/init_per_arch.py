"""Shared vs per-architecture random weights on NB201 (a fidelity question, not a feature).

The engine draws the candidate's initial weights, the heads and the frozen barrier once per
proxy seed, the same for every architecture. The paper authors' PyTorch script builds a fresh
network, head and barrier for each architecture from the running RNG, so these weights differ
from one architecture to the next (the targets are fixed in both). This script scores the same
cells both ways so the two can be compared on the same architectures:

    python experiments/init_per_arch.py --archs-from RESULTS.csv --per-arch net,heads,barrier \\
        --seed 0 --out init_per_arch.csv

`--archs-from` takes an `eproxy score` results CSV (its `arch` and `truth` columns: the same
cells, and its scores as the shared-weights reference); `--per-arch` names the parts drawn per
architecture (key = fold_in(PRNGKey(seed + 1), cell index in the space)), the others stay the
seed's shared draw. Appends to `--out` chunk by chunk and skips cells already there (resumable);
prints Spearman of both on the cells done.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARTS = ("net", "heads", "barrier")


def read_reference(path):
    """(arch, score, truth) per cell of an `eproxy score` results file (`eproxy_jax.store`)."""
    from eproxy_jax.store import read_results
    _, _, columns, rows = read_results(path)
    at = {c: i for i, c in enumerate(columns)}
    return [(r[at["arch"]], float(r[at["score"]]), float(r[at["truth"]])) for r in rows]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs-from", required=True, help="eproxy score results CSV of nb201 (arch, score, truth)")
    ap.add_argument("--per-arch", default="net,heads,barrier", help=f"parts drawn per architecture, of {PARTS}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=8)
    ap.add_argument("--limit", type=int, default=0, help="first N cells of the file only (0 = all)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    parts = [p for p in a.per_arch.split(",") if p]
    if not set(parts) <= set(PARTS):
        ap.error(f"--per-arch: parts must be among {PARTS}")
    ref = read_reference(a.archs_from)
    if a.limit:
        ref = ref[: a.limit]

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from scipy import stats

    from eproxy_jax import images as images_mod, proxy
    from eproxy_jax.setting import ProxySetting
    from spaces import load_space

    space = load_space("nb201")
    net = space.module()
    imgs = jnp.asarray(images_mod.load(size=space.input_size), jnp.float32)
    setting = ProxySetting.default()
    chans = space.feature_channels

    def prep(key):
        return proxy.prepare(key, setting, net, imgs, space.encoding_shape, chans, space.target_size)

    shared = prep(jax.random.PRNGKey(a.seed))
    base_key = jax.random.PRNGKey(a.seed + 1)

    def one(enc, idx, macs):
        own = prep(jax.random.fold_in(base_key, idx))
        ctx = shared.replace(
            net0=own.net0 if "net" in parts else shared.net0,
            heads0=own.heads0 if "heads" in parts else shared.heads0,
            barrier=own.barrier if "barrier" in parts else shared.barrier)
        return proxy.score_one(ctx, setting, net, imgs, enc, macs)

    run = jax.jit(lambda e, i, m: lax.map(lambda x: one(*x), (e, i, m)))

    out = Path(a.out)
    done = {}
    if out.exists():
        with open(out) as f:
            for r in csv.DictReader(f):
                done[r["arch"]] = float(r["score"])
    else:
        out.write_text("arch,score\n")
    todo = [r for r in ref if r[0] not in done]
    t0 = time.time()
    for s in range(0, len(todo), a.chunk):
        part = todo[s: s + a.chunk]
        encs = np.stack([space.parse(arch) for arch, _, _ in part])
        n = len(part)
        pad = a.chunk - n
        encs_p = np.concatenate([encs, np.repeat(encs[:1], pad, 0)]) if pad else encs
        idx = (encs_p * (5 ** np.arange(6))).sum(1).astype(np.uint32)   # the cell's index in the space
        macs = (space.macs(encs_p) / space.max_macs).astype(np.float32)
        sc = np.asarray(run(jnp.asarray(encs_p, jnp.int32), jnp.asarray(idx), jnp.asarray(macs)))[:n]
        with open(out, "a") as f:
            for (arch, _, _), v in zip(part, sc):
                f.write(f"{arch},{float(v)!r}\n")
                done[arch] = float(v)
        print(f"{len(done)}/{len(ref)} cells, {time.time() - t0:.0f} s", flush=True)
    cells = [(arch, s0, t) for arch, s0, t in ref if arch in done and math.isfinite(done[arch]) and math.isfinite(s0)]
    truth = [t for _, _, t in cells]
    rho_shared = stats.spearmanr([-s0 for _, s0, _ in cells], truth)[0]
    rho_own = stats.spearmanr([-done[arch] for arch, _, _ in cells], truth)[0]
    print(f"n={len(cells)} per-arch ({'+'.join(parts)}) Spearman {rho_own:.4f}; shared weights (reference file) {rho_shared:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
