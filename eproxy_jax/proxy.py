"""The Eproxy score as pure functions.

For one proxy seed, `prepare` builds a `ProxyContext`: the synthetic targets, the frozen
barrier convs, and the initial weights of the candidate network and of the trainable heads.
None of it depends on the architecture, so one context serves every architecture (the
encoding is data; the candidate's parameter tree has the same shapes for all of them).

`score_one(ctx, setting, net, images, encoding, macs_frac)` trains candidate + heads for
`steps` SGD steps on `sum_i MSE_i` and returns `sum_i MSE_i / 2**i` read on the forward pass
of the last step, times `(1 - alpha * macs_frac)`. Lower is better. A network whose deepest
features ignore the input scores +inf (ranked last) unless `setting.dead_last` is off.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from . import targets
from .nn import initializers, ops
from .setting import ProxySetting


@struct.dataclass
class ProxyContext:
    targets: tuple      # per branch [n, T, T, c_last]
    barrier: tuple      # per branch {"kernel": [k, k, c_out, c_last], "bias": [c_last]} - frozen
    net0: dict          # candidate's initial params
    heads0: tuple       # per branch {"conv": {"kernel", "bias"}, "bn": {"scale", "bias"}}
    masks: tuple = ()   # per branch, only in masked programs (DPS shape buckets): see `prepare`


def net_param_shapes(net, images, encoding_shape):
    """Shapes of the candidate's parameter tree (no FLOPs spent)."""
    enc = jnp.zeros(encoding_shape, jnp.int32)
    return jax.eval_shape(lambda: net.init(jax.random.PRNGKey(0), images, enc))["params"]


def target_key(key):
    """The key `prepare` draws a proxy seed's targets from."""
    return jax.random.split(key, 4)[0]


def prepare(key, setting: ProxySetting, net, images, encoding_shape, feature_channels, target_size,
            real=None, tgts=None) -> ProxyContext:
    """Everything a proxy seed fixes: targets, barrier, initial candidate and head weights.

    `tgts`: the targets already drawn, `targets.make_targets(target_key(key), setting, images,
    target_size)` (they do not depend on the architecture: `engine` draws them in a program of
    their own, shared by every shape bucket); None draws them here.

    `real` (DPS shape buckets): per branch a dict of the real `head_kernel, barrier_kernel,
    c_out, c_last` (ints, may be traced) and `on` (0/1) inside the larger shapes of `setting`.
    Weights and targets are then the exact-shape ones (nested draws, see
    `initializers.conv_kernel`) padded with zeros, and `ctx.masks` makes the losses count the
    real channels and branches only, so the masked program computes the exact-shape score."""
    if setting.branches > len(feature_channels):
        raise ValueError(f"setting uses {setting.branches} branches but the space has {len(feature_channels)} feature maps")
    k_tgt, k_net, k_head, k_bar = jax.random.split(key, 4)
    tgts = list(targets.make_targets(k_tgt, setting, images, target_size) if tgts is None else tgts)
    shapes = net_param_shapes(net, images, encoding_shape)
    net0 = initializers.init_tree(k_net, shapes, setting.init)
    heads, barrier, masks = [], [], []
    for b in range(setting.branches):
        kh, kb = jax.random.fold_in(k_head, b), jax.random.fold_in(k_bar, b)
        c_in, k_h, k_b, c_o, c_l = (feature_channels[b], setting.head_kernel[b], setting.barrier_kernel[b],
                                    setting.c_out[b], setting.c_last[b])
        r = real[b] if real is not None else {"head_kernel": k_h, "barrier_kernel": k_b, "c_out": c_o, "c_last": c_l}
        rh, rb, ro, rl = r["head_kernel"], r["barrier_kernel"], r["c_out"], r["c_last"]
        masked = real is not None
        kk, kbias = jax.random.split(kh)
        heads.append({
            "conv": {"kernel": initializers.conv_kernel(kk, (k_h, k_h, c_in, c_o), setting.init,
                                                        (rh, c_in, ro) if masked else None),
                     "bias": initializers.conv_bias(kbias, (c_o,), setting.init, rh * rh * c_in,
                                                    ro if masked else None)},
            "bn": {"scale": jnp.ones((c_o,)), "bias": jnp.zeros((c_o,))},
        })
        kk, kbias = jax.random.split(kb)
        barrier.append({
            "kernel": initializers.conv_kernel(kk, (k_b, k_b, c_o, c_l), setting.barrier_init,
                                               (rb, ro, rl) if masked else None),
            "bias": initializers.conv_bias(kbias, (c_l,), setting.barrier_init, rb * rb * ro,
                                           rl if masked else None)})
        if masked:
            m = {"head": initializers.kernel_mask((k_h, k_h, c_in, c_o), (rh, c_in, ro)),
                 "c_out": (jnp.arange(c_o) < ro).astype(jnp.float32),
                 "c_last": (jnp.arange(c_l) < rl).astype(jnp.float32),
                 "n_last": jnp.asarray(rl, jnp.float32), "on": jnp.asarray(r["on"], jnp.float32)}
            tgts[b] = tgts[b] * m["c_last"]
            masks.append(m)
    return ProxyContext(targets=tuple(tgts), barrier=tuple(barrier), net0=net0, heads0=tuple(heads),
                        masks=tuple(masks))


def input_independent(feature, rtol: float = 1e-5):
    """Whether a feature map `[n, H, W, C]` is the same for every image of the batch (within
    `rtol` of its largest magnitude; an all-zero map is): the network computed it without
    looking at its input (dead graph, e.g. every route to the output through `none`)."""
    spread = jnp.max(jnp.abs(feature - feature[:1]))
    return spread <= rtol * jnp.max(jnp.abs(feature))


def branch_losses(params, ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """Per-branch MSE of barrier(head(feature)) against the target; `params` = {"net", "heads"}.
    In a masked program, over the real channels only (and 0 for a branch that is off)."""
    return branch_losses_dead(params, ctx, setting, net, images, encoding)[0]


def branch_losses_dead(params, ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """`branch_losses`, and whether the deepest feature map (the one a classifier would read)
    ignores the input (`input_independent`) under `params`."""
    feats = net.apply({"params": params["net"]}, images, encoding)
    dead = input_independent(feats[0])
    losses = []
    for b in range(setting.branches):
        h = params["heads"][b]
        m = ctx.masks[b] if ctx.masks else None
        w = h["conv"]["kernel"] if m is None else h["conv"]["kernel"] * m["head"]
        y = ops.conv2d(feats[b], w) + h["conv"]["bias"]
        y = ops.batch_norm(jax.nn.relu(y), h["bn"]["scale"], h["bn"]["bias"])
        if m is not None:
            y = y * m["c_out"]   # padded channels stay exactly zero (and get no gradient)
        bar = ctx.barrier[b]  # not in `params`: never differentiated nor updated
        y = ops.conv2d(y, bar["kernel"]) + bar["bias"]
        sq = jnp.square(y - ctx.targets[b])
        if m is None:
            losses.append(jnp.mean(sq))
        else:
            per = jnp.sum(sq * m["c_last"]) / (sq.size // sq.shape[-1] * m["n_last"])
            losses.append(per * m["on"])
    return jnp.stack(losses), dead


DECAYED_LEAVES = ("kernel",)   # the leaf name of every conv and dense kernel, in every space and head


def decays(path) -> bool:
    """Whether the parameter at `path` (a pytree key path) takes weight decay: conv and dense
    kernels only (leaf named `kernel`), never BatchNorm scales or biases nor conv biases,
    as the authors' optimiser groups do (`weight` of ndim > 1 in PyTorch), whatever the
    leaf's ndim (NB101 and the masked spaces stack BN parameters per slot)."""
    last = path[-1]
    return getattr(last, "key", getattr(last, "name", None)) in DECAYED_LEAVES


def decay_mask(params):
    """`params`' tree of bools: True where `decays`."""
    return jax.tree_util.tree_map_with_path(lambda path, _: decays(path), params)


def optimizer(setting: ProxySetting):
    """SGD with momentum; weight decay (added to the gradient, as PyTorch) on kernels only."""
    return optax.chain(
        optax.masked(optax.add_decayed_weights(setting.weight_decay), decay_mask),
        optax.sgd(setting.lr, momentum=setting.momentum),
    )


def branch_weights(n: int):
    return jnp.asarray([2.0 ** -i for i in range(n)], jnp.float32)


def initial_net_params(ctx: ProxyContext, setting: ProxySetting, net, encoding):
    """The candidate's initial weights for this architecture: `ctx.net0`, shared by every
    architecture, unless the space's module pads layers to a maximum width (NB101), in which
    case its `adapt_params` rescales them to the real fans under the setting's init scheme."""
    adapt = getattr(net, "adapt_params", None)
    return ctx.net0 if adapt is None else adapt(ctx.net0, encoding, setting.init)


def initial_heads(ctx: ProxyContext, setting: ProxySetting, net, encoding):
    """The heads' initial weights: `ctx.heads0`, unless the space pads the features' channels
    (DARTS-family cells with short concats), in which case its `adapt_heads` rescales them to
    the real fan-in under the setting's init scheme."""
    adapt = getattr(net, "adapt_heads", None)
    return ctx.heads0 if adapt is None else adapt(ctx.heads0, encoding, setting.init)


def train(ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """`steps - 1` SGD updates of candidate + heads (the barrier stays in `ctx`, outside the
    trained tree). Returns (final params {"net", "heads"}, per-update losses [steps-1, branches])."""
    params, history, _ = _train(ctx, setting, net, images, encoding)
    return params, history


def _train(ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """`train`, plus per update whether the deepest features ignored the input on its forward pass."""
    tx = optimizer(setting)
    params = {"net": initial_net_params(ctx, setting, net, encoding),
              "heads": initial_heads(ctx, setting, net, encoding)}

    def total(p):
        losses, dead = branch_losses_dead(p, ctx, setting, net, images, encoding)
        return jnp.sum(losses), (losses, dead)

    def step(carry, _):
        p, opt = carry
        (_, aux), grads = jax.value_and_grad(total, has_aux=True)(p)
        updates, opt = tx.update(grads, opt, p)
        return (optax.apply_updates(p, updates), opt), aux

    (params, _), (history, dead) = lax.scan(step, (params, tx.init(params)), None, length=setting.steps - 1)
    return params, history, dead


def train_losses(ctx: ProxyContext, setting: ProxySetting, net, images, encoding):
    """Per-branch losses on the forward pass of step `steps` (after `steps - 1` updates)."""
    params, _ = train(ctx, setting, net, images, encoding)
    return branch_losses(params, ctx, setting, net, images, encoding)


def score_one(ctx: ProxyContext, setting: ProxySetting, net, images, encoding, macs_frac):
    """Eproxy score of one architecture under one proxy seed (lower = better). With
    `setting.dead_last`, +inf for a network whose deepest features do not depend on the
    input at its initial weights: its loss is then the constant predictor's, which would
    rank it among working networks, while the benchmark trains it to chance accuracy."""
    params, _, dead_steps = _train(ctx, setting, net, images, encoding)
    losses, dead_last_step = branch_losses_dead(params, ctx, setting, net, images, encoding)
    # judged on the initial weights (the first forward pass): a network that ignores its
    # input by construction, not one whose units training switched off
    dead = dead_steps[0] if setting.steps > 1 else dead_last_step
    raw = jnp.sum(losses * branch_weights(setting.branches))
    score = raw * (1.0 - setting.alpha * macs_frac)
    score = jnp.where(jnp.isfinite(score), score, jnp.nan)   # diverged (NaN or Inf loss): NaN
    return jnp.where(dead & (setting.dead_last > 0), jnp.inf, score)
