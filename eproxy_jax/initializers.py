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

INIT_NAMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "pytorch_default")
PYTORCH_DEFAULT = INIT_NAMES.index("pytorch_default")


def _gains(fan_in: int, fan_out: int):
    """(uniform bound or normal std, is_normal) per scheme, in INIT_NAMES order."""
    return (
        (math.sqrt(6.0 / (fan_in + fan_out)), False),   # xavier_uniform
        (math.sqrt(2.0 / (fan_in + fan_out)), True),    # xavier_normal
        (math.sqrt(6.0 / fan_out), False),              # kaiming_uniform, fan_out, relu gain
        (math.sqrt(2.0 / fan_out), True),               # kaiming_normal, fan_out, relu gain
        (1.0 / math.sqrt(fan_in), False),               # PyTorch default: U(+-1/sqrt(fan_in))
    )


def flat_draw(sampler, key, shape, *args):
    """`sampler(key, shape, *args)` drawn flat and reshaped: the same values as an N-d draw,
    but XLA:CPU compiles the flat threefry draw several times faster."""
    return sampler(key, (math.prod(shape),), *args).reshape(shape)


def _select(uni, nor, shape, scheme, fan_in, fan_out):
    options = jnp.stack([g * (nor if is_normal else uni) for g, is_normal in _gains(fan_in, fan_out)])
    return options[jnp.asarray(scheme, jnp.int32)].reshape(shape)


def conv_kernel(key, shape, scheme, fan_in: int | None = None, fan_out: int | None = None):
    """Draw a conv kernel `[..., kh, kw, c_in, c_out]` under scheme `scheme` (int, may be traced).

    `fan_in`/`fan_out` override the fans computed from the shape (used when a kernel is a
    slice of a larger masked tensor and must be initialised with its real fan-in).
    """
    kh, kw, cin, cout = shape[-4:]
    ku, kn = jax.random.split(key)
    uni = flat_draw(jax.random.uniform, ku, shape, jnp.float32, -1.0, 1.0)
    nor = flat_draw(jax.random.normal, kn, shape, jnp.float32)
    return _select(uni, nor, shape, scheme, fan_in or kh * kw * cin, fan_out or kh * kw * cout)


def conv_bias(key, shape, scheme, fan_in: int):
    """PyTorch's default draws the bias from U(+-1/sqrt(fan_in)); the other schemes use zeros."""
    return _bias(flat_draw(jax.random.uniform, key, shape, jnp.float32, -1.0, 1.0), scheme, fan_in)


def _bias(uni, scheme, fan_in):
    drawn = uni / math.sqrt(fan_in)
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
        kh, kw, cin, cout = kshape[-4:]
        n = math.prod(kshape)
        entry = {"kernel": _select(uni[ok:ok + n], nor[ok:ok + n], kshape, scheme, kh * kw * cin, kh * kw * cout)}
        ok += n
        if bshape is not None:
            nb = math.prod(bshape)
            entry["bias"] = _bias(bias_uni[ob:ob + nb].reshape(bshape), scheme, kh * kw * cin)
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
