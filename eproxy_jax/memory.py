"""Does a compiled scoring program fit in memory? Checked after compiling, before the first run.

The need is XLA's own buffer assignment of the compiled program (`memory_analysis()`): the
temporaries (activations kept for the backward pass of the 10 steps, im2col patches, the
vmapped copies of `arch_vmap` networks, ...) plus the arguments and outputs. On the CPU the
runtime allocates the temporaries as one block of exactly that size, so a program past the
machine's memory would otherwise die with RESOURCE_EXHAUSTED (or be killed) at its first chunk.
Available: a GPU/TPU device's `bytes_limit - bytes_in_use` (`memory_stats()`); on the CPU
`MemAvailable` of /proc/meminfo (else free pages x page size, `os.sysconf`).
No jax import here: the CLI maps `MemoryNeedError` to exit 2 without importing jax.
"""
from __future__ import annotations

import os

GiB = 2 ** 30


class MemoryNeedError(ValueError):
    """A program that cannot fit (one-line message: the estimate and what is available)."""


def need_bytes(compiled) -> int | None:
    """Bytes a compiled program allocates on its device (XLA's estimate), None when unknown."""
    try:
        m = compiled.memory_analysis()
    except Exception:   # backends without the analysis
        return None
    if m is None:
        return None
    return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes - m.alias_size_in_bytes)


def available_bytes(device) -> int | None:
    """Bytes free for a new program on `device` (a jax Device), None when unknown."""
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def check_fits(compiled, device, what: str, hint: str) -> int | None:
    """Raise MemoryNeedError when `compiled` needs more than `device` has free; the need (or None)."""
    need, have = need_bytes(compiled), available_bytes(device)
    if need is not None and have is not None and need > have:
        raise MemoryNeedError(f"{what} needs about {need / GiB:.2f} GiB (XLA's estimate of the compiled program) "
                              f"but {have / GiB:.2f} GiB is available on {device.platform}; {hint}")
    return need
