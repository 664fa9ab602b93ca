"""The Eproxy score as pure functions.

For one proxy seed, `prepare` builds a `ProxyContext`: the synthetic targets, the frozen
barrier convs, and the initial weights of the candidate network and of the trainable heads.
None of it depends on the architecture, so one context serves every architecture (the
encoding is data; the candidate's parameter tree has the same shapes for all of them).

`score_one(ctx, setting, net, images, encoding, macs_frac)` trains candidate + heads for
`steps` SGD steps on `sum_i MSE_i` and returns `sum_i MSE_i / 2**i` read on the forward pass
of the last step, times `(1 - alpha * macs_frac)`. Lower is better.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from . import initializers, ops, targets
from .setting import ProxySetting


@struct.dataclass
class ProxyContext:
    targets: tuple      # per branch [n, T, T, c_last]
    barrier: tuple      # per branch {"kernel": [k, k, c_out, c_last], "bias": [c_last]} - frozen
    net0: dict          # candidate's initial params
    heads0: tuple       # per branch {"conv": {"kernel", "bias"}, "bn": {"scale", "bias"}}


def _conv_params(key, k, c_in, c_out, scheme):
    kk, kb = jax.random.split(key)
    return {
        "kernel": initializers.conv_kernel(kk, (k, k, c_in, c_out), scheme),
        "bias": initializers.conv_bias(kb, (c_out,), scheme, k * k * c_in),
    }


def net_param_shapes(net, images, encoding_shape):
    """Shapes of the candidate's parameter tree (no FLOPs spent)."""
    enc = jnp.zeros(encoding_shape, jnp.int32)
    return jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), images, enc))["params"]


def prepare(key, setting: ProxySetting, net, images, encoding_shape, feature_channels, target_size) -> ProxyContext:
    """Everything a proxy seed fixes: targets, barrier, initial candidate and head weights."""
    if setting.branches > len(feature_channels):
        raise ValueError(f"setting uses {setting.branches} branches but the space has {len(feature_channels)} feature maps")
    k_tgt, k_net, k_head, k_bar = jax.random.split(key, 4)
    tgts = targets.make_targets(k_tgt, setting, images, target_size)
    shapes = net_param_shapes(net, images, encoding_shape)
    net0 = initializers.init_tree(k_net, shapes, setting.init)
    heads, barrier = [], []
    for b in range(setting.branches):
        kh, kb = jax.random.fold_in(k_head, b), jax.random.fold_in(k_bar, b)
        heads.append({
            "conv": _conv_params(kh, setting.head_kernel[b], feature_channels[b], setting.c_out[b], setting.init),
            "bn": {"scale": jnp.ones((setting.c_out[b],)), "bias": jnp.zeros((setting.c_out[b],))},
        })
        barrier.append(_conv_params(kb, setting.barrier_kernel[b], setting.c_out[b], setting.c_last[b],
                                    setting.barrier_init))
    return ProxyContext(targets=tgts, barrier=tuple(barrier), net0=net0, heads0=tuple(heads))


def branch_losses(params, ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """Per-branch MSE of barrier(head(feature)) against the target; `params` = {"net", "heads"}."""
    feats = net.apply({"params": params["net"]}, images, encoding)
    losses = []
    for b in range(setting.branches):
        h = params["heads"][b]
        y = ops.conv2d(feats[b], h["conv"]["kernel"]) + h["conv"]["bias"]
        y = ops.batch_norm(jax.nn.relu(y), h["bn"]["scale"], h["bn"]["bias"])
        bar = ctx.barrier[b]  # not in `params`: never differentiated nor updated
        y = ops.conv2d(y, bar["kernel"]) + bar["bias"]
        losses.append(jnp.mean(jnp.square(y - ctx.targets[b])))
    return jnp.stack(losses)


def optimizer(setting: ProxySetting):
    """SGD with momentum; weight decay (added to the gradient, as PyTorch) on ndim>1 weights only."""
    decay_mask = lambda params: jax.tree_util.tree_map(lambda p: p.ndim > 1, params)  # noqa: E731
    return optax.chain(
        optax.masked(optax.add_decayed_weights(setting.weight_decay), decay_mask),
        optax.sgd(setting.lr, momentum=setting.momentum),
    )


def branch_weights(n: int):
    return jnp.asarray([2.0 ** -i for i in range(n)], jnp.float32)


def train(ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """`steps - 1` SGD updates of candidate + heads (the barrier stays in `ctx`, outside the
    trained tree). Returns (final params {"net", "heads"}, per-update losses [steps-1, branches])."""
    tx = optimizer(setting)
    params = {"net": ctx.net0, "heads": ctx.heads0}

    def total(p):
        losses = branch_losses(p, ctx, setting, net, images, encoding)
        return jnp.sum(losses), losses

    def step(carry, _):
        p, opt = carry
        (_, losses), grads = jax.value_and_grad(total, has_aux=True)(p)
        updates, opt = tx.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), losses

    (params, _), history = lax.scan(step, (params, tx.init(params)), None, length=setting.steps - 1)
    return params, history


def train_losses(ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """Per-branch losses on the forward pass of step `steps` (after `steps - 1` updates)."""
    params, _ = train(ctx, setting, net, images, encoding)
    return branch_losses(params, ctx, setting, net, images, encoding)


def score_one(ctx: ProxyContext, setting: ProxySetting, net, images, encoding, macs_frac):
    """Eproxy score of one architecture under one proxy seed (lower = better)."""
    losses = train_losses(ctx, setting, net, images, encoding)
    raw = jnp.sum(losses * branch_weights(setting.branches))
    return raw * (1.0 - setting.alpha * macs_frac)
