"""`eproxy score`: score architectures of a space with Eproxy into a resumable results file."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from .. import runguard, runlock
from .args import nonneg, positive
from .common import (add_engine, add_images, add_run, add_sample, add_truth, default_results_path,
                     enable_cache, finite, make_engine, pending, prepare_run, rank_fields, top_text, validate_scoring)
from .score_workers import WorkerError, resolve_workers, workers_arg


def add_parser(sub):
    s = sub.add_parser("score", help="score architectures of a space with Eproxy")
    add_truth(s)
    s.add_argument("--archs", help="JSON list of architectures to score (no truth, no correlation)")
    add_sample(s)
    s.add_argument("--seeds", type=positive("--seeds"), default=1, help="proxy seeds 0..K-1, scores averaged (default 1)")
    s.add_argument("--first-seed", type=nonneg("--first-seed"), default=0,
                   help="seeds run from here: --first-seed 5 --seeds 5 uses seeds 5..9 (default 0)")
    s.add_argument("--setting", help="proxy setting: a name from `eproxy settings` (e.g. authors, paper), a JSON file "
                   "(e.g. the output of eproxy dps) or an inline JSON object such as '{\"lr\": 1.2}'; default: the "
                   "space's default setting")
    add_images(s)
    add_engine(s)
    s.add_argument("--seed-batching", choices=("vmap", "map"), default=None,
                   help="seeds vmapped together or run one after another (default: map)")
    s.add_argument("--out", help="results CSV (appended, resumable); default eproxy-results/<space>_<dataset>_<hash>.csv")
    s.add_argument("--shard", type=_shard, metavar="I/N",
                   help="score only the I-th (0-based) of N disjoint slices of the architectures (many hosts; "
                   "combine with eproxy merge)")
    s.add_argument("--workers", type=workers_arg, default=1, metavar="N",
                   help="CPU: score in N worker processes, one per core ('auto': one per usable core); faster "
                   "than one process for networks of small ops (NB201, NB301), not for NB101 (default 1)")
    add_run(s)
    return s


def _shard(v):
    i, sep, n = v.partition("/")
    try:
        i, n = int(i), int(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N (e.g. 0/8), got {v!r}") from None
    if not sep or n < 1 or not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N, got {v!r}")
    return i, n


def run(args) -> int:
    """`eproxy score`: the checks that need no jax, then the run."""
    return cmd_score(args, validate_scoring(args))


def cmd_score(args, pre: dict) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import numpy as np

    from ..store import ResultStore

    run = prepare_run(args, pre)
    space, setting = run.space, run.setting   # a bad setting is refused before the truth is read

    # which architectures
    truth = reference = None   # reference: the whole truth table (percentiles are read in it)
    dataset = pre["dataset"]
    if pre["archs"] is not None:
        encs = space.encode_many(pre["archs"])
        dataset = None
    else:
        encs, truth, reference = run.truth_sample(dataset)
    if args.shard:  # the I-th of N interleaved slices: disjoint, together everything, same sizes +-1
        keep = np.arange(len(encs)) % args.shard[1] == args.shard[0]
        encs, truth = encs[keep], (truth[keep] if truth is not None else None)
    ids = [space.arch_id(e) for e in encs]

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    meta = run.meta(seeds, dataset)
    shard = f"_shard{args.shard[0]}of{args.shard[1]}" if args.shard else ""
    out = Path(args.out) if args.out else default_results_path(args.space, dataset, meta, shard)
    worker_spec = {"space": args.space, "config": run.config, "setting": pre["setting"],
                   "max_branches": len(space.feature_channels)}
    with runlock.hold(out):
        try:
            return _score_locked(args, ResultStore(out, meta, seeds), space, setting, encs, (truth, reference), ids,
                                 dataset, run.raw_images, t0, worker_spec)
        except WorkerError as e:
            print(f"eproxy score: {e}; finished results are kept in {out}, rerun the same command to resume",
                  file=sys.stderr)
            return 1


def _score_locked(args, store, space, setting, encs, truths, ids, dataset, raw_images, t0, worker_spec) -> int:
    """`eproxy score` with its results file locked: score what it lacks, report. `truths`:
    (the scored architectures' truth, the whole table's, in which percentiles are read)."""
    import numpy as np

    from .. import engine as engine_mod
    from .. import metrics
    truth, reference = truths

    todo = pending(store, ids)
    resumed = len(set(ids)) - len(todo)

    cache = enable_cache(args)
    import jax
    runguard.check()   # a signal whose exception a gc callback swallowed while jax loaded
    device = f"{jax.default_backend()}:{jax.devices()[0].device_kind}"
    engine_mod.CompileCounter.install()
    compiles0, hits0 = engine_mod.CompileCounter.compiles, engine_mod.CompileCounter.cache_hits
    workers = resolve_workers(args.workers, len(todo), jax.default_backend(), args.devices)
    timing = _score_pending(args, store, space, setting, encs, truth, ids, todo, raw_images, workers,
                            dict(worker_spec, cache_dir=cache))

    mean, per_seed, diverged = store.scores(ids)
    mean = np.asarray(mean)
    result = {
        "space": args.space, "dataset": dataset, "n": len(ids), "spearman": None, "kendall": None,
        "top10_precision": None, "spearman_per_seed": None,
        "wall_s": round(time.perf_counter() - t0, 3), "compile_s": round(timing["compile_s"], 3),
        "prepare_s": round(timing["prepare_s"], 3),
        "ms_per_arch": round(1000 * timing["score_s"] / len(todo), 2) if todo else None,
        "device": device, "diverged": int(sum(diverged)), "dead": int(np.isposinf(mean).sum()),
        "seeds": len(store.seeds), "scored": len(todo),
        "resumed": resumed, "out": str(store.path), "cache_dir": cache, "setting": setting.to_dict(),
        "setting_name": store.meta["setting_name"],
        # scoring programs (one per shape bucket used) and all XLA compilations of this run
        # (persistent-cache hits are counted apart)
        "programs": timing["programs"], "devices": timing["devices"], "workers": timing.get("workers", 1),
        "compiles": engine_mod.CompileCounter.compiles - compiles0,
        "cache_hits": engine_mod.CompileCounter.cache_hits - hits0,
    }
    result.update(dict.fromkeys(metrics.TOP_KEYS))
    if truth is not None and len(ids) >= 2:
        per = np.asarray(per_seed)
        result.update(rank_fields(mean, truth, reference))
        result["top10_precision"] = finite(metrics.top_k_precision(mean, truth))
        result["spearman_per_seed"] = [finite(metrics.spearman(per[:, k], truth)) for k in range(per.shape[1])]
    _report(result)
    if args.json:
        print(json.dumps(result, allow_nan=False))
    return 0


def _score_pending(args, store, space, setting, encs, truth, ids, todo, raw_images, n_workers, worker_spec) -> dict:
    """Score the architectures `todo` (indices into `ids`) into the store, in this process or in
    `n_workers` worker processes (`worker_spec`: what a worker needs beyond the arguments); the
    engine's timing."""
    timing = {"score_s": 0.0, "compile_s": 0.0, "prepare_s": 0.0, "programs": 0, "devices": None}
    if not todo:
        return timing
    from .. import engine as engine_mod
    from .. import images as images_mod
    images = images_mod.normalise(raw_images)
    sub_ids = [ids[i] for i in todo]
    sign = -1.0 if args.lower_is_better else 1.0  # the file keeps the metric as given
    sub_truth = [sign * float(truth[i]) for i in todo] if truth is not None else None

    def save(idx, scores):
        store.append([sub_ids[i] for i in idx], scores, [sub_truth[i] for i in idx] if sub_truth else None)

    from tqdm import tqdm
    bar = tqdm(total=len(todo), desc=f"eproxy {args.space}", unit="arch", file=sys.stderr,
               disable=args.quiet, dynamic_ncols=True)
    def compiling(i, n, archs, who=""):   # the first wait of a run is never silent
        if not args.quiet:
            bar.write(f"eproxy {args.space}: {who}compiling program {i}/{n} ({archs} architecture{'s' * (archs != 1)})"
                      " ...", file=sys.stderr)

    try:
        if n_workers > 1:
            return _score_in_workers(args, space, store.seeds, images, encs[todo], n_workers, worker_spec, save, bar,
                                     compiling)
        eng = make_engine(engine_mod, args, space, setting, store.seeds, images, seed_batching=args.seed_batching)
        eng.score(encs[todo], on_chunk=save, progress=bar, on_compile=compiling)
    finally:
        bar.close()
    # programs compile (and contexts prepare) inside score, one per shape bucket used;
    # prepare is a compile of its own plus a tiny run
    return {"score_s": eng.score_s, "compile_s": eng.compile_s + eng.prepare_s, "prepare_s": eng.prepare_s,
            "programs": eng.programs, "devices": eng.devices}


def _score_in_workers(args, space, seeds, images, encs, n_workers, worker_spec, save, bar, compiling) -> dict:
    """`encs` scored in `n_workers` worker processes (`score_workers`), each with the engine
    options of this run; their timing."""
    from ..space_protocol import is_bucketed
    from .score_workers import score_in_workers
    spec = dict(worker_spec, seeds=list(seeds),
                engine={"chunk": args.chunk, "arch_vmap": args.arch_vmap, "conv_impl": args.conv_impl,
                        "seed_batching": args.seed_batching})
    buckets = space.bucket_of(encs) if is_bucketed(space) else [0] * len(encs)
    if not args.quiet:
        bar.write(f"eproxy {args.space}: {len(encs)} architectures over {n_workers} worker processes", file=sys.stderr)
    return score_in_workers(n_workers, spec, images, encs, buckets, save, progress=bar,
                            on_compile=lambda w, i, n, archs: compiling(i, n, archs, f"worker {w + 1}: "))


def _report(r: dict):
    lines = [f"space {r['space']}  dataset {r['dataset']}  n {r['n']}  seeds {r['seeds']}  device {r['device']}"]
    if r["spearman_per_seed"] is not None:
        fmt = lambda x, d=4: "undefined" if x is None else f"{x:.{d}f}"  # noqa: E731
        ps = [x for x in r["spearman_per_seed"] if x is not None]
        extra = ""
        if len(ps) > 1:
            m = sum(ps) / len(ps)
            sd = math.sqrt(sum((x - m) ** 2 for x in ps) / (len(ps) - 1))
            extra = f"  (per seed {m:.4f} +- {sd:.4f})"
        lines.append(f"spearman {fmt(r['spearman'])}  kendall {fmt(r['kendall'])}  top-10% precision "
                     f"{fmt(r['top10_precision'], 3)}{extra}")
        lines.append(top_text(r))
    ms = f"{r['ms_per_arch']:.1f} ms/arch" if r["ms_per_arch"] is not None else "nothing new to score"
    lines.append(f"scored {r['scored']} (resumed {r['resumed']}), {ms}, compile {r['compile_s']:.1f} s, "
                 f"wall {r['wall_s']:.1f} s, diverged {r['diverged']}, dead (ignore the input, ranked last) {r['dead']}")
    lines.append(f"results: {r['out']}")
    print("\n".join(lines))
