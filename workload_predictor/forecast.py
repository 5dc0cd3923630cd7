"""The result of a prediction: future timestamps, point forecasts, intervals and a confidence."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .data import duration_text
from .errors import WorkloadDataError, is_number, plural, quote


def _first_bad(array: np.ndarray):
    """The first value of ``array`` that is no finite non-negative number (its dtype when it holds no numbers)."""
    if array.dtype.kind not in "iuf":
        return f"dtype {array.dtype}"
    return float(array.flat[int(np.flatnonzero(~(np.isfinite(array) & (array >= 0)))[0])])


@dataclass(frozen=True, eq=False)
class Forecast:
    """A forecast of one or more targets over future buckets.

    Attributes
    ----------
    index : pd.DatetimeIndex
        Start of each future bucket (UTC), continuing the fitted series at its frequency. An index in another
        time zone is converted to UTC, a naive one read as UTC (as the data door reads naive timestamps).
    yhat, lower, upper : np.ndarray
        ``(steps, k)`` point forecast and interval bounds, clipped at 0 (loads are non-negative).
    targets : tuple of str
        The forecast columns, in order.
    level : float
        Nominal coverage of ``[lower, upper]`` (split-conformal, per horizon step).
    model : str
        The model name (``"dlinear"``, ``"lstm"``, ``"ensemble"``).
    confidence : float
        ``1 - WAPE`` of the model's out-of-sample validation forecasts, clipped to ``[0, 1]``
        (the mean over targets when there are several).
    confidence_by_target : dict
        The same per target.
    freq : pd.Timedelta or None
        The bucket width (``None``: the step between the first two timestamps, where ``to_requests`` needs it).
    history : pd.DataFrame or None
        The last observed buckets (for plots and ``to_requests``), indexed by their timestamps (in UTC, as ``index``).

    Notes
    -----
    Forecasts compare by value: ``a == b`` where every field is equal, the arrays and ``history`` value for value.
    A predictor's forecast holds arrays and a ``history`` of its own: changing them changes nothing the predictor holds.
    """

    index: pd.DatetimeIndex
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    targets: tuple[str, ...]
    level: float
    model: str
    confidence: float
    confidence_by_target: dict[str, float] = field(default_factory=dict)
    freq: pd.Timedelta | None = None
    history: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        """Check that the timestamps, targets and arrays describe one table (a list of targets becomes a tuple).

        Raises
        ------
        WorkloadDataError
            ``index`` is no non-empty DatetimeIndex of bucket starts one width (``freq`` where given) apart, in
            order, without NaT, its buckets within ``pd.Timestamp.min .. max``, ``targets`` no non-empty sequence
            of distinct names, or ``yhat``, ``lower`` or ``upper`` no array of shape ``(len(index), len(targets))`` of finite non-negative
            numbers with ``lower <= yhat <= upper``, ``level`` not in ``(0, 1)``, ``confidence`` not in ``[0, 1]``,
            ``confidence_by_target`` no mapping of targets to numbers in ``[0, 1]``, ``freq`` no positive
            ``pd.Timedelta`` (nor ``None``), or ``history`` no DataFrame with a DatetimeIndex (nor ``None``).
        """
        if not isinstance(self.index, pd.DatetimeIndex) or len(self.index) == 0:
            raise WorkloadDataError(f"Forecast index={quote(self.index)} must be a non-empty pd.DatetimeIndex, the "
                                    "start of each future bucket, e.g. pd.date_range('2024-05-10', periods=3, "
                                    "freq='10s', tz='UTC').")
        if str(self.index.tz) != "UTC":  # to_requests and the vidur formats count from the epoch in UTC
            object.__setattr__(self, "index", _in_utc(self.index))
        targets = self.targets
        if isinstance(targets, (list, tuple)) and targets and all(isinstance(t, str) for t in targets):
            object.__setattr__(self, "targets", tuple(targets))
        else:
            raise WorkloadDataError(f"Forecast targets={quote(targets)} must be a non-empty tuple of column names, "
                                    "e.g. ('requests',).")
        if len(set(self.targets)) < len(self.targets):  # to_frame's columns and to_requests' look-ups by name
            raise WorkloadDataError(f"Forecast targets={quote(targets)} name a column twice; name each target once.")
        shape = (len(self.index), len(self.targets))
        for name in ("yhat", "lower", "upper"):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.shape != shape:
                raise WorkloadDataError(f"Forecast {name} has shape {quote(np.shape(array))}, not (steps, targets) = "
                                        f"{shape} for {plural(shape[0], 'timestamp')} and targets "
                                        f"{quote(self.targets)}: pass a numpy array with one row per timestamp and "
                                        "one column per target.")
        for name in ("yhat", "lower", "upper"):
            array = getattr(self, name)
            if array.dtype.kind not in "iuf" or not (np.isfinite(array) & (array >= 0)).all():
                raise WorkloadDataError(f"Forecast {name} must hold finite non-negative numbers (loads), not "
                                        f"{quote(_first_bad(array))}: pass the forecast clipped at 0.")
        if not ((self.lower <= self.yhat) & (self.yhat <= self.upper)).all():
            raise WorkloadDataError("Forecast bounds must satisfy lower <= yhat <= upper in every cell: pass the "
                                    "interval's bounds as lower and upper.")
        if not (is_number(self.level) and 0.0 < self.level < 1.0):
            raise WorkloadDataError(f"Forecast level={quote(self.level)} must be a coverage in (0, 1), e.g. 0.9.")
        if not (is_number(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise WorkloadDataError(f"Forecast confidence={quote(self.confidence)} must be a number in [0, 1], "
                                    "e.g. 0.8.")
        scores = self.confidence_by_target
        if not isinstance(scores, Mapping) or not all(
                name in self.targets and is_number(value) and 0.0 <= value <= 1.0 for name, value in scores.items()):
            raise WorkloadDataError(f"Forecast confidence_by_target={quote(scores)} must map targets of "
                                    f"{quote(self.targets)} to numbers in [0, 1], e.g. {{'requests': 0.8}}.")
        freq = self.freq
        if freq is not None:
            try:  # a calendar unit (np.timedelta64(1, "M")) has no fixed width; a huge one no Timedelta
                width = pd.Timedelta(freq) if isinstance(freq, (datetime.timedelta, np.timedelta64)) else None
            except (ValueError, OverflowError):
                width = None
            if width is None or width is pd.NaT or width <= pd.Timedelta(0):
                raise WorkloadDataError(f"Forecast freq={quote(freq)} must be the bucket width as a pd.Timedelta "
                                        "> 0, e.g. pd.Timedelta('10s'), or None.")
            object.__setattr__(self, "freq", width)
        _check_spacing(self.index, self.freq)
        history = self.history
        if history is not None and not (isinstance(history, pd.DataFrame) and isinstance(history.index, pd.DatetimeIndex)):
            raise WorkloadDataError(f"Forecast history={quote(history)} must be None or a DataFrame of the last observed "
                                    "buckets, indexed by their timestamps.")
        if history is not None and str(history.index.tz) != "UTC":  # plot draws it beside the UTC index
            object.__setattr__(self, "history", history.set_axis(_in_utc(history.index), axis=0))

    @property
    def steps(self) -> int:
        return len(self.index)

    def to_frame(self) -> pd.DataFrame:
        """Forecast table indexed by the future timestamps.

        One target: columns ``yhat, lower, upper``. Several: a column MultiIndex
        ``(target, field)``.
        """
        fields = ("yhat", "lower", "upper")
        index = self.index.copy()
        index.name = "timestamp"
        if len(self.targets) == 1:
            return pd.DataFrame({f: getattr(self, f)[:, 0] for f in fields}, index=index)
        columns = pd.MultiIndex.from_product([self.targets, fields], names=["target", "field"])
        data = np.stack([getattr(self, f) for f in fields], axis=2).reshape(self.steps, -1)  # [steps, k*3]
        return pd.DataFrame(data, index=index, columns=columns)

    def to_requests(self, random_state=None, lengths: pd.DataFrame | None = None, recent: int | None = 2000,
                    quantity: str = "yhat", format: str = "native", count: str | None = None) -> pd.DataFrame:
        """Synthetic future requests for a simulator, following this forecast.

        Each bucket gets ``Poisson(forecast)`` requests at uniform random instants in it.
        Token lengths are drawn (prompt and output together) from the last ``recent``
        rows of ``lengths`` (a request log, e.g. the raw Azure trace), else from the
        tokens per request of the history's buckets; when the forecast predicted
        ``input_tokens``/``output_tokens`` (or targets under the other names of a token column:
        ``prompt_tokens``, ``completion_tokens``, ...), each bucket's lengths are scaled so they sum
        to the forecast exactly (rounded to an integer; every request keeps at least one token, so a bucket whose
        forecast total is below its number of requests gets one token per request, and a bucket that draws no
        request carries none of its tokens).
        ``quantity="upper"`` draws from the interval's upper bound (a stress test).
        ``count`` names the target that counts requests (default: ``requests``, or a single target
        not named as a token count, such as ``qps``); a token target is refused.

        ``format="native"``: columns ``arrival_time_ns`` (int64 ns since the epoch),
        ``input_tokens``, ``output_tokens``; a token column only where its lengths are known
        (``lengths``, the history's tokens per request) or forecast (a token total with no lengths
        to draw from is split evenly among its bucket's requests), else arrival times alone. The other formats need both lengths; they are named after the
        program that reads them: ``format="vidur-main"``, the trace columns of Vidur's repository
        (main branch): ``arrived_at`` (seconds since the first forecast bucket),
        ``num_prefill_tokens``, ``num_decode_tokens``; ``format="vidur-0.0.26"``, what the
        released vidur 0.0.26 package's trace replay reads: ``Date``, ``Time`` (seconds),
        ``PromptTokenCount``, ``CompletionTokenCount``.

        Parameters
        ----------
        random_state : int, numpy.random.Generator or None
            Seed (a non-negative int) or generator of the draws; ``None`` draws fresh ones.
        lengths : pandas.DataFrame or None
            A request log to draw token lengths from; ``None`` uses the history's tokens per request.
        recent : int or None
            The last rows of ``lengths`` drawn from (default 2000); ``None`` draws from all of them.
        quantity : {"yhat", "lower", "upper"}
            The forecast the request counts follow (default ``"yhat"``).
        format : {"native", "vidur-main", "vidur-0.0.26"}
            The columns returned (default ``"native"``), as above.
        count : str or None
            The target that counts requests; ``None`` (default) as above.

        Returns
        -------
        pandas.DataFrame
            One row per request, in the columns of ``format``.

        Raises
        ------
        WorkloadDataError
            A bad setting, or a ``format`` that needs token lengths the forecast cannot give.
        """
        from .synthetic_requests import check_format, forecast_to_requests, in_format

        check_format(format)  # before the draw
        requests = forecast_to_requests(self, random_state=random_state, lengths=lengths, recent=recent,
                                        quantity=quantity, count=count)
        return in_format(requests, format, start=self.index[0])

    def plot(self, targets=None, history: int | None = None, ax=None):
        """History, forecast and interval band, confidence in the title: a matplotlib ``Figure``
        (``.savefig("forecast.png")``). Needs the ``plot`` extra (matplotlib).

        Parameters
        ----------
        targets : str, list of str or None
            The targets drawn, one panel each; ``None`` (default) draws all.
        history : int or None
            Observed buckets shown; ``None`` (default): what the forecast carries, at most ``6 x steps``.
        ax : matplotlib.axes.Axes or None
            Draw a single target into this existing Axes; ``None`` (default) makes a new figure.
        """
        from .plotting import plot_forecast

        return plot_forecast(self, targets=targets, history=history, ax=ax)

    def __eq__(self, other: object) -> bool:
        """Whether ``other`` is a forecast of the same values: the same timestamps, targets, settings and scores,
        and ``yhat``, ``lower``, ``upper`` and ``history`` equal value for value (``predictor.predict() ==
        predictor.predict()``; a loaded predictor's forecast equals the saved one's)."""
        if not isinstance(other, Forecast):
            return NotImplemented
        if other is self:
            return True
        return (self.targets == other.targets and self.model == other.model and self.level == other.level
                and self.confidence == other.confidence and self.freq == other.freq
                and dict(self.confidence_by_target) == dict(other.confidence_by_target)
                and self.index.equals(other.index)
                and all(np.array_equal(getattr(self, name), getattr(other, name)) for name in ("yhat", "lower", "upper"))
                and (self.history is None) == (other.history is None)
                and (self.history is None or self.history.equals(other.history)))

    def __hash__(self) -> int:
        # Of the fields no caller can change in place, so equal forecasts hash alike whatever is done to their arrays.
        return hash((self.model, self.targets, self.index[0], len(self.index), self.level))

    def __repr__(self) -> str:
        return (
            f"Forecast(model={self.model!r}, targets={list(self.targets)}, steps={self.steps}, "
            f"start={self.index[0].isoformat()}, level={self.level}, confidence={self.confidence:.3f})"
        )


def _check_spacing(index: pd.DatetimeIndex, freq: pd.Timedelta | None) -> None:
    """A :class:`WorkloadDataError` unless ``index`` (in UTC) holds no NaT and steps by one width, ``freq`` where
    given, with its buckets within the instants int64 nanoseconds hold: to_requests draws each bucket's arrivals
    in ``[start, start + width)``, so overlapping, unordered or NaT buckets would give wrong or wrapped arrival
    times. In numpy's datetime64 (every predict builds a Forecast: pandas' index arithmetic took 140 us)."""
    stamps = np.asarray(index.array, dtype=f"datetime64[{index.unit}]")  # the UTC wall times
    if freq is not None and index.freq is not None and index.freq == freq and stamps.dtype == _LAST_NS.dtype:
        # A DatetimeIndex that carries its freq holds no NaT and steps by it (pandas checks it on construction):
        # predict's future index, whose check is then the last bucket's end alone (20 us of a 150 us predict).
        if stamps[-1] > _LAST_NS - freq.to_timedelta64():
            _outside(index, freq)
        return
    nat = np.isnat(stamps)
    if nat.any():
        raise WorkloadDataError(f"Forecast index holds NaT at position {int(np.flatnonzero(nat)[0])}: pass the "
                                "start of every future bucket.")
    steps = np.diff(stamps)
    width = freq if freq is not None else (pd.Timedelta(steps[0]) if len(steps) else None)
    step = None if width is None else width.to_timedelta64()
    if stamps.dtype == _LAST_NS.dtype:  # within int64 ns by construction: only the last bucket's end can pass them
        outside = step is not None and stamps[-1] > _LAST_NS - step
    else:  # an index in s or ms can hold instants outside them (in pandas' scalars: numpy would wrap them)
        outside = index[0] < _FIRST or (width is not None and index[-1] > _LAST - width)
    if outside:
        _outside(index, width)
    uneven = np.flatnonzero(steps != step) if len(steps) else ()
    if len(uneven):
        at = int(uneven[0])
        raise WorkloadDataError(
            f"Forecast index steps from {index[at].isoformat()} to {index[at + 1].isoformat()}, not by "
            f"{'freq' if freq is not None else 'its first step'} {duration_text(width)}: pass the start of each future bucket in "
            "order, one bucket width apart, e.g. pd.date_range('2024-05-10', periods=3, freq='10s', tz='UTC').")


def _outside(index: pd.DatetimeIndex, width: pd.Timedelta | None) -> None:
    raise WorkloadDataError(
        f"Forecast index spans {index[0].isoformat()} .. {index[-1].isoformat()} ({'buckets of ' + duration_text(width) if width is not None else 'one bucket'}), outside "
        f"{_FIRST} .. {_LAST}, the instants int64 nanoseconds since the epoch hold (to_requests' arrival times): "
        "pass timestamps within them.")


_FIRST, _LAST = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
_LAST_NS = pd.Timestamp.max.as_unit("ns").to_datetime64()


def _in_utc(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """``index`` in UTC: converted from another zone, or read as UTC where naive (as the data door reads it)."""
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
