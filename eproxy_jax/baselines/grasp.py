"""GraSP (Wang et al., "Picking Winning Tickets Before Training by Preserving Gradient Flow",
ICLR 2020), as zero-cost proxy (Abdelfattah et al. 2021; NASLib's `grasp`).

With L the mean cross-entropy of the classifier on the image batch and its labels (BN in
training mode), g = dL/dw over the conv/linear weights w and H the Hessian of L over those
weights: score = sum over the weights of -w * (H g). H g is the gradient of
<dL/dw, g> (reverse over reverse, as the published code's second backward pass; BN
parameters and biases held fixed, as it differentiates the weights alone). One batch (the published code averages the
gradient over splits of the batch: the same value for one split). Ops an architecture does
not run have zero gradient and zero curvature: they add nothing. Higher = better, the sign
as published.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from .common import is_kernel, kernels


def _kernel_part(tree):
    """`tree` with every non-kernel leaf zeroed (the direction H is applied along)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, a: a if is_kernel(path) else jnp.zeros_like(a), tree)


def grasp(net, variables, images, labels, encoding):
    def loss(params):
        logits, _, _ = net.apply({"params": params, "gates": variables["gates"]}, images, encoding)
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    params = variables["params"]
    g = jax.lax.stop_gradient(_kernel_part(jax.grad(loss)(params)))
    # reverse over reverse: the convolutions' custom VJP (`nn.ops.conv2d`) has no forward mode
    hg = jax.grad(lambda p: optax.tree_utils.tree_vdot(jax.grad(loss)(p), g))(params)
    return -sum(jnp.sum(w * h) for w, h in zip(kernels(params), kernels(hg)))
