"""eproxy-jax: Eproxy and DPS (zero-training NAS proxies) in JAX/Flax.

Public API (imported lazily, so `eproxy_jax.cli` can validate arguments before jax loads):
`load_space`, `score`, `score_per_seed`, `evaluate`, `baseline_scores`, `Engine`, `ProxySetting`,
`load_results` (a results file; `.to_pandas()` for a DataFrame), `run_dps` (tune the proxy's
setting on benchmarked architectures), `draw_architecture` (one architecture to PNG/SVG/PDF), `score_model` (your own
linen or NNX network), `score_model_per_seed`, `score_models`.
"""
from .version import SCORING_VERSION, __version__  # noqa: F401

_LAZY = {
    "load_space": ("spaces", "load_space"),
    "score": ("eproxy_jax.api", "score"),
    "score_per_seed": ("eproxy_jax.api", "score_per_seed"),
    "evaluate": ("eproxy_jax.api", "evaluate"),
    "baseline_scores": ("eproxy_jax.api", "baseline_scores"),
    "Engine": ("eproxy_jax.engine", "Engine"),
    "ProxySetting": ("eproxy_jax.setting", "ProxySetting"),
    "load_results": ("eproxy_jax.api", "load_results"),
    "run_dps": ("eproxy_jax.api", "run_dps"),
    "draw_architecture": ("eproxy_jax.api", "draw_architecture"),
    "score_model": ("eproxy_jax.user_model", "score_model"),
    "score_model_per_seed": ("eproxy_jax.user_model", "score_model_per_seed"),
    "score_models": ("eproxy_jax.user_model", "score_models"),
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'eproxy_jax' has no attribute {name!r}")


__all__ = list(_LAZY)
