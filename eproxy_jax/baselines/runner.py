"""Run the peer proxies over many architectures of one space, one compiled program per
proxy family (naswot; synflow; jacob_cov; snip + grad_norm + fisher share one backward
pass), chunks padded like `engine.Engine`, the architecture passed as data."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from spaces import edge_groups

from .. import memory, ops
from ..engine import CompileCounter, default_arch_vmap, default_conv_impl, ensure_compilation_cache, map_archs, pad_chunk
from . import PROXIES, BaselineError
from .common import init_variables
from .jacob_cov import jacob_cov
from .naswot import naswot
from .saliency import saliencies
from .synflow import synflow


class BaselineEngine:
    """`BaselineEngine(space, ["naswot", "synflow", ...], images, labels).score(encodings)`
    -> {proxy: float64 [n]} (higher = better; NaN/Inf where a score is undefined).

    `images` float32 NHWC (normalised), `labels` int [n] (only snip/grad_norm/fisher need
    them), `seed` the init key (PyTorch-default weights, the same for every architecture),
    `num_classes` the classifier's outputs."""

    def __init__(self, space, proxies, images, labels=None, seed: int = 0, chunk: int = 16,
                 arch_vmap: int | None = None, conv_impl: str | None = None, num_classes: int = 10):
        CompileCounter.install()
        ensure_compilation_cache()
        unknown = [p for p in proxies if p not in PROXIES]
        if unknown:
            raise BaselineError(f"unknown baseline {unknown[0]!r} (available: {', '.join(PROXIES)})")
        self.space, self.proxies = space, list(proxies)
        self.images = jnp.asarray(images, jnp.float32)
        if any(PROXIES[p].labels for p in self.proxies):
            if labels is None:
                raise BaselineError(f"{', '.join(p for p in self.proxies if PROXIES[p].labels)} need class labels "
                                    "and the image source has none")
            labels = np.asarray(labels, np.int64)
            if len(labels) != len(self.images):
                raise BaselineError(f"{len(labels)} labels for {len(self.images)} images")
            if labels.min() < 0 or labels.max() >= num_classes:
                raise BaselineError(f"labels must lie in [0, {num_classes}), got [{labels.min()}, {labels.max()}]")
        self.labels = jnp.asarray(labels if labels is not None else np.zeros(len(self.images)), jnp.int32)
        self.arch_vmap = int(arch_vmap or default_arch_vmap())
        self.chunk = -(-max(int(chunk), 1) // self.arch_vmap) * self.arch_vmap
        self.conv_impl = conv_impl or default_conv_impl(self.arch_vmap)
        self.num_classes = num_classes
        self.net = space.classifier(num_classes, bn=True)
        self.net_nobn = space.classifier(num_classes, bn=False)
        self.programs = list(dict.fromkeys(PROXIES[p].program for p in self.proxies))
        key = jax.random.PRNGKey(seed)
        shape = tuple(space.encoding_shape)
        self.variables = init_variables(self.net, key, self.images, shape) if set(self.programs) - {"analytic", "synflow"} else None
        self.syn_variables = (init_variables(self.net_nobn, key, jnp.ones((1,) + self.images.shape[1:]), shape)
                              if "synflow" in self.programs else None)
        self.timing: dict[str, dict] = {}
        self._compiled: dict = {}

    # -- one program per proxy family ------------------------------------------------
    def _per_arch(self, program):
        net, net0, images, hw = self.net, self.net_nobn, self.images, self.images.shape[1:]
        if program == "naswot":
            return lambda v, lab, e: {"naswot": naswot(net, v, images, e)}
        if program == "jacob_cov":
            return lambda v, lab, e: {"jacob_cov": jacob_cov(net, v, images, e)}
        if program == "saliency":
            return lambda v, lab, e: saliencies(net, v, images, lab, e)
        if program == "synflow":
            return lambda v, lab, e: {"synflow": synflow(net0, v, hw, e)}
        raise ValueError(program)

    def _variables(self, program):
        return self.syn_variables if program == "synflow" else self.variables

    def compile(self, program):
        if program not in self._compiled:
            one = self._per_arch(program)
            v = self.arch_vmap

            def run(variables, labels, encs, valid):
                dummy = jnp.zeros(encs.shape[0], jnp.float32)
                return map_archs(lambda e, m: one(variables, labels, e), encs, dummy, valid, v)

            t = time.perf_counter()
            encs = jax.ShapeDtypeStruct((self.chunk,) + tuple(self.space.encoding_shape), jnp.int32)
            valid = jax.ShapeDtypeStruct((self.chunk,), jnp.bool_)
            with ops.use_conv_impl(self.conv_impl), jax.enable_x64(program == "synflow"), \
                    edge_groups.archs_batched(v > 1):
                lowered = jax.jit(run).lower(self._variables(program), self.labels, encs, valid)
                self._compiled[program] = lowered.compile()
            self.timing.setdefault(program, {})["compile_s"] = time.perf_counter() - t
            memory.check_fits(self._compiled[program], jax.local_devices()[0],
                              f"the {program} program of the peer proxies at --chunk {self.chunk}",
                              "lower --chunk or --batch-size")
        return self._compiled[program]

    def proxies_of(self, program) -> list:
        return [p for p in self.proxies if PROXIES[p].program == program]

    def score_program(self, program, encodings, on_chunk=None, progress=None) -> dict:
        """{proxy: float64 [n]} of one program's proxies; `on_chunk(indices, {proxy: [k]})`
        after each chunk with the positions it scored (as `Engine.score`), `progress.update(k)`
        likewise."""
        encodings = np.asarray(encodings, np.int32).reshape((-1,) + tuple(self.space.encoding_shape))
        self.space.check_encodings(encodings)
        names, n = self.proxies_of(program), len(encodings)
        out = {p: np.zeros(n, np.float64) for p in names}
        t = time.perf_counter()
        if program == "analytic":
            for p in names:
                fn = self.space.param_count if p == "params" else self.space.flops
                out[p] = np.asarray(fn(encodings, self.num_classes), np.float64)
            if on_chunk is not None and n:
                on_chunk(np.arange(n), out)
            if progress is not None:
                progress.update(n)
        elif n:
            fn = self.compile(program)
            t = time.perf_counter()
            variables = self._variables(program)
            for start in range(0, n, self.chunk):
                stop = min(start + self.chunk, n)
                ok = np.arange(self.chunk) < stop - start
                res = fn(variables, self.labels, pad_chunk(encodings, start, stop, self.chunk), ok)
                part = {p: np.asarray(res[p], np.float64)[: stop - start] for p in names}
                for p in names:
                    out[p][start:stop] = part[p]
                if on_chunk is not None:
                    on_chunk(np.arange(start, stop), part)
                if progress is not None:
                    progress.update(stop - start)
        timing = self.timing.setdefault(program, {})
        timing["score_s"] = timing.get("score_s", 0.0) + time.perf_counter() - t
        timing["n"] = timing.get("n", 0) + n
        return out

    def score(self, encodings, progress=None) -> dict:
        out = {}
        for program in self.programs:
            out.update(self.score_program(program, encodings, progress=progress))
        return {p: out[p] for p in self.proxies}
