"""Throwaway (2026-12-06, issue 32): the ops of one cell (a path fragment, e.g. stack0_first)
of a 2-vertex bucket-2 NB101 cell (OP OP), with time, count and shape, under the profiler."""
import sys, re, tempfile
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]; sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "experiments"))
import cpu_profile as cp
from eproxy_jax.cli.bench import default_draw
from eproxy_jax.engine import Engine
from spaces import nb101
space, setting, _ = default_draw("nb101", [], 8, 0)
op, frag, top = sys.argv[1], sys.argv[2], int(sys.argv[3])
enc = nb101.spec_to_encoding(*nb101.prune(np.array([[0,1,1,0],[0,0,0,1],[0,0,0,1],[0,0,0,0]]), ["input", op, op, "output"]))
e = np.stack([enc] * 2)
eng = Engine(space, setting, seeds=(0,), chunk=1)
eng.score(e)
d = tempfile.mkdtemp()
_, texts = cp.traced_score(eng, e, d)
index = cp.hlo_index(texts)
lines = {}
for l in texts[0].splitlines():
    m = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = (\S+)", l)
    if m: lines[m.group(1)] = m.group(2)
per_op, _, cnt = cp.op_times(d, index)
def sel(p):
    if frag == "OTHER":
        return "NB101Net" in p and not any(k in p for k in ("stack0", "stack1", "stack2"))
    if frag == "OUTSIDE":
        return "NB101Net" not in p
    return frag in p
tot = sum(ns for n, ns in per_op.items() if sel(index[n][1]))
print(f"total in {frag}: {tot/1e6/len(e):.1f} ms/arch; all traced {sum(per_op.values())/1e6/len(e):.1f}")
for name, ns in sorted(((n, ns) for n, ns in per_op.items() if sel(index[n][1])), key=lambda t: -t[1])[:top]:
    p = index[name][1]
    p = p[p.find(frag):] if frag in p else p[-120:]
    print(f"{ns/1e6/len(e):6.1f} x{cnt[name]//len(e):3d} {name[:26]:26s} {lines.get(name,'?')[:34]:34s} {p[:120]}")
