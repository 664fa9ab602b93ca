"""Truth readers: small objects that turn a truth file's parsed JSON into raw architectures and
their values, one file layout each. A space lists the layouts it accepts (`Space.truth_readers`,
most specific first, the generic `[[arch, value], ...]` list last); `Space.load_truth` reads the
file once and hands it to the first reader that takes it, then encodes the table.

A reader has `takes(data) -> bool` and `read(data, path) -> (archs, values)`: values are numbers
(`truth_number`), and a malformed record is a `SpaceError` naming the file and the record."""
from __future__ import annotations

import math
from typing import Protocol

from eproxy_jax import jsonio

from . import SpaceError


def truth_number(v) -> float:
    """A truth value as a float; an integer too large for a float becomes +-inf (refused by
    `Space.encode_table` like any non-finite value)."""
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


class TruthReader(Protocol):
    def takes(self, data) -> bool:
        """Whether the parsed file is in this reader's layout."""

    def read(self, data, path) -> tuple[list, list]:
        """(architectures as written, values) of the parsed file."""


def _number(v, i, path):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpaceError(f"{path}: record #{i} has a non-numeric value {v!r}")
    return truth_number(v)


class Pairs:
    """`[[arch, value], ...]`: every space's generic layout (and the bundled tables'). Takes
    anything, so it goes last and reports what is wrong with a file no other reader took."""

    def takes(self, data) -> bool:
        return True

    def read(self, data, path):
        if not isinstance(data, list) or not data:
            raise SpaceError(f"{path}: expected a non-empty JSON list of [architecture, value] pairs")
        archs, values = [], []
        for i, rec in enumerate(data):
            if not (isinstance(rec, (list, tuple)) and len(rec) == 2):
                raise SpaceError(f"{path}: record #{i} is not an [architecture, value] pair")
            values.append(_number(rec[1], i, path))
            archs.append(rec[0])
        return archs, values


class ArchToValue:
    """`{arch: value, ...}` (TransNAS-Bench-101 ids as keys)."""

    def takes(self, data) -> bool:
        return isinstance(data, dict)

    def read(self, data, path):
        archs, values = [], []
        for i, (a, v) in enumerate(data.items()):
            values.append(_number(v, i, path))
            archs.append(a)
        return archs, values


class NASLibNB301:
    """NASLib's NB301 table: `{"nasbench301": {"cifar10": {genotype: {"val_accuracy": ...}}}}`
    (either outer level may be left out)."""

    def takes(self, data) -> bool:
        return isinstance(data, dict)

    def read(self, data, path):
        table = data.get("nasbench301", data)
        table = table.get("cifar10", table) if isinstance(table, dict) else table
        if not isinstance(table, dict) or not table:
            raise SpaceError(f"{path}: expected NASLib's {{'nasbench301': {{'cifar10': {{genotype: {{...}}}}}}}} layout")
        archs, values = [], []
        for k, rec in table.items():
            if not isinstance(rec, dict) or not isinstance(rec.get("val_accuracy"), (int, float)):
                raise SpaceError(f"{path}: genotype {k[:60]!r} has no numeric val_accuracy")
            archs.append(k)
            values.append(truth_number(rec["val_accuracy"]))
        return archs, values


def _is_pairs(data) -> bool:
    return isinstance(data, list) and bool(data) and all(isinstance(r, (list, tuple)) and len(r) == 2 for r in data)


class NDSRecords:
    """An NDS release file (facebookresearch/nds): a list of records with `net` and
    `test_ep_top1`, or `{"top": [...], "mid": [...]}`; accuracy = 100 - the last test top-1
    error. The record itself is the architecture (its `net` is parsed by the space)."""

    def takes(self, data) -> bool:
        return not _is_pairs(data)

    def read(self, data, path):
        records = self.records(data, path)
        archs, values = [], []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or "net" not in rec:
                raise SpaceError(f"{path}: record #{i} is not an NDS record (no 'net')")
            values.append(self.accuracy(rec, i, path))
            archs.append(rec)
        return archs, values

    @staticmethod
    def records(data, path) -> list:
        """The records of a parsed NDS file: a list, or `{"top": [...], "mid": [...]}` concatenated."""
        if isinstance(data, dict):
            if not all(isinstance(data.get(k, []), list) for k in data) or not data:
                raise SpaceError(f"{path}: expected a list of NDS records or {{'top': [...], 'mid': [...]}}")
            data = [r for k in sorted(data, key=lambda k: (k != "top", k)) for r in data[k]]
        if not isinstance(data, list) or not data:
            raise SpaceError(f"{path}: expected a non-empty list of NDS records")
        return data

    @staticmethod
    def accuracy(rec, i, path) -> float:
        top1 = rec.get("test_ep_top1") if isinstance(rec, dict) else None
        if not isinstance(top1, list) or not top1 or isinstance(top1[-1], bool) or not isinstance(top1[-1], (int, float)):
            raise SpaceError(f"{path}: record #{i} has no numeric test_ep_top1 list")
        return 100.0 - truth_number(top1[-1])


def nds_record_net(raw, space: str, what: str) -> dict:
    """The `net` dict of an NDS record given as a dict or its JSON text (or the `net` dict
    itself), for the NDS cell and AnyNet spaces' `parse`; SpaceError naming `space`."""
    if isinstance(raw, str):
        raw = jsonio.loads_arch(raw, f"not an {space} architecture (JSON expected)", SpaceError)
    if not isinstance(raw, dict):
        raise SpaceError(f"an {space} architecture is {what}; got {str(raw)[:80]!r}")
    net = raw.get("net", raw)
    if not isinstance(net, dict):
        raise SpaceError(f"{space}: 'net' must be a dict")
    return net
