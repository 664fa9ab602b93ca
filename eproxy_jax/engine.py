"""Batch engine: score many architectures of one space with one compiled program.

`Engine(space, setting, seeds, images)` prepares one `ProxyContext` per proxy seed, then
compiles a single program for `(chunk, setting shape)`: `vmap` over seeds (or `lax.map`),
and over the chunk's architectures either `lax.map` (arch_vmap=1: each edge's `lax.switch`
runs only the selected op - the fast path on CPU) or `vmap` in groups of `arch_vmap`
(every op computed and selected - wide batches for accelerators). The last chunk is padded,
so no input shape ever changes and nothing recompiles across chunks or architectures.
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import memory, proxy, targets
from .chunks import Lowering, chunk_args, compile_program, default_arch_vmap, map_archs, padded_chunks, round_chunk
from .setting import ProxySetting
from .space_protocol import is_bucketed

DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "eproxy_jax" / "xla"


_cache_choice = [None]  # set once the cache was chosen explicitly (a directory or "off")


def enable_compilation_cache(path=None) -> str | None:
    """Turn on JAX's persistent compilation cache (default `~/.cache/eproxy_jax/xla`,
    overridden by `path` or `$EPROXY_CACHE_DIR`; 'off' disables). Returns the directory."""
    path = path or os.environ.get("EPROXY_CACHE_DIR") or str(DEFAULT_CACHE_DIR)
    if str(path).lower() in ("off", "none", ""):
        jax.config.update("jax_compilation_cache_dir", None)
        _cache_choice[0] = "off"
        return None
    Path(path).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    _cache_choice[0] = str(path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(path)


def ensure_compilation_cache():
    """The persistent cache on by default: enabled unless already set or explicitly turned off."""
    if _cache_choice[0] is None and not jax.config.jax_compilation_cache_dir:
        try:
            enable_compilation_cache()
        except OSError:
            pass  # an unwritable default cache only costs compile time


def release_programs() -> None:
    """Free the compiled programs nothing refers to any more (call after dropping an `Engine` or
    `Evaluator`). On the CPU every compiled XLA program keeps its machine code in memory maps,
    thousands for a large network, and Linux caps a process at `vm.max_map_count` (65,530 by
    default): a long job that compiles program after program (several spaces, DPS per task)
    otherwise aborts with "LLVM ERROR: Unable to allocate section memory" though RAM is free.
    Collects garbage and clears JAX's jit caches (what is needed again is retraced, or read from
    the persistent compilation cache)."""
    import gc

    gc.collect()
    jax.clear_caches()
    gc.collect()


class CompileCounter:
    """Counts XLA compilations and persistent-cache hits process-wide (jax.monitoring)."""

    compiles = 0
    cache_hits = 0
    _installed = False

    @classmethod
    def install(cls):
        if cls._installed:
            return
        cls._installed = True

        def on_duration(event, duration, **kw):
            if event == "/jax/core/compile/backend_compile_duration":
                cls.compiles += 1

        def on_event(event, **kw):
            if event == "/jax/compilation_cache/cache_hits":
                cls.cache_hits += 1

        jax.monitoring.register_event_duration_secs_listener(on_duration)
        jax.monitoring.register_event_listener(on_event)


def default_seed_batching() -> str:
    # measured on the 2-core CPU: vmapped seeds make every conv a grouped conv, 2.3x slower
    # per (arch, seed) than lax.map over seeds (experiments/throughput.py, README); on a GPU
    # the architectures already fill the device (arch_vmap 256), so seeds run one by one too
    return "map"


def _shard_map(fn, mesh):
    """`fn(ctx, setting, images, encs, macs, valid) -> [seeds, chunk]` with the chunk split over
    the mesh's devices: each device scores its own slice of architectures (everything else
    replicated), results gathered along the chunk axis."""
    from jax.sharding import PartitionSpec as P
    rep = P()
    specs = dict(mesh=mesh, in_specs=(rep, rep, rep, P("archs"), P("archs"), P("archs")), out_specs=P(None, "archs"))
    # the per-device body has lax.cond/lax.map over device-local data: no cross-device
    # replication checks to make (the flag's name changed across jax versions)
    if hasattr(jax, "shard_map"):
        return jax.shard_map(fn, check_vma=False, **specs)
    from jax.experimental.shard_map import shard_map  # jax < 0.6
    return shard_map(fn, check_rep=False, **specs)


@functools.partial(jax.jit, static_argnums=3)
def seed_targets(keys, setting: ProxySetting, images, target_size: int):
    """Each proxy seed's targets, `proxy.prepare`'s draw (`proxy.target_key`), stacked over
    `keys`. They do not depend on the architecture, so this one program serves every shape
    bucket of a space (and, through the persistent cache, every space with the same images,
    target size and setting shape): the random draws are most of a preparation's compile."""
    return jax.vmap(lambda k: targets.make_targets(proxy.target_key(k), setting, images, target_size))(keys)


class Engine:
    """Scores architectures of one space with one compiled program per *shape bucket*.

    Most spaces have a single bucket. A space whose architectures differ in layer widths may
    define `bucket_of(encodings) -> int [n]` and `module(bucket)`: each bucket then gets its
    own network (its widths' maximum, the real widths masked inside), proxy context and
    program, built the first time an architecture of that bucket is scored (NB101: at most
    5, by the number of vertices feeding a cell's output)."""

    def __init__(self, space, setting: ProxySetting | None = None, seeds=(0,), images=None,
                 chunk: int = 16, arch_vmap: int | None = None, seed_batching: str | None = None,
                 conv_impl: str | None = None, devices: int | None = None):
        CompileCounter.install()
        ensure_compilation_cache()
        self.space = space
        self.setting = setting if setting is not None else ProxySetting.for_space(space)
        self.seeds = [int(s) for s in seeds]
        if images is None:
            from . import images as _images
            images = _images.load(size=space.input_size)
        self.images = jnp.asarray(images, jnp.float32)
        self.arch_vmap = int(arch_vmap or default_arch_vmap())
        local = jax.local_devices()
        self.devices = int(devices or len(local))
        if not 1 <= self.devices <= len(local):
            raise ValueError(f"devices must be in [1, {len(local)}] (the local {local[0].platform} devices), got {devices}")
        self.mesh = None
        if self.devices > 1:  # each chunk split over the devices, one slice per device (shard_map)
            from jax.sharding import Mesh
            self.mesh = Mesh(np.asarray(local[: self.devices]), ("archs",))
        self.chunk = round_chunk(chunk, self.arch_vmap * self.devices)  # a multiple of arch_vmap on every device
        seed_batching = seed_batching or default_seed_batching()
        if seed_batching not in ("vmap", "map"):
            raise ValueError("seed_batching must be 'vmap' or 'map'")
        self.seed_batching = seed_batching
        self.lowering = Lowering.for_archs(self.arch_vmap, conv_impl)   # raises on an unknown conv_impl
        self.conv_impl = self.lowering.conv_impl
        self.bucketed = is_bucketed(space)
        self.compile_s = 0.0     # all programs compiled so far
        self.prepare_s = 0.0     # all proxy contexts prepared so far
        self.score_s = 0.0       # time spent scoring, without compiling or preparing
        self.memory_bytes = None  # XLA's memory estimate of the last program compiled (eproxy_jax.memory)
        self._nets, self._ctx, self._compiled, self._targets = {}, {}, {}, None
        if not self.bucketed:
            self._context(None)  # prepared up front, as before: `prepare_s` is known at once

    @property
    def net(self):
        return self._net(None)

    @property
    def ctx(self):
        return self._context(None)

    def _net(self, bucket):
        if bucket not in self._nets:
            self._nets[bucket] = self.space.module(bucket) if self.bucketed else self.space.module()
        return self._nets[bucket]

    def _context(self, bucket):
        if bucket not in self._ctx:
            t = time.perf_counter()
            self._ctx[bucket] = self._prepare(self._net(bucket), bucket)
            jax.block_until_ready(self._ctx[bucket])
            self.prepare_s += time.perf_counter() - t
        return self._ctx[bucket]

    # -- pure pieces ----------------------------------------------------------------
    def _prepare(self, net, bucket=None):
        keys = jnp.stack([jax.random.PRNGKey(s) for s in self.seeds])
        sp = self.space
        channels = sp.feature_channels_of(bucket) if self.bucketed else sp.feature_channels
        if self._targets is None:   # drawn once per engine, shared by its buckets
            self._targets = seed_targets(keys, self.setting, self.images, sp.target_size)
        tg = self._targets

        def one(key, tg, setting, images):
            return proxy.prepare(key, setting, net, images, sp.encoding_shape, channels, sp.target_size, tgts=tg)

        with self.lowering.active():
            return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None)))(keys, tg, self.setting, self.images)

    def chunk_scores(self, ctx, setting, images, encs, macs_frac, valid, bucket=None):
        """Scores `[n_seeds, chunk]` of a chunk of encodings (pure; jit/vmap-able).
        Entries with `valid == False` (the padding of a last chunk) are skipped under
        `lax.map` and come back NaN."""
        net, v = self._net(bucket), self.arch_vmap

        def per_seed(c):
            return map_archs(lambda e, m: proxy.score_one(c, setting, net, images, e, m), encs, macs_frac, valid, v)

        if self.seed_batching == "vmap":
            return jax.vmap(per_seed)(ctx)
        return lax.map(per_seed, ctx)

    # -- compiled driver -------------------------------------------------------------
    def compile(self, bucket=None):
        if bucket not in self._compiled:
            ctx = self._context(bucket)
            encs, macs, valid = chunk_args(self.chunk, self.space.encoding_shape)
            fn = lambda c, s, i, e, m, ok: self.chunk_scores(c, s, i, e, m, ok, bucket)  # noqa: E731
            if self.mesh is not None:
                fn = _shard_map(fn, self.mesh)
            self._compiled[bucket], seconds = compile_program(fn, self.lowering, ctx, self.setting, self.images,
                                                              encs, macs, valid)
            self.compile_s += seconds
            self.memory_bytes = memory.check_fits(
                self._compiled[bucket], jax.local_devices()[0],
                f"scoring {self.space.name} with this setting at --chunk {self.chunk}, --arch-vmap {self.arch_vmap}",
                "lower --chunk or --arch-vmap, or the setting's c_out / c_last / kernels / branches")
        return self._compiled[bucket]

    def _split(self, x):
        from jax.sharding import NamedSharding, PartitionSpec
        return jax.device_put(x, NamedSharding(self.mesh, PartitionSpec("archs")))

    @property
    def programs(self) -> int:
        """Scoring programs compiled so far (one per bucket used)."""
        return len(self._compiled)

    def score(self, encodings, on_chunk=None, progress=None, on_compile=None) -> np.ndarray:
        """Scores `[n, n_seeds]` (lower = better) of `encodings` `[n, *encoding_shape]`.

        `on_chunk(indices, scores)` is called after each chunk with the positions in
        `encodings` it scored (for saving results; a bucketed space scores them grouped by
        bucket); `progress` is a tqdm-like object with `update(n)`, or None;
        `on_compile(i, n, archs)` is called before the i-th (1-based) of the `n` programs this
        call has to build (preparation and compile; the first wait of a run), `archs` the
        number of architectures it will score.
        """
        encodings = np.asarray(encodings, np.int32).reshape((-1,) + tuple(self.space.encoding_shape))
        self.space.check_encodings(encodings)
        n = len(encodings)
        out = np.zeros((n, len(self.seeds)), np.float32)
        if n == 0:
            return out
        macs = (self.space.macs(encodings) / self.space.max_macs).astype(np.float32)
        buckets = np.asarray(self.space.bucket_of(encodings)) if self.bucketed else np.zeros(n, np.int64)
        order = list(dict.fromkeys(buckets.tolist()))
        todo = [b for b in order if (b if self.bucketed else None) not in self._compiled]
        for b in order:
            where = np.flatnonzero(buckets == b)
            bucket = b if self.bucketed else None
            if on_compile is not None and b in todo:
                on_compile(todo.index(b) + 1, len(todo), len(where))
            fn = self.compile(bucket)
            ctx = self._context(bucket)
            t = time.perf_counter()
            for idx, (e, m), ok in padded_chunks(where, self.chunk, encodings, macs):
                if self.mesh is not None:
                    e, m, ok = self._split(e), self._split(m), self._split(ok)
                res = np.asarray(fn(ctx, self.setting, self.images, e, m, ok))  # [seeds, chunk]
                out[idx] = res[:, : len(idx)].T
                if on_chunk is not None:
                    on_chunk(idx, out[idx])
                if progress is not None:
                    progress.update(len(idx))
            self.score_s += time.perf_counter() - t
        return out
