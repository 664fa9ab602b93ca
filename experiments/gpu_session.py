"""One-shot GPU session: engine throughput probes, the whole NB201 space, and quality studies.

    PYTHONPATH=. python experiments/gpu_session.py --out-dir $OUT --budget-s 560

Made for a short accelerator lease: every stage checks the time left before it starts,
prints as it goes and appends one JSON line per result to `<out-dir>/session.jsonl`, so a
stage cut short still leaves everything before it. Stages:

  A. probes: compile seconds, ms/arch and XLA's cost analysis (FLOPs and bytes per
     architecture) for a few (arch_vmap, conv_impl) configurations on a seeded sample;
  B. quality: Spearman / Kendall per proxy seed on the 1,000 NB201 cells that
     `eproxy score nb201 --limit 1000` draws (sample seed 0), for the default setting and
     the variants named by `--variants`; scores are saved to `quality_<variant>.npz`
     (the README's wave comparison ran at commit 360fab5, whose script also carried the
     GenNAS-style waves as a variant; they are the default targets since);
  C. the whole space: all 15,625 cells with the fastest probed configuration, wall time
     including preparation and compilation (persistent cache off), and Spearman on all.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = time.perf_counter()


def elapsed():
    return time.perf_counter() - T0


class Log:
    def __init__(self, out_dir: Path):
        self.path = out_dir / "session.jsonl"

    def __call__(self, kind, **row):
        row = {"kind": kind, "t": round(elapsed(), 1), **row}
        print(json.dumps(row), flush=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


VARIANTS = {   # setting overrides (the wave targets are eproxy_jax.targets' own)
    "default": {},
    "code_lr_wd": {"lr": 1.2, "weight_decay": 4e-5},   # the authors' code's lr / weight decay
}


def cost(compiled, n_arch):
    try:
        ca = compiled.cost_analysis()
        if isinstance(ca, (list, tuple)):
            ca = ca[0]
        return {"gflop_per_arch": round(ca.get("flops", float("nan")) / n_arch / 1e9, 3),
                "gbytes_per_arch": round(ca.get("bytes accessed", float("nan")) / n_arch / 1e9, 3)}
    except Exception as e:  # noqa: BLE001 - informative only
        return {"cost_error": repr(e)[:200]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--budget-s", type=float, default=560)
    ap.add_argument("--probes", default="1:xla:64,64:xla:256,64:im2col:256",
                    help="arch_vmap:conv_impl:n_archs, comma-separated")
    ap.add_argument("--variants", default="default", help="quality variants run before stage C")
    ap.add_argument("--extra-variants", default="code_lr_wd", help="run after stage C")
    ap.add_argument("--quality-n", type=int, default=1000)
    ap.add_argument("--quality-seeds", type=int, default=5)
    ap.add_argument("--full-chunk-archs", type=int, default=1024)
    ap.add_argument("--space-option", action="append", default=[], metavar="KEY=INT")
    ap.add_argument("--skip", default="", help="stages to skip, e.g. A,C")
    args = ap.parse_args()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = Log(out_dir)
    left = lambda: args.budget_s - elapsed()  # noqa: E731

    import jax
    import numpy as np

    from eproxy_jax import images, metrics
    from eproxy_jax.engine import Engine, enable_compilation_cache
    from eproxy_jax.setting import ProxySetting
    from spaces import load_space

    enable_compilation_cache("off")
    cfg = {k: int(v) for k, v in (o.split("=") for o in args.space_option)}
    space = load_space("nb201", **cfg)
    imgs = images.load(size=space.input_size)
    dev = jax.devices()[0]
    log("env", backend=jax.default_backend(), device=str(dev.device_kind), jax=jax.__version__,
        cpus=os.cpu_count(), space_config=cfg)
    all_enc = space.all_encodings()

    # -- A: probes --------------------------------------------------------------------
    probes = []
    if "A" not in args.skip:
        for spec in args.probes.split(","):
            v, impl, n = spec.split(":")
            v, n = int(v), int(n)
            if left() < 150:
                log("skip", stage="A", probe=spec, left_s=round(left()))
                break
            try:
                encs = all_enc[np.random.default_rng(0).choice(len(all_enc), n, replace=False)]
                eng = Engine(space, None, [0], imgs, chunk=n, arch_vmap=v, seed_batching="vmap", conv_impl=impl)
                fn = eng.compile()
                t = time.perf_counter()
                eng.score(encs[: min(n, v)])  # warm-up call (first-run allocations)
                warm = time.perf_counter() - t
                t = time.perf_counter()
                s = eng.score(encs)
                dt = time.perf_counter() - t
                row = {"arch_vmap": v, "conv_impl": impl, "n": n, "chunk": eng.chunk,
                       "prepare_s": round(eng.prepare_s, 2), "compile_s": round(eng.compile_s, 2),
                       "warm_call_s": round(warm, 2), "ms_per_arch": round(1000 * dt / n, 3),
                       "finite": int(np.isfinite(s).sum()), **cost(fn, eng.chunk)}
                if "gflop_per_arch" in row and dt > 0:
                    row["tflops"] = round(row["gflop_per_arch"] * n / dt / 1e3, 2)
                    row["tb_per_s"] = round(row["gbytes_per_arch"] * n / dt / 1e3, 2)
                probes.append(row)
                log("probe", **row)
            except Exception as e:  # noqa: BLE001
                log("probe_error", probe=spec, error=repr(e)[:500], tb=traceback.format_exc()[-1500:])

    best = min(probes, key=lambda r: r["ms_per_arch"]) if probes else {"arch_vmap": 256, "conv_impl": "im2col", "ms_per_arch": 12.4}
    log("best", **{k: best.get(k) for k in ("arch_vmap", "conv_impl", "ms_per_arch")})
    v, impl = best["arch_vmap"], best["conv_impl"]

    # -- B: quality ---------------------------------------------------------------------
    def quality(variants):
        enable_compilation_cache(str(out_dir.parent / "xla-cache-session"))
        encs, truth = space.load_truth("cifar10")
        idx = np.sort(np.random.default_rng(0).choice(len(encs), args.quality_n, replace=False))
        q_encs, q_truth = encs[idx], truth[idx]
        per_arch_s = best.get("ms_per_arch", 10.0) / 1000 * args.quality_seeds
        for name in variants.split(","):
            need = per_arch_s * args.quality_n + 60
            if left() < need + 30:
                log("skip", stage="B", variant=name, need_s=round(need), left_s=round(left()))
                continue
            try:
                over = VARIANTS[name]
                setting = ProxySetting.from_dict({**ProxySetting.default().to_dict(), **over})
                t = time.perf_counter()
                eng = Engine(space, setting, list(range(args.quality_seeds)), imgs,
                             chunk=max(v, 256 // v * v), arch_vmap=v, seed_batching="map", conv_impl=impl)
                eng.compile()
                per = eng.score(q_encs)
                wall = time.perf_counter() - t
                rhos = [metrics.spearman(per[:, k], q_truth) for k in range(per.shape[1])]
                taus = [metrics.kendall(per[:, k], q_truth) for k in range(per.shape[1])]
                mean = per.mean(1)
                np.savez_compressed(out_dir / f"quality_{name}.npz", scores=per, truth=q_truth, idx=idx)
                log("quality", variant=name, n=len(q_encs), seeds=per.shape[1],
                    spearman_per_seed=[round(float(r), 4) for r in rhos],
                    spearman_mean=round(float(np.mean(rhos)), 4), spearman_std=round(float(np.std(rhos, ddof=1)), 4),
                    kendall_mean=round(float(np.mean(taus)), 4), kendall_std=round(float(np.std(taus, ddof=1)), 4),
                    spearman_seed_avg=round(float(metrics.spearman(mean, q_truth)), 4),
                    diverged=int((~np.isfinite(per)).sum()), wall_s=round(wall, 1), compile_s=round(eng.compile_s, 1))
            except Exception as e:  # noqa: BLE001
                log("quality_error", variant=name, error=repr(e)[:500], tb=traceback.format_exc()[-1500:])

    if "B" not in args.skip:
        quality(args.variants)

    # -- C: the whole space -----------------------------------------------------------------
    if "C" not in args.skip:
        enable_compilation_cache("off")
        need = best.get("ms_per_arch", 10.0) / 1000 * len(all_enc) + 60
        if left() < need:
            log("skip", stage="C", need_s=round(need), left_s=round(left()))
        else:
            try:
                encs, truth = space.load_truth("cifar10")
                t = time.perf_counter()
                chunk = max(v, args.full_chunk_archs // v * v)
                eng = Engine(space, None, [0], imgs, chunk=chunk, arch_vmap=v, seed_batching="vmap", conv_impl=impl)
                eng.compile()
                t1 = time.perf_counter()
                s = eng.score(encs)
                t2 = time.perf_counter()
                rho = metrics.spearman(s[:, 0], truth)
                np.savez_compressed(out_dir / "full_space.npz", scores=s, truth=truth)
                log("full_space", n=len(encs), arch_vmap=v, conv_impl=impl, chunk=eng.chunk,
                    wall_s=round(t2 - t, 1), prepare_s=round(eng.prepare_s, 1), compile_s=round(eng.compile_s, 1),
                    score_s=round(t2 - t1, 1), ms_per_arch=round(1000 * (t2 - t1) / len(encs), 3),
                    spearman=round(float(rho), 4), kendall=round(float(metrics.kendall(s[:, 0], truth)), 4),
                    diverged=int((~np.isfinite(s)).sum()))
            except Exception as e:  # noqa: BLE001
                log("full_space_error", error=repr(e)[:500], tb=traceback.format_exc()[-1500:])
    if "B" not in args.skip and args.extra_variants:
        quality(args.extra_variants)
    log("done", left_s=round(left()))


if __name__ == "__main__":
    main()
