"""`eproxy compare`: the same architectures scored by Eproxy and the peer zero-cost proxies.

Writes into the output folder: `<proxy>.csv` per proxy (a results file like `eproxy score`'s,
appended chunk by chunk, so an interrupted comparison resumes where it stopped),
`scores.csv` (arch, truth, one column per proxy), `table.md` (spearman, kendall, top-10%
precision, top-1 / top-10 truth percentile, Spearman within the truly best 10%, ms/arch per
proxy; `metrics.report`), `<proxy>.png` (score vs truth) and `summary.json`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from .. import runguard, runlock
from .args import UsageError, nonneg, positive
from .common import (add_engine, add_images, add_run, add_sample, add_truth, check_truth_file, enable_cache,
                     image_kind, make_engine, pending, prepare_run, rank_fields, truth_identity)

BASELINE_VERSION = "eproxy-jax-baselines/1"


def add_parser(sub):
    c = sub.add_parser("compare", help="score the same architectures with Eproxy and the peer zero-cost proxies")
    add_truth(c)
    c.add_argument("--proxies", default="eproxy,naswot,synflow,jacob_cov,snip,grad_norm,fisher,params,flops",
                   help="comma-separated proxies, or 'all' (default: Eproxy and the first eight peers; "
                        "'all' adds plain, l2_norm, grasp, epe_nas and zen)")
    add_sample(c)
    c.add_argument("--batch-size", type=positive("--batch-size"), default=20,
                   help="images for the data-dependent baselines (default 20: all bundled images; Eproxy uses 16)")
    c.add_argument("--num-classes", type=positive("--num-classes"), default=None,
                   help="classifier outputs of the baselines (default: the dataset's classes, 10 for a --truth file)")
    c.add_argument("--seed", type=nonneg("--seed"), default=0, help="weight-init seed of every proxy (default 0)")
    c.add_argument("--setting", help="Eproxy's setting: a name from `eproxy settings`, a JSON file (e.g. the output of "
                   "eproxy dps) or an inline JSON object; default: the space's default setting")
    add_images(c)
    add_engine(c)
    c.add_argument("--out", help="output folder (default compare-<space>-<dataset>-n<N>-s<sample seed>)")
    add_run(c)
    return c


def run(args) -> int:
    """`eproxy compare`: the checks that need no jax, then the run."""
    return cmd_compare(args, validate(args))


def validate(args) -> dict:
    import spaces
    from .. import baselines, images, setting_spec

    spaces.info(args.space)
    setting_name, setting = setting_spec.resolve(args.setting, args.space)
    if args.truth and not Path(args.truth).is_file():
        raise UsageError(f"--truth {args.truth}: file not found")
    if args.lower_is_better and not args.truth:
        raise UsageError("--lower-is-better applies to a --truth file")
    if args.truth:
        dataset = args.dataset or Path(args.truth).name
        check_truth_file(args.truth)
    else:
        dataset = spaces.check_dataset(args.space, args.dataset)
    proxies = baselines.parse_names(args.proxies)
    images.check_spec(args.images)
    if any(baselines.PROXIES.get(p) and baselines.PROXIES[p].data for p in proxies):
        have = None
        if args.images == "bundled":
            have = len(images._image_files(images.BUNDLED_DIR))
        elif not args.images.startswith("tfds:"):
            have = len(images._image_files(Path(args.images)))
        if have is not None and args.batch_size > have:
            raise UsageError(f"--batch-size {args.batch_size}: the image source has only {have} images "
                             "(pass --images tfds:cifar10 or a folder for more)")
    out = Path(args.out) if args.out else Path(
        f"compare-{args.space}-{Path(dataset).name}-n{args.limit or 'all'}-s{args.sample_seed}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--out {out}: directory {parent} does not exist")
    if not os.access(out if out.is_dir() else parent, os.W_OK):
        raise UsageError(f"--out {out}: not writable")
    return {"dataset": dataset, "proxies": proxies, "out": out, "setting": setting, "setting_name": setting_name}


def cmd_compare(args, pre: dict) -> int:
    """The comparison with its output folder locked (`<out>.lock`): one writer per folder."""
    with runlock.hold(pre["out"]):
        return _compare(args, pre)


def _compare(args, pre: dict) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    import numpy as np

    import spaces
    from .. import baselines
    from .. import images as images_mod

    setup = prepare_run(args, pre)
    space = setup.space
    dataset, proxies, out = pre["dataset"], pre["proxies"], pre["out"]
    encs, truth, reference = setup.truth_sample(dataset)
    sign = -1.0 if args.lower_is_better else 1.0  # files keep the metric as given
    run = SimpleNamespace(
        args=args, setup=setup, space=space, encs=encs, ids=[space.arch_id(e) for e in encs], out=out,
        num_classes=args.num_classes or spaces.info(args.space).classes.get(dataset, 10),
        file_truth=[sign * float(t) for t in truth], dataset=dataset, truth_id=truth_identity(args.truth, dataset, args.lower_is_better),
        bar_args=dict(unit="arch", file=sys.stderr, disable=args.quiet, dynamic_ncols=True))

    base = [p for p in proxies if p != "eproxy"]
    missing = [p for p in base if p not in baselines.supported(space)]
    if missing:
        raise UsageError(f"{', '.join(missing)} not available for {args.space} (it has no hand-built classifier with "
                         f"per-layer probes); available: eproxy, {', '.join(baselines.supported(space))}")
    data_needed = any(baselines.PROXIES[p].data for p in base)
    b_raw, b_labels = (images_mod.load_labeled(args.images, n=args.batch_size, seed=args.image_seed,
                                               size=space.input_size, tfds_data_dir=args.tfds_data_dir)
                       if data_needed else (np.zeros((1, space.input_size, space.input_size, 3), np.uint8), None))
    cache = enable_cache(args)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {out}: {e.strerror or e}") from None
    import jax
    runguard.check()
    device = f"{jax.default_backend()}:{jax.devices()[0].device_kind}"

    results: dict[str, dict] = {}
    values: dict[str, np.ndarray] = {}
    if "eproxy" in proxies:
        results["eproxy"], values["eproxy"] = _score_eproxy(run)
    if base:
        _score_baselines(run, base, b_raw, b_labels, results, values)
    summary = {p: _proxy_summary(p, values[p], results[p], truth, reference) for p in proxies}
    _write_outputs(run, values, truth, summary, (dataset, device, cache, t0))
    return 0


def _score_eproxy(run):
    """Eproxy's scores of every architecture (resumed from `<out>/eproxy.csv`) and its timing."""
    import numpy as np
    from tqdm import tqdm

    from .. import engine as engine_mod
    from ..store import ResultStore

    args, space, ids, setup = run.args, run.space, run.ids, run.setup
    store = ResultStore(run.out / "eproxy.csv", setup.meta([args.seed], run.dataset), [args.seed])
    todo = pending(store, ids)
    rec = {"compile_s": 0.0, "score_s": 0.0, "scored": len(todo), "batch": 16}
    if todo:
        eng = make_engine(engine_mod, args, space, setup.setting, [args.seed], setup.images)
        bar = tqdm(total=len(todo), desc="eproxy", **run.bar_args)
        try:
            eng.score(run.encs[todo], progress=bar, on_chunk=lambda idx, s: store.append(
                [ids[todo[i]] for i in idx], s, [run.file_truth[todo[i]] for i in idx]))
        finally:
            bar.close()
        rec["compile_s"], rec["score_s"] = eng.compile_s + eng.prepare_s, eng.score_s
    return rec, np.asarray(store.scores(ids)[0], np.float64)


def _baseline_stores(run, base, b_raw, b_labels) -> dict:
    """One results file `<out>/<proxy>.csv` per peer proxy, its identity the proxy's inputs."""
    from .. import baselines
    from ..store import ResultStore

    args = run.args
    images_sha = hashlib.sha256(b_raw.tobytes()).hexdigest()[:16]
    stores = {}
    for p in base:
        info = baselines.PROXIES[p]
        meta = {"proxy": p, "version": BASELINE_VERSION, "space": args.space, "space_config": run.setup.config,
                "seed": args.seed, "num_classes": run.num_classes, "higher_is_better": True, "truth": run.truth_id}
        if info.data:
            meta.update({"images": image_kind(args.images), "image_seed": args.image_seed,
                         "batch": args.batch_size, "images_sha": images_sha})
        if info.labels:
            meta["labels"] = None if b_labels is None else [int(v) for v in b_labels]
        stores[p] = ResultStore(run.out / f"{p}.csv", meta, [args.seed])
    return stores


def _score_baselines(run, base, b_raw, b_labels, results: dict, values: dict) -> None:
    """The peer proxies' scores (one compiled program per family, resumed per proxy) and timing,
    into `results` and `values`."""
    import numpy as np
    from tqdm import tqdm

    from .. import baselines
    from .. import images as images_mod
    from ..baselines.runner import BaselineEngine

    args, ids = run.args, run.ids
    stores = _baseline_stores(run, base, b_raw, b_labels)
    eng = None
    for program in dict.fromkeys(baselines.PROXIES[p].program for p in base):
        names = [p for p in base if baselines.PROXIES[p].program == program]
        todo = sorted(set().union(*[pending(stores[p], ids) for p in names]))
        for p in names:
            results[p] = {"compile_s": 0.0, "score_s": 0.0, "scored": len(todo),
                          "batch": args.batch_size if baselines.PROXIES[p].data else None,
                          "shared_with": [q for q in names if q != p] if program != "analytic" else []}
        if todo:
            if eng is None:
                eng = BaselineEngine(run.space, base, images_mod.normalise(b_raw), b_labels, seed=args.seed,
                                     chunk=args.chunk, arch_vmap=args.arch_vmap, conv_impl=args.conv_impl,
                                     num_classes=run.num_classes)
            def save(idx, part, names=names, todo=todo):
                for p in names:
                    stores[p].append([ids[todo[i]] for i in idx], np.asarray(part[p])[:, None],
                                     [run.file_truth[todo[i]] for i in idx])

            bar = tqdm(total=len(todo), desc="+".join(names), **run.bar_args)
            try:
                eng.score_program(program, run.encs[todo], on_chunk=save, progress=bar)
            finally:
                bar.close()
            timing = eng.timing[program]
            for p in names:
                results[p]["compile_s"] = timing.get("compile_s", 0.0)
                results[p]["score_s"] = timing["score_s"]
        for p in names:
            values[p] = np.asarray(stores[p].scores(ids)[0], np.float64)


def _proxy_summary(p: str, v, r: dict, truth, reference) -> dict:
    """One proxy's row of `summary.json`: its rank metrics, timing and counts."""
    import numpy as np

    s = {
        **rank_metrics(p, v, truth, reference),
        "ms_per_arch": round(1000 * r["score_s"] / r["scored"], 3) if r["scored"] else None,
        "compile_s": round(r["compile_s"], 2),
        # Eproxy: NaN (its +inf is a dead network, reported by `score` apart); a peer: any
        # non-finite value (synflow's log 0, zen's log 0, jacob_cov's NaN), as the docs say
        "diverged": int(np.isnan(v).sum() if p == "eproxy" else (~np.isfinite(v)).sum()),
        "scored": r["scored"], "batch": r["batch"], "higher_is_better": p != "eproxy",
    }
    if r.get("shared_with"):
        s["shared_with"] = r["shared_with"]
    return s


def _write_outputs(run, values, truth, summary, where) -> None:
    """scores.csv, table.md, one plot per proxy and summary.json; then the report on stdout.
    `where`: (dataset label, device, compilation cache folder, the run's start time)."""
    args, out, proxies = run.args, run.out, list(summary)
    dataset, device, cache, t0 = where
    _write_scores(out / "scores.csv", run.ids, run.file_truth, proxies, values)
    table = _table(summary, args, dataset, len(run.ids), device)
    (out / "table.md").write_text(table)
    for p in proxies:
        _plot(out / f"{p}.png", values[p], truth, p, summary[p], dataset, args.lower_is_better)
    result = {"space": args.space, "dataset": dataset, "n": len(run.ids), "proxies": summary, "device": device,
              "wall_s": round(time.perf_counter() - t0, 2), "batch_size": args.batch_size, "seed": args.seed,
              "num_classes": run.num_classes, "out": str(out), "cache_dir": cache}
    (out / "summary.json").write_text(json.dumps(result, indent=1, allow_nan=False))
    print(table.rstrip())
    print(f"results: {out}/ (scores.csv, table.md, <proxy>.csv, <proxy>.png)  wall {result['wall_s']:.1f} s")
    if args.json:
        print(json.dumps(result, allow_nan=False))


def rank_metrics(proxy: str, values, truth, reference=None) -> dict:
    """`common.rank_fields` of one proxy's scores against the truth (higher = better), in each
    proxy's direction: Eproxy is a loss, every baseline is higher = better. Non-finite
    scores rank last; percentiles are read in `reference` (the whole truth table)."""
    import numpy as np

    v = np.asarray(values, np.float64)
    return rank_fields(v if proxy == "eproxy" else -v, truth, reference)  # metrics rank by -loss


def _write_scores(path, ids, truth, proxies, values):
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "truth"] + list(proxies))
        for i, a in enumerate(ids):
            w.writerow([a, repr(truth[i])] + [repr(float(values[p][i])) for p in proxies])
    os.replace(tmp, path)


def _table(summary, args, dataset, n, device) -> str:
    fmt = lambda x, d=3: "-" if x is None else f"{x:.{d}f}"  # noqa: E731
    lines = [f"# {args.space} / {dataset}: {n} architectures (sample seed {args.sample_seed}), {device}", "",
             "| proxy | spearman | kendall | top-10% precision | top-1 pct | top-10 pct | rho in top 10% "
             "| ms/arch | compile s | diverged | images |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p, s in summary.items():
        ms = fmt(s["ms_per_arch"], 2) + (" (shared pass)" if s.get("shared_with") else "")
        lines.append(f"| {p} | {fmt(s['spearman'])} | {fmt(s['kendall'])} | {fmt(s['top10_precision'])} | "
                     f"{fmt(s['top1_percentile'], 1)} | {fmt(s['top10_percentile'], 1)} | {fmt(s['spearman_top10pct'])} | {ms} | "
                     f"{s['compile_s']:.1f} | {s['diverged']} | {s['batch'] if s['batch'] else '-'} |")
    lines += ["", "Higher = better for every baseline; Eproxy is a loss (ranked by its negation). "
              "Non-finite scores rank last. top-1 / top-10 pct: the truth percentile (in the whole truth "
              "table) of the best-scored architecture / mean over the 10 best-scored (score ties averaged); "
              "rho in top 10%: Spearman within the truly best 10% of the scored set. ms/arch excludes compilation; 'shared pass': snip, grad_norm, "
              "fisher, plain and l2_norm come from one backward pass, jacob_cov and epe_nas from one input Jacobian, "
              "whose time each of their rows shows."]
    return "\n".join(lines) + "\n"


def _plot(path, v, truth, name, s, dataset, lower):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    ok = np.isfinite(v)
    t = -np.asarray(truth) if lower else np.asarray(truth)
    fig, ax = plt.subplots(figsize=(4.5, 3.6), dpi=110)
    ax.scatter(t[ok], v[ok], s=5, alpha=0.5)
    ax.set_xlabel(f"{dataset} truth")
    ax.set_ylabel(f"{name} ({'lower' if name == 'eproxy' else 'higher'} = better)")
    rho = "n/a" if s["spearman"] is None else f"{s['spearman']:.3f}"
    ax.set_title(f"{name}: spearman {rho}, n={len(v)}" + (f", {int((~ok).sum())} non-finite" if (~ok).any() else ""),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
