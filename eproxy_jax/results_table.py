"""A results file read for analysis: `ResultsTable` (scores, truths, the run's metadata, the
architectures parsed by the file's space, `to_pandas()`), built by `load_results`. The
writer, resume and merge side is `store`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .store import StoreError, read_results


class ResultsTable:
    """A results file read together with its space: the columns analysis scripts need as
    arrays, the architectures parsed by the space the file was scored in (same options; the
    space is built on first use of `space`, `encodings` or `macs`)."""

    def __init__(self, path, meta, columns, rows, load_space=None):
        self.path, self.meta = Path(path), meta
        self._load_space = load_space
        self.columns, self.rows = list(columns), rows
        col = {c: i for i, c in enumerate(columns)}
        self.archs = [r[col["arch"]] for r in rows]
        self.score = np.asarray([float(r[col["score"]]) for r in rows], np.float64)
        has_truth = "truth" in col and all(r[col["truth"]] != "" for r in rows)
        self.truth = np.asarray([float(r[col["truth"]]) for r in rows], np.float64) if has_truth else None
        self.has_truth_column = "truth" in col
        self.setting = meta.get("setting", {})
        self._space = self._enc = None

    def __len__(self):
        return len(self.archs)

    def to_pandas(self):
        """The rows as a `pandas.DataFrame`, one column per file column (`arch` as text, every
        other column as float; an empty cell is NaN); `df.attrs["meta"]` holds the run's
        metadata (space, setting, seeds, images...). pandas is optional: without it, one-line
        ImportError."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("ResultsTable.to_pandas needs pandas: pip install pandas "
                              "(or pip install 'eproxy-jax[pandas]')") from None
        data = {}
        for i, c in enumerate(self.columns):
            cells = [r[i] for r in self.rows]
            data[c] = cells if c == "arch" else np.asarray([float(v) if v != "" else np.nan for v in cells], np.float64)
        df = pd.DataFrame(data, columns=self.columns)
        df.attrs["meta"] = self.meta
        return df

    @property
    def space(self):
        if self._space is None:
            if self._load_space is None:
                raise StoreError(f"{self.path}: read without a space loader; read it with "
                                 "eproxy_jax.api.load_results (ep.load_results) to build its space")
            self._space = self._load_space(self.meta["space"], **self.meta.get("space_config", {}))
        return self._space

    @property
    def encodings(self):
        """The architectures in the space's encoding (one list entry per row)."""
        if self._enc is None:
            from .jsonio import arch_from_text
            self._enc = [self.space.parse(arch_from_text(a, StoreError)) for a in self.archs]
        return self._enc

    def macs(self) -> np.ndarray:
        """MACs per row, computed by the space (float64)."""
        if not self.archs:
            return np.zeros(0)
        return np.asarray(self.space.macs(np.stack(self.encodings)), np.float64)


def load_results(path, load_space=None) -> ResultsTable:
    """`read_results` as a `ResultsTable`; `load_space(name, **options)` builds the file's space
    on first use of `.space` / `.encodings` / `.macs()` (the core never reads the space
    registry: `eproxy_jax.api.load_results` passes `spaces.load_space`). Raises StoreError
    (not a results file) or, from the loader, spaces.SpaceError (its space cannot be built)."""
    _, meta, columns, rows = read_results(path)
    for need in ("arch", "score"):
        if need not in columns:
            raise StoreError(f"{path}: no {need} column")
    return ResultsTable(path, meta, columns, rows, load_space)
