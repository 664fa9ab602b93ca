"""DPS fitness: many proxy settings scored on the same architectures with a few programs.

A DPS genome changes shapes (branch count, kernel sizes, channel counts), so scoring every
candidate with its exact-shape program would compile once per candidate. Instead a
candidate runs inside a *shape bucket*: a program built for per-branch maxima
`(head_kernel, barrier_kernel, c_out, c_last)` and all branches, where the candidate's real
sizes and branch count are data. Its weights and targets are its exact-shape ones padded
with zeros (nested random draws, `initializers.conv_kernel`), and the losses count its real
channels and branches only (`proxy.prepare(real=...)`), so a bucket computes the same score
as the exact build (tested). A candidate goes to the first bucket that holds all its
branches. Buckets cost what their maxima cost (a 7x7, 512 -> 512 barrier is about 10x the
whole NB201 network), so the default keeps a bucket at the paper's size beside the largest.

`Evaluator(space, archs, ...)` holds the architectures and compiles one program per bucket
used: `scores(settings)` returns `[n_settings, n_archs]`; settings are run `batch` at a time
(padding skipped by `lax.cond`), architectures `chunk` at a time.
"""
from __future__ import annotations

import numpy as np

import jax.numpy as jnp
from jax import lax

from . import proxy
from .chunks import Lowering, chunk_args, compile_program, default_arch_vmap, map_archs, padded_chunks, round_chunk
from .setting import ProxySetting
from .setting_spec import INIT_NAMES, SIGNALS, WAVE_MODES, validate

PER_BRANCH_REAL = ("head_kernel", "barrier_kernel", "c_out", "c_last")


def buckets_for_limits(max_channels: int = 512, max_kernel: int = 7) -> tuple:
    """The default buckets under capped genes: the paper's size (or the cap) and the cap."""
    small = (min(3, max_kernel), min(3, max_kernel), min(128, max_channels), min(128, max_channels))
    large = (max_kernel, max_kernel, max_channels, max_channels)
    return (small,) if small == large else (small, large)


# per-branch maxima (head_kernel, barrier_kernel, c_out, c_last), smallest first
DEFAULT_BUCKETS = buckets_for_limits()


def bucket_of(setting: dict, buckets=DEFAULT_BUCKETS) -> int:
    """Index of the first bucket that holds every branch of `setting` (a validated dict)."""
    for i, mx in enumerate(buckets):
        if all(setting[f][b] <= m for b in range(setting["branches"]) for f, m in zip(PER_BRANCH_REAL, mx)):
            return i
    raise ValueError(f"setting does not fit any shape bucket {buckets}")


def _pack(settings, n_branches: int, base: dict):
    """Settings (validated dicts) -> value arrays `[n, ...]` and real sizes `[n, n_branches]`."""
    n = len(settings)
    vals = {"lr": np.zeros(n, np.float32), "alpha": np.zeros(n, np.float32),
            "level": np.ones((n, n_branches), np.float32),
            "signal_mask": np.zeros((n, n_branches, len(SIGNALS)), np.float32),
            "init": np.zeros(n, np.int32), "barrier_init": np.zeros(n, np.int32)}
    reals = {f: np.ones((n, n_branches), np.int32) for f in PER_BRANCH_REAL}
    reals["on"] = np.zeros((n, n_branches), np.int32)
    for i, s in enumerate(settings):
        for key in ("momentum", "weight_decay", "steps", "per_image_waves"):
            if s[key] != base[key]:
                raise ValueError(f"DPS settings share {key} (got {s[key]}, the run uses {base[key]})")
        vals["lr"][i], vals["alpha"][i] = s["lr"], s["alpha"]
        vals["init"][i] = INIT_NAMES.index(s["init"])
        vals["barrier_init"][i] = INIT_NAMES.index(s["barrier_init"])
        for b in range(s["branches"]):
            vals["level"][i, b] = s["level"][b]
            vals["signal_mask"][i, b] = [float(x in s["signals"][b]) for x in SIGNALS]
            for f in PER_BRANCH_REAL:
                reals[f][i, b] = s[f][b]
            reals["on"][i, b] = 1
        for b in range(s["branches"], n_branches):   # off branches: smallest valid sizes
            vals["signal_mask"][i, b, SIGNALS.index("wave_h")] = 1.0
    return vals, reals


class Evaluator:
    def __init__(self, space, encodings, images=None, seed: int = 0, buckets=DEFAULT_BUCKETS,
                 batch: int = 8, chunk: int | None = None, base_setting: dict | None = None,
                 arch_vmap: int | None = None, conv_impl: str | None = None, arch_bucket: int | None = None,
                 part_chunks: dict | None = None):
        """`part_chunks`: {network shape: chunk} for the parts of a several-shape set (see `on`)."""
        self.space = space
        self.encodings = np.asarray(encodings, np.int32).reshape((-1,) + tuple(space.encoding_shape))
        space.check_encodings(self.encodings)
        self.macs = (space.macs(self.encodings) / space.max_macs).astype(np.float32)
        if images is None:
            from . import images as _images
            images = _images.load(size=space.input_size)
        self.images = np.asarray(images, np.float32)
        self.key = np.array([0, seed], np.uint32)       # = PRNGKey(seed), without an eager op
        self.buckets = tuple(tuple(b) for b in buckets)
        self.batch = int(batch)
        self.parts = None   # architectures of several network shapes: one Evaluator per shape
        self._init_args = dict(images=self.images, seed=seed, buckets=self.buckets, batch=self.batch,
                               base_setting=base_setting, arch_vmap=arch_vmap, conv_impl=conv_impl)
        if arch_bucket is None and not space.module_fits_all:
            per = np.asarray(space.bucket_of(self.encodings))
            shapes = sorted(set(per.tolist()))
            part_chunks = part_chunks or {}
            if len(shapes) > 1:
                self.parts = [(np.flatnonzero(per == b), Evaluator(space, self.encodings[per == b], arch_bucket=b,
                                                                   chunk=part_chunks.get(b, chunk), **self._init_args))
                              for b in shapes]
                self.base = self.parts[0][1].base
                self.arch_bucket = self.chunk = self.arch_vmap = self.conv_impl = None
                return
            arch_bucket = shapes[0]
            chunk = part_chunks.get(arch_bucket, chunk)
        self.arch_bucket = arch_bucket
        self.chunk = int(chunk or len(self.encodings))
        # architectures of a chunk: lax.map (CPU) or vmapped groups (accelerators), as the Engine
        self.arch_vmap = max(1, min(int(arch_vmap or default_arch_vmap()), self.chunk))
        self.chunk = round_chunk(self.chunk, self.arch_vmap)
        self.lowering = Lowering.for_archs(self.arch_vmap, conv_impl)
        self.conv_impl = self.lowering.conv_impl
        self.channels = space.feature_channels if arch_bucket is None else space.feature_channels_of(arch_bucket)
        self.n_branches = min(3, len(self.channels))
        self.base = validate(base_setting or {}, self.n_branches)
        self.net = space.module() if arch_bucket is None else space.module(arch_bucket)
        self._programs = {}

    def on(self, encodings) -> "Evaluator":
        """The same evaluator (settings, buckets, compiled programs) on other architectures;
        no recompile, since architectures go through in chunks of the same size. Architectures
        of several network shapes: each shape that this evaluator has keeps its chunk size and
        reuses its programs; only shapes new to it compile."""
        if not self.space.module_fits_all:
            mine = {ev.arch_bucket: ev for _, ev in (self.parts or [(None, self)])}
            other = Evaluator(self.space, encodings, chunk=None, part_chunks={b: ev.chunk for b, ev in mine.items()},
                              **self._init_args)
            for _, ev in (other.parts or [(None, other)]):
                same = mine.get(ev.arch_bucket)
                if same is not None:
                    assert ev.chunk == same.chunk and ev.arch_vmap == same.arch_vmap
                    ev.key, ev.base, ev.net, ev._programs = same.key, same.base, same.net, same._programs
            return other
        other = Evaluator(self.space, encodings, self.images, buckets=self.buckets, batch=self.batch,
                          chunk=self.chunk, arch_vmap=self.arch_vmap, conv_impl=self.conv_impl,
                          arch_bucket=self.arch_bucket)
        other.key, other.base, other.net, other._programs = self.key, self.base, self.net, self._programs
        return other

    def _bucket_setting(self, vals, mx) -> ProxySetting:
        kh, kb, co, cl = mx
        nb = self.n_branches
        return ProxySetting(
            lr=vals["lr"], momentum=jnp.float32(self.base["momentum"]),
            weight_decay=jnp.float32(self.base["weight_decay"]), alpha=vals["alpha"], level=vals["level"],
            signal_mask=vals["signal_mask"], init=vals["init"], barrier_init=vals["barrier_init"],
            dead_last=jnp.float32(1.0 if self.base["dead_last"] else 0.0),
            wave_mode=jnp.int32(WAVE_MODES.index(self.base["per_image_waves"])),
            branches=nb, head_kernel=(kh,) * nb, barrier_kernel=(kb,) * nb, c_out=(co,) * nb, c_last=(cl,) * nb,
            steps=self.base["steps"])

    def _program(self, bucket: int):
        """The compiled program of a settings bucket (built ahead of time under `self.lowering`),
        `(key, vals, reals, ok, encs, macs, arch_ok) -> [batch, chunk]`."""
        if bucket not in self._programs:
            mx = self.buckets[bucket]
            sp, net, images = self.space, self.net, self.images

            def run(key, vals, reals, ok, encs, macs, arch_ok):
                def one_setting(args):
                    v, r, valid = args
                    setting = self._bucket_setting(v, mx)
                    real = [{f: r[f][b] for f in r} for b in range(self.n_branches)]

                    def body():
                        ctx = proxy.prepare(key, setting, net, images, sp.encoding_shape, self.channels,
                                            sp.target_size, real=real)

                        return map_archs(lambda e, m: proxy.score_one(ctx, setting, net, images, e, m),
                                         encs, macs, arch_ok, self.arch_vmap)

                    return lax.cond(valid, body, lambda: jnp.full(encs.shape[:1], jnp.nan, jnp.float32))

                return lax.map(one_setting, (vals, reals, ok))

            vals, reals = _pack([self.base] * self.batch, self.n_branches, self.base)
            self._programs[bucket], _ = compile_program(run, self.lowering, self.key, vals, reals, np.ones(self.batch, bool),
                                                        *chunk_args(self.chunk, sp.encoding_shape))
        return self._programs[bucket]

    def scores(self, settings, progress=None) -> np.ndarray:
        """Scores `[len(settings), n_archs]` (lower = better; NaN = diverged) of setting dicts."""
        if self.parts is not None:
            out = np.full((len(settings), len(self.encodings)), np.nan, np.float32)
            for k, (idx, ev) in enumerate(self.parts):
                out[:, idx] = ev.scores(settings, progress if k == len(self.parts) - 1 else None)
            return out
        settings = [validate(s, self.n_branches) for s in settings]
        out = np.full((len(settings), len(self.encodings)), np.nan, np.float32)
        by_bucket = {}
        for i, s in enumerate(settings):
            by_bucket.setdefault(bucket_of(s, self.buckets), []).append(i)
        n_arch = len(self.encodings)
        for bucket, idx in sorted(by_bucket.items()):
            fn = self._program(bucket)
            for start in range(0, len(idx), self.batch):
                sel = idx[start:start + self.batch]
                padded = sel + [sel[-1]] * (self.batch - len(sel))
                vals, reals = _pack([settings[i] for i in padded], self.n_branches, self.base)
                ok = np.arange(self.batch) < len(sel)
                for pos, (e, m), a_ok in padded_chunks(np.arange(n_arch), self.chunk, self.encodings, self.macs):
                    res = np.asarray(fn(self.key, vals, reals, ok, e, m, a_ok))
                    out[np.ix_(sel, pos)] = res[: len(sel), : len(pos)]
                if progress is not None:
                    progress(len(sel))
        return out
