"""What every baseline shares: the classifier's variables at PyTorch's default init, and
walks over its conv/linear kernels."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..nn import initializers


def init_variables(net, key, images, encoding_shape):
    """`{"params", "gates"}` of a classifier module for this batch: every conv/linear kernel
    (and the linear bias) drawn as PyTorch does by default (U(+-1/sqrt(fan_in))), BN scale 1
    and bias 0, gates zero (none where the classifier has no gates). The same `key` gives the same kernels with or without BN."""
    enc = jnp.zeros(encoding_shape, jnp.int32)
    shapes = jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), images, enc))
    params = initializers.init_tree(key, shapes["params"], initializers.PYTORCH_DEFAULT)
    gates = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, jnp.float32), shapes.get("gates", {}))
    return {"params": params, "gates": gates}


def is_kernel(path) -> bool:
    """Whether a tree path names a conv/linear weight (a `kernel` leaf)."""
    return getattr(path[-1], "key", None) == "kernel"


def kernels(tree) -> list:
    """Every conv/linear weight (`kernel` leaves) of a parameter tree, in path order."""
    return [leaf for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0] if is_kernel(path)]


def used_pairs(g, keepdims: bool = False):
    """Of a conv kernel's gradient `[..., kh, kw, c_in, c_out]`: the (c_in, c_out) channel pairs
    that take part, i.e. have a non-zero gradient at any tap."""
    return jnp.any(g != 0, axis=(-4, -3), keepdims=keepdims)
