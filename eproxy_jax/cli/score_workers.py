"""`eproxy score --workers N`: the architectures split over N worker processes on a CPU, each
pinned to its own share of the cores.

XLA:CPU runs one architecture's many small operations one after another and spreads each over
the process's cores; at the proxy's sizes that spreading costs more than it gains. N processes
on one core each score more architectures per second than one process on N cores where a cell
is many small operations (docs/results.md, 'Worker processes': on two cores 1.26-1.37x for
NB201, 1.18-1.24x for NB301; NB101's large convolutions already use every core, and it is not
faster). Each worker
compiles the programs its architectures need (the persistent compilation cache shares them
between workers and runs) and sends its scores back chunk by chunk; this process writes them to
the results file, so an interrupted run keeps every finished chunk and resumes as usual.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .common import UsageError, checkout_env

WORKER_MODULE = "eproxy_jax.cli.score_worker"


class WorkerError(RuntimeError):
    """A worker process failed; the message is its last line of stderr."""


def workers_arg(value: str):
    """`--workers`: a positive integer or 'auto' (one per usable core)."""
    import argparse
    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--workers takes a positive integer or 'auto', got {value!r}")
    return n


def usable_cores() -> list:
    """The CPU cores this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:   # not Linux: no affinity, every core
        return list(range(os.cpu_count() or 1))


def resolve_workers(value, n_todo: int, backend: str, devices=None) -> int:
    """How many worker processes a run starts (1: score in this process). UsageError where
    more are asked for than this process has cores, or workers on an accelerator or beside
    `--devices` (one device per worker)."""
    if value in (None, 1):
        return 1
    cores = usable_cores()
    if backend != "cpu":
        raise UsageError(f"--workers is for CPU runs; this one runs on {backend} (use --arch-vmap there)")
    if devices not in (None, 1):
        raise UsageError("--workers runs on the CPU, one device per worker: leave out --devices")
    n = len(cores) if value == "auto" else int(value)
    if n > len(cores):
        raise UsageError(f"--workers {n}: this process may use {len(cores)} CPU core(s)")
    return max(1, min(n, n_todo))


def split(buckets, n: int) -> list:
    """Positions `0..len(buckets)-1` dealt to `n` workers in turn, grouped by shape bucket first,
    so every worker gets a like share of each bucket's architectures (equal work, +-1)."""
    import numpy as np
    order = np.argsort(np.asarray(buckets), kind="stable")
    return [order[w::n] for w in range(n)]


def _read(w: int, stream, q: queue.Queue):
    for line in stream:
        q.put((w, line))
    q.put((w, None))


def _last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no error message"


def _start(module: str, tmp: Path, n: int, encs, parts, q: queue.Queue, procs: list) -> list:
    """The n worker processes on their shares of the cores, appended to `procs` as they start
    (so a failed start stops the others), each read by a thread into `q`; their stderr files."""
    import numpy as np
    cores = usable_cores()
    errs = []
    for w in range(n):
        np.save(tmp / f"encs{w}.npy", np.asarray(encs)[parts[w]])
        errs.append(tmp / f"stderr{w}.txt")
        with open(errs[w], "w") as err:
            p = subprocess.Popen([sys.executable, "-m", module, str(tmp / "spec.json"), str(tmp / f"encs{w}.npy"),
                                  ",".join(map(str, cores[w::n]))], stdout=subprocess.PIPE, stderr=err,
                                 stdin=subprocess.DEVNULL, env=checkout_env(), text=True)
        procs.append(p)
        threading.Thread(target=_read, args=(w, p.stdout, q), daemon=True).start()
    return errs


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def score_in_workers(n: int, spec: dict, images, encs, buckets, on_chunk, progress=None, on_compile=None,
                     module: str = WORKER_MODULE) -> dict:
    """Score `encs` in `n` worker processes. `spec`: the worker's engine (space, config, setting,
    max_branches, seeds, engine, cache_dir; see `score_worker`). `on_chunk(positions, scores)` as
    `Engine.score`'s; `on_compile(worker, i, n_programs, archs)`. Returns the timing as the
    engine reports it, over the workers: scoring seconds the largest worker's (the wall time of
    the scoring phase), compile and preparation seconds the largest worker's, programs the
    most any worker built. WorkerError when a worker fails (finished chunks were delivered)."""
    import numpy as np
    parts = split(buckets, n)
    procs, timings = [], []
    with tempfile.TemporaryDirectory(prefix="eproxy-workers-") as tmp:
        tmp = Path(tmp)
        np.save(tmp / "images.npy", np.asarray(images, np.float32))
        (tmp / "spec.json").write_text(json.dumps(dict(spec, images=str(tmp / "images.npy"))))
        q: queue.Queue = queue.Queue()
        try:
            errs = _start(module, tmp, n, encs, parts, q, procs)
            live = n
            while live:
                try:
                    w, line = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if line is None:
                    live -= 1
                    if procs[w].wait() != 0:
                        raise WorkerError(f"worker {w + 1}/{n} failed: {_last_line(errs[w])}")
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:   # a library's stray print, not the protocol
                    continue
                if "chunk" in event:
                    pos = parts[w][np.asarray(event["chunk"], np.int64)]
                    on_chunk(pos, np.asarray(event["scores"], np.float32).reshape(len(pos), -1))
                    if progress is not None:
                        progress.update(len(pos))
                elif "compiling" in event and on_compile is not None:
                    on_compile(w, *event["compiling"])
                elif "done" in event:
                    timings.append(event["done"])
        finally:
            _stop(procs)
    return {"score_s": max(t["score_s"] for t in timings), "compile_s": max(t["compile_s"] for t in timings),
            "prepare_s": max(t["prepare_s"] for t in timings), "programs": max(t["programs"] for t in timings),
            "devices": 1, "workers": n}
