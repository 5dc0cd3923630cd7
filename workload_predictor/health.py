"""Health report and alerts for a fitted predictor.

Nine metrics, each with a warning and a critical threshold (``accuracy`` reported, not rated, by default)::

    metric               ok when            warning when         critical when
    training_seconds     < 60               < 120                >= 120
    prediction_seconds   < 0.1              < 0.5                >= 0.5
    memory_mb            < 1024 (1 GiB)     < 2048 (2 GiB)       >= 2048   (the predictor's arrays, indexes, tensors)
    accuracy             not rated          not rated            not rated (ABSOLUTE_ACCURACY: > 0.8 / > 0.6 / <= 0.6)
    relative_error       < 3                < 4                  >= 4      (validation error / the naive forecast's)
    input_anomaly        < 1                < 5                  >= 5      (flagged buckets among the newest 1000)
    stale_buckets        < 2                < horizon            >= horizon (whole buckets missing before ``now``)
    idle_fit             < 0.75             <= 1                 > 1       (share of fitted buckets in idle stretches)
    stuck_input          < 30               < 1000               >= 1000   (newest buckets repeating the one before)

``accuracy`` is the predictor's validation confidence, ``1 - WAPE`` of its
out-of-sample validation forecasts (mean over targets; refreshed by ``update``);
higher is better, so its thresholds are lower bounds, in ``[0, 1]`` (a percentage is refused). It is reported and not
rated by default: ``1 - WAPE`` depends on the load's size as much as on the model (a Poisson(3) series forecast at its
noise floor scores 0.53); ``thresholds={"accuracy": ABSOLUTE_ACCURACY}`` rates it as before. ``relative_error``
rates the model against what the data allows (:func:`relative_error`): per target, the larger of the validation MAE
and the newest ``horizon`` validation windows' MAE, over the naive forecast's error (the bucket before, repeated over
the horizon) on the series held, read as the model reads it (a burst the series came back from at its reference
median): the larger of the fitted series' and the newest kept buckets'; the newest windows' against that error lowered
as their level fell (:func:`level_fall`); the worst target's ratio; a forecast at a count
series' noise floor scores about 0.7, a level shift x3 up the model has not followed yet about 5, x3 down about 3.5
(docs/health.md). ``input_anomaly``
counts the buckets far outside the series' recent range (:mod:`workload_predictor.anomaly`) among the
newest 1000, a bucket flagged in several targets once; its alert names the newest one (timestamp, target, value).
``stale_buckets`` is measured only when the caller passes the time it is (``now``; a replay of old data passes
none): the whole buckets that ended after the newest bucket the predictor holds and before ``now``. One may be in
flight (it ended, its counts not sent yet); two are a gap (updates refused, or not sent); at ``horizon`` of them (a
predictor's default critical threshold, its warning ``min(2, horizon)``; 10 here, the default horizon) its forecast
covers no bucket after ``now``. A newest bucket that starts after ``now`` (a row from a clock running ahead) counts
the whole buckets between them, one allowed for clock skew: at ``horizon`` of them its forecast covers none of the
buckets to come up to ``horizon`` after ``now`` either.
``idle_fit`` is the share of the buckets a fit rests on (the series it was fitted on and the buckets updates added
since; a ``"refit"`` fleet key's refitted span) that lie in idle stretches: runs of at least
``max(window, IDLE_RUN)`` buckets in which every target is 0 (an outage written as zeros, an endpoint scaled to
zero). From a share of 0.75 on, a DLinear fit on such a span strayed from a twin fitted without the stretch by a
quarter of the level or more in one case of ten (docs/health.md). A share is at most 1, the default critical
threshold, so it warns and never pages unless a lower critical threshold is set (critical above it). Its detail
names the newest stretch. An LSTM (or an ensemble's LSTM member) whose correction was weighed on a fit constant
throughout (idle, or every target repeating one count) forecasts as its DLinear base until a refit (updates leave
its share as fitted, 0): its ``idle_fit`` is 1 until then.
``stuck_input`` counts, per target, the buckets in a row, ending at the newest, in which the target repeats the
bucket before's count exactly, a count not 0 (a stuck sensor, or an exporter of some targets, resending its last
counts; a run of zeros is ``idle_fit``'s), and rates the longest of these runs: a real series repeats a count 12-14
times in a row at most (Poisson(1), 2 million buckets, 8 seeds; the Azure traces 3, per target), so 30 is a stuck
sensor; at 1000 it fills what a fit commonly reads, and a refitted forecast stays off after the counts move
(docs/health.md). A bucket in which a target moves clears its run; the detail names the target(s) stuck longest,
their counts and since when.
A metric that was not measured yet (no ``predict`` call so far; ``None`` or NaN) has level ``"unknown"`` and raises
no alert; an infinite measurement is rated like any other (an infinite cost is critical; an accuracy above 1, a
percentage, is refused). Durations are numbers of seconds (a ``np.timedelta64`` is refused: its count is in its own
unit). A fit
that ``max_training_time`` ended early names the stages it stopped in the ``training_seconds`` detail. :func:`health_report` is a pure function of the measurements, so every
level can be tested with injected numbers; :func:`measure` reads them from a
predictor.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import math
from collections.abc import Set
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .anomaly import HISTORY_BUCKETS, RECENT_BUCKETS, flags_in, recent_flagged_count, recorded_flags, settled_series
from .anomaly import recent as anomalies_recent
from .errors import WorkloadDataError, is_number, plural, quote

logger = logging.getLogger(__name__)

LEVELS = ("ok", "warning", "critical")

#: metric -> (warning threshold, critical threshold); ``None``: the metric is reported, not rated (``accuracy``,
#: whose default rating is ``relative_error``'s; ``ABSOLUTE_ACCURACY`` is the absolute rule).
DEFAULT_THRESHOLDS: dict[str, tuple[float, float] | None] = {
    "training_seconds": (60.0, 120.0),
    "prediction_seconds": (0.1, 0.5),
    "memory_mb": (1024.0, 2048.0),
    "accuracy": None,
    "relative_error": (3.0, 4.0),
    "input_anomaly": (1.0, 5.0),
    "stale_buckets": (2.0, 10.0),
    "idle_fit": (0.75, 1.0),
    "stuck_input": (30.0, 1000.0),
}
#: The absolute accuracy rule, ``thresholds={"accuracy": ABSOLUTE_ACCURACY}``: 1 - WAPE at most 0.8 warns, at most
#: 0.6 is critical (a Poisson(20) series at the noise floor warns; a Poisson(3) one, or a bursty trace, is critical).
ABSOLUTE_ACCURACY = (0.8, 0.6)
_HIGHER_IS_BETTER = {"accuracy"}
#: Metrics critical only above their critical threshold: a share whose default critical threshold, 1, is its
#: largest value, so by default it warns and never pages (an endpoint scaled to zero every night).
_ABOVE_CRITICAL = {"idle_fit"}
_LOG_LEVEL = {"warning": logging.WARNING, "critical": logging.ERROR}


def level_of(metric: str, value: float | None, warning: float | None, critical: float | None) -> str:
    """``"ok"``, ``"warning"``, ``"critical"`` (or ``"unknown"`` for ``None``/NaN, or thresholds ``None``: not rated)
    for one measurement.

    For a cost (time, memory) ``value < warning`` is ok and ``value >= critical`` is
    critical; for ``accuracy`` ``value > warning`` is ok and ``value <= critical`` is critical; for ``idle_fit``
    ``value < warning`` is ok and ``value > critical`` is critical.
    An infinite value compares as it is (an infinite cost is critical).
    """
    if value is None or math.isnan(value) or warning is None:  # (numpy's isnan costs 0.5 us a float, 9 per health)
        return "unknown"
    if metric in _HIGHER_IS_BETTER:
        return "ok" if value > warning else "warning" if value > critical else "critical"
    if metric in _ABOVE_CRITICAL:
        return "ok" if value < warning else "warning" if value <= critical else "critical"
    return "ok" if value < warning else "warning" if value < critical else "critical"


def _example(metric: str) -> tuple[float, float]:
    """A threshold pair ``metric`` takes, for a message: its default, or for ``accuracy`` the absolute rule's."""
    return DEFAULT_THRESHOLDS[metric] or ABSOLUTE_ACCURACY


def _thresholds(overrides: Mapping[str, Any] | None) -> dict[str, tuple[float, float] | None]:
    merged = dict(DEFAULT_THRESHOLDS)
    if overrides is not None and not isinstance(overrides, Mapping):
        raise WorkloadDataError(f"thresholds={quote(overrides)} must be a dict of metric -> (warning, critical), "
                                f"metrics: {', '.join(DEFAULT_THRESHOLDS)}.")
    for metric, pair in (overrides or {}).items():
        if metric not in DEFAULT_THRESHOLDS:
            raise WorkloadDataError(f"unknown health metric {quote(metric)}; known: {', '.join(DEFAULT_THRESHOLDS)}.")
        if pair is None:  # reported, not rated
            merged[metric] = None
            continue
        items = None if isinstance(pair, (str, bytes, Mapping, Set)) else _items(pair)
        if items is None or len(items) != 2 or not all(is_number(v) and _finite(v) for v in items):
            hint = (" (a set has no order: pass a tuple)" if isinstance(pair, Set) else
                    _DURATION_HINT if any(isinstance(v, np.timedelta64) for v in items or ()) else "")
            raise WorkloadDataError(f"thresholds[{quote(metric)}]={quote(pair)} must be a pair of finite numbers "
                                    f"(warning, critical){hint}, e.g. {_example(metric)}, or None (not rated).")
        warning, critical = (float(v) for v in items)
        low, high = _RANGE.get(metric, (0.0, math.inf))
        if not (low <= warning <= high and low <= critical <= high):
            raise WorkloadDataError(f"thresholds[{quote(metric)}]={quote(pair)}: "
                                    f"{_RANGE_TEXT.get(metric, _COST_TEXT)}; e.g. {_example(metric)}.")
        wrong_order = warning < critical if metric in _HIGHER_IS_BETTER else warning > critical
        if wrong_order:
            raise WorkloadDataError(
                f"thresholds[{quote(metric)}]={quote(pair)}: the warning threshold must come before the critical one "
                f"({'higher' if metric in _HIGHER_IS_BETTER else 'lower'})."
            )
        merged[metric] = (warning, critical)
    return merged


def _finite(value: Any) -> bool:
    """Whether the number ``value`` is finite as a float (an integer beyond float's range, ``10**400``, is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _items(pair: Any) -> list | None:
    """The items of a threshold pair given as a list, tuple, array or other iterable (``None`` when it is none): at
    most three, enough to tell a pair from anything longer without reading (or allocating) the rest."""
    try:
        return list(itertools.islice(pair, 3))
    except TypeError:
        return None


_DURATION_HINT = " (a duration as seconds: value / np.timedelta64(1, 's'))"
#: The values a metric can take, where they are not ``[0, inf)``: accuracy is ``1 - WAPE`` clipped to ``[0, 1]``.
_RANGE = {"accuracy": (0.0, 1.0), "idle_fit": (0.0, 1.0)}
_COST_TEXT = "a threshold must not be negative (no measurement is)"
_RANGE_TEXT = {"accuracy": "accuracy is 1 - WAPE, between 0 and 1, so its thresholds are too (0.8 for 80 %)",
               "idle_fit": "idle_fit is a share of buckets, between 0 and 1, so its thresholds are too (0.75 for 75 %)"}


#: The names ``measurements`` may hold: each metric, its detail, and the process's RSS (reported beside them).
MEASUREMENT_NAMES = (*DEFAULT_THRESHOLDS, *(f"{metric}_detail" for metric in DEFAULT_THRESHOLDS), "process_rss_mb")


def check_measurements(measurements: Any) -> Mapping[str, Any]:
    """``measurements`` checked: known names, a real number or ``None`` for each value (``accuracy`` at most 1,
    ``idle_fit`` in ``[0, 1]``, every other one not negative) and a text or ``None`` for each detail."""
    if not isinstance(measurements, Mapping):
        raise WorkloadDataError(f"measurements={quote(measurements)} must be a dict of metric -> measured value, "
                                f"metrics: {', '.join(DEFAULT_THRESHOLDS)}.")
    for name, value in measurements.items():
        if name not in MEASUREMENT_NAMES:
            raise WorkloadDataError(f"unknown health measurement {quote(name)}; known: {', '.join(MEASUREMENT_NAMES)}.")
        if name.endswith("_detail"):
            if value is not None and not isinstance(value, str):
                raise WorkloadDataError(f"measurements[{quote(name)}]={quote(value)} must be a text (or None: no "
                                        f"detail), e.g. {{{name!r}: 'after the 2am deploy'}}.")
            continue
        if value is not None and not is_number(value):
            hint = _DURATION_HINT if isinstance(value, np.timedelta64) else ""
            raise WorkloadDataError(f"measurements[{quote(name)}]={quote(value)} must be a number (or None: not "
                                    f"measured){hint}, e.g. {{{name!r}: 0.5}}.")
        if value is not None:
            try:
                number = float(value)
            except OverflowError:  # an integer beyond float's range (NaN and infinity are floats: they pass)
                raise WorkloadDataError(f"measurements[{quote(name)}]={quote(value)} is too large for a float; pass "
                                        f"the measured value, e.g. {{{name!r}: 0.5}}.") from None
            if name == "accuracy" and number > 1.0:  # NaN (not measured) and -inf (rated critical) pass
                raise WorkloadDataError(f"measurements['accuracy']={quote(value)}: accuracy is 1 - WAPE, at most 1 "
                                        "(0.85 for 85 %).")
            if name == "idle_fit" and not 0.0 <= number <= 1.0 and not math.isnan(number):
                raise WorkloadDataError(f"measurements['idle_fit']={quote(value)}: idle_fit is a share of buckets, "
                                        "between 0 and 1 (0.8 for 80 %).")
            if name not in _RANGE and number < 0.0:  # a cost: time, memory, an error ratio, a count of buckets
                raise WorkloadDataError(f"measurements[{quote(name)}]={quote(value)} is negative, which no "
                                        f"measurement of {name} is; pass the measured value (or None: not measured), "
                                        f"e.g. {{{name!r}: 0.5}}.")
    return measurements


def health_report(measurements: Mapping[str, float | None], thresholds: Mapping[str, Any] | None = None) -> dict:
    """The health report of ``measurements`` against ``thresholds`` (defaults above, overridable per metric).

    Returns ``{"level": worst level, "metrics": {metric: {"value", "level", "warning",
    "critical"}}}``; the overall level ignores unmeasured metrics.

    Raises
    ------
    WorkloadDataError
        An unknown metric or measurement name, a threshold that is not a pair of finite numbers in order, or a
        measured value that is not a number (or an integer too large for a float).
    """
    return rated(check_measurements(measurements), _thresholds(thresholds))


def rated(measurements: Mapping[str, Any], limits: Mapping[str, tuple[float, float]]) -> dict:
    """The report of :func:`health_report` from measurements checked by :func:`check_measurements` and thresholds
    checked and merged with the defaults (``_thresholds``, :func:`predictor_limits`)."""
    metrics = {}
    for metric, pair in limits.items():
        warning, critical = (None, None) if pair is None else pair
        value = measurements.get(metric)
        value = None if value is None else float(value)
        metrics[metric] = {"value": value, "level": level_of(metric, value, warning, critical),
                           "warning": warning, "critical": critical}
        detail = measurements.get(f"{metric}_detail")
        if detail:
            metrics[metric]["detail"] = str(detail)
    known = [m["level"] for m in metrics.values() if m["level"] in LEVELS]
    overall = max(known, key=LEVELS.index) if known else "unknown"
    report = {"level": overall, "metrics": metrics}
    if measurements.get("process_rss_mb") is not None:  # information only: the host's memory is not ours
        report["process_rss_mb"] = float(measurements["process_rss_mb"])
    return report


def log_alerts(report: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    """Log every metric at warning (``WARNING``) or critical (``ERROR``) level, its message after ``prefix``; return
    them as dicts."""
    alerts = []
    for metric, entry in report["metrics"].items():
        if entry["level"] not in _LOG_LEVEL:
            continue
        bound = entry["critical"] if entry["level"] == "critical" else entry["warning"]
        relation = "<=" if metric in _HIGHER_IS_BETTER else \
            ">" if metric in _ABOVE_CRITICAL and entry["level"] == "critical" else ">="
        message = f"{prefix}{metric} is {entry['value']:.4g} ({relation} {bound:g}): {entry['level']}"
        if entry.get("detail"):
            message += f"; {entry['detail']}"
        logger.log(_LOG_LEVEL[entry["level"]], "workload predictor health: %s", message)
        alerts.append({"metric": metric, **entry, "message": message})
    return alerts


#: Types that hold no array (footprint_bytes skips them at once): ``None``'s and Python's scalars and text.
_LEAVES = frozenset({type(None), str, bytes, int, float, bool, np.float64, np.int64, np.bool_})


def footprint_bytes(obj: Any) -> int:
    """Bytes of the numpy arrays and torch tensors reachable from ``obj`` (its attributes, containers
    and networks), each counted once: the predictor's own memory, whatever else the process holds."""
    seen: set[int] = set()
    held = []  # the views made here, kept alive so that no later object reuses their ids in ``seen``
    total, stack = 0, [obj]
    pop, extend, mark, leaves, array = stack.pop, stack.extend, seen.add, _LEAVES, np.ndarray  # (a health call
    while stack:  # walks ~140 items: the loop's own lookups are most of its time)
        item = pop()
        kind = type(item)
        if kind in leaves:  # the exact types most items are, before the isinstance checks
            continue
        key = id(item)
        if key in seen:
            continue
        mark(key)
        if kind is dict:
            extend(item.values())
            continue
        if kind is list or kind is tuple:
            extend(item)
            continue
        if kind is array or (not isinstance(item, (str, bytes, int, float, bool)) and isinstance(item, array)):
            base = item.base
            if base is None:
                total += item.nbytes
            elif id(base) not in seen:  # a view counts its base once
                mark(id(base))
                total += base.nbytes if isinstance(base, array) else item.nbytes
        elif _PLAIN.get(kind):  # one of this package's objects (a model, its statistics): its attributes
            extend(vars(item).values())
        elif hasattr(item, "state_dict") and callable(item.state_dict) and hasattr(item, "parameters"):
            extend(item.state_dict().values())  # a torch module: its parameters and buffers
        elif type(item).__module__.startswith("torch") and hasattr(item, "element_size"):
            total += item.element_size() * item.nelement()
        elif isinstance(item, pd.Index):  # the fitted series' timestamps: a view of its data, so slices count once
            if isinstance(item, (pd.DatetimeIndex, pd.TimedeltaIndex)):
                held.append(item.asi8)
            elif isinstance(item.dtype, np.dtype) and not isinstance(item, pd.RangeIndex):  # a range holds no array
                held.append(item.to_numpy(copy=False))
            else:
                continue
            stack.append(held[-1])
        elif isinstance(item, dict):
            extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)) or type(item).__name__ == "deque":
            extend(item)
        elif type(item).__module__.startswith("workload_predictor") and hasattr(item, "__dict__"):
            extend(vars(item).values())
            _PLAIN.setdefault(kind, not hasattr(kind, "state_dict") and not hasattr(kind, "element_size"))
    return total


#: This package's classes whose objects :func:`footprint_bytes` walked by their attributes, each ``True`` where the
#: class has neither a torch module's ``state_dict`` nor a tensor's ``element_size`` (none of its objects sets them):
#: their next objects go to their attributes at once (a model's ``hasattr(item, "state_dict")`` alone runs its
#: ``__getattr__``, ~1.2 us). A bounded set: the package's own classes.
_PLAIN: dict[type, bool] = {}


def time_limited(stages: tuple[str, ...], limit: float | None) -> str | None:
    """The note naming the stages ``max_training_time`` ended early (``None`` when there are none)."""
    if not stages:
        return None
    return f"max_training_time={quote(limit)}s ended early: {', '.join(map(str, stages))}"


def describe(anomaly: tuple, count: int) -> str:
    """The message naming the newest flagged bucket (values cut short with ``quote``), the ``count`` of buckets
    flagged, and what the models make of them (README "Bad samples")."""
    timestamp, target, value, median = anomaly
    return (f"newest: bucket {timestamp.isoformat()} {quote(target)} = {quote(value)} (recent median {quote(median)});"
            f" {count} flagged among the newest {RECENT_BUCKETS} buckets, kept in the series (not clipped), weighed"
            " down by the models and, once the series is back, read as their recent median")


def now_instant(now: Any) -> pd.Timestamp:
    """``now`` through the timestamp door (any timestamp ``fit`` reads, naive as UTC) as a UTC ``Timestamp``."""
    from .data import to_utc_index

    if isinstance(now, pd.Timestamp) and now.tz is not None:
        return now.tz_convert("UTC")
    if isinstance(now, (list, tuple, np.ndarray, pd.Index, pd.Series)):
        raise WorkloadDataError(f"now={quote(now)} must be one timestamp, e.g. now=pd.Timestamp.now(tz='UTC').")
    return to_utc_index([now], name="now")[0]


def stale_buckets(predictor: Any, now: Any) -> tuple[float | None, str | None]:
    """The whole buckets that ended after the predictor's newest bucket and before ``now`` (any timestamp the door
    reads, naive as UTC; ``None``: not measured), or where the newest bucket starts after ``now``, the whole buckets
    between them (a clock running ahead: the forecast covers none of the buckets up to the newest); and the detail
    naming both."""
    if now is None:
        return None, None
    from .data import ONE_NS, duration_text, epoch_ns

    instant = now_instant(now)
    newest, freq = predictor.last_timestamp_, predictor.freq_
    # In Python's integers of nanoseconds since the epoch: ``now`` and the newest bucket may lie more than 292 years
    # apart (a Timedelta's range), and the newest bucket may end past 2262-04-11 23:47:16 (a Timestamp's).
    ns = [epoch_ns(stamp) for stamp in (instant, newest)]
    width = int(freq // ONE_NS)
    if newest > instant:  # one bucket ahead (0 or 1 here) is clock skew between the feeder and the caller
        ahead = (ns[1] - ns[0]) // width
        return float(ahead), (f"newest bucket {newest.isoformat()} ({duration_text(freq)} buckets) starts "
                              f"{plural(int(ahead), 'whole bucket')} after now {instant.isoformat()}: a clock running "
                              "ahead (the rows' "
                              "or now's); the forecast covers none of the buckets up to it")
    missing = max((ns[0] - ns[1] - width) // width, 0)
    return float(missing), (f"newest bucket {newest.isoformat()} ({duration_text(freq)} buckets); now "
                            f"{instant.isoformat()}: {plural(missing, 'whole bucket')} ended since, without data")


def predictor_limits(horizon: int, thresholds: Any = None) -> dict[str, tuple[float, float]]:
    """A predictor's thresholds: the defaults, ``stale_buckets``'s from its ``horizon`` (:func:`stale_thresholds`) and
    ``thresholds`` over them, those checked (``health()`` asks every few seconds: the pair made here from the horizon,
    finite and in order, is not checked again)."""
    if thresholds is not None and not isinstance(thresholds, Mapping):
        return _thresholds(thresholds)  # its typed error
    limits = _thresholds(thresholds)
    if "stale_buckets" not in (thresholds or {}):
        limits["stale_buckets"] = stale_thresholds(horizon)
    return limits


def stale_thresholds(horizon: int) -> tuple[float, float]:
    """A predictor's ``stale_buckets`` thresholds: a warning at 2 (one may be in flight), critical at its horizon (the
    forecast then covers no bucket after ``now``)."""
    return min(2.0, float(horizon)), float(horizon)


def input_anomaly(predictor: Any) -> tuple[float | None, str | None]:
    """The buckets flagged among a predictor's newest ``RECENT_BUCKETS`` (a bucket flagged in several targets once;
    ``None`` for a file saved before anomalies were recorded) and the detail naming the newest. A fleet key that
    holds no predictor passes its count and detail as ``input_anomaly_`` (``None``: not measured)."""
    if hasattr(predictor, "input_anomaly_"):
        return predictor.input_anomaly_
    flagged = getattr(predictor, "input_anomalies_", None)
    recent = None if flagged is None else anomalies_recent(flagged, predictor.last_timestamp_, predictor.freq_)
    buckets = None if recent is None else len({anomaly[0] for anomaly in recent})  # a bucket flagged in 3 targets: 1
    if buckets is not None:  # every flagged bucket, where more than the newest 100 values recorded were flagged
        buckets = max(buckets, recent_flagged_count(getattr(predictor, "input_anomaly_buckets_", None),
                                                    predictor.last_timestamp_, predictor.freq_))
    return None if buckets is None else float(buckets), describe(recent[-1], buckets) if recent else None


#: The shortest run of idle buckets (every target 0) that counts as an idle stretch, whatever the model's context
#: (a naive model's is one bucket): 30 in a row come from a Poisson(0.5) series once in about 3 million buckets
#: (0.61 ** 30), while an outage or an endpoint scaled to zero writes hundreds.
IDLE_RUN = 30


def idle_span(values: np.ndarray, run: int, before: tuple | None = None) -> tuple[int, int, int, int, int]:
    """``(buckets, idle, tail, first, last)`` of a span: its buckets, those in runs of at least ``run`` buckets whose
    every target is 0 (idle stretches), the idle buckets it ends with (a run that may go on), and the positions of
    the newest stretch's first and last bucket (``-1`` without one), from its first bucket. ``before``: the span
    ``values`` (``(m, k)``) continue (an update), read in ``O(m)``; ``None``: a span of ``values`` alone (a fit)."""
    n0, idle0, tail0, first, last = (0, 0, 0, -1, -1) if before is None else before
    # Busy buckets (most updates): a run the span ended with is over, counted if it was long. (No zero at all is
    # told in one call; a zero in some target, then whether a bucket is 0 in every target.)
    if values.all() or not (zero := np.all(values == 0, axis=1)).any():
        return n0 + len(values), idle0, 0, first, last
    edges = np.diff(zero.astype(np.int8), prepend=np.int8(0), append=np.int8(0))  # +1: a run starts, -1: after it
    starts, stops = np.flatnonzero(edges == 1) + n0, np.flatnonzero(edges == -1) + n0
    if tail0 and len(starts) and starts[0] == n0:  # the idle run the span ended with goes on
        starts[0] = n0 - tail0
        if tail0 >= run:  # counted already: counted again below, as the longer run
            idle0 -= tail0
    lengths = stops - starts
    long = lengths >= run
    n = n0 + len(values)
    if long.any():
        first, last = int(starts[long][-1]), int(stops[long][-1] - 1)
    tail = int(lengths[-1]) if len(stops) and stops[-1] == n else 0
    return n, idle0 + int(lengths[long].sum()), tail, first, last


def idle_rows(values: np.ndarray, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's idle buckets and its newest stretch's first and last position (as :func:`idle_span` of the row
    alone finds them, with runs of at least ``max(window, IDLE_RUN)``) for ``values`` (``(B, n, k)``, keys of one
    length) and their ``windows`` (``(B,)``), in one pass over them."""
    rows = len(values)
    zero = np.all(values == 0, axis=2).astype(np.int8)  # (B, n)
    pad = np.zeros((rows, 1), dtype=np.int8)
    edges = np.diff(np.concatenate([pad, zero, pad], axis=1), axis=1)
    row, starts = np.nonzero(edges == 1)  # in row order, then position: a row's runs in order
    stops = np.nonzero(edges == -1)[1]
    lengths = stops - starts
    long = lengths >= np.maximum(np.asarray(windows, dtype=np.int64), IDLE_RUN)[row]
    row, starts, stops, lengths = row[long], starts[long], stops[long], lengths[long]
    idle = np.bincount(row, weights=lengths, minlength=rows).astype(np.int64)
    first, last = np.full(rows, -1, dtype=np.int64), np.full(rows, -1, dtype=np.int64)
    first[row], last[row] = starts, stops - 1  # the newest run of a row is written last
    return idle, first, last


def is_idle_span(span: Any) -> bool:
    """Whether ``span`` is what :func:`idle_span` returns (a model file whose ``idle_span_`` is not is refused at
    load)."""
    if not (isinstance(span, tuple) and len(span) == 5 and all(isinstance(v, (int, np.integer)) for v in span)):
        return False
    n, idle, tail, first, last = span
    return 0 <= idle <= n and 0 <= tail <= n and -1 <= first <= last < n and (idle == 0 or first >= 0)


def idle_text(idle: int, n: int, first: pd.Timestamp, last: pd.Timestamp, run: int) -> str:
    """The ``idle_fit`` detail: how many of the ``n`` buckets a fit rests on lie in idle stretches, and the newest."""
    return (f"{idle} of the {n} buckets the fit rests on lie in idle stretches (every target 0 for >= {run} buckets "
            f"in a row), the newest from {first.isoformat()} to {last.isoformat()}; its forecast and interval rest on "
            f"the {n - idle} busy ones")


def held_span(predictor: Any, run: int) -> tuple[int, int, int, int, int]:
    """A predictor's ``idle_span_``; where it has none (a file saved before it was kept), the span of the buckets it
    keeps (``series_``)."""
    span = getattr(predictor, "idle_span_", None)
    return span if is_idle_span(span) else idle_span(predictor.series_.values, run)


def unweighed_network(predictor: Any) -> dict[str, Any] | None:
    """The LSTM on a linear base (a predictor's model, or an ensemble's ``"lstm"`` member) whose correction was
    weighed on a fit constant throughout, or None: every target repeating one count there (the fit's naive error,
    ``noise_scale_``'s row 0, 0; idle where that count is 0) and the correction 0 on every validation window
    (``correction_t_`` exactly 0, ``correction_share_`` 0: no evidence). Updates leave the share and the network as
    fitted: the network counts for nothing until a refit."""
    fitted = getattr(getattr(predictor, "model_", None), "__dict__", {})  # dict lookups: health's hot path
    share = fitted.get("correction_share_")
    if share is None:  # an ensemble's LSTM member, or a model without a network
        members = fitted.get("members_")
        if not isinstance(members, dict):
            return None
        fitted = getattr(members.get("lstm"), "__dict__", {})
        share = fitted.get("correction_share_")
    if share != 0.0 or fitted.get("correction_t_") != 0.0 or fitted.get("base_") is None:
        return None
    scale = getattr(predictor, "noise_scale_", None)
    return None if scale is None or np.any(scale[0]) else fitted


def idle_fit(predictor: Any) -> tuple[float | None, str | None]:
    """The share of the buckets a predictor's fit rests on (``idle_span_``: its fitted series and every bucket its
    updates added since) in idle stretches (:func:`idle_span`), and the detail naming the newest. An LSTM (or an
    ensemble's LSTM member) whose correction was weighed on a fit constant throughout, idle or not
    (:func:`unweighed_network`), rests on that fit alone for its network, which updates leave out of the forecast:
    1 until a refit.

    A predictor loaded from a file saved before ``idle_span_`` counts the buckets it keeps (``series_``). A fleet key
    that holds no predictor passes its share and detail as ``idle_fit_`` (``None``: not measured)."""
    if hasattr(predictor, "idle_fit_"):
        return predictor.idle_fit_
    run = max(int(predictor.window_), IDLE_RUN)
    n, idle, _, first, last = held_span(predictor, run)
    lstm = unweighed_network(predictor)
    if lstm is not None:
        member = lstm is not vars(predictor.model_)  # an ensemble's member
        fit = ("idle throughout (every target 0" if not np.any(lstm.get("offset_", 1.0))
               else "constant throughout (every target repeating one count")
        whose = "ensemble's LSTM member" if member else "LSTM"
        forecast = "that member forecasts as its DLinear base" if member else "the forecast is its DLinear base's"
        return 1.0, (f"the {whose}'s correction was weighed on a fit {fit}; the correction 0 on every validation "
                     f"window): its network counts for nothing until a refit weighs it, and {forecast}, which rests "
                     f"on {n - idle} busy buckets of {n}")
    if not idle:
        return 0.0, None
    newest, freq = predictor.last_timestamp_, predictor.freq_
    return idle / n, idle_text(idle, n, newest - (n - 1 - first) * freq, newest - (n - 1 - last) * freq, run)


def stuck_runs(values: np.ndarray, runs: Any = None, previous: np.ndarray | None = None) -> tuple[int, ...]:
    """Per target, the buckets in a row that ``values`` (``(m, k)``) end with in which the target repeats the bucket
    before's count exactly, a count not 0 (a stuck sensor, or an exporter of some targets, resending its last
    counts; a run of zeros is no repeat: all-zero runs are :func:`idle_fit`'s). ``previous``: the bucket before
    ``values``, which ended the runs ``runs`` (one per target; an update, read in ``O(m)``); ``None``: a series of
    ``values`` alone (a fit)."""
    if previous is None:
        runs = (0,) * values.shape[1]
    elif len(values) == 1:  # the common update: one bucket
        row = values[0]
        grown = ((row == previous) & (row != 0)).tolist()
        return tuple(run + 1 if grow else 0 for run, grow in zip(runs, grown))
    else:
        values = np.concatenate([np.asarray(previous)[None], values])
    found = stuck_rows(values[None])[0].tolist()
    whole = len(values) - 1
    # A target that repeats in every bucket goes on with the run held before them.
    return tuple(run + seen if seen == whole else seen for run, seen in zip(runs, found))


def stuck_rows(values: np.ndarray) -> np.ndarray:
    """:func:`stuck_runs` of each row of ``values`` (``(B, n, k)``, keys of one length) as ``(B, k)``, in one pass
    over them."""
    width = values.shape[1] - 1
    if width < 1:
        return np.zeros((values.shape[0], values.shape[2]), dtype=np.int64)
    moved = (values[:, 1:] != values[:, :-1]) | (values[:, 1:] == 0)  # (B, n - 1, k): not a repeat
    since_moved = np.argmax(moved[:, ::-1], axis=1)  # the repeats after each target's newest moving bucket
    return np.where(moved.any(axis=1), since_moved, width).astype(np.int64)


#: The longest run a model file may hold (a count an update adds to, read as an int64).
_MAX_RUN = 2**53


def _is_count(value: Any) -> bool:
    """Whether ``value`` is a run: an int in ``[0, 2**53]``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value <= _MAX_RUN


def is_stuck_runs(runs: Any, values: np.ndarray) -> bool:
    """Whether ``runs`` is the :func:`stuck_runs` of the series ``values`` ends (``(n, k)``, its newest buckets): a
    tuple of one count >= 0 per target that the target's newest ``run + 2`` buckets agree with (all ``n`` repeating
    their first where it is longer)."""
    if not (isinstance(runs, tuple) and len(runs) == values.shape[1] and len(values)) or not all(map(_is_count, runs)):
        return False
    n = len(values)
    return all(stuck_runs(values[-(min(int(run), n) + 2):, j:j + 1])[0] == min(int(run), n - 1)
               for j, run in enumerate(runs))


def is_stuck_run(run: Any, values: np.ndarray) -> bool:
    """Whether ``run`` is the run every target of ``values`` (``(n, k)``) ends with, as a file saved before the runs
    were kept per target holds it (``stuck_run_`` an int): a count >= 0 that the newest ``run + 2`` buckets agree
    with, every target repeating the bucket before's count and not all 0 (all ``n`` where it is longer)."""
    if not _is_count(run) or len(values) == 0:
        return False
    n, run = len(values), int(run)
    tail = values[-(min(run, n) + 2):]
    repeat = np.all(tail[1:] == tail[:-1], axis=1) & np.any(tail[1:] != 0, axis=1)
    moved = np.flatnonzero(~repeat)
    return (len(repeat) - 1 - int(moved[-1]) if len(moved) else len(repeat)) == min(run, n - 1)


def held_runs(predictor: Any) -> tuple[int, ...]:
    """A predictor's ``stuck_run_`` (one run per target). A file saved before they were kept per target holds one
    run of every target (an int, checked at load): each target whose newest count is not 0 repeated it for at least
    that long. A file saved before any was kept: the runs its ``series_`` ends with (at most the buckets it keeps)."""
    runs = getattr(predictor, "stuck_run_", None)
    values = predictor.series_.values
    if isinstance(runs, tuple) and len(runs) == values.shape[1] and all(map(_is_count, runs)):
        return runs
    found = stuck_runs(values)
    if _is_count(runs) and runs:
        return tuple(max(seen, int(runs) if count else 0) for seen, count in zip(found, (values[-1] != 0).tolist()))
    return found


def stuck_text(runs: Any, counts: np.ndarray, targets: Any, newest: pd.Timestamp, freq: pd.Timedelta,
               held: int | None = None) -> str:
    """The ``stuck_input`` detail: the target(s) stuck longest, the counts they repeated in the newest buckets and
    since when; then any other target stuck for fewer buckets. ``runs``: one per target (:func:`stuck_runs`);
    ``held``: the buckets the holder keeps (a run of ``held - 1``: it may have begun before them)."""
    names = [str(name) for name in targets]
    run = max(runs)
    longest = [j for j, r in enumerate(runs) if r == run]
    shown = ", ".join(f"{quote(names[j])}={float(counts[j]):g}" for j in longest[:5])
    shown += ", ..." if len(longest) > 5 else ""
    since = newest - (run - 1) * freq
    longer = " (every bucket held: it may have begun before)" if held is not None and run >= held - 1 else ""
    if len(longest) == len(names):
        return (f"every target repeated the counts {shown} of bucket {(since - freq).isoformat()} exactly in each of "
                f"the newest {run} buckets, since {since.isoformat()}{longer}: a stuck sensor (an exporter resending "
                "its last counts)? The forecast follows the repeated counts; it clears at the first bucket that moves")
    shorter = sorted((j for j, r in enumerate(runs) if 0 < r < run), key=lambda j: -runs[j])
    others = "".join(f"; {quote(names[j])}={float(counts[j]):g} in the newest {runs[j]}, since "
                     f"{(newest - (runs[j] - 1) * freq).isoformat()}" for j in shorter[:5])
    others += "; ..." if len(shorter) > 5 else ""
    return (f"{len(longest)} of {len(names)} targets repeated their counts {shown} of bucket "
            f"{(since - freq).isoformat()} exactly in each of the newest {run} buckets, since {since.isoformat()}"
            f"{longer}{others}: a stuck sensor (an exporter of these targets resending its "
            "last counts)? Their forecasts follow the repeated counts; it clears when each of them moves")


def stuck_measure(runs: Any, counts: np.ndarray, targets: Any, newest: pd.Timestamp, freq: pd.Timedelta,
                  held: int | None = None) -> tuple[float, str | None]:
    """``stuck_input``'s value and detail from the runs per target (:func:`stuck_runs`): the longest, and
    :func:`stuck_text` where one is not 0."""
    run = max(runs, default=0)
    if not run:
        return 0.0, None
    return float(run), stuck_text(runs, counts, targets, newest, freq, held=held)


def stuck_input(predictor: Any) -> tuple[float | None, str | None]:
    """The buckets in a row, ending at the newest, in which a target repeats the bucket before's non-zero count
    exactly, the longest of the targets' runs (``stuck_run_``, one per target, kept by fit and every update), and the
    detail naming the stuck target(s), their counts and since when.

    A predictor loaded from a file saved before the runs were kept per target reads them as :func:`held_runs` does.
    A fleet key that holds no predictor passes its run and detail as ``stuck_input_`` (``None``: not measured)."""
    if hasattr(predictor, "stuck_input_"):
        return predictor.stuck_input_
    return stuck_measure(held_runs(predictor), predictor.series_.values[-1], predictor.targets_,
                         predictor.last_timestamp_, predictor.freq_)


def naive_error(values: np.ndarray, horizon: int) -> np.ndarray:
    """Per target, the mean absolute error of the naive forecast (the bucket before a window, repeated) on the
    windows of ``horizon`` buckets that tile ``values`` (``(..., n, k)``, time on axis -2) back from its newest bucket,
    one after the other (``(n - 1) // horizon`` of them; fewer buckets a window where ``n`` is short): the mean of
    ``|x[o + h] - x[o]|`` over ``h`` in 1..horizon and each window's origin ``o``, the bucket before it. One pass
    over the buckets. ``(..., k)``, 0 where fewer than two buckets are given."""
    n = values.shape[-2]
    steps = min(int(horizon), n - 1)
    if steps < 1:
        return np.zeros(values.shape[:-2] + values.shape[-1:])
    windows = (n - 1) // steps
    span = values[..., n - 1 - windows * steps:, :]  # the origin of the oldest window, then the windows
    origins = span[..., :-1:steps, :]  # (..., windows, k)
    ahead = span[..., 1:, :].reshape(span.shape[:-2] + (windows, steps, span.shape[-1]))
    return np.abs(ahead - origins[..., None, :]).mean(axis=(-3, -2))


def kept_length(model: Any, window: Any = None) -> int:
    """The buckets a predictor whose model is ``model`` (its window ``window``, default the model's) keeps
    (``WorkloadPredictor._kept_length``): the longer of its window, three horizons and ``anomaly.HISTORY_BUCKETS``;
    :func:`noise_scale`'s newest buckets."""
    return kept_buckets(model.context_length() if window is None else window, model.horizon)


def kept_buckets(window: int, horizon: int) -> int:
    """The longer of ``window``, three ``horizon`` and ``anomaly.HISTORY_BUCKETS``: the buckets a predictor keeps
    (:func:`kept_length`), which a fleet key without one is rated on alike."""
    return max(int(window), 3 * int(horizon), HISTORY_BUCKETS)


def held_scale(values: np.ndarray, kept: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``(..., k)`` each, of the held buckets ``values`` (``(..., n, k)``, time on axis -2): the larger naive forecast
    error of all of them and of their newest ``kept`` (:func:`naive_error`), and the level fall of their newest
    windows (:func:`level_fall`): what a fleet key's ``relative_error`` measures against."""
    return (np.maximum(naive_error(values, horizon), naive_error(values[..., -kept:, :], horizon)),
            np.asarray(level_fall(values, kept, horizon), dtype=np.float64))


def noise_scale(values: np.ndarray, kept: int, horizon: int, fitted: np.ndarray | None = None) -> np.ndarray:
    """``(2, k)``: per target, the naive forecast's error over ``horizon`` buckets (:func:`naive_error`) in a fit's
    series (row 0; ``fitted``: that row, carried from the fit by an update) and in the newest ``kept`` buckets of
    ``values`` (``(n, k)``; row 1). What :func:`relative_error` measures a model's validation error against.
    Both read as the model's forecast reads them: each burst the series came back from at its reference median, a
    counter's run from where its climb began (``values`` by :func:`settled_held`; a predictor's fit gives ``fitted``
    of its whole series by :func:`~workload_predictor.anomaly.settled_series`), so that a burst held does not inflate the error a degraded model
    is measured against."""
    scale = np.empty((2, values.shape[1]))
    scale[0] = naive_error(values, horizon) if fitted is None else fitted
    scale[1] = naive_error(values[-kept:], horizon)
    return scale


def settled_held(values: np.ndarray, flags: np.ndarray | None) -> np.ndarray:
    """The buckets ``values`` (``(n, k)``, the newest last) as a predictor's forecast and validation windows read
    them: each burst the series came back from, among the flagged buckets ``flags`` (a predictor's
    ``input_flags_``: rows of reference medians, NaN where not flagged, the newest last, at ``values``' newest),
    begun where a counter's climb into it began (:func:`~workload_predictor.anomaly.with_leads`), read as its
    reference median (:func:`~workload_predictor.anomaly.settled_runs`); a burst still going stands. ``values``
    itself (not a copy) when none lies among them."""
    if flags is None:
        return values
    return settled_series(values, flags_in(flags, min(len(flags), len(values)), len(values) - 1))


def held_values(predictor: Any) -> np.ndarray:
    """A predictor's kept buckets (``series_``) as its model reads them (:func:`settled_held` with its
    ``input_flags_``; a file saved before those were kept: with the input anomalies it recorded, as its forecast
    reads them)."""
    values = predictor.series_.values
    return settled_series(values, recorded_flags(vars(predictor), predictor.last_timestamp_, len(values), len(values) - 1))


#: How far :func:`level_fall` lets the level of the newest windows fall below the buckets' before it and still lower the
#: noise they are measured against (as its square root: to half the scale at a fall to a quarter). Below (a bursty
#: series' gap between bursts, an idle stretch) the newest windows are measured against half the scale.
LEVEL_FALL_FLOOR = 0.25


def level_fall(values: np.ndarray, kept: int, horizon: int) -> Any:
    """Per target, what a fall of the level lowers the naive forecast's error by in the newest ``horizon`` validation
    windows: the square root of the mean of the ``2 * horizon - 1`` buckets they read (the newest of ``values``,
    ``(..., n, k)``, time on axis -2) over the mean of the buckets before them among the newest ``kept``, clipped to
    ``[LEVEL_FALL_FLOOR, 1]`` (1: no fall, or no buckets before them, or none of them above 0). Counts' noise falls
    at least as the square root of their level falls (Poisson's); a model that has not followed the fall errs by the
    fall, measured against the noise at the level it fell to (see :func:`relative_measure`). ``(..., k)``; for one
    series (``(n, k)``) a list of ``k`` floats (a predictor's 1-3 targets: quicker in Python than in numpy)."""
    read = 2 * int(horizon) - 1
    held = values[..., -kept:, :]
    if held.shape[-2] <= read:
        ones = np.ones(values.shape[:-2] + values.shape[-1:])
        return ones.tolist() if values.ndim == 2 else ones
    share = (held.shape[-2] - read) / read
    if values.ndim == 2:
        newest, before = np.add.reduce(held[-read:]).tolist(), np.add.reduce(held[:-read]).tolist()
        return [math.sqrt(min(max(n * share / b, LEVEL_FALL_FLOOR), 1.0)) if b > 0 else 1.0
                for n, b in zip(newest, before)]
    newest, before = held[..., -read:, :].sum(axis=-2), held[..., :-read, :].sum(axis=-2)
    return np.where(before > 0, np.sqrt(np.clip(newest * share / np.where(before > 0, before, 1.0),
                                                LEVEL_FALL_FLOOR, 1.0)), 1.0)


def relative_measure(mae: Any, recent: Any, scale: Any, targets: Any, fall: Any = None) -> tuple[float, str]:
    """``relative_error``'s value and detail from the validation MAE per target (``mae``), the newest windows' (``recent``,
    ``None``: not kept) and the naive forecast's error over the buckets held (``scale``, the larger of
    :func:`noise_scale`'s rows; a target that never moved is measured against one unit), the newest windows' against
    ``fall`` times it (:func:`level_fall`; ``None``: 1): the largest ratio of the targets, and the detail naming that
    target's figures."""
    mae, scale = np.asarray(mae, dtype=np.float64).tolist(), np.asarray(scale, dtype=np.float64).tolist()
    recent = mae if recent is None else np.asarray(recent, dtype=np.float64).tolist()
    fall = [1.0] * len(mae) if fall is None else fall
    ratios = [max(m, r / f) / (c if c > 0 else 1.0) for m, r, c, f in zip(mae, recent, scale, fall)]
    j = max(range(len(ratios)), key=ratios.__getitem__) if len(ratios) > 1 else 0
    return ratios[j], relative_text(targets[j], mae[j], recent[j], ratios[j], scale[j], fall[j])


def relative_text(target: Any, mae: float, recent: float, ratio: float, scale: float, fall: float = 1.0) -> str:
    """The ``relative_error`` detail of the worst ``target``: its validation MAE, the newest windows' (``recent``), the
    ratio and the naive forecast's error it is measured against (``scale``; the newest windows' against ``fall`` times
    it where their level fell, :func:`level_fall`)."""
    fell = (f", against {fall:.2f}x that error: their level fell to {fall * fall:.2f}x the buckets' before"
            if fall < 1.0 and recent / fall > mae else "")
    return (f"{quote(str(target))}: validation error {mae:.4g} per bucket ({recent:.4g} in the newest windows{fell}), "
            f"{ratio:.2f}x the {scale:.4g} of repeating the last bucket (the naive forecast) over the buckets held")


def relative_error(predictor: Any) -> tuple[float | None, str | None]:
    """The model's validation error against what the data allows, the worst target's ratio and its detail
    (:func:`relative_measure`): the larger of the validation MAE (``validation_mae_``) and the newest ``horizon``
    validation windows' (``recent_mae_``), over the larger of the naive forecast's error over ``horizon`` buckets in
    the fitted series and in the newest buckets kept (``noise_scale_``, :func:`noise_scale`); the newest windows'
    over that error lowered as their level fell below the kept buckets' before them (:func:`level_fall`: a level
    drop the model has not followed is rated against the noise at the level it dropped to, as a rise is). Both read
    the buckets as the model reads them (:func:`held_values`): a burst held does not raise the error a model is
    measured against, nor the level its newest windows' is compared with.

    A predictor loaded from a file saved before these were kept reads its scale from the buckets it keeps (``series_``)
    and its validation MAE alone. A fleet key that holds no predictor passes its ratio and detail as ``relative_error_``
    (``None``: not measured)."""
    if hasattr(predictor, "relative_error_"):
        return predictor.relative_error_
    mae = getattr(predictor, "validation_mae_", None)
    if mae is None:
        return None, None
    scale, horizon = getattr(predictor, "noise_scale_", None), predictor.model_.horizon
    recent = getattr(predictor, "recent_mae_", None)
    held = held_values(predictor) if scale is None or recent is not None else None
    if scale is None:  # the buckets kept stand for the fit's and are the newest: one row
        largest = naive_error(held, horizon).tolist()
    else:
        low, high = scale.tolist()  # the fit's and the newest buckets'; tolist: a k of 1-3 in Python is quicker
        largest = list(map(max, low, high))
    fall = None if recent is None else level_fall(held, kept_length(predictor.model_, predictor.window_), horizon)
    return relative_measure(mae, recent, largest, predictor.targets_, fall)


def measure(predictor: Any, now: Any = None) -> dict[str, float | None]:
    """What a fitted predictor measured about itself (see the module docstring); ``stale_buckets`` only with ``now``.

    ``memory_mb`` is the predictor's own footprint (:func:`footprint_bytes`); the
    process's RSS, which includes whatever the host process holds, is reported
    beside it as ``process_rss_mb`` and raises no alert.
    """
    from ._memory import MB, rss_mb

    stale, stale_detail = stale_buckets(predictor, now)

    timings = list(getattr(predictor, "predict_seconds_", ()))
    anomalies, anomalies_detail = input_anomaly(predictor)
    idle, idle_detail = idle_fit(predictor)
    stuck, stuck_detail = stuck_input(predictor)
    relative, relative_detail = relative_error(predictor)
    return {
        "input_anomaly": anomalies,
        "input_anomaly_detail": anomalies_detail,
        "training_seconds": float(predictor.fit_seconds_),
        "training_seconds_detail": time_limited(getattr(predictor, "time_limited_stages_", ()),
                                                getattr(predictor, "max_training_time", None)),
        "prediction_seconds": float(np.percentile(timings, 95)) if timings else None,
        "memory_mb": footprint_bytes(predictor) / MB,
        "process_rss_mb": rss_mb(),
        "accuracy": float(predictor.confidence_),
        "relative_error": relative,
        "relative_error_detail": relative_detail,
        "stale_buckets": stale,
        "stale_buckets_detail": stale_detail,
        "idle_fit": idle,
        "idle_fit_detail": idle_detail,
        "stuck_input": stuck,
        "stuck_input_detail": stuck_detail,
    }


#: The metrics a fleet reports per key: what every key has, whatever holds it.
FLEET_METRICS = ("accuracy", "relative_error", "input_anomaly", "stale_buckets", "idle_fit", "stuck_input")
#: The fleet metrics whose alert names a detail (kept per key in the health frame's ``attrs``).
_FLEET_DETAILS = ("relative_error", "idle_fit", "stuck_input")


def fleet_health(keys: list[tuple[Any, Any, str | None]], horizon: int, thresholds: Mapping[str, Any] | None,
                 now: Any, key_name: Any) -> pd.DataFrame:
    """The per-key health of a fleet (:meth:`FleetPredictor.health
    <workload_predictor.fleet.FleetPredictor.health>`) from ``keys``: ``(key, state, update error)``, ``state``
    anything with ``last_timestamp_``, ``freq_`` and ``confidence_`` (and, where recorded, the input anomalies
    a predictor keeps), and either a predictor's ``series_`` and ``window_`` or ``idle_fit_`` (:func:`idle_fit`)."""
    limits = fleet_thresholds(thresholds, horizon)
    now = None if now is None else now_instant(now)  # read once, for every key
    rows, details = [], {metric: {} for metric in _FLEET_DETAILS}
    for name, state, _ in keys:
        anomalies, _ = input_anomaly(state)
        stale, _ = stale_buckets(state, now)
        idle, idle_detail = idle_fit(state)
        stuck, stuck_detail = stuck_input(state)
        relative, relative_detail = relative_error(state)
        # The fleet's metrics alone (measured from state checked at fit, update or load), against their thresholds
        # checked once above: the report's level is theirs.
        report = rated({"accuracy": float(state.confidence_), "relative_error": relative, "input_anomaly": anomalies,
                        "stale_buckets": stale, "idle_fit": idle, "stuck_input": stuck}, limits)
        for metric, detail in zip(_FLEET_DETAILS, (relative_detail, idle_detail, stuck_detail)):
            if detail:
                details[metric][name] = detail
        row = {"key": name, "level": report["level"]}
        for metric in FLEET_METRICS:
            row[metric], row[f"{metric}_level"] = report["metrics"][metric]["value"], report["metrics"][metric]["level"]
        rows.append(row)
    columns = ["key", "level", *itertools.chain.from_iterable((m, f"{m}_level") for m in FLEET_METRICS)]
    frame = pd.DataFrame(rows, columns=columns).set_index("key").astype({metric: "float64" for metric in FLEET_METRICS})
    frame.index.name = key_name
    frame["update_error"] = pd.Series([error for _, _, error in keys], index=frame.index, dtype=object)
    for metric in _FLEET_DETAILS:  # what check_alerts names beside a key's metric
        frame.attrs[f"{metric}_detail"] = details[metric]
    return frame


def fleet_thresholds(thresholds: Mapping[str, Any] | None, horizon: int) -> dict[str, tuple[float, float]]:
    """The thresholds of :data:`FLEET_METRICS`: the defaults, ``stale_buckets``'s at ``(min(2, horizon), horizon)``
    as a predictor's, and ``thresholds`` over them (checked as a predictor's; another metric is refused)."""
    if thresholds is not None and not isinstance(thresholds, Mapping):
        _thresholds(thresholds)  # its typed error
    unknown = sorted(set(thresholds or {}) - set(FLEET_METRICS), key=str)
    misspelt = [metric for metric in unknown if metric not in DEFAULT_THRESHOLDS]
    if misspelt:  # no metric at all (a predictor's are named below)
        close = difflib.get_close_matches(str(misspelt[0]), FLEET_METRICS, n=1)
        raise WorkloadDataError(f"unknown health metric {quote(misspelt[0])}; a fleet reports "
                                f"{', '.join(FLEET_METRICS)} per key." + (f" Did you mean {close[0]!r}?" if close else ""))
    if unknown:
        raise WorkloadDataError(f"thresholds for {quote(unknown)}: a fleet reports {', '.join(FLEET_METRICS)} per key "
                                "(a key's own WorkloadPredictor reports the others).")
    limits = _thresholds({"stale_buckets": stale_thresholds(horizon), **(thresholds or {})})
    return {metric: limits[metric] for metric in FLEET_METRICS}


def log_fleet_alerts(frame: pd.DataFrame, limits: Mapping[str, tuple[float, float]]) -> list[dict[str, Any]]:
    """Log every key's metric at warning (``WARNING``) or critical (``ERROR``) level against ``limits``
    (:func:`fleet_thresholds`); return them as dicts with the key."""
    alerts = []
    for name, row in frame.iterrows():
        report = {"metrics": {metric: {"value": float(row[metric]), "level": row[f"{metric}_level"],
                                       **dict(zip(("warning", "critical"), limits[metric] or (None, None)))}
                              for metric in FLEET_METRICS}}
        for metric in _FLEET_DETAILS:
            detail = frame.attrs.get(f"{metric}_detail", {}).get(name)
            if detail:
                report["metrics"][metric]["detail"] = detail
        alerts.extend({"key": name, **alert} for alert in log_alerts(report, prefix=f"key {quote(str(name))}: "))
    return alerts
