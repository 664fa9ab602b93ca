"""NB101: specs (parse, prune, encode), the benchmark's vertex-channel rule, the masked
architecture-as-data network against a literal exact-width build on the same weights, the
init rescaling to real fans, and `eproxy score nb101` end to end."""
import csv
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.nn import initializers, ops
from spaces import SpaceError, load_space, nb101

TINY = {"stem_channels": 4, "cells_per_stack": 2, "input_size": 16}


@pytest.fixture(scope="module")
def space():
    return load_space("nb101", **TINY)


@pytest.fixture(scope="module")
def table(space):
    return space.load_truth("cifar10")


def literal_vertex_channels(c_in, c_out, matrix):
    """NAS-Bench-101's compute_vertex_channels, transcribed loop for loop."""
    n = len(matrix)
    vc = [0] * n
    vc[0], vc[n - 1] = c_in, c_out
    if n == 2:
        return vc
    in_degree = np.sum(matrix[1:], axis=0)
    interior, correction = c_out // in_degree[n - 1], c_out % in_degree[n - 1]
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            vc[v] = interior
            if correction:
                vc[v] += 1
                correction -= 1
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    vc[v] = max(vc[v], vc[dst])
        assert vc[v] > 0
    return vc


def test_specs_round_trip_and_pruning(space, table):
    encs, acc = table
    assert encs.shape == (2500, 54) and 0.05 < acc.min() < acc.max() < 1.0
    for e in encs[:300]:
        np.testing.assert_array_equal(space.parse(space.arch_id(e)), e)
        np.testing.assert_array_equal(space.parse(json.loads(space.arch_id(e))), e)
    # a dangling vertex (not on an input->output path) is pruned away, as the benchmark does
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    pruned = space.parse([m, ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]])
    direct = space.parse([[[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"]])
    np.testing.assert_array_equal(pruned, direct)
    for bad, needle in [
        ([[[0, 0], [0, 0]], ["input", "output"]], "not reachable"),
        ([[[0, 1], [1, 0]], ["input", "output"]], "upper-triangular"),
        ([[[0, 1], [0, 0]], ["input", "conv5x5", "output"]], "one op per vertex"),
        ([[[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"]], "unknown NB101 op"),
        ([[[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["conv3x3-bn-relu", "maxpool3x3", "output"]], "start with 'input'"),
        ("[[0,1", "not JSON"),
    ]:
        with pytest.raises(SpaceError, match=needle):
            space.parse(bad)


def test_vertex_channels_match_the_benchmark(table):
    encs, _ = table
    for e in encs[::5]:
        m, _names = nb101.encoding_to_spec(e)
        adj = e[:49].reshape(7, 7)
        for c in (128, 256, 512, 16):
            want = literal_vertex_channels(c // 2, c, m)[1:-1]
            got = nb101.vertex_channels(adj, c, xp=np)
            traced = np.asarray(nb101.vertex_channels(jnp.asarray(adj), c))
            real = [got[i - 1] for i in range(1, 6) if e[49 + i - 1] != nb101.ABSENT]
            assert real == want and list(traced) == list(got)


def _conv_bn_relu(x, w, bn, c):
    y = ops.conv2d(x, w)
    return jax.nn.relu(ops.batch_norm(y, bn["scale"][..., :c], bn["bias"][..., :c]))


def literal_cell(x0, matrix, names, p, c):
    """One NB101 module at exact widths, transcribed from the benchmark's build_module, on the
    real corners of the padded parameters `p`."""
    n = len(matrix)
    c_in = x0.shape[-1]
    vc = literal_vertex_channels(c_in, c, matrix)
    slot = lambda tree, i: jax.tree_util.tree_map(lambda a: a[i], tree)  # noqa: E731
    tensors, concat = [x0], []
    for t in range(1, n - 1):
        w = vc[t]
        add = [tensors[src][..., :w] for src in range(1, t) if matrix[src, t]]
        if matrix[0, t]:
            add.append(_conv_bn_relu(x0, p["proj"]["kernel"][t - 1][..., :w], slot(p["bnp"], t - 1), w))
        inp = sum(add[1:], add[0])
        if names[t] == "conv3x3-bn-relu":
            out = _conv_bn_relu(inp, p["conv3"]["kernel"][t - 1][:, :, :w, :w], slot(p["bn3"], t - 1), w)
        elif names[t] == "conv1x1-bn-relu":
            out = _conv_bn_relu(inp, p["conv1"]["kernel"][t - 1][:, :, :w, :w], slot(p["bn1"], t - 1), w)
        else:
            out = nb101.max_pool_same(inp, 3, 1)
        tensors.append(out)
        if matrix[t, n - 1]:
            concat.append(out)
    proj = lambda: _conv_bn_relu(x0, p["out_proj"]["kernel"], p["bno"], c)  # noqa: E731
    if not concat:
        return proj()
    out = jnp.concatenate(concat, -1)
    return out + proj() if matrix[0, n - 1] else out


def literal_net(images, matrix, names, params, space):
    c = space.stem_channels
    x = jax.nn.relu(ops.batch_norm(ops.conv2d(images, params["stem"]["kernel"]), params["stem_bn"]["scale"],
                                   params["stem_bn"]["bias"]))
    feats = []
    for s in range(space.stacks):
        if s > 0:
            x = nb101.max_pool_same(x, 2, 2)
            c *= 2
        x = literal_cell(x, matrix, names, params[f"stack{s}_first"], c)
        for i in range(space.cells_per_stack - 1):
            x = literal_cell(x, matrix, names, jax.tree_util.tree_map(lambda a: a[i], params[f"stack{s}"]["cell"]), c)
        feats.append(ops.resize_nearest(x, space.target_size))
    return tuple(reversed(feats))


def test_masked_network_equals_exact_build(space, table):
    encs, _ = table
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 16, 16, 3)), jnp.float32)
    # parameters shifted by 0.05 below: BN shifts too, padded channels must stay 0
    # every op, pruned cells (5 and 6 vertices), the input->output projection, an output fed by one vertex
    picks = [i for i, e in enumerate(encs) if (e[49:] == nb101.ABSENT).sum() >= 1][:3]
    picks += [i for i, e in enumerate(encs) if e[6] == 1][:3]
    picks += list(range(4))

    def truncates(e, c):  # an interior edge from a wider vertex into a narrower one
        adj, vc = e[:49].reshape(7, 7), nb101.vertex_channels(e[:49].reshape(7, 7), c, xp=np)
        return any(adj[s, t] and vc[s - 1] > vc[t - 1] for s in range(1, 6) for t in range(s + 1, 6))
    trunc = [i for i, e in enumerate(encs) if truncates(e, 16)][:2]
    assert trunc, "the table has cells whose vertices truncate their inputs"
    picks += trunc
    only_io = space.parse([[[0, 1], [0, 0]], ["input", "output"]])
    chain = space.parse([[[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]])
    cells = [encs[i] for i in picks] + [only_io, chain]
    # each cell in its own shape bucket (narrow vertices) and in bucket 1 (full width)
    for bucket in sorted(set(space.bucket_of(np.stack(cells)).tolist())) + [1]:
        bnet = space.module(bucket)
        bshapes = jax.eval_shape(lambda: bnet.init(jax.random.PRNGKey(0), x, jnp.asarray(encs[0])))["params"]
        bparams = jax.tree_util.tree_map(lambda a: a + 0.05, initializers.init_tree(
            jax.random.PRNGKey(1), bshapes, initializers.PYTORCH_DEFAULT))
        apply = jax.jit(lambda p, e: bnet.apply({"params": p}, x, e))
        for e in cells:
            if bucket != 1 and space.bucket_of(e[None])[0] != bucket:
                continue
            m, names = nb101.encoding_to_spec(e)
            got = apply(bparams, jnp.asarray(e))
            want = literal_net(x, m, names, bparams, space)
            for g, w in zip(got, want):
                # float32 sums in another order, then BatchNorm over few pixels: ~1e-4 apart;
                # a wrong channel split or a leaked padded channel is off by O(1)
                np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("seed", range(4))
def test_output_concatenation_is_exact_and_its_gradient_a_slice(seed):
    """`_concat_feeders` puts the feeding vertices' real channels side by side, bit for bit,
    and routes the gradient back to exactly those channels (non-feeders and tails get 0)."""
    rng = np.random.default_rng(seed)
    c, k = 12, int(rng.integers(1, 6))
    wv = nb101.vertex_width(c, k)
    feeds = np.zeros(5, np.int32)
    feeds[rng.choice(5, k, replace=False)] = 1
    vc = np.where(feeds > 0, c // k + (np.cumsum(feeds) - feeds < c % k), rng.integers(1, wv + 1, 5)).astype(np.int32)
    outs = [np.where(np.arange(wv) < vc[t], rng.standard_normal((2, 3, 3, wv)), 0.0).astype(np.float32) for t in range(5)]
    want = np.concatenate([outs[t][..., :vc[t]] for t in range(5) if feeds[t]], axis=-1)
    f = jax.jit(lambda o, fd, v: nb101._concat_feeders(o, fd, v, c))
    np.testing.assert_array_equal(np.asarray(f(outs, feeds, vc)), want)
    g = rng.standard_normal(want.shape).astype(np.float32)
    grads = jax.grad(lambda o: jnp.vdot(f(o, feeds, vc), g))(outs)
    off = 0
    for t in range(5):
        expect = np.zeros_like(outs[t])
        if feeds[t]:
            expect[..., :vc[t]] = g[..., off:off + vc[t]]
            off += vc[t]
        np.testing.assert_array_equal(np.asarray(grads[t]), expect)


def test_initial_weights_rescaled_to_real_fans(space, table):
    encs, _ = table
    e = encs[7]
    for bucket in (1, int(space.bucket_of(e[None])[0])):   # full width and the cell's own bucket
        net = space.module(bucket)
        x = jnp.zeros((2, 16, 16, 3))
        shapes = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), x, jnp.asarray(encs[0])))["params"]
        scheme = initializers.PYTORCH_DEFAULT   # U(+-1/sqrt(fan_in))
        params = initializers.init_tree(jax.random.PRNGKey(2), shapes, scheme)
        adapted = net.adapt_params(params, jnp.asarray(e), scheme)
        vc = nb101.vertex_channels(e[:49].reshape(7, 7), 16, xp=np)
        for t in range(5):
            if e[49 + t] == nb101.ABSENT:
                continue
            w = np.asarray(adapted["stack2_first"]["conv3"]["kernel"][t])[:, :, :vc[t], :vc[t]]
            bound = 1 / np.sqrt(9 * vc[t])
            assert np.abs(w).max() <= bound * (1 + 1e-5) and np.abs(w).max() > 0.8 * bound, (bucket, t)
        # the stem and the output projection have their real fans already: untouched
        np.testing.assert_array_equal(adapted["stem"]["kernel"], params["stem"]["kernel"])
        np.testing.assert_array_equal(adapted["stack1"]["cell"]["out_proj"]["kernel"],
                                      params["stack1"]["cell"]["out_proj"]["kernel"])


def test_macs_of_a_known_cell():
    sp = load_space("nb101", stem_channels=4, stacks=1, cells_per_stack=1, input_size=8)
    e = sp.parse([[[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"]])
    # stem 3->4 3x3; cell (c_in 4, c 4): projection 4->4 into the conv, conv3x3 4->4, output projection 4->4
    want = 64 * 4 * 3 * 9 + 64 * 4 * 4 + 64 * 4 * 4 * 9 + 64 * 4 * 4
    assert sp.macs(e[None])[0] == want


def test_param_count_of_the_benchmarks_example_cell():
    """NAS-Bench-101's own example cell has trainable_parameters 8,555,530 in the benchmark's
    records; the analytic count at the benchmark's size must give exactly that."""
    m = [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7]
    names = ["input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu",
             "output"]
    sp = load_space("nb101")
    assert sp.param_count(sp.parse([m, names])[None]).tolist() == [8555530]


def test_cli_scores_nb101_one_program_per_bucket(tmp_path):
    """`eproxy score nb101 --limit N --json` on the CPU: cells of different shapes, several
    chunks, one scoring program per shape bucket used, nothing compiled per cell."""
    from conftest import run_cli as run
    setting = tmp_path / "s.json"
    setting.write_text(json.dumps({"c_out": [8, 8, 8], "c_last": [8, 8, 8]}))
    out = tmp_path / "r.csv"
    r = run(["score", "nb101", "--limit", "12", "--chunk", "2", "--setting", str(setting), "--space-option",
             "stem_channels=4", "--space-option", "cells_per_stack=1", "--space-option", "input_size=16",
             "--json", "--out", str(out)], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "nb101" and res["dataset"] == "cifar10" and res["n"] == 12 and res["diverged"] == 0
    assert isinstance(res["spearman"], float) and isinstance(res["ms_per_arch"], float)
    sp = load_space("nb101", stem_channels=4, cells_per_stack=1, input_size=16)
    with open(out) as f:
        ids = [row["arch"] for row in csv.DictReader(ln for ln in f if not ln.startswith("#"))]
    buckets = set(sp.bucket_of(np.stack([sp.parse(a) for a in ids])).tolist())
    assert len(ids) == 12 and res["programs"] == len(buckets) > 1
    # the first wait is never silent: one line before each program is built
    said = [ln.split("compiling program ")[1].split(" ")[0] for ln in r.stderr.splitlines() if "compiling program" in ln]
    assert said == [f"{i}/{len(buckets)}" for i in range(1, len(buckets) + 1)], r.stderr
    # each bucket: its context preparation and its scoring program, plus a few tiny helpers
    assert res["compiles"] <= 2 * len(buckets) + 4 < 12, res["compiles"]


def test_vmapped_cells_grouped_equal_every_op(table):
    """Vmapped over cells (the accelerator path), the vertex ops and the input projections
    run only for the cells that use them (`eproxy_jax.nn.edge_groups`): the features and every
    parameter's gradient equal those of the plain vmapped switch, which computes every op
    for every cell. The cells cover conv3x3 / conv1x1 / maxpool vertices, absent slots,
    projections into vertices and onto the output, and an output fed by the input alone."""
    from eproxy_jax.nn import edge_groups
    sp = load_space("nb101", stem_channels=4, stacks=1, cells_per_stack=1, input_size=8)   # one cell: compile time
    encs, _ = table
    only_io = sp.parse([[[0, 1], [0, 0]], ["input", "output"]])
    cells = np.stack(list(encs[:9]) + [only_io])
    assert (cells[:, 49:] == nb101.ABSENT).any() and cells[:, 6].any() and cells[:, 1:6].any()
    net = sp.module(1)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 8, 8, 3)), jnp.float32)
    shapes = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), x, jnp.asarray(cells[0])))["params"]
    keys = jax.random.split(jax.random.PRNGKey(1), len(cells))
    params = jax.vmap(lambda k: jax.tree_util.tree_map(lambda a: a + 0.05, initializers.init_tree(
        k, shapes, initializers.PYTORCH_DEFAULT)))(keys)

    def loss(p, e):
        return sum(jnp.sum(jnp.sin(f)) for f in net.apply({"params": p}, x, e))

    def run(cap):
        old = edge_groups.capacity()
        edge_groups.set_capacity(cap)
        try:
            return jax.jit(jax.vmap(jax.value_and_grad(loss)))(params, jnp.asarray(cells))
        finally:
            edge_groups.set_capacity(old)

    grouped = run(0.35)
    every_op = run(None)
    fwd = str(jax.make_jaxpr(jax.vmap(loss))(params, jnp.asarray(cells)))
    # one grouped loop per (vertex, conv op), per vertex input projection, for the output projection
    assert fwd.count("while[") == 5 * 2 + 5 + 1
    assert len(set(np.round(np.asarray(grouped[0]), 3).tolist())) == len(cells)   # the cells differ
    # float32 sums in another order through BatchNorm over few pixels: ~1e-4 apart; a cell
    # given another cell's op or projection is off by O(1)
    jax.tree_util.tree_map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4), grouped, every_op)


def test_vertex_conv3x3_by_winograd_from_16_px():
    """A vertex's 3x3 convolution (scoring version 9): Winograd's F(4x4, 3x3) on maps of 16x16
    and more whose sides divide by 4, F(2x2, 3x3) on other even sides, the direct convolution
    below 16x16, each bit for bit, the real channels masked."""
    from eproxy_jax.nn import winograd
    pre = jax.jit(nb101._vertex_conv("conv3"))
    k = jax.random.normal(jax.random.PRNGKey(0), (3, 3, 4, 4))
    m = jnp.arange(4) < 3
    km = k * (m[:, None] * m[None, :]).astype(k.dtype)
    f43, f23 = (functools.partial(winograd.conv3x3, tile=t) for t in (4, 2))
    for size, conv in ((16, f43), (18, f23), (8, ops.conv2d)):
        x = jax.random.normal(jax.random.PRNGKey(size), (2, size, size, 4))
        np.testing.assert_array_equal(pre(x, {"conv3": k, "m": m}), jax.jit(conv)(x, km))
