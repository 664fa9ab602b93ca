"""Golden scores: a few fixed architectures per space, scored at the tiniest options the space's
own tests use and a tiny setting, pinned in `tests/data/golden_scores.json` together with
`SCORING_VERSION`. `tests/core/test_golden.py` compares, `tests/make_golden.py` regenerates.

One program per space (the archs of a space are chosen to share a shape bucket), chunk = the
number of archs, one proxy seed, the bundled images: the CPU default path (lax.map over archs)."""
from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent   # tests/ (this helper stays at the top of it)
GOLDEN = HERE / "data" / "golden_scores.json"
NDS = HERE / "data" / "nds"
SETTING = {"c_out": [8, 8, 8], "c_last": [8, 8, 8]}     # `branches`: min(3, the space's feature maps)
# written and checked under the suite's XLA build (tests/xla_flags.py); looser than one ulp:
# XLA's CPU code differs by instruction set (AVX2 / AVX-512, FMA), so the summation order of a
# reduction, hence the last bits, are not portable between machines, and ten SGD steps at lr ~1
# amplify that (the third nb201 cell moved 9e-4 when its targets' arithmetic was reordered,
# 2026-12-04); ten times tighter than the numerics changes seen so far (kernel-only weight decay
# moved scores by > 1e-3)
RTOL = 1e-4


def _nds_archs():
    records = json.loads((NDS / "DARTS.json").read_text())[:3]    # width 4, depth 4
    return [r["net"] for r in records]


def _nbmr_archs():
    from conftest import NBMR_RECORDS as RECORDS
    return RECORDS[:2]


def cases() -> dict:
    """space -> (options, raw architectures). Archs as the benchmark writes them."""
    return {
        "nb201": ({"channels": 4, "cells_per_stage": 1, "input_size": 16},
                  ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
                   "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
                   "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"]),
        "nb101": ({"stem_channels": 4, "stacks": 1, "cells_per_stack": 1, "input_size": 8},
                  [[[[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                    ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]],
                   [[[0, 1, 0, 0], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
                    ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "output"]]]),
        "nb301": ({"width": 4, "depth": 4, "input_size": 16},
                  ["[[(0, 3), (1, 4), (0, 5), (1, 2), (2, 0), (0, 6), (3, 1), (2, 3)], "
                   "[(0, 0), (1, 1), (1, 2), (0, 3), (2, 4), (1, 5), (3, 6), (0, 2)]]",
                   "[[(0, 2), (1, 2), (0, 3), (2, 3), (0, 4), (3, 5), (1, 6), (4, 0)], "
                   "[(1, 1), (0, 1), (2, 4), (1, 3), (0, 5), (3, 6), (2, 0), (4, 2)]]"]),
        "nds-darts": ({"input_size": 16, "max_programs": 1}, _nds_archs()),
        "transnas-micro": ({"base": 8, "skeleton": "2314", "input_size": 16, "target_size": 4},
                           ["64-41414-1_23_013", "64-41414-3_12_230", "64-41414-0_10_321"]),
        "transnas-macro": ({"base": 4, "input_size": 16, "target_size": 4, "max_programs": 1},
                           ["64-1311-basic", "64-2312-basic", "64-3111-basic"]),
        "nbmr": ({"modules": 6, "max_programs": 1, "input_size": 16, "target_size": 4}, _nbmr_archs()),
    }


def compute(name: str) -> dict:
    """{"options", "archs" (ids), "scores"} of one space at today's code."""
    from eproxy_jax import images
    from eproxy_jax.engine import Engine
    from eproxy_jax.setting import ProxySetting
    from spaces import load_space

    options, raw = cases()[name]
    sp = load_space(name, **options)
    encs = sp.encode_many(raw)
    branches = min(3, len(sp.feature_channels))             # NB101 at one stack has one feature map
    setting = ProxySetting.from_dict(dict(SETTING, branches=branches), max_branches=branches)
    eng = Engine(sp, setting, [0], images.load(size=sp.input_size), chunk=len(encs), arch_vmap=1)
    scores = eng.score(encs)[:, 0]
    return {"options": options, "branches": branches, "archs": [sp.arch_id(e) for e in encs], "programs": eng.programs,
            "scores": [float(s) for s in scores]}
