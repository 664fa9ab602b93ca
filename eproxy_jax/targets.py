"""Synthetic regression targets of Eproxy (GenNAS-style signals), deterministic per seed.

Per branch the target is `level * sum(selected signals)`, an NHWC tensor
`[n_images, size, size, c_last]`. Signals:

- `wave_l`, `wave_m`, `wave_h`: position features `sin(2*pi*beta*p + phase)` (GenNAS-style):
  per channel a 1-D wave along x or y plus a 2-D wave with independent x and y frequencies,
  `beta` (cycles per pixel of the target grid) from the band, phases from [0, 2*pi). The same
  for every image: the network must produce position-dependent outputs.
- `dot`: independent random +-1 per element.
- `net`: a fixed, randomly initialised 3-layer conv net applied to the input images, resized
  to the target grid, each channel standardised to zero mean and unit variance.

Targets never depend on the architecture. They depend on the proxy seed (the key) and,
for `net`, on the images. Every draw is made so that channel `c` is the same whatever the
channel count (a target with fewer channels is a prefix of one with more), which lets DPS
run a setting inside a larger, masked program.
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


BETAS_PER_BAND = 10   # frequencies are drawn from a 10-value grid over the band


def wave(key, n: int, size: int, channels: int, band):
    """GenNAS-style position waves, `[n, size, size, channels]`, the same for every image.

    Each channel is the sum of a 1-D wave (along x or along y) and a 2-D wave whose x and y
    frequencies are drawn independently (its y axis flipped at random, so both diagonal
    orientations occur), as GenNAS sums its sin1d and sin2d targets: variance 1. Frequencies
    `beta` (cycles per pixel) come from a grid over the band, phases from [0, 2 pi); every
    draw is per channel, so channel c is the same for any channel count.
    """
    lo, hi = band
    betas = jnp.linspace(lo, hi, BETAS_PER_BAND)
    k = jax.random.split(key, 7)
    pick = lambda kk: betas[jax.random.randint(kk, (channels,), 0, BETAS_PER_BAND)]  # noqa: E731
    y, x = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32), indexing="ij")
    y, x = y[..., None], x[..., None]
    axis = jax.random.randint(k[1], (channels,), 0, 2)
    ph1 = jax.random.uniform(k[2], (channels,), maxval=2 * math.pi)
    one_d = jnp.sin(2 * math.pi * pick(k[0]) * jnp.where(axis == 0, x, y) + ph1)
    flip = jax.random.randint(k[5], (channels,), 0, 2)
    ph2 = jax.random.uniform(k[6], (channels,), maxval=2 * math.pi)
    yy = jnp.where(flip == 1, size - 1 - y, y)
    two_d = jnp.sin(2 * math.pi * (pick(k[3]) * yy + pick(k[4]) * x) + ph2)
    return jnp.broadcast_to(one_d + two_d, (n, size, size, channels))


def dot(key, n: int, size: int, channels: int):
    # drawn channel-major so channel c is the same for any channel count (DPS shape buckets)
    return flat_draw(jax.random.rademacher, key, (channels, n, size, size), jnp.float32).transpose(1, 2, 3, 0)


def net(key, images, size: int, channels: int):
    """A fixed random conv net (3x3 convs 3->16->32->C, strides 1, 2, 2, ReLU between)."""
    widths = (images.shape[-1], 16, 32, channels)
    strides = (1, 2, 2)
    x = images
    keys = jax.random.split(key, len(strides))
    for i, (k, s) in enumerate(zip(keys, strides)):
        fan_in = 9 * widths[i]
        # output-channel-major draw: channel c is the same for any channel count
        w = flat_draw(jax.random.normal, k, (widths[i + 1], 3, 3, widths[i])).transpose(1, 2, 3, 0)
        x = ops.conv2d(x, w * math.sqrt(2.0 / fan_in), stride=s)
        if i < len(strides) - 1:
            x = jax.nn.relu(x)
    x = ops.resize_nearest(x, size)
    mean = jnp.mean(x, axis=(0, 1, 2))
    return (x - mean) / (jnp.std(x, axis=(0, 1, 2)) + 1e-6)   # each channel: zero mean, unit variance


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
    return tuple(
        branch_target(jax.random.fold_in(key, b), images, size, setting.c_last[b], setting.signal_mask[b],
                      setting.level[b])
        for b in range(setting.branches)
    )
