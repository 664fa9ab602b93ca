"""The worker process of `eproxy score --workers N` (`eproxy_jax.cli.score_workers`).

`python -m eproxy_jax.cli.score_worker SPEC ENCODINGS CORES`: pins itself to the CPU cores
`CORES` (comma-separated; before jax loads, so XLA's thread pool is sized to them), scores the
encodings of the `.npy` file `ENCODINGS` with the engine `SPEC` (a JSON file: space name and
options, the full setting, seeds, the images' `.npy`, engine options, the compilation cache)
describes, and writes one JSON line per event to stdout: `{"compiling": [i, n, archs]}` before a
program is built, `{"chunk": [positions], "scores": [[per seed], ...]}` after each chunk,
`{"done": {timing}}` at the end. Errors go to stderr, with a non-zero exit. A module of its own,
so that `-m` finds it unloaded (the package's `__init__` loads every command module).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _die_with_parent():
    """Linux: this process gets SIGTERM when the parent dies (a killed `eproxy score` leaves no
    worker behind). Elsewhere a dead parent's closed pipe stops the worker at its next line."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))   # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def main(argv=None) -> int:
    spec_path, encs_path, cores = (sys.argv[1:] if argv is None else argv)
    if cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cores.split(",")})
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _die_with_parent()
    spec = json.loads(Path(spec_path).read_text())
    import numpy as np

    import spaces

    from .. import engine as engine_mod
    from ..setting import ProxySetting
    engine_mod.enable_compilation_cache(spec["cache_dir"] or "off")
    space = spaces.load_space(spec["space"], **spec["config"])
    setting = ProxySetting.from_dict(spec["setting"], max_branches=spec["max_branches"])
    images = np.load(spec["images"])
    encs = np.load(encs_path)

    def emit(event):
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    eng = engine_mod.Engine(space, setting, spec["seeds"], images, **spec["engine"])
    eng.score(encs, on_chunk=lambda idx, s: emit({"chunk": np.asarray(idx).tolist(), "scores": s.tolist()}),
              on_compile=lambda i, n, archs: emit({"compiling": [i, n, archs]}))
    # compile_s as `eproxy score` reports it in one process: programs plus contexts prepared
    emit({"done": {"score_s": eng.score_s, "compile_s": eng.compile_s + eng.prepare_s, "prepare_s": eng.prepare_s,
                   "programs": eng.programs}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
