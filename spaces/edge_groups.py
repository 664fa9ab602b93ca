"""An NB201-style edge (one of several ops picked by an integer, the op being data) that,
under `vmap` over architectures, computes each op only for the architectures that picked
it.

Without `vmap` the edge is a `lax.switch`: only the selected op runs. Under `vmap` a switch
becomes a select over every op computed for every architecture; for NB201 that is five ops
per edge where each architecture uses one, most of the vmapped program's work (DESIGN 2,
README profile). Here the batched rule gathers, per op, the architectures that picked it
into groups of static size (`capacity` x the vmapped size), runs the op on those groups
only and gathers the results back; a group larger than that (a chunk whose ops are far from
uniform) takes more rounds of the same compiled loop, so the result never depends on the
capacity. Gradients: a custom VJP whose backward pass recomputes the edge
(as `jax.checkpoint` did) through the same grouped rule under `vmap`.

`make_edge(ops, group_ops)`: `ops` the branch functions `f(x, *weights)`, `group_ops` the
indices worth grouping (those that compute something: convs, pools); the others (zero,
identity) are selected directly."""
from __future__ import annotations

import math
import os
import warnings

import jax
import jax.numpy as jnp
from jax import lax

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


def make_edge(branches, group_ops):
    branches = tuple(branches)
    group_ops = tuple(group_ops)

    def switch(x, op, *w):
        return lax.switch(op, branches, x, *w)

    def every_op(x, op, w):
        """The vmap of the switch: every op for every architecture, then a select."""
        return jax.vmap(switch)(x, op, *w)

    def _groups(op, cap):
        """Per grouped op: the indices of the architectures that picked it, padded to whole
        rounds of `cap`, and how many rounds they fill."""
        a = op.shape[0]
        rounds_max = -(-a // cap)
        out = []
        for k in group_ops:
            sel = op == k
            count = jnp.sum(sel)
            idx = jnp.nonzero(sel, size=rounds_max * cap, fill_value=0)[0]
            out.append((k, idx, count, (count + cap - 1) // cap))
        return out

    def _rows(idx, count, r, cap, a):
        """Round `r`'s architecture indices; rows past the group's size index `a` (dropped)."""
        ids = lax.dynamic_slice(idx, (r * cap,), (cap,))
        return ids, jnp.where(r * cap + jnp.arange(cap) < count, ids, a)

    def grouped_fwd(x, op, w, cap):
        """`x [A, ...]`, `op [A]`, each of `w` `[A, ...]`: each op of `group_ops` runs on the
        architectures that picked it, `cap` at a time, in a `lax.while_loop` over as many
        rounds as its group needs (one when the ops are spread evenly); the other ops
        (zero, identity) are selected directly."""
        a = op.shape[0]
        out = jnp.zeros_like(x)
        for k, f in enumerate(branches):
            if k not in group_ops:
                out = jnp.where((op == k).reshape((-1,) + (1,) * (x.ndim - 1)), jax.vmap(f)(x, *w), out)
        for k, idx, count, rounds in _groups(op, cap):
            f = branches[k]

            def body(rc, f=f, idx=idx, count=count):
                r, acc = rc
                ids, dst = _rows(idx, count, r, cap, a)
                y = jax.vmap(f)(x[ids], *[v[ids] for v in w])
                return r + 1, acc.at[dst].set(y, mode="drop")

            _, out = lax.while_loop(lambda rc, n=rounds: rc[0] < n, body, (jnp.int32(0), out))
        return out

    def grouped_bwd(x, op, w, g, cap):
        """The VJP of `grouped_fwd` w.r.t. `x` and `w`, round by round in the same groups."""
        a = op.shape[0]
        dx, dw = jnp.zeros_like(x), [jnp.zeros_like(v) for v in w]
        for k, f in enumerate(branches):   # the ungrouped ops (zero, identity): whole batch, masked
            if k in group_ops:
                continue
            m = (op == k).reshape((-1,) + (1,) * (x.ndim - 1))
            gx, *gw = jax.vjp(jax.vmap(f), x, *w)[1](jnp.where(m, g, 0.0))
            dx, dw = dx + gx, [d + v for d, v in zip(dw, gw)]
        for k, idx, count, rounds in _groups(op, cap):
            f = branches[k]

            def body(rc, f=f, idx=idx, count=count):
                r, dx, dw = rc
                ids, dst = _rows(idx, count, r, cap, a)
                _, vjp = jax.vjp(jax.vmap(f), x[ids], *[v[ids] for v in w])
                gx, *gw = vjp(g[ids])
                return (r + 1, dx.at[dst].add(gx, mode="drop"),
                        [d.at[dst].add(gv, mode="drop") for d, gv in zip(dw, gw)])

            _, dx, dw = lax.while_loop(lambda rc, n=rounds: rc[0] < n, body, (jnp.int32(0), dx, dw))
        return (dx, *dw)

    def capacity_of(a):
        frac = _capacity[0]
        return a if frac is None else max(1, math.ceil(frac * a))

    def lift(axis_size, in_batched, args):
        return [v if b else jnp.broadcast_to(v, (axis_size,) + jnp.shape(v)) for v, b in zip(args, in_batched)]

    @jax.custom_batching.custom_vmap
    def primal(x, op, *w):
        return switch(x, op, *w)

    @primal.def_vmap
    def _primal_rule(axis_size, in_batched, x, op, *w):
        if not in_batched[1]:   # the same op for the whole batch: the switch stays a switch
            axes = [0 if b else None for b in in_batched]
            return jax.vmap(switch, in_axes=axes)(x, op, *w), True
        x, op, *w = lift(axis_size, in_batched, (x, op, *w))
        cap = capacity_of(axis_size)
        return (every_op(x, op, w) if cap >= axis_size else grouped_fwd(x, op, w, cap)), True

    def switch_vjp(x, op, g, *w):
        return jax.vjp(lambda x, *w: switch(x, op, *w), x, *w)[1](g)

    @jax.custom_batching.custom_vmap
    def grads(x, op, g, *w):
        return switch_vjp(x, op, g, *w)

    @grads.def_vmap
    def _grads_rule(axis_size, in_batched, x, op, g, *w):
        if not in_batched[1]:
            axes = [0 if b else None for b in in_batched]
            out = jax.vmap(switch_vjp, in_axes=axes)(x, op, g, *w)
            return out, tuple(True for _ in out)
        x, op, g, *w = lift(axis_size, in_batched, (x, op, g, *w))
        cap = capacity_of(axis_size)
        if cap >= axis_size:
            out = jax.vjp(lambda x, *w: every_op(x, op, w), x, *w)[1](g)
        else:
            out = grouped_bwd(x, op, w, g, cap)
        return out, tuple(True for _ in out)

    @jax.custom_vjp
    def edge(x, op, *w):
        return primal(x, op, *w)

    def fwd(x, op, *w):
        return primal(x, op, *w), (x, op, w)

    def bwd(res, g):
        x, op, w = res
        dx, *dw = grads(x, op, g, *w)
        return (dx, None, *dw)

    edge.defvjp(fwd, bwd)
    return edge
