"""synflow (Tanaka et al., "Pruning neural networks without any data by iteratively
conserving synaptic flow", NeurIPS 2020), as zero-cost proxy (Abdelfattah et al. 2021).

The classifier without BatchNorm (`Space.classifier(bn=False)`, as the published NB201
values were computed), every parameter replaced by its absolute value, one all-ones input
image; R = sum of the logits; score = sum over conv/linear weights of |theta * dR/dtheta|.

Overflow: R is a product of layer gains over up to ~50 layers (values beyond 1e38 are
common), so the whole computation runs in float64 (traced under `jax.enable_x64`) and the
score is returned as its natural log in float32 (same ranking). A float64 overflow still
gives +inf, flagged diverged and ranked last.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from .common import kernels


def synflow(net_nobn, variables, input_shape, encoding):
    """`variables` of the BN-free classifier for a batch of one (float32; cast here).
    Must be traced with `jax.enable_x64(True)` for the float64 arithmetic."""
    f64 = jnp.float64
    params = jax.tree_util.tree_map(lambda a: jnp.abs(a).astype(f64), variables["params"])
    gates = jax.tree_util.tree_map(lambda a: a.astype(f64), variables["gates"])
    x = jnp.ones((1,) + tuple(input_shape), f64)

    def r(p):
        logits, _, _ = net_nobn.apply({"params": p, "gates": gates}, x, encoding)
        return jnp.sum(logits)

    grads = jax.grad(r)(params)
    total = sum(jnp.sum(w * jnp.abs(g)) for w, g in zip(kernels(params), kernels(grads)))
    return jnp.log(total).astype(jnp.float32)
