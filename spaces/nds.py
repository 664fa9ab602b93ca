"""The NDS cell spaces (Radosavovic et al., "On Network Design Spaces for Visual Recognition"):
DARTS, ENAS, Amoeba, NASNet, PNAS and their fix-w-d / ImageNet (`-in`) variants, on the
DARTS-family cell network of `spaces.cellnet` (pycls `nas.py`).

The NDS data is not bundled (its licence and size keep it out; get `data.zip` from
facebookresearch/nds): a space reads the user's NDS JSON (`--truth PATH/DARTS.json`), either a
list of records or `{"top": [...], "mid": [...]}`; a record's `net` holds the `genotype`
(`normal: [[op, input], ...]`, `normal_concat`, `reduce`, `reduce_concat`), `width` and
`depth`; the accuracy is `100 - test_ep_top1[-1]`. The `-in` spaces are scored on the same
32x32 CIFAR batch with the CIFAR skeleton by default, as the paper's authors did
(`--space-option skeleton=imagenet` builds pycls' ImageNet network instead).

Each record's own width and depth size its network: networks of depth >= 6 share at most
`max_programs` programs (`bucket_of`: padded width and depth, extra channels masked, extra
cells skipped); `eproxy score` reports the count as `programs`.
"""
from __future__ import annotations

import json

import numpy as np

from . import SpaceError
from .truth import NDSRecords, Pairs, nds_record_net
from .buckets import merge_shapes
from .cellnet import MIN_MASKED_DEPTH, CellSpace

DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
ENAS_OPS = ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")
AMOEBA_OPS = ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3", "max_pool_3x3",
              "dil_sep_conv_3x3", "conv_7x1_1x7")
NASNET_OPS = ("skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
              "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7")
PNAS_OPS = ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7", "skip_connect", "avg_pool_3x3",
            "max_pool_3x3", "dil_conv_3x3")

# space name -> (op set, intermediate nodes, NDS file name)
FAMILIES = {
    "nds-darts": (DARTS_OPS, 4, "DARTS.json"),
    "nds-darts-fix-w-d": (DARTS_OPS, 4, "DARTS_fix-w-d.json"),
    "nds-enas": (ENAS_OPS, 5, "ENAS.json"),
    "nds-enas-fix-w-d": (ENAS_OPS, 5, "ENAS_fix-w-d.json"),
    "nds-amoeba": (AMOEBA_OPS, 5, "Amoeba.json"),
    "nds-nasnet": (NASNET_OPS, 5, "NASNet.json"),
    "nds-pnas": (PNAS_OPS, 5, "PNAS.json"),
    "nds-pnas-fix-w-d": (PNAS_OPS, 5, "PNAS_fix-w-d.json"),
    "nds-darts-in": (DARTS_OPS, 4, "DARTS_in.json"),
    "nds-darts-fix-w-d-in": (DARTS_OPS, 4, "DARTS_fix-w-d_in.json"),
    "nds-enas-in": (ENAS_OPS, 5, "ENAS_in.json"),
    "nds-amoeba-in": (AMOEBA_OPS, 5, "Amoeba_in.json"),
    "nds-nasnet-in": (NASNET_OPS, 5, "NASNet_in.json"),
    "nds-pnas-in": (PNAS_OPS, 5, "PNAS_in.json"),
}


class NDSCells(CellSpace):
    variable_size = True
    module_fits_all = False
    truth_readers = (NDSRecords(), Pairs())   # an NDS release file, or [[arch, value], ...]

    def __init__(self, name="nds-darts", width=16, depth=8, skeleton="cifar", max_programs=4, input_size=32,
                 target_size=None):
        if name not in FAMILIES:
            raise SpaceError(f"unknown NDS cell space {name!r}")
        if isinstance(max_programs, bool) or not isinstance(max_programs, (int, np.integer)) or max_programs < 1:
            raise SpaceError(f"{name} option max_programs must be an integer >= 1, got {max_programs!r}")
        self.max_programs = int(max_programs)
        self.op_names, self.n_nodes, self.nds_file = FAMILIES[name]
        super().__init__(name, width, depth, skeleton, input_size, target_size)

    def genotype_of(self, raw) -> dict:
        net = nds_record_net(raw, self.name, "an NDS record, its 'net', or a genotype dict with width and depth")
        g = net.get("genotype", net)
        if isinstance(g, (list, tuple)) and len(g) == 4:
            g = dict(zip(("normal", "normal_concat", "reduce", "reduce_concat"), g))
        if not isinstance(g, dict) or "normal" not in g or "reduce" not in g:
            raise SpaceError(f"{self.name}: the record has no genotype with 'normal' and 'reduce' cells")
        out = dict(g)
        out.setdefault("width", net.get("width"))
        out.setdefault("depth", net.get("depth"))
        if out["width"] is None and out["depth"] is None:
            out["width"], out["depth"] = self.width, self.depth
        return out

    def arch_id(self, encoding) -> str:
        return json.dumps(self.genotype(encoding), separators=(",", ":"))

    def bucket_of(self, encodings) -> np.ndarray:
        """At most `max_programs` programs for networks of depth >= 6 (`spaces.buckets.
        merge_shapes` on (width, depth), cost = padded width^2 x padded depth per network): a
        bucket runs at its largest width and depth, the extra channels masked and the extra
        normal cells skipped; shallower networks (some stage without a normal cell) run exactly,
        one program per (width, depth)."""
        sizes = self.sizes(encodings)
        out = np.zeros(len(sizes), np.int64)
        deep = sizes[:, 1] >= MIN_MASKED_DEPTH
        for i in np.flatnonzero(~deep):
            out[i] = self.bucket_key(*sizes[i])
        groups = {}
        for i in np.flatnonzero(deep):
            groups.setdefault((int(sizes[i, 0]), int(sizes[i, 1])), []).append(int(i))
        merged = merge_shapes(groups, self.max_programs, lambda sh: 0,
                              lambda a, b: (max(a[0], b[0]), max(a[1], b[1])),
                              lambda sh: (float(sh[0] ** 2 * sh[1]),), lambda m: (len(m),))
        for (w, d), m in merged.items():
            ws, ds = sizes[m, 0], sizes[m, 1]
            out[m] = self.bucket_key(w, d, (ds != d).any(), (ws != w).any())
        return out


SPACE_CLASS = NDSCells
