"""Shared tiny fixtures: an NB201 with 2-4 channels, one cell per stage, 8-16 px inputs, and
a proxy setting with 8-channel heads, so every compile stays small on a 2-core CPU."""
import os
import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import xla_flags  # noqa: E402  (tests/ is on sys.path: pytest's rootdir conftest)

xla_flags.apply()   # before jax is imported: see tests/xla_flags.py

# The tests model a terminal, where Ctrl-C is delivered. A shell that starts the suite as a
# background job without job control hands it SIGINT ignored (POSIX), the xdist workers and the
# CLI subprocesses inherit that, and eproxy keeps an inherited SIG_IGN by design (runguard: a
# `nohup`/background run is not stopped by the terminal's Ctrl-C), so the SIGINT tests would
# see no interrupt. A Python handler is not inherited across exec: children get SIGINT's default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:      # not the main thread: nothing to reset
        pass

# one persistent compilation cache for the whole test session (and for CLI subprocesses);
# under pytest-xdist one per worker (JAX writes cache entries unlocked: no reads of a half-written one)
CACHE = Path(os.environ.get("EPROXY_TEST_CACHE", "/tmp/eproxy-test-xla-cache"))
if os.environ.get("PYTEST_XDIST_WORKER"):
    CACHE = CACHE / os.environ["PYTEST_XDIST_WORKER"]
os.environ.setdefault("EPROXY_CACHE_DIR", str(CACHE))

DATA = ROOT / "tests" / "data"   # the suite's fixtures (tests/data)

TINY_SPACE = {"channels": 4, "cells_per_stage": 1, "input_size": 16}
TINY_SETTING = {"c_out": [8, 8, 8], "c_last": [8, 8, 8]}
TINY_CLI = ["--space-option", "channels=4", "--space-option", "cells_per_stage=1", "--space-option", "input_size=16"]


@pytest.fixture(scope="session")
def tiny_space():
    from spaces import load_space
    return load_space("nb201", **TINY_SPACE)


@pytest.fixture(scope="session")
def tiny_setting():
    from eproxy_jax.setting import ProxySetting
    return ProxySetting.from_dict(TINY_SETTING)


@pytest.fixture(scope="session")
def tiny_images():
    from eproxy_jax import images
    return images.load(n=16, seed=0, size=16)


@pytest.fixture(scope="session")
def sample_encodings():
    import numpy as np
    from spaces.nb201 import parse_string
    arch = [
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|avg_pool_3x3~0|+|none~0|skip_connect~1|+|nor_conv_1x1~0|none~1|avg_pool_3x3~2|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|",
    ]
    return np.stack([parse_string(a) for a in arch])


# --- the CLI as a user runs it ---------------------------------------------------------------


def run_cli(args, cwd, timeout=600, env=None):
    """`python -m eproxy_jax ARGS` in a subprocess from `cwd` (the checkout on PYTHONPATH)."""
    import subprocess
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "eproxy_jax", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(r, needle):
    """A user error as the CLI must report it: exit 2, one stderr line naming `needle`, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert lines[0].startswith("eproxy") and not lines[0].startswith("eproxy: eproxy "), lines[0]  # one prefix


# two hand-made NAS-Bench-MR records of different shapes (test_nbmr, test_compare_spaces, golden)
NBMR_RECORDS = [
    {"input_channel": [4, 6], "inverted_residual_setting": [[1, [2], [6]], [2, [1, 3], [8, 4]], [3, [1, 1, 2], [4, 8, 6]]],
     "last_channel": 8},
    {"input_channel": [8, 4], "inverted_residual_setting": [[1, [1], [4]], [2, [1, 1], [4, 8]], [4, [1, 2, 1, 4], [4, 4, 8, 12]],
                                                            [3, [2, 1, 1], [8, 4, 4]], [3, [1, 1, 1], [6, 6, 6]]],
     "last_channel": 12},
]
