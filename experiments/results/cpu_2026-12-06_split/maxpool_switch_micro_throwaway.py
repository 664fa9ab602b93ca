"""Throwaway (2026-12-06, issue 32), kept for the record of switch_cells_throwaway.txt; not maintained."""
import sys, time, tempfile, numpy as np, jax, jax.numpy as jnp
ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]; sys.path.insert(0, str(ROOT))
from eproxy_jax.nn import edge_groups, ops
from eproxy_jax.nn.edge_groups import Split, make_edge
from spaces.nb101 import _vertex_conv, _bn_relu, max_pool_same, _same_pads
lean = make_edge((
    Split(_vertex_conv("conv3"), _bn_relu("bn3")),
    Split(_vertex_conv("conv1"), _bn_relu("bn1")),
    Split(lambda a, w: max_pool_same(a, 3, 1), lambda z, w: z * w["m"].astype(z.dtype),
          lambda a, z, dz: ops.max_pool_grad(a, z, dz, 3, 1, _same_pads(a.shape[1], 3, 1))),
    lambda a, w: jnp.zeros_like(a)), (0, 1), remat=False)
plain = make_edge((
    lambda a, w: Split(_vertex_conv("conv3"), _bn_relu("bn3"))(a, w),
    lambda a, w: Split(_vertex_conv("conv1"), _bn_relu("bn1"))(a, w),
    lambda a, w: max_pool_same(a, 3, 1) * w["m"].astype(a.dtype),
    lambda a, w: jnp.zeros_like(a)), (0, 1), remat=False)
C = int(sys.argv[1]) if len(sys.argv) > 1 else 64
HW = int(sys.argv[2]) if len(sys.argv) > 2 else 32
k = jax.random.split(jax.random.PRNGKey(0), 4)
a = jax.random.normal(k[0], (16, HW, HW, C)); r = jax.random.normal(k[1], a.shape)
w = {"conv3": jax.random.normal(k[2], (3, 3, C, C)) * 0.05, "conv1": jax.random.normal(k[3], (1, 1, C, C)) * 0.1,
     "bn3": {"scale": jnp.ones(C), "bias": jnp.zeros(C)}, "bn1": {"scale": jnp.ones(C), "bias": jnp.zeros(C)}, "m": jnp.arange(C) < C - 3}
def mk(edge):
    def loss(a, w, op):
        y = a
        for _ in range(4):
            y = edge(y, op, w) + y
        return jnp.sum(y * r)
    def step(a, w, op):
        def body(c, _):
            a, w = c
            l, (ga, gw) = jax.value_and_grad(loss, argnums=(0, 1), allow_int=True)(a, w, op)
            w = jax.tree.map(lambda p, g: p - 1e-4 * g if p.dtype == jnp.float32 else p, w, gw)
            return (a - 1e-4 * ga, w), l
        return jax.lax.scan(body, (a, w), None, length=5)[1]
    return jax.jit(step)
with edge_groups.archs_batched(False):
    fs = {"plain": mk(plain), "lean": mk(lean)}
    for op in [int(sys.argv[3])]:
        res = {}
        for name, f in fs.items():
            f(a, w, op).block_until_ready()
        ts = {n: [] for n in fs}
        for rep in range(5):
            for name, f in fs.items():
                t = time.perf_counter(); out = f(a, w, op).block_until_ready(); ts[name].append(time.perf_counter() - t); res[name] = out
        print(f"op {op}: " + "  ".join(f"{n} {1000*np.median(v):7.1f} ms" for n, v in ts.items()),
              f" max rel diff {float(jnp.max(jnp.abs(res['plain'] - res['lean']) / jnp.abs(res['plain']))):.1e}", flush=True)
    for name, f in fs.items():
        open(f"{tempfile.gettempdir()}/micro_{name}.txt", "w").write(f.lower(a, w, 2).compile().as_text())
    import tempfile, glob, collections

    sys.path.insert(0, str(ROOT / "experiments")); import cpu_profile as cp
    for name, f in fs.items():
        d = tempfile.mkdtemp()
        with jax.profiler.trace(d):
            f(a, w, int(sys.argv[3])).block_until_ready()
        index = cp.hlo_index([open(f"{tempfile.gettempdir()}/micro_{name}.txt").read()])
        data = jax.profiler.ProfileData.from_file(glob.glob(d + "/**/*.xplane.pb", recursive=True)[0])
        per = collections.Counter()
        for plane in data.planes:
            if plane.name != "/host:CPU": continue
            for line in plane.lines:
                if line.name == "python": continue
                for n, ns in cp.exclusive_times([x for x in line.events if not x.name.startswith(cp._SKIP)]).items():
                    per[n] += ns
        print("==", name, sum(per.values()) / 1e6)
        for n, ns in per.most_common(8):
            print(f"  {ns/1e6:7.1f} ms {n:30s} {index.get(n, ('?', ''))[0]} {index.get(n, ('', '?'))[1][-90:]}")
