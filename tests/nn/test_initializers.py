"""eproxy_jax.nn.initializers: distributions per scheme, bias rule, init_tree, traced scheme."""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax.nn import initializers as I

KH, KW, CIN, COUT = 3, 3, 32, 96
FAN_IN, FAN_OUT = KH * KW * CIN, KH * KW * COUT  # 288, 864: kaiming's fan_out != fan_in


def expected(scheme, fan_in, fan_out):
    """(kind, bound-or-std) per scheme, from the PyTorch definitions."""
    relu_gain = math.sqrt(2.0)
    return {
        "xavier_uniform": ("uniform", math.sqrt(6.0 / (fan_in + fan_out))),
        "xavier_normal": ("normal", math.sqrt(2.0 / (fan_in + fan_out))),
        "kaiming_uniform": ("uniform", relu_gain * math.sqrt(3.0 / fan_out)),
        "kaiming_normal": ("normal", relu_gain / math.sqrt(fan_out)),
        # PyTorch's Conv2d default: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in))
        "pytorch_default": ("uniform", 1.0 / math.sqrt(fan_in)),
    }[scheme]


def check_distribution(x, kind, param, tol=0.03):
    x = np.asarray(x, np.float64).ravel()
    assert abs(x.mean()) < 0.05 * param
    if kind == "uniform":
        m = np.abs(x).max()
        assert m <= param * (1 + 1e-6), (m, param)
        assert m >= param * 0.98, (m, param)
        assert abs(x.std() - param / math.sqrt(3)) < tol * param / math.sqrt(3)
    else:
        assert abs(x.std() - param) < tol * param, (x.std(), param)
        # normal, not uniform: ~4.55% of the mass lies beyond 2 std (uniform has none)
        frac = np.mean(np.abs(x) > 2 * param)
        assert 0.035 < frac < 0.056, frac


def test_names_match_setting_spec():
    from eproxy_jax import setting_spec
    assert I.INIT_NAMES == setting_spec.INIT_NAMES
    assert I.INIT_NAMES[I.PYTORCH_DEFAULT] == "pytorch_default"


@pytest.mark.parametrize("scheme", range(len(I.INIT_NAMES)))
def test_conv_kernel_distribution(scheme):
    w = I.conv_kernel(jax.random.PRNGKey(0), (KH, KW, CIN, COUT), scheme)
    chex.assert_shape(w, (KH, KW, CIN, COUT))
    kind, param = expected(I.INIT_NAMES[scheme], FAN_IN, FAN_OUT)
    check_distribution(w, kind, param)


def test_conv_kernel_schemes_differ():
    """Every scheme draws different weights from one key (the fans given by `real` are
    exercised by test_conv_kernel_is_nested_and_masked_with_real_fans)."""
    key = jax.random.PRNGKey(0)
    shape = (KH, KW, CIN, COUT)
    ws = [np.asarray(I.conv_kernel(key, shape, s)) for s in range(len(I.INIT_NAMES))]
    for i in range(len(ws)):
        for j in range(i + 1, len(ws)):
            assert not np.allclose(ws[i], ws[j])



@pytest.mark.parametrize("scheme", range(len(I.INIT_NAMES)))
def test_conv_kernel_is_nested_and_masked_with_real_fans(scheme):
    """A kernel of a smaller setting is the real corner of a larger (masked) one: same
    values, zeros elsewhere, scaled with the real fans (DPS shape buckets rely on it)."""
    key = jax.random.PRNGKey(4)
    small = np.asarray(I.conv_kernel(key, (3, 3, 8, 16), scheme))
    big = np.asarray(jax.jit(lambda k, r: I.conv_kernel(k, (7, 7, 32, 64), scheme, real=(r, 8, 16)))(key, 3))
    np.testing.assert_allclose(big[2:5, 2:5, :8, :16], small, rtol=1e-6, atol=1e-7)
    mask = np.zeros(big.shape, bool)
    mask[2:5, 2:5, :8, :16] = True
    np.testing.assert_array_equal(big[~mask], 0.0)
    # a 1x1 kernel is the centre tap of the 7x7 draw
    one = np.asarray(I.conv_kernel(key, (1, 1, 8, 16), scheme))
    big1 = np.asarray(I.conv_kernel(key, (7, 7, 8, 16), scheme, real=(1, 8, 16)))
    scale = {0: math.sqrt(9 * 8 + 9 * 16) / math.sqrt(8 + 16), 1: math.sqrt(9 * 8 + 9 * 16) / math.sqrt(8 + 16),
             2: 3.0, 3: 3.0, 4: 3.0}[scheme]   # gains of fans 8/16 over those of fans 72/144
    np.testing.assert_allclose(big1[3:4, 3:4], one, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one, small[1:2, 1:2] * scale, rtol=1e-5, atol=1e-6)


def test_conv_bias():
    key = jax.random.PRNGKey(3)
    for scheme in range(len(I.INIT_NAMES)):
        b = np.asarray(I.conv_bias(key, (4096,), scheme, fan_in=9))
        chex.assert_shape(b, (4096,))
        if I.INIT_NAMES[scheme] == "pytorch_default":
            check_distribution(b, "uniform", 1.0 / 3.0)
        else:
            np.testing.assert_array_equal(b, 0.0)


def _tree():
    rng = np.random.default_rng(0)
    return {
        "stem": {"kernel": jnp.zeros((3, 3, 3, 8)), "bias": jnp.full((8,), 5.0)},
        "bn": {"scale": jnp.asarray(rng.standard_normal(8), jnp.float32),
               "bias": jnp.asarray(rng.standard_normal(8), jnp.float32)},
        "stage": {"cell": {"conv": {"kernel": jnp.zeros((2, 4, 3, 3, 8, 24))}}},  # nn.scan x edges
        "twin": {"kernel": jnp.zeros((3, 3, 3, 8))},  # same shape as stem: must get its own values
    }


STACK_FAN_IN, STACK_FAN_OUT = 3 * 3 * 8, 3 * 3 * 24  # per copy


def test_init_tree_traced_scheme_no_retrace():
    tree = _tree()
    shapes = jax.tree_util.tree_map(lambda x: x.shape, tree)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def init(key, scheme):
        return I.init_tree(key, tree, scheme)

    key = jax.random.PRNGKey(7)
    outs = []
    for scheme, name in enumerate(I.INIT_NAMES):
        out = init(key, jnp.int32(scheme))
        outs.append(out)
        assert jax.tree_util.tree_structure(out) == jax.tree_util.tree_structure(tree)
        assert jax.tree_util.tree_map(lambda x: x.shape, out) == shapes
        # BatchNorm reset to scale 1, bias 0
        np.testing.assert_array_equal(out["bn"]["scale"], 1.0)
        np.testing.assert_array_equal(out["bn"]["bias"], 0.0)
        # stacked kernel: fans from the last four axes, every copy independent
        k = np.asarray(out["stage"]["cell"]["conv"]["kernel"])
        kind, param = expected(name, STACK_FAN_IN, STACK_FAN_OUT)
        check_distribution(k, kind, param, tol=0.05)
        copies = k.reshape(8, -1)
        for i in range(8):
            for j in range(i + 1, 8):
                assert not np.allclose(copies[i], copies[j])
            # each copy on its own also has (roughly) the scheme's spread
            assert abs(copies[i].std() / (param / math.sqrt(3) if kind == "uniform" else param) - 1) < 0.15
        # plain kernel and its bias
        kind, param = expected(name, 27, 72)
        stem = np.asarray(out["stem"]["kernel"])
        assert np.abs(stem).max() <= (param if kind == "uniform" else 6 * param)
        assert stem.std() > 0.5 * (param / math.sqrt(3) if kind == "uniform" else param)
        assert not np.allclose(out["twin"]["kernel"], stem)
        flat = k.reshape(-1)  # no kernel is a (rescaled) copy of another one's draws
        assert abs(np.corrcoef(flat[: stem.size], stem.reshape(-1))[0, 1]) < 0.5
        assert abs(np.corrcoef(np.asarray(out["twin"]["kernel"]).reshape(-1), stem.reshape(-1))[0, 1]) < 0.5
        b = np.asarray(out["stem"]["bias"])
        if name == "pytorch_default":
            assert np.all(np.abs(b) <= 1 / math.sqrt(27)) and np.abs(b).max() > 0
        else:
            np.testing.assert_array_equal(b, 0.0)
    # different schemes give different kernels; the same scheme and key are deterministic
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            assert not np.allclose(outs[i]["stem"]["kernel"], outs[j]["stem"]["kernel"])
    chex.assert_trees_all_equal(init(key, jnp.int32(2)), outs[2])
    other = init(jax.random.PRNGKey(8), jnp.int32(2))
    assert not np.allclose(other["stem"]["kernel"], outs[2]["stem"]["kernel"])
