"""Flax parameter layers the spaces share. Their parameters are created as zeros or ones and
drawn later by `initializers.init_tree` (per proxy seed and init scheme), which reads the leaf
names: `kernel` (+ `bias`) is a conv or dense layer, `scale` / `bias` a normalisation."""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from . import ops


def _zeros(rng, shape):
    del rng
    return jnp.zeros(shape, jnp.float32)


class Kernel(nn.Module):
    """A bare conv kernel parameter `[..., kh, kw, c_in, c_out]` (initialised later by
    `eproxy_jax.nn.initializers.init_tree`, which reads the `kernel` name)."""
    shape: tuple

    @nn.compact
    def __call__(self):
        return self.param("kernel", _zeros, self.shape)


class Linear(nn.Module):
    """A linear layer stored as a conv `{"kernel": [1, 1, c_in, c_out], "bias"}`, so
    `init_tree` gives it PyTorch's default init (weight and bias U(+-1/sqrt(c_in)))."""
    features: int

    @nn.compact
    def __call__(self, x):
        k = self.param("kernel", _zeros, (1, 1, x.shape[-1], self.features))
        b = self.param("bias", _zeros, (self.features,))
        return x @ k[0, 0] + b


class BatchNorm(nn.Module):
    """Train-mode BatchNorm (batch statistics); affine parameters when `affine`. Applied with
    the `stats` collection mutable, it also records `bn_var` (`ops.bn_input_var` of its input;
    zen reads it); otherwise that costs nothing."""
    affine: bool = True

    @nn.compact
    def __call__(self, x):
        if self.is_mutable_collection("stats"):
            self.sow("stats", "bn_var", ops.bn_input_var(x))
        if not self.affine:
            return ops.batch_norm(x)
        c = x.shape[-1]
        scale = self.param("scale", nn.initializers.ones, (c,))
        bias = self.param("bias", nn.initializers.zeros, (c,))
        return ops.batch_norm(x, scale, bias)


class BNParams(nn.Module):
    """BatchNorm's affine parameters `{"scale", "bias"}` of a given shape (stacked per slot)."""
    shape: tuple

    @nn.compact
    def __call__(self):
        return {"scale": self.param("scale", nn.initializers.ones, self.shape),
                "bias": self.param("bias", nn.initializers.zeros, self.shape)}


def padded_width(w: int) -> int:
    """The smallest of 8 x {1, 1.5, 2, 3, 4, 6, 8, ...} that is >= w."""
    size = 8
    while size < w:
        size = size * 3 // 2 if (size & (size - 1)) == 0 else size * 4 // 3
    return size


SCAN_UNROLLS = ("loop", "full")
_scan_unroll = ["full"]


def use_scan_unroll(name: str):
    """Trace-time choice of how `stage_scan` runs a stage's cells, for code traced inside the
    block: `full` (default) the cell written out `length` times, `loop` one loop body for all
    of them (`lax.scan`'s `unroll`). The same function either way (the same scores, bit for bit,
    on paper-size NB201 and NB101); `full` keeps no stacked residuals and compiles longer. Set
    through `eproxy_jax.chunks.Lowering.scan_unroll` (programs that run one architecture at a
    time unroll; vmapped ones loop).

    Unlike the conv and BN switches this one does not clear JAX's caches: a trace kept by
    function identity (a `lax.switch` branch, a checkpointed edge) lies inside a cell, never
    around a stage, and a program traced under the other choice computes the same function.
    (Clearing on every change recompiled the jitted helpers after each vmapped program and
    retraced functions that promise one trace.)"""
    return ops._use(_scan_unroll, name, SCAN_UNROLLS, "scan unroll")


def stage_scan(target, length: int, **kwargs):
    """`nn.scan` over `length` copies of the module class `target`, parameters stacked on
    axis 0 (a stage of identical cells), unrolled or not as `use_scan_unroll` says; the
    parameter tree is the same either way. For short stages: unrolled, the compile grows
    with `length`."""
    unroll = length if _scan_unroll[0] == "full" else 1
    return nn.scan(target, variable_axes=kwargs.pop("variable_axes", {"params": 0}),
                   split_rngs=kwargs.pop("split_rngs", {"params": True}), length=length,
                   unroll=max(unroll, 1), **kwargs)
