"""The worker of `eproxy bench`: one space timed in this process, one JSON line on stdout.

`python -m eproxy_jax.cli.bench_worker SPACE --n N [--nds-dir D] [--chunk C] [--arch-vmap V]
[--options JSON]`. A module of its own, run by `bench` once per space, so that `-m` finds it
unloaded (the package's `__init__` loads every command module, `bench` among them).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from .bench import bench_space


def main(argv=None) -> int:
    """Worker: one space in this process, one JSON line on stdout."""
    p = argparse.ArgumentParser(prog="python -m eproxy_jax.cli.bench_worker")
    p.add_argument("space")
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--nds-dir")
    p.add_argument("--chunk", type=int)
    p.add_argument("--arch-vmap", type=int)
    p.add_argument("--options", default="{}")
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .. import engine
    engine.ensure_compilation_cache()
    try:
        r = bench_space(a.space, a.n, json.loads(a.options), a.nds_dir, a.chunk, a.arch_vmap)
    except ValueError as e:  # SpaceError and friends: reported in the table, not a traceback
        r = {"space": a.space, "error": str(e).splitlines()[0]}
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
