"""NAS-Bench-301's DARTS space with the genotype as data (see `spaces.cellnet`).

Genotypes as the bundled NASLib table writes them: `"[[(input, op), ...8 normal], [...8 reduce]]"`
with ops 0 max_pool_3x3, 1 avg_pool_3x3, 2 skip_connect, 3 sep_conv_3x3, 4 sep_conv_5x5,
5 dil_conv_3x3, 6 dil_conv_5x5 (the convention is settled by `param_count`: the benchmark's
training network - width 32, 8 cells, BN without affine parameters inside the ops, no
auxiliary head - reproduces the table's parameter count of all 500 genotypes exactly); every
node is concatenated. Also accepted: the same as nested lists, and DARTS genotype dicts
`{"normal": [[op_name, input], ...], "normal_concat": [2, 3, 4, 5], "reduce": ..., "reduce_concat": ...}`.

The proxy runs the same cell network at width 16 with 8 cells by default (`width`, `depth`
options), BN affine-free inside the ops as in the benchmark's network.
"""
from __future__ import annotations

import ast
import json

import numpy as np

from . import SpaceError
from .truth import NASLibNB301, Pairs
from .cellnet import CellSpace

OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")
TRAIN_WIDTH, TRAIN_DEPTH = 32, 8   # NAS-Bench-301's training network (its data_generation config)


class NB301(CellSpace):
    # NASLib's table layout (the bundled file's origin), or [[arch, value], ...]
    truth_readers = (NASLibNB301(), Pairs())
    op_names = OPS
    n_nodes = 4
    affine_ops = False
    encoding_max = None

    def __init__(self, name="nb301", width=16, depth=8, skeleton="cifar", input_size=32, target_size=None):
        super().__init__(name, width, depth, skeleton, input_size, target_size)

    def genotype_of(self, raw) -> dict:
        if isinstance(raw, str):
            try:
                raw = ast.literal_eval(raw.strip())
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise SpaceError(f"not an NB301 genotype string: {raw[:80]!r}") from None
        if isinstance(raw, dict):
            if not all(k in raw for k in ("normal", "reduce")):
                raise SpaceError("an NB301 genotype dict needs 'normal' and 'reduce'")
            return raw
        if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(c, (list, tuple)) for c in raw):
            cells = []
            for label, cell in zip(("normal", "reduce"), raw):
                pairs = []
                for e, pair in enumerate(cell):
                    if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                        raise SpaceError(f"{label} edge #{e} is not an (input, op) pair: {pair!r}")
                    pairs.append((pair[1], pair[0]))
                cells.append(pairs)
            return {"normal": cells[0], "normal_concat": [2, 3, 4, 5],
                    "reduce": cells[1], "reduce_concat": [2, 3, 4, 5]}
        raise SpaceError(f"not an NB301 genotype (expected '[[(input, op), ...], [...]]'): {str(raw)[:80]!r}")

    def arch_id(self, encoding) -> str:
        """The NASLib string `[[(input, op), ...], [...]]` when every node is concatenated
        (the benchmark's genotypes), else the genotype dict as JSON."""
        g = self.genotype(encoding)
        if g["normal_concat"] == [2, 3, 4, 5] and g["reduce_concat"] == [2, 3, 4, 5]:
            cells = [[(inp, OPS.index(op)) for op, inp in g[c]] for c in ("normal", "reduce")]
            return str(cells)
        return json.dumps(g, separators=(",", ":"))

    def train_param_count(self, encodings, num_classes: int = 10) -> np.ndarray:
        """Parameters (millions) of NAS-Bench-301's training network for each genotype."""
        return self.param_count(encodings, num_classes, TRAIN_WIDTH, TRAIN_DEPTH) / 1e6


SPACE_CLASS = NB301
