"""Gradient saliencies at initialisation, as defined by Abdelfattah et al. ("Zero-Cost
Proxies for Lightweight NAS", ICLR 2021), from one backward pass of the cross-entropy of
the classifier on the image batch and its labels (BN in training mode):

- snip (Lee et al. 2019): sum over conv/linear weights of |dL/dw * w|;
- grad_norm: sum over conv/linear layers of the L2 norm of dL/dw;
- fisher (Turner et al. 2020): for every conv/linear output a, with g = dL/da,
  0.5 * sum_channels mean_images (sum_hw a * g)^2, summed over layers. `sum_hw a * g` is the
  gradient of the loss w.r.t. a zero gate `a * (1 + gate)` (`Space.classifier`'s gates);
- plain (Abdelfattah et al. 2021, NASLib): sum over conv/linear weights of dL/dw * w (snip
  without the absolute value);
- l2_norm (Abdelfattah et al. 2021, NASLib): sum over conv/linear layers of the Frobenius
  norm of the weight, at PyTorch's default init.

Ops an architecture does not run have zero gradients, so they add nothing, as in a
network built without them. l2_norm reads no gradient, so it counts a layer's weights for
the (input, output) channel pairs whose gradient has any non-zero tap: layers the network
runs, at their real widths. Unlike a network built per architecture, a conv whose output
reaches the logits by no route (e.g. an NB201 edge into a node that only feeds `none`
edges) counts nothing. Higher = better for all five.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from .common import kernels, used_pairs


def _used_norms(w, g):
    """Frobenius norm of each layer of a kernel `[..., kh, kw, c_in, c_out]` (leading axes:
    stacked layers) over the channel pairs that take part (any non-zero gradient tap)."""
    used = used_pairs(g, keepdims=True)
    return jnp.sqrt(jnp.sum(jnp.square(jnp.where(used, w, 0.0)), axis=(-4, -3, -2, -1)))


def saliencies(net, variables, images, labels, encoding):
    """{"snip", "grad_norm", "fisher", "plain", "l2_norm"} of one architecture."""
    def loss(params, gates):
        logits, _, _ = net.apply({"params": params, "gates": gates}, images, encoding)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    params = variables["params"]
    gp, gg = jax.grad(loss, argnums=(0, 1))(params, variables["gates"])
    ws, gs = kernels(params), kernels(gp)
    snip = sum(jnp.sum(jnp.abs(w * g)) for w, g in zip(ws, gs))
    # a kernel is [..., kh, kw, c_in, c_out]: leading axes stack layers (cells, edges)
    grad_norm = sum(jnp.sum(jnp.sqrt(jnp.sum(jnp.square(g), axis=(-4, -3, -2, -1)))) for g in gs)
    # a gate is [..., n, c]: mean over the images, sum over channels and layers
    fisher = 0.5 * sum(jnp.sum(jnp.mean(jnp.square(g), axis=-2)) for g in jax.tree_util.tree_leaves(gg))
    plain = sum(jnp.sum(w * g) for w, g in zip(ws, gs))
    l2_norm = sum(jnp.sum(_used_norms(w, g)) for w, g in zip(ws, gs))
    return {"snip": snip, "grad_norm": grad_norm, "fisher": fisher, "plain": plain, "l2_norm": l2_norm}
