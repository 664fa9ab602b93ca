"""Search spaces: what an architecture is (encoding, Flax module, MACs, truth tables).

The registry below is plain Python (no jax import), so the CLI can validate a space and
dataset name before it imports jax. Adding a space = one file in this package that defines
a `Space` subclass (named `SPACE_CLASS` unless the entry's `class_name` says otherwise), plus one entry here;
or, from another installed package, an entry point in the group `eproxy_jax.spaces` (see
`load_plugins` and docs/spaces.md).
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class SpaceInfo:
    module: str                       # python module defining the Space
    datasets: dict                    # dataset name -> bundled truth file in spaces/data (None: needs --truth)
    default_dataset: str
    description: str = ""
    aliases: tuple = field(default_factory=tuple)
    classes: dict = field(default_factory=dict)  # dataset name -> classes of its classifier (peer proxies)
    truth_hint: str = ""              # where to get the truth file when none is bundled
    class_name: str = "SPACE_CLASS"   # the Space subclass in `module` (a file may define several)


REGISTRY: dict[str, SpaceInfo] = {
    "nb201": SpaceInfo(
        module="spaces.nb201",
        datasets={
            "cifar10": "nb201_cifar10.json.gz",
            "cifar100": "nb201_cifar100.json.gz",
            "imagenet16-120": "nb201_imagenet16-120.json.gz",
        },
        default_dataset="cifar10",
        description="NAS-Bench-201: 15,625 cells, 3 stages x 5 cells, C=16/32/64",
        classes={"cifar10": 10, "cifar100": 100, "imagenet16-120": 120},
    ),
    "nb101": SpaceInfo(
        module="spaces.nb101",
        datasets={
            "cifar10": "nb101_cifar10.json.gz",
            "cifar10-dps20": "nb101_cifar10-dps20.json.gz",
            "imagenet-500": "nb101_imagenet-500.json.gz",
        },
        default_dataset="cifar10",
        description="NAS-Bench-101: cells of up to 7 vertices, 3 stacks x 3 cells, 128/256/512 channels",
        classes={"cifar10": 10, "cifar10-dps20": 10, "imagenet-500": 1000},
    ),
    "nb301": SpaceInfo(
        module="spaces.nb301",
        datasets={"cifar10": "nb301_cifar10.json.gz"},
        default_dataset="cifar10",
        description="NAS-Bench-301 (DARTS space): 500 genotypes; proxy net width 16, 8 cells",
    ),
}

# The NDS spaces: cell spaces (spaces/nds.py) and AnyNet spaces (spaces/anynet.py); no bundled
# truth, the user's NDS JSON via --truth.
_NDS = (
    ("nds", "nds-darts", "DARTS", "DARTS.json"), ("nds", "nds-darts-fix-w-d", "DARTS, fixed width/depth", "DARTS_fix-w-d.json"),
    ("nds", "nds-enas", "ENAS", "ENAS.json"), ("nds", "nds-enas-fix-w-d", "ENAS, fixed width/depth", "ENAS_fix-w-d.json"),
    ("nds", "nds-amoeba", "Amoeba", "Amoeba.json"), ("nds", "nds-nasnet", "NASNet", "NASNet.json"),
    ("nds", "nds-pnas", "PNAS", "PNAS.json"), ("nds", "nds-pnas-fix-w-d", "PNAS, fixed width/depth", "PNAS_fix-w-d.json"),
    ("nds", "nds-darts-in", "DARTS (ImageNet)", "DARTS_in.json"),
    ("nds", "nds-darts-fix-w-d-in", "DARTS, fixed width/depth (ImageNet)", "DARTS_fix-w-d_in.json"),
    ("nds", "nds-enas-in", "ENAS (ImageNet)", "ENAS_in.json"), ("nds", "nds-amoeba-in", "Amoeba (ImageNet)", "Amoeba_in.json"),
    ("nds", "nds-nasnet-in", "NASNet (ImageNet)", "NASNet_in.json"), ("nds", "nds-pnas-in", "PNAS (ImageNet)", "PNAS_in.json"),
    ("anynet", "nds-resnet", "ResNet (AnyNet)", "ResNet.json"), ("anynet", "nds-resnext-a", "ResNeXt-A (AnyNet)", "ResNeXt-A.json"),
    ("anynet", "nds-resnext-b", "ResNeXt-B (AnyNet)", "ResNeXt-B.json"),
    ("anynet", "nds-resnext-a-in", "ResNeXt-A (AnyNet, ImageNet)", "ResNeXt-A_in.json"),
    ("anynet", "nds-resnext-b-in", "ResNeXt-B (AnyNet, ImageNet)", "ResNeXt-B_in.json"),
)
for _mod, _name, _what, _file in _NDS:
    _ds = "imagenet" if _name.endswith("-in") else "cifar10"
    REGISTRY[_name] = SpaceInfo(
        module=f"spaces.{_mod}", datasets={_ds: None}, default_dataset=_ds,
        description=f"NDS {_what} space (user's NDS JSON via --truth)",
        classes={_ds: 1000 if _ds == "imagenet" else 10},
        truth_hint=(f"{_name} has no bundled truth (the NDS data is not redistributed): download data.zip "
                    f"from https://github.com/facebookresearch/nds and pass --truth PATH/{_file}"))

# TransNAS-Bench-101 (spaces/transnas.py): 7 tasks, 4 with bundled truth; values higher = better
_TRANSNAS_TASKS = ("class_object", "class_scene", "autoencoder", "normal", "jigsaw", "room_layout", "segmentsemantic")
for _kind, _cls, _what in (("micro", "TransNASMicro", "4,096 cells a_bc_def on the 64-41414 skeleton (read as 41412 at 32 px)"),
                           ("macro", "TransNASMacro", "3,255 residual skeletons 64-XXXX[XX]-basic")):
    REGISTRY[f"transnas-{_kind}"] = SpaceInfo(
        module="spaces.transnas", class_name=_cls,
        datasets={t: (f"transnas_{_kind}_{t}.json.gz" if t in _TRANSNAS_TASKS[:4] else None) for t in _TRANSNAS_TASKS},
        default_dataset="class_scene", description=f"TransNAS-Bench-101 {_kind}: {_what}",
        truth_hint=(f"transnas-{_kind} has bundled truth for {', '.join(_TRANSNAS_TASKS[:4])}; for this task pass "
                    f"--truth FILE with [[\"64-...\", value], ...] (higher = better, else add --lower-is-better)"))

# NAS-Bench-MR (spaces/nbmr.py): 9 tasks, 5 with bundled truth
_NBMR_TASKS = ("cls-10-1000", "cls-10c", "cls-50-100", "cls-50-1000", "seg", "seg-4x", "3ddet", "video", "video-p")
REGISTRY["nbmr"] = SpaceInfo(
    module="spaces.nbmr", datasets={t: (f"nbmr_{t}.json.gz" if t in _NBMR_TASKS[:5] else None) for t in _NBMR_TASKS},
    default_dataset="seg", description="NAS-Bench-MR: 2,507 multi-resolution (HRNet-like) networks",
    truth_hint=(f"nbmr has bundled truth for {', '.join(_NBMR_TASKS[:5])}; for this task pass --truth FILE with "
                "[[{\"input_channel\": ..., \"inverted_residual_setting\": ..., \"last_channel\": ...}, value], ...]"))


class SpaceError(ValueError):
    """Unknown space or dataset, or a malformed architecture (one-line message)."""


# Spaces from other installed packages: an entry point in this group names a `SpaceInfo` (or a
# callable returning one) whose `module` / `class_name` is the plugin's `Space` subclass, e.g. in
# the plugin's pyproject.toml
#     [project.entry-points."eproxy_jax.spaces"]
#     my-space = "my_package.registry:SPACE_INFO"
# `datasets` values may be absolute paths to the plugin's truth files (relative ones are read
# from this package's data folder). The named object is loaded with the registry, before jax is
# imported: keep it in a module that does not import jax. A plugin that fails to load, or that
# takes a name already registered, is left out with a warning (a broken plugin never breaks
# the built-in spaces).
ENTRY_POINT_GROUP = "eproxy_jax.spaces"
PLUGIN_PROBLEMS: list = []


def load_plugins(registry: dict, group: str = ENTRY_POINT_GROUP) -> list:
    """Add the installed plugin spaces of `group` to `registry`; the names added."""
    import warnings
    from importlib.metadata import entry_points

    added = []
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        try:
            obj = ep.load()
            space_info = obj() if callable(obj) and not isinstance(obj, (SpaceInfo, type)) else obj
            if not isinstance(space_info, SpaceInfo):
                raise TypeError(f"{ep.value} gives a {type(space_info).__name__}, not a spaces.SpaceInfo")
            if space_info.default_dataset not in space_info.datasets:
                raise ValueError(f"default_dataset {space_info.default_dataset!r} is not one of its datasets")
        except Exception as e:  # noqa: BLE001  (anything a third-party module raises on import)
            problem = f"space plugin {ep.name!r} ({ep.value}) not loaded: {type(e).__name__}: {e}"
        else:
            if ep.name in registry:
                problem = f"space plugin {ep.name!r} ({ep.value}) not loaded: the name is already a space"
            else:
                registry[ep.name] = space_info
                added.append(ep.name)
                continue
        PLUGIN_PROBLEMS.append(problem)
        warnings.warn(problem, RuntimeWarning, stacklevel=2)
    return added


PLUGINS = load_plugins(REGISTRY)


def info(name: str) -> SpaceInfo:
    if name not in REGISTRY:
        raise SpaceError(f"unknown space {name!r} (available: {', '.join(sorted(REGISTRY))})")
    return REGISTRY[name]


def check_dataset(space: str, dataset: str | None, have_truth_file: bool = False) -> str:
    """Validate a dataset name for a space; returns the resolved name."""
    i = info(space)
    dataset = dataset or i.default_dataset
    if dataset not in i.datasets:
        raise SpaceError(f"unknown dataset {dataset!r} for space {space} (available: {', '.join(i.datasets)})")
    if i.datasets[dataset] is None and not have_truth_file:
        raise SpaceError(i.truth_hint or f"no bundled truth table for {space}/{dataset}: pass --truth FILE")
    return dataset


def truth_path(space: str, dataset: str) -> Path | None:
    f = info(space).datasets.get(dataset)
    return DATA_DIR / f if f else None


def load_space(name: str, **config):
    """Instantiate a registered space; `config` overrides its network size (e.g. for tests:
    `load_space("nb201", channels=4, cells_per_stage=1, input_size=16)`)."""
    mod = importlib.import_module(info(name).module)
    cls = getattr(mod, info(name).class_name)
    known = [k for k in inspect.signature(cls).parameters if k != "name"]
    unknown = [k for k in config if k not in known]
    if unknown:
        raise SpaceError(f"{name} has no option {unknown[0]!r} (options: {', '.join(known)})")
    return cls(name=name, **config)
