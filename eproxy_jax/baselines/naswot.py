"""NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

For every ReLU, each image's binary activation code c (1 where the ReLU's input is > 0);
K_H = sum over ReLUs of (c c^T + (1 - c)(1 - c)^T), i.e. units minus Hamming distances;
score = log|K_H| (higher = better). The classifier module returns K_H summed over the
ReLUs the architecture actually runs (`Space.classifier`), forward pass only.
"""
from __future__ import annotations

import jax.numpy as jnp


def from_gram(gram):
    """log|K| of a kernel summed over ReLUs. K's diagonal is the number of ReLU units, so the
    determinant is taken of K / units (entries in [0, 1]: no float32 overflow) and
    n log(units) added back. -inf when K is singular (identical codes)."""
    n = gram.shape[0]
    units = jnp.max(jnp.diagonal(gram))
    sign, logdet = jnp.linalg.slogdet(gram / units)
    return jnp.where(sign > 0, logdet + n * jnp.log(units), -jnp.inf)


def naswot(net, variables, images, encoding):
    _, gram, _ = net.apply(variables, images, encoding)
    return from_gram(gram)
