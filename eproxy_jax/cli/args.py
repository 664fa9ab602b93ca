"""Argument types and parsers shared by the `eproxy` CLI and the experiment scripts.

A user mistake is one line on stderr and exit 2, never argparse's usage block or a traceback:
`Parser` raises `ArgError` (the CLI's `main` prints it and returns 2), `ScriptParser` prints and
exits itself (for scripts with no `main` of that kind). The converters are argparse `type=`s, so a
bad count is refused before anything is compiled, with the same wording everywhere.
"""
from __future__ import annotations

import argparse

EXIT_USAGE = 2


class UsageError(Exception):
    """A user mistake: its first line is printed, the exit status is 2."""


class ArgError(UsageError):
    """An argparse error, already prefixed with the (sub)command's name."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse would print the usage block too)
        raise ArgError(f"{self.prog}: {message}")


class ScriptParser(argparse.ArgumentParser):
    """For experiment scripts: `error` (argparse's, and the script's own checks) prints
    `PROG: MESSAGE` as one line and exits 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: {str(message).splitlines()[0] if str(message) else message}\n")


def int_at_least(name, lo):
    def conv(v):
        try:
            i = int(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {v!r}") from None
        if i < lo:
            raise argparse.ArgumentTypeError(f"{name} must be >= {lo}, got {i}")
        return i
    return conv


def positive(name):
    return int_at_least(name, 1)


def nonneg(name):
    return int_at_least(name, 0)


def float_where(name, ok, what):
    """A float for which `ok(x)` holds (NaN never does), else `NAME must be WHAT, got V`."""
    def conv(v):
        try:
            x = float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {v!r}") from None
        if not ok(x):
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {v}")
        return x
    return conv


def int_list(name, lo=0):
    """A comma-separated list of integers >= lo (e.g. DPS seeds `0,1`)."""
    def conv(v):
        try:
            out = [int(s) for s in v.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} takes comma-separated integers (e.g. 0,1), got {v!r}") from None
        bad = [i for i in out if i < lo]
        if bad:
            raise argparse.ArgumentTypeError(f"{name} values must be >= {lo}, got {bad[0]}")
        return out
    return conv


def space_option(v):
    """`KEY=VALUE` -> (key, value); the value is an int where it reads as one, else the word
    (e.g. skeleton=imagenet): the space validates its own options."""
    key, sep, val = v.partition("=")
    if not sep or not key or not val:
        raise argparse.ArgumentTypeError(f"--space-option takes KEY=VALUE (e.g. input_size=64), got {v!r}")
    try:
        val = int(val)
    except ValueError:
        pass
    return key, val
