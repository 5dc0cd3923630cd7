"""What the README's Python API and the docstrings promise a user, against what the code does: each setting either
works or is refused with a typed error (a ``ValueError`` subclass naming the problem and the fix), never an
``IndexError`` from deep inside; a setting that cannot apply to the rows given is refused as ``fit`` refuses it.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import periodic_series

from workload_predictor import FleetPredictor, WorkloadDataError, WorkloadPredictor
from workload_predictor.models import DLinear

SERIES = periodic_series(400, noise=3.0)
#: A random walk, on which the one-bucket window forecasts best (the last value) and wins a search.
WALK = np.abs(np.cumsum(np.random.default_rng(0).normal(0.0, 5.0, 600))) + 100.0


# -- DLinear's window: one bucket has no step to read its noise from -----------------------------------------------
@pytest.mark.parametrize("model", ["dlinear", "dlinear_log", "lstm", "ensemble"])
def test_a_window_of_one_bucket_is_refused_with_a_typed_error(model):
    settings = {"lstm": {"max_epochs": 1, "hidden_size": 4}}.get(model)
    with pytest.raises(WorkloadDataError, match=r"window=1 is too short for DLinear.*pass window=2 or more") as refused:
        WorkloadPredictor(model=model, horizon=5, window=1, model_params=settings, random_state=0).fit(SERIES)
    # model="lstm" or "ensemble" names no DLinear: the message says why it is the one refusing
    assert "the LSTM's and the ensemble's base" in str(refused.value), str(refused.value)


def test_a_bare_dlinear_refuses_a_window_of_one_bucket():
    with pytest.raises(WorkloadDataError, match="window=1 is too short"):
        DLinear(horizon=5, window=1).fit(SERIES["requests"].to_numpy())


@pytest.mark.parametrize("model", ["dlinear", "dlinear_log", "lstm", "ensemble"])
def test_a_fleet_refuses_a_window_of_one_bucket_once(model):
    frame = pd.concat([SERIES.assign(key=key) for key in "ab"], ignore_index=True)
    settings = {"lstm": {"max_epochs": 1, "hidden_size": 4}}.get(model)
    with pytest.raises(WorkloadDataError, match="window=1 is too short") as refused:
        FleetPredictor(model=model, horizon=5, window=1, model_params=settings).fit(frame, key="key")
    assert type(refused.value) is WorkloadDataError  # the fit's error: not an IndexError, nor every key's


@pytest.mark.parametrize("settings", [
    {"candidate_windows": [1]},
    {"candidate_windows": [1, 24], "blend": 1},  # the one-bucket window scores best on a random walk
    {"candidate_windows": [1, 500]},  # 500 has no room to be scored: the one-bucket window is the only one
])
def test_candidate_windows_of_one_bucket_are_refused_at_fit(settings):
    with pytest.raises(WorkloadDataError, match=r"candidate_windows=\[1.*holds a window of one bucket.*drop it"):
        DLinear(horizon=5, **settings).fit(WALK)


@pytest.mark.parametrize("model, settings, teacher", [
    ("dlinear", {"candidate_windows": [1, 24], "blend": 1}, None),  # the batched keys' own search
    ("dlinear_log", {"candidate_windows": [1]}, None),
    ("dlinear", {"candidate_windows": [1, 24]}, "global_lstm"),  # the teacher's DLinear students
    ("ensemble", {"members": ("dlinear", "naive"), "member_params": {"dlinear": {"candidate_windows": [1]}}}, None),
])
def test_a_fleet_refuses_candidate_windows_of_one_bucket_once(model, settings, teacher):
    walks = np.abs(np.cumsum(np.random.default_rng(1).normal(0.0, 5.0, (2, 600)), axis=1)) + 100.0
    frame = pd.concat([pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=600, freq="1min"),
                                     "requests": walk, "key": key}) for key, walk in zip("ab", walks)])
    fleet = FleetPredictor(model=model, horizon=5, model_params=settings, teacher=teacher,
                           teacher_params={"max_epochs": 1} if teacher else None)
    with pytest.raises(WorkloadDataError, match=r"candidate_windows=\[1.*holds a window of one bucket") as refused:
        fleet.fit(frame, key="key")
    assert type(refused.value) is WorkloadDataError  # the fit's error, not every key's (NoKeyFittedError)


def test_windows_of_two_buckets_still_fit():
    for model in (DLinear(horizon=5, window=2), DLinear(horizon=5, candidate_windows=[2, 24], blend=1)):
        forecast = model.fit(WALK).predict()
        assert model.window_ >= 2 and np.isfinite(forecast).all()


# -- update reads unit= and origin= as fit does ---------------------------------------------------------------------
HISTORY, NEW = SERIES.iloc[:-5], SERIES.iloc[-5:]


@pytest.mark.parametrize("settings", [{"unit": "s"}, {"unit": "ms", "origin": "2024-01-01"}])
def test_update_refuses_unit_beside_datetimes_as_fit_does(settings):
    predictor = WorkloadPredictor(horizon=5).fit(HISTORY)
    with pytest.raises(WorkloadDataError, match="how to read numeric timestamps") as at_fit:
        WorkloadPredictor(horizon=5).fit(SERIES, **settings)
    with pytest.raises(WorkloadDataError, match="how to read numeric timestamps") as at_update:
        predictor.update(NEW, **settings)
    assert str(at_fit.value).split(" (")[0] == str(at_update.value).split(" (")[0]
    assert predictor.n_updates_ == 0 and predictor.last_timestamp_ == HISTORY["timestamp"].iloc[-1].tz_localize("UTC")


# -- a fleet's update: an error of the whole frame is raised once, as fit raises it -----------------------------------
def _fleet_frames():
    history = pd.concat([HISTORY.assign(key=key) for key in "ab"], ignore_index=True)
    new = pd.concat([NEW.assign(key=key) for key in "ab"], ignore_index=True)
    return FleetPredictor(horizon=5).fit(history, key="key"), new


@pytest.mark.parametrize("change, message", [
    (lambda new: (new.drop(columns="timestamp"), {}), "no timestamp column 'timestamp'"),
    (lambda new: (new, {"timestamp": "time"}), "no timestamp column 'time'"),
    (lambda new: (new.drop(columns="requests"), {}), "no target column 'requests'"),
    (lambda new: (new, {"unit": "s"}), "unit='s' says how to read numeric timestamps"),
    (lambda new: (new, {"origin": "2024-01-01"}), "origin='2024-01-01' says how to read numeric timestamps"),
    (lambda new: (new.set_axis(pd.MultiIndex.from_product([new.columns, [""]]), axis=1), {}), "MultiIndex"),
    # the stamps in a DatetimeIndex, as each key's rows read them (h210: the error was copied for every key)
    (lambda new: (new.set_index("timestamp"), {"timestamp": None, "unit": "s"}),
     "unit='s' says how to read numeric timestamps"),
    (lambda new: (new.set_index("timestamp"), {"timestamp": None, "origin": "2024-01-01"}),
     "origin='2024-01-01' says how to read numeric timestamps"),
])
def test_a_fleet_update_raises_an_error_of_the_whole_frame_once(change, message):
    fleet, new = _fleet_frames()
    rows, settings = change(new)
    before = fleet.predict()
    with pytest.raises(WorkloadDataError, match=message):
        fleet.update(rows, **settings)  # not an update that "succeeds" with every key in update_errors_
    pd.testing.assert_frame_equal(fleet.predict(), before)
    fleet.update(new)
    assert fleet.update_errors_ == {} and not fleet.predict().equals(before)


# -- Forecast.to_requests(count=...) names the count given ---------------------------------------------------------
@pytest.mark.parametrize("count", ["qps", "upper", 5])
def test_to_requests_names_a_count_that_is_no_target(count):
    """It said "the forecast has no request-count target ... fit with target='requests'" of a forecast of requests."""
    forecast = WorkloadPredictor(horizon=5).fit(SERIES).predict()
    with pytest.raises(WorkloadDataError) as refused:
        forecast.to_requests(random_state=0, count=count)
    assert str(refused.value).startswith(f"count={count!r} is not a target of the forecast (targets: ['requests'])")
    assert "count=None" in str(refused.value) and "fit with" not in str(refused.value)
    assert len(forecast.to_requests(random_state=0, count="requests")) > 0


# -- the global LSTM's shortest window: the message names the fix --------------------------------------------------
@pytest.mark.parametrize("window", [5, 11])
def test_a_global_lstm_window_below_its_minimum_names_the_fix(window):
    frame = pd.concat([SERIES.assign(key=key) for key in "ab"], ignore_index=True)
    fleet = FleetPredictor(model="global_lstm", horizon=5, window=window, model_params={"max_epochs": 1})
    with pytest.raises(WorkloadDataError, match=rf"window={window} is below the global LSTM's minimum of 12 buckets: "
                                                r"pass window=12 or more, or None for the default"):
        fleet.fit(frame, key="key")


# -- a bare model's anomalies= message shows the dict it asks for --------------------------------------------------
@pytest.mark.parametrize("anomalies", ["x", [1]])
def test_a_bare_models_anomalies_message_shows_the_dict_it_wants(anomalies):
    with pytest.raises(WorkloadDataError) as refused:
        DLinear(horizon=5).fit(WALK, anomalies=anomalies)
    assert "must be a dict {(position, target index): reference median} of flagged buckets" in str(refused.value)


def _doubled_braces_beside_f_strings(text: str) -> list[tuple[int, str]]:
    """Plain string literals joined (implicitly, as one message) to an f-string that hold ``{{`` or ``}}``: only the
    f-string parts turn them into one brace, so a plain part shows them doubled to the user. Python 3.12 and later
    tokenize an f-string as ``FSTRING_START`` ... ``FSTRING_END`` (PEP 701), earlier ones as one ``STRING``."""
    fstring_start = getattr(tokenize, "FSTRING_START", None)
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    found, group, depth = [], [], 0  # group: (line, text, whether an f-string) of the literals joined so far
    for token in [*tokenize.generate_tokens(io.StringIO(text).readline), None]:
        if token is not None and fstring_start is not None and token.type in (fstring_start, fstring_end):
            depth += 1 if token.type == fstring_start else -1
            if token.type == fstring_start and depth == 1:
                group.append((token.start[0], token.string, True))
            continue
        if depth:  # inside an f-string (its parts, its fields' expressions)
            continue
        if token is not None and token.type == tokenize.STRING:
            prefix = re.match(r"[rRbBuUfF]*", token.string).group().lower()
            group.append((token.start[0], token.string, "f" in prefix))
            continue
        if token is not None and token.type in (tokenize.NL, tokenize.COMMENT) and group:
            continue
        if len(group) > 1 and any(is_f for _, _, is_f in group):
            found += [(line, string) for line, string, is_f in group
                      if not is_f and ("{{" in string or "}}" in string)]
        group = []
    return found


def test_no_message_shows_doubled_braces():
    package = Path(__file__).resolve().parent.parent / "workload_predictor"
    doubled = {str(path.relative_to(package)): found for path in sorted(package.rglob("*.py"))
               if (found := _doubled_braces_beside_f_strings(path.read_text(encoding="utf-8")))}
    assert doubled == {}
    assert _doubled_braces_beside_f_strings('x = (f"{a} {{" \n "median}} of")\n') == [(2, '"median}} of"')]
