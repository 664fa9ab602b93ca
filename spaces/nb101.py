"""NAS-Bench-101 (Ying et al., 2019) with the architecture as data.

Network (as NAS-Bench-101 builds it): stem conv3x3-BN-ReLU to 128 channels; 3 stacks of 3
modules (cells), a 2x2 max-pool and channel doubling before stacks 2 and 3. A cell is a DAG
of up to 7 vertices: the input, up to 5 ops (conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3),
the output. Vertex channels follow the benchmark's rule: the cell's output channels are
split among the vertices that feed the output (the first ones get the remainder), other
vertices take the largest of their successors; a vertex sums its inputs (other vertices'
outputs truncated to its width, plus a 1x1 conv-bn-relu projection of the cell input when
the input feeds it); the output concatenates the vertices that feed it and adds a
projection of the input if the input->output edge exists.

Architecture as data: every cell is padded to 7 vertex slots (a pruned cell's interior
vertices keep their order, its output moves to slot 6, unused slots are absent), and every
vertex is computed at a fixed width with its real channel count as a mask (weights, BN and
sums see zeros outside it; the output concatenation writes each vertex at its traced
offset). Nothing compiles per cell; `adapt_params` rescales the initial weights to their
real fans, so the masked network starts from what the exact-shape network would draw.

A vertex's op and each input projection (into a vertex, onto the output) are data too:
`lax.switch`es, which under `vmap` over cells run each conv only for the cells that use it
(`eproxy_jax.nn.edge_groups`) instead of every op for every cell.

Shape buckets (`bucket_of`, `module(bucket)`): a cell whose output is fed by k vertices has
vertices at most ceil(C / k) wide, so the engine runs it in the k-th of 5 programs, whose
vertices are that wide, instead of at the full width C.

Encoding: int32 `[54]`: the 7x7 adjacency (row-major, 49 entries) then the op ids of slots
1-5 (0 conv3x3, 1 conv1x1, 2 maxpool3x3, 3 absent). Features: the end of each stack, resized
to 8x8, deepest first (512, 256, 128 channels).
"""
from __future__ import annotations

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from eproxy_jax.nn import initializers, ops
from . import SpaceError
from .base import Space, arch_json
from eproxy_jax.nn.edge_groups import Split, make_edge
from eproxy_jax.nn.layers import BNParams, Kernel, stage_scan

OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
ABSENT = 3
V = 7                     # vertex slots: 0 input, 1-5 interior, 6 output
N_ADJ = V * V
ENCODING_LEN = N_ADJ + V - 2


# --- specs: parse, prune, encode --------------------------------------------------------

def prune(matrix: np.ndarray, ops_list: list):
    """NAS-Bench-101's pruning: drop vertices not on an input->output path. Raises SpaceError
    when the output cannot be reached from the input."""
    n = len(matrix)
    fwd, stack = {0}, [0]
    while stack:
        v = stack.pop()
        for w in range(v + 1, n):
            if matrix[v, w] and w not in fwd:
                fwd.add(w)
                stack.append(w)
    if n - 1 not in fwd:
        raise SpaceError("NB101 cell: the output is not reachable from the input")
    bwd, stack = {n - 1}, [n - 1]
    while stack:
        v = stack.pop()
        for u in range(v):
            if matrix[u, v] and u not in bwd:
                bwd.add(u)
                stack.append(u)
    keep = sorted(fwd & bwd)
    return matrix[np.ix_(keep, keep)], [ops_list[i] for i in keep]


def parse_spec(raw) -> tuple:
    """`[matrix, ops]` (the benchmark's JSON form) -> pruned (matrix, ops)."""
    if isinstance(raw, str):
        raw = arch_json(raw, "NB101 architecture string is not JSON [matrix, ops]")
    if not (isinstance(raw, (list, tuple)) and len(raw) == 2):
        raise SpaceError(f"not an NB101 architecture (expected [adjacency matrix, op list]): {str(raw)[:80]}")
    mat, op_names = raw
    try:
        m = np.asarray(mat)
    except (ValueError, TypeError):
        m = None
    if m is None or m.ndim != 2 or m.shape[0] != m.shape[1] or not 2 <= m.shape[0] <= V or m.dtype.kind not in "iub":
        raise SpaceError(f"NB101 adjacency must be a square 0/1 matrix of 2-7 vertices, got {str(mat)[:80]}")
    m = m.astype(np.int64)
    if not np.isin(m, (0, 1)).all() or np.tril(m).any():
        raise SpaceError("NB101 adjacency must be 0/1 and strictly upper-triangular")
    if not isinstance(op_names, (list, tuple)) or len(op_names) != len(m):
        raise SpaceError(f"NB101 op list must have one op per vertex ({len(m)}), got {str(op_names)[:80]}")
    if op_names[0] != "input" or op_names[-1] != "output":
        raise SpaceError("NB101 op list must start with 'input' and end with 'output'")
    for o in op_names[1:-1]:
        if o not in OPS:
            raise SpaceError(f"unknown NB101 op {o!r} (ops: {', '.join(OPS)})")
    return prune(m, list(op_names))


def spec_to_encoding(matrix: np.ndarray, ops_list: list) -> np.ndarray:
    n = len(matrix)
    slot = list(range(n - 1)) + [V - 1]          # interior vertices keep order, output -> slot 6
    adj = np.zeros((V, V), np.int32)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                adj[slot[i], slot[j]] = 1
    op_ids = np.full(V - 2, ABSENT, np.int32)
    for i in range(1, n - 1):
        op_ids[i - 1] = OPS.index(ops_list[i])
    return np.concatenate([adj.reshape(-1), op_ids])


def encoding_to_spec(enc) -> tuple:
    enc = np.asarray(enc).reshape(-1)
    adj = enc[:N_ADJ].reshape(V, V)
    op_ids = enc[N_ADJ:]
    keep = [0] + [i for i in range(1, V - 1) if op_ids[i - 1] != ABSENT] + [V - 1]
    matrix = adj[np.ix_(keep, keep)].astype(int)
    names = ["input"] + [OPS[op_ids[i - 1]] for i in keep[1:-1]] + ["output"]
    return matrix, names


# --- vertex channels (traced or numpy) ------------------------------------------------------

def vertex_channels(adj, c_out: int, xp=jnp):
    """Channels of slots 1-5 `[5]` for a cell of `c_out` output channels (0 for absent
    slots): NAS-Bench-101's `compute_vertex_channels` on the padded adjacency `[7, 7]`."""
    feeds = adj[1:V - 1, V - 1].astype(np.int32)
    k = xp.maximum(xp.sum(feeds), 1)
    rank = xp.cumsum(feeds) - feeds              # feeders before this one
    share = c_out // k + (rank < c_out % k)
    vc = [xp.where(feeds[v - 1] > 0, share[v - 1], 0) for v in range(1, V - 1)]
    for v in range(V - 3, 0, -1):                # the benchmark's backward pass over non-feeders
        for dst in range(v + 1, V - 1):
            take = (feeds[v - 1] == 0) & (adj[v, dst] > 0)
            vc[v - 1] = xp.where(take, xp.maximum(vc[v - 1], vc[dst - 1]), vc[v - 1])
    return xp.stack(vc)


def _same_pads(h: int, window: int, stride: int):
    pad = max((-(-h // stride) - 1) * stride + window - h, 0)
    return ((pad // 2, pad - pad // 2),) * 2


def max_pool_same(x, window: int, stride: int):
    """Max pooling with TF's 'same' padding (padding never wins)."""
    return ops.max_pool(x, window, stride, _same_pads(x.shape[1], window, stride))


def vertex_width(channels: int, feeders: int) -> int:
    """The widest vertex of a cell whose output is fed by `feeders` (or more) vertices."""
    return -(-channels // max(feeders, 1))


def _bn_relu(key):
    """`post` of a conv-bn-relu branch: BN (`w[key]`), ReLU, the real channels (`w["m"]`)."""
    def post(z, w):
        bn = w[key]
        return jax.nn.relu(ops.batch_norm(z, bn["scale"], bn["bias"])) * w["m"].astype(z.dtype)
    return post


def _vertex_conv(key):
    """`pre` of a vertex conv: the kernel `w[key]` at the padded width, the real channels
    (`w["m"]`, traced) in and out; 3x3 by Winograd on maps of 16x16 and more (scoring version 8;
    F(4x4, 3x3) since version 9)."""
    def pre(a, w):
        m = w["m"].astype(a.dtype)
        return ops.conv2d(a, w[key] * (m[:, None] * m[None, :]), winograd=True)
    return pre


# A vertex: its op (0 conv3x3, 1 conv1x1, 2 maxpool, 3 absent) is data; under vmap over
# architectures the two convs run only for the cells that picked them (`edge_groups`). One at a
# time, a conv's output is the only intermediate its switch keeps (`edge_groups.Split`).
_vertex_op = make_edge((
    Split(_vertex_conv("conv3"), _bn_relu("bn3")),
    Split(_vertex_conv("conv1"), _bn_relu("bn1")),
    Split(lambda a, w: max_pool_same(a, 3, 1), lambda z, w: z * w["m"].astype(z.dtype),
          lambda a, z, dz: ops.max_pool_grad(a, z, dz, 3, 1, _same_pads(a.shape[1], 3, 1))),
    lambda a, w: jnp.zeros_like(a),
), group_ops=(0, 1), remat=False)


def _projection_conv(x0, w):
    """1x1 conv of the cell input to the real channels (`w["m"]`) of the kernel's width."""
    return ops.conv2d(x0, w["kernel"] * w["m"].astype(x0.dtype))


# An input projection (into a vertex, or onto the output; conv-bn-relu) exists or not (0/1)
# per cell: under vmap it runs only for the cells that have it.
_maybe_projection = make_edge((
    lambda x0, w: jnp.zeros(x0.shape[:-1] + w["kernel"].shape[-1:], x0.dtype),
    Split(_projection_conv, _bn_relu("bn")),
), group_ops=(1,), remat=False)


def _concat_feeders(outs, feeds, vc, c: int):
    """The output: the feeding vertices' real channels side by side, `[..., c]`.

    Each slot's output (`wv` wide, zero beyond its real width, as the masks leave it) is
    written whole at its offset into a buffer `c + wv` wide, slots in order: a later slot
    overwrites the zero tail of the one before, so every written value is exact and the
    gradient is a slice (a gather and its scatter-add before: 8-9 % of NB101's CPU time)."""
    wv = outs[0].shape[-1]
    widths = jnp.where(feeds > 0, vc, 0)
    offsets = jnp.cumsum(widths) - widths
    buf = jnp.zeros(outs[0].shape[:-1] + (c + wv,), outs[0].dtype)
    zero = jnp.int32(0)
    for t, o in enumerate(outs):
        o = jnp.where(feeds[t] > 0, o, jnp.zeros_like(o))
        buf = lax.dynamic_update_slice(buf, o, (zero, zero, zero, offsets[t].astype(jnp.int32)))
    return buf[..., :c]


class Cell(nn.Module):
    """One NB101 module at `channels` output channels from `c_in` input channels, the
    architecture (`enc [54]`) as data. Vertices are `vertex_width(channels, feeders)` wide
    (their real widths masked inside): right for every cell with at least `feeders`
    vertices feeding the output."""
    c_in: int
    channels: int
    feeders: int = 1

    @nn.compact
    def __call__(self, x0, enc):
        c, ci, n_slots = self.channels, self.c_in, V - 2
        wv = vertex_width(c, self.feeders)
        adj = enc[:N_ADJ].reshape(V, V)
        op_ids = enc[N_ADJ:]
        w3 = Kernel((n_slots, 3, 3, wv, wv), name="conv3")()
        w1 = Kernel((n_slots, 1, 1, wv, wv), name="conv1")()
        wp = Kernel((n_slots, 1, 1, ci, wv), name="proj")()
        wo = Kernel((1, 1, ci, c), name="out_proj")()
        bn3 = BNParams((n_slots, wv), name="bn3")()
        bn1 = BNParams((n_slots, wv), name="bn1")()
        bnp = BNParams((n_slots, wv), name="bnp")()
        bno = BNParams((c,), name="bno")()
        vc = vertex_channels(adj, c).astype(jnp.int32)
        slot_bn = lambda bn, t: {"scale": bn["scale"][t], "bias": bn["bias"][t]}  # noqa: E731
        outs = [x0]
        for t in range(1, V - 1):
            real = jnp.arange(wv) < vc[t - 1]      # the vertex's real channels: data to its edges
            m = real.astype(jnp.float32)
            acc = _maybe_projection(x0, (adj[0, t] > 0).astype(jnp.int32),
                                    {"kernel": wp[t - 1], "bn": slot_bn(bnp, t - 1), "m": real})
            for src in range(1, t):
                acc = acc + jnp.where(adj[src, t] > 0, outs[src] * m, 0.0)   # truncation = the mask
            outs.append(_vertex_op(acc, op_ids[t - 1], {
                "conv3": w3[t - 1], "bn3": slot_bn(bn3, t - 1), "conv1": w1[t - 1], "bn1": slot_bn(bn1, t - 1),
                "m": real}))
        feeds = adj[1:V - 1, V - 1]
        cat = _concat_feeders(outs[1:], feeds, vc, c)
        use_proj = (adj[0, V - 1] > 0) | (jnp.sum(feeds) == 0)
        p = _maybe_projection(x0, use_proj.astype(jnp.int32), {"kernel": wo, "bn": bno, "m": jnp.ones((c,), bool)})
        return cat + p


class ScanCell(nn.Module):
    channels: int
    feeders: int = 1

    @nn.compact
    def __call__(self, x, enc):
        return Cell(self.channels, self.channels, self.feeders, name="cell")(x, enc), None


class NB101Net(nn.Module):
    """The classifier-free NB101 network: stack outputs, deepest first, resized to
    `target_size`. The first cell of a stack has its own parameters (its input is narrower),
    the others run in `nn.scan`. `feeders`: the shape bucket (see `Cell`)."""
    stem_channels: int = 128
    stacks: int = 3
    cells_per_stack: int = 3
    target_size: int = 8
    feeders: int = 1

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
                x = max_pool_same(x, 2, 2)
                c *= 2
            x = Cell(c_in, c, self.feeders, name=f"stack{s}_first")(x, enc)
            if self.cells_per_stack > 1:
                stage = stage_scan(ScanCell, self.cells_per_stack - 1, in_axes=nn.broadcast)
                x, _ = stage(c, self.feeders, name=f"stack{s}")(x, enc)
            feats.append(ops.resize_nearest(x, self.target_size))
        return tuple(reversed(feats))

    def adapt_params(self, params, enc, scheme):
        """Rescale initial kernels drawn at the padded width to the fans of the cell's real
        vertex widths (every init scheme's scale is a function of the fans)."""
        adj = enc[:N_ADJ].reshape(V, V)
        c = self.stem_channels
        out = dict(params)
        for s in range(self.stacks):
            c_in = c
            if s > 0:
                c *= 2
            vc = vertex_channels(adj, c).astype(jnp.float32)
            for name, cin, n_cells in ((f"stack{s}_first", c_in, 1), (f"stack{s}", c, self.cells_per_stack - 1)):
                if n_cells == 0:
                    continue
                tree = out[name] if name.endswith("_first") else out[name]["cell"]
                new = dict(tree)
                for key, fan_in_real in (("conv3", vc), ("conv1", vc), ("proj", cin)):
                    new[key] = {"kernel": initializers.fan_rescale(tree[key]["kernel"], fan_in_real * jnp.ones_like(vc),
                                                                   vc, scheme)}
                out[name] = new if name.endswith("_first") else {"cell": new}
        return out


class NB101(Space):
    encoding_shape = (ENCODING_LEN,)
    encoding_max = None

    def __init__(self, name="nb101", stem_channels=128, stacks=3, cells_per_stack=3, input_size=32, target_size=None):
        for key, v, lo in (("stem_channels", stem_channels, 1), ("stacks", stacks, 1),
                           ("cells_per_stack", cells_per_stack, 1), ("input_size", input_size, 4)):
            if not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"nb101 option {key} must be an integer >= {lo}, got {v!r}")
        if input_size % 2 ** (stacks - 1):
            raise SpaceError(f"nb101 option input_size must be a multiple of {2 ** (stacks - 1)}, got {input_size}")
        self.name = name
        self.stem_channels, self.stacks, self.cells_per_stack = stem_channels, stacks, cells_per_stack
        self.input_size = input_size
        self.target_size = target_size or max(input_size // 4, 1)

    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray) and raw.shape == self.encoding_shape:
            self.check_encodings(raw[None])
            return raw.astype(np.int32)
        return spec_to_encoding(*parse_spec(raw))

    def arch_id(self, encoding) -> str:
        m, names = encoding_to_spec(encoding)
        return json.dumps([m.tolist(), names], separators=(",", ":"))

    def graphs(self, encoding) -> list:
        m, names = encoding_to_spec(encoding)
        short = {"input": "in", "output": "out", "conv3x3-bn-relu": "conv3x3", "conv1x1-bn-relu": "conv1x1",
                 "maxpool3x3": "maxpool"}
        edges = [(int(i), int(j), "") for i, j in zip(*np.nonzero(m))]
        return [{"title": "NB101 cell (ops on the vertices)", "nodes": [short[n] for n in names], "edges": edges}]

    def check_encodings(self, encodings):
        super().check_encodings(encodings)
        e = np.asarray(encodings)
        if e.size == 0:
            return
        adj = e[:, :N_ADJ].reshape(-1, V, V)
        op_ids = e[:, N_ADJ:]
        if not np.isin(adj, (0, 1)).all() or np.tril(adj).any():
            raise SpaceError("NB101 encodings: adjacency must be 0/1 and strictly upper-triangular")
        if op_ids.min() < 0 or op_ids.max() > ABSENT:
            raise SpaceError(f"NB101 encodings: op ids must lie in [0, {ABSENT}]")

    @property
    def feature_channels(self) -> tuple:
        return tuple(self.stem_channels * 2 ** s for s in reversed(range(self.stacks)))

    def module(self, bucket=None):
        """The network for one shape bucket: vertices as wide as a cell with `bucket` (1-5)
        vertices feeding its output needs; None = 1, the full width (fits every cell)."""
        return NB101Net(self.stem_channels, self.stacks, self.cells_per_stack, self.target_size, int(bucket or 1))

    def bucket_of(self, encodings) -> np.ndarray:
        """Shape bucket per cell: how many vertices feed its output (a cell with only the
        input->output edge has no vertices and takes the narrowest bucket, 5). A cell's
        vertices are at most ceil(C / bucket) wide, so the bucket's program computes them
        at that width instead of C (up to 25x fewer MACs per vertex conv)."""
        e = np.asarray(encodings).reshape(-1, ENCODING_LEN)
        k = e[:, :N_ADJ].reshape(-1, V, V)[:, 1:V - 1, V - 1].sum(1)
        return np.where(k == 0, V - 2, k).astype(np.int64)

    def _convs(self, e):
        """Every conv-bn of the classifier-free network of one encoding at its real widths,
        as (feature size, in channels, out channels, kernel), stem first."""
        adj = e[:N_ADJ].reshape(V, V)
        op_ids = e[N_ADJ:]
        c, h = self.stem_channels, self.input_size
        yield h, 3, c, 3
        for s in range(self.stacks):
            c_in = c
            if s > 0:
                c, h = c * 2, h // 2
            vc = vertex_channels(adj, c, xp=np)
            for cell in range(self.cells_per_stack):
                cin = c_in if cell == 0 else c
                for t in range(1, V - 1):
                    if op_ids[t - 1] == ABSENT:
                        continue
                    if adj[0, t]:
                        yield h, cin, int(vc[t - 1]), 1
                    if op_ids[t - 1] < 2:
                        yield h, int(vc[t - 1]), int(vc[t - 1]), 3 if op_ids[t - 1] == 0 else 1
                if adj[0, V - 1] or not adj[1:V - 1, V - 1].any():
                    yield h, cin, c, 1

    def macs(self, encodings) -> np.ndarray:
        """Analytic MACs per image of the classifier-free network, with the real vertex widths."""
        enc = np.asarray(encodings).reshape(-1, ENCODING_LEN)
        return np.array([sum(ops.conv_macs(h, h, ci, co, k) for h, ci, co, k in self._convs(e)) for e in enc],
                        np.float64)

    def param_count(self, encodings, num_classes: int = 10) -> np.ndarray:
        """Trainable parameters of the benchmark's classifier as NAS-Bench-101 counts them
        (its `trainable_parameters`): conv without bias, BN with scale and offset, global
        average pooling and a dense layer with bias. At stem 128 the benchmark's example
        cell counts 8,555,530 (tests/spaces/test_nb101.py)."""
        enc = np.asarray(encodings).reshape(-1, ENCODING_LEN)
        c_last = self.stem_channels * 2 ** (self.stacks - 1)
        head = c_last * num_classes + num_classes
        return np.array([head + sum(k * k * ci * co + 2 * co for _, ci, co, k in self._convs(e)) for e in enc],
                        np.float64)

    @property
    def max_macs(self) -> float:
        """The MACs normaliser of the `alpha` term: a chain of five conv3x3 vertices (each at the
        full width) with input projections into three of them - 9 edges, the benchmark's limit."""
        m = np.zeros((V, V), int)
        for v in range(V - 1):
            m[v, v + 1] = 1
        m[0, 2] = m[0, 3] = m[0, 4] = 1
        return float(self.macs(self.parse([m.tolist(), ["input"] + [OPS[0]] * 5 + ["output"]])[None])[0])


SPACE_CLASS = NB101
