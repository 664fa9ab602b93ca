"""One writer per resumable file: an exclusive `fcntl.flock` on a sidecar `<file>.lock`, held
for a whole run. A second run into the same file stops at once (exit 2) and names the PID
that holds it, instead of scoring everything again beside it.

The lock file holds the holder's PID and is removed when the run ends; a run killed with
SIGKILL leaves it behind unlocked (the kernel drops the lock), and the next run takes it over.
Folders the lock had to create are removed again when they are still empty, so a run that
fails before its first result leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from .store import StoreError


class LockedError(StoreError):
    """Another process writes the same file (one-line message)."""


def lock_path(target) -> Path:
    target = Path(target)
    if target.name in ("", ".", ".."):   # a folder given as '.' or '..'
        target = target.resolve()
    return target.with_name(target.name + ".lock")


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "another process"


def _make_parents(folder: Path) -> list:
    made = []
    while not folder.exists():
        made.append(folder)
        folder = folder.parent
    for d in reversed(made):
        d.mkdir(exist_ok=True)
    return made


def _acquire(path: Path, target) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(f"{target} is in use by another eproxy run ({_holder(path)}); wait for it to "
                              "finish or choose another output") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:   # not a file its previous holder removed after we opened it
            return fd
        os.close(fd)


@contextlib.contextmanager
def hold(target):
    """Hold the lock of `target` (a results file, a DPS state, an output folder) for the
    block. Raises LockedError when another process holds it, StoreError when it cannot be
    created."""
    path = lock_path(target)
    try:
        made = _make_parents(path.parent)
        fd = _acquire(path, target)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except LockedError:
        raise
    except OSError as e:
        raise StoreError(f"cannot create the lock file {path}: {e.strerror or e}") from None
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        for d in made:
            with contextlib.suppress(OSError):
                d.rmdir()
