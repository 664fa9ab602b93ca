"""The DARTS-family cell network (DARTS, ENAS, Amoeba, NASNet, PNAS; NDS and NB301) with the
genotype as data.

Network (pycls `nas.py`, ported from DARTS): a stem, `depth` cells with reduction cells at
`depth // 3` and `2 * depth // 3` (channels doubled there), each cell reading the outputs of the
two previous cells through a preprocessing step (a 1x1 ReLU-conv-BN, or a factorized reduce when
the previous cell halved the resolution). A cell has `n_nodes` intermediate nodes; node i sums two
edges `op(state[input])` with inputs among the two cell inputs and the nodes before it; the cell
outputs the concatenation of its `concat` nodes. In a reduction cell the edges reading a cell
input have stride 2 (skip_connect is then a factorized reduce). CIFAR skeleton: stem conv3x3 to
3 * width + BN; ImageNet skeleton: pycls' three stride-2 stems. Features: the state before the
first and before the second reduction cell and the last cell's output, resized to
`target_size`, deepest first.

As data: each cell's edges run in one `lax.scan` over the edges (one traced op switch per cell,
whatever the node count), the input state picked by a dynamic index, the op by `lax.switch`
over the space's op set (only the selected op runs when architectures are not batched; under
vmap over architectures each op runs on the architectures that picked it, `eproxy_jax.nn.edge_groups`). Every
edge holds the parameters of every op of the set; an edge uses those of its op. A cell's output
has `n_nodes` slots of C channels; a concat listing k < n_nodes nodes fills the first k and
leaves zeros, and `adapt_params` / `adapt_heads` rescale the initial weights that read such an
output (the next preprocessing convs, the proxy heads) to their real fan-in, so the padded
network computes what the exact-width one computes from the same draws.

Width and depth masking (`CellNet(masked_width=..., masked_depth=...)`, for NDS files whose
records have their own sizes): the real width and depth are the encoding's last two entries;
channels beyond the real width are zeroed after every BN, normal cells beyond a stage's real
count pass their inputs through (`nn.cond`), and `adapt_params` rescales every kernel to its
real fans.

Encoding (int32, per cell type normal then reduce): `n_nodes` rows `[in_a, op_a, in_b, op_b]`
(input 0/1 = the previous-previous/previous cell, 2 + i = node i; op = index into the space's
op list), then a 0/1 mask over the `n_nodes` nodes saying which are concatenated.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from eproxy_jax.nn import initializers, ops
from . import SpaceError
from .base import Space
from eproxy_jax.nn.edge_groups import make_edge
from eproxy_jax.nn.layers import BNParams, Kernel

ALL_OPS = (
    "none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "max_pool_5x5", "max_pool_7x7",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "dil_conv_3x3", "dil_conv_5x5",
    "dil_sep_conv_3x3", "conv_1x1", "conv_3x3", "conv_3x1_1x3", "conv_7x1_1x7",
)


def _kernel_size(name: str) -> int:
    return int(name.rsplit("_", 1)[1].split("x")[0])


def op_params(name: str, c: int, stride: int) -> dict:
    """Parameter shapes of one op at `c` channels: `{part: ("kernel", shape) | ("bn", (c,))}`."""
    if name.startswith(("sep_conv", "dil_sep_conv")):
        k = _kernel_size(name)
        return {"dw1": ("kernel", (k, k, 1, c)), "pw1": ("kernel", (1, 1, c, c)), "bn1": ("bn", (c,)),
                "dw2": ("kernel", (k, k, 1, c)), "pw2": ("kernel", (1, 1, c, c)), "bn2": ("bn", (c,))}
    if name.startswith("dil_conv"):
        k = _kernel_size(name)
        return {"dw": ("kernel", (k, k, 1, c)), "pw": ("kernel", (1, 1, c, c)), "bn": ("bn", (c,))}
    if name in ("conv_1x1", "conv_3x3"):
        k = _kernel_size(name)
        return {"conv": ("kernel", (k, k, c, c)), "bn": ("bn", (c,))}
    if name in ("conv_3x1_1x3", "conv_7x1_1x7"):
        k = int(name[5])
        return {"row": ("kernel", (1, k, c, c)), "col": ("kernel", (k, 1, c, c)), "bn": ("bn", (c,))}
    if name == "skip_connect" and stride == 2:
        return {"fr1": ("kernel", (1, 1, c, c // 2)), "fr2": ("kernel", (1, 1, c, c // 2)), "bn": ("bn", (c,))}
    return {}


def op_param_count(name: str, c: int, stride: int, affine: bool) -> int:
    n = 0
    for kind, shape in op_params(name, c, stride).values():
        n += int(np.prod(shape)) * (2 if kind == "bn" else 1) if (kind == "kernel" or affine) else 0
    return n


def op_macs(name: str, c: int, h: int, w: int, stride: int) -> int:
    """Multiply-accumulates of one op per image (convolutions only), input `h x w`."""
    ho, wo = -(-h // stride), -(-w // stride)
    if name.startswith(("sep_conv", "dil_sep_conv")):
        k = _kernel_size(name)
        return 2 * (ho * wo * c * k * k + ho * wo * c * c)
    if name.startswith("dil_conv"):
        k = _kernel_size(name)
        return ho * wo * c * k * k + ho * wo * c * c
    if name in ("conv_1x1", "conv_3x3"):
        k = _kernel_size(name)
        return ho * wo * c * c * k * k
    if name in ("conv_3x1_1x3", "conv_7x1_1x7"):
        k = int(name[5])
        return h * wo * c * c * k + ho * wo * c * c * k
    if name == "skip_connect" and stride == 2:
        return ho * wo * c * c
    return 0


class Width:
    """Width masking of a network built `padded` wide that runs `real` (traced) wide: every
    channel count is a multiple of width/2, its real part is the same fraction of it. `None`
    instead of a Width everywhere means no masking."""

    def __init__(self, real, padded: int):
        self.real, self.padded = real, padded

    def count(self, c: int):
        return (c * self.real) // self.padded

    def mask(self, c: int):
        return (jnp.arange(c) < self.count(c)).astype(jnp.float32)


def masked_bn(y, bn, width):
    y = ops.batch_norm(y, *(() if bn is None else (bn["scale"], bn["bias"])))
    return y if width is None else y * width.mask(y.shape[-1])


def factorized_reduce(x, w1, w2, bn=None, width=None):
    """ReLU, two 1x1 stride-2 convs (the second on the input shifted by one pixel, zero padded
    at the bottom/right), concatenated, BN (DARTS' FactorizedReduce). Width-masked: the two
    halves' real channels are packed together first, as the real-width network lays them out."""
    x = jax.nn.relu(x)
    a = x[:, ::2, ::2, :] @ w1[0, 0]
    xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    b = xp[:, 1::2, 1::2, :] @ w2[0, 0]
    y = jnp.concatenate([a, b], axis=-1)
    if width is not None:
        half, r = a.shape[-1], width.count(a.shape[-1])
        j = jnp.arange(2 * half)
        y = jnp.take(y, jnp.where(j < r, j, jnp.where(j < 2 * r, half + j - r, 0)), axis=-1) * (j < 2 * r)
    return masked_bn(y, bn, width)


def apply_op(name: str, p: dict, x, stride: int, affine: bool, width: Width | None = None):
    """One op of the DARTS family (pycls `operations.py`) on `x`; `p` its parameters; `width`
    masks the padded channels after every BN."""
    def bn(y, key):
        return masked_bn(y, p[key] if affine else None, width)

    if name == "none":
        return jnp.zeros_like(x[:, ::stride, ::stride, :])
    if name == "skip_connect":
        return x if stride == 1 else factorized_reduce(x, p["fr1"]["kernel"], p["fr2"]["kernel"],
                                                       p["bn"] if affine else None, width)
    if name == "avg_pool_3x3":
        return ops.avg_pool(x, 3, stride, 1, count_include_pad=False)
    if name.startswith("max_pool"):
        k = _kernel_size(name)
        return ops.max_pool(x, k, stride, (k - 1) // 2)
    if name.startswith(("sep_conv", "dil_sep_conv")):
        d = 2 if name.startswith("dil") else 1
        y = ops.depthwise_conv2d(jax.nn.relu(x), p["dw1"]["kernel"], stride, d)
        y = bn(y @ p["pw1"]["kernel"][0, 0], "bn1")
        y = ops.depthwise_conv2d(jax.nn.relu(y), p["dw2"]["kernel"], 1, d)
        return bn(y @ p["pw2"]["kernel"][0, 0], "bn2")
    if name.startswith("dil_conv"):
        y = ops.depthwise_conv2d(jax.nn.relu(x), p["dw"]["kernel"], stride, 2)
        return bn(y @ p["pw"]["kernel"][0, 0], "bn")
    if name in ("conv_1x1", "conv_3x3"):
        return bn(ops.conv2d(jax.nn.relu(x), p["conv"]["kernel"], stride), "bn")
    if name in ("conv_3x1_1x3", "conv_7x1_1x7"):
        k = int(name[5])
        y = ops.conv2d_rect(jax.nn.relu(x), p["row"]["kernel"], (1, stride), (0, (k - 1) // 2))
        if width is not None:   # no BN between the two convs: clear the padded channels here
            y = y * width.mask(y.shape[-1])
        y = ops.conv2d_rect(y, p["col"]["kernel"], (stride, 1), ((k - 1) // 2, 0))
        return bn(y, "bn")
    raise ValueError(f"unknown op {name!r}")


@functools.lru_cache(maxsize=None)
def _edge(op_names, stride, affine, padded_width=None):
    """`run(op, p, x, real_width)`: the op switch of one edge (`real_width` is ignored unless
    the network is width-masked, i.e. `padded_width` is set). Under vmap over architectures
    each op runs only on the architectures that picked it (`eproxy_jax.nn.edge_groups`: every op but
    `none` and the stride-1 identity is grouped); the backward pass recomputes the edge."""
    def branch(n, x, p, real):
        width = None if padded_width is None else Width(real, padded_width)
        return apply_op(n, p.get(n, {}), x, stride, affine, width)

    branches = [functools.partial(branch, n) for n in op_names]
    grouped = [k for k, n in enumerate(op_names) if n != "none" and not (n == "skip_connect" and stride == 1)]
    edge = make_edge(branches, grouped)

    def run(op, p, x, real):
        return edge(x, op, p, real)
    return run


class OpParams(nn.Module):
    """The parameters of every op of the set for `edges` edges (leading axis), `{op: {part}}`."""
    op_names: tuple
    c: int
    stride: int
    edges: int
    affine: bool

    @nn.compact
    def __call__(self):
        out = {}
        for name in self.op_names:
            parts = {}
            for part, (kind, shape) in op_params(name, self.c, self.stride).items():
                if kind == "kernel":
                    parts[part] = {"kernel": Kernel((self.edges,) + shape, name=f"{name}_{part}")()}
                elif self.affine:
                    parts[part] = BNParams((self.edges,) + shape, name=f"{name}_{part}")()
            if parts:
                out[name] = parts
        return out


def cell_genes(enc, cell_type: int, n_nodes: int):
    """(inputs [2N], ops [2N], concat mask [N]) of one cell type from the flat encoding."""
    block = 5 * n_nodes
    g = enc[cell_type * block: cell_type * block + 4 * n_nodes].reshape(2 * n_nodes, 2)
    return g[:, 0], g[:, 1], enc[cell_type * block + 4 * n_nodes: (cell_type + 1) * block]


def concat_order(mask):
    """Slot -> node index (ascending over the nodes in the concat, padded) and slot on/off."""
    n = mask.shape[0]
    order = jnp.argsort(1 - mask, stable=True)
    on = (jnp.arange(n) < jnp.sum(mask)).astype(jnp.float32)
    return order, on


class Cell(nn.Module):
    """One cell at `c` channels; `__call__(s0, s1, enc)` -> `[n, h, w, n_nodes * c]`."""
    op_names: tuple
    n_nodes: int
    c: int
    c_pp: int
    c_p: int
    reduction: bool
    reduction_prev: bool
    affine_ops: bool
    padded_width: int | None = None   # the network's width when width-masked (real width: enc[-2])

    @nn.compact
    def __call__(self, s0, s1, enc):
        c, n_nodes = self.c, self.n_nodes
        real = enc[-2] if self.padded_width else jnp.int32(0)
        width = Width(real, self.padded_width) if self.padded_width else None
        if self.reduction_prev:
            fr1 = Kernel((1, 1, self.c_pp, c // 2), name="pre0_fr1")()
            fr2 = Kernel((1, 1, self.c_pp, c // 2), name="pre0_fr2")()
            s0 = factorized_reduce(s0, fr1, fr2, BNParams((c,), name="pre0_bn")(), width)
        else:
            s0 = masked_bn(jax.nn.relu(s0) @ Kernel((1, 1, self.c_pp, c), name="pre0")()[0, 0],
                           BNParams((c,), name="pre0_bn")(), width)
        s1 = masked_bn(jax.nn.relu(s1) @ Kernel((1, 1, self.c_p, c), name="pre1")()[0, 0],
                       BNParams((c,), name="pre1_bn")(), width)
        inputs, op_ids, mask = cell_genes(enc, int(self.reduction), n_nodes)
        edges = 2 * n_nodes
        p1 = OpParams(self.op_names, c, 1, edges, self.affine_ops, name="ops")()
        n, h, w = s1.shape[0], -(-s1.shape[1] // (2 if self.reduction else 1)), -(-s1.shape[2] // (2 if self.reduction else 1))
        edge1 = _edge(self.op_names, 1, self.affine_ops, self.padded_width)
        if self.reduction:
            p2 = OpParams(self.op_names, c, 2, edges, self.affine_ops, name="ops_s2")()
            edge2 = _edge(self.op_names, 2, self.affine_ops, self.padded_width)
            s01 = jnp.stack([s0, s1])
            buf = jnp.zeros((n_nodes, n, h, w, c), s1.dtype)

            def body(buf, xs):
                e, inp, op, pa, pb = xs
                y = lax.cond(inp < 2,
                             lambda: edge2(op, pb, s01[jnp.minimum(inp, 1)], real),
                             lambda: edge1(op, pa, buf[jnp.maximum(inp - 2, 0)], real))
                return buf.at[e // 2].add(y), None
            buf, _ = lax.scan(body, buf, (jnp.arange(edges), inputs, op_ids, p1, p2))
            nodes = buf
        else:
            buf = jnp.zeros((n_nodes + 2, n, h, w, c), s1.dtype).at[0].set(s0).at[1].set(s1)

            def body(buf, xs):
                e, inp, op, pa = xs
                return buf.at[2 + e // 2].add(edge1(op, pa, buf[inp], real)), None
            buf, _ = lax.scan(body, buf, (jnp.arange(edges), inputs, op_ids, p1))
            nodes = buf[2:]
        order, on = concat_order(mask)
        return jnp.concatenate([nodes[order[s]] * on[s] for s in range(n_nodes)], axis=-1)


def reduction_cells(depth: int) -> tuple:
    return (depth // 3, 2 * depth // 3)


def stage_slots(depth: int) -> list:
    """Per cell: (stage, index among the stage's normal cells), index -1 for reduction cells."""
    out, stage, k = [], 0, 0
    for i in range(depth):
        if i in reduction_cells(depth):
            stage, k = stage + 1, 0
            out.append((stage, -1))
        else:
            out.append((stage, k))
            k += 1
    return out


def stage_counts(depth):
    """Normal cells per stage at a (possibly traced) depth: d//3, 2d//3 - d//3 - 1, d - 2d//3 - 1."""
    return (depth // 3, 2 * depth // 3 - depth // 3 - 1, depth - 2 * depth // 3 - 1)


MIN_MASKED_DEPTH = 6   # from here every stage has >= 1 normal cell and stage 0 >= 2 (pass-through needs it)


def first_repeat(stage: int) -> int:
    """A stage's normal cells from this index on are alike (same channels on both inputs, no
    reduction before them): the first one or two read a stem or a reduction cell."""
    return 2 if stage == 0 else 1


def repeat_runs(depth: int, min_len: int = 2) -> dict:
    """first cell -> one past the last, of each stage's run of >= `min_len` alike normal cells
    (`first_repeat`): a run is traced once and looped over (`CellNet._loop`)."""
    runs, start = {}, None
    for i, (stage, k) in enumerate(stage_slots(depth) + [(-1, -1)]):
        alike = k >= first_repeat(stage) if stage >= 0 else False
        if alike and start is None:
            start = i
        elif not alike and start is not None:
            if i - start >= min_len:
                runs[start] = i
            start = None
    return runs


class CellNet(nn.Module):
    """The classifier-free cell network; `apply(params, images, enc)` -> 3 features, deepest first."""
    op_names: tuple
    n_nodes: int
    width: int
    depth: int
    affine_ops: bool = True
    skeleton: str = "cifar"
    target_size: int = 8
    masked_depth: bool = False   # `depth` is a padded depth; the real one is `enc[-1]` (see `stage_slots`)
    masked_width: bool = False   # `width` is a padded width; the real one is `enc[-2]` (see `Width`)
    loop_min: int = 2            # alike normal cells in runs this long loop (`repeat_runs`); larger: written out

    @nn.compact
    def __call__(self, images, enc):
        c = self.width
        slots = stage_slots(self.depth)
        real_n = stage_counts(enc[-1]) if self.masked_depth else None
        width = Width(enc[-2], c) if self.masked_width else None

        def stem_bn(x, name):
            return masked_bn(x, BNParams((x.shape[-1],), name=name)(), width)

        if self.skeleton == "cifar":
            s = stem_bn(ops.conv2d(images, Kernel((3, 3, images.shape[-1], 3 * c), name="stem")()), "stem_bn")
            s0 = s1 = s
            c_pp = c_p = 3 * c
            red_prev = False
        else:
            s0 = stem_bn(ops.conv2d(images, Kernel((3, 3, images.shape[-1], c // 2), name="stem0a")(), 2), "stem0a_bn")
            s0 = stem_bn(ops.conv2d(jax.nn.relu(s0), Kernel((3, 3, c // 2, c), name="stem0b")(), 2), "stem0b_bn")
            s1 = stem_bn(ops.conv2d(jax.nn.relu(s0), Kernel((3, 3, c, c), name="stem1")(), 2), "stem1_bn")
            c_pp = c_p = c
            red_prev = True
        feats, cc = [], c
        reductions = reduction_cells(self.depth)
        runs = {} if self.is_initializing() else repeat_runs(self.depth, self.loop_min)
        i = 0
        while i < self.depth:
            red = i in reductions
            if red:
                cc *= 2
                feats.append(s1)
            stage, k = slots[i]
            if i in runs:   # alike cells: one traced cell in a loop over their stacked parameters
                s0, s1 = self._loop(range(i, runs[i]), cc, s0, s1, enc, None if real_n is None else real_n[stage], k)
                c_pp = c_p = self.n_nodes * cc
                i = runs[i]
                continue
            cell = Cell(self.op_names, self.n_nodes, cc, c_pp, c_p, red, red_prev, self.affine_ops,
                        self.width if self.masked_width else None, name=f"cell{i}")
            if real_n is not None and k >= first_repeat(stage) and not self.is_initializing():
                # a normal cell beyond its stage's real count passes (s0, s1) through unchanged
                s0, s1 = nn.cond(k < real_n[stage], lambda m, a, b, e: (b, m(a, b, e)), lambda m, a, b, e: (a, b),
                                 cell, s0, s1, enc)
            else:
                s0, s1 = s1, cell(s0, s1, enc)
            c_pp, c_p, red_prev = c_p, self.n_nodes * cc, red
            i += 1
        feats.append(s1)
        return tuple(ops.resize_nearest(f, self.target_size) for f in reversed(feats))

    def _loop(self, cells, cc, s0, s1, enc, real_count, k0):
        """Alike normal cells `cells` (the `k0`-th of their stage on; `repeat_runs`) as one
        `lax.scan` over their parameters, stacked from the same per-cell tree `init` made (same
        draws, same function as the cells written out; the compile no longer grows with depth).
        With `real_count` (masked depth), cells from the stage's real count on pass through."""
        params = self.variables["params"]
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *[params[f"cell{j}"] for j in cells])
        c_in = self.n_nodes * cc
        cell = Cell(self.op_names, self.n_nodes, cc, c_in, c_in, False, False, self.affine_ops,
                    self.width if self.masked_width else None, parent=None)

        def body(carry, xs):
            a, b = carry
            p, k = xs
            run = lambda: (b, cell.apply({"params": p}, a, b, enc))   # noqa: E731
            if real_count is None:
                return run(), None
            return lax.cond(k < real_count, run, lambda: (a, b)), None

        (s0, s1), _ = lax.scan(body, (s0, s1), (stacked, jnp.arange(k0, k0 + len(cells))))
        return s0, s1

    # --- the network's shape bookkeeping (static) --------------------------------------
    def plan(self):
        """Per cell: (channels, reduction, reduction_prev, producer of s0, producer of s1), a
        producer being the cell index whose output the input is (-1 = the stem)."""
        out, cc, red_prev = [], self.width, self.skeleton != "cifar"
        prev_prev, prev = -1, -1
        for i in range(self.depth):
            red = i in reduction_cells(self.depth)
            cc *= 2 if red else 1
            out.append((cc, red, red_prev, prev_prev, prev))
            prev_prev, prev, red_prev = prev, i, red
        return out

    def feature_producers(self):
        """For each returned feature (deepest first): (producer cell, its channels)."""
        plan, got = self.plan(), []
        for i in reduction_cells(self.depth):
            got.append(i - 1)
        got.append(self.depth - 1)
        return [(j, plan[j][0] if j >= 0 else None) for j in reversed(got)]

    def _frac(self, enc):
        """Real width / padded width (traced; 1 without width masking)."""
        return enc[-2].astype(jnp.float32) / self.width if self.masked_width else jnp.float32(1.0)

    def _real_count(self, enc, j):
        """Real channels of producer `j`'s output (a traced scalar) and its padded count."""
        if j < 0:
            c = 3 * self.width if self.skeleton == "cifar" else self.width
            return self._frac(enc) * c, c
        cc, red, *_ = self.plan()[j]
        mask = cell_genes(enc, int(red), self.n_nodes)[2]
        return jnp.sum(mask).astype(jnp.float32) * cc * self._frac(enc), self.n_nodes * cc

    def adapt_params(self, params, enc, scheme):
        """Rescale initial kernels to their real fans: those reading a cell output with a short
        concat, and with width masking every kernel (all channel counts scale with the width,
        except the image's 3 and a depthwise kernel's 1 input channels)."""
        out, frac = dict(params), self._frac(enc)
        r1, r2 = reduction_cells(self.depth)

        def rescale(kernel, fi_real, fo_real):
            return {"kernel": initializers.fan_rescale(kernel, fi_real, fo_real, scheme)}

        def generic(node, fixed_in=False):   # reads and writes width-scaled channels (`fixed_in`: image/depthwise)
            cin, cout = node["kernel"].shape[-2:]
            return rescale(node["kernel"], cin if fixed_in else cin * frac, cout * frac)

        if self.masked_width:
            for name in ("stem", "stem0a", "stem0b", "stem1"):
                if name in out:
                    out[name] = generic(out[name], fixed_in=name in ("stem", "stem0a"))
        for i, (cc, red, red_prev, pp, p) in enumerate(self.plan()):
            cell = dict(out[f"cell{i}"])
            if self.masked_width:
                for group in ("ops", "ops_s2"):
                    if group in cell:
                        cell[group] = {k: (generic(v, k.rsplit("_", 1)[1] in ("dw", "dw1", "dw2")) if "kernel" in v else v)
                                       for k, v in cell[group].items()}
            reads = [("pre1", p, cc)] + ([("pre0_fr1", pp, cc // 2), ("pre0_fr2", pp, cc // 2)] if red_prev
                                          else [("pre0", pp, cc)])
            for name, producer, c_out in reads:
                real, _ = self._real_count(enc, producer)
                if self.masked_depth and i == r2 and name.startswith("pre0") and producer != r1:
                    # with one real normal cell in stage 1, the second reduction's s0 is the first's output
                    real = jnp.where(stage_counts(enc[-1])[1] >= 2, real, self._real_count(enc, r1)[0])
                cell[name] = rescale(cell[name]["kernel"], real, c_out * frac)
            out[f"cell{i}"] = cell
        return out

    def adapt_heads(self, heads, enc, scheme):
        """Rescale the proxy heads' initial kernels (and PyTorch-default biases) to the real
        channels of the features they read."""
        producers = self.feature_producers()
        return tuple(initializers.rescale_head(h, self._real_count(enc, producers[b][0])[0], scheme)
                     for b, h in enumerate(heads))


# --- genotypes: parse, check, encode (numpy) ----------------------------------------------

def encode_genotype(normal, normal_concat, reduce, reduce_concat, op_names, n_nodes) -> np.ndarray:
    """Encode `[(op name or id, input), ...]` lists and concat lists; raises SpaceError."""
    out = []
    for label, pairs, concat in (("normal", normal, normal_concat), ("reduce", reduce, reduce_concat)):
        if not isinstance(pairs, (list, tuple)) or len(pairs) != 2 * n_nodes:
            raise SpaceError(f"{label} cell must list {2 * n_nodes} (op, input) pairs for {n_nodes} nodes, "
                             f"got {len(pairs) if isinstance(pairs, (list, tuple)) else pairs!r}")
        rows = []
        for e, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise SpaceError(f"{label} edge #{e} is not an (op, input) pair: {pair!r}")
            op, inp = pair
            if isinstance(op, str):
                if op not in op_names:
                    raise SpaceError(f"{label} edge #{e}: op {op!r} is not in this space ({', '.join(op_names)})")
                op = op_names.index(op)
            elif isinstance(op, bool) or not isinstance(op, (int, np.integer)) or not 0 <= op < len(op_names):
                raise SpaceError(f"{label} edge #{e}: op id must be 0-{len(op_names) - 1} or a name, got {op!r}")
            node = e // 2
            if isinstance(inp, bool) or not isinstance(inp, (int, np.integer)) or not 0 <= inp < 2 + node:
                raise SpaceError(f"{label} edge #{e} (node {2 + node}) must read a state 0-{1 + node}, got {inp!r}")
            rows += [int(inp), int(op)]
        if concat is None:
            used = {int(p[1]) for p in pairs}
            concat = [j for j in range(2, 2 + n_nodes) if j not in used]
        concat = list(concat) if isinstance(concat, (list, tuple, range)) else concat
        if not isinstance(concat, list) or not concat or any(
                isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not 2 <= j < 2 + n_nodes for j in concat):
            raise SpaceError(f"{label}_concat must list intermediate nodes 2-{1 + n_nodes}, got {concat!r}")
        if len(set(concat)) != len(concat):
            raise SpaceError(f"{label}_concat repeats a node: {concat!r}")
        mask = [0] * n_nodes
        for j in concat:
            mask[j - 2] = 1
        out += rows + mask
    return np.asarray(out, np.int32)


def decode_genotype(enc, op_names, n_nodes) -> dict:
    enc = [int(v) for v in np.asarray(enc).reshape(-1)]
    g = {}
    for t, label in enumerate(("normal", "reduce")):
        block = enc[t * 5 * n_nodes: (t + 1) * 5 * n_nodes]
        g[label] = [[op_names[block[2 * e + 1]], block[2 * e]] for e in range(2 * n_nodes)]
        g[f"{label}_concat"] = [2 + j for j in range(n_nodes) if block[4 * n_nodes + j]]
    return g


def genotype_len(n_nodes: int) -> int:
    return 2 * 5 * n_nodes


def analytic_macs(enc, op_names, n_nodes, width, depth, skeleton, input_size) -> float:
    """Conv MACs per image of the classifier-free network (real channels only)."""
    enc = np.asarray(enc).reshape(-1)
    c = width
    if skeleton == "cifar":
        h = input_size
        total = ops.conv_macs(h, h, 3, 3 * c, 3)
        real_prev = real_pp = 3 * c
    else:
        h1, h2, h3 = -(-input_size // 2), -(-input_size // 4), -(-input_size // 8)
        total = ops.conv_macs(h1, h1, 3, c // 2, 3) + ops.conv_macs(h2, h2, c // 2, c, 3) + ops.conv_macs(h3, h3, c, c, 3)
        h = h3
        real_prev = real_pp = c
    cc, h_p = c, h   # h_p: resolution of the previous cell's output (s1); s0 is brought to it
    for i in range(depth):
        red = i in reduction_cells(depth)
        cc *= 2 if red else 1
        # preprocessing: s0 (factorized reduce when the previous cell reduced) and s1, both to h_p
        total += ops.conv_macs(h_p, h_p, real_pp, cc, 1) + ops.conv_macs(h_p, h_p, real_prev, cc, 1)
        g = enc[int(red) * 5 * n_nodes: (int(red) + 1) * 5 * n_nodes]
        for e in range(2 * n_nodes):
            inp, op = g[2 * e], g[2 * e + 1]
            stride = 2 if red and inp < 2 else 1
            total += op_macs(op_names[op], cc, h_p, h_p, stride)
        n_cat = int(g[4 * n_nodes:].sum())
        real_pp, real_prev = real_prev, n_cat * cc
        h_p = -(-h_p // 2) if red else h_p
    return float(total)


def analytic_params(enc, op_names, n_nodes, width, depth, affine_ops, num_classes, skeleton="cifar") -> int:
    """Parameters of the whole classifier network as PyTorch counts them (conv without bias,
    BN affine in stem/preprocessing, in the ops when `affine_ops`; linear head with bias; no
    auxiliary head)."""
    enc = np.asarray(enc).reshape(-1)
    c = width
    if skeleton == "cifar":
        total = 27 * 3 * c + 2 * 3 * c
        real_prev = real_pp = 3 * c
    else:
        total = 27 * (c // 2) + c + 9 * (c // 2) * c + 2 * c + 9 * c * c + 2 * c
        real_prev = real_pp = c
    cc = c
    for i in range(depth):
        red = i in reduction_cells(depth)
        cc *= 2 if red else 1
        total += real_pp * cc + 2 * cc + real_prev * cc + 2 * cc
        g = enc[int(red) * 5 * n_nodes: (int(red) + 1) * 5 * n_nodes]
        for e in range(2 * n_nodes):
            inp, op = g[2 * e], g[2 * e + 1]
            total += op_param_count(op_names[op], cc, 2 if red and inp < 2 else 1, affine_ops)
        real_pp, real_prev = real_prev, int(g[4 * n_nodes:].sum()) * cc
    return int(total + real_prev * num_classes + num_classes)


# --- the space --------------------------------------------------------------------------

class CellSpace(Space):
    """A DARTS-family cell space: `op_names`, `n_nodes`, the network size (`width`, `depth`,
    `skeleton`) and whether the ops' BatchNorms are affine. Subclasses parse their benchmark's
    formats into genotype dicts (`genotype_of(raw)`). With `variable_size` (NDS spaces whose
    records carry their own `width` and `depth`) the encoding ends with `[width, depth]` and
    each (width, depth) is a shape bucket with its own program (`bucket_of`, `module(bucket)`)."""

    op_names: tuple = ()
    n_nodes: int = 4
    affine_ops: bool = True
    variable_size: bool = False
    encoding_max = None

    def __init__(self, name, width=16, depth=8, skeleton="cifar", input_size=32, target_size=None):
        for key, v, lo in (("width", width, 2), ("depth", depth, 3), ("input_size", input_size, 4)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"{name} option {key} must be an integer >= {lo}, got {v!r}")
        if skeleton not in ("cifar", "imagenet"):
            raise SpaceError(f"{name} option skeleton must be 'cifar' or 'imagenet', got {skeleton!r}")
        if width % 2:
            raise SpaceError(f"{name} option width must be even (factorized reduce halves it), got {width}")
        self.name, self.width, self.depth, self.skeleton = name, int(width), int(depth), skeleton
        self.input_size = int(input_size)
        self.target_size = target_size or max(self.input_size // 4, 1)
        self.glen = genotype_len(self.n_nodes)
        self.encoding_shape = (self.glen + (2 if self.variable_size else 0),)

    # --- architectures -------------------------------------------------------------
    def genotype_of(self, raw) -> dict:
        raise NotImplementedError

    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        g = self.genotype_of(raw)
        enc = encode_genotype(g["normal"], g.get("normal_concat"), g["reduce"], g.get("reduce_concat"),
                              self.op_names, self.n_nodes)
        if not self.variable_size:
            return enc
        return np.concatenate([enc, np.asarray(self.check_size(g.get("width"), g.get("depth")), np.int32)])

    def check_size(self, width, depth):
        for key, v, lo in (("width", width, 2), ("depth", depth, 3)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"{self.name} architectures need an integer {key} >= {lo}, got {v!r}")
        if width % 2:
            raise SpaceError(f"{self.name}: width must be even (factorized reduce halves it), got {width}")
        if width >= 10 ** 6 or depth >= 1000:
            raise SpaceError(f"{self.name}: width {width} / depth {depth} out of range")
        return int(width), int(depth)

    def genotype(self, encoding) -> dict:
        e = np.asarray(encoding).reshape(-1)
        g = decode_genotype(e[:self.glen], self.op_names, self.n_nodes)
        if self.variable_size:
            g["width"], g["depth"] = int(e[self.glen]), int(e[self.glen + 1])
        return g

    def graphs(self, encoding) -> list:
        g = self.genotype(encoding)
        out = []
        for kind in ("normal", "reduce"):
            pairs, concat = g[kind], g[f"{kind}_concat"]
            n_inter = len(pairs) // 2
            nodes = ["c_{k-2}", "c_{k-1}"] + [str(i) for i in range(n_inter)] + ["c_{k}"]
            edges = [(int(src), 2 + i // 2, str(op)) for i, (op, src) in enumerate(pairs)]
            edges += [(int(c), len(nodes) - 1, "") for c in concat]
            out.append({"title": f"{self.name} {kind} cell", "nodes": nodes, "edges": edges})
        return out

    def sizes(self, encodings) -> np.ndarray:
        """`[n, 2]` (width, depth) of each encoding's network."""
        enc = np.asarray(encodings).reshape(-1, self.encoding_shape[0])
        if self.variable_size:
            return enc[:, self.glen:self.glen + 2].astype(np.int64)
        return np.tile(np.asarray([[self.width, self.depth]], np.int64), (len(enc), 1))

    def check_encodings(self, encodings):
        super().check_encodings(encodings)
        for e in np.asarray(encodings):
            try:
                ops_ = e[:self.glen].reshape(2, 5 * self.n_nodes)[:, :4 * self.n_nodes].reshape(2, -1, 2)[..., 1]
                if ops_.min() < 0 or ops_.max() >= len(self.op_names):
                    raise SpaceError(f"op ids must lie in [0, {len(self.op_names)})")
                g = self.genotype(e)
                again = encode_genotype(g["normal"], g["normal_concat"], g["reduce"], g["reduce_concat"],
                                        self.op_names, self.n_nodes)
                if self.variable_size:
                    again = np.concatenate([again, np.asarray(self.check_size(g["width"], g["depth"]), np.int32)])
            except SpaceError as err:
                raise SpaceError(f"invalid encoding: {err}") from None
            if not np.array_equal(again, e):
                raise SpaceError("invalid encoding: concat masks must be 0/1")

    # --- network -------------------------------------------------------------------
    def _net(self, width, depth, masked_depth=False, masked_width=False):
        return CellNet(tuple(self.op_names), self.n_nodes, int(width), int(depth), self.affine_ops,
                       self.skeleton, self.target_size, bool(masked_depth), bool(masked_width))

    @staticmethod
    def bucket_key(width, depth, masked_depth=False, masked_width=False) -> int:
        """A shape bucket's id: (padded) width and depth, and which of them are masked."""
        return int(width) * 100000 + int(depth) * 100 + int(bool(masked_width)) * 10 + int(bool(masked_depth))

    @staticmethod
    def bucket_shape(bucket) -> tuple:
        """(width, depth, masked_depth, masked_width) of a bucket id."""
        w, rest = divmod(int(bucket), 100000)
        d, rest = divmod(rest, 100)
        mw, md = divmod(rest, 10)
        return w, d, bool(md), bool(mw)

    def module(self, bucket=None):
        if bucket is None:
            return self._net(self.width, self.depth)
        return self._net(*self.bucket_shape(bucket))

    def _channels(self, net):
        return tuple(c * self.n_nodes for _, c in net.feature_producers())

    @property
    def feature_channels(self) -> tuple:
        return self._channels(self.module())

    def feature_channels_of(self, bucket) -> tuple:
        return self._channels(self.module(bucket))

    def macs(self, encodings) -> np.ndarray:
        enc = np.asarray(encodings).reshape(-1, self.encoding_shape[0])
        return np.asarray([analytic_macs(e[:self.glen], self.op_names, self.n_nodes, w, d, self.skeleton, self.input_size)
                           for e, (w, d) in zip(enc, self.sizes(enc))], np.float64)

    @property
    def max_macs(self) -> float:
        """MACs of the costliest genotype at this space's `width`/`depth` (the largest of the
        records' sizes when they vary is not known in advance): every edge the op of the set
        with the most MACs, reading a cell input, every node concatenated."""
        costs = [op_macs(n, 8, 8, 8, 1) for n in self.op_names]
        best = int(np.argmax(costs))
        row = [0, best, 1, best] * self.n_nodes + [1] * self.n_nodes
        g = np.asarray(row + row, np.int32)
        return analytic_macs(g, self.op_names, self.n_nodes, self.width, self.depth, self.skeleton, self.input_size)

    def param_count(self, encodings, num_classes: int = 10, width=None, depth=None) -> np.ndarray:
        """Parameters of the whole classifier (stem, cells, linear head; no auxiliary head) as
        PyTorch counts them, at each architecture's size or the given `width`/`depth`."""
        enc = np.asarray(encodings).reshape(-1, self.encoding_shape[0])
        out = []
        for e, (w, d) in zip(enc, self.sizes(enc)):
            out.append(analytic_params(e[:self.glen], self.op_names, self.n_nodes, width or w, depth or d,
                                       self.affine_ops, num_classes, self.skeleton))
        return np.asarray(out, np.float64)
