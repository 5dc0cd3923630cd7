"""Rolling-origin backtest: how well does each model forecast data it has not seen?

The protocol (expanding window, as in Hyndman & Athanasopoulos, *Forecasting:
Principles and Practice*, section 5.10):

* the last ``test_size`` buckets of the series are the test span; a forecast origin
  is placed every ``stride`` buckets in it (each origin's full horizon lies in the data);
* every ``refit_every`` buckets of the test span, each model is refitted on all data
  before that point (the window expands), calibrating its interval and confidence on
  its own validation tail exactly as ``WorkloadPredictor.fit`` does;
* between refits, the fitted model forecasts each origin from the data before it
  (never after: no leakage);
* the errors of all origins and horizon steps are pooled into one row per model and
  target, next to the same numbers for the baselines naive (last value), seasonal
  naive and moving average.

The metric functions are pure and documented one by one below.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ._memory import MB, check_limit, check_memory, memory_limit, rss_mb
from ._progress import progress_bar
from .confidence import interval, wape
from .data import BucketedSeries, prepare_series
from .errors import MemoryLimitError, WorkloadDataError, is_integer, is_number, is_positive_int, plural, quote
from .models import registry
from .windows import targets_at

log = logging.getLogger(__name__)

# The baselines scored by default: the registered ones (naive, seasonal naive, moving average, moving median).
BASELINES = registry.names(baseline=True)


# -- metrics: pure functions of arrays -------------------------------------------------------
def mae(actual: Any, forecast: Any) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))))


def rmse(actual: Any, forecast: Any) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(actual, float) - np.asarray(forecast, float)) ** 2)))


def smape(actual: Any, forecast: Any) -> float:
    """Symmetric MAPE as a fraction in ``[0, 2]``: mean of ``2|a - f| / (|a| + |f|)``.

    A point where actual and forecast are both 0 is a perfect forecast and counts 0
    (empty buckets are common in bursty traces, so they must not give 0/0).
    """
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    denominator = np.abs(a) + np.abs(f)
    ratio = np.divide(2.0 * np.abs(a - f), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(np.mean(ratio))


def bias(actual: Any, forecast: Any) -> float:
    """Signed error relative to the load: ``sum(forecast - actual) / sum|actual|`` (WAPE with signs).

    Positive: the forecasts over-estimate the total load; negative: they under-estimate it,
    which an autoscaler pays for in missed capacity. Magnitude metrics cannot tell: on a
    bursty series whose buckets are mostly empty, a forecast of zero can beat every model in
    MAE, and its bias is -1. An all-zero ``actual`` gives 0 for an exact forecast, else
    infinity with the error's sign.
    """
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    error, load = float(np.sum(f - a)), float(np.sum(np.abs(a)))
    if load == 0.0:
        return 0.0 if error == 0.0 else math.copysign(math.inf, error)
    return error / load


def naive_scale(history: Any, season: int = 1) -> float:
    """MASE's scale: the in-sample MAE of the (seasonal) naive one-step forecast on ``history``."""
    y = np.asarray(history, float)
    if len(y) <= season:
        raise WorkloadDataError(f"MASE needs more than {plural(season, 'history point')}, got {len(y)}.")
    return float(np.mean(np.abs(y[season:] - y[:-season])))


def mase(actual: Any, forecast: Any, scale: float) -> float:
    """Mean absolute scaled error: ``MAE / scale`` (Hyndman & Koehler, 2006); < 1 beats the in-sample naive.

    A zero scale (a constant history) gives 0 for an exact forecast and infinity otherwise.
    """
    error = mae(actual, forecast)
    if scale == 0.0:
        return 0.0 if error == 0.0 else math.inf
    return error / scale


def coverage(actual: Any, lower: Any, upper: Any) -> float:
    """Share of actual values inside ``[lower, upper]`` (bounds included)."""
    a = np.asarray(actual, float)
    return float(np.mean((np.asarray(lower, float) <= a) & (a <= np.asarray(upper, float))))


def interval_width(lower: Any, upper: Any) -> float:
    """Mean width ``upper - lower`` of the prediction intervals."""
    return float(np.mean(np.asarray(upper, float) - np.asarray(lower, float)))


def interval_score(actual: Any, lower: Any, upper: Any, level: float) -> float:
    """Mean interval score at ``level`` (Winkler 1972; Gneiting & Raftery 2007): lower is better.

    Each interval scores its width plus ``2 / (1 - level)`` times how far the actual
    value falls outside it, so it judges width and coverage together: a narrow interval
    that misses pays for the miss, a wide one pays for its width.
    """
    if not 0.0 < level < 1.0:
        raise WorkloadDataError(f"level={level!r} must be a coverage in (0, 1), e.g. 0.9.")
    a, lo, up = (np.asarray(x, float) for x in (actual, lower, upper))
    penalty = 2.0 / (1.0 - level)
    return float(np.mean(up - lo + penalty * (np.maximum(lo - a, 0.0) + np.maximum(a - up, 0.0))))


# -- the protocol ----------------------------------------------------------------------------
def default_season_length(freq: pd.Timedelta, n_train: int) -> int:
    """The seasonal-naive period in buckets: the longest of a day, an hour or a minute that the
    training data holds at least three times and that spans at least two buckets (else 1)."""
    for period in (pd.Timedelta(days=1), pd.Timedelta(hours=1), pd.Timedelta(minutes=1)):
        buckets = int(period // freq)
        if buckets >= 2 and 3 * buckets <= n_train:
            return buckets
    return 1


#: Training buckets the test span must leave before its first origin: MASE's scale is the naive one-step error on them.
MIN_TRAINING_BUCKETS = 2


def backtest_origins(n: int, horizon: int, test_size: float | int, stride: int) -> np.ndarray:
    """Forecast origins of the test span: every ``stride`` buckets from ``n - test_size`` on,
    each with its whole horizon inside the series."""
    _check_test_size(test_size)
    span = int(round(test_size * n)) if 0 < test_size < 1 else int(test_size)
    if span < horizon or span >= n:
        most = n - MIN_TRAINING_BUCKETS
        fix = (f"pass test_size={horizon} to {most} buckets" if horizon < most else
               f"pass test_size={horizon}" if horizon == most else
               f"the series is too short for horizon {horizon}: pass horizon={most} or less, or a longer series"
               if most >= 1 else "the series is too short for a backtest: pass a longer series")
        raise WorkloadDataError(
            f"test_size={quote(test_size)} gives a test span of {plural(span, 'bucket')}; it must hold at least one "
            f"horizon ({horizon}) and leave training data (the series has {plural(n, 'bucket')}): {fix}."
        )
    if n - span < MIN_TRAINING_BUCKETS:
        raise WorkloadDataError(
            f"test_size={quote(test_size)} gives a test span of {plural(span, 'bucket')}, which leaves "
            f"{plural(n - span, 'training bucket')} of the series' {n}; the first fit needs at least "
            f"{MIN_TRAINING_BUCKETS} (MASE scales the errors by the naive forecast's on them): pass "
            f"test_size={n - MIN_TRAINING_BUCKETS} or less."
        )
    if not is_positive_int(stride):
        raise WorkloadDataError(f"stride={quote(stride)} must be a positive integer number of buckets.")
    # A stride past the series gives the first origin alone; np.arange would make an object array of a huge one.
    return np.arange(n - span, n - horizon + 1, min(int(stride), n))


def _check_test_size(test_size: Any) -> None:
    """Raise :class:`WorkloadDataError` unless ``test_size`` is a fraction in (0, 1) or a whole number of buckets
    (``50.7`` is neither: it is not cut to 50)."""
    if not is_number(test_size) or not (is_integer(test_size) or math.isfinite(test_size)) \
            or (test_size >= 1 and test_size != int(test_size)):  # an int is finite, even one beyond float's range
        raise WorkloadDataError(f"test_size={quote(test_size)} must be a fraction in (0, 1) or a whole number of "
                                f"buckets, e.g. 0.25 or 500.")


def refit_points(origins: np.ndarray, refit_every: int | None) -> np.ndarray:
    """Points at which the models are refitted: the first origin, then every ``refit_every`` buckets.

    Each origin is forecast by the newest refit at or before it (its training data ends there), so a grid
    point that is the newest for no origin is skipped: with ``refit_every`` smaller than the stride, the
    refits are the newest grid points before each origin, never an older one. ``None`` refits three times
    over the test span (at each origin where it has fewer than three; twice where it has four consecutive ones,
    stride 1, which no even cadence refits three times).
    """
    first, last = int(origins[0]), int(origins[-1])
    if refit_every is None:
        refit_every = max(1, math.ceil((last - first + 1) / 3))
    if not is_positive_int(refit_every):
        raise WorkloadDataError(f"refit_every={quote(refit_every)} must be a positive integer number of buckets.")
    if refit_every > last - first:  # one refit (also keeps np.arange small for a huge refit_every)
        return np.array([first], dtype=np.int64)
    # The newest grid point first + i * refit_every at or before each origin (no grid is allocated).
    steps = (np.asarray(origins, dtype=np.int64) - first) // int(refit_every)
    return first + np.unique(steps) * int(refit_every)


@dataclass
class BacktestResult:
    """The pooled table, the MAE by horizon step, and the raw forecasts of each model."""

    table: pd.DataFrame
    by_step: pd.DataFrame  # index: step 1..H; columns: (model, target) MAE
    origins: np.ndarray
    refits: np.ndarray
    actual: np.ndarray  # (origins, H, k)
    forecasts: dict[str, dict[str, np.ndarray]]  # model -> {"yhat", "lower", "upper"}: (origins, H, k)


def _entries(value: Any, argument: str) -> list[Any]:
    """``models`` or ``baselines`` as a list: a lone name or template is a list of one (a string is not
    read letter by letter)."""
    from .predictor import WorkloadPredictor

    if isinstance(value, (str, WorkloadPredictor)):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise WorkloadDataError(f"{argument}={quote(value)} must be a list of registered model names or "
                                "WorkloadPredictor templates, e.g. ['dlinear'].") from None


def _check_buckets(name: str, value: Any, fix: str) -> None:
    """Raise :class:`WorkloadDataError` unless the backtest's setting ``name`` is a positive integer number of
    buckets; ``fix`` ends the message."""
    if not is_positive_int(value):
        raise WorkloadDataError(f"{name}={quote(value)} must be a positive integer number of buckets, {fix}.")


def _check_options(params: dict[str, Any]) -> None:
    """Raise :class:`WorkloadDataError` naming any of ``params`` that neither the backtest nor
    ``WorkloadPredictor`` takes (``model`` too: the backtest's models are ``models``)."""
    from .predictor import WorkloadPredictor

    own = [name for name, p in inspect.signature(run_backtest).parameters.items() if p.kind is p.KEYWORD_ONLY]
    valid = own + [name for name in WorkloadPredictor._param_names() if name not in own and name != "model"]
    unknown = [name for name in params if name not in valid]
    if unknown:
        raise WorkloadDataError(f"backtest has no option {', '.join(quote(name) for name in unknown)}; its options are "
                                f"{', '.join(valid)} (the models to score go in models=).")


def _template(model: Any, params: dict[str, Any]):
    from .predictor import WorkloadPredictor

    if isinstance(model, WorkloadPredictor):
        return model.model, model.get_params()
    if not isinstance(model, str) or model not in registry.names():
        raise WorkloadDataError(
            f"model {quote(model)} is unknown; choose from {', '.join(registry.names())} or pass a WorkloadPredictor."
        )
    return model, dict(params, model=model)


def _check_level(level: Any, owner: str = "", note: str = "") -> None:
    """Raise :class:`WorkloadDataError` unless ``level`` is a coverage in (0, 1) (numpy numbers too; ``True`` is
    none); ``owner`` says whose level it is (a template's), ``note`` follows the value."""
    if not is_number(level) or not 0.0 < level < 1.0:  # NaN fails the comparison: refused too
        raise WorkloadDataError(f"{owner}level={quote(level)}{note} must be a coverage in (0, 1), e.g. 0.9.")


#: Arrays of ``origins x horizon x targets`` floats the backtest holds besides the kept forecasts: the actual
#: values and the transients of a model's run (its half-widths, the forecasts before clipping, the gather's
#: index, the metrics' temporaries).
_TRANSIENT_ARRAYS = 4
#: Arrays kept per model: its forecasts, lower and upper bounds.
_KEPT_ARRAYS = 3


def _memory_limit_of(specs: list[tuple[str, dict[str, Any], str | None]]) -> float | None:
    """The backtest's memory limit: the smallest ``memory_limit_mb`` of its models and baselines (each checked);
    ``None`` (no limit) only when every one of them is ``None``."""
    from .predictor import WorkloadPredictor

    default = inspect.signature(WorkloadPredictor.__init__).parameters["memory_limit_mb"].default
    limits = []
    for _, spec, _ in specs:
        value = spec.get("memory_limit_mb", default)
        check_limit(value)
        if value is not None:
            limits.append(value)
    return min(limits) if limits else None


def _check_forecast_memory(step: str, extra_bytes: float, start_mb: float, limit: float | None, shape: str) -> None:
    """Raise :class:`MemoryLimitError` (naming the backtest's settings that size it) before the backtest allocates
    ``extra_bytes`` for ``step`` if that would take it over ``limit`` (MiB added since ``start_mb``) or beyond the
    machine's available memory."""
    fix = ("Pass a larger stride= (fewer origins), a smaller test_size=, a smaller horizon= or fewer models and "
           "baselines, or raise memory_limit_mb (the smallest of the models' and baselines' applies; None on all of "
           "them disables the check).")
    growth = rss_mb() - start_mb
    if limit is not None and growth + extra_bytes / MB > limit:
        already = f" on top of the {growth:.0f} MiB it has added" if growth >= 1 else ""
        raise MemoryLimitError(f"the backtest would allocate {extra_bytes / MB:.0f} MiB for {step} ({shape}){already}, "
                               f"over memory_limit_mb={quote(limit)}. {fix}")
    try:
        check_memory(f"backtest: {step}", extra_bytes=extra_bytes)
    except MemoryLimitError as error:
        raise MemoryLimitError(f"the backtest would allocate {extra_bytes / MB:.0f} MiB for {step} ({shape}), more "
                               f"than this process may ({error}). {fix}") from None


def _in_backtest(error: WorkloadDataError, message: str) -> WorkloadDataError:
    """``error`` (a model's: its type kept) with ``message`` saying where in the backtest it arose."""
    return type(error)(message)


def _check_first_refit(name: str, spec: dict[str, Any], option: str | None, point: int, n: int,
                       test_size: Any, horizon: int) -> None:
    """Build the model of ``spec`` and check that the first refit's ``point`` buckets are enough to fit it, before
    any model is fitted; the error names the backtest's settings (``option``: the backtest's setting that gives a
    baseline named in ``baselines`` its window). A combining model (the ensemble) is checked as its fit checks
    itself: by the member that needs the longest series (``Ensemble.widest_member``)."""
    from .predictor import WorkloadPredictor

    combines = registry.get(name).combines
    checked = None  # the model whose length is checked: the model itself, or a combining model's widest member
    try:
        model = WorkloadPredictor(**spec)._build_model()
        checked = model.widest_member(point) if combines else model
        checked._check_length(point)
    except WorkloadDataError as error:
        hint = ""
        try:
            needed = checked.minimum_length() if checked is not None else None
            if needed is not None and combines and not model.widest_member(needed)._length_suffices(needed):
                needed = None  # a member left out at the first refit's length would need more: no figure to give
            if needed is not None and needed > point and n - needed >= horizon:
                hint = f": test_size={n - needed} or less gives it the {needed} it needs"
        except WorkloadDataError:  # the model cannot say (e.g. a window longer than any series): the error says why
            pass
        window = (f" Here the {name} baseline's window is the backtest's {option}={quote(spec.get('window'))}: "
                  f"pass a smaller {option}= rather than window=." if option else "")
        raise _in_backtest(error, f"backtest: {name} cannot be fitted at the first refit, on the "
                                  f"{plural(point, 'bucket')} before the test span (the series has {n}; "
                                  f"test_size={quote(test_size)}{hint}): {error}{window}") from error


def run_backtest(
    data: pd.DataFrame | pd.Series | BucketedSeries,
    models: Sequence[Any] = ("dlinear", "lstm", "ensemble"),
    baselines: Sequence[str] = BASELINES,
    *,
    horizon: int | None = None,
    level: float | None = None,
    timestamp: str | None = "timestamp",
    target: str | Sequence[str] = "requests",
    freq: Any = None,
    unit: str | None = None,
    origin: Any = None,
    test_size: float | int = 0.25,
    stride: int = 1,
    refit_every: int | None = None,
    season_length: int | None = None,
    moving_average_window: int = 12,
    random_state: int | None = 0,
    verbose: bool | None = None,
    **params: Any,
) -> BacktestResult:
    """Rolling-origin backtest (expanding window) of ``models`` against ``baselines`` on one series.

    Parameters
    ----------
    data : DataFrame, Series or BucketedSeries
        A bucketed series, as for :meth:`WorkloadPredictor.fit` (a request log goes
        through :func:`workload_predictor.bucketize` first).
    models : sequence of str or WorkloadPredictor
        Models to score: registered names (``"dlinear"``, ``"lstm"``, ``"ensemble"``, ...; see
        :mod:`workload_predictor.models.registry`) built with ``params``, or unfitted
        ``WorkloadPredictor`` templates used with their own settings. A single name or
        template is a list of one.
    baselines : sequence of str
        Registered names scored after the models, by default the registered baselines:
        ``"naive"`` (last value), ``"seasonal_naive"`` (the value one season earlier),
        ``"moving_average"`` (mean of the last ``moving_average_window``) and ``"moving_median"``
        (median of the last values, the window chosen on the training part). A single name is a
        list of one; ``models`` and ``baselines`` may not both be empty. A baseline takes its
        window from ``season_length`` or ``moving_average_window``, never ``model_params``.
    horizon, level :
        Forecast horizon (buckets) and interval level; ``None`` takes those of the first
        ``WorkloadPredictor`` template (``backtest(data, [predictor])`` scores a predictor's
        settings), else 10 and 0.9. ``level`` applies to the named models and the baselines; a
        template keeps its own level, and each row's ``interval_score`` is at the level of its
        model (the table's ``level`` column). A template whose horizon differs is refused.
    timestamp, target, freq, unit, origin :
        How ``data`` is read, as :meth:`WorkloadPredictor.fit` reads it (a ``BucketedSeries`` is used as it is).
    test_size : float or int
        The test span: a fraction of the series (default the last quarter) or a number of buckets.
    stride : int
        Buckets between forecast origins in the test span (1: every bucket is an origin).
    refit_every : int or None
        Buckets of the test span between refits (the refit cadence); ``None`` refits three times (twice
        where the test span holds four consecutive origins, stride 1, which no even cadence refits three times).
        Each origin is forecast by the newest refit at or before it.
    season_length : int or None
        The seasonal-naive period in buckets (a positive integer); ``None`` takes the longest
        of a day, an hour or a minute that the training data holds three times.
    moving_average_window : int
        The moving average's window in buckets (a positive integer).
    random_state : int or None
        Seed for the LSTM members (default 0: reproducible tables).
    verbose : bool or None
        A progress bar over the fits: ``None`` on a terminal only, ``False`` never.
    **params :
        Further ``WorkloadPredictor`` parameters for the named models (e.g. ``n_threads``, or
        ``model_params``, which then applies to each of them, not to the baselines; give models that
        need different ``model_params`` as ``WorkloadPredictor`` templates). Any other name raises
        :class:`~workload_predictor.errors.WorkloadDataError` listing the valid options.
        ``memory_limit_mb`` also bounds the backtest's own arrays (the actual values and every model's
        forecasts, ``origins x horizon x targets`` each): the smallest ``memory_limit_mb`` of the models
        and baselines applies, checked before they are allocated.

    Returns
    -------
    BacktestResult
        ``table`` (see :func:`backtest`), ``by_step`` (MAE per horizon step, model and target),
        the origins and refit points, and the actual values and forecasts of every model.

    Raises
    ------
    WorkloadDataError
        A bad argument or template setting (checked before the series is read), a series too short
        for a model's first refit (checked before any fit), or a model's fit failing at a refit (the
        message names the model and the refit).
    MemoryLimitError
        The backtest's arrays would exceed the memory limit (see ``**params``), before they are allocated.
    """
    # The arguments are checked before any work (the series, the fits).
    _check_options(params)
    models, baselines = _entries(models, "models"), _entries(baselines, "baselines")
    if not models and not baselines:
        raise WorkloadDataError("models and baselines are both empty: there is nothing to evaluate; name at least one "
                                "model or baseline, e.g. models=['dlinear'].")
    if season_length is not None:
        _check_buckets("season_length", season_length, "e.g. 60, or None for a calendar period the data repeats")
    _check_buckets("moving_average_window", moving_average_window, "e.g. 12")
    templates = [model for model in models if not isinstance(model, str)]
    fix = "e.g. 10"
    if horizon is None:
        horizon = getattr(templates[0], "horizon", 10) if templates else 10
        fix = "e.g. 10: the first template's horizon, which the backtest takes when horizon=None"
    _check_buckets("horizon", horizon, fix)
    horizon = int(horizon)
    _check_test_size(test_size)
    if level is None and templates:
        level = getattr(templates[0], "level", 0.9)
        _check_level(level, f"the {quote(getattr(templates[0], 'model', templates[0]))} template's ",
                     " (the backtest takes the first template's level when level=None)")
    level = 0.9 if level is None else level
    _check_level(level)
    # verbose=False: one bar for the whole backtest, not one per LSTM fit.
    common = dict(params, horizon=horizon, level=level, random_state=random_state, verbose=False)
    # A baseline named in ``baselines`` has no model_params of its own: those of ``params`` are the named models'.
    baseline_common = {key: value for key, value in common.items() if key != "model_params"}
    # (name, WorkloadPredictor parameters, the backtest's setting that gives it its window, if any)
    specs: list[tuple[str, dict[str, Any], str | None]] = []
    kinds: dict[str, str] = {}  # name -> the list it was named in: "model" or "baseline"
    for position, model in enumerate(list(models) + list(baselines)):
        listed_baseline = position >= len(models)
        name, spec = _template(model, baseline_common if listed_baseline else common)
        if spec["horizon"] != horizon:
            raise WorkloadDataError(f"the {name} template has horizon={quote(spec['horizon'])}, the backtest "
                                    f"horizon={horizon}; pass horizon={quote(spec['horizon'])} or a template with "
                                    f"horizon={horizon}.")
        if not isinstance(model, str):
            _check_level(spec["level"], f"the {name} template's ")
        entry = registry.get(name)
        option = None  # the backtest's setting that gives a named baseline its window (the season: set below)
        if entry.baseline and isinstance(model, str):
            option = "season_length" if entry.window_param == "season_length" else \
                "moving_average_window" if entry.window_param is not None else None
            spec["window"] = moving_average_window if option == "moving_average_window" else None
        if any(name == seen for seen, _, _ in specs):
            if listed_baseline and entry.baseline:
                continue  # a baseline already scored as one of the models (e.g. a naive predictor as a template)
            raise WorkloadDataError(f"{quote(name)} is listed twice among the models; name it once.")
        if spec.get("model_params") is not None:
            try:
                registry.check_params(entry, spec["model_params"])
            except WorkloadDataError as error:
                shared = (" In a backtest, model_params= applies to every named model: give models that need "
                          "different model_params as WorkloadPredictor templates." if isinstance(model, str) else "")
                raise _in_backtest(error, f"{error}{shared}") from error
        specs.append((name, spec, option))
        kinds[name] = "baseline" if listed_baseline else "model"
    limit = _memory_limit_of(specs)

    series = data if isinstance(data, BucketedSeries) else prepare_series(
        data, timestamp=timestamp, target=target, freq=freq, unit=unit, origin=origin)
    n, k = series.values.shape
    try:
        origins = backtest_origins(n, horizon, test_size, stride)
    except WorkloadDataError as bad_span:
        # Its advice (a test size from one horizon up) holds only if the models fit on what the shortest test span
        # leaves: where one cannot, the horizon is what to change.
        if n - horizon >= MIN_TRAINING_BUCKETS:
            for name, spec, option in specs:
                try:
                    _check_first_refit(name, spec, option, n - horizon, n, horizon, horizon)
                except WorkloadDataError as error:
                    raise _in_backtest(error, f"the horizon ({horizon}) is too long for this series whatever the test "
                                              f"size: {error}") from bad_span
        raise
    refits = refit_points(origins, refit_every)
    season = season_length if season_length is not None else default_season_length(series.freq, int(origins[0]))
    for _, spec, option in specs:
        if option == "season_length":
            spec["window"] = season
    # Every model's first refit is long enough, before the first fit.
    for name, spec, option in specs:
        _check_first_refit(name, spec, option, int(refits[0]), n, test_size, horizon)

    cells = len(origins) * horizon * k
    shape = (f"{plural(len(origins), 'origin')} x horizon {horizon} x {plural(k, 'target')}, "
             f"{len(specs)} {'models and baselines' if len(specs) > 1 else 'model'}, 8 bytes each")
    with memory_limit(limit) as watch:
        _check_forecast_memory("the actual values and forecasts", 8.0 * cells * (_TRANSIENT_ARRAYS + _KEPT_ARRAYS
                                                                                 * len(specs)),
                               watch.start_mb, limit, shape)
        actual = targets_at(series.values, origins, horizon)  # (origins, H, k)
        scale = [naive_scale(series.values[: origins[0], j]) for j in range(k)]
        rows, by_step, forecasts = [], {}, {}
        with progress_bar(len(specs) * len(refits), "backtest", verbose, unit="fit") as bar:
            for name, spec, _ in specs:
                bar.set_description(f"backtest {name}")
                # What this model's run allocates, counted with what the backtest has added so far.
                _check_forecast_memory(f"{name}'s forecasts", 8.0 * cells * (_TRANSIENT_ARRAYS - 1 + _KEPT_ARRAYS),
                                       watch.start_mb, limit, shape)
                result = _run_one(series, name, spec, origins, refits, bar)
                forecasts[name] = {key: result[key] for key in ("yhat", "lower", "upper")}
                row_level = spec["level"]  # a template's own level: the one its interval was calibrated at
                for j, target_name in enumerate(series.targets):
                    a = actual[..., j]
                    yhat, lower, upper = (result[key][..., j] for key in ("yhat", "lower", "upper"))
                    rows.append({
                        "model": name, "target": target_name,
                        "kind": kinds[name],
                        "mae": mae(a, yhat), "rmse": rmse(a, yhat), "smape": smape(a, yhat), "wape": wape(a, yhat),
                        "bias": bias(a, yhat),
                        "mase": mase(a, yhat, scale[j]), "level": float(row_level),
                        "coverage": coverage(a, lower, upper),
                        "interval_width": interval_width(lower, upper),
                        "interval_score": interval_score(a, lower, upper, float(row_level)),
                        "confidence": float(np.mean(result["confidence"][:, j])),
                        "fit_seconds": float(np.mean(result["fit_seconds"])),
                        "predict_ms": float(np.median(result["predict_seconds"])) * 1e3,
                        "n_origins": len(origins), "n_refits": len(refits),
                        "combination": result["combination"],
                    })
                    by_step[(name, target_name)] = np.abs(a - yhat).mean(axis=0)
    table = pd.DataFrame(rows)
    steps = pd.DataFrame(by_step, index=pd.RangeIndex(1, horizon + 1, name="step"))
    steps.columns.names = ["model", "target"]
    return BacktestResult(table=table, by_step=steps, origins=origins, refits=refits, actual=actual,
                          forecasts=forecasts)


def _run_one(series: BucketedSeries, name: str, spec: dict[str, Any], origins: np.ndarray, refits: np.ndarray,
             bar: Any) -> dict:
    """Fit at each refit point on the data before it, forecast the origins up to the next refit."""
    from .predictor import WorkloadPredictor

    n_origins, horizon, k = len(origins), spec["horizon"], series.values.shape[1]
    yhat = np.empty((n_origins, horizon, k))
    halfwidth = np.empty_like(yhat)
    confidence, fit_seconds, predict_seconds, combinations = [], [], [], []
    bounds = np.searchsorted(origins, refits, side="left").tolist() + [n_origins]
    for point, first, stop in zip(refits, bounds[:-1], bounds[1:]):
        train = pd.DataFrame(series.values[:point], index=series.index[:point], columns=list(series.targets))
        predictor = WorkloadPredictor(**spec)
        started = time.perf_counter()
        try:
            predictor.fit(train, timestamp=None, target=list(series.targets), freq=series.freq)
        except WorkloadDataError as error:
            raise _in_backtest(error, f"backtest: {name} failed at the refit on the {plural(point, 'bucket')} "
                                      f"before bucket {point} (of the series' {len(series.values)}): "
                                      f"{error}") from error
        fit_seconds.append(time.perf_counter() - started)
        started = time.perf_counter()
        predictor.predict()
        predict_seconds.append(time.perf_counter() - started)
        # The fitted model reads only the points before each origin (as predict would read them there).
        yhat[first:stop] = np.clip(predictor._forecasts_at(series.values, origins[first:stop]), 0.0, None)
        halfwidth[first:stop] = predictor.interval_halfwidth_[None]
        confidence.append(predictor._confidence_by_index)
        if getattr(predictor.model_, "combination_", None) is not None:
            combinations.append(predictor.model_.combination_)
        elif getattr(predictor.model_, "correction_share_", None) is not None:  # an LSTM on a linear base
            combinations.append(lstm_combination(predictor.model_.correction_share_))
        log.debug("backtest %s: fitted on %d buckets in %.3f s, forecast origins %d..%d", spec["model"], point,
                  fit_seconds[-1], origins[first], origins[stop - 1])
        bar.update(1)
    lower, upper = interval(yhat, halfwidth)
    return {
        "yhat": yhat, "lower": lower, "upper": upper,
        "confidence": np.asarray(confidence, float), "fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
        "combination": "; ".join(combinations) if combinations else None,
    }


def lstm_combination(share: float) -> str:
    """An LSTM's combination as the command line words it: its linear base plus ``share`` of its network's
    correction."""
    return f"base + {share:.2f} x the network's correction"


def backtest(
    data: pd.DataFrame | pd.Series,
    models: Sequence[Any] = ("dlinear", "lstm", "ensemble"),
    baselines: Sequence[str] = BASELINES,
    **options: Any,
) -> pd.DataFrame:
    """Rolling-origin backtest (expanding window) of models against the baselines: the table of
    :func:`run_backtest`, which documents the parameters (``options`` are its keyword arguments).

    Parameters
    ----------
    data, models, baselines :
        As :func:`run_backtest` takes them.
    **options :
        :func:`run_backtest`'s keyword arguments (``horizon``, ``level``, ``test_size``, ...).

    Returns
    -------
    DataFrame
        One row per model and target, models first, then baselines: ``model``, ``target``,
        ``kind`` (``"model"`` or ``"baseline"``: the list it was named in, whatever its registry role),
        ``mae``, ``rmse``, ``smape`` (fraction in [0, 2]),
        ``wape`` (fraction), ``bias`` (signed: total over- or under-forecast as a fraction of the
        load), ``mase`` (against the in-sample one-step naive error before the
        test span), ``level`` (the interval level of the model: a template's own, else the backtest's),
        ``coverage`` (share of actuals inside the interval), ``interval_width``
        (mean), ``interval_score`` (mean Winkler score at the row's ``level``: width plus ``2 / (1 - level)``
        times each miss; lower is better, comparable between rows of the same level), ``confidence`` (the
        model's own score, mean over refits), ``fit_seconds`` (mean per fit), ``predict_ms`` (median of one
        ``predict()`` call), ``n_origins``,
        ``n_refits``, ``combination`` (an ensemble's combination, or an LSTM's share of its network's correction
        over its linear base (0: the base alone, whose forecasts are DLinear's), at each refit, ``"; "``-separated;
        missing for a model that combines nothing).
    """
    return run_backtest(data, models, baselines, **options).table
