"""The typed errors users catch.

Every error raised for bad input subclasses :class:`ValueError`, names the
problem and says how to fix it.
"""

from __future__ import annotations

import numbers
import reprlib
import sys
from typing import Any

import numpy as np

#: Characters of a user's value that an error message quotes; the rest is cut (a 100 KB field in a
#: message is a 100 KB log line).
QUOTE_LIMIT = 60

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = QUOTE_LIMIT // 2
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxlevel = 3


def is_integer(value: Any) -> bool:
    """Whether a setting is an integer (numpy integers too). ``True`` is none, and neither is a ``np.timedelta64``,
    which numpy registers as an integer: ``np.timedelta64(1, "h")`` is a span, and ``int()`` of it raises."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.timedelta64))


def is_positive_int(value: Any) -> bool:
    """Whether a setting is a positive integer (:func:`is_integer`; ``2.5`` or ``"3"`` are not quietly turned into
    one): the test behind every "must be a positive integer" error."""
    return is_integer(value) and value >= 1


def is_number(value: Any) -> bool:
    """Whether a setting is a real number (numpy's too); ``True`` is no number (``np.bool_`` is no ``numbers.Real``),
    nor is a ``np.timedelta64`` (a span: ``float()`` of ``np.timedelta64(5, "m")`` is 5.0)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.timedelta64))


def coverage_level(level: Any) -> float:
    """``predict``'s ``level=`` as a float in (0, 1), or a :class:`WorkloadDataError` naming it."""
    if not is_number(level) or not 0.0 < float(level) < 1.0:
        raise WorkloadDataError(f"level={quote(level)} must be a coverage in (0, 1), e.g. 0.99.")
    return float(level)


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for messages that echo what a user passed.

    The cost does not grow with the value: a 100 MB string or a frame's ten thousand
    column names are never formatted in full.
    """
    if isinstance(value, (str, bytes)):
        shown = repr(value[:limit])[: 2 * limit]  # escapes (NUL is 4 characters) at most double it
        return shown if len(value) <= limit else f"{shown}... ({len(value):,} characters)"
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def quote_columns(columns: Any) -> str:
    """A frame's column names for a message: the first dozen, each cut short."""
    names = [str(c)[: QUOTE_LIMIT // 2] for c in list(columns[:13])]
    shown = ", ".join(map(repr, names[:12]))
    return f"[{shown}, ... {len(columns):,} in all]" if len(columns) > 12 else f"[{shown}]"


def cut(text: Any, limit: int = 160) -> str:
    """``str(text)`` (e.g. a library's exception message, which may hold the user's value) cut to ``limit``."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def plural(count: int, word: str, words: str | None = None) -> str:
    """``count`` and the noun ``word`` as a message writes them: "1 key", "3 keys", "1,000 keys" (``words``: the
    plural where it is not ``word`` + "s"); a count of absurd size (one a user's setting gave) cut short, as
    :func:`quote` cuts it."""
    number = f"{count:,}"
    if len(number) > QUOTE_LIMIT // 2:
        number = quote(count)
    return f"{number} {word if count == 1 else words or word + 's'}"


class WorkloadDataError(ValueError):
    """The input data cannot be used as given (the message says why and how to fix it).

    ``rows``: the rows of the input that the message names, as positions from 0 (``DataFrame.iloc``), in the order
    it names them; empty where it names none. A fleet's errors name rows of the frame passed to ``fit`` or
    ``update`` (:func:`~workload_predictor.data.in_frame`)."""

    rows: tuple[int, ...] = ()
    _row_spans: tuple[tuple[int, int], ...] = ()  # where the message names each of ``rows`` (start, end)


def naming_rows(error_type: type, *parts: Any) -> Any:
    """An error of ``error_type`` (a :class:`WorkloadDataError`) whose message is ``parts`` joined: text, and each
    row of the input it names as an ``int`` (a position from 0), written "row N" and kept in the error's ``rows``
    (:func:`renamed_rows` can write them otherwise)."""
    pieces, rows, spans, length = [], [], [], 0
    for part in parts:
        if isinstance(part, numbers.Integral) and not isinstance(part, bool):
            piece = f"row {int(part)}"
            rows.append(int(part))
            spans.append((length, length + len(piece)))
        else:
            piece = str(part)
        pieces.append(piece)
        length += len(piece)
    error = error_type("".join(pieces))
    error.rows, error._row_spans = tuple(rows), tuple(spans)
    return error


def renamed_rows(error: WorkloadDataError, texts: Any) -> WorkloadDataError:
    """``error`` with the rows its message names (its ``rows``, as :func:`naming_rows` wrote them) written as
    ``texts``, one each in order, in place (an error made otherwise, with no such rows, is left as it is); returns
    it. An :class:`UpdateGapError`'s ``finding``, where it is the start of the message, is written alike."""
    spans = error._row_spans
    if not spans or len(error.args) != 1 or not isinstance(error.args[0], str):
        return error
    message, pieces, moved, at, shift = error.args[0], [], [], 0, 0
    finding = getattr(error, "finding", None)
    found = len(finding) if isinstance(finding, str) and message.startswith(finding) else None
    for (start, end), text in zip(spans, texts):
        pieces += [message[at:start], text]
        moved.append((start + shift, start + shift + len(text)))
        if found is not None and end <= len(finding):
            found += len(text) - (end - start)
        shift += len(text) - (end - start)
        at = end
    pieces.append(message[at:])
    error.args = ("".join(pieces),)
    error._row_spans = tuple(moved)
    if found is not None:
        error.finding = error.args[0][:found]
    return error


class NotFittedError(ValueError, AttributeError):
    """A predictor or model was used before ``fit`` (scikit-learn's contract: a ``ValueError`` and an
    ``AttributeError``, so ``hasattr`` of a fitted attribute is False before ``fit``).

    Where scikit-learn is loaded in the process (``import sklearn`` loads ``sklearn.exceptions``), the error raised
    is also a ``sklearn.exceptions.NotFittedError`` (:func:`not_fitted_error`): ``except`` with either class catches
    it. scikit-learn is no dependency, and the package never imports it (its import takes about a second)."""


class MemoryLimitError(WorkloadDataError, MemoryError):
    """Fitting or updating would take the process over its ``memory_limit_mb``; nothing was changed.

    ``needed_mib``: what the call would have held at the step that stopped it (its growth so far plus what it was
    about to allocate), where the limit stopped it; ``None`` where the machine's available memory did."""

    def __init__(self, message: str, needed_mib: float | None = None):
        super().__init__(message)
        self.needed_mib = needed_mib


class UpdateGapError(WorkloadDataError):
    """``update`` got a row further ahead of the series than ``max_gap`` buckets; nothing was changed.

    ``finding``: what was found (the row, its gap, ``max_gap``), without the library's advice, for a caller that
    words its own fix (the command line)."""

    def __init__(self, message: str, finding: str | None = None):
        super().__init__(message)
        self.finding = message if finding is None else finding


class UpdateOrderError(WorkloadDataError):
    """``update`` got a row at or before the last bucket the predictor holds; nothing was changed.

    ``first``: the earliest such row's bucket (a UTC ``pandas.Timestamp``), ``last``: the predictor's last bucket."""

    def __init__(self, message: str, first: Any = None, last: Any = None):
        super().__init__(message)
        self.first, self.last = first, last


class UndoneJumpWarning(UserWarning):
    """``update`` undid an update before it: that one jumped far ahead of the series, and the rows that came next
    fall between the bucket before the jump and the jumped one, so the jumped row was stray (a clock glitch). Its
    rows, and those of the stray updates after it, are dropped and the predictor continues from the bucket before it
    (``undone_jumps_`` lists what was dropped)."""


class NoSeasonError(WorkloadDataError):
    """A model that finds its season in the data found none (the ensemble then leaves that member out)."""


class NoKeyFittedError(WorkloadDataError):
    """A fleet's ``fit`` could fit none of its keys; nothing was changed. ``errors``: each key's error (``{key:
    exception}``, in the order of the keys), the first of which the message names."""

    def __init__(self, message: str, errors: dict):
        super().__init__(message)
        self.errors = errors

    def __reduce__(self):  # pickled with what its __init__ takes (a worker process or Dask raises it in the parent)
        return type(self), (str(self), self.errors), self.__dict__


class ModelFileError(ValueError):
    """A saved model file is unreadable, tampered with or of an unsupported version."""


class UnsaveableModelError(WorkloadDataError):
    """``save`` would write a model file that ``load`` refuses (a forecast beyond what a model file may hold, more
    items than load reads); nothing was written. The fitted object itself is unchanged and still forecasts.

    ``value``: what was found (the largest forecast, the item count; ``nan`` for a forecast that is not finite),
    ``bound``: the most a model file may hold of it."""

    def __init__(self, message: str, value: float = float("nan"), bound: float = float("nan")):
        super().__init__(message)
        self.value, self.bound = value, bound

    def __reduce__(self):  # pickled with what its __init__ takes (a worker process raises it in the parent)
        return type(self), (str(self), self.value, self.bound), self.__dict__


#: The class :func:`not_fitted_error` raises where scikit-learn is loaded, by scikit-learn's ``NotFittedError``.
_BOTH_NOT_FITTED: dict[type, type] = {}


def _reduce_not_fitted(error: NotFittedError) -> tuple:
    """How an error of both classes pickles: :func:`not_fitted_error` again where it is loaded (scikit-learn's there
    or not)."""
    return not_fitted_error, (str(error),)


def not_fitted_error(message: str) -> NotFittedError:
    """A :class:`NotFittedError` with ``message``; where ``sklearn.exceptions`` is loaded, of a subclass of it and
    of scikit-learn's ``NotFittedError`` (made once, named ``NotFittedError``)."""
    theirs = getattr(sys.modules.get("sklearn.exceptions"), "NotFittedError", None)
    if not isinstance(theirs, type) or not issubclass(theirs, Exception) or issubclass(NotFittedError, theirs):
        return NotFittedError(message)
    both = _BOTH_NOT_FITTED.get(theirs)
    if both is None:
        try:
            both = type(NotFittedError.__name__, (NotFittedError, theirs),
                        {"__module__": __name__, "__qualname__": NotFittedError.__qualname__,
                         "__doc__": NotFittedError.__doc__, "__reduce__": _reduce_not_fitted})
        except TypeError:  # a class the two cannot share (another layout): ours alone
            return NotFittedError(message)
        both = _BOTH_NOT_FITTED.setdefault(theirs, both)
    return both(message)


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise :class:`NotFittedError` (:func:`not_fitted_error`) unless ``estimator`` has the fitted ``attribute``
    (not ``None``)."""
    if getattr(estimator, attribute, None) is None:
        name = type(estimator).__name__
        raise not_fitted_error(f"This {name} instance is not fitted yet: call fit(...) before using it.")
