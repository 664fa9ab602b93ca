"""What several `eproxy` commands share: the argument groups, the checks that need no jax, the
run identity of a results file, and the set-up of a scoring run (space, cache, engine).

Imports only `args` of the CLI package (and the core, lazily): every command module builds on
it, never the other way round.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import sys
from pathlib import Path

from .args import UsageError, nonneg, positive, space_option
from ..version import SCORING_VERSION

# --- argument groups ---------------------------------------------------------------------------


def add_truth(p, what="truth table of the space (nb201: cifar10, cifar100, imagenet16-120)"):
    p.add_argument("space", help="search space, e.g. nb201")
    p.add_argument("--dataset", help=what)
    p.add_argument("--truth", help="truth file: JSON list of [architecture, value] (.json or .json.gz), or the "
                   "space's own format (an NDS file, NASLib's NB301 table)")
    p.add_argument("--lower-is-better", action="store_true", help="truth values are losses (lower = better)")


def add_images(p):
    p.add_argument("--images", default="bundled", help="'bundled' (default), 'tfds:NAME[:SPLIT]' or a folder of PNG/JPEG")
    p.add_argument("--image-seed", type=nonneg("--image-seed"), default=0, help="which images of the source (default 0)")
    p.add_argument("--tfds-data-dir", help="tensorflow-datasets data_dir for --images tfds:... (default $TFDS_DATA_DIR)")


def add_run(p):
    p.add_argument("--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                   help="network override, e.g. channels=8, cells_per_stage=1, input_size=16, skeleton=imagenet")
    p.add_argument("--cache-dir", help="persistent XLA compilation cache ('off' to disable; default ~/.cache/eproxy_jax/xla)")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def add_sample(p):
    p.add_argument("--limit", type=positive("--limit"), help="score N architectures drawn at random from the truth table")
    p.add_argument("--sample-seed", type=nonneg("--sample-seed"), default=0, help="seed of the --limit draw (default 0)")


def add_engine(p):
    p.add_argument("--chunk", type=positive("--chunk"), default=16, help="architectures per compiled call (default 16)")
    p.add_argument("--arch-vmap", type=positive("--arch-vmap"), default=None,
                   help="architectures vmapped together inside a chunk (default: 1 on CPU, 256 on GPU)")
    p.add_argument("--conv-impl", choices=("custom", "xla", "im2col"), default=None,
                   help="how convolutions lower (default: custom on CPU; on GPU im2col when arch-vmap > 1, else xla)")
    p.add_argument("--devices", type=positive("--devices"), default=None,
                   help="local accelerators each chunk is split over (jax.sharding; default: all of them)")


# --- checks that need no jax -------------------------------------------------------------------


def check_out_file(flag: str, path, *, parent_must_exist: bool = True) -> Path:
    """One check for every output file flag: not a folder, a folder to write it in, writable.

    With parent_must_exist=False the missing folders will be created by the writer, so the
    nearest existing ancestor must be a writable folder instead.
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory; give a file path")
    parent = path.parent
    if not parent.is_dir():
        if parent_must_exist and not parent.exists():
            raise UsageError(f"{flag} {path}: directory {parent} does not exist")
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise UsageError(f"{flag} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path}: not writable")
    return path


def read_json_list(path: str, what: str) -> list:
    from spaces.base import read_json

    data = read_json(path)
    if not isinstance(data, list) or not data:
        raise UsageError(f"{what} {path}: expected a non-empty JSON list")
    return data


def check_truth_file(path: str):
    """A --truth file: a list of [arch, value] pairs or a space's own layout (NDS records or
    top/mid, NASLib's NB301 dict); the space's loader checks the records."""
    from spaces.base import read_json

    data = read_json(path)
    if not isinstance(data, (list, dict)) or not data:
        raise UsageError(f"--truth {path}: expected a non-empty JSON list or object")


def validate_scoring(args) -> dict:
    """The checks of a scoring run (`score`, `search`) that need no jax; returns what later
    steps reuse."""
    import spaces
    from .. import images, setting_spec

    spaces.info(args.space)
    if args.truth and not Path(args.truth).is_file():
        raise UsageError(f"--truth {args.truth}: file not found")
    if args.archs and not Path(args.archs).is_file():
        raise UsageError(f"--archs {args.archs}: file not found")
    if args.archs and args.truth:
        raise UsageError("--archs and --truth exclude each other (--archs scores architectures without truth)")
    if args.archs and getattr(args, "limit", None):  # `search` has no --limit
        raise UsageError("--limit draws from a truth table; with --archs, trim the file instead")
    if args.lower_is_better and not args.truth:
        raise UsageError("--lower-is-better applies to a --truth file")
    if args.truth:  # the user's own table: --dataset is just its label
        dataset = args.dataset or Path(args.truth).name
    else:
        dataset = spaces.check_dataset(args.space, args.dataset, have_truth_file=bool(args.archs))
    setting_name, setting = setting_spec.resolve(args.setting, args.space)
    images.check_spec(args.images)
    archs = read_json_list(args.archs, "--archs") if args.archs else None
    if args.truth:
        check_truth_file(args.truth)
    if args.out:
        check_out_file("--out", args.out, parent_must_exist=False)  # the results store creates folders
    return {"dataset": dataset, "setting": setting, "setting_name": setting_name, "archs": archs}


# --- run identity ------------------------------------------------------------------------------


def image_kind(spec: str) -> str:
    """The image source's kind for run hashes: './imgs' and 'imgs' are the same run."""
    return spec if spec == "bundled" or spec.startswith("tfds:") else "folder"


def truth_identity(truth_file, dataset, lower_is_better=False):
    """The truth source of a run, for its identity: the truth file's content hash (its name and
    the --dataset label do not matter) or the space's table (`dataset`), with the
    lower-is-better flag; None for a run without truth (--archs)."""
    import hashlib
    if truth_file:
        try:
            sha = hashlib.sha256(Path(truth_file).read_bytes()).hexdigest()[:16]
        except OSError as e:
            raise UsageError(f"--truth {truth_file}: {e.strerror or e}") from None
        return {"source": f"file-sha256:{sha}", "lower_is_better": bool(lower_is_better)}
    if dataset is None:
        return None
    return {"source": f"dataset:{dataset}", "lower_is_better": False}


def score_meta(space: str, config: dict, setting, seeds, images: str, image_seed: int, raw_images, *,
               truth, setting_name: str | None = None) -> dict:
    """What an Eproxy results file's run hash covers (`truth`: `truth_identity`): among it
    the full resolved setting and its name (`--setting NAME`, a file's path, "inline";
    without one, the named setting it equals, or "custom")."""
    import hashlib

    from .. import setting_spec
    d = setting.to_dict()
    return {
        # the scores' version: bumped whenever the same arguments score differently
        # (2: GenNAS-style waves and nested draws; 3: weight decay on kernels only, and
        # every setting field in the meta), so old files are never resumed into
        "proxy": f"eproxy-jax/{SCORING_VERSION}", "space": space, "space_config": config, "setting": d,
        "setting_name": setting_name or setting_spec.name_of(d),
        "seeds": list(seeds), "images": image_kind(images), "image_seed": image_seed,
        "images_sha": hashlib.sha256(raw_images.tobytes()).hexdigest()[:16], "truth": truth,
    }


# --- set-up of a run ---------------------------------------------------------------------------


def load_space_arg(args):
    """(space, its --space-option config) or a UsageError."""
    import spaces
    config = dict(args.space_option)
    try:
        return spaces.load_space(args.space, **config), config
    except TypeError as e:
        raise UsageError(f"--space-option: {e}") from None


@dataclasses.dataclass
class RunSetup:
    """What `score`, `compare` and `search` set up alike from their arguments: the space (and
    its --space-option config), the resolved proxy setting and the 16 raw images (uint8) the
    proxy trains on (read when first asked for: `compare` without Eproxy needs none)."""
    args: argparse.Namespace
    pre: dict            # the command's validated arguments (setting, setting_name, dataset, ...)
    space: object
    config: dict

    @functools.cached_property
    def setting(self):
        """The resolved setting as an `eproxy_jax.setting.ProxySetting` (built on first use:
        `compare` without Eproxy checks none, so a space with fewer feature maps than the
        default's branches still runs the peer proxies)."""
        from ..setting import ProxySetting
        return ProxySetting.from_dict(self.pre["setting"], max_branches=len(self.space.feature_channels))

    @functools.cached_property
    def raw_images(self):
        """uint8 [16, H, W, 3] from --images / --image-seed."""
        from .. import images as images_mod
        a = self.args
        return images_mod.load_raw(a.images, n=16, seed=a.image_seed, size=self.space.input_size,
                                   tfds_data_dir=a.tfds_data_dir)

    @property
    def images(self):
        """The images as the proxy reads them (float32, normalised)."""
        from .. import images as images_mod
        return images_mod.normalise(self.raw_images)

    def meta(self, seeds, dataset) -> dict:
        """The results file's run identity (`score_meta`) for these proxy seeds and truth."""
        a = self.args
        return score_meta(a.space, self.config, self.setting, seeds, a.images, a.image_seed, self.raw_images,
                          truth=truth_identity(a.truth, dataset, a.lower_is_better),
                          setting_name=self.pre["setting_name"])

    def truth_sample(self, dataset):
        """(encodings, their truth, the whole table's truth): the truth table (the space's
        `dataset`, or --truth) and the --limit draw from it."""
        a = self.args
        encs, reference = self.space.load_truth(None if a.truth else dataset, a.truth, a.lower_is_better)
        encs, truth = draw_limit(encs, reference, a.limit, a.sample_seed)
        return encs, truth, reference


def prepare_run(args, pre: dict) -> RunSetup:
    """The space, setting and images of a scoring command (`RunSetup`); UsageError on a bad
    --space-option. `pre`: the command's checks' result, with `setting` and `setting_name`."""
    space, config = load_space_arg(args)
    return RunSetup(args, pre, space, config)


def draw_limit(encs, truth, limit, sample_seed):
    """`--limit N`: N architectures drawn uniformly (seeded) from a truth table, in table order."""
    import numpy as np
    if limit and limit > len(encs):
        print(f"note: --limit {limit} exceeds the {len(encs)} architectures of the truth table; scoring all of them",
              file=sys.stderr)
    if limit and limit < len(encs):
        idx = np.sort(np.random.default_rng(sample_seed).choice(len(encs), limit, replace=False))
        return encs[idx], truth[idx]
    return encs, truth


def pending(store, ids) -> list:
    """Indices of `ids` a results store has not scored yet (each architecture once)."""
    todo, seen = [], set()
    for i, a in enumerate(ids):
        if not store.done(a) and a not in seen:
            todo.append(i)
            seen.add(a)
    return todo


def checkout_root() -> str:
    """The folder holding this checkout's `eproxy_jax` package."""
    return str(Path(__file__).resolve().parents[2])


def checkout_env() -> dict:
    """The environment for a script of this checkout that runs `python -m eproxy_jax` as a
    child process: this checkout first on PYTHONPATH, so the child runs the same code whether
    or not the package is installed, in the caller's working directory, where the relative
    paths in its arguments (`--out`, `--truth`, `--images DIR`) were meant."""
    root = checkout_root()
    path = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def enable_cache(args):
    """The persistent compilation cache of a run (`--cache-dir`): its directory, or UsageError."""
    from .. import engine as engine_mod
    try:
        return engine_mod.enable_compilation_cache(args.cache_dir)
    except OSError as e:
        raise UsageError(f"--cache-dir: cannot use {args.cache_dir or engine_mod.DEFAULT_CACHE_DIR}: "
                         f"{e.strerror or e}") from None


RESULTS_DIR = Path("eproxy-results")


def results_dir() -> Path:
    """The default results folder in the working directory. Created with a `.gitignore` of
    `*` inside (as pytest marks its cache), so a git checkout it lands in ignores it."""
    if not RESULTS_DIR.is_dir():
        try:
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / ".gitignore").write_text("# created by eproxy-jax: results stay out of git\n*\n")
        except OSError as e:
            raise UsageError(f"cannot create {RESULTS_DIR}/ in {Path.cwd()}: {e.strerror or e}; "
                             "give --out") from None
    return RESULTS_DIR


def default_results_path(space: str, dataset, meta: dict, suffix: str = "") -> Path:
    """Where a scoring run's results go without --out: one file per run hash, so `score`
    and `search` runs of the same proxy configuration share (and resume) it."""
    from ..store import run_hash
    return results_dir() / f"{space}_{dataset or 'archs'}_{run_hash(meta)[:8]}{suffix}.csv"


def make_engine(engine_mod, args, space, setting, seeds, images, **kw):
    """The engine of a CLI run (`--chunk`, `--arch-vmap`, `--conv-impl`, `--devices`)."""
    import jax
    n_local = len(jax.local_devices())
    if args.devices is not None and args.devices > n_local:
        raise UsageError(f"--devices {args.devices}: this host has {n_local} {jax.default_backend()} device(s)")
    return engine_mod.Engine(space, setting, seeds, images, chunk=args.chunk, arch_vmap=args.arch_vmap,
                             conv_impl=args.conv_impl, devices=args.devices, **kw)


# --- metrics as JSON and text ------------------------------------------------------------------


def finite(x, digits=4):
    """A metric for JSON: rounded, or None where undefined (constant scores or truth)."""
    return round(float(x), digits) if math.isfinite(x) else None


def rank_fields(scores, truth, reference=None) -> dict:
    """`metrics.report` for JSON: spearman, kendall, top10_precision (3 digits), the truth
    percentiles top1/top10 (2 digits) and spearman_top10pct; None where undefined."""
    from .. import metrics
    r = metrics.report(scores, truth, reference)
    digits = {"top10_precision": 3, "top1_percentile": 2, "top10_percentile": 2}
    return {k: finite(v, digits.get(k, 4)) for k, v in r.items()}


def top_text(r: dict) -> str:
    """The top-end metrics of a `rank_fields` dict as one line of text."""
    fmt = lambda x, d: "undefined" if x is None else f"{x:.{d}f}"  # noqa: E731
    return (f"best-scored at truth percentile {fmt(r['top1_percentile'], 1)}, top-10 mean "
            f"{fmt(r['top10_percentile'], 1)}, spearman within the truly best 10% {fmt(r['spearman_top10pct'], 4)}")
