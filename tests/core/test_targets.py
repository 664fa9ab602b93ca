"""eproxy_jax.targets: shapes, determinism, per-signal statistics, level and mask algebra.

All single-branch checks share one setting structure (value genes only differ), so they
reuse one compiled `make_targets`.
"""
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eproxy_jax import targets
from eproxy_jax.setting import ProxySetting
from eproxy_jax.setting_spec import SIGNALS

make_targets = jax.jit(targets.make_targets, static_argnums=(3,))

N, SIZE, C = 3, 16, 512

# GenNAS frequency bands (cycles per pixel), from the method description
BANDS = {"wave_l": (0.02, 0.12), "wave_m": (0.125, 0.35), "wave_h": (0.375, 0.4875)}


def _images(seed=0, n=N, size=16):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((n, size, size, 3)), jnp.float32)


IMAGES = _images()


def one_branch(signals, level=1.0, c_last=C):
    return ProxySetting.from_dict({"branches": 1, "signals": [signals], "level": [level], "c_last": [c_last]})


def target(signals, key=0, level=1.0, images=IMAGES):
    (t,) = make_targets(jax.random.PRNGKey(key), one_branch(signals, level), images, SIZE)
    return np.asarray(t, np.float64)


TWO = {"branches": 2, "c_last": [16, 512], "signals": [["wave_h", "net", "dot"], ["wave_l", "net"]]}


@pytest.mark.parametrize("size,d,c_last", [
    (4, {"branches": 1, "c_last": [16], "signals": [["net", "dot"]]}, (16,)),
    (8, TWO, (16, 512)),
    (16, {"branches": 1, "c_last": [C], "signals": [["wave_m"]]}, (C,)),  # shares the statistics tests' program
])
def test_shapes_per_branch(size, d, c_last):
    out = make_targets(jax.random.PRNGKey(0), ProxySetting.from_dict(d), IMAGES, size)
    assert isinstance(out, tuple) and len(out) == len(c_last)
    for t, c in zip(out, c_last):
        chex.assert_shape(t, (N, size, size, c))
    chex.assert_tree_all_finite(out)
    assert all(float(jnp.abs(t).max()) > 0.1 for t in out)


def test_deterministic_per_key():
    sig = ["wave_h", "dot", "net"]
    a, b, c = target(sig, key=1), target(sig, key=1), target(sig, key=2)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    for name in SIGNALS:  # every signal depends on the key
        assert not np.allclose(target([name], key=1), target([name], key=2))


def test_branches_draw_their_own_targets():
    s = ProxySetting.from_dict(dict(TWO, signals=[["wave_h", "dot", "net"]] * 2))
    t0, t1 = make_targets(jax.random.PRNGKey(1), s, IMAGES, 8)
    # same signals, different branch -> different values (compare the shared first 16 channels)
    assert not np.allclose(t0, t1[..., :16])
    # and each branch is itself deterministic
    chex.assert_trees_all_equal((t0, t1), make_targets(jax.random.PRNGKey(1), s, IMAGES, 8))


def _frequency(seq):
    """beta of a sampled sinusoid s_p = sin(2 pi beta p + phi) from s_{p+1} + s_{p-1} = 2 cos(2 pi beta) s_p;
    also returns the recurrence's residual (0 for a pure sinusoid)."""
    mid, nb = seq[1:-1], seq[2:] + seq[:-2]
    c = float(np.dot(mid, nb) / (2 * np.dot(mid, mid)))
    resid = float(np.abs(nb - 2 * c * mid).max())
    return math.acos(max(-1.0, min(1.0, c))) / (2 * math.pi), resid


@pytest.mark.parametrize("name", ["wave_l", "wave_m", "wave_h"])
def test_wave_statistics_and_band(name):
    t = target([name])
    chex.assert_shape(t, (N, SIZE, SIZE, C))
    assert t.min() >= -2.0 - 1e-6 and t.max() <= 2.0 + 1e-6
    for i in range(1, N):
        np.testing.assert_array_equal(t[i], t[0])  # the same for every image
    assert abs(t.mean()) < 0.1
    assert abs(t.std() - 1.0) < 0.05  # a 1-D plus a 2-D unit-amplitude sinusoid
    assert targets.WAVE_BANDS[name] == BANDS[name]


@pytest.mark.parametrize("name", ["wave_l", "wave_m", "wave_h"])
def test_wave_frequencies(name):
    """On a 64 px grid each channel's spectrum peaks at one axis-aligned frequency (the 1-D
    wave) and one with both coordinates non-zero (the 2-D wave), every non-zero coordinate
    inside the band (up to the grid's resolution and leakage)."""
    lo, hi = BANDS[name]
    n = 64
    (t,) = jax.jit(targets.make_targets, static_argnums=(3,))(
        jax.random.PRNGKey(1), one_branch([name], c_last=32), IMAGES, n)
    t = np.asarray(t[0], np.float64)
    freqs = np.fft.fftfreq(n)
    two_d = 0
    for ch in range(t.shape[-1]):
        spec = np.abs(np.fft.fft2(t[:, :, ch]))
        spec[0, 0] = 0.0
        for _ in range(2):   # the two strongest peaks (each comes with its mirror image)
            iy, ix = np.unravel_index(np.argmax(spec), spec.shape)
            fy, fx = abs(freqs[iy]), abs(freqs[ix])
            for f in (fy, fx):
                assert f == 0 or lo - 2.0 / n <= f <= hi + 2.0 / n, (name, ch, fy, fx)
            assert fy > 0 or fx > 0
            two_d += fy > 0 and fx > 0
            spec[iy, ix] = spec[-iy % n, -ix % n] = 0.0
            for dy in (-1, 0, 1):          # leakage around the peak
                for dx in (-1, 0, 1):
                    spec[(iy + dy) % n, (ix + dx) % n] = spec[(-iy + dy) % n, (-ix + dx) % n] = 0.0
    assert two_d >= t.shape[-1] // 2   # the 2-D waves are there


def test_dot_statistics():
    t = target(["dot"])
    np.testing.assert_array_equal(np.abs(t), 1.0)
    assert abs(t.mean()) < 0.02
    assert not np.array_equal(t[0], t[1])


def test_net_statistics():
    t = target(["net"])
    assert abs(t.mean()) < 1e-3
    assert abs(t.std() - 1.0) < 1e-3
    assert not np.allclose(t[0], t[1])  # depends on the image
    # a function of the images only: the same images give the same target, others a different one
    np.testing.assert_allclose(target(["net"], images=IMAGES), t)
    assert not np.allclose(target(["net"], images=_images(seed=1)), t)
    # the wave targets ignore the images
    np.testing.assert_array_equal(target(["wave_h"], images=_images(seed=1)), target(["wave_h"]))


def test_level_scales_linearly():
    sig = ["wave_m", "dot", "net"]
    base = target(sig, level=1.0)
    for level in (0.5, 2.0, -1.5):
        np.testing.assert_allclose(target(sig, level=level), level * base, rtol=1e-5, atol=1e-5)


def test_signal_mask_is_a_sum():
    singles = {s: target([s], key=4) for s in SIGNALS}
    for pair in (["wave_h", "dot"], ["net", "wave_l"], ["wave_l", "wave_m"]):
        np.testing.assert_allclose(target(pair, key=4), singles[pair[0]] + singles[pair[1]], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target(list(SIGNALS), key=4, level=0.5), 0.5 * sum(singles.values()),
                               rtol=1e-5, atol=1e-5)
    # different signals are different tensors
    assert not np.allclose(singles["wave_l"], singles["wave_h"])


def test_unknown_signal_raises():
    with pytest.raises(ValueError):
        targets.signal("sine", jax.random.PRNGKey(0), IMAGES, 4, 2)


def _waves(mode, key=5, n=4, channels=6, size=8, band=BANDS["wave_h"]):
    return np.asarray(targets.wave(jax.random.PRNGKey(key), n, size, channels, band, mode))


@pytest.mark.parametrize("mode", [1, 2])   # per_image_waves "phase", "all"
def test_per_image_waves_differ_across_images_and_repeat_per_seed(mode):
    t = _waves(mode)
    for i in range(1, t.shape[0]):
        assert not np.allclose(t[i], t[0])
    np.testing.assert_array_equal(t, _waves(mode))            # fixed by the proxy seed
    assert not np.allclose(t, _waves(mode, key=6))
    # image i's waves depend on the seed and i only, not on how many images there are
    np.testing.assert_allclose(_waves(mode, n=2), t[:2], rtol=1e-6, atol=1e-6)
    # and channel c on neither the channel count (the DPS shape buckets' prefix property)
    np.testing.assert_allclose(_waves(mode, channels=3), t[..., :3], rtol=1e-6, atol=1e-6)


def test_shared_waves_are_one_pattern_with_the_prefix_property():
    t = _waves(0)
    for i in range(1, t.shape[0]):
        np.testing.assert_array_equal(t[i], t[0])
    np.testing.assert_allclose(_waves(0, channels=3), t[..., :3], rtol=1e-6, atol=1e-6)


def test_what_each_wave_mode_draws_per_image():
    """"phase": frequencies, axes and flips shared, phases per image; "all": everything per
    image (GenNAS's local=True); "off": one draw for every image."""
    key = jax.random.PRNGKey(2)
    per_param = {m: targets.image_wave_params(key, 3, 64, BANDS["wave_m"], m) for m in range(3)}
    for name in targets.WAVE_PARAMS:
        varies = {m: not all(np.array_equal(per_param[m][name][i], per_param[m][name][0]) for i in (1, 2))
                  for m in range(3)}
        assert varies == {0: False, 1: name in targets.PHASES, 2: True}, name
        if name not in targets.PHASES:   # "phase" keeps the shared draw of everything else
            np.testing.assert_array_equal(per_param[1][name], per_param[0][name])


def test_per_image_waves_is_data_not_shape():
    """The three modes share one compiled target program (no compile per mode)."""
    @jax.jit
    @chex.assert_max_traces(n=1)
    def build(key, setting):
        return targets.make_targets(key, setting, IMAGES, 4)

    out = {}
    for mode in ("off", "phase", "all"):
        s = ProxySetting.from_dict({"branches": 1, "signals": [["wave_l"]], "c_last": [4], "per_image_waves": mode})
        out[mode] = np.asarray(build(jax.random.PRNGKey(0), s)[0])
    np.testing.assert_array_equal(out["off"][1], out["off"][0])
    assert not np.allclose(out["phase"][1], out["phase"][0]) and not np.allclose(out["all"], out["phase"])


def test_batched_targets_equal_one_draw_per_branch():
    """make_targets draws all branches and signals batched (for the compile time); each branch
    equals the reference `branch_target` of its own key and channel count, for every wave mode."""
    for mode in ("off", "all"):
        s = ProxySetting.from_dict({"branches": 3, "c_last": [4, 16, 8], "signals": [["wave_h", "net"], ["dot", "wave_l"],
                                    ["wave_m", "wave_h", "dot", "net"]], "level": [1.5, 0.5, 1.0], "per_image_waves": mode})
        got = make_targets(jax.random.PRNGKey(3), s, IMAGES, 8)
        for b, t in enumerate(got):
            want = targets.branch_target(jax.random.fold_in(jax.random.PRNGKey(3), b), IMAGES, 8, s.c_last[b],
                                         s.signal_mask[b], s.level[b], s.wave_mode)
            chex.assert_shape(t, (N, 8, 8, s.c_last[b]))
            np.testing.assert_allclose(t, want, rtol=1e-5, atol=1e-5, err_msg=f"{mode} branch {b}")
