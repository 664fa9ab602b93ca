"""`eproxy dps`: validation (before jax is imported) and the run."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

from .. import runguard, runlock
from ..version import SCORING_VERSION
from .args import UsageError, float_where, int_at_least, nonneg, positive
from .common import (add_images, add_run, add_truth, check_out_file, check_truth_file, enable_cache, finite,
                     load_space_arg, read_json_list, truth_identity)


def add_parser(sub):
    d = sub.add_parser("dps", help="Discrete Proxy Search: fit the proxy's settings on a few benchmarked archs")
    add_truth(d, "truth table the train/eval architectures come from (default: the space's)")
    d.add_argument("--train-truth", help="the user's own benchmarked train architectures [[arch, value], ...]")
    d.add_argument("--train-archs", type=int_at_least("--train-archs", 3), default=20,
                   help="train architectures drawn from the truth table (default 20)")
    d.add_argument("--eval-archs", type=nonneg("--eval-archs"), default=1000,
                   help="held-out architectures for the final comparison (default 1000; 0 skips)")
    d.add_argument("--cycles", type=positive("--cycles"), default=200, help="settings evaluated in all (default 200)")
    d.add_argument("--population", type=int_at_least("--population", 2), default=40, help="default 40")
    d.add_argument("--sample", type=positive("--sample"), default=10, help="tournament size (default 10)")
    d.add_argument("--mutation", type=float_where("--mutation", lambda x: 0.0 <= x <= 1.0, "in [0, 1]"), default=0.2, help="per-gene resampling probability (default 0.2)")
    d.add_argument("--batch", type=positive("--batch"), default=None,
                   help="settings asked and scored together (default: the population)")
    d.add_argument("--seed", type=nonneg("--seed"), default=0, help="evolution and train/eval draw seed (default 0)")
    d.add_argument("--proxy-seed", type=nonneg("--proxy-seed"), default=0, help="proxy seed of every score (default 0)")
    d.add_argument("--max-channels", type=positive("--max-channels"), default=512,
                   help="cap the c_out/c_last genes (default 512: the full grid)")
    d.add_argument("--max-kernel", type=int, choices=(1, 3, 7), default=7, help="cap the kernel genes (default 7)")
    d.add_argument("--keep-default", action="store_true",
                   help="return the paper's default setting when no searched setting fits the train archs better "
                        "(not in the paper, whose DPS returns the best searched setting)")
    add_images(d)
    d.add_argument("--out", help="best setting JSON (default dps-<space>-<dataset>-s<seed>.json); state in <out>.state")
    d.add_argument("--plot", help="PNG of fitness over the run")
    add_run(d)
    return d


def run(args) -> int:
    """`eproxy dps`: the checks that need no jax, then the run."""
    return cmd_dps(args, validate(args))


def validate(args) -> dict:
    import spaces
    from .. import images

    spaces.info(args.space)
    for flag, path in (("--truth", args.truth), ("--train-truth", args.train_truth)):
        if path and not Path(path).is_file():
            raise UsageError(f"{flag} {path}: file not found")
    if args.lower_is_better and not (args.truth or args.train_truth):
        raise UsageError("--lower-is-better applies to --truth / --train-truth files")
    if args.truth:
        dataset = args.dataset or Path(args.truth).name
        check_truth_file(args.truth)
    else:
        dataset = spaces.check_dataset(args.space, args.dataset, have_truth_file=False)
    train = read_json_list(args.train_truth, "--train-truth") if args.train_truth else None
    if train is not None and len(train) < 3:
        raise UsageError(f"--train-truth {args.train_truth}: needs at least 3 architectures, got {len(train)}")
    if args.sample > args.population:
        raise UsageError(f"--sample ({args.sample}) must not exceed --population ({args.population})")
    images.check_spec(args.images)
    out = Path(args.out) if args.out else Path(f"dps-{args.space}-{dataset}-s{args.seed}.json")
    check_out_file("--out", out)
    if args.plot:
        check_out_file("--plot", args.plot)
    if args.plot and not args.plot.lower().endswith(".png"):
        raise UsageError(f"--plot {args.plot}: must be a .png file")
    return {"dataset": dataset, "train": train, "out": out}


def cmd_dps(args, pre: dict) -> int:
    """The DPS run with its state locked (`<out>.state.lock`): one writer per state file."""
    with runlock.hold(f"{pre['out']}.state"):
        return _dps(args, pre)


def _dps(args, pre: dict) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import numpy as np

    from .. import dps_run
    from .. import images as images_mod

    space, _ = load_space_arg(args)
    dataset, out = pre["dataset"], pre["out"]
    encs, truth = space.load_truth(dataset if not args.truth else None, args.truth, args.lower_is_better)
    ids = [space.arch_id(e) for e in encs]
    rng = np.random.default_rng(args.seed)
    tr_encs, tr_truth, pool = _train_split(args, pre, space, encs, truth, ids, rng)
    n_eval = min(args.eval_archs, len(pool))
    ev_idx = np.sort(rng.choice(pool, n_eval, replace=False)) if n_eval else np.zeros(0, np.int64)
    raw = images_mod.load_raw(args.images, n=16, seed=args.image_seed, size=space.input_size,
                              tfds_data_dir=args.tfds_data_dir)
    enable_cache(args)
    import jax

    meta = _run_meta(args, dataset, [space.arch_id(e) for e in tr_encs], tr_truth, raw)
    state_path = Path(f"{out}.state")
    resumed = state_path.exists()
    res = dps_run.run(space, tr_encs, tr_truth, encs[ev_idx] if n_eval else None, truth[ev_idx] if n_eval else None,
                      cycles=args.cycles, population=args.population, sample=args.sample, mutation=args.mutation,
                      seed=args.seed, batch=args.batch, images=images_mod.normalise(raw), proxy_seed=args.proxy_seed,
                      max_channels=args.max_channels, max_kernel=args.max_kernel, state_path=state_path, meta=meta,
                      progress=_progress(args), keep_default=args.keep_default, eval_reference=truth)
    result = {
        "space": args.space, "dataset": dataset, **_fitness_fields(res),
        "cycles": args.cycles, "population": args.population, "train_archs": len(tr_encs), "eval_archs": int(n_eval),
        "compiles": res["compiles"], "cache_hits": res["cache_hits"], "wall_s": round(time.perf_counter() - t0, 2),
        "search_s": res["search_s"], "eval_s": res["eval_s"],
        "device": f"{jax.default_backend()}:{jax.devices()[0].device_kind}", "seed": args.seed,
        "resumed": resumed, "out": str(out), "plot": args.plot, "setting": res["setting"],
        "keep_default": args.keep_default, "kept_default": res["kept_default"],
        "searched_setting": res["searched_setting"], "fitness": finite(res["fitness"]),
    }
    _write_setting(out, {"setting": res["setting"], "fitness": result["fitness"],
                         "history_fitness": res["history_fitness"],
                         "meta": {k: v for k, v in result.items() if k not in ("setting", "fitness")}})
    if args.plot:
        dps_run.plot(res["history_fitness"], res["default_fitness"], args.plot,
                     title=f"DPS on {args.space}/{dataset}, seed {args.seed}")
    _print(args, result, res, len(tr_encs), n_eval, out)
    return 0


def _train_split(args, pre, space, encs, truth, ids, rng):
    """(train encodings, their truth, the indices of `encs` left for the eval draw)."""
    import numpy as np

    if pre["train"] is not None:
        tr_encs, tr_truth = space.load_truth(None, args.train_truth, args.lower_is_better)
        taken = {space.arch_id(e) for e in tr_encs}
        pool = np.asarray([i for i, a in enumerate(ids) if a not in taken], np.int64)
        return tr_encs, tr_truth, pool
    if args.train_archs >= len(encs):
        raise UsageError(f"--train-archs {args.train_archs}: the truth table has only {len(encs)} architectures")
    perm = rng.permutation(len(encs))
    tr_idx, pool = np.sort(perm[: args.train_archs]), perm[args.train_archs:]
    return encs[tr_idx], truth[tr_idx], pool


def _run_meta(args, dataset, train_ids, tr_truth, raw) -> dict:
    """The DPS state's identity: a state written with other arguments is refused."""
    return {"space": args.space, "config": dict(args.space_option), "dataset": dataset,
            "train": train_ids, "truth": [float(x) for x in tr_truth],
            "cycles": args.cycles, "population": args.population, "sample": args.sample, "mutation": args.mutation,
            "batch": args.batch, "seed": args.seed, "proxy_seed": args.proxy_seed, "images": raw.tobytes().hex()[:64],
            "max_channels": args.max_channels, "max_kernel": args.max_kernel,
            # the run's identity names where the truth came from and the scores' version too
            "proxy": f"eproxy-jax/{SCORING_VERSION}",
            "truth_source": truth_identity(args.truth, dataset, args.lower_is_better),
            "train_truth_source": truth_identity(args.train_truth, None, args.lower_is_better)}


def _progress(args):
    """The run's progress callback: one stderr line per event (none with --quiet)."""
    def progress(ev):
        if args.quiet:
            return
        bb = "-" if ev["batch_best"] is None else f"{ev['batch_best']:.4f}"
        if ev["scored"] < ev["batch_size"]:   # inside a batch
            best = "-" if not math.isfinite(ev["best_fitness"]) else f"{ev['best_fitness']:.4f}"
            print(f"dps {args.space}: {ev['told']}/{ev['cycles']} settings told, next batch {ev['scored']}/"
                  f"{ev['batch_size']} scored (best fitness {best}, this batch so far {bb})", file=sys.stderr, flush=True)
            return
        print(f"dps {args.space}: {ev['told']}/{ev['cycles']} settings, best fitness {ev['best_fitness']:.4f}"
              f" (this batch {bb})", file=sys.stderr, flush=True)
    return progress


def _fitness_fields(res: dict) -> dict:
    """The run's fitness and held-out metrics for JSON (None where undefined or not run)."""
    from ..metrics import TOP_KEYS

    opt = lambda k, d=4: finite(res[k], d) if res[k] is not None else None  # noqa: E731
    return {
        "best_fitness": finite(res["best_fitness"]), "default_fitness": finite(res["default_fitness"]),
        "eval_spearman": opt("eval_spearman"), "default_eval_spearman": opt("default_eval_spearman"),
        "eval_kendall": opt("eval_kendall"), "default_eval_kendall": opt("default_eval_kendall"),
        **{f"{w}eval_{k}": opt(f"{w}eval_{k}", 2 if "percentile" in k else 4)
           for w in ("", "default_") for k in TOP_KEYS},
    }


def _print(args, result: dict, res: dict, n_train: int, n_eval: int, out: Path) -> None:
    fmt = lambda x: "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"  # noqa: E731
    print(f"best fitness {fmt(result['best_fitness'])} (default setting {fmt(result['default_fitness'])}) "
          f"on {n_train} train archs; eval rho {fmt(result['eval_spearman'])} vs default "
          f"{fmt(result['default_eval_spearman'])} on {n_eval}; {result['compiles']} compiles "
          f"({result['cache_hits']} cache hits), {result['wall_s']:.1f} s")
    if result["eval_top1_percentile"] is not None:
        pct = lambda w: (f"{fmt(result[w + 'eval_top1_percentile'])} / "  # noqa: E731
                         f"{fmt(result[w + 'eval_top10_percentile'])} / {fmt(result[w + 'eval_spearman_top10pct'])}")
        print(f"eval top-1 / top-10 truth percentile / rho within the truly best 10%: {pct('')} "
              f"(default setting {pct('default_')})")
    if res["kept_default"]:
        print("kept the default setting: no searched setting fitted the train archs better (--keep-default)")
    print(f"setting: {out}")
    if args.json:
        print(json.dumps(result, allow_nan=False))


def _write_setting(out: Path, doc: dict) -> None:
    """The best setting's JSON, renamed into place whole (the state keeps the run meanwhile)."""
    from ..store import StoreError
    tmp = out.with_name(out.name + ".tmp")
    with runguard.critical():
        try:
            tmp.write_text(json.dumps(doc, indent=1))
            os.replace(tmp, out)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {out}: {e.strerror or e}; the search is kept in {out}.state, "
                             "rerun the same command to write it once fixed") from None
