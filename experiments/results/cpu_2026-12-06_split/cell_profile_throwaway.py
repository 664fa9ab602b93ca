"""Throwaway (2026-12-06, issue 32), kept for the record of switch_cells_throwaway.txt; not maintained."""
import sys, tempfile, numpy as np, collections
ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]; sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "experiments"))
import cpu_profile as cp, os
from eproxy_jax.nn import edge_groups; edge_groups._edge_vjp[0] = "split" if os.environ.get("LEAN", "1") == "1" else "autodiff"
from eproxy_jax.cli.bench import default_draw
from eproxy_jax.engine import Engine
from spaces import nb101
space, setting, encs = default_draw("nb101", [], 8, 0)
def enc(matrix, ops_):
    return nb101.spec_to_encoding(*nb101.prune(np.array(matrix), ["input"] + ops_ + ["output"]))
two = lambda op: enc([[0,1,1,0],[0,0,0,1],[0,0,0,1],[0,0,0,0]], [op, op])
e = np.stack([two(sys.argv[1])] * 2)
eng = Engine(space, setting, seeds=(0,), chunk=1)
eng.score(e)
d = tempfile.mkdtemp()
_, texts = cp.traced_score(eng, e, d)
open(os.path.join(tempfile.gettempdir(), "cell_hlo.txt"), "w").write(texts[0])
index = cp.hlo_index(texts)
per_op, _, cnt = cp.op_times(d, index)
for name, ns in per_op.most_common(int(sys.argv[2])):
    k = cp.kind_of(*index[name])
    print(f"{ns/1e6/len(e):7.1f} ms/arch  x{cnt[name]//len(e):4d}  {name:28s} {k[:28]:28s} {index[name][1][-110:]}")
print("----")
groups = collections.Counter()
for name, ns in per_op.items():
    p = index[name][1]
    if "NB101Net" in p:
        g = ("bwd " if "transpose" in p else "fwd ") + next((s for s in ("stack0_first", "stack1_first", "stack2_first", "stack0/", "stack1/", "stack2/") if s in p), "other")
    else:
        g = "outside net: " + p.split("/")[-1][:20]
    groups[g] += ns
tot = sum(groups.values())
for g, ns in groups.most_common(40):
    print(f"{ns/1e6/len(e):8.1f} ms/arch {100*ns/tot:5.1f}%  {g}")
print("---- outside")
oc = collections.Counter(); ex = {}
for name, ns in per_op.items():
    p = index[name][1]
    if "NB101Net" not in p:
        key = (index[name][0], p.split("/")[-1][:20], name.rstrip("0123456789."))
        oc[key] += ns; ex.setdefault(key, []).append(name)
for k, ns in oc.most_common(25):
    print(f"{ns/1e6/len(e):8.1f} ms/arch n={len(ex[k]):4d} {k} e.g. {ex[k][:3]}")
print("---- top copies/broadcasts")
import re
lines = {}
for l in open(os.path.join(tempfile.gettempdir(), "cell_hlo.txt")):
    m = re.match(r"\s*(?:ROOT )?%([\w.\-]+) = ", l)
    if m: lines[m.group(1)] = l.strip()[:260]
for kind in ("copy", "wrapped_broadcast"):
    tops = [(ns, n) for n, ns in per_op.items() if n.startswith(kind + ".")]
    tops.sort(reverse=True)
    shapes = collections.Counter()
    for ns, n in tops:
        shapes[lines.get(n, "?").split(" = ")[1].split(" ")[0]] += ns
    for s, ns in shapes.most_common(12):
        print(f"{kind} {ns/1e6/len(e):8.1f} ms/arch {s}")
    for ns, n in tops[:4]:
        print("   ", f"{ns/1e6/len(e):6.1f}", lines.get(n))
