"""Weight initialisation schemes, selectable by a traced integer (a DPS gene is data).

Parameter trees follow one convention: a convolution is a dict holding `kernel`
(`[..., kh, kw, c_in, c_out]`, leading axes = stacked copies, e.g. from `nn.scan`) and
optionally `bias`; a BatchNorm is a dict holding `scale` and `bias`. Every scheme is
`gain(fan_in, fan_out) * base` with `base` a uniform(-1, 1) or standard-normal draw, so all
five are computed from the same two draws and selected by index without recompiling.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import jax.scipy.special

INIT_NAMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "pytorch_default")
PYTORCH_DEFAULT = INIT_NAMES.index("pytorch_default")


_IS_NORMAL = (False, True, False, True, False)


def _gain_formulas(fan_in, fan_out, sqrt):
    """Uniform bound or normal std per scheme, in INIT_NAMES order (`sqrt`: math's or jnp's)."""
    return (sqrt(6.0 / (fan_in + fan_out)),   # xavier_uniform
            sqrt(2.0 / (fan_in + fan_out)),   # xavier_normal
            sqrt(6.0 / fan_out),              # kaiming_uniform, fan_out, relu gain
            sqrt(2.0 / fan_out),              # kaiming_normal, fan_out, relu gain
            1.0 / sqrt(fan_in))               # PyTorch default: U(+-1/sqrt(fan_in))


def _gains(fan_in: int, fan_out: int):
    """(uniform bound or normal std, is_normal) per scheme, in INIT_NAMES order."""
    return tuple(zip(_gain_formulas(fan_in, fan_out, math.sqrt), _IS_NORMAL))


def flat_draw(sampler, key, shape, *args):
    """`sampler(key, shape, *args)` drawn flat and reshaped: the same values as an N-d draw,
    but XLA:CPU compiles the flat threefry draw several times faster."""
    return sampler(key, (math.prod(shape),), *args).reshape(shape)


def _select(uni, nor, shape, scheme, fan_in, fan_out):
    options = jnp.stack([g * (nor if is_normal else uni) for g, is_normal in _gains(fan_in, fan_out)])
    return options[jnp.asarray(scheme, jnp.int32)].reshape(shape)


KMAX = 7  # the largest kernel of the DPS grid: every head/barrier kernel is cut from a KMAX draw


def _gains_traced(fan_in, fan_out):
    """`_gains` with fans that may be traced (the real fans of a masked kernel)."""
    return jnp.stack(_gain_formulas(jnp.asarray(fan_in, jnp.float32), jnp.asarray(fan_out, jnp.float32), jnp.sqrt))


def fan_rescale(kernel, c_in_real, c_out_real, scheme):
    """A kernel `[..., kh, kw, c_in, c_out]` drawn at its (padded) shape's fans, rescaled to the
    scale `scheme` gives its real channel counts (traced, clipped to >= 1; a leading axis of
    per-slot counts scales the kernel's leading axis). Every scheme's scale is a function of
    the fans, so this is the exact-shape draw's distribution."""
    kh, kw, cin, cout = kernel.shape[-4:]
    fi = kh * kw * jnp.maximum(jnp.asarray(c_in_real, jnp.float32), 1.0)
    fo = kh * kw * jnp.maximum(jnp.asarray(c_out_real, jnp.float32), 1.0)
    ratio = _gains_traced(fi, fo)[scheme] / _gains_traced(kh * kw * cin, kh * kw * cout)[scheme]
    return kernel * ratio.reshape(ratio.shape + (1,) * 4) if ratio.ndim else kernel * ratio


def rescale_head(head, c_in_real, scheme):
    """A proxy head `{"conv": {"kernel", "bias"}, "bn"}` drawn for all the channels of a padded
    feature, rescaled to the `c_in_real` channels that are real: the kernel by `fan_rescale`,
    the bias by sqrt(padded / real fan-in) (PyTorch's default draws U(+-1/sqrt(fan_in));
    the other schemes' zero biases stay zero)."""
    k = head["conv"]["kernel"]
    c_in, c_out = k.shape[-2:]
    real = jnp.maximum(jnp.asarray(c_in_real, jnp.float32), 1.0)
    return {"conv": {"kernel": fan_rescale(k, real, c_out, scheme), "bias": head["conv"]["bias"] * jnp.sqrt(c_in / real)},
            "bn": head["bn"]}


def tap_mask(k: int, real_k):
    """[k, k] 1/0: the centred `real_k` x `real_k` window of a k x k kernel (`real_k` may be traced)."""
    d = jnp.abs(jnp.arange(k) - k // 2)
    inside = d <= jnp.asarray(real_k) // 2
    return (inside[:, None] & inside[None, :]).astype(jnp.float32)


def conv_kernel(key, shape, scheme, real=None):
    """A head/barrier conv kernel `[k, k, c_in, c_out]` under scheme `scheme` (int, may be traced).

    Nested draws, so a smaller setting's kernel is exactly a corner of a larger one's: output
    channel `o` comes from `fold_in(key, o)` as a `[c_in, K, K]` uniform draw (K = max(KMAX, k))
    centre-cropped to k. Hence `conv_kernel(key, (3, 3, 32, 64))` equals the real part of
    `conv_kernel(key, (7, 7, 128, 512), real=(3, 32, 64))`, which is zero elsewhere: a masked
    program (DPS shape buckets) starts from the same weights as the exact-shape build.
    `real = (k, c_in, c_out)` (may be traced) also sets the fans of the scheme's scale.
    Normal variates are `ndtri` of the same uniforms.
    """
    k, _, c_in, c_out = shape
    big = max(KMAX, k)

    def one(o):
        return jax.random.uniform(jax.random.fold_in(key, o), (c_in, big, big), jnp.float32)

    u = jax.vmap(one)(jnp.arange(c_out))
    lo = (big - k) // 2
    u = jnp.clip(u[:, :, lo:lo + k, lo:lo + k].transpose(2, 3, 1, 0), 1e-7, 1.0 - 1e-7)
    rk, rin, rout = real if real is not None else (k, c_in, c_out)
    scale = _gains_traced(rk * rk * rin, rk * rk * rout)[scheme]
    normal = jnp.asarray(_IS_NORMAL)[scheme]
    w = jnp.where(normal, jax.scipy.special.ndtri(u), 2.0 * u - 1.0) * scale
    if real is not None:
        w = w * kernel_mask(shape, real)
    return w


def kernel_mask(shape, real):
    """1/0 mask of the real `(k, c_in, c_out)` part of a `[K, K, C_in, C_out]` kernel."""
    k, _, c_in, c_out = shape
    rk, rin, rout = real
    return (tap_mask(k, rk)[:, :, None, None] * (jnp.arange(c_in) < rin)[None, None, :, None]
            * (jnp.arange(c_out) < rout)[None, None, None, :])


def conv_bias(key, shape, scheme, fan_in, real_c=None):
    """PyTorch's default draws the bias from U(+-1/sqrt(fan_in)); the other schemes use zeros.
    Channel `i` is the same draw for any length (prefix-stable); `real_c` masks the rest."""
    b = _bias(jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0), scheme, fan_in)
    if real_c is not None:
        b = b * (jnp.arange(shape[0]) < real_c)
    return b


def _bias(uni, scheme, fan_in):
    drawn = uni / jnp.sqrt(jnp.asarray(fan_in, jnp.float32))
    return jnp.where(jnp.asarray(scheme) == PYTORCH_DEFAULT, drawn, jnp.zeros_like(drawn))


def init_tree(key, tree, scheme):
    """Re-initialise every conv/BN in a parameter tree (Flax `params` dict) under `scheme`.

    Works on arrays or `jax.ShapeDtypeStruct`s (only shapes are read). All kernels are cut
    from three draws (uniform, normal, bias) so the compiled program stays small.
    """
    convs, sizes = [], [0, 0]

    def collect(node, path):
        if hasattr(node, "items"):
            node = dict(node)
            if "kernel" in node:
                convs.append((path, node["kernel"].shape, node["bias"].shape if "bias" in node else None))
                sizes[0] += math.prod(node["kernel"].shape)
                sizes[1] += math.prod(node["bias"].shape) if "bias" in node else 0
                return
            for name in sorted(node):
                collect(node[name], path + (name,))

    collect(tree, ())
    ku, kn, kb = jax.random.split(key, 3)
    uni = jax.random.uniform(ku, (max(sizes[0], 1),), jnp.float32, -1.0, 1.0)
    nor = jax.random.normal(kn, (max(sizes[0], 1),), jnp.float32)
    bias_uni = jax.random.uniform(kb, (max(sizes[1], 1),), jnp.float32, -1.0, 1.0)
    made, ok, ob = {}, 0, 0
    for path, kshape, bshape in convs:
        # a 2-D conv [kh, kw, in, out] (leading dims: stacked slots); a dense [in, out] or 1-D conv
        # [k, in, out] kernel (user models, `user_model.score_model`): the same fans, receptive field 1 or k
        field = math.prod(kshape[-4:-2]) if len(kshape) >= 4 else math.prod(kshape[:-2])
        cin, cout = kshape[-2:]
        n = math.prod(kshape)
        entry = {"kernel": _select(uni[ok:ok + n], nor[ok:ok + n], kshape, scheme, field * cin, field * cout)}
        ok += n
        if bshape is not None:
            nb = math.prod(bshape)
            entry["bias"] = _bias(bias_uni[ob:ob + nb].reshape(bshape), scheme, field * cin)
            ob += nb
        made[path] = entry

    def rebuild(node, path):
        if path in made:
            return made[path]
        node = dict(node)
        if "scale" in node:
            return {"scale": jnp.ones(node["scale"].shape, jnp.float32), "bias": jnp.zeros(node["bias"].shape, jnp.float32)}
        return {name: rebuild(node[name], path + (name,)) for name in node}

    return rebuild(tree, ())
