"""Synthetic regression targets of Eproxy (GenNAS-style signals), deterministic per seed.

Per branch the target is `level * sum(selected signals)`, an NHWC tensor
`[n_images, size, size, c_last]`. Signals:

- `wave_l`, `wave_m`, `wave_h`: position features `sin(2*pi*beta*p + phase)` (GenNAS-style):
  per channel a 1-D wave along x or y plus a 2-D wave with independent x and y frequencies,
  `beta` (cycles per pixel of the target grid) from the band, phases from [0, 2*pi). By
  default the same for every image: the network must produce position-dependent outputs.
  The setting's `per_image_waves` ("phase", "all") draws image i's phases, or all its wave
  parameters, under `fold_in(key, i)` instead (GenNAS draws its wave bank per image).
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
from jax import lax

from .nn import ops
from .nn.initializers import flat_draw
from .setting_spec import SIGNALS

WAVE_BANDS = {
    "wave_l": (0.02, 0.12),
    "wave_m": (0.125, 0.35),
    "wave_h": (0.375, 0.4875),
}


BETAS_PER_BAND = 10   # frequencies are drawn from a 10-value grid over the band


WAVE_PARAMS = ("beta_1d", "axis", "phase_1d", "beta_y", "beta_x", "flip", "phase_2d")
PHASES = ("phase_1d", "phase_2d")


def wave_params(key, channels: int, band) -> dict:
    """One draw of every wave parameter, each `[channels]` and drawn per channel, so channel
    c is the same for any channel count: the 1-D wave's frequency, axis (0: x, 1: y) and
    phase; the 2-D wave's y and x frequencies, y flip and phase. Frequencies (cycles per
    pixel) come from a grid of `BETAS_PER_BAND` values over the band, phases from [0, 2 pi)."""
    betas = jnp.linspace(band[0], band[1], BETAS_PER_BAND)
    k = jax.random.split(key, len(WAVE_PARAMS))
    pick = lambda kk: betas[jax.random.randint(kk, (channels,), 0, BETAS_PER_BAND)]  # noqa: E731
    coin = lambda kk: jax.random.randint(kk, (channels,), 0, 2)  # noqa: E731
    phase = lambda kk: jax.random.uniform(kk, (channels,), maxval=2 * math.pi)  # noqa: E731
    draw = (pick, coin, phase, pick, pick, coin, phase)
    return {name: f(kk) for name, f, kk in zip(WAVE_PARAMS, draw, k)}


def image_wave_params(key, n: int, channels: int, band, mode) -> dict:
    """Each image's wave parameters, `[n, channels]` per parameter. `mode` (an index into
    `setting_spec.WAVE_MODES`, may be traced): 0 every image takes the one draw of `key`;
    1 each image i draws its own phases under `fold_in(key, i)` (frequencies, axes and flips
    shared); 2 each image draws every parameter under `fold_in(key, i)`, as GenNAS's
    `generate_wave(local=True)` draws its whole bank per image."""
    shared = wave_params(key, channels, band)
    own = jax.vmap(lambda i: wave_params(jax.random.fold_in(key, i), channels, band))(jnp.arange(n))
    mode = jnp.asarray(mode, jnp.int32)
    return {name: jnp.where((mode >= 2) | ((mode >= 1) & (name in PHASES)), own[name], shared[name][None])
            for name in WAVE_PARAMS}


def wave(key, n: int, size: int, channels: int, band, mode=0):
    """GenNAS-style position waves, `[n, size, size, channels]`.

    Each channel is the sum of a 1-D wave (along x or along y) and a 2-D wave whose x and y
    frequencies are drawn independently (its y axis flipped at random, so both diagonal
    orientations occur), as GenNAS sums its sin1d and sin2d targets: variance 1. `mode`
    chooses what differs between images (`image_wave_params`); by default nothing.
    """
    p = {k: v[:, None, None, :] for k, v in image_wave_params(key, n, channels, band, mode).items()}
    y, x = jnp.meshgrid(jnp.arange(size, dtype=jnp.float32), jnp.arange(size, dtype=jnp.float32), indexing="ij")
    y, x = y[None, :, :, None], x[None, :, :, None]
    one_d = jnp.sin(2 * math.pi * p["beta_1d"] * jnp.where(p["axis"] == 0, x, y) + p["phase_1d"])
    yy = jnp.where(p["flip"] == 1, size - 1 - y, y)
    two_d = jnp.sin(2 * math.pi * (p["beta_y"] * yy + p["beta_x"] * x) + p["phase_2d"])
    return one_d + two_d


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


def signal(name: str, key, images, size: int, channels: int, wave_mode=0):
    n = images.shape[0]
    if name in WAVE_BANDS:
        return wave(key, n, size, channels, WAVE_BANDS[name], wave_mode)
    if name == "dot":
        return dot(key, n, size, channels)
    if name == "net":
        return net(key, images, size, channels)
    raise ValueError(f"unknown signal {name!r}")


def branch_target(key, images, size: int, channels: int, mask, level, wave_mode=0):
    """`level * sum_s mask[s] * signal_s`; `mask`, `level` and `wave_mode` may be traced
    (DPS genes are data). The reference definition of one branch's target: `make_targets`
    computes the same values for all branches at once."""
    keys = jax.random.split(key, len(SIGNALS))
    out = jnp.zeros((images.shape[0], size, size, channels), jnp.float32)
    for i, (name, k) in enumerate(zip(SIGNALS, keys)):
        out = out + mask[i] * signal(name, k, images, size, channels, wave_mode)
    return level * out


def make_targets(key, setting, images, size: int):
    """One target per branch of `setting` (a `ProxySetting`), as a tuple of NHWC arrays:
    `branch_target(fold_in(key, b), ..., c_last[b], ...)` for each branch b.

    Computed batched, for the compile time: every signal of every branch is drawn at the
    widest branch's channel count (channel c does not depend on the count, so branch b takes
    its first `c_last[b]` channels) and the three wave bands of all branches run as one
    vmapped draw, the `net` signals as one `lax.map`. The random bits are the same as one
    draw per branch and signal; XLA:CPU compiles each random draw separately, so the
    unbatched form (15 draws per branch) took most of a scoring program's preparation."""
    nb, n = setting.branches, images.shape[0]
    width = max(setting.c_last[:nb])
    keys = jnp.stack([jax.random.split(jax.random.fold_in(key, b), len(SIGNALS)) for b in range(nb)])
    waves = [i for i, name in enumerate(SIGNALS) if name in WAVE_BANDS]
    bands = jnp.asarray([WAVE_BANDS[SIGNALS[i]] for i in waves], jnp.float32)
    one_wave = lambda k, band: wave(k, n, size, width, band, setting.wave_mode)  # noqa: E731
    drawn = {SIGNALS[i]: x for i, x in zip(waves, jnp.moveaxis(
        jax.vmap(jax.vmap(one_wave, in_axes=(0, 0)), in_axes=(0, None))(keys[:, waves], bands), 1, 0))}
    drawn["dot"] = jax.vmap(lambda k: dot(k, n, size, width))(keys[:, SIGNALS.index("dot")])
    drawn["net"] = lax.map(lambda k: net(k, images, size, width), keys[:, SIGNALS.index("net")])
    out = []
    for b in range(nb):
        c, mask = setting.c_last[b], setting.signal_mask[b]
        t = jnp.zeros((n, size, size, c), jnp.float32)
        for i, name in enumerate(SIGNALS):
            t = t + mask[i] * drawn[name][b, ..., :c]
        out.append(setting.level[b] * t)
    return tuple(out)
