"""`ProxySetting`: every DPS gene of Eproxy as one pytree.

Genes that only change values (lr, momentum, weight decay, alpha, levels, the signal
choice, both inits; and `dead_last`, `per_image_waves`, not genes) are array leaves, so
settings that differ only in them reuse one compiled program. Genes that change shapes
(branch count, kernel sizes, channel counts, step count) are static fields: they are part of
the pytree's structure and pick the program.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from flax import struct

from . import setting_spec as spec


@struct.dataclass
class ProxySetting:
    # value genes (data)
    lr: np.ndarray
    momentum: np.ndarray
    weight_decay: np.ndarray
    alpha: np.ndarray
    level: np.ndarray          # [branches]
    signal_mask: np.ndarray    # [branches, len(SIGNALS)], 0/1
    init: np.ndarray           # int32 index into INIT_NAMES (candidate and heads)
    barrier_init: np.ndarray   # int32 index into INIT_NAMES
    dead_last: np.ndarray      # 1.0: input-independent networks score +inf (see setting_spec)
    wave_mode: np.ndarray      # int32 index into WAVE_MODES: what of the waves is drawn per image
    # shape genes (static)
    branches: int = struct.field(pytree_node=False, default=3)
    head_kernel: Tuple[int, ...] = struct.field(pytree_node=False, default=(1, 1, 1))
    barrier_kernel: Tuple[int, ...] = struct.field(pytree_node=False, default=(3, 3, 3))
    c_out: Tuple[int, ...] = struct.field(pytree_node=False, default=(128, 128, 128))
    c_last: Tuple[int, ...] = struct.field(pytree_node=False, default=(128, 128, 128))
    steps: int = struct.field(pytree_node=False, default=10)

    @classmethod
    def from_dict(cls, d: dict | None = None, max_branches: int = 3) -> "ProxySetting":
        v = spec.validate(d or {}, max_branches)
        mask = np.array([[float(s in sig) for s in spec.SIGNALS] for sig in v["signals"]], np.float32)
        f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
        return cls(
            lr=f32(v["lr"]), momentum=f32(v["momentum"]), weight_decay=f32(v["weight_decay"]),
            alpha=f32(v["alpha"]), level=f32(v["level"]), signal_mask=mask,
            init=np.asarray(spec.INIT_NAMES.index(v["init"]), np.int32),
            barrier_init=np.asarray(spec.INIT_NAMES.index(v["barrier_init"]), np.int32),
            dead_last=f32(1.0 if v["dead_last"] else 0.0),
            wave_mode=np.asarray(spec.WAVE_MODES.index(v["per_image_waves"]), np.int32),
            branches=v["branches"], head_kernel=tuple(v["head_kernel"]),
            barrier_kernel=tuple(v["barrier_kernel"]), c_out=tuple(v["c_out"]),
            c_last=tuple(v["c_last"]), steps=v["steps"],
        )

    @classmethod
    def default(cls) -> "ProxySetting":
        """The package-wide default (`setting_spec.DEFAULT`); a space's own default, which
        the CLI, the API and `Engine` use, is `for_space`."""
        return cls.from_dict({})

    @classmethod
    def for_space(cls, space) -> "ProxySetting":
        """The default setting of a space (`eproxy settings` lists them): `space` is a space
        object or its registry name."""
        name = space if isinstance(space, str) else getattr(space, "name", "")
        branches = 3 if isinstance(space, str) else min(3, len(space.feature_channels))
        return cls.from_dict(spec.resolve(None, name, branches)[1], max_branches=branches)

    @classmethod
    def load(cls, path, max_branches: int = 3) -> "ProxySetting":
        return cls.from_dict(spec.load(path, max_branches), max_branches)

    def to_dict(self) -> dict:
        mask = np.asarray(self.signal_mask)
        return {
            "lr": round(float(self.lr), 6), "momentum": round(float(self.momentum), 6),
            "weight_decay": float(f"{float(self.weight_decay):.6g}"), "steps": self.steps,
            "alpha": round(float(self.alpha), 6), "branches": self.branches,
            "signals": [[s for s, m in zip(spec.SIGNALS, row) if m > 0] for row in mask],
            "head_kernel": list(self.head_kernel), "barrier_kernel": list(self.barrier_kernel),
            "c_out": list(self.c_out), "c_last": list(self.c_last),
            "level": [round(float(x), 6) for x in np.asarray(self.level)],
            "init": spec.INIT_NAMES[int(self.init)], "barrier_init": spec.INIT_NAMES[int(self.barrier_init)],
            "dead_last": bool(float(self.dead_last) > 0),
            "per_image_waves": spec.WAVE_MODES[int(self.wave_mode)],
        }

    @property
    def shape_key(self) -> tuple:
        """What selects a compiled program: settings with equal keys share one."""
        return (self.branches, self.head_kernel, self.barrier_kernel, self.c_out, self.c_last, self.steps)
