"""Throwaway (2026-12-06, issue 32): how much of an NB101 cell's CPU time is the cost of the
architecture being data (absent projections, absent edges, switches)? An oracle: the same cell
compiled as a static program (only its present projections, edges and ops; the same bucket widths,
masks, parameters and op functions), beside the engine's data program, interleaved per cell.

    python experiments/results/cpu_2026-12-06_static/static_cell_throwaway.py --sample-seed 0 --limit 8
"""
import argparse, sys, time
from pathlib import Path
import numpy as np
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
import flax.linen as nn, jax, jax.numpy as jnp
from eproxy_jax.cli.bench import default_draw
from eproxy_jax.engine import Engine
from eproxy_jax.nn import ops
from eproxy_jax.nn.layers import BNParams, Kernel, stage_scan
from spaces import nb101
from spaces.nb101 import V, N_ADJ, vertex_channels, vertex_width, _vertex_conv, _bn_relu, _projection_conv, max_pool_same

ap = argparse.ArgumentParser()
ap.add_argument("--sample-seed", type=int, default=0)
ap.add_argument("--limit", type=int, default=8)
ap.add_argument("--reps", type=int, default=3)
ap.add_argument("--only", type=int, nargs="*")
args = ap.parse_args()


class StaticCell(nn.Module):
    c_in: int
    channels: int
    feeders: int
    enc: tuple

    @nn.compact
    def __call__(self, x0, _enc):
        c, ci, n_slots = self.channels, self.c_in, V - 2
        e = np.array(self.enc)
        wv = vertex_width(c, self.feeders)
        adj = e[:N_ADJ].reshape(V, V); op_ids = e[N_ADJ:]
        w3 = Kernel((n_slots, 3, 3, wv, wv), name="conv3")()
        w1 = Kernel((n_slots, 1, 1, wv, wv), name="conv1")()
        wp = Kernel((n_slots, 1, 1, ci, wv), name="proj")()
        wo = Kernel((1, 1, ci, c), name="out_proj")()
        bn3 = BNParams((n_slots, wv), name="bn3")(); bn1 = BNParams((n_slots, wv), name="bn1")()
        bnp = BNParams((n_slots, wv), name="bnp")(); bno = BNParams((c,), name="bno")()
        vc = vertex_channels(adj, c, xp=np)
        sb = lambda bn, t: {"scale": bn["scale"][t], "bias": bn["bias"][t]}  # noqa: E731
        outs = [x0]
        for t in range(1, V - 1):
            if op_ids[t - 1] == nb101.ABSENT:
                outs.append(None); continue
            real = jnp.arange(wv) < int(vc[t - 1]); m = real.astype(jnp.float32)
            acc = None
            if adj[0, t]:
                w = {"kernel": wp[t - 1], "bn": sb(bnp, t - 1), "m": real}
                acc = _bn_relu("bn")(_projection_conv(x0, w), w)
            for src in range(1, t):
                if adj[src, t]:
                    acc = outs[src] * m if acc is None else acc + outs[src] * m
            w = {"conv3": w3[t - 1], "bn3": sb(bn3, t - 1), "conv1": w1[t - 1], "bn1": sb(bn1, t - 1), "m": real}
            o = int(op_ids[t - 1])
            if o == 0:
                y = _bn_relu("bn3")(_vertex_conv("conv3")(acc, w), w)
            elif o == 1:
                y = _bn_relu("bn1")(_vertex_conv("conv1")(acc, w), w)
            else:
                y = max_pool_same(acc, 3, 1) * m
            outs.append(y)
        parts = [outs[t][..., :int(vc[t - 1])] for t in range(1, V - 1) if adj[t, V - 1]]
        cat = jnp.concatenate(parts, -1) if parts else 0.0
        if adj[0, V - 1] or not adj[1:V - 1, V - 1].any():
            w = {"kernel": wo, "bn": bno, "m": jnp.ones((c,), bool)}
            cat = cat + _bn_relu("bn")(_projection_conv(x0, w), w)
        return cat


class StaticScan(nn.Module):
    channels: int
    feeders: int
    enc: tuple

    @nn.compact
    def __call__(self, x, enc):
        return StaticCell(self.channels, self.channels, self.feeders, self.enc, name="cell")(x, enc), None


class StaticNet(nb101.NB101Net):
    enc: tuple = ()

    @nn.compact
    def __call__(self, images, enc):
        c = self.stem_channels
        x = ops.conv2d(images, Kernel((3, 3, images.shape[-1], c), name="stem")())
        bn = BNParams((c,), name="stem_bn")()
        x = jax.nn.relu(ops.batch_norm(x, bn["scale"], bn["bias"]))
        feats = []
        for s in range(self.stacks):
            c_in = c
            if s > 0:
                x = max_pool_same(x, 2, 2); c *= 2
            x = StaticCell(c_in, c, self.feeders, self.enc, name=f"stack{s}_first")(x, enc)
            stage = stage_scan(StaticScan, self.cells_per_stack - 1, in_axes=nn.broadcast)
            x, _ = stage(c, self.feeders, self.enc, name=f"stack{s}")(x, enc)
            feats.append(ops.resize_nearest(x, self.target_size))
        return tuple(reversed(feats))


class StaticSpace(nb101.NB101):
    def __init__(self, base, enc):
        self.__dict__.update(base.__dict__); self.enc = tuple(int(v) for v in enc)

    def module(self, bucket=None):
        return StaticNet(self.stem_channels, self.stacks, self.cells_per_stack, self.target_size, int(bucket or 1), enc=self.enc)


space, setting, encs = default_draw("nb101", [], args.limit, args.sample_seed)
encs = np.asarray(encs)
idx = args.only if args.only else range(len(encs))
data = Engine(space, setting, seeds=(0,), chunk=1)
for i in idx:
    e = encs[i]
    st = Engine(StaticSpace(space, e), setting, seeds=(0,), chunk=1)
    s_st = float(np.asarray(st.score(e[None])).reshape(-1)[0])
    s_da = float(np.asarray(data.score(e[None])).reshape(-1)[0])
    t = {"data": [], "static": []}
    for r in range(args.reps):
        for n, eng in ((("data", data), ("static", st)) if r % 2 == 0 else (("static", st), ("data", data))):
            t0 = time.perf_counter(); eng.score(e[None]); t[n].append(1e3 * (time.perf_counter() - t0))
    d, s = np.median(t["data"]), np.median(t["static"])
    print(f"cell {i} bucket {space.bucket_of(e[None])[0]}: data {d:7,.0f}  static {s:7,.0f} ms  ({s / d - 1:+.0%})  "
          f"scores {s_da:.6g} / {s_st:.6g}", flush=True)
