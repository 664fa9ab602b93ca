"""The one chunk runner behind the engine, DPS evaluation and the peer proxies.

Every scoring program takes a fixed-size chunk of architectures as data: `padded_chunks` cuts
the architectures into chunks (the last one padded by repeating its last row, with a `valid`
mask), `map_archs` runs a per-architecture function over a chunk inside the program (`lax.map`
or vmapped groups), and `compile_program` builds the program ahead of time under an explicit
`Lowering`.

A `Lowering` holds the trace-time choices: how convolutions lower, whether edges may be
vmapped over architectures, BatchNorm's mode, 64-bit floats and whether stages of cells
unroll. The layers read these while they are traced (`nn.ops`, `nn.edge_groups`,
`nn.layers`), so they must be fixed while a program is traced
and part of what identifies it. Here they are a frozen value given to `compile_program`, which
traces and compiles under it once (AOT): the executable it returns never retraces, so no later
call can run a program traced under other choices. Only `Lowering.active` sets the layers'
switches (a change of conv lowering or BN mode clears JAX's trace caches, `nn.ops`: `lax.switch`
keeps a branch function's trace by identity, which would carry the previous choice along).
"""
from __future__ import annotations

import contextlib
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .nn import edge_groups, layers, ops


CPU_CONVS = ("ynn", "xla")
# XLA:CPU's default YNNPACK fusion kinds (jax 0.10.2) without its convolutions
_YNN_NO_CONV = "LIBRARY_FUSION_TYPE_REDUCE,LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"


@dataclasses.dataclass(frozen=True)
class Lowering:
    """Trace-time choices of one program (hashable, compared by value).

    - `conv_impl`: 'custom' (XLA conv, CPU-friendly gradients), 'xla' or 'im2col' (`nn.ops`);
    - `archs_batched`: edges may be vmapped over architectures (arch_vmap > 1: op-grouped
      edges, `nn.edge_groups`) or not (architectures through `lax.map`: plain switches);
    - `bn_mode`: 'train' (batch statistics) or 'affine' (the peer proxies' BN-free network);
    - `x64`: trace with 64-bit floats on (True: synflow's and the parameter count's products)
      or off (False); None leaves the process's setting;
    - `scan_unroll`: 'loop' (one loop body per stage of identical cells) or 'full' (the cells
      written out: no stacked residuals, a longer compile; `nn.layers.stage_scan`);
    - `cpu_convs`: on a CPU, who runs the convolutions: 'xla' (default since scoring version 6:
      XLA's own convolution runtime; reductions and matmuls stay with YNNPACK) or 'ynn'
      (XLA:CPU's own default, YNNPACK). Not a trace-time choice: a compile option
      (`compiler_options`), ignored on other backends.
    """

    conv_impl: str = "custom"
    archs_batched: bool = False
    bn_mode: str = "train"
    x64: bool | None = None
    scan_unroll: str = "full"
    cpu_convs: str = "xla"

    def __post_init__(self):
        if self.conv_impl not in ops.CONV_IMPLS:
            raise ValueError(f"conv_impl must be one of {ops.CONV_IMPLS}, got {self.conv_impl!r}")
        if self.bn_mode not in ops.BN_MODES:
            raise ValueError(f"bn_mode must be one of {ops.BN_MODES}, got {self.bn_mode!r}")
        if self.scan_unroll not in layers.SCAN_UNROLLS:
            raise ValueError(f"scan_unroll must be one of {layers.SCAN_UNROLLS}, got {self.scan_unroll!r}")
        if self.cpu_convs not in CPU_CONVS:
            raise ValueError(f"cpu_convs must be one of {CPU_CONVS}, got {self.cpu_convs!r}")

    @classmethod
    def for_archs(cls, arch_vmap: int, conv_impl: str | None = None, **kw) -> "Lowering":
        """The lowering of a program that runs `arch_vmap` architectures vmapped together. One
        at a time (the CPU default), stages of cells are written out: 6-10 % faster per
        architecture on paper-size NB201 / NB101, the same scores, a longer compile
        (docs/results.md, 'Levers tried against the profile'); vmapped, they loop."""
        kw.setdefault("scan_unroll", "full" if arch_vmap == 1 else "loop")
        return cls(conv_impl=conv_impl or default_conv_impl(arch_vmap), archs_batched=arch_vmap > 1, **kw)

    @contextlib.contextmanager
    def active(self):
        """The layers' trace-time switches set to this lowering for the block."""
        x64 = contextlib.nullcontext() if self.x64 is None else jax.enable_x64(self.x64)
        with ops.use_conv_impl(self.conv_impl), ops.use_bn_mode(self.bn_mode), \
                edge_groups.archs_batched(self.archs_batched), layers.use_scan_unroll(self.scan_unroll), x64:
            yield

    def compiler_options(self) -> dict:
        """XLA compile options of the program (per program: the process's XLA_FLAGS stay as
        they are). `cpu_convs='xla'`: YNNPACK's fusions without the convolutions. YNNPACK ran
        convolutions of 64 or fewer output channels on one core; with XLA's own runtime whole
        programs ran 9-16 % faster on NB101's narrow buckets, NB201 and NB301, but 4 % slower
        on NB101's full-width cells (a quarter of its cells; -3 % over its table), with scores
        moved at the float-noise level: the default since scoring version 6
        (docs/results.md, 'Per-architecture times, and who runs the convolutions')."""
        if self.cpu_convs == "xla" and jax.default_backend() == "cpu":
            return {"xla_cpu_experimental_ynn_fusion_type": _YNN_NO_CONV}
        return {}


def default_arch_vmap() -> int:
    # measured on an H200 (README): 256 vmapped cells 12.4 ms/arch, 64 -> 15.5, 1 -> 129.5
    return 1 if jax.default_backend() == "cpu" else 256


def default_conv_impl(arch_vmap: int) -> str:
    if jax.default_backend() == "cpu":
        return "custom"
    return "im2col" if arch_vmap > 1 else "xla"


def compile_program(fn, lowering: Lowering, *args):
    """`fn` traced on `args` (arrays or `jax.ShapeDtypeStruct`s) under `lowering` and compiled
    ahead of time: `(executable, seconds)`. Call the executable with arrays of those shapes."""
    t = time.perf_counter()
    with lowering.active():
        compiled = jax.jit(fn).lower(*args).compile(compiler_options=lowering.compiler_options() or None)
    return compiled, time.perf_counter() - t


def chunk_args(chunk: int, encoding_shape) -> tuple:
    """The shapes a scoring program takes per chunk, for `compile_program`: encodings
    `[chunk, *encoding_shape]` int32, MACs fractions `[chunk]` float32, the valid mask `[chunk]`."""
    return (jax.ShapeDtypeStruct((chunk,) + tuple(encoding_shape), jnp.int32),
            jax.ShapeDtypeStruct((chunk,), jnp.float32), jax.ShapeDtypeStruct((chunk,), jnp.bool_))


def map_archs(score, encs, macs_frac, valid, arch_vmap: int):
    """`score(encoding, macs_frac)` over a chunk of architectures, `[chunk]` (or a pytree of
    `[chunk]` arrays when `score` returns a pytree of scalars): `lax.map` with `lax.cond`
    skipping invalid (padding) entries when `arch_vmap == 1`, else `vmap` over groups of
    `arch_vmap` (everything computed). Invalid entries come back NaN."""
    tmap = jax.tree_util.tree_map
    if arch_vmap == 1:
        def one(emv):
            e, m, ok = emv
            nans = lambda: tmap(lambda s: jnp.full(s.shape, jnp.nan, s.dtype), jax.eval_shape(score, e, m))  # noqa: E731
            return lax.cond(ok, lambda: score(e, m), nans)
        return lax.map(one, (encs, macs_frac, valid))
    e = encs.reshape((-1, arch_vmap) + encs.shape[1:])
    m = macs_frac.reshape(-1, arch_vmap)
    out = lax.map(lambda em: jax.vmap(score)(*em), (e, m))
    return tmap(lambda o: jnp.where(valid, o.reshape(-1), jnp.nan), out)


def round_chunk(chunk: int, unit: int) -> int:
    """`chunk` (at least 1) rounded up to a multiple of `unit` (arch_vmap x devices)."""
    return -(-max(int(chunk), 1) // unit) * unit


def pad_chunk(arr: np.ndarray, start: int, stop: int, chunk: int) -> np.ndarray:
    """`arr[start:stop]` padded to `chunk` rows by repeating its last row (shapes never change)."""
    return np.concatenate([arr[start:stop], np.repeat(arr[stop - 1:stop], chunk - (stop - start), 0)])


def padded_chunks(positions, chunk: int, *arrays):
    """For each run of `chunk` entries of `positions` (indices into `arrays`):
    `(idx, padded, valid)`, `padded` the arrays' rows at `idx` padded to `chunk` rows and `valid`
    the `[chunk]` mask of real rows. What every scoring loop feeds its program."""
    positions = np.asarray(positions)
    for start in range(0, len(positions), chunk):
        idx = positions[start:start + chunk]
        padded = tuple(pad_chunk(np.asarray(a)[idx], 0, len(idx), chunk) for a in arrays)
        yield idx, padded, np.arange(chunk) < len(idx)
