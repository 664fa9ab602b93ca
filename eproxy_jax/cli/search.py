"""`eproxy search`: NAS with the proxy (regularized evolution or random search over a pool of
architectures), batch-scored by the engine, every score kept in a resumable results file."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

from .. import runguard, runlock
from ..space_protocol import is_enumerable
from .args import UsageError, float_where, int_at_least, nonneg, positive
from .common import (add_engine, add_images, add_run, add_truth, default_results_path, enable_cache, finite,
                     make_engine, prepare_run, rank_fields, top_text, validate_scoring)


def add_parser(sub):
    p = sub.add_parser("search", help="search a space for its best architectures with the proxy as fitness")
    add_truth(p)
    p.add_argument("--archs", help="JSON list of architectures to search among (default: the truth table, or "
                   "the whole space where it is enumerable)")
    p.add_argument("--budget", type=positive("--budget"), default=1000,
                   help="architectures evaluated (proxy runs; default 1000)")
    p.add_argument("--seconds", type=float_where("--seconds", lambda x: x > 0 and math.isfinite(x), "> 0"), default=None,
                   help="stop after this many seconds too")
    p.add_argument("--strategy", choices=("evolution", "random"), default="evolution",
                   help="regularized evolution (default) or random search")
    p.add_argument("--population", type=int_at_least("--population", 2), default=64, help="default 64")
    p.add_argument("--sample", type=positive("--sample"), default=16, help="tournament size (default 16)")
    p.add_argument("--batch", type=positive("--batch"), default=None,
                   help="architectures asked and scored together (default: --chunk, at most the population)")
    p.add_argument("--seed", type=nonneg("--seed"), default=0, help="search seed (default 0)")
    p.add_argument("--seeds", type=positive("--seeds"), default=1, help="proxy seeds 0..K-1, averaged (default 1)")
    p.add_argument("--setting", help="proxy setting: a name from `eproxy settings`, a JSON file (e.g. the output of "
                   "eproxy dps) or an inline JSON object; default: the space's default setting")
    p.add_argument("--top", type=positive("--top"), default=5, help="best architectures reported (default 5)")
    add_images(p)
    add_engine(p)
    p.add_argument("--out", help="results CSV of every score (shared with eproxy score: same default file, "
                   "so scores are reused across runs and search seeds)")
    add_run(p)
    return p


def run(args) -> int:
    """`eproxy search`: the checks that need no jax, then the run."""
    return cmd_search(args, validate(args))


def validate(args) -> dict:
    """`eproxy score`'s checks (space, truth or pool, setting, images, --out), then search's own."""
    pre = validate_scoring(args)
    if args.sample > args.population:
        raise UsageError(f"--sample ({args.sample}) must not exceed --population ({args.population})")
    return pre


def load_pool(space, args, pre):
    """(encodings [N, ...], truth [N] or None, dataset label or None): the architectures to
    search among, each once."""
    import numpy as np

    truth, dataset = None, pre["dataset"]
    if pre["archs"] is not None:
        encs, dataset = space.encode_many(pre["archs"]), None
    else:
        try:
            encs, truth = space.load_truth(dataset if not args.truth else None, args.truth, args.lower_is_better)
        except ValueError:
            if args.truth or not is_enumerable(space):
                raise
            encs, dataset = space.all_encodings(), None  # no table: the whole enumerable space
    ids = [space.arch_id(e) for e in encs]
    first = {}
    for i, a in enumerate(ids):
        first.setdefault(a, i)
    keep = np.asarray(sorted(first.values()), np.int64)
    return encs[keep], (truth[keep] if truth is not None else None), [ids[i] for i in keep], dataset


def cmd_search(args, pre: dict) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    from ..store import ResultStore

    run = prepare_run(args, pre)
    run.setting   # a bad setting is refused before the pool is read
    encs, truth, ids, dataset = load_pool(run.space, args, pre)
    seeds = list(range(args.seeds))
    meta = run.meta(seeds, dataset)
    out = Path(args.out) if args.out else default_results_path(args.space, dataset, meta)
    with runlock.hold(out):
        return _search_locked(args, ResultStore(out, meta, seeds), run.space, run.setting, encs, truth, ids, dataset,
                              run.images, t0)


def _search_locked(args, store, space, setting, encs, truth, ids, dataset, images, t0) -> int:
    """`eproxy search` with its results file locked."""
    import numpy as np

    from .. import engine as engine_mod
    cache = enable_cache(args)
    import jax
    runguard.check()

    engine_mod.CompileCounter.install()
    compiles0, hits0 = engine_mod.CompileCounter.compiles, engine_mod.CompileCounter.cache_hits
    eng = make_engine(engine_mod, args, space, setting, store.seeds, images)
    run = _evolve(args, store, eng, encs, truth, ids, t0)
    score_of, scored = run["score_of"], run["scored"]
    sign = -1.0 if args.lower_is_better else 1.0
    best = _best_rows(args, score_of, truth, ids, sign)
    result = {
        "space": args.space, "dataset": dataset, "strategy": args.strategy, "seed": args.seed,
        "budget": args.budget, "seconds": args.seconds, "evaluated": run["evaluated"], "stopped": run["stopped"],
        "scored": scored, "reused": run["reused"], "pool": len(encs),
        "best": best,
        "best_truth": best[0].get("truth") if best else None,
        "best_percentile": best[0].get("percentile") if best else None,
        "pool_best_truth": float(np.max(truth)) * sign if truth is not None else None,
        **evaluated_metrics(score_of, truth),
        "wall_s": round(time.perf_counter() - t0, 3),
        "compile_s": round(eng.compile_s + eng.prepare_s, 3),
        "ms_per_arch": round(1000 * eng.score_s / scored, 2) if scored else None,
        "programs": eng.programs, "devices": eng.devices, "compiles": engine_mod.CompileCounter.compiles - compiles0,
        "cache_hits": engine_mod.CompileCounter.cache_hits - hits0, "cache_dir": cache,
        "device": f"{jax.default_backend()}:{jax.devices()[0].device_kind}", "out": str(store.path),
        "setting": setting.to_dict(), "setting_name": store.meta["setting_name"],
    }
    _print_search(args, result, len(score_of), len(encs), store.path)
    return 0


def _evolve(args, store, eng, encs, truth, ids, t0) -> dict:
    """The search loop: ask a batch, score what the store lacks, tell the fitness (-score),
    until the budget, --seconds or the pool runs out. Returns what the report needs."""
    import jax
    import numpy as np

    from .. import search
    batch = min(args.batch or eng.chunk, args.population)
    budget = min(args.budget, len(encs))
    random_only = args.strategy == "random"
    pool = jax.numpy.asarray(encs.reshape(len(encs), -1))
    state = search.init(len(encs), args.population, args.sample)
    key = jax.random.PRNGKey(args.seed)
    score_of = {}  # pool index -> mean score (this run)
    scored, reused = 0, 0
    sign = -1.0 if args.lower_is_better else 1.0
    stopped = "budget"
    while int(state.told) < budget:
        runguard.check()
        if args.seconds is not None and time.perf_counter() - t0 > args.seconds:
            stopped = "seconds"
            break
        key, k = jax.random.split(key)
        idx = np.array(search.ask(k, state, pool, n=batch, random_only=random_only))
        idx[budget - int(state.told):] = -1           # the last batch: only what the budget allows
        live = idx[idx >= 0]
        if len(live) == 0:
            stopped = "pool exhausted"
            break
        new = [i for i in live if not store.done(ids[i])]
        if new:
            res = eng.score(encs[new])
            store.append([ids[i] for i in new], res,
                         [sign * float(truth[i]) for i in new] if truth is not None else None)
            scored += len(new)
        reused += len(live) - len(new)
        mean, _, _ = store.scores([ids[i] for i in live])
        for i, s in zip(live, mean):
            score_of[int(i)] = s
        fit = np.full(len(idx), np.nan, np.float32)
        fit[idx >= 0] = [-s for s in mean]
        state = search.tell(state, idx, fit)
        if not args.quiet:
            _progress(args, state, truth, budget, t0)
    return {"evaluated": int(state.told), "stopped": stopped, "scored": scored, "reused": reused,
            "score_of": score_of}


def _progress(args, state, truth, budget, t0) -> None:
    b = int(state.best)
    tb = f", truth {truth[b]:.4g} ({percentile(truth, truth[b]):.1f} pct)" if truth is not None and b >= 0 else ""
    print(f"search {args.space} [{args.strategy}]: {int(state.told)}/{budget} evaluated, best score "
          f"{-float(state.best_fitness):.5g}{tb}, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)


def _best_rows(args, score_of: dict, truth, ids, sign: float) -> list:
    """The --top best-scored architectures (non-finite scores last), with their truth."""
    order = sorted(score_of, key=lambda i: (math.isnan(score_of[i]), score_of[i]))
    best = []
    for i in order[: args.top]:
        row = {"arch": ids[i], "score": finite(score_of[i], 6)}
        if truth is not None:
            row["truth"] = float(truth[i]) * sign
            row["percentile"] = round(percentile(truth, truth[i]), 2)
        best.append(row)
    return best


def _print_search(args, result: dict, n_evaluated: int, n_pool: int, out) -> None:
    lines = [f"search {args.space} ({args.strategy}, seed {args.seed}): {result['evaluated']} architectures evaluated "
             f"of {n_pool} ({result['scored']} scored now, {result['reused']} from {out}), stopped by "
             f"{result['stopped']}, {result['wall_s']:.1f} s"]
    for r in result["best"]:
        t = f"  truth {r['truth']:.4g} ({r['percentile']:.1f} pct)" if "truth" in r else ""
        lines.append(f"  score {r['score']}{t}  {r['arch']}")
    if result["spearman"] is not None:
        lines.append(f"over the {n_evaluated} evaluated: spearman {result['spearman']:.4f}, kendall "
                     f"{result['kendall']:.4f}; {top_text(result)}")
    print("\n".join(lines))
    if args.json:
        print(json.dumps(result, allow_nan=False))


def evaluated_metrics(score_of: dict, truth) -> dict:
    """Rank metrics (`common.rank_fields`) of the evaluated architectures' scores against their
    truth, percentiles read in the whole pool's truth; None where there is no truth."""
    import numpy as np
    from .. import metrics
    keys = ("spearman", "kendall", "top10_precision") + metrics.TOP_KEYS
    idx = sorted(score_of)
    if truth is None or len(idx) < 2:
        return dict.fromkeys(keys)
    return rank_fields(np.asarray([score_of[i] for i in idx], np.float64), np.asarray(truth)[idx], truth)


def percentile(values, v) -> float:
    """`metrics.percentile` of one truth value within the pool's truth table (mid-rank, in %)."""
    from ..metrics import percentile as pct
    return float(pct([v], values)[0])
