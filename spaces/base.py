"""The search-space protocol shared by every space.

A space turns user-facing architecture descriptions (benchmark lists, strings) into a
fixed-shape integer encoding, builds one Flax module that takes that encoding as a call
argument (so one compiled program serves the whole space), and counts MACs analytically.
"""
from __future__ import annotations

import sys

import numpy as np

from eproxy_jax import jsonio

from . import SpaceError, info, truth_path
from .truth import Pairs


def loads_json(text: str, what: str) -> object:
    """`jsonio.loads_json` raising SpaceError."""
    return jsonio.loads_json(text, what, SpaceError)


def read_json(path) -> object:
    """`jsonio.read_json` raising SpaceError."""
    return jsonio.read_json(path, SpaceError)


def arch_from_text(text: str):
    """`jsonio.arch_from_text` raising SpaceError."""
    return jsonio.arch_from_text(text, SpaceError)


def arch_json(text: str, what: str) -> object:
    """An architecture string a space reads as JSON (NB101 `[matrix, ops]`, NDS and NB-MR
    records): its value, or SpaceError `what: 'text...' (why)`."""
    return jsonio.loads_arch(text, what, SpaceError)


class Space:
    """Base class. Subclasses set `name`, `encoding_shape`, `feature_channels` and implement
    `parse`, `arch_id`, `module`, `macs`."""

    name: str
    encoding_shape: tuple
    input_size: int = 32
    target_size: int = 8

    # --- architectures -------------------------------------------------------------
    def parse(self, raw) -> np.ndarray:
        """One architecture in any accepted user form -> its encoding (raises SpaceError)."""
        raise NotImplementedError

    def arch_id(self, encoding) -> str:
        """The canonical string of an encoding (used as the key in results files)."""
        raise NotImplementedError

    def encode_many(self, raws) -> np.ndarray:
        if not isinstance(raws, list):
            raise SpaceError("architectures must be a JSON list")
        out = np.zeros((len(raws),) + tuple(self.encoding_shape), np.int32)
        for i, r in enumerate(raws):
            try:
                out[i] = self.parse(r)
            except SpaceError as e:
                raise SpaceError(f"architecture #{i}: {e}") from None
        return out

    encoding_max: int | None = None  # exclusive upper bound of every encoding entry, if uniform

    def check_encodings(self, encodings: np.ndarray):
        """Raise SpaceError if an encoding array cannot be a valid architecture."""
        e = np.asarray(encodings)
        if e.shape[1:] != tuple(self.encoding_shape):
            raise SpaceError(f"encodings must have shape [n, {', '.join(map(str, self.encoding_shape))}], got {list(e.shape)}")
        if self.encoding_max is not None and e.size and (e.min() < 0 or e.max() >= self.encoding_max):
            raise SpaceError(f"encoding entries must lie in [0, {self.encoding_max}), got [{e.min()}, {e.max()}]")

    # --- drawing -------------------------------------------------------------------
    def graphs(self, encoding) -> list:
        """The architecture as DAGs for `eproxy draw`: `[{"title", "nodes": [label, ...],
        "edges": [(src, dst, op label), ...]}, ...]`, nodes in topological order."""
        raise SpaceError(f"drawing is not available for {self.name} (nb201, nb101, nb301, the NDS cell "
                         "spaces and transnas-micro/-macro have drawings)")

    # --- network -------------------------------------------------------------------
    @property
    def feature_channels(self) -> tuple:
        """Channels of the features the module returns, deepest first."""
        raise NotImplementedError

    def module(self):
        """The Flax module: `apply(params, images, encoding) -> tuple of NHWC features`,
        deepest first, each already resized to `target_size`."""
        raise NotImplementedError

    # whether `module()` (no bucket) runs every architecture of the space (NB101: its full-width
    # program does); False where each shape bucket needs its own module (NDS sizes, AnyNet)
    module_fits_all: bool = True

    def feature_channels_of(self, bucket) -> tuple:
        """Feature channels of the module of a shape bucket (spaces with `bucket_of`)."""
        return self.feature_channels

    def macs(self, encodings: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def max_macs(self) -> float:
        raise NotImplementedError

    # --- the whole classifier (peer proxies, eproxy_jax.baselines) -------------------
    def classifier(self, num_classes: int = 10, bn: bool = True):
        """The benchmark's full network with its classifier, for the peer proxies:
        `apply({"params", "gates"}, images, encoding) -> (logits, gram, pooled)` where
        `gram [n, n]` is the NASWOT kernel summed over every ReLU the architecture runs,
        `pooled [n, c]` the pooled features the classifier reads, and `gates` holds a
        zero `[n, c]` gate on every conv/linear output (their gradients give fisher);
        `bn=False` removes the BatchNorms (synflow)."""
        raise NotImplementedError

    @property
    def has_classifier(self) -> bool:
        """Whether this space has a hand-built `classifier` (every peer proxy); the others run
        the peers that `eproxy_jax.baselines.generic` supports on their feature module."""
        return type(self).classifier is not Space.classifier

    def implements(self, method: str) -> bool:
        """Whether this space gives its own `method` (an optional capability such as
        `param_count`, `flops`, `classifier`) rather than the protocol's placeholder."""
        return getattr(type(self), method) is not getattr(Space, method)

    def param_count(self, encodings: np.ndarray, num_classes: int = 10) -> np.ndarray:
        raise NotImplementedError

    def flops(self, encodings: np.ndarray, num_classes: int = 10) -> np.ndarray:
        raise NotImplementedError

    # --- truth ---------------------------------------------------------------------
    # the truth file layouts this space reads, most specific first (`spaces.truth`)
    truth_readers: tuple = (Pairs(),)

    def load_truth(self, dataset: str | None = None, path=None, lower_is_better: bool = False):
        """(encodings [N, ...], values [N]) from the bundled table of `dataset` or a user file
        (.json or .json.gz) in one of the space's `truth_readers` layouts (every space reads
        `[[arch, value], ...]`). Values are returned higher-is-better."""
        if path is None:
            path = truth_path(self.name, dataset or info(self.name).default_dataset)
            if path is None:
                raise SpaceError(info(self.name).truth_hint
                                 or f"no bundled truth table for {self.name}/{dataset}: pass --truth FILE")
        data = read_json(path)
        reader = next(r for r in self.truth_readers if r.takes(data))
        archs, values = reader.read(data, path)
        return self.encode_table(archs, values, path, lower_is_better)

    def encode_table(self, archs, values, path, lower_is_better=False):
        """(encodings, higher-is-better values) of a truth table read from `path`.

        Refused (SpaceError naming the record): a value that is not finite (NaN, inf, a
        number too large for a float) and an architecture listed twice with different
        values. An architecture listed twice with the same value is kept once (a note on
        stderr): results files hold each architecture once, so the metrics must too."""
        try:
            enc = self.encode_many(archs)
        except SpaceError as e:   # in a file, what `encode_many` calls architecture #i is its record #i
            raise SpaceError(f"{path}: {str(e).replace('architecture #', 'record #', 1)}") from None
        vals = np.asarray(values, np.float64)
        bad = np.flatnonzero(~np.isfinite(vals))
        if bad.size:
            i = int(bad[0])
            raise SpaceError(f"{path}: record #{i} ({self.arch_id(enc[i])}) has a non-finite value {vals[i]}")
        keep = self._drop_duplicates(enc, vals, path)
        enc, vals = enc[keep], vals[keep]
        return enc, (-vals if lower_is_better else vals)

    def _drop_duplicates(self, enc, vals, path) -> np.ndarray:
        """Indices of the first record of each architecture (same encoding); SpaceError when
        two records of one architecture disagree."""
        n = len(enc)
        _, first, inverse = np.unique(enc.reshape(n, -1), axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        if len(first) == n:
            return np.arange(n)
        differ = np.flatnonzero(vals != vals[first[inverse]])
        if differ.size:
            i = int(differ[0])
            j = int(first[inverse[i]])
            raise SpaceError(f"{path}: architecture {self.arch_id(enc[i])} is listed twice with different values "
                             f"(record #{j}: {vals[j]}, record #{i}: {vals[i]})")
        dup = int(np.setdiff1d(np.arange(n), first)[0])
        print(f"note: {path}: {n - len(first)} exact duplicate record(s) dropped (same architecture, same value; "
              f"first: record #{dup}, {self.arch_id(enc[dup])})", file=sys.stderr)
        return np.sort(first)
