"""The peer proxies' classifier for a space that has no hand-built one (`Space.classifier`):
the space's own feature module (the network Eproxy trains, `space.module(bucket)`), global
average pooling of its deepest feature and a linear layer to the classes.

What it supports: snip, grad_norm, plain, l2_norm, grasp, synflow, jacob_cov, epe_nas (they
need logits, pooled features and the conv/linear kernels) and the parameter / FLOP counts. naswot and fisher need a probe on
every ReLU / conv output inside the space's `lax.switch` and `lax.scan` bodies, which only the
hand-built classifiers (NB201) have, so they are not offered here (`baselines.supported`).

The BN-free network of synflow is the same module traced under `ops.use_bn_mode("affine")`
(the runner enters it around the lowering).
Kernels are drawn at the module's (padded) shapes and rescaled per architecture to their real
fans by the module's `adapt_params` where it has one (`adapt`), as the Eproxy engine does.

Parameter count (`count_active`): the entries of the parameter tree that take part in the
output, i.e. whose gradient of sum(logits) is non-zero on an all-ones image with every weight
made positive, BN reduced to its affine part and every BN bias set to 1 (so no unit sits at
ReLU's kink); a conv kernel counts all its taps for every channel pair it uses (`_used`).
Padded channels, unused op slots and skipped cells count nothing; an op whose input is
identically zero (a node fed only by `none` edges) counts nothing either, where a
PyTorch counter would count its weights. float64 (the positive network's values grow with
depth)."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..nn.layers import Linear

from ..nn import initializers
from .common import used_pairs


class FeatureClassifier(nn.Module):
    """`apply({"params"}, images, enc) -> (logits, None, pooled)` (the `Space.classifier`
    contract without the NASWOT kernel and the gates). `bn=False` names the BN-free network,
    which must be traced under `ops.use_bn_mode("affine")` (entered outside the trace: the
    mode switch clears JAX's caches), as `BaselineEngine.compile` does."""
    body: nn.Module
    num_classes: int = 10
    bn: bool = True

    @nn.compact
    def __call__(self, images, enc):
        feats = self.body(images, enc)   # BN-free (`bn=False`): traced under use_bn_mode("affine")
        pooled = jnp.mean(feats[0], axis=(1, 2))
        return Linear(self.num_classes, name="classifier")(pooled), None, pooled

    def adapt(self, variables, enc):
        """The variables with the body's kernels rescaled to this architecture's real fans
        (PyTorch's default init), where the body pads widths."""
        fix = getattr(self.body, "adapt_params", None)
        if fix is None:
            return variables
        params = dict(variables["params"])
        params["body"] = fix(params["body"], enc, initializers.PYTORCH_DEFAULT)
        return {**variables, "params": params}


def _positive(params):
    """Every weight positive (|w|), every BN bias 1 (a `scale` sibling marks a BN), float64."""
    def fix(node):
        if hasattr(node, "items"):
            node = dict(node)
            if "scale" in node:
                return {"scale": jnp.abs(node["scale"]).astype(jnp.float64),
                        "bias": jnp.ones_like(node["bias"], jnp.float64)}
            return {k: fix(v) for k, v in node.items()}
        return jnp.abs(node).astype(jnp.float64)
    return fix(params)


def _used(path, g):
    """Used entries of one gradient leaf. A conv kernel `[..., kh, kw, c_in, c_out]` counts all
    its kh x kw taps for every (c_in, c_out) pair with any non-zero tap: on a small map some
    taps of a wide (dilated) kernel only ever read the zero padding, yet they are parameters."""
    if getattr(path[-1], "key", None) == "kernel" and g.ndim >= 4:
        return jnp.sum(used_pairs(g)) * g.shape[-4] * g.shape[-3]
    return jnp.sum(g != 0)


def count_active(net_affine: FeatureClassifier, variables, input_shape, enc):
    """(parameters taking part in the output, real channels of the deepest feature) of one
    architecture; `net_affine` is the BN-free classifier (`bn=False`). Trace under
    `jax.enable_x64(True)` and `ops.use_bn_mode("affine")`."""
    params = _positive(net_affine.adapt(variables, enc)["params"])
    x = jnp.ones((1,) + tuple(input_shape), jnp.float64)
    grads = jax.grad(lambda p: jnp.sum(net_affine.apply({"params": p}, x, enc)[0]))(params)
    total = sum(_used(path, g) for path, g in jax.tree_util.tree_flatten_with_path(grads)[0])
    head = grads["classifier"]["kernel"]
    return total, jnp.sum(head[0, 0, :, 0] != 0)
