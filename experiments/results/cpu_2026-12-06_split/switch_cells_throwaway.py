"""Throwaway (2026-12-06, issue 32), kept for the record of switch_cells_throwaway.txt; not maintained."""
import sys, time, numpy as np
ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]; sys.path.insert(0, str(ROOT))
from eproxy_jax.cli.bench import default_draw
from eproxy_jax import images as images_mod
from eproxy_jax.engine import Engine
from eproxy_jax.nn import edge_groups
from spaces import nb101
space, setting, encs = default_draw("nb101", [], 8, 0)
def enc(matrix, ops_):
    return nb101.spec_to_encoding(*nb101.prune(np.array(matrix), ["input"] + ops_ + ["output"]))
two = lambda op: enc([[0,1,1,0],[0,0,0,1],[0,0,0,1],[0,0,0,0]], [op, op])
bucket = int(sys.argv[1]) if len(sys.argv) > 1 else 2
if bucket == 2:
    cells = {"2 maxpool": two("maxpool3x3"), "2 conv1x1": two("conv1x1-bn-relu"), "2 conv3x3": two("conv3x3-bn-relu"),
             "sample1": encs[1], "sample2": encs[2], "sample3": encs[3]}
else:
    cells = {"sample0 (b1)": encs[0], "sample7 (b3)": encs[7]}
imgs = images_mod.load(size=space.input_size)
engs = {}
for flag in (False, True):
    with edge_groups.use_edge_vjp("split" if flag else "autodiff"):
        eng = Engine(space, setting, seeds=(0,), images=imgs, chunk=1)
        for e in cells.values():
            eng.score(e[None])
    print("lean", flag, "compiled", round(eng.compile_s, 1), flush=True)
    engs[flag] = eng
t = {(f, k): [] for f in engs for k in cells}; sc = {}
for r in range(2):
    for k, e in cells.items():
        for f, eng in (engs.items() if r % 2 == 0 else reversed(engs.items())):
            t0 = time.perf_counter(); s = eng.score(e[None]); dt = time.perf_counter() - t0
            t[(f, k)].append(dt * 1000); sc[(f, k)] = float(np.asarray(s).reshape(-1)[0])
for k in cells:
    a, b = np.median(t[(False, k)]), np.median(t[(True, k)])
    print(f"{k:10s} plain {a:7.0f}  lean {b:7.0f}  {100*(b/a-1):+5.1f} %   scores {sc[(False,k)]:.6f} {sc[(True,k)]:.6f}", flush=True)
tot = lambda f: sum(np.median(t[(f, k)]) for k in cells)
print(f"total plain {tot(False):.0f} lean {tot(True):.0f} {100*(tot(True)/tot(False)-1):+.1f} %")
