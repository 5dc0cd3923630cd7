"""Fleet keys no output or lookup can hold, refused as that key's error at fit: text with half a character (a lone
UTF-16 surrogate, which ``json.loads`` keeps) and a tuple holding NaN (which equals nothing). The other keys are
fitted, forecast, rated and saved as without that key (review h200)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("1min")


def make_fleet(n_keys: int, n: int = 130, seed: int = 0) -> pd.DataFrame:
    """Keys 0 .. n_keys - 1, one Poisson series around a sine each, ``n`` buckets, key by key."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"endpoint": i, "timestamp": START + STEP * t,
                                    "requests": rng.poisson(20 + 10 * np.sin(t / (4 + i))).astype(float)})
                      for i in range(n_keys)], ignore_index=True)


def with_keys(frame: pd.DataFrame, name) -> pd.DataFrame:
    """``frame`` with its key column of objects: each key ``i`` as ``name(i)``, called per row."""
    return frame.assign(endpoint=pd.Series([name(i) for i in frame["endpoint"]], index=frame.index, dtype=object))


@pytest.mark.parametrize("bad, message", [  # bad: the key, a new object each call (as a file's rows read)
    (lambda: "\ud800x", r"holds '\\ud800x' at {row}: text with half a character \(a lone UTF-16 surrogate"),
    (lambda: ("svc", "\udc00"), r"holds \('svc', '\\udc00'\) at {row}: text with half a character"),
    (lambda: ("svc", float("nan")), r"holds \('svc', nan\) at {row}: a tuple holding NaN, which equals nothing"),
])
def test_a_key_no_output_or_lookup_can_hold_is_that_keys_error_and_the_others_are_fitted(tmp_path, bad, message):
    names = {0: lambda: "a", 1: bad, 2: lambda: "b"}
    raw = make_fleet(3)
    frame = with_keys(raw, lambda i: names[i]())
    before = frame.copy()
    fleet = FleetPredictor(horizon=3).fit(frame.iloc[np.arange(len(frame)) % 130 < 120], key="endpoint")
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not written
    # Text: fitted, then predict(), health() and confidence_ raised UnicodeEncodeError (pandas' str dtype) for every
    # key. A tuple holding NaN: fitted, and no update could find it ("was not fitted").
    assert fleet.keys_ == ["a", "b"] and len(fleet.errors_) == 1
    (name, error), = fleet.errors_.items()
    assert type(error) is WorkloadDataError and name is not None
    with pytest.raises(WorkloadDataError, match=message.format(row=r"row 120 of the frame \(index label 130\)")):
        raise error
    others = with_keys(raw[raw["endpoint"] != 1], lambda i: names[i]())
    expected = FleetPredictor(horizon=3).fit(others.iloc[np.arange(len(others)) % 130 < 120], key="endpoint")
    pd.testing.assert_frame_equal(fleet.predict(), expected.predict())
    pd.testing.assert_series_equal(fleet.confidence_, expected.confidence_)
    now = START + STEP * 121
    pd.testing.assert_frame_equal(fleet.health(now=now), expected.health(now=now))
    # The bad key's new rows are its error again, named as such; the others are updated.
    fleet.update(frame.iloc[np.arange(len(frame)) % 130 >= 120])
    expected.update(others.iloc[np.arange(len(others)) % 130 >= 120])
    assert list(map(repr, fleet.update_errors_)) == [repr(name)]  # a NaN in a tuple equals nothing: by its text
    with pytest.raises(WorkloadDataError, match=message.format(row=r"row 10 of the frame \(index label 250\)")):
        raise next(iter(fleet.update_errors_.values()))
    pd.testing.assert_frame_equal(fleet.predict(), expected.predict())
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wp"))
    pd.testing.assert_frame_equal(loaded.predict(), expected.predict())
    with pytest.raises(WorkloadDataError, match=message.format(row="row 130 of the frame")):
        FleetPredictor(horizon=3, strict=True).fit(frame, key="endpoint")


def test_a_key_of_half_a_character_beside_keys_of_another_type_is_that_keys_error():
    frame = with_keys(make_fleet(2), lambda i: ("svc", "\udc00") if i == 0 else "b")
    # Was pandas' UnicodeEncodeError from sorting the mixed keys (its str dtype on Arrow), for the whole fit.
    fleet = FleetPredictor(horizon=3).fit(frame, key="endpoint")
    assert fleet.keys_ == ["b"] and list(fleet.errors_) == [("svc", "\udc00")]
    assert "half a character" in str(fleet.errors_[("svc", "\udc00")])


@pytest.mark.parametrize("text", ["b", b"b", "bb"])
def test_tuple_keys_beside_text_keys_are_fitted_in_order_of_first_appearance(text):
    frame = make_fleet(3)
    names = {0: ("svc", 1), 1: text, 2: ("svc", 0)}
    # pandas sorted the text as the tuple of its characters, padded with NaN to the tuples' length: a
    # Pandas4Warning ("will raise in a future version") where the lengths differ.
    fleet = FleetPredictor(horizon=3).fit(with_keys(frame, names.get), key="endpoint")
    assert fleet.keys_ == [("svc", 1), text, ("svc", 0)] and not fleet.errors_
    forecast = fleet.predict()
    assert forecast["endpoint"].tolist() == [name for name in fleet.keys_ for _ in range(3)]
    alone = FleetPredictor(horizon=3).fit(frame[frame["endpoint"] == 1], key="endpoint").predict()
    np.testing.assert_array_equal(forecast.iloc[3:6][["yhat", "lower", "upper"]].to_numpy(),
                                  alone[["yhat", "lower", "upper"]].to_numpy())


@pytest.mark.parametrize("model", ["dlinear", "naive"])
def test_the_confidence_of_tuple_keys_is_indexed_by_the_keys(model):
    frame = make_fleet(2)
    as_text = FleetPredictor(horizon=3, model=model).fit(frame.astype({"endpoint": str}), key="endpoint")
    fleet = FleetPredictor(horizon=3, model=model).fit(with_keys(frame, lambda i: ("svc", i)), key="endpoint")
    confidence = fleet.confidence_  # was pandas' ValueError: "Names should be list-like for a MultiIndex"
    assert confidence.index.tolist() == [("svc", 0), ("svc", 1)] and confidence.index.name == "endpoint"
    np.testing.assert_array_equal(confidence.to_numpy(), as_text.confidence_.to_numpy())
    assert fleet.health().index.tolist() == confidence.index.tolist()


@pytest.mark.parametrize("model", ["dlinear", "naive", "global_lstm"])
def test_an_infinite_or_half_character_key_in_an_update_is_that_keys_error_and_the_others_are_updated(tmp_path,
                                                                                                       model):
    if model == "global_lstm":
        pytest.importorskip("torch")
    settings = dict(horizon=3, model=model, random_state=0)
    if model == "global_lstm":
        settings.update(window=24, model_params={"max_epochs": 1})
    frame = make_fleet(2).astype({"endpoint": float})
    past, new = frame.iloc[np.arange(len(frame)) % 130 < 120], frame.iloc[np.arange(len(frame)) % 130 >= 120]
    fleet, expected = (FleetPredictor(**settings).fit(past, key="endpoint") for _ in range(2))
    stray = new.iloc[[3]].assign(endpoint=-np.inf)
    half = new.iloc[[4]].assign(endpoint=pd.Series(["\ud800"], index=new.index[[4]], dtype=object))
    given = pd.concat([new.iloc[:3], stray, new.iloc[3:]], ignore_index=True)
    before = given.copy()
    # Was the whole update's WorkloadDataError ("a key must be finite"): no key was updated.
    fleet.update(given)
    pd.testing.assert_frame_equal(given, before)
    expected.update(new)
    assert list(fleet.update_errors_) == [-np.inf]
    assert str(fleet.update_errors_[-np.inf]).startswith("key column 'endpoint' holds -inf at row 3 of the frame: "
                                                         "a key must be finite")
    pd.testing.assert_frame_equal(fleet.predict(), expected.predict())
    assert list(FleetPredictor.load(fleet.save(tmp_path / "inf.wp")).update_errors_) == [-np.inf]
    # A key of half a character, as an update's: named as such, not as a key to fit.
    fleet.update(pd.concat([half, new.iloc[[0]]], ignore_index=True))
    assert set(fleet.update_errors_) == {"\ud800", 0.0}
    assert str(fleet.update_errors_["\ud800"]).startswith(
        "key column 'endpoint' holds '\\ud800' at row 0 of the frame: text with half a character")
    assert "not after the last fitted bucket" in str(fleet.update_errors_[0.0])
    loaded = FleetPredictor.load(fleet.save(tmp_path / "fleet.wp"))
    assert set(loaded.update_errors_) == {"\ud800", 0.0}
    pd.testing.assert_frame_equal(loaded.predict(), expected.predict())


def test_a_row_centuries_from_its_keys_series_is_that_keys_error_and_the_others_are_updated():
    """292 years or more apart, a row's distance to its key's last bucket wraps in int64 nanoseconds: a row of 1700
    for a series of 2024 was refused as "off the fitted grid", and a row of 2024 for a key whose series a parse put
    in 1700 raised pandas' OutOfBoundsDatetime for the whole update (its refusal subtracted the two)."""
    frame = make_fleet(2, n=130)
    old = frame["endpoint"] == 0
    frame.loc[old, "timestamp"] = pd.Timestamp("1700-03-01", tz="UTC") + STEP * np.arange(130)
    fleet = FleetPredictor(horizon=3, max_gap=None).fit(frame.iloc[np.arange(len(frame)) % 130 < 120], key="endpoint")
    new = frame.iloc[np.arange(len(frame)) % 130 >= 120]
    stray = new.iloc[[0]].assign(timestamp=START + STEP * 500)  # key 0's row in 2024
    fleet.update(pd.concat([stray, new[new["endpoint"] == 1]], ignore_index=True))
    assert list(fleet.update_errors_) == [0]
    assert str(fleet.update_errors_[0]).startswith(
        "new bucket 2024-03-01T08:20:00+00:00 at row 0 of the frame is 292 years or more after the last fitted bucket "
        "1700-03-01T01:59:00+00:00: a stray row")
    assert fleet.predict().groupby("endpoint")["timestamp"].first().tolist() == [
        pd.Timestamp("1700-03-01 02:00", tz="UTC"), START + STEP * 130]
    fleet.update(new[new["endpoint"] == 0].assign(timestamp=pd.Timestamp("1700-01-01", tz="UTC")).iloc[[0]])
    assert str(fleet.update_errors_[0]).startswith(
        "new bucket 1700-01-01T00:00:00+00:00 at row 0 of the frame (index label 120) is not after")
    stray = new.iloc[[-1]].assign(timestamp=pd.Timestamp("1700-01-01", tz="UTC"))  # key 1's row in 1700
    fleet.update(stray)
    assert str(fleet.update_errors_[1]).startswith("new bucket 1700-01-01T00:00:00+00:00 at row 0 of the frame (index "
                                                   "label 259) is 292 years or more before the last fitted bucket")


def test_a_row_centuries_before_the_last_bucket_is_an_update_order_error_as_any_row_before_it_is():
    """UpdateOrderError is the error of a row at or before the last bucket (its ``first`` and ``last`` say which): a
    row of 1700 for a series of 2024 was a plain WorkloadDataError, where one of 1969 is an UpdateOrderError, so a
    caller dropping the rows it refuses as already seen (``except UpdateOrderError``) had the update raise."""
    from workload_predictor import WorkloadPredictor
    from workload_predictor.errors import UpdateOrderError

    frame = make_fleet(2, n=130)
    fleet = FleetPredictor(horizon=3).fit(frame.iloc[np.arange(len(frame)) % 130 < 120], key="endpoint")
    alone = WorkloadPredictor(horizon=3).fit(frame[frame["endpoint"] == 1].iloc[:120].drop(columns="endpoint"))
    for when in ("1969-12-31", "1700-01-01"):
        stray = frame.iloc[[-1]].assign(timestamp=pd.Timestamp(when, tz="UTC"))  # key 1's row
        fleet.update(stray)
        with pytest.raises(UpdateOrderError) as raised:
            alone.update(stray.drop(columns="endpoint"))
        for error in (fleet.update_errors_[1], raised.value):
            assert isinstance(error, UpdateOrderError), (when, repr(error))
            assert (error.first, error.last) == (pd.Timestamp(when, tz="UTC"), START + STEP * 119), when
    assert str(raised.value).startswith("new bucket 1700-01-01T00:00:00+00:00 at row 0 is 292 years or more before "
                                        "the last fitted bucket 2024-03-01T01:59:00+00:00: a stray row")
