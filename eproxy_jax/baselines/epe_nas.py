"""EPE-NAS (Lopes et al., "EPE-NAS: Efficient Performance Estimation Without Training for
Neural Architecture Search", ICANN 2021; NASLib's `epe_nas`).

The input Jacobian J of jacob_cov (one row per image, from the pooled features, as the
authors' NB201 code backpropagates ones from xautodl's first output), C its row correlation
matrix and k = 1e-5. Per image class c present in the batch, s_c = sum over the images i, j
of class c of log(|C_ij| + k) (a class with one image gives log(1 + k)). With at most 100
network outputs (the authors' `n_classes`, the pooled feature's length):
score = sum_c |s_c|. With more: s_c is divided by the class's image count, classes with one
image are left out (the published code's correlation of a single row has no length), and
score = sum over pairs of kept classes of |s_c - s_c'| / (kept classes).
Higher = better. A Jacobian row without variance (a network that ignores its input) gives
NaN, ranked last.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

K = 1e-5


def from_jacobian(jac, labels, num_classes: int, outputs: int):
    """`jac` [n, ...] (one row per image), `labels` int [n] in [0, num_classes), `outputs`
    the length of the network output the Jacobian was taken of (static)."""
    n = jac.shape[0]
    corr = jnp.corrcoef(jac.reshape(n, -1))
    a = jnp.log(jnp.abs(corr) + K)
    member = jax.nn.one_hot(labels, num_classes, dtype=a.dtype)   # [n, classes]
    s = jnp.einsum("ic,ij,jc->c", member, a, member)
    count = jnp.sum(member, axis=0)
    if outputs <= 100:
        return jnp.sum(jnp.where(count > 0, jnp.abs(s), 0.0))
    kept = count >= 2
    per = jnp.where(kept, s / jnp.maximum(count, 1.0), 0.0)
    pair = jnp.abs(per[:, None] - per[None, :]) * (kept[:, None] & kept[None, :])
    return jnp.sum(pair) / jnp.maximum(jnp.sum(kept), 1)
