"""A memory limit for fit and update, checked with psutil's RSS before and during heavy steps.

What is limited: the memory a fit or an update *adds* to the process (RSS now minus
RSS when it started, plus what it is about to allocate), not the process's total.
The library runs inside simulators and autoscalers that hold gigabytes of their
own; a limit on the total would refuse every fit there, while a limit on what the
fit adds is what stops it from pushing the machine into swap. Independently of
the limit, an allocation larger than the machine's available memory is refused.

The limit is carried in a context variable, so it needs no parameter in every
model and applies per thread (each thread has its own context): the predictor
opens :func:`memory_limit` around ``fit``/``update`` and the kernels call
:func:`check_memory` before they allocate something large (with an estimate of
what they are about to allocate) and between LSTM epochs. Exceeding the limit
raises :class:`~workload_predictor.errors.MemoryLimitError` *before* the
allocation; the predictor commits its new state only after a fit succeeds, so
nothing half-fitted remains.
"""

from __future__ import annotations

import contextvars
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import MemoryLimitError, is_number, quote

MB = 1024 * 1024
LARGE_BYTES = 64 * MB  # allocations above this are also checked against the machine's available memory

_process = None  # psutil.Process, created on first use (psutil is imported lazily)
_statm: tuple[int, int, int] | None = None  # (pid, open /proc/self/statm, page size) on Linux


def rss_mb() -> float:
    """Resident set size of this process in MiB: psutil's figure.

    On Linux psutil reads the second field of ``/proc/<pid>/statm`` (resident pages)
    and multiplies by the page size; we read the same field from a descriptor kept
    open, because ``update`` reads the RSS twice every few seconds and psutil's
    open-read-close cost 25-65 us of a 1 ms update. Elsewhere, psutil.
    """
    global _process, _statm
    pid = os.getpid()
    if _statm is not None and _statm[0] == pid:
        return int(os.pread(_statm[1], 128, 0).split()[1]) * _statm[2] / MB
    if _process is None or _process.pid != pid:  # after a fork, watch the child
        import psutil

        _process = psutil.Process()
        if _statm is not None:  # inherited from the parent across a fork: it reads the parent's RSS
            os.close(_statm[1])
            _statm = None
        if psutil.LINUX:
            try:
                _statm = (pid, os.open("/proc/self/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)),
                          os.sysconf("SC_PAGE_SIZE"))
            except OSError:  # no procfs (e.g. a sandbox): psutil finds its own way
                _statm = None
    return _process.memory_info().rss / MB


@dataclass
class MemoryWatch:
    """The limit in force, the RSS when it started and the largest RSS seen while it was."""

    limit_mb: float | None
    start_mb: float = 0.0
    peak_mb: float = 0.0


_current: contextvars.ContextVar[MemoryWatch | None] = contextvars.ContextVar("workload_predictor_memory", default=None)


def check_limit(limit_mb: Any) -> None:
    """Raise :class:`MemoryLimitError` unless ``limit_mb`` is a positive, finite number of MiB or None."""
    if limit_mb is None:
        return
    try:  # numpy's numbers count (np.int64(100) as 100); a bool does not. NaN fails every comparison: refused too.
        valid = is_number(limit_mb) and 0 < float(limit_mb) < math.inf
    except OverflowError:  # an integer beyond float's range
        valid = False
    if not valid:
        raise MemoryLimitError(
            f"memory_limit_mb={quote(limit_mb)} must be a positive, finite number of MiB, or None for no limit."
        )


@contextmanager
def memory_limit(limit_mb: float | None) -> Iterator[MemoryWatch]:
    """Enforce ``limit_mb`` (MiB the block may add to the RSS; ``None``: only record the peak)."""
    check_limit(limit_mb)
    start = rss_mb()
    watch = MemoryWatch(limit_mb, start_mb=start, peak_mb=start)
    token = _current.set(watch)
    try:
        yield watch
        check_memory("end")
    finally:
        _current.reset(token)


#: What a refused fit can change (check_memory's default advice).
FIT_ADVICE = "Fit on less history, a smaller window or fewer targets"
#: What a refused update can change: its cost is the buckets it adds, a gap's zero-filled ones included.
UPDATE_ADVICE = "Pass fewer new buckets per update (a gap's zero-filled buckets count)"


def check_memory(step: str, extra_bytes: float = 0.0, advice: str = FIT_ADVICE) -> None:
    """Raise :class:`MemoryLimitError` if the growth so far plus ``extra_bytes`` about to be allocated
    exceeds the limit, or ``extra_bytes`` exceed the machine's available memory; the message ends with
    ``advice`` (what the caller can change: a fit's, by default, or :data:`UPDATE_ADVICE`).

    Outside :func:`memory_limit` (a model used directly) there is no limit, but an allocation larger than
    the machine's available memory is still refused before it is tried.
    """
    watch = _current.get()
    if watch is not None:
        rss = rss_mb()
        watch.peak_mb = max(watch.peak_mb, rss)
        growth = rss - watch.start_mb
        about = f" plus {extra_bytes / MB:.0f} MiB it was about to allocate" if extra_bytes else ""
        if watch.limit_mb is not None and growth + extra_bytes / MB > watch.limit_mb:
            raise MemoryLimitError(
                f"memory limit exceeded at '{step}': this call has added {growth:.0f} MiB to the process{about}, "
                f"over memory_limit_mb={watch.limit_mb:g}. {advice}, or raise memory_limit_mb (None disables the "
                "check). The predictor was left as it was.", needed_mib=growth + extra_bytes / MB)
    if extra_bytes > LARGE_BYTES:
        import psutil

        available = psutil.virtual_memory().available
        if extra_bytes > available:
            left = " The predictor was left as it was." if watch is not None else ""
            raise MemoryLimitError(
                f"not enough memory at '{step}': it would allocate {extra_bytes / MB:.0f} MiB, the machine has "
                f"{available / MB:.0f} MiB available. {advice}.{left}"
            )


def epoch_hook(epoch: int, train_loss: float, validation_loss: float) -> None:
    """A ``train_network(progress=...)`` hook that checks the limit after every epoch."""
    check_memory(f"LSTM epoch {epoch}")
