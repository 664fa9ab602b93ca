"""Eproxy across tasks: TransNAS-Bench-101 micro/macro and NAS-Bench-MR, every bundled task.

For each space: score a set of architectures once with the paper's default setting (the
architectures are the same for every task of a space), then per task Spearman/Kendall of
-score against the task's metric; optionally DPS per task (20 train architectures drawn from
the rest of the space, evaluated on the scored set minus them) with the default setting on the
same evaluation architectures beside it.

    # the full protocol (GPU): every architecture, DPS 200 settings per task
    python experiments/multitask.py
    # a reduced run (what the 2-core CPU allows): 100 architectures per space, no DPS
    python experiments/multitask.py --archs 100 --dps-tasks none
    # reduced DPS on every task (genes capped to the paper-size bucket, 40 archs evaluated)
    python experiments/multitask.py --spaces transnas-micro --archs 40 --cycles 8 --population 4 \\
        --sample 2 --max-channels 128 --max-kernel 3

Resumable: scores are saved per chunk in `<out-dir>/<space>_scores.json` (the setting and
options they were made with in `<space>_meta.json`; a resume under others is refused), each
DPS run keeps its state in `<out-dir>/<space>_<task>_s<seed>_dps.state`, finished rows in
`<out-dir>/rows.json`. The DPS runs of one space share their train architectures, so they share
one cache of scored settings (`<space>_s<seed>_dps_cache.json`): the random first batch, the
same for every task, is scored once per space; the default setting's eval scores are the
default row's, so only the best setting is scored on the eval architectures.
A longer search (more --cycles, the same --population, --sample and seed) in a new folder holding
copies of a shorter run's `<space>_scores.json`, `_meta.json` and settings cache repeats the
shorter run's settings first (the search is deterministic) and reads them from the cache.
`--peers synflow,jacob_cov,...` scores peer zero-cost proxies on the same architectures (the space's
feature module with pooling and a linear layer, the 20 bundled CIFAR-10 images and their 10 classes:
`eproxy compare`'s generic classifier) once per space, saved per slice in `<space>_peers.json`, and
adds their Spearman / Kendall / top-end metrics per task to the default rows.
Prints a markdown table (and writes it to `<out-dir>/table.md`); a DPS entry also gives the eval
Spearman `eproxy dps --keep-default` would return (the default's where no searched setting
fitted the train architectures better; derived from the run's fitness values, no extra scoring).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eproxy_jax.cli.args import ScriptParser, int_at_least, int_list, nonneg, positive, space_option  # noqa: E402

SPACES = ("transnas-micro", "transnas-macro", "nbmr")


def bundled_tasks(name):
    from spaces import info
    return [t for t, f in info(name).datasets.items() if f is not None]


def check_args(ap, args):
    """What argparse's types cannot check, before the first compile, so a typo costs seconds, not a
    scored space. Returns the spaces built with the options, by name."""
    from spaces import SpaceError, info, load_space
    names = args.spaces.split(",")
    for name in names:
        if name not in SPACES:
            ap.error(f"--spaces: {name!r} is not a multi-task space (choose from {', '.join(SPACES)})")
    from eproxy_jax.baselines import PROXIES, supported
    built = {}
    for name in names:
        try:
            built[name] = load_space(name, **args.space_option)
        except (SpaceError, TypeError, ValueError) as e:
            ap.error(f"--space-option for {name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
        for p in args.peers:
            if p not in PROXIES:
                ap.error(f"--peers: unknown proxy {p!r} (available: {', '.join(PROXIES)})")
            if p not in supported(built[name]):
                ap.error(f"--peers: {p} not available for {name} (available: {', '.join(supported(built[name]))})")
        if args.dps_tasks in ("all", "none"):
            continue
        tasks = bundled_tasks(name)
        for t in args.dps_tasks.split(","):
            if t in tasks:
                continue
            if t in info(name).datasets:
                ap.error(f"--dps-tasks: {name} has no bundled table for {t!r} (bundled: {', '.join(tasks)}; "
                         f"score other tasks with `eproxy dps {name} --dataset {t} --truth FILE`)")
            ap.error(f"--dps-tasks: {t!r} is not a task of {name} (bundled: {', '.join(tasks)})")
    return built


def refuse_other_run(path, recorded, made_with, what):
    """Exit 2 with one line when the scores saved in `path` were made under other settings than
    this run's (`recorded` against `made_with`, compared as JSON), so they are never mixed."""
    if recorded != json.loads(json.dumps(made_with)):
        print(f"multitask.py: {path} was scored with {json.dumps(recorded)}, not with this run's {what}; "
              "choose another --out-dir", file=sys.stderr)
        sys.exit(2)


def peer_scores(sp, name, ids, encs, args, out) -> dict:
    """{proxy: {arch id: value}} of `args.peers` on the architectures `ids` (encodings `encs`),
    read from `<out>/<name>_peers.json` where a run with the same options saved them; the rest
    scored in slices of 4 chunks, each saved as it ends (a stopped run resumes)."""
    from eproxy_jax import images as images_mod
    from eproxy_jax.baselines.runner import BaselineEngine
    path = out / f"{name}_peers.json"
    made_with = {"options": args.space_option, "images": "bundled", "batch": 20, "num_classes": 10, "seed": 0}
    saved = json.loads(path.read_text()) if path.exists() else {"made_with": made_with, "scores": {}}
    refuse_other_run(path, saved["made_with"], made_with, "options")
    have = saved["scores"]
    todo = [p for p in args.peers if set(ids) - set(have.get(p, {}))]
    if todo:
        raw, labels = images_mod.load_labeled("bundled", n=20, size=sp.input_size)
        eng = BaselineEngine(sp, todo, images_mod.normalise(raw), labels, chunk=args.chunk)
        missing = [k for k, i in enumerate(ids) if any(i not in have.get(p, {}) for p in todo)]
        step = 4 * args.chunk
        for a in range(0, len(missing), step):
            part = missing[a:a + step]
            res = eng.score(encs[part])
            for p in todo:
                have.setdefault(p, {}).update({ids[k]: float(v) for k, v in zip(part, res[p])})
            path.write_text(json.dumps(saved))
            print(f"# {name}: peers {min(a + step, len(missing))}/{len(missing)}", flush=True)
    return have


def load_rows(path):
    return json.loads(path.read_text()) if path.exists() else []


def main(argv=None):
    ap = ScriptParser(prog="multitask.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spaces", default=",".join(SPACES))
    ap.add_argument("--archs", type=nonneg("--archs"), default=0, help="architectures scored per space (0 = all)")
    ap.add_argument("--sample-seed", type=nonneg("--sample-seed"), default=0)
    ap.add_argument("--chunk", type=positive("--chunk"), default=16)
    ap.add_argument("--dps-tasks", default="all", help="'all', 'none' or a comma list of tasks")
    ap.add_argument("--dps-seeds", type=int_list("--dps-seeds"), default=[0], help="comma-separated (default 0)")
    ap.add_argument("--train-archs", type=int_at_least("--train-archs", 3), default=20)
    ap.add_argument("--cycles", type=positive("--cycles"), default=200)
    ap.add_argument("--population", type=int_at_least("--population", 2), default=40)
    ap.add_argument("--sample", type=positive("--sample"), default=10, help="tournament size (at most --population)")
    ap.add_argument("--eval-archs", type=nonneg("--eval-archs"), default=0,
                    help="DPS: evaluate on the first N scored architectures outside the train set (a random "
                         "subset: the scored set is a random draw; 0 = all of them)")
    ap.add_argument("--max-channels", type=positive("--max-channels"), default=512, help="DPS: cap on the channel genes")
    ap.add_argument("--max-kernel", type=positive("--max-kernel"), default=7, help="DPS: cap on the kernel genes")
    ap.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                    help="for every space (e.g. input_size=64)")
    ap.add_argument("--peers", default="", help="comma-separated peer proxies scored on the same architectures "
                    "(e.g. synflow,jacob_cov,snip,params; default none)")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments/results/multitask"))
    args = ap.parse_args(argv)
    args.space_option = dict(args.space_option)
    args.peers = [p for p in args.peers.split(",") if p]
    built = check_args(ap, args)
    dps_seeds, opts = args.dps_seeds, args.space_option

    from eproxy_jax import dps_run, metrics
    from eproxy_jax.engine import CompileCounter, Engine, release_programs
    from eproxy_jax.setting_spec import validate

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows_path = out / "rows.json"
    rows = load_rows(rows_path)
    done = {(r["space"], r["task"], r["kind"], r.get("dps_seed")) for r in rows}

    def save_row(row):
        rows.append(row)
        rows_path.write_text(json.dumps(rows, indent=1))
        print(json.dumps(row), flush=True)

    for name in args.spaces.split(","):
        sp = built[name]
        tasks = bundled_tasks(name)
        truth = {}
        for t in tasks:
            enc, val = sp.load_truth(t)
            truth[t] = {sp.arch_id(e): v for e, v in zip(enc, val)}
        enc_all, _ = sp.load_truth(tasks[0])
        ids_all = [sp.arch_id(e) for e in enc_all]
        rng = np.random.default_rng(args.sample_seed)
        order = rng.permutation(len(ids_all))
        n = len(ids_all) if args.archs <= 0 else min(args.archs, len(ids_all))
        pick = order[:n]
        rest = order[n:] if n < len(ids_all) else order
        # --- default setting, scored once for every task
        score_path, meta_path = out / f"{name}_scores.json", out / f"{name}_meta.json"
        scores = json.loads(score_path.read_text()) if score_path.exists() else {}
        made_with = {"setting": validate({}, min(3, len(sp.feature_channels))), "options": opts}
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if scores and "made_with" not in meta:
            print(f"# {score_path}: scores from before the setting was recorded, used as they are", flush=True)
        elif scores:
            refuse_other_run(score_path, meta["made_with"], made_with, "default setting and options")
        todo = [i for i in pick if ids_all[i] not in scores]
        if todo:
            if not scores:
                meta_path.write_text(json.dumps({"made_with": made_with}))
            eng = Engine(sp, chunk=args.chunk)
            c0 = CompileCounter.compiles
            t0 = time.perf_counter()
            todo = np.asarray(todo)

            def save(idx, s):   # one call, so shape buckets are merged over all the architectures
                scores.update({ids_all[i]: float(v) for i, v in zip(todo[idx], s.mean(axis=1))})
                score_path.write_text(json.dumps(scores))
                print(f"# {name}: scored {len(scores)}/{n}", flush=True)

            eng.score(enc_all[todo], on_chunk=save)
            meta = {"ms_per_arch": 1000 * eng.score_s / len(todo), "compile_s": eng.compile_s,
                    "programs": eng.programs, "compiles": CompileCounter.compiles - c0,
                    "wall_s": time.perf_counter() - t0, "made_with": made_with}
            meta_path.write_text(json.dumps(meta))
            del eng   # its programs are not needed again: free their memory maps before DPS compiles its own
            release_programs()
        ids = [ids_all[i] for i in pick]
        sc = np.asarray([scores[i] for i in ids])
        # the trivial baseline beside it: MACs (more = better) on the same architectures and on
        # the whole table, and how far the proxy's ranking follows MACs
        macs_all = np.asarray(sp.macs(enc_all), np.float64)
        macs = macs_all[pick]

        def macs_fields(t):
            y = np.asarray([truth[t][i] for i in ids])
            return {"macs_spearman": float(metrics.spearman(-macs, y)),
                    "macs_spearman_all": float(metrics.spearman(-macs_all, [truth[t][i] for i in ids_all])),
                    "score_vs_macs_spearman": float(metrics.spearman(sc, macs))}

        def top_fields(t):   # top-end metrics, percentiles in the task's whole table
            rep = metrics.report(sc, [truth[t][i] for i in ids], [truth[t][i] for i in ids_all])
            return {k: float(rep[k]) for k in metrics.TOP_KEYS}

        peer = peer_scores(sp, name, ids, enc_all[pick], args, out) if args.peers else {}

        def peer_fields(t):   # higher = better for every peer
            if not peer:
                return {}
            return {"peers": {p: {k: float(v) for k, v in metrics.report(
                -np.asarray([peer[p][i] for i in ids]), [truth[t][i] for i in ids],
                [truth[t][i] for i in ids_all]).items()} for p in args.peers}}

        for t in tasks:
            if (name, t, "default", None) in done:
                old = [r for r in rows if (r["space"], r["task"], r["kind"]) == (name, t, "default")
                       and (not {"macs_spearman", "top1_percentile"} <= set(r)
                            or not set(args.peers) <= set(r.get("peers", {}))) and r["n"] == len(ids)]
                for r in old:   # rows from before the MACs / top-end / peer columns
                    r.update(macs_fields(t))
                    r.update(top_fields(t))
                    if peer:
                        r["peers"] = {**r.get("peers", {}), **peer_fields(t)["peers"]}
                if old:
                    rows_path.write_text(json.dumps(rows, indent=1))
                continue
            y = np.asarray([truth[t][i] for i in ids])
            save_row({"space": name, "task": t, "kind": "default", "n": len(ids),
                      "spearman": float(metrics.spearman(sc, y)), "kendall": float(metrics.kendall(sc, y)),
                      **macs_fields(t), **top_fields(t), **peer_fields(t),
                      "ms_per_arch": meta.get("ms_per_arch"), "programs": meta.get("programs"),
                      "options": opts, "machine": f"{platform.machine()} {os.cpu_count()} cpus"})
        # --- DPS per task
        dps_tasks = [] if args.dps_tasks == "none" else (tasks if args.dps_tasks == "all" else args.dps_tasks.split(","))
        for t in dps_tasks:
            for seed in dps_seeds:
                if (name, t, "dps", seed) in done:
                    continue
                r2 = np.random.default_rng(1000 + seed)
                scored = set(ids)
                pool = [i for i in rest if ids_all[i] not in scored] or list(rest)
                train = r2.choice(pool, args.train_archs, replace=False)
                in_train = set(train.tolist())
                ev = [i for i in pick if i not in in_train]
                if args.eval_archs > 0:
                    ev = ev[:args.eval_archs]
                y_tr = np.asarray([truth[t][ids_all[i]] for i in train])
                y_ev = np.asarray([truth[t][ids_all[i]] for i in ev])
                t0 = time.perf_counter()
                res = dps_run.run(sp, enc_all[train], y_tr, enc_all[ev], y_ev, cycles=args.cycles,
                                  population=args.population, sample=min(args.sample, args.population), seed=seed,
                                  max_channels=args.max_channels, max_kernel=args.max_kernel,
                                  state_path=out / f"{name}_{t}_s{seed}_dps.state",
                                  meta={"space": name, "task": t, "seed": seed, "archs": args.archs, "opts": opts,
                                        "eval_archs": args.eval_archs, "max_channels": args.max_channels,
                                        "max_kernel": args.max_kernel, "train_archs": args.train_archs,
                                        "sample": args.sample},
                                  score_cache=out / f"{name}_s{seed}_dps_cache.json",
                                  cache_context=json.dumps({"space": name, "opts": opts, "images": "bundled",
                                                            "train": [ids_all[i] for i in train]}),
                                  default_eval_scores=[scores[ids_all[i]] for i in ev],
                                  eval_reference=[truth[t][i] for i in ids_all],
                                  progress=lambda e: print(f"# {name}/{t} DPS {e['told']}/{e['cycles']} best "
                                                           f"{e['best_fitness']:.3f}", flush=True))
                release_programs()   # this run's evaluator programs (the next run builds its own)
                save_row({"space": name, "task": t, "kind": "dps", "dps_seed": seed, "n": len(ev),
                          "train_archs": args.train_archs, "cycles": args.cycles, "population": args.population,
                          "best_fitness": res["best_fitness"], "default_fitness": res["default_fitness"],
                          "spearman": res["eval_spearman"], "default_spearman": res["default_eval_spearman"],
                          "default_kendall": res["default_eval_kendall"], "kendall": res["eval_kendall"],
                          **{k: res[f"eval_{k}"] for k in metrics.TOP_KEYS},
                          **{f"default_{k}": res[f"default_eval_{k}"] for k in metrics.TOP_KEYS},
                          "max_channels": args.max_channels, "max_kernel": args.max_kernel,
                          "settings_from_cache": res["settings_from_cache"], "search_s": res["search_s"],
                          "eval_s": res["eval_s"], "compiles": res["compiles"], "wall_s": time.perf_counter() - t0,
                          "setting": res["setting"], "options": opts,
                          "machine": f"{platform.machine()} {os.cpu_count()} cpus"})
    def keep_default_spearman(r):   # what `eproxy dps --keep-default` returns, from the run's own fitness values
        return r["default_spearman"] if dps_run.keeps_default(r["best_fitness"], r["default_fitness"]) else r["spearman"]

    table = ["| space | task | n | Spearman default | Kendall default | top-1 / top-10 pct | Spearman in top 10% "
             "| DPS: Spearman (default on the same archs) "
             "| MACs: Spearman (whole table) | Spearman(-score, MACs) | peers: Spearman (top-1 pct) | ms/arch | programs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def f3(r, k, d=3):
        return f"{r[k]:.{d}f}" if r.get(k) is not None else "-"

    for r in rows:
        if r["kind"] != "default":
            continue
        d = [x for x in rows if x["kind"] == "dps" and x["space"] == r["space"] and x["task"] == r["task"]]
        dps = "; ".join(f"{x['spearman']:.3f} ({x['default_spearman']:.3f}), {x['cycles']} settings, keep-default "
                        f"{keep_default_spearman(x):.3f}" for x in d) or "not run"
        macs = f"{f3(r, 'macs_spearman')} ({f3(r, 'macs_spearman_all')}) | {f3(r, 'score_vs_macs_spearman')}"
        speed = f"{r['ms_per_arch']:.0f} | {r['programs']}" if r.get("ms_per_arch") is not None else "- | -"
        top = f"{f3(r, 'top1_percentile', 1)} / {f3(r, 'top10_percentile', 1)} | {f3(r, 'spearman_top10pct')}"
        peers = "; ".join(f"{p} {v['spearman']:.3f} ({v['top1_percentile']:.0f})" for p, v in r.get("peers", {}).items())
        table.append(f"| {r['space']} | {r['task']} | {r['n']} | {r['spearman']:.3f} | {r['kendall']:.3f} | {top} | {dps} | "
                     f"{macs} | {peers or '-'} | {speed} |")
    (out / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
