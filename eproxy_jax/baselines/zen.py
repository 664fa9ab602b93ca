"""zen (Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition", ICCV
2021), as NASLib's zero-cost collection computes it.

Every conv/linear weight drawn from N(0, 1) (biases 0, BatchNorm scale 1 and offset 0), two
Gaussian input batches x and x' of the image batch's shape, and the network (BN in train
mode, batch statistics) run on x and on x + 0.01 x'. Then

    zen = log(mean over images of sum_{h,w,c} |f(x) - f(x + 0.01 x')|)
          + sum over the network's BatchNorm layers of log sqrt(mean over channels of running_var)

with `f` the map the global pooling reads. PyTorch updates each BatchNorm's running variance
(1 at the start, momentum 0.1, unbiased batch variance) on both passes, so after them it is
0.81 + 0.09 v(x) + 0.1 v(x + 0.01 x'); `ops.bn_input_var` gives each layer's channel mean of v,
and the running-variance mean is linear in it. The classifier records both (the `stats`
collection; NB201's hand-built classifier does, with every BatchNorm the architecture runs: the
stem, each conv edge, the reduction blocks and the last one). Data-free: the images give
only the batch shape. Higher = better.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

MIXUP_GAMMA = 1e-2
BN_MOMENTUM = 0.1


def gaussian_params(params, key):
    """Zen's re-initialisation of a parameter tree: kernels N(0, 1) (one key per leaf), BN
    scales 1, every bias and BN offset 0."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for i, (path, leaf) in enumerate(leaves):
        name = getattr(path[-1], "key", None)
        if name == "kernel":
            out.append(jax.random.normal(jax.random.fold_in(key, i), leaf.shape, leaf.dtype))
        elif name == "scale":
            out.append(jnp.ones_like(leaf))
        else:
            out.append(jnp.zeros_like(leaf))
    return jax.tree_util.tree_unflatten(treedef, out)


def _split_stats(stats):
    """(the pre-pooling map, every BatchNorm's variance entry flattened in a fixed order)."""
    stats = dict(stats)
    (f,) = stats.pop("pre_pool")
    leaves = jax.tree_util.tree_leaves(stats)
    v = jnp.concatenate([jnp.ravel(x) for x in leaves]) if leaves else jnp.zeros((0,), jnp.float32)
    return f, v


def zen(net, variables, batch_shape, key, encoding, mixup_gamma: float = MIXUP_GAMMA):
    """zen of one architecture: `net` a classifier that records the `stats` collection,
    `variables` its `{"params", "gates"}` (only their shapes and gates are used), `batch_shape`
    the NHWC shape of the input batch, `key` the draw of the weights and inputs (the same for
    every architecture)."""
    k_w, k_x, k_mix = jax.random.split(key, 3)
    params = gaussian_params(variables["params"], k_w)
    x = jax.random.normal(k_x, batch_shape, jnp.float32)
    mixed = x + mixup_gamma * jax.random.normal(k_mix, batch_shape, jnp.float32)

    def run(inputs):
        _, state = net.apply({**variables, "params": params}, inputs, encoding, mutable=["stats"])
        return _split_stats(state["stats"])

    f1, v1 = run(x)
    f2, v2 = run(mixed)
    nas = jnp.mean(jnp.sum(jnp.abs(f1 - f2), axis=tuple(range(1, f1.ndim))))
    m = BN_MOMENTUM
    running = (1 - m) ** 2 + (1 - m) * m * v1 + m * v2   # after the two train-mode passes
    has_bn = v1 >= 0                                     # -1: an edge without a BatchNorm
    log_bn = jnp.sum(jnp.where(has_bn, 0.5 * jnp.log(jnp.where(has_bn, running, 1.0)), 0.0))
    return jnp.log(nas) + log_bn
