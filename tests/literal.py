"""Literal float64 building blocks for the reference networks the tests compare the
data-driven Flax modules against (NumPy only; independent of `eproxy_jax.ops`)."""
import jax
import numpy as np

from eproxy_jax.nn import initializers


def np_conv(x, w, stride=1, pad=None):
    """x [n,h,w,ci], w [k,k,ci,co], zero padding ((k-1)//2 unless given), float64."""
    k = w.shape[0]
    pad = (k - 1) // 2 if pad is None else pad
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho = (x.shape[1] + 2 * pad - k) // stride + 1
    wo = (x.shape[2] + 2 * pad - k) // stride + 1
    out = np.zeros((x.shape[0], ho, wo, w.shape[3]))
    for i in range(k):
        for j in range(k):
            patch = xp[:, i: i + stride * (ho - 1) + 1: stride, j: j + stride * (wo - 1) + 1: stride, :]
            out += patch @ w[i, j]
    return out


def np_bn(x, p, c=None):
    """Train-mode BN with the affine parameters `p` (cut to the first `c` channels)."""
    m, v = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    c = x.shape[-1] if c is None else c
    return (x - m) / np.sqrt(v + 1e-5) * p["scale"][:c] + p["bias"][:c]


def relu(x):
    return np.maximum(x, 0)


def f64(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def random_params(net, images, enc, seed=1):
    """The module's parameters with kernels drawn by `init_tree` and non-trivial BN affines."""
    p = initializers.init_tree(jax.random.PRNGKey(seed), net.init(jax.random.PRNGKey(0), images, enc)["params"], 3)
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map_with_path(
        lambda path, a: (a * (1 + 0.3 * rng.standard_normal(a.shape)) + 0.2 * rng.standard_normal(a.shape)).astype(np.float32)
        if path[-1].key in ("scale", "bias") else a, p)
