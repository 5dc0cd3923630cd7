"""One key's bad row in a long frame (a target value that is no number, a row without a key, a timestamp that does
not parse) is that key's error, or the rows' own, in every fleet kind: the other keys fit and update exactly as
without those rows, and the caller's frame is never modified."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("5min")
N = 200
KINDS = [
    pytest.param({"model": "dlinear"}, id="dlinear-refit"),
    pytest.param({"model": "dlinear", "update_mode": "incremental"}, id="dlinear-incremental"),
    pytest.param({"model": "ensemble"}, id="ensemble"),
    pytest.param({"model": "global_lstm", "model_params": {"max_epochs": 1}}, id="global_lstm"),
]


def history(keys=("a", "b", "c"), n: int = N) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"key": name, "timestamp": START + STEP * t,
                                    "requests": rng.poisson(40 + 10 * np.sin(t / 9)).astype(np.int64)})
                      for name in keys], ignore_index=True)


def next_rows(keys, value=None, bucket: int = N) -> pd.DataFrame:
    """One row per key at ``bucket``; ``value`` (by key) overrides a key's count (an object column, as a concat of
    per-endpoint frames makes it)."""
    value = value or {}
    frames = [pd.DataFrame({"key": [name], "timestamp": [START + STEP * bucket],
                            "requests": [value.get(name, 30 + i)]}) for i, name in enumerate(keys)]
    return pd.concat(frames, ignore_index=True)


def fleet(kind: dict, data: pd.DataFrame, **extra) -> FleetPredictor:
    return FleetPredictor(horizon=6, window=24, random_state=0, **kind, **extra).fit(data)


_FITTED: dict[tuple, FleetPredictor] = {}


def fitted_fleet(kind: dict, without: str | None = None) -> FleetPredictor:
    """``fleet(kind, history())`` (less key ``without``'s rows): a deep copy of one fit per kind and history, which
    the module's tests share."""
    key = (repr(kind), without)
    if key not in _FITTED:
        _FITTED[key] = fleet(kind, history() if without is None else history().query(f"key != '{without}'"))
    return copy.deepcopy(_FITTED[key])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", ["n/a", None, "x" * 5000], ids=["string", "None", "long-string"])
def test_one_keys_value_that_is_no_number_refuses_that_key_alone(kind, bad):
    fitted = fitted_fleet(kind)
    update = next_rows(["a", "b", "c"], {"c": bad})
    assert update["requests"].dtype == object
    given = update.copy(deep=True)
    got, want = copy.deepcopy(fitted), copy.deepcopy(fitted)
    got.update(update)
    want.update(next_rows(["a", "b"]))  # the same rows of a and b, without c's (an int64 column)
    assert list(got.update_errors_) == ["c"]
    message = str(got.update_errors_["c"])
    assert "'requests'" in message
    if bad is None:
        assert "nan" in message
    else:
        assert "not numbers: it holds" in message and "pd.to_numeric" in message and len(message) < 600
    assert got.predict().equals(want.predict())
    pd.testing.assert_frame_equal(update, given)  # the caller's frame as it was


@pytest.mark.parametrize("kind", KINDS)
def test_an_update_of_numbers_in_an_object_column_equals_the_numeric_one(kind):
    fitted = fitted_fleet(kind)
    got, want = copy.deepcopy(fitted), copy.deepcopy(fitted)
    got.update(next_rows(["a", "b", "c"]).astype({"requests": object}))
    want.update(next_rows(["a", "b", "c"]))
    assert got.update_errors_ == {} and got.predict().equals(want.predict())


@pytest.mark.parametrize("kind", KINDS)
def test_a_fit_refuses_the_key_whose_history_holds_a_string_and_fits_the_others(kind):
    data = history().astype({"requests": object})
    data.loc[(data["key"] == "b").to_numpy().nonzero()[0][50], "requests"] = "n/a"
    given = data.copy(deep=True)
    got = fleet(kind, data)
    want = fitted_fleet(kind, without="b")
    assert got.keys_ == ["a", "c"] and list(got.errors_) == ["b"]
    # b's 51st row, row 250 of the frame (a's and b's before it)
    assert "not numbers: it holds 'n/a' at row 250 of the frame (1 value is no number)" in str(got.errors_["b"])
    pd.testing.assert_frame_equal(got.predict(), want.predict())
    pd.testing.assert_frame_equal(data, given)


def test_a_strict_fit_raises_the_string_naming_its_key():
    data = history().astype({"requests": object})
    data.loc[(data["key"] == "b").to_numpy().nonzero()[0][3], "requests"] = "n/a"
    with pytest.raises(WorkloadDataError, match=r"key 'b': target column 'requests' has dtype object, not numbers: it holds 'n/a' at row 203 of the frame \("):
        FleetPredictor(horizon=6, window=24, strict=True).fit(data)


@pytest.mark.parametrize("kind", KINDS)
def test_a_row_without_a_key_is_reported_and_left_out_and_the_keys_are_updated(kind):
    fitted = fitted_fleet(kind)
    update = pd.concat([next_rows(["a", "b"]), next_rows(["c"]).assign(key=np.nan),
                        next_rows(["c"]).assign(key=None)], ignore_index=True)
    given = update.copy(deep=True)
    got, want = copy.deepcopy(fitted), copy.deepcopy(fitted)
    got.update(update)
    want.update(next_rows(["a", "b"]))
    assert list(got.update_errors_) == [None]
    assert "key column 'key' is missing at 2 rows (the first: row 2 of the frame)" in str(got.update_errors_[None])
    assert got.predict().equals(want.predict())
    pd.testing.assert_frame_equal(update, given)


def test_a_strict_update_with_a_row_without_a_key_raises_changing_nothing():
    fitted = fleet({"model": "dlinear"}, history(), strict=True)
    before = fitted.predict()
    update = pd.concat([next_rows(["a"]), next_rows(["b"]).assign(key=None)], ignore_index=True)
    with pytest.raises(WorkloadDataError, match="key column 'key' is missing at 1 row"):
        fitted.update(update)
    assert fitted.predict().equals(before)


@pytest.mark.parametrize("kind", KINDS[::3])
def test_a_fleet_whose_update_left_out_rows_without_a_key_saves_and_loads(kind, tmp_path):
    fitted = fitted_fleet(kind)
    fitted.update(pd.concat([next_rows(["a"]), next_rows(["b"]).assign(key=None)], ignore_index=True))
    loaded = FleetPredictor.load(fitted.save(tmp_path / "fleet.wpf"))
    assert list(loaded.update_errors_) == [None]
    assert str(loaded.update_errors_[None]) == str(fitted.update_errors_[None])
    assert loaded.predict().equals(fitted.predict())


@pytest.mark.parametrize("kind", KINDS)
def test_one_keys_timestamp_that_does_not_parse_refuses_that_key_alone(kind):
    fitted = fitted_fleet(kind)
    update = next_rows(["a", "b", "c"]).astype({"timestamp": object})
    update.loc[2, "timestamp"] = "garbage"
    got, want = copy.deepcopy(fitted), copy.deepcopy(fitted)
    got.update(update)
    want.update(next_rows(["a", "b"]))
    assert list(got.update_errors_) == ["c"] and "'garbage'" in str(got.update_errors_["c"])
    assert got.predict().equals(want.predict())


def test_a_predictor_takes_numbers_in_an_object_column_and_names_a_string():
    data = history(("a",)).drop(columns="key")
    want = WorkloadPredictor(horizon=6, window=24).fit(data).predict().to_frame()
    got = WorkloadPredictor(horizon=6, window=24).fit(data.astype({"requests": object})).predict().to_frame()
    assert got.equals(want)
    data = data.astype({"requests": object})
    data.loc[7, "requests"] = "12 requests"
    with pytest.raises(WorkloadDataError, match=r"holds '12 requests' at row 7 \(1 value is no number\)"):
        WorkloadPredictor(horizon=6, window=24).fit(data)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("encoding, bad, message", [
    (object, "garbage", "row 250 of the frame holds 'garbage', which is no timestamp"),  # b's 51st row
    ("iso", "garbage", "row 250 of the frame holds 'garbage', which is no timestamp"),
    (None, pd.NaT, "row 250 of the frame has a missing timestamp")], ids=["datetimes", "iso-strings", "NaT"])
def test_a_fit_refuses_the_key_whose_timestamps_hold_one_that_does_not_parse_and_fits_the_others(kind, encoding, bad,
                                                                                                 message):
    data = history()
    if encoding == "iso":  # a column of strings (pandas' str dtype where it infers one)
        data["timestamp"] = pd.Series(data["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist())
    elif encoding is not None:
        data = data.astype({"timestamp": encoding})
    data.loc[(data["key"] == "b").to_numpy().nonzero()[0][50], "timestamp"] = bad
    given = data.copy(deep=True)
    got = fleet(kind, data)
    want = fitted_fleet(kind, without="b")
    assert got.keys_ == ["a", "c"] and list(got.errors_) == ["b"]
    assert message in str(got.errors_["b"])
    pd.testing.assert_frame_equal(got.predict(), want.predict())
    pd.testing.assert_frame_equal(data, given)


def test_a_fit_with_more_keys_of_unparseable_timestamps_than_it_isolates_raises_the_columns_error():
    from workload_predictor.data import MAX_UNPARSED_KEYS

    keys = [f"k{i:02d}" for i in range(MAX_UNPARSED_KEYS + 2)]
    data = history(keys, n=60).astype({"timestamp": object})
    for name in keys[1:]:  # every key but the first holds one, at its 5th row
        data.loc[(data["key"] == name).to_numpy().nonzero()[0][5], "timestamp"] = f"bad {name}"
    with pytest.raises(WorkloadDataError, match="row 65 of the frame holds 'bad k01', which is no timestamp"):
        FleetPredictor(horizon=6, window=24).fit(data)


def test_a_fit_still_refuses_a_column_that_mixes_encodings_across_keys():
    data = history(("a", "b")).astype({"timestamp": object})
    b = (data["key"] == "b").to_numpy()
    data.loc[b, "timestamp"] = [t.timestamp() for t in data.loc[b, "timestamp"]]  # b's as epochs, a's datetimes
    with pytest.raises(WorkloadDataError, match="mixes numbers"):
        FleetPredictor(horizon=6, window=24).fit(data)


@pytest.mark.parametrize("kind", KINDS[::3])
def test_a_strict_update_raises_the_keys_value_that_is_no_number_changing_nothing(kind):
    fitted = fleet(kind, history(), strict=True)
    before = fitted.predict()
    with pytest.raises(WorkloadDataError, match=r"key 'c': target column 'requests' has dtype object, not numbers: it "
                                                r"holds 'n/a' at row 2 of the frame \("):
        fitted.update(next_rows(["a", "b", "c"], {"c": "n/a"}))
    assert fitted.predict().equals(before)
