"""Synthetic regression targets of Eproxy (GenNAS-style signals), deterministic per seed.

Per branch the target is `level * sum(selected signals)`, an NHWC tensor
`[n_images, size, size, c_last]`. Signals:

- `wave_l`, `wave_m`, `wave_h`: position features `sin(2*pi*beta*p + phase)`; every channel
  draws its own family (1-D along x, 1-D along y, or 2-D along x+y), frequency `beta`
  (cycles per pixel of the target grid) from the band, and phase from [0, 2*pi). The same for
  every image: the network must produce position-dependent outputs.
- `dot`: independent random +-1 per element.
- `net`: a fixed, randomly initialised 3-layer conv net applied to the input images, resized
  to the target grid and standardised to zero mean and unit variance.

Targets never depend on the architecture. They depend on the proxy seed (the key) and,
for `net`, on the images.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from . import ops
from .initializers import flat_draw
from .setting_spec import SIGNALS

WAVE_BANDS = {
    "wave_l": (0.02, 0.12),
    "wave_m": (0.125, 0.35),
    "wave_h": (0.375, 0.4875),
}


def wave(key, n: int, size: int, channels: int, band):
    lo, hi = band
    k_kind, k_beta, k_phase = jax.random.split(key, 3)
    kind = jax.random.randint(k_kind, (channels,), 0, 3)            # 0: x, 1: y, 2: x+y
    beta = jax.random.uniform(k_beta, (channels,), minval=lo, maxval=hi)
    phase = jax.random.uniform(k_phase, (channels,), maxval=2 * math.pi)
    y, x = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32), indexing="ij")
    pos = jnp.where(kind == 0, x[..., None], jnp.where(kind == 1, y[..., None], (x + y)[..., None]))
    sig = jnp.sin(2 * math.pi * beta * pos + phase)                 # [size, size, C]
    return jnp.broadcast_to(sig, (n, size, size, channels))


def dot(key, n: int, size: int, channels: int):
    return flat_draw(jax.random.rademacher, key, (n, size, size, channels), jnp.float32)


def net(key, images, size: int, channels: int):
    """A fixed random conv net (3x3 convs 3->16->32->C, strides 1, 2, 2, ReLU between)."""
    widths = (images.shape[-1], 16, 32, channels)
    strides = (1, 2, 2)
    x = images
    keys = jax.random.split(key, len(strides))
    for i, (k, s) in enumerate(zip(keys, strides)):
        fan_in = 9 * widths[i]
        w = flat_draw(jax.random.normal, k, (3, 3, widths[i], widths[i + 1])) * math.sqrt(2.0 / fan_in)
        x = ops.conv2d(x, w, stride=s)
        if i < len(strides) - 1:
            x = jax.nn.relu(x)
    x = ops.resize_nearest(x, size)
    return (x - jnp.mean(x)) / (jnp.std(x) + 1e-6)


def signal(name: str, key, images, size: int, channels: int):
    n = images.shape[0]
    if name in WAVE_BANDS:
        return wave(key, n, size, channels, WAVE_BANDS[name])
    if name == "dot":
        return dot(key, n, size, channels)
    if name == "net":
        return net(key, images, size, channels)
    raise ValueError(f"unknown signal {name!r}")


def branch_target(key, images, size: int, channels: int, mask, level):
    """`level * sum_s mask[s] * signal_s`; `mask` and `level` may be traced (DPS genes are data)."""
    keys = jax.random.split(key, len(SIGNALS))
    out = jnp.zeros((images.shape[0], size, size, channels), jnp.float32)
    for i, (name, k) in enumerate(zip(SIGNALS, keys)):
        out = out + mask[i] * signal(name, k, images, size, channels)
    return level * out


def make_targets(key, setting, images, size: int):
    """One target per branch of `setting` (a `ProxySetting`), as a tuple of NHWC arrays."""
    keys = jax.random.split(key, setting.branches)
    return tuple(
        branch_target(keys[b], images, size, setting.c_last[b], setting.signal_mask[b], setting.level[b])
        for b in range(setting.branches)
    )
