"""Interleaved timing of several scoring engines on the same architectures, in one process: the
A/B pattern of the CPU-speed work (issue 32), where this machine's speed drifts by 10-15 % within
minutes (docs/results.md), so variants timed one after the other cannot be compared.

    from interleaved import interleave, load_module, summary
    old = load_module("/tmp/head/spaces/nb101.py", "spaces.head_nb101")   # a worktree of HEAD
    result = interleave({"head": head_engine, "new": engine}, encs, reps=3)
    print("\\n".join(summary(result, "head")))

`interleave` scores each architecture alone with every engine, `reps` rounds; the engines'
order rotates with the round and the architecture (A B, then B A, ...), and a line per round
gives each engine's mean ms/arch. `summary` gives each engine's median and mean over the
architectures (each architecture's median over the rounds), how many architectures each
engine scored faster than the base, and the largest score difference from the base.
`experiments/ab_timing.py` is the command-line tool for the engine's own lowering switches;
this is for what it cannot switch: code from another checkout, patched functions, extra
compile options (the throwaways in `experiments/results/cpu_2026-12-06_static/`).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import time


def load_module(path: str, name: str):
    """The Python file `path` (e.g. a module of another checkout, made with `git worktree add`)
    imported as module `name`, beside this checkout's modules; its relative imports resolve in
    the package `name` names (`spaces.head_nb101` imports `spaces`' modules), imported first."""
    if "." in name:
        importlib.import_module(name.rpartition(".")[0])
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no Python module at {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def warm(engines: dict, encs, buckets, log=print) -> dict:
    """Each engine scores one architecture of every bucket in `buckets` (one per architecture of
    `encs`), so every program the draw needs is compiled before any timing; a line per engine
    with its compile seconds (`engine.compile_s`). Returns `engines`."""
    buckets = list(buckets)
    for name, eng in engines.items():
        for b in dict.fromkeys(buckets):
            eng.score(encs[buckets.index(b)][None])
        if log is not None:
            log(f"{name}: compiled {eng.compile_s:.1f} s")
    return engines


def interleave(engines: dict, encs, reps: int = 3, log=print, clock=time.perf_counter) -> dict:
    """Every architecture of `encs` scored alone (`engine.score(encs[i:i + 1])`) by every engine
    of `engines` (name -> engine), `reps` rounds, the order rotating. Returns `{"ms": {name:
    [[ms per round] per architecture]}, "scores": {name: [first seed's score of the last round
    per architecture]}}`."""
    import numpy as np
    names = list(engines)
    ms = {n: [[] for _ in range(len(encs))] for n in names}
    scores = {n: [float("nan")] * len(encs) for n in names}
    for r in range(reps):
        for i in range(len(encs)):
            k = (r + i) % len(names)
            for n in names[k:] + names[:k]:
                t = clock()
                s = engines[n].score(encs[i:i + 1])
                ms[n][i].append(1000.0 * (clock() - t))
                scores[n][i] = float(np.asarray(s).reshape(-1)[0])
        if log is not None:
            log(f"round {r}: " + "  ".join(f"{n} {np.mean([m[-1] for m in ms[n]]):,.0f}" for n in names) + " ms/arch")
    return {"ms": ms, "scores": scores}


def summary(result: dict, base: str) -> list:
    """Lines: per engine, the median and mean over the architectures of each one's median ms;
    per other engine, on how many architectures it was faster than `base` and its largest
    absolute and relative score difference from `base`'s."""
    import numpy as np
    med = {n: [float(np.median(m)) for m in ms] for n, ms in result["ms"].items()}
    lines = [f"{n}: median {np.median(v):,.0f} ms/arch, mean {np.mean(v):,.0f}" for n, v in med.items()]
    b = np.asarray(result["scores"][base], np.float64)
    for n in med:
        if n == base:
            continue
        s = np.asarray(result["scores"][n], np.float64)
        ok = np.isfinite(b) & np.isfinite(s)
        diff = float(np.max(np.abs(s[ok] - b[ok]))) if ok.any() else float("nan")
        nz = ok & (b != 0)
        rel = float(np.max(np.abs(s[nz] / b[nz] - 1))) if nz.any() else float("nan")
        faster = sum(x < y for x, y in zip(med[n], med[base]))
        lines.append(f"{n} faster than {base} on {faster} of {len(med[n])} architectures; "
                     f"largest score difference {diff:.3g} (relative {rel:.2g})")
    return lines


def cell_table(result: dict, base: str, new: str, buckets) -> list:
    """Markdown lines: per architecture, its bucket, `base`'s and `new`'s median ms, the change
    and both scores (the first seed's, of the last round)."""
    import numpy as np
    med = {n: [float(np.median(m)) for m in result["ms"][n]] for n in (base, new)}
    lines = [f"| cell | bucket | {base} ms | {new} ms | change | score {base} | score {new} |",
             "|---|---|---|---|---|---|---|"]
    for i, (a, b) in enumerate(zip(med[base], med[new])):
        lines.append(f"| {i} | {buckets[i]} | {a:,.0f} | {b:,.0f} | {100 * (b / a - 1):+.1f} % | "
                     f"{result['scores'][base][i]:.7g} | {result['scores'][new][i]:.7g} |")
    return lines
