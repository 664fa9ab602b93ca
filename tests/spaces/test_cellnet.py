"""The DARTS-family cell network with the genotype as data (`spaces.cellnet`) against a literal
float64 build with fixed ops on the same weights (every op of every NDS op set, normal and
reduction cells, short concats, both skeletons), the init rescaling of padded concats, MACs and
parameter counts, and NB301: its 500 genotypes' parameter counts, formats, `eproxy score`."""
import gzip
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.nn import initializers, ops
from spaces import SpaceError, cellnet, load_space
from conftest import DATA

HERE = DATA.parent


# ------------------------------------------------------------------ a literal float64 build

def np_conv(x, w, stride=(1, 1), pad=(0, 0), dil=1):
    kh, kw = w.shape[:2]
    xp = np.pad(x, ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]), (0, 0)))
    ho = (x.shape[1] + 2 * pad[0] - dil * (kh - 1) - 1) // stride[0] + 1
    wo = (x.shape[2] + 2 * pad[1] - dil * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((x.shape[0], ho, wo, w.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dil: i * dil + stride[0] * (ho - 1) + 1: stride[0],
                       j * dil: j * dil + stride[1] * (wo - 1) + 1: stride[1], :]
            out += patch @ w[i, j]
    return out


def np_dw(x, w, stride, dil):
    """Depthwise conv, w [k, k, 1, c]: a block-diagonal full conv."""
    k, c = w.shape[0], w.shape[3]
    full = np.zeros((k, k, c, c))
    for ch in range(c):
        full[:, :, ch, ch] = w[:, :, 0, ch]
    p = dil * (k - 1) // 2
    return np_conv(x, full, (stride, stride), (p, p), dil)


def np_bn(x, p=None):
    m = x.mean(axis=(0, 1, 2))
    v = x.var(axis=(0, 1, 2))
    y = (x - m) / np.sqrt(v + 1e-5)
    return y if p is None else y * p["scale"] + p["bias"]


def relu(x):
    return np.maximum(x, 0)


def np_pool(x, k, stride, kind):
    p = (k - 1) // 2
    n, h, w, c = x.shape
    ho, wo = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
    out = np.zeros((n, ho, wo, c))
    for a in range(ho):
        for b in range(wo):
            r0, c0 = a * stride - p, b * stride - p
            win = x[:, max(r0, 0): r0 + k, max(c0, 0): c0 + k, :]
            out[:, a, b] = win.max(axis=(1, 2)) if kind == "max" else win.mean(axis=(1, 2))
    return out


def np_fr(x, w1, w2, bn):
    x = relu(x)
    a = np_conv(x, w1, (2, 2))
    xp = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:]
    b = np_conv(xp, w2, (2, 2))
    return np_bn(np.concatenate([a, b], -1), bn)


def np_op(name, p, x, stride, affine):
    bn = (lambda key: p[key]) if affine else (lambda key: None)
    if name == "none":
        return np.zeros_like(x[:, ::stride, ::stride])
    if name == "skip_connect":
        return x if stride == 1 else np_fr(x, p["fr1"], p["fr2"], bn("bn"))
    if name == "avg_pool_3x3":
        return np_pool(x, 3, stride, "avg")
    if name.startswith("max_pool"):
        return np_pool(x, int(name[-1]), stride, "max")
    if name.startswith(("sep_conv", "dil_sep_conv")):
        d = 2 if name.startswith("dil") else 1
        y = np_bn(np_conv(np_dw(relu(x), p["dw1"], stride, d), p["pw1"]), bn("bn1"))
        return np_bn(np_conv(np_dw(relu(y), p["dw2"], 1, d), p["pw2"]), bn("bn2"))
    if name.startswith("dil_conv"):
        return np_bn(np_conv(np_dw(relu(x), p["dw"], stride, 2), p["pw"]), bn("bn"))
    if name in ("conv_1x1", "conv_3x3"):
        k = int(name[-1])
        return np_bn(np_conv(relu(x), p["conv"], (stride, stride), ((k - 1) // 2,) * 2), bn("bn"))
    k = int(name[5])  # conv_3x1_1x3 / conv_7x1_1x7
    y = np_conv(relu(x), p["row"], (1, stride), (0, (k - 1) // 2))
    return np_bn(np_conv(y, p["col"], (stride, 1), ((k - 1) // 2, 0)), bn("bn"))


def edge_params(cell_params, group, name, e):
    """The weights of op `name` on edge `e` (real-shaped numpy)."""
    out = {}
    for key, node in cell_params[group].items():
        if key.startswith(name + "_") and key[len(name) + 1:] in cellnet.op_params(name, 4, 2):
            part = key[len(name) + 1:]
            out[part] = (np.asarray(node["kernel"][e], np.float64) if "kernel" in node
                         else {k: np.asarray(v[e], np.float64) for k, v in node.items()})
    return out


def np_network(params, images, genotype, net: cellnet.CellNet):
    """pycls' NetworkCIFAR / NetworkImageNet forward, op by op, real channel counts only."""
    P = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    x = np.asarray(images, np.float64)
    c = net.width
    if net.skeleton == "cifar":
        s0 = s1 = np_bn(np_conv(x, P["stem"]["kernel"], pad=(1, 1)), P["stem_bn"])
        real_pp = real_p = 3 * c
    else:
        s0 = np_bn(np_conv(x, P["stem0a"]["kernel"], (2, 2), (1, 1)), P["stem0a_bn"])
        s0 = np_bn(np_conv(relu(s0), P["stem0b"]["kernel"], (2, 2), (1, 1)), P["stem0b_bn"])
        s1 = np_bn(np_conv(relu(s0), P["stem1"]["kernel"], (2, 2), (1, 1)), P["stem1_bn"])
        real_pp = real_p = c
    feats = []
    for i, (cc, red, red_prev, _, _) in enumerate(net.plan()):
        cp = params[f"cell{i}"]
        Pc = P[f"cell{i}"]
        if red:
            feats.append(s1)
        if red_prev:
            t0 = np_fr(s0, Pc["pre0_fr1"]["kernel"][:, :, :real_pp], Pc["pre0_fr2"]["kernel"][:, :, :real_pp], Pc["pre0_bn"])
        else:
            t0 = np_bn(np_conv(relu(s0), Pc["pre0"]["kernel"][:, :, :real_pp]), Pc["pre0_bn"])
        t1 = np_bn(np_conv(relu(s1), Pc["pre1"]["kernel"][:, :, :real_p]), Pc["pre1_bn"])
        kind = "reduce" if red else "normal"
        states = [t0, t1]
        for node in range(net.n_nodes):
            acc = 0
            for e in (2 * node, 2 * node + 1):
                name, inp = genotype[kind][e]
                stride = 2 if red and inp < 2 else 1
                group = "ops_s2" if stride == 2 else "ops"
                acc = acc + np_op(name, edge_params(cp, group, name, e), states[inp], stride, net.affine_ops)
            states.append(acc)
        out = np.concatenate([states[j] for j in genotype[f"{kind}_concat"]], -1)
        s0, s1 = s1, out
        real_pp, real_p = real_p, out.shape[-1]
    feats.append(s1)
    return [f for f in reversed(feats)]


NDS_OPS = tuple(cellnet.ALL_OPS)


def all_op_genotypes(n_nodes=5):
    """Genotypes that together put every op on a cell-input edge (strided in reduction cells)
    and on a node-input edge, with full and short concats."""
    ops_ = list(NDS_OPS)
    out = []
    for start in range(0, len(ops_), n_nodes):
        chunk = (ops_ + ops_)[start: start + 2 * n_nodes]
        normal = [[chunk[e], (e % 2) if e < 2 else (e // 2 + 1) * (e % 2)] for e in range(2 * n_nodes)]
        short = start % 2 == 0
        reduce_ = [[chunk[-1 - e], e % 2 if short or e < 2 else (e // 2 + 1) * (e % 2)] for e in range(2 * n_nodes)]
        out.append({"normal": normal, "normal_concat": [3, 5] if short else list(range(2, 2 + n_nodes)),
                    "reduce": reduce_, "reduce_concat": [2, 4, 6] if short else [2, 3, 4, 5, 6]})
    return out


def _random_params(net, images, enc, seed=0):
    params = net.init(jax.random.PRNGKey(seed), images, enc)["params"]
    params = initializers.init_tree(jax.random.PRNGKey(seed + 1), params, 4)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map_with_path(
        lambda path, a: jnp.asarray(1.0 + 0.3 * rng.standard_normal(a.shape), jnp.float32) if path[-1].key == "scale"
        else (jnp.asarray(0.2 * rng.standard_normal(a.shape), jnp.float32) if path[-1].key == "bias" else a), params)


@pytest.fixture(scope="module")
def images():
    return jnp.asarray(np.random.default_rng(3).standard_normal((2, 16, 16, 3)), jnp.float32)


@pytest.mark.parametrize("skeleton", ["cifar", "imagenet"])
def test_network_equals_fixed_op_build(images, skeleton):
    n_nodes = 5
    net = cellnet.CellNet(NDS_OPS, n_nodes, 4, 3, True, skeleton, 4)
    genos = all_op_genotypes(n_nodes)
    encs = [cellnet.encode_genotype(g["normal"], g["normal_concat"], g["reduce"], g["reduce_concat"], NDS_OPS, n_nodes)
            for g in genos]
    params = _random_params(net, images, jnp.asarray(encs[0]))
    apply = jax.jit(lambda p, e: net.apply({"params": p}, images, e))
    for g, e in zip(genos, encs):
        feats = apply(params, jnp.asarray(e))
        want = np_network(params, images, g, net)
        for got, ref in zip(feats, want):
            got = np.asarray(got, np.float64)
            real = ref.shape[-1]
            ref = np.asarray(ops.resize_nearest(jnp.asarray(ref), 4))
            chex.assert_trees_all_close(got[..., :real], ref, rtol=2e-3, atol=2e-3 * max(1.0, np.abs(ref).max()))
            assert not got[..., real:].any()   # the concat's unused slots are exactly zero
        assert np.abs(want[0]).max() > 0.1
    assert apply._cache_size() == 1   # genotypes are data: one program


def test_nb301_network_equals_fixed_op_build(images):
    sp = load_space("nb301", width=4, depth=4, input_size=16)
    enc, _ = sp.load_truth("cifar10")
    net = sp.module()
    assert not net.affine_ops and sp.feature_channels == (64, 32, 16)
    params = _random_params(net, images, jnp.asarray(enc[0]), seed=4)
    apply = jax.jit(lambda p, e: net.apply({"params": p}, images, e))
    for e in enc[:3]:
        want = np_network(params, images, sp.genotype(e), net)
        for got, ref in zip(apply(params, jnp.asarray(e)), want):
            ref = np.asarray(ops.resize_nearest(jnp.asarray(ref), 4))
            chex.assert_trees_all_close(np.asarray(got, np.float64), ref, rtol=2e-3, atol=2e-3 * max(1.0, np.abs(ref).max()))


def test_padded_concat_inits_rescaled_to_real_fan_in(images):
    n_nodes = 5
    net = cellnet.CellNet(NDS_OPS, n_nodes, 4, 3, True, "cifar", 4)
    g = all_op_genotypes(n_nodes)[0]          # normal concat of 2 of 5 nodes, reduce of 3
    e = jnp.asarray(cellnet.encode_genotype(g["normal"], g["normal_concat"], g["reduce"], g["reduce_concat"], NDS_OPS, n_nodes))
    params = net.init(jax.random.PRNGKey(0), images, e)["params"]
    for scheme in range(5):
        p0 = initializers.init_tree(jax.random.PRNGKey(1), params, scheme)
        p1 = jax.jit(net.adapt_params, static_argnums=2)(p0, e, scheme)
        # cell 1 (reduction) reads cell 0 (normal: 2 of 5 slots of 4 channels) through pre1
        for cell, name, real, padded, c_out in (("cell1", "pre1", 8, 20, 8), ("cell2", "pre1", 24, 40, 16),
                                                ("cell2", "pre0_fr1", 8, 20, 8)):
            ratio = np.asarray(p1[cell][name]["kernel"]) / np.asarray(p0[cell][name]["kernel"])
            want = initializers._gains(real, c_out)[scheme][0] / initializers._gains(padded, c_out)[scheme][0]
            np.testing.assert_allclose(ratio, want, rtol=1e-5)
        np.testing.assert_array_equal(p1["cell0"]["pre1"]["kernel"], p0["cell0"]["pre1"]["kernel"])  # reads the stem
    # heads: the deepest feature is cell 2's (reduction: 3 of 5 slots of 16), the next cell 0's (2 of 5 of 4)
    heads = tuple({"conv": {"kernel": jnp.ones((3, 3, c, 8)), "bias": jnp.ones((8,))}, "bn": {}} for c in (80, 40, 20))
    got = net.adapt_heads(heads, e, initializers.PYTORCH_DEFAULT)
    for h, (padded, real) in zip(got, ((80, 48), (40, 24), (20, 8))):
        np.testing.assert_allclose(np.asarray(h["conv"]["kernel"]), np.sqrt(padded / real), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(h["conv"]["bias"]), np.sqrt(padded / real), rtol=1e-5)


def test_macs_and_params_count_the_literal_build():
    """MACs: counted op by op for a hand-checked tiny genotype; params: the module's real slices."""
    net = cellnet.CellNet(("skip_connect", "sep_conv_3x3", "conv_1x1"), 1, 4, 3, True, "cifar", 4)
    g = {"normal": [["sep_conv_3x3", 0], ["conv_1x1", 1]], "normal_concat": [2],
         "reduce": [["skip_connect", 0], ["skip_connect", 1]], "reduce_concat": [2]}
    e = cellnet.encode_genotype(g["normal"], g["normal_concat"], g["reduce"], g["reduce_concat"], net.op_names, 1)
    h = 16
    stem = h * h * 3 * 12 * 9
    cell0 = h * h * 12 * 4 * 2 + 2 * (h * h * 4 * 9 + h * h * 16) + h * h * 16       # pre0, pre1, sep3, conv1x1
    cell1 = h * h * 12 * 8 + h * h * 4 * 8 + 2 * (8 * 8 * 8 * 8)                       # pre0, pre1 (4 real), 2 FR skips
    cell2 = 8 * 8 * 4 * 16 + 8 * 8 * 8 * 16 + 2 * (4 * 4 * 16 * 16)                    # pre0 is a FR (reads cell0)
    got = cellnet.analytic_macs(e, net.op_names, 1, 4, 3, "cifar", 16)
    assert got == stem + cell0 + cell1 + cell2
    params = cellnet.analytic_params(e, net.op_names, 1, 4, 3, True, 10)
    want = (27 * 12 + 24) + (12 * 4 + 8 + 12 * 4 + 8 + 2 * (9 * 4 + 16 + 8) + (16 + 8)) \
        + (12 * 8 + 16 + 4 * 8 + 16 + 2 * (8 * 8 + 16)) + (4 * 16 + 32 + 8 * 16 + 32 + 2 * (16 * 16 + 32)) + 16 * 10 + 10
    assert params == want


# ------------------------------------------------------------------ NB301

def test_nb301_parameter_counts_match_the_benchmark():
    """Built as NAS-Bench-301's training network (width 32, 8 cells, ops' BN affine-free, no
    auxiliary head), every one of the 500 genotypes has the table's parameter count (< 1%)."""
    sp = load_space("nb301")
    with gzip.open(HERE / "data" / "nb301_params.json.gz", "rt") as f:
        rows = json.load(f)
    enc = sp.encode_many([a for a, _ in rows])
    want = np.asarray([v for _, v in rows])
    got = sp.train_param_count(enc)
    assert len(rows) == 500
    assert np.abs(got / want - 1).max() < 0.01
    # swapping two op ids (e.g. sep_conv_3x3 <-> dil_conv_5x5) breaks it: the check settles the convention
    swapped = enc.copy()
    ops_view = swapped.reshape(500, 2, 20)[:, :, :16].reshape(500, 2, 8, 2)[..., 1]
    a, b = ops_view == 3, ops_view == 6
    ops_view[a], ops_view[b] = 6, 3
    swapped.reshape(500, 2, 20)[:, :, :16] = np.concatenate(
        [swapped.reshape(500, 2, 20)[:, :, :16].reshape(500, 2, 8, 2)[..., :1], ops_view[..., None]], -1).reshape(500, 2, 16)
    assert np.abs(sp.train_param_count(swapped) / want - 1).max() > 0.05


def test_nb301_formats_and_errors():
    sp = load_space("nb301")
    enc, acc = sp.load_truth("cifar10")
    assert enc.shape == (500, 40) and 90 < acc.mean() < 96
    s = sp.arch_id(enc[0])
    np.testing.assert_array_equal(sp.parse(s), enc[0])
    np.testing.assert_array_equal(sp.parse(json.loads(s.replace("(", "[").replace(")", "]"))), enc[0])
    np.testing.assert_array_equal(sp.parse(sp.genotype(enc[0])), enc[0])
    g = sp.genotype(enc[0])
    assert g["normal_concat"] == [2, 3, 4, 5] and len(g["normal"]) == 8
    for bad in ("[[(0, 9)] * 8, [(0, 1)] * 8]", "[[(0, 1)] * 7, [(0, 1)] * 8]", "[[(3, 1)] + [(0, 1)] * 7, [(0, 1)] * 8]",
                "not a genotype", 17, {"normal": []}):
        with pytest.raises(SpaceError):
            sp.parse(eval(bad) if isinstance(bad, str) and bad.startswith("[[") else bad)
    with pytest.raises(SpaceError):
        sp.check_encodings(np.full((1, 40), 9, np.int32))
    assert sp.macs(enc[:2]).shape == (2,) and sp.max_macs >= sp.macs(enc).max()


def test_cli_scores_nb301(tmp_path):
    from conftest import run_cli as run
    setting = tmp_path / "s.json"
    setting.write_text(json.dumps({"c_out": [8, 8, 8], "c_last": [8, 8, 8]}))
    r = run(["score", "nb301", "--limit", "8", "--chunk", "4", "--setting", str(setting), "--space-option", "width=4",
             "--space-option", "depth=3", "--space-option", "input_size=16", "--json", "--quiet",
             "--out", str(tmp_path / "r.csv")], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "nb301" and res["n"] == 8 and res["diverged"] == 0 and res["programs"] == 1
    assert isinstance(res["spearman"], float)


def test_repeat_runs():
    assert cellnet.repeat_runs(8) == {} and cellnet.repeat_runs(9) == {}   # runs of one cell stay written out
    assert cellnet.repeat_runs(9, 1) == {2: 3, 5: 6, 8: 9}
    assert cellnet.repeat_runs(12) == {2: 4, 6: 8, 10: 12}
    assert cellnet.repeat_runs(20) == {2: 6, 8: 13, 15: 20}
    for d in (6, 11, 20):   # a run holds alike cells only: normal, neither of a stage's first (one or) two
        for a, b in cellnet.repeat_runs(d, 1).items():
            for stage, k in cellnet.stage_slots(d)[a:b]:
                assert k >= (2 if stage == 0 else 1)


@pytest.mark.parametrize("masked", [False, True])
def test_alike_cells_loop_as_written_out(masked):
    """Depth 12: each stage's last two normal cells run as one looped cell over their stacked
    parameters; the features and the gradients equal the cells written out (same parameter
    tree), also when masked depth skips cells inside a loop; depth 18 lowers to no larger a program."""
    ops_ = ("none", "skip_connect", "max_pool_3x3", "sep_conv_3x3")
    images = jnp.asarray(np.random.default_rng(5).standard_normal((2, 8, 8, 3)), jnp.float32)
    inputs = (0, 1, 1, 2, 0, 3, 2, 4)
    normal = [[ops_[(i + 1) % 4], inp] for i, inp in enumerate(inputs)]
    reduce_ = [[ops_[(i + 2) % 4], inp] for i, inp in enumerate(inputs)]
    enc = cellnet.encode_genotype(normal, [3, 5], reduce_, [2, 4, 5], ops_, 4)
    enc = jnp.asarray(np.concatenate([enc, [4, 10 if masked else 12]]), jnp.int32)   # real depth 10: cells skipped

    def net(depth, loop_min=2):
        return cellnet.CellNet(ops_, 4, 4, depth, True, "cifar", 2, masked_depth=masked, loop_min=loop_min)

    looped, written = net(12), net(12, 10 ** 6)
    params = _random_params(looped, images, enc, seed=2)
    assert params.keys() == written.init(jax.random.PRNGKey(0), images, enc)["params"].keys()

    def loss(n):
        return lambda p: sum(jnp.sum(jnp.sin(3 * f)) for f in n.apply({"params": p}, images, enc))
    (got, grads), (want, grads_w) = [jax.jit(jax.value_and_grad(loss(n)))(params) for n in (looped, written)]
    chex.assert_trees_all_close(got, want, rtol=1e-5)
    chex.assert_trees_all_close(grads, grads_w, rtol=1e-4, atol=1e-5)
    assert float(jnp.abs(grads["cell11"]["pre1"]["kernel"]).max()) > 0
    if masked:   # real depth 10: cells 3 and 7, each the second of a loop, pass through and learn nothing
        for i in (3, 7):
            assert not any(jnp.abs(a).any() for a in jax.tree_util.tree_leaves(grads[f"cell{i}"]))
        assert jnp.abs(grads["cell6"]["pre0"]["kernel"]).any()

    if masked:
        return

    def size(n):   # lines of the lowered program: what XLA compiles
        p = jax.eval_shape(lambda: n.init(jax.random.PRNGKey(0), images, enc)["params"])
        return jax.jit(lambda p: n.apply({"params": p}, images, enc)).lower(p).as_text().count("\n")
    sizes = size(looped), size(net(18)), size(net(18, 10 ** 6))   # 9, 9 and 18 cells traced
    assert sizes[1] < 1.1 * sizes[0] and sizes[2] > 1.5 * sizes[1], sizes
