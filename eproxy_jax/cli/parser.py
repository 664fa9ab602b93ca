"""The `eproxy` argument parser: the top-level options and one subparser per command, each
built by its command module's `add_parser(sub)` (the order here is the order of `--help`)."""
from __future__ import annotations

import argparse

from ..version import __version__
from . import bench, compare, completion, dps, draw, merge, score, search, settings
from .args import Parser

# command modules in the order `eproxy --help` lists them
COMMAND_MODULES = (score, dps, compare, search, bench, merge, settings, draw, completion)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="eproxy", description="Eproxy / DPS zero-training NAS proxy in JAX")
    p.add_argument("--version", action="version", version=f"eproxy-jax {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return p
