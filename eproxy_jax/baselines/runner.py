"""Run the peer proxies over many architectures of one space, one compiled program per
proxy family (naswot; synflow; jacob_cov + epe_nas share one input Jacobian; snip + grad_norm
+ fisher + plain + l2_norm share one backward pass; grasp), chunks padded like `engine.Engine`, the architecture passed as data."""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .. import memory
from ..chunks import Lowering, chunk_args, compile_program, default_arch_vmap, map_archs, padded_chunks, round_chunk
from ..engine import CompileCounter, ensure_compilation_cache
from ..space_protocol import is_bucketed
from . import PROXIES, BaselineError, supported
from .common import init_variables
from .generic import FeatureClassifier, count_active
from .epe_nas import from_jacobian as epe_nas_of
from .grasp import grasp
from .jacob_cov import from_jacobian as jacob_cov_of
from .jacob_cov import input_jacobian
from .naswot import naswot
from .saliency import saliencies
from .synflow import synflow
from .zen import zen


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
        off = [p for p in self.proxies if p not in supported(space)]
        if off:
            raise BaselineError(f"{', '.join(off)} not available for {space.name} (available: {', '.join(supported(space))})")
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
        self.chunk = round_chunk(chunk, self.arch_vmap)
        self.conv_impl = Lowering.for_archs(self.arch_vmap, conv_impl).conv_impl   # raises on an unknown one
        self.num_classes = num_classes
        self.generic = not space.has_classifier   # the space's feature module + pooling + linear
        self.bucketed = is_bucketed(space)
        self.programs = list(dict.fromkeys(PROXIES[p].program for p in self.proxies))
        self.key = jax.random.PRNGKey(seed)
        self.timing: dict[str, dict] = {}
        self._nets, self._vars, self._compiled = {}, {}, {}
        self.compile_s = 0.0   # every program compiled so far

    # -- networks and variables, per shape bucket ----------------------------------------
    def net(self, bucket, bn: bool = True):
        """The classifier of a bucket (None: the space's only one), with or without BN."""
        if (bucket, bn) not in self._nets:
            if self.generic:
                body = self.space.module(bucket) if self.bucketed else self.space.module()
                self._nets[bucket, bn] = FeatureClassifier(body, self.num_classes, bn)
            else:
                self._nets[bucket, bn] = self.space.classifier(self.num_classes, bn=bn)
        return self._nets[bucket, bn]

    def variables(self, program, bucket):
        """PyTorch-default variables of the classifier a program runs (the same key for every
        program: synflow's BN-free net has the same kernels)."""
        bn = program not in ("synflow", "count")
        if (bn, bucket) not in self._vars:
            images = self.images if bn else jnp.ones((1,) + self.images.shape[1:], jnp.float32)
            self._vars[bn, bucket] = init_variables(self.net(bucket, bn), self.key, images, self.space.encoding_shape)
        return self._vars[bn, bucket]

    # -- one program per proxy family (and shape bucket) ---------------------------------
    def _per_arch(self, program, bucket):
        net, net0, images, hw = self.net(bucket), self.net(bucket, False), self.images, self.images.shape[1:]
        adapt = getattr(net, "adapt", lambda v, e: v)   # generic: kernels at the real fans
        if program == "naswot":
            return lambda v, lab, e: {"naswot": naswot(net, adapt(v, e), images, e)}
        if program == "jacob_cov":   # jacob_cov and epe_nas read the same input Jacobian
            def jacobian_proxies(v, lab, e):
                jac, outputs = input_jacobian(net, adapt(v, e), images, e)
                return {"jacob_cov": jacob_cov_of(jac), "epe_nas": epe_nas_of(jac, lab, self.num_classes, outputs)}
            return jacobian_proxies
        if program == "saliency":
            return lambda v, lab, e: saliencies(net, adapt(v, e), images, lab, e)
        if program == "grasp":
            return lambda v, lab, e: {"grasp": grasp(net, adapt(v, e), images, lab, e)}
        if program == "zen":   # data-free: the batch's shape only
            return lambda v, lab, e: {"zen": zen(net, v, images.shape, self.key, e)}
        if program == "synflow":
            return lambda v, lab, e: {"synflow": synflow(net0, adapt(v, e), hw, e)}
        if program == "count":   # generic spaces only (`_analytic`)
            def count(v, lab, e):
                total, c_deep = count_active(net0, v, hw, e)
                return {"params": total.astype(jnp.float64), "c_deep": c_deep.astype(jnp.float64)}
            return count
        raise ValueError(program)

    def compile(self, program, bucket=None):
        if (program, bucket) not in self._compiled:
            one = self._per_arch(program, bucket)
            v = self.arch_vmap

            def run(variables, labels, encs, valid):
                dummy = jnp.zeros(encs.shape[0], jnp.float32)
                return map_archs(lambda e, m: one(variables, labels, e), encs, dummy, valid, v)

            variables = self.variables(program, bucket)   # float32, drawn outside the x64 program
            encs, _, valid = chunk_args(self.chunk, self.space.encoding_shape)
            bn_free = program in ("synflow", "count")
            lowering = Lowering.for_archs(v, self.conv_impl, bn_mode="affine" if bn_free and self.generic else "train",
                                          x64=bn_free)
            self._compiled[program, bucket], seconds = compile_program(run, lowering, variables, self.labels, encs, valid)
            self.compile_s += seconds
            memory.check_fits(self._compiled[program, bucket], jax.local_devices()[0],
                              f"the {program} program of the peer proxies at --chunk {self.chunk}",
                              "lower --chunk or --batch-size")
        return self._compiled[program, bucket]

    def proxies_of(self, program) -> list:
        return [p for p in self.proxies if PROXIES[p].program == program]

    def score_program(self, program, encodings, on_chunk=None, progress=None) -> dict:
        """{proxy: float64 [n]} of one program's proxies; `on_chunk(indices, {proxy: [k]})`
        after each chunk with the positions it scored (as `Engine.score`), `progress.update(k)`
        likewise. Compilation is timed apart (`timing[program]["compile_s"]`)."""
        encodings = np.asarray(encodings, np.int32).reshape((-1,) + tuple(self.space.encoding_shape))
        self.space.check_encodings(encodings)
        names, n = self.proxies_of(program), len(encodings)
        t, c0 = time.perf_counter(), self.compile_s
        if program == "analytic":
            out = self._analytic(names, encodings)
            if on_chunk is not None and n:
                on_chunk(np.arange(n), out)
            if progress is not None:
                progress.update(n)
        else:
            out = self._run(program, encodings, on_chunk, progress)
        timing = self.timing.setdefault(program, {})
        timing["compile_s"] = timing.get("compile_s", 0.0) + self.compile_s - c0
        timing["score_s"] = timing.get("score_s", 0.0) + time.perf_counter() - t - (self.compile_s - c0)
        timing["n"] = timing.get("n", 0) + n
        return {p: out[p] for p in names}

    def _run(self, program, encodings, on_chunk=None, progress=None) -> dict:
        """A compiled program over the encodings, chunk by chunk within each shape bucket."""
        n = len(encodings)
        buckets = np.asarray(self.space.bucket_of(encodings)) if self.bucketed and n else np.zeros(n, np.int64)
        out = {}
        for b in dict.fromkeys(buckets.tolist()):
            where = np.flatnonzero(buckets == b)
            fn = self.compile(program, b if self.bucketed else None)
            variables = self.variables(program, b if self.bucketed else None)
            for pos, (e,), ok in padded_chunks(where, self.chunk, encodings):
                res = fn(variables, self.labels, e, ok)
                part = {p: np.asarray(v, np.float64)[: len(pos)] for p, v in res.items()}
                for p, v in part.items():
                    out.setdefault(p, np.zeros(n, np.float64))[pos] = v
                if on_chunk is not None:
                    on_chunk(pos, part)
                if progress is not None:
                    progress.update(len(pos))
        return out

    def _analytic(self, names, encodings) -> dict:
        """params and flops: the space's own analytic counts where it has them, else counted
        on the network (`generic.count_active`; flops = the space's MACs + the linear layer)."""
        sp, k, out = self.space, self.num_classes, {}
        own = {p: sp.implements(f) for p, f in (("params", "param_count"), ("flops", "flops"))}
        counted = (self._run("count", encodings) if len(encodings) and not all(own[p] for p in names)
                   else {"params": np.zeros(0), "c_deep": np.zeros(0)})
        for p in names:
            if own[p]:
                fn = sp.param_count if p == "params" else sp.flops
                out[p] = np.asarray(fn(encodings, k), np.float64)
            elif p == "params":
                out[p] = counted["params"]
            else:
                out[p] = np.asarray(sp.macs(encodings), np.float64) + counted["c_deep"] * k
        return out

    def score(self, encodings, progress=None) -> dict:
        out = {}
        for program in self.programs:
            out.update(self.score_program(program, encodings, progress=progress))
        return {p: out[p] for p in self.proxies}
