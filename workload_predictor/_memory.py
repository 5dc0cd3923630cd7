"""A memory limit for fit and update, checked with psutil's RSS before and during heavy steps.

The limit is carried in a context variable, so it needs no parameter in every
model and applies per thread (each thread has its own context): the predictor
opens :func:`memory_limit` around ``fit``/``update`` and the kernels call
:func:`check_memory` before they allocate something large (with an estimate of
what they are about to allocate) and between LSTM epochs. Exceeding the limit
raises :class:`~workload_predictor.errors.MemoryLimitError` *before* the
allocation, so the machine never starts swapping because of us; the predictor
commits its new state only after a fit succeeds, so nothing half-fitted remains.
"""

from __future__ import annotations

import contextvars
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .errors import MemoryLimitError

MB = 1024 * 1024

_process = None  # psutil.Process, created on first use (psutil is imported lazily)


def rss_mb() -> float:
    """Resident set size of this process in MiB (``psutil``)."""
    global _process
    if _process is None or _process.pid != os.getpid():  # after a fork, watch the child
        import psutil

        _process = psutil.Process()
    return _process.memory_info().rss / MB


@dataclass
class MemoryWatch:
    """The limit in force and the largest RSS seen while it was."""

    limit_mb: float | None
    peak_mb: float = 0.0
    checks: int = 0


_current: contextvars.ContextVar[MemoryWatch | None] = contextvars.ContextVar("workload_predictor_memory", default=None)


@contextmanager
def memory_limit(limit_mb: float | None) -> Iterator[MemoryWatch]:
    """Enforce ``limit_mb`` (process RSS, MiB; ``None``: only record the peak) for the block."""
    if limit_mb is not None and (isinstance(limit_mb, bool) or not isinstance(limit_mb, (int, float)) or limit_mb <= 0):
        raise MemoryLimitError(f"memory_limit_mb={limit_mb!r} must be a positive number of MiB, or None for no limit.")
    watch = MemoryWatch(limit_mb)
    token = _current.set(watch)
    try:
        check_memory("start")
        yield watch
        check_memory("end")
    finally:
        _current.reset(token)


def check_memory(step: str, extra_bytes: float = 0.0) -> None:
    """Raise :class:`MemoryLimitError` if RSS plus ``extra_bytes`` about to be allocated exceeds the limit.

    A no-op outside :func:`memory_limit` (models used directly have no limit).
    """
    watch = _current.get()
    if watch is None:
        return
    rss = rss_mb()
    watch.checks += 1
    watch.peak_mb = max(watch.peak_mb, rss)
    needed = rss + extra_bytes / MB
    if watch.limit_mb is not None and needed > watch.limit_mb:
        about = f" plus {extra_bytes / MB:.0f} MiB it was about to allocate" if extra_bytes else ""
        raise MemoryLimitError(
            f"memory limit exceeded at '{step}': the process uses {rss:.0f} MiB{about}, over "
            f"memory_limit_mb={watch.limit_mb:g}. Fit on less history, a smaller window or fewer targets, "
            "or raise memory_limit_mb (None disables the check). The predictor was left as it was."
        )


def epoch_hook(epoch: int, train_loss: float, validation_loss: float) -> None:
    """A ``train_network(progress=...)`` hook that checks the limit after every epoch."""
    check_memory(f"LSTM epoch {epoch}")
