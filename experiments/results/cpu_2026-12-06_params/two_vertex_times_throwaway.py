"""Throwaway (2026-12-06, issue 32): wall time of 2-vertex bucket-2 NB101 cells (input -> two
vertices of one op -> output), one program, 3 rounds, plus their analytic GFLOP."""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from eproxy_jax.cli.bench import default_draw
from eproxy_jax.engine import Engine
from spaces import nb101
space, setting, _ = default_draw("nb101", [], 8, 0)
cells = {op: nb101.spec_to_encoding(*nb101.prune(np.array([[0,1,1,0],[0,0,0,1],[0,0,0,1],[0,0,0,0]]), ["input", op, op, "output"]))
         for op in ("maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")}
eng = Engine(space, setting, seeds=(0,), chunk=1)
eng.compile(2)
times = {k: [] for k in cells}
for r in range(3):
    for k, e in cells.items():
        t = time.perf_counter(); eng.score(e[None]); times[k].append(1e3 * (time.perf_counter() - t))
for k, e in cells.items():
    gf = 3 * 10 * 2 * 16 * space.macs(e[None])[0] / 1e9
    print(f"{k:18s} {np.median(times[k]):7,.0f} ms  ({gf:6.1f} GFLOP analytic, fwd+bwd x10 steps)  rounds {[round(t) for t in times[k]]}")
