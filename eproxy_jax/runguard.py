"""SIGINT / SIGTERM for the CLI: a run stops with one line and exit 130 / 143, never a
traceback, and never half-way through writing a row.

`install()` replaces Python's KeyboardInterrupt with `Interrupted` (a BaseException, so no
`except Exception` swallows it). The signal is also remembered: where the exception cannot
surface (raised inside a garbage-collection callback or a `__del__`, whose exceptions Python
only reports as 'Exception ignored'), that report is silenced and the next `check()` raises it
again. Writers wrap their file updates in `critical()`, inside which a signal only waits.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The run was stopped by a signal; `exit_code` is 128 + its number."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum
        self.name = signal.Signals(signum).name


def stopped_line(prog: str, e: Interrupted) -> str:
    """The one stderr line of a run a signal stopped."""
    return f"{prog}: stopped by {e.name}; finished results are kept, rerun the same command to resume"


_pending: int | None = None
_depth = 0


def _handler(signum, frame):
    global _pending
    if _pending is None:
        _pending = signum
    if _depth == 0:
        raise Interrupted(signum)


def _unraisable(hook):
    def quiet(u):
        if not isinstance(u.exc_value, Interrupted):   # remembered: check() raises it again
            hook(u)
    quiet.wrapped = hook
    return quiet


def install():
    """Handle SIGINT and SIGTERM from now on (unless ignored already); returns what `restore`
    needs (None outside the main thread, where Python allows no handlers)."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        return None
    if not any(signal.getsignal(s) is _handler for s in SIGNALS):
        _pending = None   # a fresh start (installed already, e.g. by __main__: a signal seen stays)
    # a signal the parent ignores (a background job's SIGINT, nohup) stays ignored
    prev = {s: signal.signal(s, _handler) for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    hook = sys.unraisablehook
    if not hasattr(hook, "wrapped"):
        sys.unraisablehook = _unraisable(hook)
    return prev, hook


def restore(saved):
    """Put back the handlers `install` replaced; a remembered signal is forgotten unless those
    are ours too (then the caller still reports it)."""
    global _pending
    if saved is None:
        return
    prev, hook = saved
    if not any(h is _handler for h in prev.values()):
        _pending = None
    for s, h in prev.items():
        signal.signal(s, h)
    sys.unraisablehook = hook


def check():
    """Raise `Interrupted` if a signal arrived whose exception was lost or deferred."""
    if _pending is not None:
        raise Interrupted(_pending)


@contextlib.contextmanager
def critical():
    """A file update that a signal must not cut: the signal waits until the block ends (then
    raises, unless the block is already failing)."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if _depth == 0:
        check()
