"""What every forecaster shares: parameters, input checks and the validation-tail protocol."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import itertools
import reprlib
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .. import anomaly
from ..data import MAX_VALUE
from ..errors import WorkloadDataError, check_is_fitted, is_number, is_positive_int, not_fitted_error, plural, quote
from ..windows import newest, targets_at, validation_origins

MIN_TRAIN_WINDOWS = 10
# The longest input window a model takes, in buckets (35,000 years of one-second buckets): no series is longer, and
# the search for the fewest points a longer one needs leaves numpy's 64-bit integers.
MAX_WINDOW = 2**40
#: What a model that ran the input-anomaly scan of its own fit (``fit(y)``, no ``anomalies``) keeps of it for its own
#: ``predict`` and ``update`` (:meth:`BaseForecaster._keep_scan`); a model fitted with flags given holds none.
SCAN_STATE = ("input_floor_", "input_tail_", "input_flags_", "input_nonzero_", "input_nonzero_counts_")


class ParamsMixin:
    """scikit-learn style ``get_params``/``set_params``/``__repr__`` from the ``__init__`` signature, and the hooks
    scikit-learn's ``check_is_fitted`` reads (``__sklearn_tags__``, ``__sklearn_is_fitted__``)."""

    #: The fitted attribute whose presence (not ``None``) makes the estimator fitted: the one its methods check
    #: before they raise :class:`~workload_predictor.errors.NotFittedError`. ``None``: scikit-learn's own rule (any
    #: attribute ending in ``_``).
    _fitted_attribute: str | None = None

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` completed: what scikit-learn's ``check_is_fitted`` asks, answered as this estimator's own
        methods answer it (a failed ``fit`` may leave fitted attributes of its early steps behind)."""
        fitted = object.__getattribute__(self, "__dict__")  # never through __getattr__ (which asks this)
        if self._fitted_attribute is None:
            return any(name.endswith("_") and not name.startswith("__") for name in fitted)
        return fitted.get(self._fitted_attribute) is not None

    def __getattr__(self, name: str) -> Any:
        """Only for a name the instance and its class lack. A fitted attribute's (``name_``) before ``fit`` raises
        :class:`~workload_predictor.errors.NotFittedError` (an ``AttributeError``: ``hasattr`` is False), so a method
        that reads fitted state (``update_bytes``, ``context_length``) says to fit first, not which internal name was
        missing; any other missing name is the plain ``AttributeError``."""
        if name.endswith("_") and not name.startswith("__") and not self.__sklearn_is_fitted__():
            raise not_fitted_error(f"This {type(self).__name__} instance is not fitted yet (it has no {name}): call "
                                   "fit(...) before using it.")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __sklearn_tags__(self):
        """scikit-learn's tags (``sklearn.utils.get_tags``, which ``check_is_fitted`` reads from scikit-learn 1.6 on):
        an estimator that must be fitted and whose ``fit`` takes no separate target. Only scikit-learn calls it, so
        its classes are read from the loaded ``sklearn.utils``, never imported (scikit-learn is no dependency)."""
        utils = sys.modules.get("sklearn.utils")
        if not hasattr(utils, "Tags"):
            raise TypeError("__sklearn_tags__ is scikit-learn's hook (1.6 or later): call sklearn.utils.get_tags(...).")
        return utils.Tags(estimator_type=None, target_tags=utils.TargetTags(required=False))

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [p.name for p in signature.parameters.values() if p.name != "self" and p.kind in kinds]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters of ``__init__`` and their current values (scikit-learn's ``get_params``).

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn's ``clone``; no parameter holds an estimator, so it changes nothing.

        Returns
        -------
        dict
            ``{name: value}`` for every parameter of ``__init__``.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any):
        """Set parameters of ``__init__`` (scikit-learn's ``set_params``).

        Parameters
        ----------
        **params :
            ``name=value`` for parameters of ``__init__``.

        Returns
        -------
        self

        Raises
        ------
        WorkloadDataError
            A name ``__init__`` does not take; checked before any is set, so a refused call changes nothing.
        """
        valid = set(self._param_names())
        unknown = [name for name in params if name not in valid]
        if unknown:  # checked before any is set: a refused call changes nothing
            own = " (a model's own settings go in model_params={...})" if "model_params" in valid else ""
            raise WorkloadDataError(f"{type(self).__name__} has no parameter {quote(unknown[0])}{own}; valid: "
                                    f"{sorted(valid)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """The class and the parameters set to other values than their defaults, each value cut short (a
        parameter holding a long list or text shows its start, not all of it)."""
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = [f"{k}={_PARAM_REPR.repr(v)}" for k, v in self.get_params().items()
                   if not _same_param(defaults.get(k), v)]
        return f"{type(self).__name__}({', '.join(changed)})"


class _ParamRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        # Python refuses str() of an int over 4,300 digits (ValueError), and reprlib would format it whole.
        return f"<int of {x.bit_length():,} bits>" if x.bit_length() > 1024 else super().repr_int(x, level)

    def repr_dict(self, x: dict, level: int) -> str:
        # In the order given, as repr shows it (reprlib sorts the keys).
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        pieces = [f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}"
                  for key, value in itertools.islice(x.items(), self.maxdict)]
        return "{" + ", ".join(pieces + ["..."] * (len(x) > self.maxdict)) + "}"


#: How ``__repr__`` shows a parameter's value: as ``repr`` does where it is short (every setting a model takes), cut
#: where long, at a cost that does not grow with the value.
_PARAM_REPR = _ParamRepr()
_PARAM_REPR.maxlevel = 5
_PARAM_REPR.maxdict = _PARAM_REPR.maxlist = _PARAM_REPR.maxtuple = _PARAM_REPR.maxset = 12
_PARAM_REPR.maxfrozenset = _PARAM_REPR.maxdeque = _PARAM_REPR.maxarray = 12
_PARAM_REPR.maxstring = _PARAM_REPR.maxother = 80
_PARAM_REPR.maxlong = 40


def _same_param(default: Any, value: Any) -> bool:
    """Whether ``value`` is the parameter's ``default`` (``__repr__`` leaves it out): the same object, or equal, an
    array equal only to an array of the same shape and values (``==`` on an array is elementwise, and on a tuple of
    another length raises)."""
    if default is value:
        return True
    if isinstance(default, np.ndarray) or isinstance(value, np.ndarray):
        return isinstance(default, np.ndarray) and isinstance(value, np.ndarray) and np.array_equal(default, value)
    try:
        return bool(default == value)
    except (TypeError, ValueError):  # a value whose comparison is no truth value: shown
        return False


def as_matrix(y: Any, name: str = "y") -> tuple[np.ndarray, bool]:
    """``y`` as a float64 ``(n, k)`` copy, and whether it was one-dimensional.

    Every value must be a load: finite, non-negative and at most ``MAX_VALUE`` (1e18), the predictor's bounds (far
    larger, the sums of squares behind the models' choices overflow, and they would choose on ``inf``; a model file
    holds loads only, so a model fitted or updated with a negative value would save a file that cannot load).
    """
    try:
        array = np.array(getattr(y, "to_numpy", lambda **_: y)(dtype="float64"), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise WorkloadDataError(f"{name} must be numbers ({exc}); convert it with pd.to_numeric(...).") from None
    one_d = array.ndim == 1
    if one_d:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise WorkloadDataError(f"{name} must be 1-D (n,) or 2-D (n, targets), got shape {array.shape}.")
    if array.shape[0] == 0:
        raise WorkloadDataError(f"{name} is empty; pass a series with at least one point.")
    if not ((array >= 0.0) & (array <= MAX_VALUE)).all():  # NaN fails both: one pass for the common case
        if not np.all(np.isfinite(array)):
            row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
            raise WorkloadDataError(f"{name} holds NaN or inf (first at row {row}); drop or fill it before fitting.")
        if (np.abs(array) > MAX_VALUE).any():
            row = int(np.flatnonzero((np.abs(array) > MAX_VALUE).any(axis=1))[0])
            value = float(array[row][np.abs(array[row]) > MAX_VALUE][0])
            raise WorkloadDataError(f"{name} holds {value:g} at row {row}, beyond {MAX_VALUE:g} in size: no load is "
                                    "that large, and the models' sums of squares overflow on such values. Rescale the "
                                    "series (e.g. divide it by 1e6) before fitting.")
        row = int(np.flatnonzero((array < 0.0).any(axis=1))[0])
        value = float(array[row][array[row] < 0.0][0])
        raise WorkloadDataError(f"{name} holds {value:g} at row {row}: loads must be >= 0 (workload counts are "
                                "non-negative); fix the data, or shift the series by a constant.")
    return array, one_d


def check_validation_settings(owner: Any) -> None:
    """Typed errors for the validation split of ``owner``: ``validation_fraction`` a finite real number in (0, 1) and
    ``max_validation_windows`` a positive integer (checked before they size the validation tail)."""
    fraction = owner.validation_fraction
    if not is_number(fraction) or not 0.0 < float(fraction) < 1.0:
        raise WorkloadDataError(f"validation_fraction={quote(fraction)} must be a number between 0 and 1 (exclusive): "
                                "the share of the points held out for validation, e.g. validation_fraction=0.15.")
    if not is_positive_int(owner.max_validation_windows):
        raise WorkloadDataError(f"max_validation_windows={quote(owner.max_validation_windows)} must be a positive "
                                "integer number of windows, e.g. max_validation_windows=100.")


def check_origins(origins: Any, low: int, high: int, why: str, ordered: bool = False) -> np.ndarray:
    """``origins`` as a 1-D int64 array of positions in ``[low, high]`` (``why``: what the range leaves room for),
    ascending where ``ordered``; otherwise a typed error.

    Whole numbers of any numeric dtype are accepted (``500.0`` is the position 500); a
    fractional one (``500.7``), a bool, text or a value outside the range is refused, never
    rounded or clipped. No origins give an empty array.
    """
    try:
        array = np.asarray(origins)
    except (TypeError, ValueError):
        array = np.asarray(None)
    if array.size == 0 and array.ndim == 1:
        return np.zeros(0, dtype=np.int64)
    whole = array.dtype.kind in "iu" or (array.dtype.kind == "f" and bool(np.isfinite(array).all())
                                       and bool((array == np.round(array)).all()))
    if array.ndim != 1 or not whole:
        raise WorkloadDataError(f"origins={quote(origins)} must be a 1-D sequence of integer positions in the series, "
                                f"e.g. origins=[{low}, {low + 1}].")
    array = array.astype(np.int64)
    first, last = int(array.min()), int(array.max())
    if first < low or last > high:
        raise WorkloadDataError(f"origins must lie in [{low}, {high}] so each has {why}; got values from {first} to "
                                f"{last}.")
    if ordered and bool((np.diff(array) < 0).any()):
        raise WorkloadDataError("origins must be in ascending order: each forecast comes from a fit on the points "
                                "before its origin, and an origin listed after a later one would be forecast by a fit "
                                "that saw its targets. Sort them first (np.sort(origins)).")
    return array


def check_flags(anomalies: Any, n: int, k: int) -> None:
    """A :class:`WorkloadDataError` unless ``anomalies`` (a fit's, given by its caller) is flagged buckets of a series
    of ``n`` points and ``k`` targets: ``{(position, target index): reference median}``, each position and index an
    integer within the series, each median a load (a finite number from 0 to ``MAX_VALUE``, as the series' values).
    Unchecked, a position past the series or a target index past its targets would raise IndexError deep in the
    settling, a negative position would name a bucket counted from the series' end, and a median that is no finite
    number would be compared and settled as one (an infinite one makes an ensemble's least squares fail to
    converge)."""
    if not isinstance(anomalies, Mapping):
        raise WorkloadDataError(f"anomalies={quote(anomalies)} must be a dict {{(position, target index): reference "
                                "median} of flagged buckets; pass None to flag them with the predictor's scan of y, "
                                "or {} for none.")
    for key, median in anomalies.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(part, (int, np.integer))
                                                                  and not isinstance(part, bool) for part in key)
                and 0 <= key[0] < n and 0 <= key[1] < k):
            raise WorkloadDataError(
                f"anomalies names the bucket {quote(key)}, not a (position, target index) of y's {plural(n, 'point')} "
                f"and {plural(k, 'target')} (positions 0 to {n - 1:,}, indexes 0 to {k - 1}); pass the flags of "
                "this y, or None to flag them with the predictor's scan.")
        if not is_number(median) or not 0.0 <= float(median) <= MAX_VALUE:
            raise WorkloadDataError(
                f"anomalies gives the bucket {quote(key)} the reference median {quote(median)}, not a finite number "
                f"from 0 to {MAX_VALUE:g} (a load); pass the median of the buckets before it, as "
                "anomaly.detect finds it.")


def evaluated_series(y: np.ndarray, anomalies: dict[tuple[int, int], float] | None) -> np.ndarray:
    """``y`` as out-of-sample forecasts are scored on it: each burst the series came back from, among the flagged
    ``anomalies`` (``{(position, target index): reference median}``), begun where a counter's climb into it began,
    read as its median in the inputs and the targets (:func:`workload_predictor.anomaly.settled_inputs`), as a
    predictor's forecast, its update's windows and its ``noise_scale_`` read it; ``y`` itself when there is none."""
    return anomaly.settled_series(y, anomalies)


def fewest_points(suffices: Callable[[int], bool]) -> int:
    """The smallest ``n`` for which ``suffices(n)`` holds, where it holds for every larger ``n`` too (the first
    validation origin never decreases as the series grows): doubled, then bisected (a step-by-step search took 10 s
    for window=10**6 and minutes beyond)."""
    short, n_needed = 1, 2
    while not suffices(n_needed):
        short, n_needed = n_needed, 2 * n_needed
    while n_needed - short > 1:
        middle = (short + n_needed) // 2
        short, n_needed = (short, middle) if suffices(middle) else (middle, n_needed)
    return n_needed


@contextlib.contextmanager
def unfitted_on_error(model: Any) -> Iterator[None]:
    """Around the part of a ``fit`` that changes ``model``: if it raises, every fitted attribute (a name ending in
    ``_``) and ``_one_d`` are dropped, so the model is unfitted (its methods raise ``NotFittedError``), not a mix
    of the fit before and the one that failed (one's target count beside the other's context)."""
    try:
        yield
    except BaseException:
        for name in [name for name in vars(model) if name == "_one_d" or (name.endswith("_") and name[:2] != "__")]:
            delattr(model, name)
        raise


_LOCKS = threading.Lock()  # held while an instance's own lock is made (instance_lock)


def instance_lock(obj: Any) -> threading.RLock:
    """``obj``'s own lock (its ``_lock`` slot, never saved, copied or pickled): made at its first use, so a copy, a
    loaded or an unpickled instance has its own. ``update`` holds it while it runs and ``fit`` while it commits, so
    two of them on one instance in two threads run one after the other."""
    try:
        return obj._lock
    except AttributeError:
        with _LOCKS:
            try:
                return obj._lock
            except AttributeError:
                obj._lock = threading.RLock()
                return obj._lock


def serialised(method: Callable) -> Callable:
    """``method`` run holding its instance's own lock (:func:`instance_lock`): two calls of it (or one beside a
    ``fit``'s commit) on one instance in two threads run one after the other."""

    @functools.wraps(method)
    def locked(self, *args: Any, **kwargs: Any) -> Any:
        with instance_lock(self):
            return method(self, *args, **kwargs)

    return locked


def commit(obj: Any, attributes: dict[str, Any], slots: dict[str, Any], drop: Sequence[str] = ()) -> None:
    """Make ``attributes`` ``obj``'s and remove the attributes ``drop`` in one step (``vars(obj).update``, or with
    ``drop`` one assignment of its ``__dict__``: a copy in another thread sees all of it or none), then set the
    ``slots`` (what readers in other threads read, e.g. the published state). A ``KeyboardInterrupt`` (any
    exception) after the first step finishes the rest before it propagates: ``obj`` holds the state before the
    commit or the one after it, never the attributes of one beside the slots of the other. The caller holds
    ``obj``'s lock (:func:`instance_lock`) where another thread may commit too."""
    try:
        if drop:
            obj.__dict__ = {**{name: value for name, value in vars(obj).items() if name not in drop}, **attributes}
        else:
            vars(obj).update(attributes)
        for name, value in slots.items():
            setattr(obj, name, value)
    except BaseException:
        held = vars(obj)
        if all(name in held and held[name] is value for name, value in attributes.items()):
            for name, value in slots.items():
                setattr(obj, name, value)
        raise


#: Each model's settled forecast inputs (:meth:`BaseForecaster._own_inputs`) with the arrays they were settled from,
#: ``(context_, input_tail_, input_flags_, inputs)``: kept beside the instances, not in them, so that their
#: attributes, copies, pickles and model files hold none of it (a copy or a loaded model settles its own at its first
#: forecast). ``fit`` and ``update`` drop a model's entry (an update, where its flags were kept: there may be one); one
#: that outlives the arrays it names is never read (its arrays are compared by identity, and held by it, so none is
#: another's).
_OWN_INPUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _held_inputs(model: Any) -> tuple | None:
    """``model``'s entry of :data:`_OWN_INPUTS` (None: none, or an instance that cannot be a key: a subclass's
    ``__eq__`` without ``__hash__``)."""
    try:
        return _OWN_INPUTS.get(model)
    except TypeError:
        return None


def _hold_inputs(model: Any, entry: tuple | None) -> None:
    """Make ``entry`` ``model``'s entry of :data:`_OWN_INPUTS` (None: drop it), where ``model`` can be a key."""
    try:
        if entry is None:
            _OWN_INPUTS.pop(model, None)
        else:
            _OWN_INPUTS[model] = entry
    except TypeError:
        pass


class BaseForecaster(ParamsMixin):
    """A direct multi-step forecaster on a regular numeric series.

    ``fit(y)`` first trains on everything before the validation tail, forecasts
    the tail's windows out of sample (``validation_forecast_``, ``(v, horizon, k)``,
    against ``validation_actual_``), then, where ``refit_on_full`` holds, refits on
    the whole series. Subclasses implement ``_fit_arrays`` and ``_predict_at``.
    """

    _fitted_attribute = "context_"  # set at the end of fit; predict, update and predict_at check it
    #: Whether the model is cheap enough to refit on all data after validation.
    refit_on_full = True
    #: The smallest input window the model can use (for the length check).
    min_window = 1
    #: The setting the length check's advice names for a shorter input window (the predictor's ``window`` sets
    #: ``window``; a model that takes no window names its own setting, passed in ``model_params``).
    window_setting = "window="
    #: Declared by a class for its own ``_predict_at`` (save's check,
    #: :func:`~workload_predictor.model_file.check_saveable`, reads them from the instance's own class, never
    #: inherited: a subclass's forecast is its own).
    #: ``_forecast_reads``: ``"window"`` where it reads only the ``context_length()`` points before each origin,
    #: elementwise, so any inputs ending in the same points forecast bit for bit the same; None: not declared.
    #: ``_forecast_within``: a multiple ``c`` of the largest load the forecast stays within by construction (a copy,
    #: a mean with weights >= 0 summing to 1 or a median of loads: 1), so within ``c * MAX_VALUE``; None: not declared.
    _forecast_reads: str | None = None
    _forecast_within: float | None = None

    horizon: int
    validation_fraction: float
    max_validation_windows: int

    @anomaly.keeping_scans
    def fit(self, y: Any, anomalies: dict[tuple[int, int], float] | None = None):
        """Fit on ``y`` (``(n,)`` or ``(n, k)``; arrays, Series or DataFrames). Returns ``self``.

        ``anomalies``: flagged buckets of ``y``, ``{(position, target index): reference median}`` as
        :func:`workload_predictor.anomaly.detect` finds them (``WorkloadPredictor`` and ``FleetPredictor`` pass their
        own); ``None`` (the default): the buckets the predictor's input-anomaly scan flags in ``y``
        (:func:`workload_predictor.anomaly.fit_scan`), so a model fitted on its own reads ``y`` as a predictor's model
        does; ``{}``: none flagged (``y`` read as it is). Flags that are not of ``y`` (a position or target index
        outside it, a median that is no finite number) are a :class:`WorkloadDataError` (:func:`check_flags`).
        The validation windows read a burst the series came back from as its median, in their inputs and their
        targets, as a predictor's forecast reads it (:func:`evaluated_series`); the model trains on ``y`` as it is.
        With ``None`` the model keeps what its own :meth:`predict` and :meth:`update` read of its scan
        (:data:`SCAN_STATE`, :meth:`_keep_scan`); with flags given it keeps none.
        """
        try:
            matrix, one_d = as_matrix(y)
            origins = self._checked_origins(len(matrix))
            anomalies = self._fit_flags(matrix, anomalies)
            with unfitted_on_error(self):
                self.n_targets_ = matrix.shape[1]
                self._one_d = one_d
                self._fit_arrays(matrix[: origins[0]], refit=False)
                self.validation_origins_ = origins
                evaluated = evaluated_series(matrix, anomalies)
                self.validation_forecast_ = self._validation_forecast(evaluated, origins)
                self.validation_actual_ = targets_at(evaluated, origins, self.horizon)
                if self.refit_on_full:
                    self._refit(matrix, int(origins[0]))
                self.context_ = matrix[-self.context_length() :].copy()
                self.recent_ = matrix[-self._recent_length() :].copy()
                self.n_seen_ = len(matrix)
                self._keep_scan(matrix)
        finally:
            vars(self).pop("_own_scan", None)
        return self

    def _checked_origins(self, n: int) -> np.ndarray:
        """The validation origins of a fit on ``n`` points, after the typed errors for the settings and the length."""
        self._check_horizon()
        check_validation_settings(self)
        origins = validation_origins(n, self.horizon, self.validation_fraction, self.max_validation_windows)
        self._check_length(n, origins)
        return origins

    def _fit_flags(self, y: np.ndarray, anomalies: dict[tuple[int, int], float] | None) -> dict[tuple[int, int], float]:
        """The flagged buckets a fit on ``y`` (a float64 ``(n, k)`` array) reads: ``anomalies`` where given (a
        predictor's, a fleet's, an ensemble's for its members: not scanned again; ``{}``: none), else the buckets
        the predictor's input-anomaly scan flags in ``y`` (:func:`workload_predictor.anomaly.fit_scan` at the scale
        floor of all of ``y``, leaving the model's ``scan_passes`` under a time limit), as an
        :class:`~workload_predictor.anomaly.Flags`. The caller checks the settings and the length first: a fit that
        refuses them does not scan."""
        if anomalies is not None:
            if not isinstance(anomalies, anomaly.Flags):  # a caller's own (a predictor, a fleet, an ensemble: Flags)
                check_flags(anomalies, *y.shape)
            return anomalies
        floor, found = anomaly.fit_scan(y, getattr(self, "scan_passes", anomaly.MODEL_PASSES))
        flags = anomaly.Flags(anomaly.flagged_of(found))
        self._own_scan = (floor, flags)  # what _keep_scan keeps once the fit ends (popped by the fit either way)
        return flags

    def _keep_scan(self, y: np.ndarray) -> None:
        """At the end of a fit on ``y`` (``(n, k)``), once ``context_`` and the kept points are set: where the fit ran
        the input-anomaly scan itself (``anomalies=None``, :meth:`_fit_flags`), what the model's own :meth:`predict`
        and :meth:`update` read of it, as a ``WorkloadPredictor`` keeps it for its model (:data:`SCAN_STATE`): the
        scale floor (``input_floor_``), the newest points (``input_tail_``, :meth:`_input_span` of them), the flags
        among them (``input_flags_``, rows of reference medians or NaN, ``None`` where none is flagged) and the
        newest non-zero points with their counts (``input_nonzero_``, ``input_nonzero_counts_``: the typical burst an
        update's floor rises to, :func:`~workload_predictor.anomaly.busy_floor`). A fit given its flags (a
        predictor's, a fleet's, an ensemble's for its members, ``{}``) keeps none: its owner settles its inputs."""
        _hold_inputs(self, None)  # the inputs the fit before settled
        own = vars(self).pop("_own_scan", None)
        if own is None:
            for name in SCAN_STATE:
                vars(self).pop(name, None)
            return
        floor, flags = own
        span = min(self._input_span(), len(y))
        self.input_floor_ = floor
        self.input_tail_ = y[-span:].copy()
        self.input_flags_ = anomaly.flag_rows(flags, len(y) - span, span, y.shape[1])
        self.input_nonzero_, self.input_nonzero_counts_ = anomaly.busy_values(y)

    def _kept_count(self) -> int:
        """The most points the model (an ensemble: each member) keeps for its updates (``recent_``)."""
        # Read from the instances' attributes: a name an instance lacks would go through __getattr__ (microseconds).
        models = (vars(self).get("members_") or {None: self}).values()
        return max((len(m.recent_) for m in models if vars(m).get("recent_") is not None), default=0)

    def _input_span(self, kept: int | None = None) -> int:
        """The newest points whose flags a model that scanned its own fit keeps (``input_tail_``, ``input_flags_``):
        those its forecast reads and its update's scan and windows read, and ``REFERENCE_BUCKETS`` before them (a
        burst that began there may end among them), as ``WorkloadPredictor`` keeps them for its model. ``kept``: its
        :meth:`_kept_count`, where known."""
        kept = max(self.context_length(), self._kept_count() if kept is None else kept)
        return max(kept + anomaly.REFERENCE_BUCKETS, anomaly.HISTORY_BUCKETS)

    def _own_inputs(self) -> np.ndarray:
        """The inputs of :meth:`predict`: ``context_``, with each burst the series came back from read as its
        reference median where the model scanned its own fit (``input_flags_``), found among the context and up to
        ``REFERENCE_BUCKETS`` points before it, each begun where a counter's climb into it began, as a
        ``WorkloadPredictor`` settles its model's inputs (:func:`~workload_predictor.anomaly.led_runs`). A burst that
        reaches the newest point stands: it may be the start of a surge.

        Settled once per state and kept (:data:`_OWN_INPUTS`; with a burst among them settling costs a DLinear's
        forecast 85 us, reading the kept inputs 8 us): reused while ``context_``, ``input_tail_`` and ``input_flags_``
        are the arrays they were settled from, which ``fit``, ``update`` and a load replace, never write."""
        context, rows = self.context_, vars(self).get("input_flags_")
        if rows is None:
            return context
        tail = self.input_tail_
        held = _held_inputs(self)
        if held is not None and held[0] is context and held[1] is tail and held[2] is rows:
            return held[3]
        values = tail[-(len(context) + anomaly.REFERENCE_BUCKETS) :]
        if len(values) < len(context):
            return context
        runs = anomaly.led_runs(values, anomaly.flags_in(rows, len(values), len(values) - 1))
        inputs = anomaly.settle(values, runs)[-len(context) :] if runs else context
        _hold_inputs(self, (context, tail, rows, inputs))
        return inputs

    def _own_update(self, new: np.ndarray) -> list[tuple[Any, dict[str, Any]]]:
        """The update plan of a model that scanned its own fit (``input_floor_``) for the new points ``new`` (a
        finite float64 ``(m, k)`` array), as a ``WorkloadPredictor`` updates its model: the new points flagged against
        the fit's floor, or the typical burst of the series seen where more
        (:func:`~workload_predictor.anomaly.update_flags`, the flags before them known), the bursts the series came
        back from among the kept and the new points read as their medians by the windows completed now (``runs``), the
        flags among the kept points passed on (``flagged``), and the scan's state moved on."""
        k, n_new, seen = self.n_targets_, len(new), self.n_seen_
        if new.shape[1] != k:
            raise WorkloadDataError(f"new_y has {new.shape[1]} targets; the model was fitted on {k}.")
        tail, old = self.input_tail_, self.input_flags_
        count = self._kept_count()
        span = self._input_span(count)
        history = tail[-anomaly.HISTORY_BUCKETS :]
        _, flags, nonzero, counts, busy = anomaly.update_scan(
            self.input_floor_, self.input_nonzero_, self.input_nonzero_counts_, history, new,
            lambda: anomaly.flags_in(old, len(history), len(history) - 1), seen - len(history), old, span, seen)
        runs: Sequence[tuple[int, int, int, float]] = ()
        if flags is not None:
            before = tail[-(count + anomaly.REFERENCE_BUCKETS) :]
            values = np.concatenate([before, new])
            found_runs = anomaly.led_runs(values, anomaly.flags_in(flags, len(values), len(values) - 1))
            if found_runs:
                runs = anomaly.Runs(anomaly.shifted_runs(found_runs, seen - len(before), seen + n_new))
        flagged = anomaly.flags_in(old, count, seen - 1)
        plan = self._prepare_update(new, checked=True, runs=runs,
                                    flagged=flagged if busy is None else anomaly.Known(flagged, 0, busy))
        kept = np.concatenate([tail, new])[-span:] if n_new < span else new[-span:].copy()
        return plan + [(self, dict(input_tail_=kept, input_flags_=flags, input_nonzero_=nonzero,
                                   input_nonzero_counts_=counts))]

    def _scored_flags(self, whole: np.ndarray, anomalies: dict[tuple[int, int], float] | None) -> dict:
        """:meth:`_fit_flags` of the series ``whole`` (scanned where ``anomalies`` is ``None``, after the settings and
        length checks: a fit that refuses them does not scan), and ``_scored_series``, ``whole`` as the fit's
        validation reads it (:func:`evaluated_series`), where that differs: what a DLinear window search (DLinear's own,
        an LSTM's base's) scores its candidates on. The caller pops ``_scored_series`` when its fit ends."""
        if anomalies is None:
            self._checked_origins(len(whole))
        anomalies = self._fit_flags(whole, anomalies)
        evaluated = evaluated_series(whole, anomalies)
        if evaluated is not whole:
            self._scored_series = evaluated
        return anomalies

    def update(self, new_y: Any):
        """Append the points ``new_y`` (``(m,)`` or ``(m, k)``) after the fitted series and refresh cheaply.

        Each window the new points complete is first forecast by the model as it
        was (out of sample) and replaces the oldest validation window, so the
        interval and confidence follow the newest data; then the model absorbs
        the new windows (DLinear exactly, the LSTM by a few warm-started epochs).
        All new state is computed first and committed at the end: if anything
        raises, the model is unchanged; an interruption (``KeyboardInterrupt``) during the commit finishes it. Returns
        ``self``.

        A model that scanned its own fit (``fit(y)``, no ``anomalies``) flags the new points as a
        ``WorkloadPredictor``'s update flags them (:func:`~workload_predictor.anomaly.update_flags`), and the windows
        completed now read a burst the series came back from, among the kept and the new points, as its median
        (:meth:`_own_update`); one fitted with flags given (``{}``) reads the new points as they are.
        """
        if vars(self).get("input_floor_") is None:  # no scan of its own (fitted with flags given, or an older file)
            plan = self._prepare_update(new_y)
        else:  # a fitted model (a fit keeps the scan's state last)
            plan = self._own_update(as_matrix(new_y, "new_y")[0])
        kept = vars(self).get("input_flags_") is not None  # only then may a forecast have kept its inputs
        try:
            for target, changes in plan:
                for name, value in changes.items():
                    setattr(target, name, value)
        except BaseException:  # every change made, so that no attribute is left a step behind another
            for target, changes in plan:
                for name, value in changes.items():
                    setattr(target, name, value)
            raise
        finally:
            if kept:
                _hold_inputs(self, None)  # the inputs settled before the update
        return self

    def _prepare_update(self, new_y: Any, checked: bool = False,
                        runs: Sequence[tuple[int, int, int, float]] = (),
                        flagged: dict[tuple[int, int], float] | None = None) -> list[tuple[Any, dict[str, Any]]]:
        """The attribute changes ``update`` commits, as ``[(object, {name: value})]``.

        ``checked``: ``new_y`` is already a finite float64 ``(n, k)`` array (the predictor's door made it).
        ``runs``: the bursts the series came back from, ``(first, last, target index, median)``, positions counted
        from the first fitted point (``WorkloadPredictor`` passes those among the buckets it keeps): the windows
        completed now read them as their medians, and so do the targets of the validation windows kept
        (:meth:`_settled`). A window completed while a burst was still going keeps its forecast.
        ``flagged``: the buckets flagged among the kept points as the scans of the whole series found them,
        ``{(position, target index): reference median}``, positions counted from the first fitted point
        (``WorkloadPredictor`` passes those it recorded, as an :class:`~workload_predictor.anomaly.Known` whose
        ``floor`` is the typical burst it learnt since the fit): a model that weighs flagged points judges the new
        ones with them and at least that floor (:meth:`_update_state`'s ``known``); ``None``: it finds them among the
        points it keeps.
        """
        check_is_fitted(self, "context_")
        self._fitted_horizon()
        new = new_y if checked else as_matrix(new_y, "new_y")[0]
        if new.shape[1] != self.n_targets_:
            raise WorkloadDataError(f"new_y has {new.shape[1]} targets; the model was fitted on {self.n_targets_}.")
        y = np.concatenate([self.recent_, new])
        n_old = len(self.recent_)
        origins = np.arange(n_old - self.horizon + 1, len(y) - self.horizon + 1)  # windows completed now
        evaluated = self._settled(y, n_old, runs)
        changes = self._roll_validation(evaluated, n_old, origins, self._predict_at(evaluated, origins), runs)
        changes.update(self._update_state(y, n_old, self._known(flagged, n_old)))
        changes.update(context_=y[-self.context_length() :].copy(), recent_=y[-self._recent_length() :].copy(),
                       n_seen_=self.n_seen_ + len(new))
        return [(self, changes)]

    def update_bytes(self, n_new: int) -> float:
        """An upper estimate of the bytes ``update`` allocates for ``n_new`` points (checked before it does).

        The validation roll gathers each completed window's inputs (float64 ``W x k``)
        and forecasts it; the buffers, targets and kept tail add a few horizons per window.
        """
        k = getattr(self, "n_targets_", 1)
        windows = n_new + self._recent_length()
        return 8.0 * windows * k * (self.context_length() + 6 * self.horizon + 2)

    def _known(self, flagged: dict[tuple[int, int], float] | None, n_old: int) -> dict[tuple[int, int], float] | None:
        """``flagged`` (positions counted from the first fitted point) among the ``n_old`` kept points, as positions
        of the kept points, with the first kept point's position in the series and the least floor ``flagged``
        carries (an :class:`~workload_predictor.anomaly.Known`'s; ``None`` stays ``None``)."""
        if flagged is None:
            return None
        shift = self.n_seen_ - n_old  # kept point 0 is point number n_seen_ - n_old of the whole series
        return anomaly.Known({(p - shift, c): median for (p, c), median in flagged.items() if 0 <= p - shift < n_old},
                             shift, getattr(flagged, "floor", None))

    def _settled(self, y: np.ndarray, n_old: int, runs: Sequence[tuple[int, int, int, float]]) -> np.ndarray:
        """``y`` (the kept points, then from ``n_old`` on the new ones) as the validation reads it: the parts of
        ``runs`` (positions counted from the first fitted point) inside it read as their medians."""
        shift = self.n_seen_ - n_old  # y[0] is point number n_seen_ - n_old of the whole series
        inside = anomaly.shifted_runs(runs, -shift, len(y))
        return anomaly.settle(y, inside) if inside else y

    def _roll_validation(self, y: np.ndarray, n_old: int, origins: np.ndarray, forecasts: np.ndarray,
                         runs: Sequence[tuple[int, int, int, float]] = ()) -> dict[str, Any]:
        """The validation buffers with the windows at ``origins`` (of ``y``) in place of the oldest ones; the kept
        windows' targets inside ``runs`` (settled bursts, positions from the first fitted point) read as medians."""
        keep = len(self.validation_actual_)
        shift = self.n_seen_ - n_old  # y[0] is point number n_seen_ - n_old of the whole series
        actual = newest(np.concatenate([self.validation_actual_, targets_at(y, origins, self.horizon)]), keep)
        kept = newest(np.concatenate([self.validation_origins_, origins + shift]), keep)
        settled = anomaly.settle_targets(actual, kept, runs if isinstance(runs, anomaly.Runs) else list(runs))
        return dict(
            validation_forecast_=newest(np.concatenate([self.validation_forecast_, forecasts]), keep),
            validation_actual_=actual if settled is None else settled,
            validation_origins_=kept,
        )

    def _recent_length(self) -> int:
        """How many trailing points ``update`` keeps: the inputs and targets of the newest window."""
        return self.context_length() + self.horizon - 1

    def _update_state(self, y: np.ndarray, n_old: int,
                      known: dict[tuple[int, int], float] | None = None) -> dict[str, Any]:
        """New fitted attributes after appending ``y[n_old:]`` (``y`` starts with ``recent_``); ``known``: the flagged
        buckets among ``y[:n_old]`` (``{(position in y, target index): reference median}``, None: not known).

        The default keeps the fitted parameters (baselines have none).
        """
        return {}

    def predict(self, steps: int | None = None) -> np.ndarray:
        """Forecast ``steps`` (default ``horizon``) points after the end of the fitted series: loads, clipped at 0 as
        a ``WorkloadPredictor``'s forecast is (the model's map may forecast below 0 where the series holds
        zeros; :meth:`_map_predict` gives it unclipped).

        From ``context_``; in a model that scanned its own fit (``fit(y)``, no ``anomalies``), each burst among those
        points that the series came back from read as its reference median, as a ``WorkloadPredictor`` reads its
        model's inputs (:meth:`_own_inputs`): a burst that reaches the newest point is read as it is (it may be the
        start of a surge).
        """
        return np.maximum(self._map_predict(steps), 0.0)  # np.clip costs 1.5 us a call, this 0.4

    def _map_predict(self, steps: int | None = None) -> np.ndarray:
        """:meth:`predict` unclipped: the model's map (what a model file's check reads)."""
        check_is_fitted(self, "context_")
        steps = self._check_steps(steps)
        inputs = self._own_inputs()
        forecast = self._predict_at(inputs, np.array([len(inputs)]))[0, :steps]
        return forecast[:, 0] if self._one_d else forecast

    def predict_at(self, y: Any, origins: Any) -> np.ndarray:
        """Forecasts ``(len(origins), horizon, k)`` from the points of ``y`` before each origin.

        ``origins``: integer positions in ``[context_length(), len(y)]``, in any order (each forecast reads
        only the points before its origin); none gives an empty ``(0, horizon, k)`` array. Loads, clipped at 0 as
        :meth:`predict`'s (:meth:`_map_predict_at`: unclipped).
        """
        return np.maximum(self._map_predict_at(y, origins), 0.0)

    def _map_predict_at(self, y: Any, origins: Any) -> np.ndarray:
        """:meth:`predict_at` unclipped: the model's map (what a predictor's backtest reads, and clips)."""
        check_is_fitted(self, "context_")
        horizon = self._fitted_horizon()
        matrix, _ = as_matrix(y)
        if matrix.shape[1] != self.n_targets_:
            raise WorkloadDataError(f"y has {matrix.shape[1]} targets; the model was fitted on {self.n_targets_}.")
        origins = check_origins(origins, self.context_length(), len(matrix), "a full input window")
        if len(origins) == 0:
            return np.zeros((0, horizon, matrix.shape[1]))
        return self._predict_at(matrix, origins)

    # -- for subclasses -------------------------------------------------------------------
    def context_length(self) -> int:
        """How many trailing points ``predict`` reads."""
        raise NotImplementedError

    def _fit_arrays(self, y: np.ndarray, refit: bool) -> None:
        raise NotImplementedError

    def _refit(self, y: np.ndarray, n_seen: int) -> None:
        """Refit on all of ``y``, of which the model was fitted on ``y[:n_seen]``."""
        self._fit_arrays(y, refit=True)

    def _predict_at(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _validation_forecast(self, y: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """The validation tail's forecasts ``(v, horizon, k)`` at ``origins`` of ``y``, by the model fitted on the
        points before them (a model may settle a last choice on them here, as the LSTM does)."""
        return self._predict_at(y, origins)

    def _required_window(self) -> int:
        window = getattr(self, "window", None)
        if window is None:
            return self.min_window
        if not is_positive_int(window):  # the length check reads it first (model_params={"window": ...} too)
            raise WorkloadDataError(f"window={quote(window)} must be a positive integer number of buckets (e.g. 12), "
                                    "or None for the model's default.")
        return int(window)

    # -- checks ----------------------------------------------------------------------------
    def _check_horizon(self) -> None:
        if not is_positive_int(self.horizon):
            raise WorkloadDataError(f"horizon={quote(self.horizon)} must be a positive integer number of buckets.")

    def _fitted_horizon(self) -> int:
        """The horizon of the fit (the steps of its validation forecasts), after checking that ``horizon`` is still
        that: a fitted model forecasts, updates and calibrates for the horizon it was fitted with."""
        fitted = self.validation_forecast_.shape[1]
        if self.horizon != fitted:
            raise WorkloadDataError(f"horizon changed from {fitted} to {quote(self.horizon)} since fit: fit again, or "
                                    f"set it back with set_params(horizon={fitted}).")
        return fitted

    def search_shortfall(self, n: int) -> str | None:
        """Why ``n`` points are too few for a search of the data the model runs before its fit (None: no such search,
        or they suffice): the ensemble leaves such a member out, as one that finds nothing to fit."""
        return None

    def _length_suffices(self, n: int) -> bool:
        """Whether ``n`` points leave room for ``MIN_TRAIN_WINDOWS`` training windows before the validation tail."""
        check_validation_settings(self)
        window = self._required_window()
        if window > MAX_WINDOW:
            raise WorkloadDataError(f"a window of {quote(window)} buckets is longer than any series ({MAX_WINDOW:,} "
                                    f"buckets at most): pass a smaller {self.window_setting}.")
        needed_train = window + self.horizon + MIN_TRAIN_WINDOWS - 1
        tail = validation_origins(n, self.horizon, self.validation_fraction, self.max_validation_windows)
        return int(tail[0]) >= needed_train

    def minimum_length(self) -> int:
        """The fewest points ``fit`` accepts with these settings."""
        return fewest_points(self._length_suffices)

    def check_settings(self) -> None:
        """The typed error ``fit`` raises for these settings before it reads any data (the window, the validation
        split, the horizon against them), or none: what a model file's load and save, and a fleet, check."""
        self.minimum_length()

    def _check_length(self, n: int, origins: np.ndarray | None = None) -> None:
        if self._length_suffices(n):
            return
        raise WorkloadDataError(
            f"{plural(n, 'point')} {'is' if n == 1 else 'are'} too few for window {self._required_window()} + horizon "
            f"{self.horizon}: "
            f"training needs {MIN_TRAIN_WINDOWS} windows plus a validation tail, i.e. at least "
            f"{self.minimum_length()} points. {self._shortfall_fix(n, self._shorter_window_fix())}"
        )

    def _shorter_window_fix(self) -> str | None:
        """The advice to shorten what the model reads ("a smaller window="), or None where it reads one bucket, the
        fewest there is (naive's window)."""
        return f"a smaller {self.window_setting}" if self._required_window() > 1 else None

    def _shortfall_fix(self, n: int, setting: str | None) -> str:
        """The advice of a message saying ``n`` points are too few: more history, ``setting`` (the model's own
        setting that shortens what it reads, e.g. "a smaller window="; None: none does) or the longest horizon below
        this one that ``n`` points suffice for; where none does (every horizon needs more points), the points
        horizon 1 needs, not a smaller horizon, which would not help."""
        def at(horizon: int) -> BaseForecaster:
            other = copy.copy(self)
            other.horizon = horizon
            return other

        fits, above = 0, min(int(self.horizon), n + 1)  # a horizon of n points or more leaves no training window
        while above - fits > 1:  # the points a fit needs grow with the horizon: bisect for the longest that fits
            middle = (fits + above) // 2
            fits, above = (middle, above) if at(middle)._length_suffices(n) else (fits, middle)
        settings = f", {setting}" if setting else ""
        if fits:
            return (f"Pass more history{settings} or horizon={fits}" + (" or less" if fits > 1 else "")
                    + " (the longest these points fit).")
        history = "Pass more history" if int(self.horizon) == 1 else (
            f"Pass more history (at least {at(1).minimum_length()} points at horizon=1)")
        return f"{history} or {setting}." if setting else f"{history}."

    def _check_steps(self, steps: int | None) -> int:
        if getattr(self, "validation_forecast_", None) is not None:  # a fitted model: its horizon is the fit's
            BaseForecaster._fitted_horizon(self)
        if steps is None:
            return int(self.horizon)
        if not is_positive_int(steps):
            raise WorkloadDataError(f"steps={quote(steps)} must be a positive integer.")
        if steps > self.horizon:
            raise WorkloadDataError(
                f"steps={steps} exceeds the fitted horizon {self.horizon}; the models forecast directly up to "
                f"their horizon. Fit with horizon={steps} (or more) to forecast that far."
            )
        return int(steps)
