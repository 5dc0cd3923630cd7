"""One time limit for a whole fit: a deadline every stage of the fit reads.

``WorkloadPredictor.fit`` opens :func:`limit` with ``max_training_time`` when it starts
(the timestamp door included), and every stage reads the same deadline through
:func:`current`. A stage that can end early with a smaller but valid result does so
once the deadline has passed and records its name with :meth:`Deadline.cut`; the
predictor lists them in ``time_limited_stages_``. Models fitted on their own
(``LSTM(max_training_time=...)``) open their own limit, which nests: an inner limit
never ends later than the one around it, and the stages it cuts are recorded in the
outermost one.

The clock is ``time.perf_counter`` unless the outermost :func:`limit` is given another
(tests pass a fake clock to stop each stage deterministically).
"""

from __future__ import annotations

import contextvars
import math
import time
from contextlib import contextmanager
from typing import Callable, Iterator


from .errors import WorkloadDataError, is_number, quote


class Deadline:
    """The end of a time limit on ``clock`` (``None``: no limit), the stages it cut short, and the pace of the
    passes measured so far (``pace[kind]``: seconds per unit of work, shared by nested limits), from which a
    stage estimates whether a pass over the whole series fits in the time left."""

    __slots__ = ("end", "clock", "stages", "pace")

    def __init__(self, end: float | None, clock: Callable[[], float], stages: list[str],
                 pace: dict[str, float] | None = None):
        self.end = end
        self.clock = clock
        self.stages = stages
        self.pace = {} if pace is None else pace

    def expired(self) -> bool:
        """Whether the deadline has passed (never without a limit)."""
        return self.end is not None and self.clock() >= self.end

    def left(self) -> float | None:
        """Seconds left, at least 0 (``None``: no limit)."""
        return None if self.end is None else max(0.0, self.end - self.clock())

    def measure(self, kind: str, started: float, units: float) -> float:
        """Record in ``pace[kind]`` the seconds per unit of a pass of ``units`` begun at ``started`` (on this
        clock) and return it; recorded only under a limit."""
        pace = max(self.clock() - started, 0.0) / max(units, 1.0)
        if self.end is not None:
            self.pace[kind] = pace
        return pace

    def cut(self, stage: str) -> None:
        """Record that ``stage`` ended early because the deadline had passed (each stage once, in order)."""
        if self.end is not None and stage not in self.stages:
            self.stages.append(stage)


#: ``Deadline.pace`` key: seconds per value of a pass over the whole series, measured by the plain rule of the
#: input-anomaly scan (before the model's stages).
SERIES_PACE = "series pass"

_NO_LIMIT = Deadline(None, time.perf_counter, [])
_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("workload_predictor_deadline",
                                                                           default=None)


def current() -> Deadline:
    """The deadline of the fit in progress in this thread (one that never expires outside any :func:`limit`)."""
    return _current.get() or _NO_LIMIT


def check_seconds(seconds: object, name: str = "max_training_time") -> float | None:
    """``seconds`` as a float >= 0, or ``None``; a typed error for anything else (NaN, negative, a string)."""
    if seconds is None:
        return None
    if not is_number(seconds) or math.isnan(seconds) or seconds < 0:
        raise WorkloadDataError(f"{name}={quote(seconds)} must be a number of seconds >= 0, or None for no limit.")
    return float(seconds)


@contextmanager
def limit(seconds: float | None, clock: Callable[[], float] | None = None,
          reserve: float = 0.0, own_record: bool = False) -> Iterator[Deadline]:
    """A deadline ``seconds`` from now (``None``: none of its own), no later than the enclosing one.

    ``clock`` (outermost limit only; default ``time.perf_counter``) is the time source
    every nested limit and stage reads. ``reserve``: seconds the deadline ends early, kept
    for the work that must follow the stages under it (e.g. a final refit). ``own_record``:
    the stages cut under this limit are recorded in its own list, not the enclosing one's
    (one fit among many under a fleet's deadline).
    """
    seconds = check_seconds(seconds)
    outer = _current.get()
    if clock is None:
        clock = outer.clock if outer is not None else time.perf_counter
    end = None if seconds is None else clock() + seconds
    if outer is not None and outer.end is not None:
        end = outer.end if end is None else min(end, outer.end)
    if end is not None:
        end -= reserve
    deadline = Deadline(end, clock, outer.stages if outer is not None and not own_record else [],
                        outer.pace if outer is not None else None)
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)
