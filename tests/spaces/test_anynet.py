"""NDS AnyNet spaces (ResNet, ResNeXt-A/B and -in): records (both key spellings, the authors'
conventions), the padded/masked network against a literal float64 build of pycls' AnyNet at
the real widths, depths and groups on the same weights, init rescaling, the program budget,
counts, and `eproxy score` end to end."""
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.nn import initializers, ops
from spaces import SpaceError, anynet, load_space
from test_cellnet import _random_params, np_bn, np_conv, relu
from conftest import DATA

NDS = DATA / "nds"


def np_grouped(x, w_dense, wb, gw, stride):
    """A grouped 3x3 conv (groups = wb / gw) from the real block-diagonal part of a dense kernel."""
    out = []
    for g in range(wb // gw):
        sl = slice(g * gw, (g + 1) * gw)
        out.append(np_conv(x[..., sl], w_dense[:, :, sl, sl], (stride, stride), (1, 1)))
    return np.concatenate(out, -1)


def np_block(p, x, w_in, w, wb, gw, stride, bottleneck):
    """pycls ResBasicBlock / ResBottleneckBlock at real widths (weights sliced from padded)."""
    bn = lambda y, name: np_bn(y, {k: np.asarray(v, np.float64)[: y.shape[-1]] for k, v in p[name].items()})  # noqa: E731
    k = lambda name: np.asarray(p[name]["kernel"], np.float64)  # noqa: E731
    if bottleneck:
        a = relu(bn(np_conv(x, k("a")[:, :, :w_in, :wb]), "a_bn"))
        b = relu(bn(np_grouped(a, k("b"), wb, gw, stride), "b_bn"))
        f = bn(np_conv(b, k("c")[:, :, :wb, :w]), "c_bn")
    else:
        a = relu(bn(np_conv(x, k("a")[:, :, :w_in, :w], (stride, stride), (1, 1)), "a_bn"))
        f = bn(np_conv(a, k("b")[:, :, :w, :w], pad=(1, 1)), "b_bn")
    if w_in != w or stride != 1:
        short = bn(np_conv(x, k("proj")[:, :, :w_in, :w], (stride, stride)), "proj_bn")
    else:
        short = x
    return relu(short + f)


def np_anynet(params, images, enc, net):
    P = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    x = np.asarray(images, np.float64)
    k, s = (3, 1) if net.stem == "res_stem_cifar" else ((3, 2) if net.stem == "simple_stem_in" else (7, 2))
    x = relu(np_bn(np_conv(x, P["stem"]["kernel"], (s, s), ((k - 1) // 2,) * 2), P["stem_bn"]))
    feats, w_in = [], net.stem_w
    for i, (d, w, stride, wb, gw) in enumerate(anynet.stages_of(enc)):
        for b in range(d):
            if b == 0:
                p = P[f"s{i}_b0"]
            else:
                p = jax.tree_util.tree_map(lambda a: a[b - 1], P[f"s{i}_rest"]["block"])
            x = np_block(p, x, w_in, w, wb, gw, stride if b == 0 else 1, net.bottleneck)
            w_in = w
        feats.append(x)
    return list(reversed(feats[-3:]))


@pytest.mark.parametrize("name", ["nds-resnet", "nds-resnext-b-in"])
def test_network_equals_literal_build(name):
    sp = load_space(name, input_size=16, max_programs=1)
    enc, _ = sp.load_truth(path=NDS / anynet.FAMILIES[name][2])
    buckets = sp.bucket_of(enc)
    assert len(set(buckets.tolist())) == 1
    net = sp.module(int(buckets[0]))
    images = jnp.asarray(np.random.default_rng(2).standard_normal((2, 16, 16, 3)), jnp.float32)
    params = _random_params(net, images, jnp.asarray(enc[0]), 3)
    apply = jax.jit(lambda p, e: net.apply({"params": p}, images, e))
    for e in enc[:4]:
        want = np_anynet(params, images, e, net)
        for got, ref in zip(apply(params, jnp.asarray(e)), want):
            got = np.asarray(got, np.float64)
            real = ref.shape[-1]
            ref = np.asarray(ops.resize_nearest(jnp.asarray(ref), sp.target_size))
            chex.assert_trees_all_close(got[..., :real], ref, rtol=2e-3, atol=2e-3 * max(1.0, np.abs(ref).max()))
            assert not got[..., real:].any()
        assert np.abs(want[0]).max() > 0.1
    assert apply._cache_size() == 1


def test_init_rescaled_to_real_fans():
    sp = load_space("nds-resnext-a", input_size=16, max_programs=1)
    enc, _ = sp.load_truth(path=NDS / "ResNeXt-A.json")
    net = sp.module(int(sp.bucket_of(enc)[0]))
    e = enc[0]
    d, w, _, wb, gw = anynet.stages_of(e)[1]
    images = jnp.zeros((2, 16, 16, 3))
    p0 = initializers.init_tree(jax.random.PRNGKey(0), net.init(jax.random.PRNGKey(0), images, jnp.asarray(e))["params"], 4)
    p1 = net.adapt_params(p0, jnp.asarray(e), 4)   # PyTorch default: scale 1/sqrt(fan_in)
    r = np.asarray(p1["s1_b0"]["b"]["kernel"]) / np.asarray(p0["s1_b0"]["b"]["kernel"])
    wpad = net.bwidths[1]
    np.testing.assert_allclose(r, np.sqrt(9 * wpad / (9 * gw)), rtol=1e-5)   # grouped: fan-in = 9 x group width
    w_prev = anynet.stages_of(e)[0][1]
    r = np.asarray(p1["s1_b0"]["a"]["kernel"]) / np.asarray(p0["s1_b0"]["a"]["kernel"])
    np.testing.assert_allclose(r, np.sqrt(net.widths[0] / w_prev), rtol=1e-5)
    heads = tuple({"conv": {"kernel": jnp.ones((1, 1, c, 8)), "bias": jnp.ones((8,))}, "bn": {}}
                  for c in reversed(net.widths))
    for h, (_, wr, _, _, _) in zip(net.adapt_heads(heads, jnp.asarray(e), 4), reversed(anynet.stages_of(e))):
        c = h["conv"]["kernel"].shape[2]
        np.testing.assert_allclose(np.asarray(h["conv"]["kernel"]), np.sqrt(c / wr), rtol=1e-5)


def test_records_conventions_and_errors():
    sp = load_space("nds-resnet")
    e = sp.parse({"net": {"block_type": "res_basic_block", "ds": [2, 1, 3], "ws": [16, 32, 64], "ss": [8, 2, 2],
                          "bot_muls": [], "num_gs": [], "stem_w": 16}})
    assert anynet.stages_of(e) == [(2, 16, 1, 0, 0), (1, 32, 2, 0, 0), (3, 64, 2, 0, 0)]   # stride 8 read as 1
    sx = load_space("nds-resnext-b")
    a = sx.parse({"block_type": "res_bottleneck_block", "ds": [1, 1, 1], "ws": [16, 32, 64], "ss": [1, 2, 2],
                  "bot_muls": [0, 0.5, 0.25], "num_gs": [4, 2, 1]})
    b = sx.parse({"block_type": "res_bottleneck_block", "ds": [1, 1, 1], "ws": [16, 32, 64], "ss": [1, 2, 2],
                  "bms": [1.0, 0.5, 0.25], "gws": [4, 2, 1]})
    np.testing.assert_array_equal(a, b)                       # bot_muls/num_gs = bms/gws, bm 0 read as 1
    assert [s[3] for s in anynet.stages_of(a)] == [16, 16, 16]
    np.testing.assert_array_equal(sx.parse(sx.arch_id(a)), a)
    for bad, match in ((1, "NDS record"), ({"ds": [1], "ws": [8, 8], "ss": [1]}, "same length"),
                       ({"ds": [1] * 5, "ws": [8] * 5, "ss": [1] * 5}, "1-4 stages"),
                       ({"ds": [0], "ws": [8], "ss": [1]}, "depth >= 1"),
                       ({"ds": [1], "ws": [8], "ss": [3]}, "stride 1 or 2"),
                       ({"block_type": "x", "ds": [1], "ws": [8], "ss": [1]}, "block_type")):
        with pytest.raises(SpaceError, match=match):
            sp.parse(bad)
    with pytest.raises(SpaceError, match="multiple of group width"):
        sx.parse({"ds": [1], "ws": [10], "ss": [1], "bms": [1.0], "gws": [4]})


def test_counts_of_a_hand_built_network():
    sp = load_space("nds-resnet", input_size=16, stem_w=4)
    e = sp.parse({"ds": [1, 2], "ws": [4, 8], "ss": [1, 2]})
    stem = 16 * 16 * 3 * 4 * 9
    s1 = 2 * (16 * 16 * 4 * 4 * 9)                                       # identity shortcut (4 -> 4, stride 1)
    s2 = (8 * 8 * 4 * 8 * 9 + 8 * 8 * 8 * 8 * 9 + 8 * 8 * 4 * 8) + 2 * (8 * 8 * 8 * 8 * 9)
    assert sp.macs(e[None])[0] == stem + s1 + s2
    params = (27 * 4 + 8) + (2 * (36 * 4 + 8)) + (36 * 8 + 16 + 72 * 8 + 16 + 32 + 16) + 2 * (72 * 8 + 16) + 8 * 10 + 10
    assert sp.param_count(e[None])[0] == params


def test_program_budget():
    sp = load_space("nds-resnext-a", max_programs=2)
    enc, _ = sp.load_truth(path=NDS / "ResNeXt-A.json")
    b = sp.bucket_of(enc)
    assert len(set(b.tolist())) == 2
    for i, e in enumerate(enc):   # every architecture fits its bucket's padded shape
        _, _, strides, widths, bwidths, depths = {v: k for k, v in sp._shapes.items()}[int(b[i])]
        for (d, w, s, wb, _), W, WB, D in zip(anynet.stages_of(e), widths, bwidths, depths):
            assert w <= W and wb <= WB and d <= D


def test_cli_scores_an_anynet_space(tmp_path):
    from conftest import run_cli as run
    setting = tmp_path / "s.json"
    setting.write_text(json.dumps({"c_out": [8, 8, 8], "c_last": [8, 8, 8]}))
    r = run(["score", "nds-resnet", "--truth", str(NDS / "ResNet.json"), "--limit", "8", "--chunk", "3", "--setting",
             str(setting), "--space-option", "input_size=16", "--space-option", "max_programs=1", "--json", "--quiet",
             "--out", str(tmp_path / "r.csv")], tmp_path)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["space"] == "nds-resnet" and res["n"] == 6 and res["programs"] == 1 and res["diverged"] == 0
