"""The op-grouped edge (eproxy_jax.nn.edge_groups): under vmap over architectures it must compute
exactly what the vmapped switch computes (values and gradients), whatever the op mix."""
import re

import chex
import jax
import jax.numpy as jnp
import pytest
from jax import lax

from eproxy_jax.chunks import Lowering
from eproxy_jax.nn import edge_groups
from spaces.nb201 import _EDGE_BRANCHES, _edge_op

A, C = 10, 3
_remat_edge = edge_groups.make_edge(_EDGE_BRANCHES, group_ops=(2, 3, 4))   # NB201's ops, checkpointed (as cellnet's)


def switch(x, op, w1, w3):
    return lax.switch(op, _EDGE_BRANCHES, x, w1, w3)


@pytest.fixture(scope="module")
def data():
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    x = jax.random.normal(k[0], (A, 2, 5, 5, C))
    w1 = jax.random.normal(k[1], (A, 1, 1, C, C))
    w3 = jax.random.normal(k[2], (A, 3, 3, C, C))
    r = jax.random.normal(k[3], x.shape)
    return x, w1, w3, r


def loss_and_grads(edge, op, x, w1, w3, r):
    f = lambda x, w1, w3: jnp.sum(jax.vmap(edge)(x, op, w1, w3) * r)  # noqa: E731
    return jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(x, w1, w3)


OP_MIXES = {
    "spread": jnp.arange(A) % 5,                      # every group within one round
    "all_conv3x3": jnp.full((A,), 3),                 # one group of A: several rounds
    "no_grouped_op": jnp.arange(A) % 2,               # only none / skip
    "one_each": jnp.array([0, 1, 2, 3, 4, 3, 3, 3, 3, 3]),
}


@pytest.mark.parametrize("capacity", [0.35, 0.1, None])
@pytest.mark.parametrize("mix", sorted(OP_MIXES))
def test_grouped_equals_vmapped_switch(data, mix, capacity):
    x, w1, w3, r = data
    op = OP_MIXES[mix]
    old = edge_groups.capacity()
    edge_groups.set_capacity(capacity)
    try:
        got = loss_and_grads(_edge_op, op, x, w1, w3, r)
    finally:
        edge_groups.set_capacity(old)
    want = loss_and_grads(switch, op, x, w1, w3, r)
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-5)


def test_unbatched_nested_and_shared_op(data):
    x, w1, w3, r = data
    # no vmap: the switch and its gradient
    g = jax.grad(lambda x: jnp.sum(_edge_op(x, 2, w1[0], w3[0]) * r[0]))(x[0])
    g0 = jax.grad(lambda x: jnp.sum(switch(x, 2, w1[0], w3[0]) * r[0]))(x[0])
    chex.assert_trees_all_close(g, g0, rtol=1e-6, atol=1e-6)
    # seeds outside, architectures inside (the engine's vmapped seeds)
    op = OP_MIXES["spread"]
    xs = jnp.stack([x, 2 * x])
    got = jax.jit(jax.vmap(lambda xx: jax.vmap(_edge_op)(xx, op, w1, w3)))(xs)
    want = jax.vmap(lambda xx: jax.vmap(switch)(xx, op, w1, w3))(xs)
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-5)
    # the op shared by the whole vmapped batch
    got = jax.vmap(lambda xx, a, b: _edge_op(xx, 3, a, b))(x, w1, w3)
    want = jax.vmap(lambda xx, a, b: switch(xx, 3, a, b))(x, w1, w3)
    chex.assert_trees_all_close(got, want, rtol=1e-6, atol=1e-6)


def test_grouped_program_runs_each_conv_on_its_group_only():
    """The point of grouping: in the vmapped program, the convolutions read `capacity x A`
    rows, not A (checked on the lowered program's convolution / dot shapes)."""
    old = edge_groups.capacity()
    a = 20
    x = jnp.zeros((a, 2, 5, 5, C))
    w1, w3 = jnp.zeros((a, 1, 1, C, C)), jnp.zeros((a, 3, 3, C, C))
    op = jnp.arange(a) % 5
    try:
        edge_groups.set_capacity(0.25)
        hlo = jax.jit(jax.vmap(_edge_op), static_argnums=()).lower(x, op, w1, w3).as_text()
    finally:
        edge_groups.set_capacity(old)
    assert "while" in hlo
    # the im2col/XLA conv of a group sees 5 (= 0.25 x 20) architectures at a time
    assert "5x2x5x5x3" in hlo.replace(",", "x") or "tensor<5x2x5x5x3" in hlo


def test_env_capacity(monkeypatch):
    for value, want in [("", edge_groups.DEFAULT_CAPACITY), ("off", None), ("0.2", 0.2)]:
        monkeypatch.setenv("EPROXY_EDGE_GROUPS", value)
        assert edge_groups._env_capacity() == want
    for bad in ("abc", "-1"):
        monkeypatch.setenv("EPROXY_EDGE_GROUPS", bad)
        with pytest.warns(UserWarning, match="EPROXY_EDGE_GROUPS"):
            assert edge_groups._env_capacity() == edge_groups.DEFAULT_CAPACITY
    assert edge_groups.parse_capacity("default") == edge_groups.DEFAULT_CAPACITY
    with pytest.raises(ValueError, match="positive fraction"):
        edge_groups.parse_capacity("0.0.1")



@pytest.mark.parametrize("stride", [1, 2])
def test_cellnet_edge_grouped_equals_every_op(stride):
    """A DARTS-family edge over one op of each kind (parameter dicts, a stride-2 output
    smaller than its input, an integer real width under width masking, a NumPy-free
    avg pool), vmapped over architectures inside a batched `lax.cond` as in a reduction
    cell: grouped values and gradients equal the every-op select's."""
    from spaces import cellnet
    names = ("none", "skip_connect", "avg_pool_3x3", "max_pool_3x3", "sep_conv_3x3", "dil_conv_3x3",
             "conv_1x1", "conv_3x1_1x3")
    c, a = 4, 2 * len(names)
    edge = cellnet._edge(names, stride, True, 4)
    keys = iter(jax.random.split(jax.random.PRNGKey(3), 64))
    p = {}
    for n in names:
        parts = {k: ({"kernel": jax.random.normal(next(keys), (a,) + shape)} if kind == "kernel" else
                     {"scale": 1 + jax.random.normal(next(keys), (a,) + shape), "bias": jax.random.normal(next(keys), (a,) + shape)})
                 for k, (kind, shape) in cellnet.op_params(n, c, stride).items()}
        if parts:
            p[n] = parts
    x = jax.random.normal(next(keys), (a, 2, 6, 6, c))
    op = jnp.arange(a) % len(names)
    real = jnp.where(jnp.arange(a) % 3 == 0, 2, 4).astype(jnp.int32)   # half / full real width
    inp = jnp.arange(a) // len(names)   # the first half takes the edge (each op once)
    r = jax.random.normal(next(keys), (a, 2, 6 // stride, 6 // stride, c))

    def loss(x, p, op, real, inp, r):
        y = lax.cond(inp < 1, lambda: edge(op, p, x, real), lambda: jnp.zeros_like(r))
        return jnp.sum(jnp.sin(y) * r)

    def run(cap):
        old = edge_groups.capacity()
        edge_groups.set_capacity(cap)
        try:
            f = jax.jit(jax.vmap(jax.value_and_grad(loss, argnums=(0, 1))))
            return f(x, p, op, real, inp, r)
        finally:
            edge_groups.set_capacity(old)

    got, want = run(0.35), run(None)
    assert len(set(jnp.round(got[0], 3).tolist())) > a // 3   # the ops differ
    chex.assert_trees_all_close(got, want, rtol=1e-4, atol=1e-5)


def test_unbatched_tracing_keeps_plain_switches(data):
    """Under `archs_batched(False)` (the engines' arch_vmap 1) a checkpointed edge
    (`make_edge(remat=True)`, the cellnet spaces') is the plain checkpointed switch: no custom
    vmap rule in the program, same gradients."""
    x, w1, w3, r = data
    f = lambda x: jnp.sum(_remat_edge(x, 3, w1[0], w3[0]) * r[0])  # noqa: E731
    with edge_groups.archs_batched(False):
        plain = str(jax.make_jaxpr(jax.grad(f))(x[0]))
        g = jax.grad(f)(x[0])
    custom = str(jax.make_jaxpr(jax.grad(f))(x[0]))
    assert "custom_vmap" not in plain and "remat" in plain
    assert "custom_vmap" in custom and "remat" not in custom
    g0 = jax.grad(lambda x: jnp.sum(switch(x, 3, w1[0], w3[0]) * r[0]))(x[0])
    chex.assert_trees_all_close(g, g0, rtol=1e-6, atol=1e-6)
    assert edge_groups._archs_batched[0] is True   # restored


@pytest.mark.parametrize("op", range(5))
def test_nb201_unbatched_edge_keeps_the_conv_output(data, op):
    """NB201's conv edges are `Split`s in an edge without remat: one architecture at a time the
    backward pass recomputes BatchNorm from the kept conv output, never the convolution, and
    nothing is checkpointed; value and gradients equal the plain switch's."""
    x, w1, w3, r = data
    def f(e):   # two edges in a row, as in a cell
        return lambda x, w1, w3, op: jnp.sum(e(jnp.tanh(e(x, op, w1, w3)), op, w1, w3) * r[0])
    args = (x[0], w1[0], w3[0], jnp.int32(op))   # the op traced: the switches stay switches
    with edge_groups.archs_batched(False):
        got = jax.value_and_grad(f(_edge_op), argnums=(0, 1, 2))(*args)
        jaxpr = str(jax.make_jaxpr(jax.grad(f(_edge_op)))(*args))
        opts = Lowering.for_archs(1).compiler_options() or None   # XLA's own convolutions on the CPU
        convs = [len(re.findall(r"= \S+ convolution\(", jax.jit(jax.grad(f(e), argnums=(0, 1, 2))).lower(*args)
                                .compile(compiler_options=opts).as_text()))
                 for e in (_edge_op, _remat_edge)]
    want = jax.value_and_grad(f(switch), argnums=(0, 1, 2))(*args)
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-5)
    assert "remat" not in jaxpr and "custom_vjp" in jaxpr and "custom_vmap" not in jaxpr
    # each edge's 3x3 convolution (the 1x1 is a matmul): its forward and its input gradient;
    # checkpointed, the first edge's backward switch runs its forward again (XLA merges the
    # last edge's recomputation with its forward)
    assert convs == [4, 5], convs


def _vertex_data(c=4):
    k = jax.random.split(jax.random.PRNGKey(1), 4)
    x = jax.random.normal(k[0], (2, 5, 5, c))
    w = {"conv3": jax.random.normal(k[1], (3, 3, c, c)), "conv1": jax.random.normal(k[2], (1, 1, c, c)),
         "bn3": {"scale": jnp.full(c, 1.5), "bias": jnp.full(c, 0.1)},
         "bn1": {"scale": jnp.full(c, 0.5), "bias": jnp.full(c, -0.1)}, "m": jnp.arange(c) < c - 1}
    return x, w, jax.random.normal(k[3], x.shape)


def _cond_outputs(jaxpr) -> list:
    """The number of outputs of every `cond` in `jaxpr`, nested ones included, in order."""
    out = []
    for e in jaxpr.eqns:
        if e.primitive.name == "cond":
            out.append(len(e.outvars))
        for p in e.params.values():
            for q in (p if isinstance(p, (tuple, list)) else (p,)):
                inner = getattr(q, "jaxpr", None)
                if inner is not None:
                    out += _cond_outputs(getattr(inner, "jaxpr", inner))
    return out


@pytest.mark.parametrize("op", [0, 1, 2, 3])   # NB101's vertex: conv3x3, conv1x1, max pool (pre_grad), absent
def test_split_edge_matches_autodiff_and_keeps_one_intermediate(op):
    """An unbatched edge of `Split` branches computes what JAX's differentiation of the plain
    switch computes (value and gradients, the bool mask as data), while its forward switch
    returns only the output and the selected `pre`'s output (autodiff: every branch's
    intermediates)."""
    from spaces.nb101 import _vertex_op
    x, w, r = _vertex_data()

    def f(x, w):
        return jnp.sum(_vertex_op(x, op, w) * r)

    got = {}
    for mode in edge_groups.EDGE_VJPS:
        with edge_groups.archs_batched(False), edge_groups.use_edge_vjp(mode):
            grad = jax.jit(jax.value_and_grad(f, argnums=(0, 1), allow_int=True))
            got[mode] = grad(x, w)
            fwd = _cond_outputs(jax.make_jaxpr(grad)(x, w).jaxpr)[0]
        assert (fwd == 2) == (mode == "split"), (mode, fwd)
    strip = lambda t: jax.tree.map(lambda v: v if jnp.issubdtype(v.dtype, jnp.inexact) else None, t)  # noqa: E731
    chex.assert_trees_all_close(strip(got["split"]), strip(got["autodiff"]), rtol=1e-5, atol=1e-5)
    assert edge_groups._edge_vjp[0] == "split"    # restored


def test_split_composes_and_edge_vjp_rejects_unknown():
    s = edge_groups.Split(lambda x, a: x * a, lambda z, a: z + 1.0)
    assert float(s(jnp.float32(2.0), 3.0)) == 7.0
    with pytest.raises(ValueError, match="edge vjp must be one of"):
        with edge_groups.use_edge_vjp("checkpoint"):
            pass
