"""NAS-Bench-201 (Dong & Yang, 2020) with the architecture as data.

Network: stem conv3x3 (3 -> C) + BN; three stages of N cells at C, 2C, 4C channels with
NB201's residual reduction block between stages; each cell is a 4-node DAG whose 6 edges
i->j (i<j) carry one of: none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3
(convs are ReLU-conv-BN, BN affine=False; the pool is 3x3 stride 1 without counting the
padding). Node j = sum of its incoming edges; the cell's output is node 3.

Encoding: int32 `[6]`, op id per edge in the order (1,0), (2,0), (2,1), (3,0), (3,1), (3,2)
- the flattening of the benchmark's `[[op10], [op20, op21], [op30, op31, op32]]`.
Each edge selects its op with `lax.switch`: when the architecture is not batched (the
engine's default `lax.map` over architectures) only the selected op runs. Under `vmap` over
architectures (accelerators) a switch would become a select over all five ops computed for
every architecture; `eproxy_jax.nn.edge_groups` instead runs each op on the architectures that
picked it (gathered into groups), with the same values and gradients.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from eproxy_jax.nn import ops
from . import SpaceError
from .base import Space
from eproxy_jax.nn.edge_groups import Split, make_edge
from eproxy_jax.nn.layers import BatchNorm, Kernel, Linear, stage_scan

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), benchmark order


_EDGE_BRANCHES = (
    lambda x, w1, w3: jnp.zeros_like(x),
    lambda x, w1, w3: x,
    Split(lambda x, w1, w3: ops.conv2d(jax.nn.relu(x), w1), lambda z, w1, w3: ops.batch_norm(z)),
    Split(lambda x, w1, w3: ops.conv2d(jax.nn.relu(x), w3), lambda z, w1, w3: ops.batch_norm(z)),
    lambda x, w1, w3: ops.avg_pool(x, 3, 1, 1, count_include_pad=False),
)
# the selected op only; under vmap over architectures each op runs on the architectures that
# picked it and the backward pass recomputes the edge (`eproxy_jax.nn.edge_groups`); one
# architecture at a time, a conv edge keeps its conv's output and recomputes only the BatchNorm
# (`Split`), where a checkpointed switch recomputed the convolution too
_edge_op = make_edge(_EDGE_BRANCHES, group_ops=(2, 3, 4), remat=False)


def relu_gram(x):
    """NASWOT's kernel of one ReLU fed `x`: binary codes c = [x > 0] per image (flattened),
    `c c^T + (1 - c)(1 - c)^T` = units minus the Hamming distances, `[n, n]`."""
    c = (x > 0).reshape(x.shape[0], -1).astype(x.dtype)
    return c @ c.T + (1.0 - c) @ (1.0 - c).T


def gated(y, gate):
    """`y * (1 + gate)` with a zero `gate [n, c]`: the gradient w.r.t. the gate is
    `sum_hw(y * dL/dy)` per image and channel, what the fisher proxy needs of every conv."""
    return y * (1.0 + gate.reshape((gate.shape[0],) + (1,) * (y.ndim - 2) + (gate.shape[-1],)))


def _probe_edge_op(x, op, w1, w3, gate, bn, record_var=False):
    """`_edge_op` of the classifier network (peer proxies): the conv ops' outputs are gated
    (see `gated`), BN is optional (synflow removes it), and every op also returns the
    NASWOT kernel of the ReLU it owns (zeros for ops without one) and its BatchNorm's
    `ops.bn_input_var` (-1 for ops without one, and for every op unless `record_var`: only zen
    reads it, so the other proxies' programs do not compute it)."""
    def conv(x, w, g):
        y = gated(ops.conv2d(jax.nn.relu(x), w), g)
        if not bn:
            return y, relu_gram(x), jnp.float32(-1.0)
        return ops.batch_norm(y), relu_gram(x), (ops.bn_input_var(y) if record_var else jnp.float32(-1.0))

    def plain(y):
        return y, jnp.zeros((x.shape[0], x.shape[0]), x.dtype), jnp.float32(-1.0)

    branches = (
        lambda x, w1, w3, g: plain(jnp.zeros_like(x)),
        lambda x, w1, w3, g: plain(x),
        lambda x, w1, w3, g: conv(x, w1, g),
        lambda x, w1, w3, g: conv(x, w3, g),
        lambda x, w1, w3, g: plain(ops.avg_pool(x, 3, 1, 1, count_include_pad=False)),
    )
    return lax.switch(op, branches, x, w1, w3, gate)


def _zeros_like_shape(shape):
    return jnp.zeros(shape, jnp.float32)


class Cell(nn.Module):
    """One NB201 cell; `__call__(x, ops)` with `ops` the int32 [6] encoding.

    `probe=True` (the peer proxies' classifier network) returns `(x, gram)` with the NASWOT
    kernel summed over the cell's ReLUs, and gates every conv output with a zero variable of
    the `gates` collection (`[6, n, c]`, one per edge); `bn=False` drops the BatchNorms."""
    channels: int
    probe: bool = False
    bn: bool = True

    @nn.compact
    def __call__(self, x, enc):
        c = self.channels
        w1 = Kernel((6, 1, 1, c, c), name="conv1x1")()
        w3 = Kernel((6, 3, 3, c, c), name="conv3x3")()
        if self.probe:
            gates = self.variable("gates", "edges", _zeros_like_shape, (6, x.shape[0], c)).value
        nodes, gram, bn_var = [x], jnp.zeros((x.shape[0], x.shape[0]), x.dtype), [None] * len(EDGES)
        record = self.probe and self.is_mutable_collection("stats")   # zen's BatchNorm variances
        for j in (1, 2, 3):
            acc = None
            for e, (to, frm) in enumerate(EDGES):
                if to != j:
                    continue
                if self.probe:
                    y, g, bn_var[e] = _probe_edge_op(nodes[frm], enc[e], w1[e], w3[e], gates[e], self.bn, record)
                    gram = gram + g
                else:
                    y = _edge_op(nodes[frm], enc[e], w1[e], w3[e])
                acc = y if acc is None else acc + y
            nodes.append(acc)
        if record:   # per edge; -1: no BatchNorm
            self.sow("stats", "edge_bn_var", jnp.stack(bn_var))
        return (nodes[3], gram) if self.probe else nodes[3]


class ScanCell(nn.Module):
    channels: int
    probe: bool = False
    bn: bool = True

    @nn.compact
    def __call__(self, x, enc):
        out = Cell(self.channels, self.probe, self.bn, name="cell")(x, enc)
        return out if self.probe else (out, None)


class ResBlock(nn.Module):
    """NB201's reduction block: ReLUConvBN(3x3, s2) -> ReLUConvBN(3x3) plus a shortcut of
    AvgPool(2, s2) -> conv1x1. `probe`/`bn` as for `Cell` (returns `(x, gram)` when probing)."""
    c_in: int
    c_out: int
    probe: bool = False
    bn: bool = True

    @nn.compact
    def __call__(self, x):
        n = x.shape[0]

        def gate(y, name):
            if not self.probe:
                return y
            return gated(y, self.variable("gates", name + "_out", _zeros_like_shape, (n, y.shape[-1])).value)

        def norm(y, name):
            return BatchNorm(name=name)(y) if self.bn else y

        a = gate(ops.conv2d(jax.nn.relu(x), Kernel((3, 3, self.c_in, self.c_out), name="conv_a")(), stride=2), "conv_a")
        a = norm(a, "bn_a")
        b = gate(ops.conv2d(jax.nn.relu(a), Kernel((3, 3, self.c_out, self.c_out), name="conv_b")()), "conv_b")
        b = norm(b, "bn_b")
        s = ops.avg_pool(x, 2, 2, 0)
        s = gate(ops.conv2d(s, Kernel((1, 1, self.c_in, self.c_out), name="down")()), "down")
        if self.probe:
            return s + b, relu_gram(x) + relu_gram(a)
        return s + b


class NB201Net(nn.Module):
    """The classifier-free NB201 network: returns the three stage outputs, deepest first,
    resized to `target_size` by nearest neighbour. Cells of a stage run in `nn.scan`."""
    channels: int = 16
    cells_per_stage: int = 5
    target_size: int = 8

    @nn.compact
    def __call__(self, images, enc):
        c = self.channels
        x = ops.conv2d(images, Kernel((3, 3, images.shape[-1], c), name="stem")())
        x = BatchNorm(name="stem_bn")(x)
        feats = []
        for s in range(3):
            cs = c * 2 ** s
            if s > 0:
                x = ResBlock(cs // 2, cs, name=f"reduce{s}")(x)
            stage = stage_scan(ScanCell, self.cells_per_stage, in_axes=nn.broadcast)
            x, _ = stage(cs, name=f"stage{s}")(x, enc)
            feats.append(ops.resize_nearest(x, self.target_size))
        return tuple(reversed(feats))


class NB201Classifier(nn.Module):
    """The whole NB201 classifier (xautodl's TinyNetwork) for the peer proxies: the same stem,
    cells and reduction blocks as `NB201Net` (same parameter names), then BN + ReLU, global
    average pooling and a linear layer (a 1x1 kernel with bias, PyTorch-default init).

    `apply({"params": p, "gates": g}, images, enc) -> (logits [n, classes], gram [n, n],
    pooled [n, c])`: `gram` is the NASWOT kernel summed over every ReLU the architecture
    runs, `pooled` the globally pooled features the linear layer reads; the `gates`
    collection (zeros) holds one `[n, c]` gate per conv/linear output (see `gated`).
    `bn=False` removes every BatchNorm (synflow). Applied with the `stats` collection mutable it
    records every BatchNorm's `ops.bn_input_var` (`bn_var`, `edge_bn_var` per cell edge, -1
    where an edge has none) and the map the global pooling reads (`pre_pool`), what zen needs."""
    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    bn: bool = True

    @nn.compact
    def __call__(self, images, enc):
        c, n = self.channels, images.shape[0]

        def gate(y, name):
            return gated(y, self.variable("gates", name + "_out", _zeros_like_shape, (n, y.shape[-1])).value)

        x = gate(ops.conv2d(images, Kernel((3, 3, images.shape[-1], c), name="stem")()), "stem")
        if self.bn:
            x = BatchNorm(name="stem_bn")(x)
        gram = jnp.zeros((n, n), x.dtype)
        for s in range(3):
            cs = c * 2 ** s
            if s > 0:
                x, g = ResBlock(cs // 2, cs, True, self.bn, name=f"reduce{s}")(x)
                gram = gram + g
            stage = nn.scan(ScanCell, variable_axes={"params": 0, "gates": 0, "stats": 0},
                            split_rngs={"params": True}, in_axes=nn.broadcast, length=self.cells_per_stage)
            x, grams = stage(cs, True, self.bn, name=f"stage{s}")(x, enc)
            gram = gram + grams.sum(0)
        if self.bn:
            x = BatchNorm(name="last_bn")(x)
        gram = gram + relu_gram(x)
        if self.is_mutable_collection("stats"):
            self.sow("stats", "pre_pool", jax.nn.relu(x))   # what the global pooling reads (zen)
        pooled = jnp.mean(jax.nn.relu(x), axis=(1, 2))
        logits = gate(Linear(self.num_classes, name="classifier")(pooled), "classifier")
        return logits, gram, pooled


def _op_id(v):
    if isinstance(v, str):
        if v not in OPS:
            raise SpaceError(f"unknown NB201 op {v!r} (ops: {', '.join(OPS)})")
        return OPS.index(v)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < len(OPS):
        raise SpaceError(f"NB201 op id must be an integer 0-4, got {v!r}")
    return int(v)


def parse_string(s: str) -> np.ndarray:
    """`|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|` -> encoding."""
    nodes = s.strip().split("+")
    if len(nodes) != 3:
        raise SpaceError(f"NB201 string must have 3 nodes separated by '+': {s!r}")
    enc = []
    for j, node in enumerate(nodes, start=1):
        parts = [p for p in node.strip().strip("|").split("|")]
        if len(parts) != j:
            raise SpaceError(f"NB201 string node {j} must have {j} edges: {s!r}")
        for i, p in enumerate(parts):
            op, _, src = p.partition("~")
            if src != str(i):
                raise SpaceError(f"NB201 string edge {p!r} must come from node {i}: {s!r}")
            enc.append(_op_id(op))
    return np.asarray(enc, np.int32)


def to_string(enc) -> str:
    enc = [int(v) for v in np.asarray(enc).reshape(-1)]
    groups, k = [], 0
    for j in (1, 2, 3):
        groups.append("|" + "|".join(f"{OPS[enc[k + i]]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(groups)


def to_lists(enc) -> list:
    e = [int(v) for v in np.asarray(enc).reshape(-1)]
    return [e[0:1], e[1:3], e[3:6]]


class NB201(Space):
    encoding_shape = (6,)
    encoding_max = len(OPS)

    def __init__(self, name="nb201", channels=16, cells_per_stage=5, input_size=32, target_size=None):
        for key, v, lo in (("channels", channels, 1), ("cells_per_stage", cells_per_stage, 1),
                           ("input_size", input_size, 4)):
            if not isinstance(v, (int, np.integer)) or v < lo:
                raise SpaceError(f"nb201 option {key} must be an integer >= {lo}, got {v!r}")
        if input_size % 4:
            raise SpaceError(f"nb201 option input_size must be a multiple of 4, got {input_size}")
        self.name = name
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.input_size = input_size
        self.target_size = target_size or max(input_size // 4, 1)

    def parse(self, raw) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = raw.tolist()
        if isinstance(raw, str):
            return parse_string(raw)
        if isinstance(raw, (list, tuple)) and len(raw) == 3 and all(isinstance(n, (list, tuple)) for n in raw):
            if [len(n) for n in raw] != [1, 2, 3]:
                raise SpaceError(f"NB201 lists must have 1, 2, 3 ops per node: {raw!r}")
            return np.asarray([_op_id(v) for n in raw for v in n], np.int32)
        if isinstance(raw, (list, tuple)) and len(raw) == 6:
            return np.asarray([_op_id(v) for v in raw], np.int32)
        raise SpaceError(f"not an NB201 architecture (expected [[op],[op,op],[op,op,op]] or an NB201 string): {raw!r}")

    def arch_id(self, encoding) -> str:
        return to_string(encoding)

    def all_encodings(self) -> np.ndarray:
        grid = np.stack(np.meshgrid(*[np.arange(len(OPS))] * 6, indexing="ij"), -1)
        return grid.reshape(-1, 6).astype(np.int32)

    def graphs(self, encoding) -> list:
        e = [int(v) for v in np.asarray(encoding).reshape(-1)]
        edges = [(src, dst, OPS[o]) for (dst, src), o in zip(EDGES, e) if OPS[o] != "none"]
        return [{"title": f"NB201 cell {to_string(e)}", "nodes": ["0", "1", "2", "3"], "edges": edges}]

    @property
    def feature_channels(self) -> tuple:
        return tuple(self.channels * 2 ** s for s in (2, 1, 0))

    def module(self):
        return NB201Net(self.channels, self.cells_per_stage, self.target_size)

    def macs(self, encodings) -> np.ndarray:
        """Analytic MACs per image of the classifier-free network for each encoding."""
        enc = np.asarray(encodings).reshape(-1, 6)
        n1 = (enc == OPS.index("nor_conv_1x1")).sum(1)
        n3 = (enc == OPS.index("nor_conv_3x3")).sum(1)
        c, hw = self.channels, self.input_size
        total = ops.conv_macs(hw, hw, 3, c, 3)  # stem
        fixed, per1, per3 = total, 0, 0
        for s in range(3):
            cs, h = c * 2 ** s, hw // 2 ** s
            if s > 0:
                fixed += ops.conv_macs(h, h, cs // 2, cs, 3) + ops.conv_macs(h, h, cs, cs, 3) \
                    + ops.conv_macs(h, h, cs // 2, cs, 1)
            per1 += self.cells_per_stage * ops.conv_macs(h, h, cs, cs, 1)
            per3 += self.cells_per_stage * ops.conv_macs(h, h, cs, cs, 3)
        return (fixed + n1 * per1 + n3 * per3).astype(np.float64)

    # --- the whole classifier (peer proxies) ------------------------------------------
    def classifier(self, num_classes: int = 10, bn: bool = True):
        """`NB201Classifier`: the benchmark's network with its head, gates and NASWOT kernel."""
        return NB201Classifier(self.channels, self.cells_per_stage, num_classes, bn)

    def param_count(self, encodings, num_classes: int = 10) -> np.ndarray:
        """Parameters of the benchmark's classifier as NB201 counts them (xautodl's TinyNetwork:
        BN affine everywhere, conv without bias, linear head with bias)."""
        enc = np.asarray(encodings).reshape(-1, 6)
        n1 = (enc == OPS.index("nor_conv_1x1")).sum(1)
        n3 = (enc == OPS.index("nor_conv_3x3")).sum(1)
        c = self.channels
        fixed, per1, per3 = 27 * c + 2 * c, 0, 0
        for s in range(3):
            cs = c * 2 ** s
            if s > 0:
                ci = cs // 2
                fixed += 9 * ci * cs + 2 * cs + 9 * cs * cs + 2 * cs + ci * cs
            per1 += self.cells_per_stage * (cs * cs + 2 * cs)
            per3 += self.cells_per_stage * (9 * cs * cs + 2 * cs)
        c_last = 4 * c
        fixed += 2 * c_last + c_last * num_classes + num_classes
        return (fixed + n1 * per1 + n3 * per3).astype(np.float64)

    def flops(self, encodings, num_classes: int = 10) -> np.ndarray:
        """FLOPs per image of the classifier as NB201's counter takes them: conv and linear
        multiply-accumulates plus `k*k` per output element of every average pool."""
        enc = np.asarray(encodings).reshape(-1, 6)
        n_pool = (enc == OPS.index("avg_pool_3x3")).sum(1)
        c, hw, pool = self.channels, self.input_size, 0
        fixed = 0
        for s in range(3):
            cs, h = c * 2 ** s, hw // 2 ** s
            pool += self.cells_per_stage * 9 * cs * h * h
            if s > 0:
                fixed += 4 * cs // 2 * h * h  # the shortcut's 2x2 pool
        fixed += 4 * c * num_classes
        return self.macs(enc) + fixed + n_pool * pool

    @property
    def max_macs(self) -> float:
        return float(self.macs(np.full((1, 6), OPS.index("nor_conv_3x3")))[0])


SPACE_CLASS = NB201
