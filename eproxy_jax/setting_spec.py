"""The proxy's settings as plain Python: names, the paper's defaults, validation, JSON.

Pure Python on purpose (no jax import): the CLI validates a user's setting file before it
imports jax, so a bad field is one clean line on stderr. `setting.ProxySetting` turns a
validated dict into the pytree the engine consumes.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

SIGNALS = ("net", "wave_l", "wave_m", "wave_h", "dot")
# what of the wave signals is drawn per image (see targets.wave): nothing (one pattern for
# every image), the phases only, or every wave parameter (GenNAS's `local=True`)
WAVE_MODES = ("off", "phase", "all")
INIT_NAMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "pytorch_default")
PER_BRANCH = ("signals", "head_kernel", "barrier_kernel", "c_out", "c_last", "level")

# The paper's default Eproxy (appendix): lr 1.0, momentum 0.9, wd 1e-5 on ndim>1 weights,
# 10 steps, 3 branches of 1x1 head -> 128 + ReLU + BN, frozen 3x3 barrier 128 -> 128,
# wave_h targets at level 1, no MACs term.
DEFAULT = {
    "lr": 1.0,
    "momentum": 0.9,
    "weight_decay": 1e-5,
    "steps": 10,
    "alpha": 0.0,
    "branches": 3,
    "signals": [["wave_h"], ["wave_h"], ["wave_h"]],
    "head_kernel": [1, 1, 1],
    "barrier_kernel": [3, 3, 3],
    "c_out": [128, 128, 128],
    "c_last": [128, 128, 128],
    "level": [1.0, 1.0, 1.0],
    "init": "pytorch_default",
    "barrier_init": "pytorch_default",
    # not in the paper: an architecture whose deepest features ignore the input (its graph
    # has no path from the input, e.g. NB201 cells whose every route to the output is `none`)
    # scores the constant predictor's loss, which ranks such networks mid-pack; true ranks
    # them last (score +inf), false keeps that loss as its score (the paper's behaviour)
    "dead_last": True,
    # not in the paper: "off" draws one wave pattern for all images; "phase" and "all" draw
    # per image (each image's draw fixed by the proxy seed and the image's index)
    "per_image_waves": "off",
}
FIELDS = tuple(DEFAULT)


class SettingError(ValueError):
    """A user's setting is invalid (the message is one line, fit for the CLI)."""


def _number(name, value, lo=None, hi=None, integer=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingError(f"setting field '{name}' must be a number, got {value!r}")
    try:
        float(value)
    except OverflowError:
        raise SettingError(f"setting field '{name}' is out of range: {value!r}") from None
    if integer and (not float(value).is_integer()):
        raise SettingError(f"setting field '{name}' must be an integer, got {value!r}")
    if not math.isfinite(value):
        raise SettingError(f"setting field '{name}' must be finite, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise SettingError(f"setting field '{name}' must be in [{lo}, {hi}], got {value!r}")
    return int(value) if integer else float(value)


def _per_branch(name, value, branches, check):
    if not isinstance(value, list):
        value = [value] * branches  # one value for every branch
    if len(value) < branches:
        raise SettingError(f"setting field '{name}' needs {branches} entries (one per branch), got {len(value)}")
    return [check(f"{name}[{i}]", v) for i, v in enumerate(value[:branches])]


def _kernel(name, v):
    v = _number(name, v, 1, 15, integer=True)
    if v % 2 == 0:
        raise SettingError(f"setting field '{name}' must be an odd kernel size, got {v}")
    return v


def _signals(name, v):
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v:
        raise SettingError(f"setting field '{name}' must be a non-empty list of signals from {', '.join(SIGNALS)}")
    for s in v:
        if s not in SIGNALS:
            raise SettingError(f"setting field '{name}': unknown signal {s!r} (choose from {', '.join(SIGNALS)})")
    return [s for s in SIGNALS if s in v]  # canonical order, no duplicates


def _init(name, v):
    if v not in INIT_NAMES:
        raise SettingError(f"setting field '{name}': unknown init {v!r} (choose from {', '.join(INIT_NAMES)})")
    return v


def validate(d: dict, max_branches: int = 3) -> dict:
    """Merge `d` over the defaults and check every field; returns a normalised dict."""
    if not isinstance(d, dict):
        raise SettingError("a setting must be a JSON object of field: value")
    unknown = sorted(set(d) - set(FIELDS) - {"_comment", "_meta"})
    if unknown:
        raise SettingError(f"unknown setting field {unknown[0]!r} (known: {', '.join(FIELDS)})")
    out = dict(DEFAULT)
    out.update({k: v for k, v in d.items() if k in FIELDS})
    b = _number("branches", out["branches"], 1, max_branches, integer=True)
    out["branches"] = b
    out["lr"] = _number("lr", out["lr"], 0.0, 100.0)
    out["momentum"] = _number("momentum", out["momentum"], 0.0, 0.999)
    out["weight_decay"] = _number("weight_decay", out["weight_decay"], 0.0, 1.0)
    out["steps"] = _number("steps", out["steps"], 1, 1000, integer=True)
    out["alpha"] = _number("alpha", out["alpha"], -10.0, 10.0)
    sig = out["signals"]
    if isinstance(sig, str) or (isinstance(sig, list) and sig and all(isinstance(x, str) for x in sig)):
        sig = [sig] * b  # one subset for every branch
    out["signals"] = _per_branch("signals", sig, b, _signals)
    out["head_kernel"] = _per_branch("head_kernel", out["head_kernel"], b, _kernel)
    out["barrier_kernel"] = _per_branch("barrier_kernel", out["barrier_kernel"], b, _kernel)
    chan = lambda n, v: _number(n, v, 1, 4096, integer=True)  # noqa: E731
    out["c_out"] = _per_branch("c_out", out["c_out"], b, chan)
    out["c_last"] = _per_branch("c_last", out["c_last"], b, chan)
    out["level"] = _per_branch("level", out["level"], b, lambda n, v: _number(n, v, -100.0, 100.0))
    out["init"] = _init("init", out["init"])
    out["barrier_init"] = _init("barrier_init", out["barrier_init"])
    if not isinstance(out["dead_last"], bool):
        raise SettingError(f"setting field 'dead_last' must be true or false, got {out['dead_last']!r}")
    if out["per_image_waves"] not in WAVE_MODES:
        raise SettingError(f"setting field 'per_image_waves' must be one of {', '.join(WAVE_MODES)}, "
                           f"got {out['per_image_waves']!r}")
    return out


def load(path: str | Path, max_branches: int = 3, base: dict | None = None) -> dict:
    """Read and validate a setting: the name of a setting shipped with the package
    (`named_settings`; for a file of the same name write `./NAME`), a JSON file
    (`eproxy dps --out` writes this format) or, when the text starts with `{`, the JSON
    object itself (`--setting '{"lr": 1.2}'`). Fields a file or inline object does not give
    come from `base` (a setting's fields, e.g. a space's default), then from the defaults; a
    named setting is complete by itself."""
    from .jsonio import loads_json

    text = str(path).strip()
    if text in named_settings() and not text.startswith("{"):
        return validate(named_settings()[text]["setting"], max_branches)
    what = "inline setting"
    if not text.startswith("{"):
        path, what = Path(path), f"setting file {path}"
        try:
            text = path.read_text()
        except FileNotFoundError:
            if "/" in str(path) or str(path).endswith(".json"):
                raise SettingError(f"setting file not found: {path}") from None
            raise SettingError(f"unknown setting {str(path)!r}: not a file, nor a named setting "
                               f"({', '.join(named_settings())})") from None
        except (OSError, UnicodeDecodeError) as e:
            raise SettingError(f"setting file {path} is not valid JSON: {e}") from None
    d = loads_json(text, what, SettingError)
    if isinstance(d, dict) and isinstance(d.get("setting"), dict):
        d = d["setting"]  # a DPS result file holds the setting under "setting"
    if base and isinstance(d, dict):
        d = {**base, **d}
    return validate(d, max_branches)


def dumps(d: dict) -> str:
    return json.dumps(validate(d, max_branches=d.get("branches", 3)), indent=1)


# Named settings ship as JSON files in the package (data/settings/NAME.json, each
# {"description": one line, "origin": where its values come from, "setting": fields});
# data/settings/space_defaults.json names each space's default setting.
SETTINGS_DIR = Path(__file__).resolve().parent / "data" / "settings"
SPACE_DEFAULTS = "space_defaults"


def named_settings() -> dict:
    """{name: the file's object} of every setting shipped with the package, sorted by name."""
    out = {}
    for f in sorted(SETTINGS_DIR.glob("*.json")):
        if f.stem != SPACE_DEFAULTS:
            out[f.stem] = json.loads(f.read_text())
    return out


def space_default(space: str) -> str:
    """The name of `space`'s default setting ("default" for a space the table does not list)."""
    table = json.loads((SETTINGS_DIR / f"{SPACE_DEFAULTS}.json").read_text())["spaces"]
    return table.get(space, "default")


def resolve(arg: str | None, space: str, max_branches: int = 3) -> tuple:
    """`--setting ARG` for `space`: (its name, the validated setting). No ARG: the space's
    default setting; a named setting keeps its name, a file is `file:<its file name>`,
    inline JSON is "inline". The fields a file or inline object leaves out are the space's
    default setting's (`--setting '{"lr": 1.2}'` changes only lr)."""
    default = space_default(space)
    text = default if arg is None else str(arg).strip()
    setting = load(text, max_branches, base=named_settings()[default]["setting"])
    if text.startswith("{"):
        return "inline", setting
    return (text if text in named_settings() else f"file:{Path(text).name}"), setting


def name_of(d: dict) -> str:
    """The first named setting (by name) whose validated form equals `d`, else "custom"."""
    for name, f in named_settings().items():
        if validate(f["setting"]) == d:
            return name
    return "custom"
