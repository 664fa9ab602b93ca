"""spaces.nb201: encodings, MACs, and the data-driven module against a fixed-op numpy network."""
import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spaces
from eproxy_jax.nn import initializers
from literal import np_conv
from spaces import SpaceError
from spaces import nb201

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EXAMPLE = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|"


@pytest.fixture(scope="module")
def space():
    return spaces.load_space("nb201")


# ------------------------------------------------------------------ encodings

def test_example_string(space):
    enc = space.parse(EXAMPLE)
    np.testing.assert_array_equal(enc, [3, 0, 1, 4, 2, 3])
    assert enc.dtype == np.int32
    assert space.arch_id(enc) == EXAMPLE
    assert nb201.to_lists(enc) == [[3], [0, 1], [4, 2, 3]]
    np.testing.assert_array_equal(space.parse([["nor_conv_3x3"], ["none", "skip_connect"],
                                               ["avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"]]), enc)


def test_round_trips(space):
    rng = np.random.default_rng(0)
    for enc in rng.integers(0, 5, size=(50, 6)):
        s = nb201.to_string(enc)
        # the string built here independently
        groups = []
        for j, start in ((1, 0), (2, 1), (3, 3)):
            groups.append("|" + "|".join(f"{OPS[enc[start + i]]}~{i}" for i in range(j)) + "|")
        assert s == "+".join(groups)
        np.testing.assert_array_equal(space.parse(s), enc)
        lists = nb201.to_lists(enc)
        assert [len(x) for x in lists] == [1, 2, 3]
        np.testing.assert_array_equal(space.parse(lists), enc)
        np.testing.assert_array_equal(space.parse([[OPS[v] for v in node] for node in lists]), enc)
        np.testing.assert_array_equal(space.parse(list(map(int, enc))), enc)  # flat list of ids
        assert space.arch_id(space.parse(s)) == s
    many = space.encode_many([EXAMPLE, [[0], [1, 2], [3, 4, 0]]])
    chex.assert_shape(many, (2, 6))
    np.testing.assert_array_equal(many[1], [0, 1, 2, 3, 4, 0])


@pytest.mark.parametrize("bad", [
    "|nor_conv_3x3~0|+|none~0|skip_connect~1|",                                   # 2 nodes
    "|nor_conv_3x3~0|+|none~0|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",  # node 2 has 1 edge
    "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|conv_5x5~2|",  # unknown op
    "|nor_conv_3x3~1|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",  # wrong source
    "|nor_conv_3x3|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",    # no source
    "",
    [[0], [0], [0, 0, 0]],          # wrong node sizes
    [[0], [0, 0], [0, 0, 5]],       # op id out of range
    [[-1], [0, 0], [0, 0, 0]],
    [[True], [0, 0], [0, 0, 0]],    # bool is not an op id
    [[1.0], [0, 0], [0, 0, 0]],
    [0, 1, 2, 3, 4],                # 5 edges
    {"ops": [0, 1]},
    None,
])
def test_malformed_raise(space, bad):
    with pytest.raises(SpaceError):
        space.parse(bad)


def test_encode_many_errors(space):
    with pytest.raises(SpaceError):
        space.encode_many(EXAMPLE)  # not a list
    with pytest.raises(SpaceError, match="#1"):
        space.encode_many([EXAMPLE, "|bad~0|"])


def test_all_encodings(space):
    enc = space.all_encodings()
    chex.assert_shape(enc, (15625, 6))
    assert len(np.unique(enc, axis=0)) == 15625
    assert enc.min() == 0 and enc.max() == 4
    assert len({space.arch_id(e) for e in enc[::97]}) == len(enc[::97])


# ------------------------------------------------------------------ MACs

def test_macs_hand_computed(space):
    assert space.channels == 16 and space.input_size == 32 and space.cells_per_stage == 5
    stem = 32 * 32 * 16 * 3 * 9
    # reduction blocks: conv3x3 stride 2 (C -> 2C), conv3x3 (2C -> 2C), shortcut conv1x1 after the 2x2 pool
    red1 = 16 * 16 * 32 * 16 * 9 + 16 * 16 * 32 * 32 * 9 + 16 * 16 * 32 * 16
    red2 = 8 * 8 * 64 * 32 * 9 + 8 * 8 * 64 * 64 * 9 + 8 * 8 * 64 * 32
    fixed = stem + red1 + red2
    conv3 = [32 * 32 * 16 * 16 * 9, 16 * 16 * 32 * 32 * 9, 8 * 8 * 64 * 64 * 9]  # H*W*C*C*9 per stage
    conv1 = [32 * 32 * 16 * 16, 16 * 16 * 32 * 32, 8 * 8 * 64 * 64]
    per3, per1 = 5 * sum(conv3), 5 * sum(conv1)
    enc = space.parse(EXAMPLE)  # 2 conv3x3, 1 conv1x1
    want = [fixed + 2 * per3 + per1, fixed, fixed + 6 * per3, fixed + 6 * per1, fixed + per3 + per1]
    encs = np.stack([enc, [0, 1, 4, 0, 1, 4], [3] * 6, [2] * 6, [2, 3, 0, 1, 4, 0]])
    got = space.macs(encs)
    chex.assert_shape(got, (5,))
    np.testing.assert_array_equal(got, np.asarray(want, np.float64))
    assert space.max_macs == float(fixed + 6 * per3)
    assert float(space.macs(space.all_encodings()).max()) == space.max_macs
    # a different config scales accordingly
    small = spaces.load_space("nb201", channels=4, cells_per_stage=2, input_size=16)
    s_fixed = 16 * 16 * 4 * 27 + (8 * 8 * 8 * 4 * 9 + 8 * 8 * 8 * 8 * 9 + 8 * 8 * 8 * 4) \
        + (4 * 4 * 16 * 8 * 9 + 4 * 4 * 16 * 16 * 9 + 4 * 4 * 16 * 8)
    s_per3 = 2 * (16 * 16 * 16 * 9 + 8 * 8 * 64 * 9 + 4 * 4 * 256 * 9)
    assert small.max_macs == float(s_fixed + 6 * s_per3)


# ------------------------------------------------------------------ the network

C, CELLS, INPUT, TARGET, N = 4, 2, 16, 4, 2




def np_bn(x, scale=None, bias=None):
    m = x.mean(axis=(0, 1, 2))
    v = ((x - m) ** 2).mean(axis=(0, 1, 2))
    y = (x - m) / np.sqrt(v + 1e-5)
    return y if scale is None else y * scale + bias


def np_avgpool3(x):
    """3x3, stride 1, pad 1, count_include_pad=False."""
    n, h, w, c = x.shape
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            win = x[:, max(i - 1, 0): i + 2, max(j - 1, 0): j + 2]
            out[:, i, j] = win.mean(axis=(1, 2))
    return out


def relu(x):
    return np.maximum(x, 0)


def np_cell(x, arch, w1, w3):
    """arch: the NB201 string; w1/w3: [6, k, k, C, C] per edge in string order."""
    nodes = [x]
    e = 0
    for j, node in enumerate(arch.split("+"), start=1):
        acc = np.zeros_like(x)
        edges = node.strip("|").split("|")
        assert len(edges) == j
        for i, edge in enumerate(edges):
            op, src = edge.split("~")
            assert int(src) == i
            h = nodes[i]
            if op == "none":
                y = np.zeros_like(h)
            elif op == "skip_connect":
                y = h
            elif op == "nor_conv_1x1":
                y = np_bn(np_conv(relu(h), w1[e]))
            elif op == "nor_conv_3x3":
                y = np_bn(np_conv(relu(h), w3[e]))
            elif op == "avg_pool_3x3":
                y = np_avgpool3(h)
            else:
                raise AssertionError(op)
            acc = acc + y
            e += 1
        nodes.append(acc)
    return nodes[3]


def np_resblock(x, p):
    a = np_bn(np_conv(relu(x), p["conv_a"]["kernel"], stride=2, pad=1), p["bn_a"]["scale"], p["bn_a"]["bias"])
    b = np_bn(np_conv(relu(a), p["conv_b"]["kernel"]), p["bn_b"]["scale"], p["bn_b"]["bias"])
    n, h, w, c = x.shape
    pooled = x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))  # AvgPool2d(2, 2)
    return np_conv(pooled, p["down"]["kernel"]) + b


def np_nb201(params, images, arch, target):
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    x = np_bn(np_conv(images.astype(np.float64), p["stem"]["kernel"]), p["stem_bn"]["scale"], p["stem_bn"]["bias"])
    feats = []
    for s in range(3):
        if s > 0:
            x = np_resblock(x, p[f"reduce{s}"])
        cell = p[f"stage{s}"]["cell"]
        for c in range(CELLS):
            x = np_cell(x, arch, cell["conv1x1"]["kernel"][c], cell["conv3x3"]["kernel"][c])
        idx = [(i * x.shape[1]) // target for i in range(target)]  # PyTorch nearest
        feats.append(x[:, idx][:, :, idx])
    return feats[::-1]


@pytest.fixture(scope="module")
def small():
    sp = spaces.load_space("nb201", channels=C, cells_per_stage=CELLS, input_size=INPUT)
    net = sp.module()
    images = jnp.asarray(np.random.default_rng(1).standard_normal((N, INPUT, INPUT, 3)), jnp.float32)
    shapes = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), images, jnp.zeros((6,), jnp.int32)))["params"]
    params = jax.jit(lambda k: initializers.init_tree(k, shapes, initializers.INIT_NAMES.index("kaiming_normal")))(
        jax.random.PRNGKey(3))
    # non-trivial BN affine parameters, so the reference must apply them where NB201 has them
    rng = np.random.default_rng(2)
    params = jax.tree_util.tree_map_with_path(  # every scale/bias leaf is a BN's (the convs have no bias)
        lambda path, a: jnp.asarray(
            (1.0 + 0.5 * rng.standard_normal(a.shape)) if path[-1].key == "scale"
            else 0.3 * rng.standard_normal(a.shape), jnp.float32) if path[-1].key in ("scale", "bias") else a,
        params)
    apply = jax.jit(lambda p, x, e: net.apply({"params": p}, x, e))
    return sp, params, images, apply


def test_module_param_tree(small):
    sp, params, _, _ = small
    assert sp.target_size == TARGET and sp.feature_channels == (16, 8, 4)
    chex.assert_shape(params["stem"]["kernel"], (3, 3, 3, C))
    for s, cs in enumerate((4, 8, 16)):
        chex.assert_shape(params[f"stage{s}"]["cell"]["conv3x3"]["kernel"], (CELLS, 6, 3, 3, cs, cs))
        chex.assert_shape(params[f"stage{s}"]["cell"]["conv1x1"]["kernel"], (CELLS, 6, 1, 1, cs, cs))
    chex.assert_shape(params["reduce2"]["down"]["kernel"], (1, 1, 8, 16))
    k = np.asarray(params["stage1"]["cell"]["conv3x3"]["kernel"])
    assert not np.allclose(k[0], k[1])  # cells of a stage have their own weights


ARCHS = [
    EXAMPLE,
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
    "|none~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
]


def _random_archs(k, seed=5):
    """Random cells whose output node has at least one non-'none' input (else every feature is 0)."""
    rng = np.random.default_rng(seed)
    encs = [e for e in rng.integers(0, 5, (4 * k, 6)) if e[3:].any()]
    return [nb201.to_string(e) for e in encs[:k]]


@pytest.mark.parametrize("arch", ARCHS + _random_archs(3))
def test_module_matches_fixed_op_reference(small, arch):
    sp, params, images, apply = small
    enc = jnp.asarray(sp.parse(arch))
    feats = apply(params, images, enc)
    assert isinstance(feats, tuple) and len(feats) == 3
    chex.assert_shape(feats, [(N, TARGET, TARGET, 16), (N, TARGET, TARGET, 8), (N, TARGET, TARGET, 4)])
    want = np_nb201(params, np.asarray(images), arch, TARGET)
    for got, ref in zip(feats, want):
        scale = max(1.0, float(np.abs(ref).max()))
        chex.assert_trees_all_close(np.asarray(got, np.float64), ref, rtol=1e-3, atol=1e-3 * scale)
    assert np.abs(want[0]).max() > 0.1  # not a degenerate all-zero comparison


def test_module_one_program_and_architectures_matter(small):
    sp, params, images, apply = small
    a = apply(params, images, jnp.asarray(sp.parse(ARCHS[0])))
    before = apply._cache_size()
    b = apply(params, images, jnp.asarray(sp.parse(ARCHS[1])))
    c = apply(params, images, jnp.asarray(sp.parse(ARCHS[2])))
    assert apply._cache_size() == before  # the encoding is data: no new compilation
    assert not np.allclose(c[0], b[0])
    assert not np.allclose(a[0], b[0])
