"""The Python API: what the CLI does, as functions.

    import eproxy_jax as ep
    space = ep.load_space("nb201")
    scores = ep.score(space, ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"])
    encs, acc = space.load_truth("cifar10")
    result = ep.evaluate(space, encs[:100], acc[:100], seeds=2)
    peers = ep.baseline_scores(space, encs[:100], ["naswot", "synflow", "params"])  # higher = better
"""
from __future__ import annotations

import numpy as np

from spaces import load_space  # noqa: F401  (re-exported)

from . import metrics
from .engine import Engine
from .setting import ProxySetting
from .store import seed_mean


def load_results(path):
    """A results file as a `results_table.ResultsTable` whose `.space` / `.encodings` / `.macs()` build
    the file's space from the registry; `.to_pandas()` for a DataFrame."""
    from . import results_table
    return results_table.load_results(path, load_space)


def _as_setting(setting, space) -> ProxySetting:
    """None: the space's default; a dict, a JSON path or inline JSON: those fields over the
    space's default (as `--setting`); a name: that named setting; a `ProxySetting`: as is."""
    if setting is None or isinstance(setting, ProxySetting):
        return setting or ProxySetting.for_space(space)
    from . import setting_spec
    branches = min(3, len(space.feature_channels))
    name = getattr(space, "name", "")
    if isinstance(setting, dict):
        base = setting_spec.named_settings()[setting_spec.space_default(name)]["setting"]
        return ProxySetting.from_dict({**base, **setting}, max_branches=branches)
    return ProxySetting.from_dict(setting_spec.resolve(str(setting), name, branches)[1], max_branches=branches)


def score_per_seed(space, archs, setting=None, seeds=1, images=None, chunk: int = 16, **engine_kw) -> np.ndarray:
    """Eproxy scores `[n, n_seeds]` (lower = better). `archs`: encodings or any form the space
    parses (benchmark lists, strings); `seeds`: a count (seeds 0..K-1) or a list of seeds;
    `setting`: None (the space's default, `eproxy settings`), a dict (fields over that default), a JSON path, or a `ProxySetting`."""
    if isinstance(space, str):
        space = load_space(space)
    encs = _encodings(space, archs)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    eng = Engine(space, _as_setting(setting, space), seed_list, images, chunk=chunk, **engine_kw)
    return eng.score(encs)


def score(space, archs, setting=None, seeds=1, images=None, chunk: int = 16, **engine_kw) -> np.ndarray:
    """Mean Eproxy score over seeds, `[n]` (NaN where any seed diverged; +inf for a network
    that ignores its input, see `ProxySetting.dead_last`)."""
    per = score_per_seed(space, archs, setting, seeds, images, chunk, **engine_kw)
    return seed_mean(per)


def evaluate(space, archs, truth, setting=None, seeds=1, images=None, chunk: int = 16, **engine_kw) -> dict:
    """Score `archs` and compare with `truth` (higher = better): spearman, kendall, scores."""
    per = score_per_seed(space, archs, setting, seeds, images, chunk, **engine_kw)
    mean = seed_mean(per)
    return {
        "spearman": metrics.spearman(mean, truth),
        "kendall": metrics.kendall(mean, truth),
        "spearman_per_seed": [metrics.spearman(per[:, k], truth) for k in range(per.shape[1])],
        "scores": mean,
        "diverged": int(np.isnan(mean).sum()),
        "dead": int(np.isposinf(mean).sum()),
    }


def baseline_scores(space, archs, proxies=("naswot", "synflow", "jacob_cov", "snip", "grad_norm", "fisher",
                                           "params", "flops"),
                    images=None, labels=None, batch_size: int = 20, seed: int = 0, num_classes: int = 10,
                    chunk: int = 16, **engine_kw) -> dict:
    """Peer zero-cost proxies, `{name: float64 [n]}`, higher = better for all of them.
    `images` (float32 NHWC, normalised) and `labels` default to `batch_size` of the bundled
    CIFAR-10 images and their classes."""
    from .baselines.runner import BaselineEngine
    if isinstance(space, str):
        space = load_space(space)
    encs = _encodings(space, archs)
    if images is None:
        from . import images as images_mod
        raw, labels = images_mod.load_labeled("bundled", n=batch_size, size=space.input_size)
        images = images_mod.normalise(raw)
    eng = BaselineEngine(space, list(proxies), images, labels, seed=seed, chunk=chunk, num_classes=num_classes,
                         **engine_kw)
    return eng.score(encs)


def _encodings(space, archs) -> np.ndarray:
    return np.asarray(archs) if isinstance(archs, np.ndarray) else space.encode_many(list(archs))


def run_dps(space, train_archs, train_truth, eval_archs=None, eval_truth=None, *, cycles: int = 200,
        population: int = 40, sample: int = 10, seed: int = 0, images=None, max_channels: int = 512,
        max_kernel: int = 7, keep_default: bool = False, state_path=None, progress=None) -> dict:
    """Discrete Proxy Search (the paper's regularized evolution over Eproxy's settings; fitness =
    Spearman on `train_archs` against `train_truth`, higher = better). Returns a dict with
    `setting` (pass it to `score`/`evaluate` as `setting=`), `best_fitness`, `default_fitness`,
    `history_fitness` and, with `eval_archs`/`eval_truth`, the held-out `eval_spearman` beside the
    default's `default_eval_spearman`. `state_path`: a file the run saves to and resumes from;
    `progress(event)`: called after each batch of settings. `keep_default`: return the default
    where it fits the train architectures at least as well (not the paper's rule)."""
    from . import dps_run
    if isinstance(space, str):
        space = load_space(space)
    ev = None if eval_archs is None else _encodings(space, eval_archs)
    return dps_run.run(space, _encodings(space, train_archs), np.asarray(train_truth, np.float64), ev,
                       None if eval_truth is None else np.asarray(eval_truth, np.float64), cycles=cycles,
                       population=population, sample=min(sample, population), seed=seed, images=images,
                       max_channels=max_channels, max_kernel=max_kernel, keep_default=keep_default,
                       state_path=state_path, progress=progress)


def draw_architecture(space, arch, path, dpi: int = 150):
    """Draw one architecture (any form the space parses) to `path` (.png, .svg or .pdf); returns
    the path."""
    from . import draw as draw_mod
    if isinstance(space, str):
        space = load_space(space)
    enc = np.asarray(arch) if isinstance(arch, np.ndarray) else space.parse(arch)
    return draw_mod.render(space.graphs(enc), path, dpi)

