"""Dead cells in a results file: architectures with no route from the input to the output
except through `none` edges (NB201, TransNAS micro), against the engine's own verdict (score
+inf, `dead_last`), and the rank quality with them ranked last or scored as they are.

    python experiments/dead_cells.py RESULTS.csv[.gz] [...]
    python experiments/dead_cells.py experiments/results/cpu_2026-11-29_multitask/transnas-micro_scores.json

A `<space>_scores.json` of `experiments/multitask.py` is read too (its folder's rows.json gives
the space options), with one line per bundled task.

Per file: n, structurally dead cells, cells scored +inf by the engine (they must be the same
set when the file was made with `dead_last` on), and where the rows carry truth, Spearman and
Kendall of the file's scores and of the same scores with the structurally dead cells moved
last. For files made before `dead_last` (dead cells carry the constant predictor's finite
loss) that second pair is what `dead_last` gives, because it changes no live cell's score.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))   # NB201 and TransNAS micro order
NONE = 0                                                     # op id of `none` in both


def dead(encoding) -> bool:
    """No path 0 -> 3 through edges whose op is not `none`."""
    alive = {0}
    for (to, src), op in zip(EDGES, np.asarray(encoding).tolist()):
        if op != NONE and src in alive:
            alive.add(to)
    return 3 not in alive


def analyse_multitask(path) -> list:
    """Rows per bundled task for a `<space>_scores.json` of experiments/multitask.py."""
    from eproxy_jax import metrics
    from spaces import load_space
    from spaces.base import arch_from_text

    path = Path(path)
    name = path.name[:-len("_scores.json")]
    rows = json.loads((path.parent / "rows.json").read_text()) if (path.parent / "rows.json").exists() else []
    opts = next((r.get("options", {}) for r in rows if r["space"] == name), {})
    sp = load_space(name, **opts)
    scores = json.loads(path.read_text())
    ids = list(scores)
    score = np.asarray([scores[i] for i in ids])
    is_dead = np.asarray([dead(sp.parse(arch_from_text(i))) for i in ids], bool)
    moved = np.where(is_dead, np.inf, score)
    out = []
    for task in multitask_tasks(name):
        enc, val = sp.load_truth(task)
        truth = dict(zip((sp.arch_id(e) for e in enc), val))
        y = np.asarray([truth[i] for i in ids])
        out.append({"file": str(path), "space": name, "task": task, "n": len(ids), "dead": int(is_dead.sum()),
                    "scored_inf": int(np.isposinf(score).sum()),
                    "spearman": metrics.spearman(score, y), "spearman_dead_last": metrics.spearman(moved, y),
                    "kendall": metrics.kendall(score, y), "kendall_dead_last": metrics.kendall(moved, y)})
    return out


def multitask_tasks(name):
    sys.path.insert(0, str(ROOT / "experiments"))
    import multitask
    return multitask.bundled_tasks(name)


def analyse(path) -> dict:
    from eproxy_jax import metrics
    from eproxy_jax.api import load_results
    from spaces import SpaceError

    path = Path(path)
    t = load_results(path)
    meta = t.meta
    if meta["space"] not in ("nb201", "transnas-micro"):
        raise SpaceError(f"{path}: dead cells are defined here for nb201 and transnas-micro, not {meta['space']}")
    score, truth = t.score, t.truth
    is_dead = np.asarray([dead(e) for e in t.encodings], bool)
    out = {"file": str(path), "space": meta["space"], "n": len(t), "dead": int(is_dead.sum()),
           "scored_inf": int(np.isposinf(score).sum()),
           "inf_is_dead": bool(np.array_equal(np.isposinf(score), is_dead)),
           "dead_last_setting": meta.get("setting", {}).get("dead_last")}
    if truth is not None and len(t):
        moved = np.where(is_dead, np.inf, score)
        out.update(spearman=metrics.spearman(score, truth), kendall=metrics.kendall(score, truth),
                   spearman_dead_last=metrics.spearman(moved, truth), kendall_dead_last=metrics.kendall(moved, truth),
                   dead_truth_mean=float(truth[is_dead].mean()) if is_dead.any() else None,
                   live_worse_than_dead=(float(np.mean(score[~is_dead & np.isfinite(score)] > np.min(score[is_dead])))
                                         if is_dead.any() and np.isfinite(score[is_dead]).any() else None))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+")
    a = ap.parse_args(argv)
    from eproxy_jax.store import StoreError
    from spaces import SpaceError
    for p in a.results:
        try:
            for r in (analyse_multitask(p) if str(p).endswith("_scores.json") else [analyse(p)]):
                print(json.dumps(r))
        except (StoreError, SpaceError, OSError) as e:
            print(f"dead_cells: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
