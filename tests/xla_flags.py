"""The XLA build the suite compiles with, shared by conftest.py and make_golden.py (so pinned
scores are written under the flags they are checked under). Import before jax.

XLA:CPU's LLVM backend runs at optimisation level 0: the suite is compile-bound (tiny networks
run in milliseconds, their programs compile for 20-200 s), and level 0 compiles a scoring
engine 2-4x faster (2-core CPU, 2026-12-04: a tiny NB201 engine's preparation 95 -> 26 s, its
scoring program 39 -> 29 s). Scores move at the float-noise level (reassociated arithmetic;
up to 4e-3 relative on a chaotic tiny cell), and every comparison in the suite is between
programs compiled the same way. `EPROXY_TEST_XLA_OPT=default` keeps XLA's default build.
Set in the environment, so CLI subprocesses of the tests inherit it.
"""
import os

FLAG = "--xla_backend_optimization_level=0"


def apply() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("EPROXY_TEST_XLA_OPT", "0") != "default" and "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = (flags + " " + FLAG).strip()
