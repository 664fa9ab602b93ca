"""An NB201-style edge (one of several ops picked by an integer, the op being data) that,
under `vmap` over architectures, computes each op only for the architectures that picked
it.

Without `vmap` the edge is a `lax.switch`: only the selected op runs. Differentiated as a plain
switch, each branch would return every branch's intermediates for the backward pass (zeros or
copies where it has none); an edge of `Split` branches keeps one (`_lean_core`). Under `vmap` a switch
becomes a select over every op computed for every architecture; for NB201 that is five ops
per edge where each architecture uses one, most of the vmapped program's work (DESIGN 2,
README profile). Here the batched rule gathers, per op, the architectures that picked it
into groups of static size (`capacity` x the vmapped size), runs the op on those groups
only and gathers the results back; a group larger than that (a chunk whose ops are far from
uniform) takes more rounds of the same compiled loop, so the result never depends on the
capacity. Gradients: a custom VJP whose backward pass recomputes the edge
(as `jax.checkpoint` did) through the same grouped rule under `vmap`.

`make_edge(ops, group_ops)`: `ops` the branch functions `f(x, *weights)` (every branch the
same output shape, which may differ from `x`'s, e.g. a stride-2 edge), `group_ops` the
indices worth grouping (those that compute something: convs, pools); the others (zero,
identity) are selected directly. The weights may be any pytrees (an op's parameter dict);
their floating leaves get gradients, integer and boolean leaves (a traced width, a channel
mask) are data."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from . import ops

DEFAULT_CAPACITY = 0.35   # a group holds up to this fraction of the vmapped architectures


def parse_capacity(text: str) -> float | None:
    """A capacity as written by a user: `default` (or empty), `off` (every op for every
    architecture, the plain vmap of the switch: for A/B measurements) or a positive fraction.
    Raises ValueError for anything else."""
    v = text.strip().lower()
    if v in ("", "default"):
        return DEFAULT_CAPACITY
    if v in ("off", "0", "none", "no"):
        return None
    try:
        frac = float(v)
    except ValueError:
        frac = -1.0
    if not frac > 0:
        raise ValueError(f"edge-group capacity {text!r} is neither a positive fraction, 'default' nor 'off'")
    return frac


def _env_capacity():
    """`EPROXY_EDGE_GROUPS` (see `parse_capacity`); a bad value warns and keeps the default."""
    v = os.environ.get("EPROXY_EDGE_GROUPS", "")
    try:
        return parse_capacity(v)
    except ValueError:
        warnings.warn(f"EPROXY_EDGE_GROUPS={v!r} is neither a positive fraction nor 'off'; "
                      f"using {DEFAULT_CAPACITY}", stacklevel=2)
        return DEFAULT_CAPACITY


_capacity = [_env_capacity()]


def capacity() -> float | None:
    return _capacity[0]


def set_capacity(frac: float | None):
    """Trace-time group capacity (fraction of the vmapped size; None or >= 1 disables grouping)."""
    _capacity[0] = frac


_archs_batched = [True]


@contextlib.contextmanager
def archs_batched(flag: bool):
    """Trace-time: whether the code traced inside the block may be vmapped over architectures
    (the default, True). False (the engines' arch_vmap 1, where architectures go through
    `lax.map`): edges are plain `lax.switch`es (checkpointed where `make_edge(remat=True)`),
    without the custom VJP whose backward pass recomputes the edge."""
    prev = _archs_batched[0]
    _archs_batched[0] = bool(flag)
    try:
        yield
    finally:
        _archs_batched[0] = prev


@dataclasses.dataclass(frozen=True)
class Split:
    """A branch written as `post(pre(x, *w), *w)`: `pre` the costly linear part (a
    convolution) whose gradients need only its inputs, `post` the cheap rest (BatchNorm,
    ReLU, masks). Called, it is the composed function. In an edge of `make_edge(remat=False)`
    outside `archs_batched(True)` it is the only intermediate kept for the backward pass
    (`_lean_core`). `pre_grad(x, z, dz)`, for a `pre` without weights whose gradient needs its
    output `z` (a max pool): the input gradient from the kept `z`, where the backward pass
    would otherwise compute `pre` again (XLA fuses that recomputation into every use)."""
    pre: Callable
    post: Callable
    pre_grad: Callable | None = None

    def __call__(self, x, *w):
        return self.post(self.pre(x, *w), *w)


EDGE_VJPS = ("split", "autodiff")
_edge_vjp = ["split"]


def use_edge_vjp(name: str):
    """Trace-time choice of how an unbatched, unchecked edge with `Split` branches is
    differentiated, for code traced inside the block: `split` (default) the custom VJP of
    `_lean_core`, `autodiff` JAX's differentiation of the plain switch (for A/B measurements;
    the same function, float-noise apart). A change clears JAX's caches, as the other
    trace-time switches do (`ops.use_conv_impl`)."""
    return ops._use(_edge_vjp, name, EDGE_VJPS, "edge vjp", on_change=jax.clear_caches)


def make_edge(branches, group_ops, remat: bool = True):
    """`edge(x, op, *w)`: `branches[op](x, *w)`, op-grouped under vmap (module docstring).
    `remat`: outside `archs_batched(True)` too, recompute the edge in the backward pass
    (`jax.checkpoint`) instead of keeping its intermediates. Without `remat`, an edge with
    `Split` branches keeps one intermediate, the selected `pre`'s output (`_lean_core`)."""
    branches = tuple(branches)
    group_ops = tuple(group_ops)
    cores, leans = {}, {}
    lean = not remat and any(isinstance(b, Split) for b in branches)

    def switch(x, op, *w):
        return lax.switch(op, branches, x, *w)

    plain = jax.checkpoint(switch) if remat else switch

    def edge(x, op, *w):
        unbatched = not _archs_batched[0]
        if unbatched and not (lean and _edge_vjp[0] == "split"):
            return plain(x, op, *w)
        leaves, tree = jax.tree.flatten(w)
        diff = tuple(bool(jnp.issubdtype(jnp.result_type(v), jnp.inexact)) for v in leaves)
        key = (tree, diff)
        if unbatched:
            if key not in leans:
                leans[key] = _lean_core(branches, tree, diff)
            return leans[key](x, op, *leaves)
        if key not in cores:
            cores[key] = _make_core(branches, group_ops, tree, diff)
        return cores[key](x, op, *leaves)
    return edge


def _lean_core(branches, tree, diff):
    """The unbatched edge on flat weight leaves with a custom VJP that keeps, besides the
    edge's inputs, one array: the selected `Split` branch's `pre` output (zeros for the other
    branches). The backward pass is a switch too: the selected branch's `post` recomputed
    from it and differentiated, then `pre`'s gradients (its forward is dead code there).
    Differentiating the plain switch instead makes every branch return the intermediates of
    every branch, zero-filled or copied: on paper-size NB101, a fifth of a cell's CPU time."""
    e = _Edge(branches, (), tree, diff)
    splits = [b for b in branches if isinstance(b, Split)]

    def on_tree(f):
        return functools.partial(_on_tree, f, tree)

    def residual(x, w):
        return jax.eval_shape(on_tree(splits[0].pre), x, *w)

    def forward(b):
        def f(x, *w):
            wt = jax.tree.unflatten(tree, w)
            if isinstance(b, Split):
                z = b.pre(x, *wt)
                return b.post(z, *wt), z
            r = residual(x, w)
            return b(x, *wt), jnp.zeros(r.shape, r.dtype)
        return f

    def backward(b):
        def f(x, z, g, *w):
            if not isinstance(b, Split):
                return tuple(e.vjp_fw(on_tree(b), x, w)(g))
            dz, *d_post = e.vjp_fw(on_tree(b.post), z, w)(g)
            if b.pre_grad is not None:
                return (b.pre_grad(x, z, dz), *d_post)
            dx, *d_pre = e.vjp_fw(on_tree(b.pre), x, w)(dz)
            return (dx, *[p + q for p, q in zip(d_pre, d_post)])
        return f

    def fwd(x, op, *w):
        y, z = lax.switch(op, [forward(b) for b in branches], x, *w)
        return y, (x, op, w, z)

    def bwd(res, g):
        x, op, w, z = res
        dx, *dfw = lax.switch(op, [backward(b) for b in branches], x, z, g, *w)
        dfw = iter(dfw)
        return (dx, None, *[next(dfw) if d else None for d in diff])

    core = jax.custom_vjp(lambda x, op, *w: e.switch(x, op, *w))
    core.defvjp(fwd, bwd)
    return core


def _make_core(tree_branches, group_ops, tree, diff):
    """The edge on flat weight leaves (`tree` their structure, `diff` which are floating):
    `core(x, op, *leaves)`, a custom VJP around a custom vmap rule (`_Edge`)."""
    e = _Edge(tree_branches, group_ops, tree, diff)
    primal = jax.custom_batching.custom_vmap(e.switch)
    primal.def_vmap(e.primal_rule)
    grads = jax.custom_batching.custom_vmap(e.switch_vjp)
    grads.def_vmap(e.grads_rule)

    def fwd(x, op, *w):
        return primal(x, op, *w), (x, op, w)

    def bwd(res, g):
        x, op, w = res
        dx, *dfw = grads(x, op, g, *w)
        dfw = iter(dfw)
        return (dx, None, *[next(dfw) if d else None for d in diff])

    core = jax.custom_vjp(lambda x, op, *w: primal(x, op, *w))
    core.defvjp(fwd, bwd)
    return core


def _capacity_of(a: int) -> int:
    """Architectures per round of a group when `a` are vmapped (`a` itself: grouping off)."""
    frac = _capacity[0]
    return a if frac is None else max(1, math.ceil(frac * a))


def _lift(axis_size, in_batched, args):
    """Every argument batched: the unbatched ones broadcast along a new leading axis."""
    return [v if b else jnp.broadcast_to(v, (axis_size,) + jnp.shape(v)) for v, b in zip(args, in_batched)]


def _rows(idx, count, r, cap, a):
    """Round `r`'s architecture indices; rows past the group's size index `a` (dropped)."""
    ids = lax.dynamic_slice(idx, (r * cap,), (cap,))
    return ids, jnp.where(r * cap + jnp.arange(cap) < count, ids, a)


class _Edge:
    """One edge's op tables on flat weight leaves, and the rules of its custom vmap: the plain
    switch, the vmap of the switch (every op), and the grouped forward and backward passes."""

    def __init__(self, tree_branches, group_ops, tree, diff):
        self.branches = tuple(functools.partial(_on_tree, f, tree) for f in tree_branches)
        self.group_ops, self.diff = tuple(group_ops), tuple(diff)

    # -- the floating leaves of the weights, which get gradients
    def split(self, w):
        return [v for v, d in zip(w, self.diff) if d], [v for v, d in zip(w, self.diff) if not d]

    def merge(self, fw, iw):
        fw, iw = iter(fw), iter(iw)
        return [next(fw) if d else next(iw) for d in self.diff]

    def vjp_fw(self, f, x, w):
        """The VJP of `f(x, *w)` w.r.t. `x` and the floating leaves of `w`."""
        fw, iw = self.split(w)
        return jax.vjp(lambda x, *fw: f(x, *self.merge(fw, iw)), x, *fw)[1]

    # -- unbatched: a switch
    def switch(self, x, op, *w):
        return lax.switch(op, self.branches, x, *w)

    def switch_vjp(self, x, op, g, *w):
        return self.vjp_fw(lambda x, *w: self.switch(x, op, *w), x, w)(g)

    def every_op(self, x, op, w):
        """The vmap of the switch: every op for every architecture, then a select."""
        return jax.vmap(self.switch)(x, op, *w)

    # -- batched: each grouped op on the architectures that picked it
    def groups(self, op, cap):
        """Per grouped op: the indices of the architectures that picked it, padded to whole
        rounds of `cap`, and how many rounds they fill."""
        rounds_max = -(-op.shape[0] // cap)
        out = []
        for k in self.group_ops:
            sel = op == k
            count = jnp.sum(sel)
            idx = jnp.nonzero(sel, size=rounds_max * cap, fill_value=0)[0]
            out.append((k, idx, count, (count + cap - 1) // cap))
        return out

    def grouped_fwd(self, x, op, w, cap):
        """`x [A, ...]`, `op [A]`, each of `w` `[A, ...]`: each op of `group_ops` runs on the
        architectures that picked it, `cap` at a time, in a `lax.while_loop` over as many
        rounds as its group needs (one when the ops are spread evenly); the other ops
        (zero, identity) are selected directly."""
        a = op.shape[0]
        shape = jax.eval_shape(self.every_op, x, op, w)
        out = jnp.zeros(shape.shape, shape.dtype)
        for k, f in enumerate(self.branches):
            if k not in self.group_ops:
                out = jnp.where((op == k).reshape((-1,) + (1,) * (out.ndim - 1)), jax.vmap(f)(x, *w), out)
        for k, idx, count, rounds in self.groups(op, cap):
            f = self.branches[k]

            def body(rc, f=f, idx=idx, count=count):
                r, acc = rc
                ids, dst = _rows(idx, count, r, cap, a)
                y = jax.vmap(f)(x[ids], *[v[ids] for v in w])
                return r + 1, acc.at[dst].set(y, mode="drop")

            _, out = lax.while_loop(lambda rc, n=rounds: rc[0] < n, body, (jnp.int32(0), out))
        return out

    def grouped_bwd(self, x, op, w, g, cap):
        """The VJP of `grouped_fwd` w.r.t. `x` and `w`'s floating leaves, round by round in
        the same groups."""
        a = op.shape[0]
        dx, dw = jnp.zeros_like(x), [jnp.zeros_like(v) for v in self.split(w)[0]]
        for k, f in enumerate(self.branches):   # the ungrouped ops (zero, identity): whole batch, masked
            if k in self.group_ops:
                continue
            m = (op == k).reshape((-1,) + (1,) * (g.ndim - 1))
            gx, *gw = self.vjp_fw(jax.vmap(f), x, w)(jnp.where(m, g, 0.0))
            dx, dw = dx + gx, [d + v for d, v in zip(dw, gw)]
        for k, idx, count, rounds in self.groups(op, cap):
            f = self.branches[k]

            def body(rc, f=f, idx=idx, count=count):
                r, dx, dw = rc
                ids, dst = _rows(idx, count, r, cap, a)
                gx, *gw = self.vjp_fw(jax.vmap(f), x[ids], [v[ids] for v in w])(g[ids])
                return (r + 1, dx.at[dst].add(gx, mode="drop"),
                        [d.at[dst].add(gv, mode="drop") for d, gv in zip(dw, gw)])

            _, dx, dw = lax.while_loop(lambda rc, n=rounds: rc[0] < n, body, (jnp.int32(0), dx, dw))
        return (dx, *dw)

    # -- the custom vmap rules
    def primal_rule(self, axis_size, in_batched, x, op, *w):
        if not in_batched[1]:   # the same op for the whole batch: the switch stays a switch
            axes = [0 if b else None for b in in_batched]
            return jax.vmap(self.switch, in_axes=axes)(x, op, *w), True
        x, op, *w = _lift(axis_size, in_batched, (x, op, *w))
        cap = _capacity_of(axis_size)
        return (self.every_op(x, op, w) if cap >= axis_size else self.grouped_fwd(x, op, w, cap)), True

    def grads_rule(self, axis_size, in_batched, x, op, g, *w):
        if not in_batched[1]:
            axes = [0 if b else None for b in in_batched]
            out = jax.vmap(self.switch_vjp, in_axes=axes)(x, op, g, *w)
            return out, tuple(True for _ in out)
        x, op, g, *w = _lift(axis_size, in_batched, (x, op, g, *w))
        cap = _capacity_of(axis_size)
        if cap >= axis_size:
            out = self.vjp_fw(lambda x, *w: self.every_op(x, op, w), x, w)(g)
        else:
            out = self.grouped_bwd(x, op, w, g, cap)
        return out, tuple(True for _ in out)


def _on_tree(f, tree, x, *leaves):
    """`f(x, *weights)` called on the flat leaves of the weights (`tree` their structure)."""
    return f(x, *jax.tree.unflatten(tree, leaves))
