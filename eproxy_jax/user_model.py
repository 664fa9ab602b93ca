"""Eproxy on a user's own network: `score_model(model)` for a `flax.linen` or `flax.nnx` Module.

The model is called on NHWC images and returns its stage feature maps, shallow to deep (a
list or tuple; a single array is one stage). As for the built-in spaces, the proxy taps the
deepest `branches` of them, each resized to `target_size` by nearest neighbour, trains the
model and the heads for `steps` SGD steps and reads the loss on the last forward pass.

What the proxy does to the model, as for the built-in spaces:
- its weights are drawn anew per proxy seed under the setting's `init` scheme: every conv or
  dense `kernel` (and its `bias`), normalisation `scale` = 1 and `bias` = 0; a parameter that
  is none of these is refused with a one-line error (the proxy would not know how to draw it);
- BatchNorm runs on batch statistics (train mode): linen's running averages (`batch_stats`)
  and NNX's `BatchStat` variables are updated in the step and thrown away. A linen model
  whose BatchNorm reads `use_running_average` from a call argument gets it through
  `model_kwargs` (e.g. `{"train": True}`);
- the MACs weight `alpha` is not applied (a single model has no MACs range to scale by).

One compile per model (`score_models` scores a list); for many architectures of one family a
space (docs/spaces.md) compiles one program for all of them.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import proxy
from .nn import ops
from .setting import ProxySetting


class ModelError(ValueError):
    """A model the proxy cannot score (one-line message)."""


def _stages(out):
    """The model's output as a list of NHWC feature maps, shallow to deep."""
    stages = list(out) if isinstance(out, (list, tuple)) else [out]
    for i, f in enumerate(stages):
        if getattr(f, "ndim", None) != 4:
            raise ModelError(f"the model's output #{i} has shape {getattr(f, 'shape', type(f).__name__)}; "
                             "return NHWC feature maps [n, H, W, C], shallow to deep")
    return stages


def _is_nnx(model) -> bool:
    try:
        from flax import nnx
    except ImportError:  # pragma: no cover  (flax without nnx)
        return False
    return isinstance(model, nnx.Module)


class ModelNet:
    """A user model behind the interface `proxy` expects of a space's module:
    `init(rng, images, encoding) -> {"params": ...}` and `apply({"params": p}, images, encoding)
    -> features deepest first, at `target_size` (the encoding is ignored). Parameters are plain
    nested dicts (NNX state as `to_pure_dict()`), so the proxy's initialisation and its
    kernel-only weight decay see the same leaf names (`kernel`, `bias`, `scale`) as in a space."""

    def __init__(self, model, images, taps: int, target_size: int, model_kwargs=None):
        self.model, self.taps, self.target_size = model, taps, target_size
        self.kwargs = dict(model_kwargs or {})
        self.nnx = _is_nnx(model)
        if self.nnx:
            from flax import nnx
            self.graphdef, self.params_state, self.rest_state = nnx.split(model, nnx.Param, ...)
            self.rest_pure = self.rest_state.to_pure_dict()
            self.params0 = self.params_state.to_pure_dict()
        else:   # initialised once, eagerly: the non-param collections (batch_stats...) are constants
            variables = dict(model.init(jax.random.PRNGKey(0), images, **self.kwargs))
            self.rest = {k: v for k, v in variables.items() if k != "params"}
            self.params0 = variables.get("params", {})

    def init(self, rng, images, encoding=None):
        """The parameter tree's structure (the proxy draws the values anew per seed)."""
        return {"params": self.params0}

    def raw(self, params, images):
        """The model's own output on `images` under `params` (BatchNorm on batch statistics)."""
        if self.nnx:
            from flax import nnx

            def fresh(state, pure):      # new Variables inside the trace: BatchNorm's update stays local
                state = jax.tree_util.tree_map(lambda v: v, state)
                nnx.replace_by_pure_dict(state, pure)
                return state
            model = nnx.merge(self.graphdef, fresh(self.params_state, params), fresh(self.rest_state, self.rest_pure))
            return model(images, **self.kwargs)
        mutable = list(self.rest)
        out = self.model.apply({"params": params, **self.rest}, images, mutable=mutable or False, **self.kwargs)
        return out[0] if mutable else out

    def apply(self, variables, images, encoding=None):
        stages = _stages(self.raw(variables["params"], images))[::-1][:self.taps]
        return tuple(ops.resize_nearest(f, self.target_size) for f in stages)


def check_params(tree, path=()):
    """Every leaf of a parameter tree is one `initializers.init_tree` draws: a `kernel`
    (with an optional `bias`) or a normalisation `scale` / `bias`; else one-line ModelError."""
    if not hasattr(tree, "items"):
        raise ModelError(f"parameter {'/'.join(path) or '(root)'} is neither a conv/dense kernel nor a "
                         "normalisation scale/bias: the proxy cannot draw it (score_model supports conv, dense "
                         "and normalisation layers)")
    node = dict(tree)
    if "kernel" in node:
        extra = set(node) - {"kernel", "bias"}
    elif "scale" in node:
        extra = set(node) - {"scale", "bias"}
    else:
        for k, v in node.items():
            check_params(v, path + (str(k),))
        return
    if extra:
        raise ModelError(f"parameter {'/'.join(path + (sorted(extra)[0],))} sits beside a kernel or scale: "
                         "the proxy cannot draw it")
    if "kernel" in node and len(node["kernel"].shape) < 2:
        raise ModelError(f"parameter {'/'.join(path + ('kernel',))} has shape {tuple(node['kernel'].shape)}: "
                         "a kernel needs [..., in, out]")


def _as_images(images, size):
    from . import images as images_mod
    if images is None or isinstance(images, str):
        return jnp.asarray(images_mod.load(images or "bundled", size=size or 32))
    x = jnp.asarray(images, jnp.float32)
    if x.ndim != 4 or x.shape[-1] < 1:
        raise ModelError(f"images must be NHWC [n, H, W, C], got shape {tuple(x.shape)}")
    return x


def _setting(setting, n_stages: int) -> ProxySetting:
    if isinstance(setting, ProxySetting):
        if setting.branches > n_stages:
            raise ModelError(f"the setting uses {setting.branches} branches but the model returns {n_stages} feature maps")
        return setting
    d = dict(setting or {})
    branches = min(int(d.get("branches", 3)), n_stages)
    return ProxySetting.from_dict({**d, "branches": branches}, max_branches=branches)


def _prepared(model, images, setting, model_kwargs, target_size):
    """(ModelNet, ProxySetting, feature channels deepest first, target size) of a model."""
    net = ModelNet(model, images, 3, 1, model_kwargs)
    stages = _stages(jax.eval_shape(lambda x: net.raw(net.params0, x), images))
    s = _setting(setting, len(stages))
    net.taps, net.target_size = s.branches, target_size or max(images.shape[1] // 4, 1)
    check_params(net.params0)        # the tree `init` hands the proxy
    channels = tuple(int(f.shape[-1]) for f in stages[::-1][:s.branches])
    return net, s, channels, net.target_size


def score_model_per_seed(model, *, images="bundled", setting=None, seeds=1, model_kwargs=None,
                         target_size=None, image_size=None) -> np.ndarray:
    """Eproxy scores `[n_seeds]` of one model (lower = better): see `score_model`."""
    from .engine import ensure_compilation_cache
    ensure_compilation_cache()
    x = _as_images(images, image_size)
    net, s, channels, size = _prepared(model, x, setting, model_kwargs, target_size)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list:
        raise ModelError("seeds: give a count >= 1 or a non-empty list")
    keys = jnp.stack([jax.random.PRNGKey(int(k)) for k in seed_list])

    def one(key, setting, images):
        ctx = proxy.prepare(key, setting, net, images, (1,), channels, size)
        return proxy.score_one(ctx, setting, net, images, jnp.zeros((1,), jnp.int32), jnp.float32(0.0))

    return np.asarray(jax.jit(lambda k, st, im: jax.lax.map(lambda kk: one(kk, st, im), k))(keys, s, x))


def score_model(model, *, images="bundled", setting=None, seeds=1, model_kwargs=None, target_size=None,
                image_size=None) -> float:
    """The Eproxy score of a user's network (lower = better; `inf`: its deepest features ignore
    the input; NaN: training diverged under some seed).

    `model`: a `flax.linen` Module (its `init`/`apply` are called on the images) or a
    `flax.nnx` Module (called directly), returning its stage feature maps shallow to deep.
    `images`: "bundled" (16 CIFAR-10 images at `image_size`, default 32), another
    `--images` spec, or an NHWC float array. `setting`: None (the package default, with as
    many branches as the model has stages, at most 3), a dict of setting fields or a
    `ProxySetting`. `seeds`: a count or a list; the scores of the seeds are averaged.
    `model_kwargs`: extra call arguments (e.g. `{"train": True}`). `target_size`: the grid of
    the targets (default a quarter of the image side)."""
    from .store import seed_mean
    per = score_model_per_seed(model, images=images, setting=setting, seeds=seeds, model_kwargs=model_kwargs,
                               target_size=target_size, image_size=image_size)
    return float(seed_mean(per[None, :])[0])


def score_models(models, **kw) -> np.ndarray:
    """`score_model` of each model, `[n]` (one compile per model; the persistent compilation
    cache, `eproxy_jax.engine.enable_compilation_cache`, serves a structure seen before). For
    many architectures of one family, write a space instead (docs/spaces.md): one program
    then serves them all."""
    return np.asarray([score_model(m, **kw) for m in models], np.float64)
