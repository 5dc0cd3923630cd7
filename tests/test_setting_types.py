"""Settings of the wrong type or far out of range, given to a model on its own or through ``model_params``: a typed
error naming the setting, before any numpy or torch work, never an error from inside them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from click.testing import CliRunner
from hypothesis import strategies as st

from conftest import generic_timedelta, periodic_series
from workload_predictor import FleetPredictor, ModelFileError, WorkloadDataError, WorkloadPredictor, persistence
from workload_predictor.backtest import backtest_origins, run_backtest
from workload_predictor.cli import main
from workload_predictor.data import gap_buckets
from workload_predictor.models import registry
from workload_predictor.models.dlinear import DLinear

SERIES = periodic_series(400)
LIGHT_LSTM = {"max_epochs": 1, "hidden_size": 4}

# Anything that is not a positive integer number of buckets (nor None).
NOT_A_WINDOW = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not (x.is_integer() and x >= 1)),
    st.integers(max_value=0), st.booleans(), st.text(max_size=3), st.lists(st.integers(1, 50), max_size=2),
    st.tuples(st.integers(1, 50)), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(window=NOT_A_WINDOW)
@example(window=float("nan"))
@example(window=float("inf"))
@example(window=[3])
@example(window=(3,))
@example(window={})
def test_an_lstm_window_that_is_no_positive_integer_is_a_typed_error(window):
    """Before: model_params={"window": nan} (or inf, [3], (3,), {}) reached the LSTM's length check, whose int(window)
    raised ValueError "cannot convert float NaN to integer" or a TypeError (the predictor's own window= is checked by
    the registry, model_params' is not)."""
    with pytest.raises(WorkloadDataError, match=r"window=.* must be a positive integer number of buckets"):
        WorkloadPredictor(model="lstm", horizon=5, model_params={"window": window, **LIGHT_LSTM}).fit(SERIES)


@pytest.mark.parametrize("kernel_size", [2**64, 10**30])
@pytest.mark.parametrize("model", ["dlinear", "lstm"])
def test_a_kernel_longer_than_any_series_is_a_typed_error(model, kernel_size):
    """Before: OverflowError "Python int too large to convert to C long" from the moving-average matrix, whose
    padding is counted in int64 (2**63 and below were taken)."""
    params = {"kernel_size": kernel_size, **(LIGHT_LSTM if model == "lstm" else {})}
    with pytest.raises(WorkloadDataError, match=r"kernel_size=.* is longer than any series"):
        WorkloadPredictor(model=model, horizon=5, model_params=params).fit(SERIES)


def test_the_longest_kernel_a_series_may_have_is_taken():
    DLinear(horizon=5, kernel_size=2**40).fit(SERIES["requests"])


@pytest.mark.parametrize("member_params", [False, 0, -0.0, [], ""], ids=repr)
def test_member_params_that_are_no_mapping_are_refused_even_when_empty(member_params):
    """Before: any false value (False, 0, [], '') was read as "no member parameters" and the ensemble fitted."""
    with pytest.raises(WorkloadDataError, match="member_params=.* must map member names"):
        WorkloadPredictor(model="ensemble", horizon=5,
                          model_params={"members": ("dlinear", "naive"), "member_params": member_params}).fit(SERIES)


# numpy registers np.timedelta64 as an integer (numbers.Integral): a span such as np.timedelta64(1, "h") passed every
# "positive integer" check, then int() of it raised TypeError, or a span in nanoseconds was read as that many buckets.
@pytest.mark.parametrize("settings", [
    dict(horizon=np.timedelta64(3, "h")), dict(horizon=np.timedelta64(3, "ns")), dict(window=np.timedelta64(1, "h")),
    dict(random_state=np.timedelta64(3, "s")), dict(n_threads=np.timedelta64(1, "s")),
    dict(max_training_time=np.timedelta64(5, "m")), dict(model_params={"kernel_size": np.timedelta64(25, "m")}),
    dict(model_params={"blend": np.timedelta64(2, "m")}), dict(model_params={"alpha": np.timedelta64(2, "m")}),
    dict(model_params={"half_life": np.timedelta64(2, "D")}),
    dict(model="moving_average", model_params={"window": np.timedelta64(12, "m")}),
    dict(model="seasonal_median", model_params={"seasons": np.timedelta64(2, "D")}),
    dict(model="lstm", model_params={"learning_rate": np.timedelta64(1, "s"), **LIGHT_LSTM}),
], ids=repr)
def test_a_numpy_timedelta_is_no_number_of_buckets_or_seconds(settings):
    name, value = next(iter(settings.get("model_params", settings).items()))
    # The value as numpy writes it: np.timedelta64(1,'h') (numpy 2), numpy.timedelta64(1,'h') (numpy 1.26)
    with pytest.raises(WorkloadDataError, match=re.escape(f"{name}={value!r}")):
        WorkloadPredictor(**{"horizon": 5, **settings}).fit(SERIES)


def test_a_numpy_timedelta_is_no_forecast_length():
    predictor = WorkloadPredictor(horizon=5).fit(SERIES)
    with pytest.raises(WorkloadDataError, match=re.escape(f"steps={np.timedelta64(3, 'm')!r}")):
        predictor.predict(np.timedelta64(3, "m"))


@pytest.mark.parametrize("gap, buckets", [(np.timedelta64(3, "m"), 3), (np.timedelta64(2, "h"), 120),
                                          (np.timedelta64(90, "s"), 1), (np.timedelta64(0, "ns"), 0)], ids=repr)
def test_a_numpy_timedelta_max_gap_is_a_span(gap, buckets):
    """Before: np.timedelta64(3, "m") raised TypeError from int(), and np.timedelta64(3, "ns") was 3 buckets."""
    assert gap_buckets(gap, pd.Timedelta("1min")) == buckets


@pytest.mark.parametrize("gap", ["3", " 12 ", "-3", "0", pytest.param(generic_timedelta, id="np.timedelta64(3)")], ids=repr)
def test_a_max_gap_without_a_unit_is_a_typed_error(gap):
    """Before: pandas read '3' as 3 nanoseconds: max_gap='3' zero-filled no bucket at all, and an update one bucket
    late was refused as a gap."""
    if callable(gap):
        gap = gap(3)
    with pytest.raises(WorkloadDataError, match="max_gap=.* has no unit"):
        WorkloadPredictor(horizon=5, max_gap=gap).fit(SERIES)


def test_a_max_gap_span_bounds_the_update_in_buckets():
    predictor = WorkloadPredictor(horizon=5, max_gap="3min").fit(SERIES)
    last = SERIES["timestamp"].iloc[-1]
    predictor.update(pd.DataFrame({"timestamp": [last + pd.Timedelta("4min")], "requests": [100.0]}))
    assert predictor.last_timestamp_ == pd.Timestamp(last, tz="UTC") + pd.Timedelta("4min")


@pytest.mark.parametrize("stride", [10**6, 2**63, 10**30], ids=repr)
def test_a_stride_past_the_series_gives_the_first_origin_alone(stride):
    """Before: np.arange made an object array of stride=10**30, which the origins' check refused as "origins=array([600],
    dtype=object) must be a 1-D sequence of integer positions" (the CLI's evaluate --stride said so too)."""
    origins = backtest_origins(700, 10, 100, stride)
    assert origins.tolist() == [600] and origins.dtype == np.int64
    result = run_backtest(SERIES, ["dlinear"], ["naive"], horizon=5, test_size=100, stride=stride, verbose=False)
    assert result.origins.tolist() == [300]  # the last 100 of 400 buckets


@pytest.mark.parametrize("command", ["forecast", "evaluate"])
@pytest.mark.parametrize("seed", ["-1", str(2**32), str(10**30)])
def test_a_seed_no_model_takes_is_a_usage_error_naming_the_option(command, seed, tmp_path):
    """Before: exit 3 after reading the trace (evaluate: after its first fits) with "random_state=-1 must be None or an
    integer seed ...; a numpy RandomState or Generator is not accepted", which names no option of the CLI."""
    path = tmp_path / "series.csv"
    SERIES.to_csv(path, index=False)
    args = [command, str(path), "--quiet", "--seed", seed] + (["--models", "dlinear"] if command == "evaluate" else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "'--seed'" in result.output and "0<=x<=4294967295" in result.output


# Any value for any setting of a model: the fit succeeds or raises WorkloadDataError, never an error from numpy or
# int() (each setting was probed with these kinds of values in review; the LSTM trains one tiny epoch at most).
HOSTILE = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([2**40 + 1, 2**63, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3),
    st.lists(st.integers(-2, 50), max_size=3), st.tuples(st.floats(0, 2)), st.dictionaries(st.text(max_size=2),
                                                                                          st.integers(), max_size=1),
    st.sampled_from([np.int64(2), np.float32(2.0), np.float32("nan"), np.bool_(True), np.array(3),
                     np.timedelta64(2, "m"), np.uint64(2**64 - 1)]),
)
# (model, setting): every tunable setting of the models cheap to fit (the LSTM trains one tiny epoch at most).
SETTINGS = [(model, name) for model in ("dlinear", "seasonal_naive", "moving_average", "moving_median",
                                        "exponential_smoothing", "seasonal_median", "lstm")
            for name in registry.get(model).tunable()]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(setting=st.sampled_from(SETTINGS), value=HOSTILE)
@example(setting=("lstm", "window"), value=float("nan"))  # int() of NaN (28decec)
@example(setting=("dlinear", "kernel_size"), value=10**30)  # numpy's OverflowError (b1d9d8b)
@example(setting=("dlinear", "blend"), value=np.timedelta64(2, "m"))  # slice indices (203ed62)
@example(setting=("moving_average", "window"), value=np.timedelta64(2, "m"))  # int() of a timedelta (203ed62)
@example(setting=("lstm", "learning_rate"), value=3.402823466385288e37)  # torch's Adam overflowed in float32
def test_any_value_of_any_model_setting_fits_or_is_a_typed_error(setting, value):
    model, name = setting
    params = {**(LIGHT_LSTM if model == "lstm" and name not in LIGHT_LSTM else {}), name: value}
    try:
        WorkloadPredictor(model=model, horizon=5, model_params=params, memory_limit_mb=1024).fit(SERIES).predict()
    except WorkloadDataError:
        pass


@pytest.mark.parametrize("rate", [3.4e37, 1e38, 1e300])
def test_a_learning_rate_torch_cannot_step_with_is_a_typed_error(rate):
    """Before: RuntimeError "value cannot be converted to type float without overflow" from torch's Adam, whose
    float32 step size is the rate over its bias correction (found by the hypothesis test above)."""
    with pytest.raises(WorkloadDataError, match="learning_rate=.* must be a positive, finite number up to 1e\\+06"):
        WorkloadPredictor(model="lstm", horizon=1, model_params={"learning_rate": rate, **LIGHT_LSTM}).fit(SERIES)


@pytest.mark.parametrize("model", ["dlinear", "naive", "ensemble"])
@pytest.mark.parametrize("verbose", ["no", 0, float("nan")], ids=repr)
def test_a_bad_progress_bar_setting_is_refused_whatever_the_model(model, verbose):
    """As the seed, threads and device: the LSTM refused verbose='no' while DLinear, the baselines and an ensemble
    without an LSTM took it (switching model= then failed a configuration that had worked)."""
    params = {"members": ("dlinear", "naive")} if model == "ensemble" else None
    with pytest.raises(WorkloadDataError, match="verbose=.* must be True, False or None"):
        WorkloadPredictor(model=model, horizon=5, verbose=verbose, model_params=params).fit(SERIES)


def _fleet_frame() -> pd.DataFrame:
    frames = [periodic_series(300, seed=i).assign(key=key) for i, key in enumerate("abc")]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("model, params, message", [
    ("dlinear", {"kernel_size": 0}, "kernel_size=0 must be a positive integer"),
    ("dlinear", {"alpha": -1.0}, "alpha=-1.0 must be a positive, finite ridge penalty"),
    ("dlinear", {"robust": "yes"}, "robust='yes' must be True or False"),
    ("dlinear", {"blend": 2.5}, "blend=2.5 must be a positive integer"),
    ("dlinear", {"candidate_windows": [0]}, "candidate_windows=\\[0\\] must be a non-empty list"),
    ("moving_average", {"window": 2.5}, "window=2.5 must be a positive integer"),
    ("exponential_smoothing", {"alphas": (2.0,)}, "alphas=\\(2.0,\\) must be a non-empty list"),
    ("dlinear", {"kernel_size": 2**41}, "longer than any series"),
], ids=repr)
def test_a_fleet_refuses_bad_model_settings_once_at_fit(model, params, message):
    """Before: the batched DLinear fit took kernel_size, alpha, blend and robust as given (alpha=-1.0 and robust='yes'
    fitted every key; kernel_size=0 raised a bare ValueError 'kernel_size must be >= 1' from the moving-average
    matrix), and the other settings failed every key alone: fit returned with no key fitted and the error in
    errors_ once per key."""
    with pytest.raises(WorkloadDataError, match=message):
        FleetPredictor(model=model, horizon=5, model_params=params).fit(_fleet_frame())


def test_a_fleet_file_with_model_settings_fit_refuses_is_refused(tmp_path):
    """Before: fitted_params_ with alpha=-1.0 loaded (its checks built the model without checking its settings), and
    the next update refitted every DLinear key with the negative penalty."""
    fleet = FleetPredictor(horizon=5).fit(_fleet_frame())
    fleet.fitted_params_["model_params"] = {"alpha": -1.0}
    path = persistence.save(fleet, tmp_path / "fleet.wp")
    with pytest.raises(ModelFileError, match="alpha=-1.0 must be a positive"):
        FleetPredictor.load(path)


def test_a_predictor_file_with_model_settings_fit_refuses_is_refused(tmp_path):
    """Before: model_params={'alpha': -1.0} loaded (the checks built the model without checking its settings)."""
    predictor = WorkloadPredictor(horizon=5).fit(SERIES)
    predictor.model_params = {"alpha": -1.0}
    path = persistence.save(predictor, tmp_path / "predictor.wp")
    with pytest.raises(ModelFileError, match="alpha=-1.0 must be a positive"):
        WorkloadPredictor.load(path)


def test_set_params_with_an_unknown_name_is_a_typed_error_that_changes_nothing():
    """Before: a plain ValueError, after horizon=3 (named first) had been set."""
    predictor = WorkloadPredictor(horizon=10)
    with pytest.raises(WorkloadDataError, match="no parameter 'kernel_size' \\(a model's own settings go in "
                                                "model_params"):
        predictor.set_params(horizon=3, kernel_size=5)
    assert predictor.horizon == 10
    fleet = FleetPredictor(horizon=10)
    with pytest.raises(WorkloadDataError, match="no parameter 'n_job'"):
        fleet.set_params(horizon=3, n_job=2)
    assert fleet.horizon == 10


@pytest.mark.parametrize("name, value", [("level", 1.0), ("level", None), ("max_gap", "3"), ("memory_limit_mb", 0),
                                         ("max_training_time", -1), ("model_params", {"kernel_size": 0}),
                                         ("window", 2.5), ("random_state", -1)], ids=repr)
def test_save_refuses_a_setting_load_would_refuse(name, value, tmp_path):
    """Before: set_params(level=1.0) after fit, and save() wrote a file that load() refused as "damaged or altered"
    (382 of the review's 25 values x every setting, predictor and fleet)."""
    predictor = WorkloadPredictor(horizon=5).fit(SERIES).set_params(**{name: value})
    with pytest.raises(WorkloadDataError, match=f"{name if name != 'model_params' else 'kernel_size'}="):
        predictor.save(tmp_path / "predictor.wp")
    assert not (tmp_path / "predictor.wp").exists()
    fleet = FleetPredictor(horizon=5).fit(_fleet_frame()).set_params(**{name: value})
    with pytest.raises(WorkloadDataError, match=f"{name if name != 'model_params' else 'kernel_size'}="):
        fleet.save(tmp_path / "fleet.wp")
    assert not (tmp_path / "fleet.wp").exists()


@pytest.mark.parametrize("timestamp", [{}, {"timestamp"}, {"timestamp": 1}])
def test_a_timestamp_argument_that_is_no_column_name_is_a_typed_error(timestamp):
    # A dict or a set failed in pandas' column lookup ("Passing a dict as an indexer is not supported", "unhashable
    # type"), in fit, update, the backtest and the fleet's fit and update.
    data, message = SERIES, r"timestamp=.* must be one column name"
    with pytest.raises(WorkloadDataError, match=message):
        WorkloadPredictor(horizon=5).fit(data, timestamp=timestamp)
    predictor = WorkloadPredictor(horizon=5).fit(data)
    following = data.iloc[-1:].assign(timestamp=data["timestamp"].iloc[-1] + pd.Timedelta("1min"))
    with pytest.raises(WorkloadDataError, match=message):
        predictor.update(following, timestamp=timestamp)
    with pytest.raises(WorkloadDataError, match=message):
        run_backtest(data, ["naive"], baselines=(), horizon=5, timestamp=timestamp)
    long = pd.concat([data.assign(key="a"), data.assign(key="b")])
    with pytest.raises(WorkloadDataError, match=message):
        FleetPredictor(horizon=5).fit(long, timestamp=timestamp)
    fleet = FleetPredictor(horizon=5).fit(long)
    with pytest.raises(WorkloadDataError, match=message):  # once for the frame, as fit raises it, not every key's
        fleet.update(following.assign(key="a"), timestamp=timestamp)
    assert fleet.update_errors_ == {}


@pytest.mark.parametrize("model, params, advice", [
    ("moving_median", {"windows": (500,)}, "points at horizon=1) or a smaller windows=."),
    ("seasonal_median", {"season_length": 150}, "points at horizon=1) or a smaller season_length=."),
    ("moving_median", {"windows": (2**41,)}, "pass a smaller windows=."),
    ("seasonal_median", {"season_length": 2**40}, "pass a smaller season_length=."),
])
def test_a_window_too_long_for_the_series_names_the_setting_that_sets_it(model, params, advice):
    # These models read no window= (the predictor's window is ignored for them), yet the advice was "a smaller window=".
    with pytest.raises(WorkloadDataError) as error:
        WorkloadPredictor(model=model, model_params=params).fit(SERIES)
    assert advice in str(error.value) and "window=" not in str(error.value)


@pytest.mark.parametrize("horizon", [float("nan"), float("inf"), -float("inf"), "3", [], None])
@pytest.mark.parametrize("model", ["dlinear", "naive", "ensemble"])
def test_a_fleet_horizon_that_is_no_positive_integer_is_a_typed_error(model, horizon):
    # The fleet's length check read the horizon before it was checked: NaN and inf failed in numpy or int()
    # ("cannot convert float NaN to integer", OverflowError), text, None or a list with "unsupported operand type".
    long = pd.concat([SERIES.assign(key="a"), SERIES.assign(key="b")])
    with pytest.raises(WorkloadDataError, match=r"horizon=.* must be a positive integer number of buckets"):
        FleetPredictor(model=model, horizon=horizon).fit(long)
