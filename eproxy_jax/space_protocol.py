"""What the core needs from a search space, as `typing.Protocol`s (the core takes a space
object and never imports `spaces`; `spaces.base.Space` is the base class that implements
this contract, with its placeholders and documentation).

- `SearchSpace`: every space. Encodings are fixed-shape int arrays, the module takes one as
  data (one compiled program for the space), MACs are analytic.
- `BucketedSpace`: a space whose architectures differ in layer widths or depths groups them
  into shape buckets (`bucket_of`), each with its own module (`module(bucket)`) and feature
  channels; the engines compile one program per bucket used.
- `EnumerableSpace`: a space small enough to list (`all_encodings`: NB201's 15,625 cells,
  TransNAS micro's 4,096):
  `eproxy search` draws from it when no truth table is given.

Checks are structural (`isinstance(space, BucketedSpace)` looks for the capability's
methods), so a space from another package needs no base class from this one.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class SearchSpace(Protocol):
    name: str
    encoding_shape: tuple
    input_size: int
    target_size: int

    def parse(self, raw) -> np.ndarray: ...

    def arch_id(self, encoding) -> str: ...

    def check_encodings(self, encodings: np.ndarray) -> None: ...

    @property
    def feature_channels(self) -> tuple: ...

    def module(self): ...

    def macs(self, encodings: np.ndarray) -> np.ndarray: ...

    @property
    def max_macs(self) -> float: ...

    def load_truth(self, dataset: str | None = None, path=None, lower_is_better: bool = False): ...


@runtime_checkable
class BucketedSpace(Protocol):
    def bucket_of(self, encodings) -> np.ndarray: ...

    def module(self, bucket=None): ...

    def feature_channels_of(self, bucket) -> tuple: ...


@runtime_checkable
class EnumerableSpace(Protocol):
    def all_encodings(self) -> np.ndarray: ...


def is_bucketed(space) -> bool:
    return isinstance(space, BucketedSpace)


def is_enumerable(space) -> bool:
    return isinstance(space, EnumerableSpace)
