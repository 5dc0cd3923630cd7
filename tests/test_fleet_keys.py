"""FleetPredictor and its key column: names the forecast frame uses, keys of odd types at fit, update and save,
and one key's update bounded as that key's alone in a global fleet."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.errors import MemoryLimitError, WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
STEP = pd.Timedelta("1min")


def make_fleet(keys, n: int = 220, seed: int = 0) -> pd.DataFrame:
    """One Poisson series around a sine per key (the key column an object column holding ``keys`` as given)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    frames = []
    for name in keys:
        rate = rng.uniform(5, 100) * (1 + 0.5 * np.sin(2 * np.pi * t / rng.integers(12, 60)))
        column = np.empty(n, dtype=object)
        column[:] = [name] * n
        frames.append(pd.DataFrame({"endpoint": column, "timestamp": START + STEP * t,
                                    "requests": rng.poisson(rate).astype(float)}))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("name, targets", [("yhat", "requests"), ("lower", "requests"), ("upper", "requests"),
                                           ("timestamp", "requests"), ("target", ["requests", "input_tokens"])])
def test_a_key_column_named_as_a_forecast_column_is_refused(name, targets):
    frame = make_fleet(["a", "b"]).assign(input_tokens=lambda d: 3 * d["requests"])
    frame = frame.rename(columns={"timestamp": "ts", "endpoint": name}) if name == "timestamp" else \
        frame.rename(columns={"endpoint": name})
    # predict() wrote its column over the keys: the forecast named no key.
    with pytest.raises(WorkloadDataError, match="rename the key column"):
        FleetPredictor(horizon=3).fit(frame, key=name, timestamp="ts" if name == "timestamp" else "timestamp",
                                      target=targets)


def test_a_key_column_named_target_is_kept_with_one_target():
    frame = make_fleet(["a", "b"]).rename(columns={"endpoint": "target"})
    forecast = FleetPredictor(horizon=3).fit(frame, key="target").predict()
    assert list(forecast.columns) == ["target", "timestamp", "yhat", "lower", "upper"]
    assert forecast["target"].tolist() == ["a"] * 3 + ["b"] * 3


def test_an_update_whose_keys_equal_the_fitted_ones_in_another_type_keeps_their_names():
    frame = make_fleet([1, 2], n=240).astype({"endpoint": "int64"})
    past, new = frame.groupby("endpoint").head(220), frame.groupby("endpoint").tail(20)
    as_int = FleetPredictor(horizon=3).fit(past, key="endpoint").update(new[new["endpoint"] == 1])
    fleet = FleetPredictor(horizon=3).fit(past, key="endpoint")
    fleet.update(new[new["endpoint"] == 1].astype({"endpoint": "float64"}))  # 1.0: the fitted key 1
    forecast = fleet.predict()
    # The refitted key took the update's 1.0 as its name, and the key column turned float64 for every key.
    assert forecast["endpoint"].dtype == np.int64 and forecast["endpoint"].tolist() == [1] * 3 + [2] * 3
    assert all(type(name) is int for block in fleet._blocks for name in block.keys)
    pd.testing.assert_frame_equal(forecast, as_int.predict())
    fleet.update(new[new["endpoint"] == 1].astype({"endpoint": "float64"}))  # now behind the series: its error
    assert list(fleet.update_errors_) == [1] and type(next(iter(fleet.update_errors_))) is int


@pytest.mark.parametrize("keys", [[b"a", b"b"], [datetime.date(2024, 1, 1), datetime.date(2024, 1, 2)]])
def test_saving_keys_a_fleet_file_cannot_hold_is_a_typed_error(tmp_path, keys):
    fleet = FleetPredictor(horizon=3).fit(make_fleet(keys), key="endpoint")
    path = tmp_path / "fleet.wp"
    with pytest.raises(WorkloadDataError, match=r"cannot hold.*astype\(str\)"):  # was a bare TypeError
        fleet.save(path)
    assert not path.exists()
    frame = make_fleet(keys).assign(endpoint=lambda d: d["endpoint"].astype(str))
    loaded = FleetPredictor.load(FleetPredictor(horizon=3).fit(frame, key="endpoint").save(path))
    assert len(loaded.keys_) == 2 and all(isinstance(name, str) for name in loaded.keys_)


@pytest.mark.parametrize("keys, named", [
    ([(1, pd.NaT), (1, 2)], r"key \(1, NaT\) holds NaT, a missing timestamp \(NaT\), which a fleet file cannot hold"),
    ([(1, ("a", b"x")), (1, 2)], r"key \(1, \('a', b'x'\)\) holds b'x', a bytes, which a fleet file cannot hold"),
])
def test_saving_a_tuple_key_names_the_member_a_fleet_file_cannot_hold(tmp_path, keys, named):
    """The file holds tuples of text, numbers and timestamps: the message names the member it cannot hold (h210:
    it said a tuple, which the file holds)."""
    fleet = FleetPredictor(model="naive", horizon=3).fit(make_fleet(keys), key="endpoint")
    assert set(fleet.keys_) == set(keys)
    path = tmp_path / "fleet.wp"
    with pytest.raises(WorkloadDataError, match=named + r".*astype\(str\)") as error:
        fleet.save(path)
    assert "is a tuple" not in str(error.value)
    assert not path.exists()


def test_a_duplicated_or_unhashable_key_column_is_a_typed_error():
    frame = make_fleet(["a", "b"], n=240)
    past, new = frame.groupby("endpoint").head(220), frame.groupby("endpoint").tail(20)
    fleet = FleetPredictor(horizon=3).fit(past, key="endpoint")
    twice = pd.concat([past, past[["endpoint"]]], axis=1)
    with pytest.raises(WorkloadDataError, match="appears 2 times"):
        FleetPredictor(horizon=3).fit(twice, key="endpoint")
    with pytest.raises(WorkloadDataError, match="appears 2 times"):
        fleet.update(pd.concat([new, new[["endpoint"]]], axis=1))
    lists = past.assign(endpoint=[["a"]] * len(past))
    with pytest.raises(WorkloadDataError, match=r"holds \['a'\] at row 0 of the frame, a list"):
        FleetPredictor(horizon=3).fit(lists, key="endpoint")
    with pytest.raises(WorkloadDataError, match=r"holds \{'a': 1\} at row 0 of the frame \(index label 220\), a dict"):
        fleet.update(new.assign(endpoint=[{"a": 1}] * len(new)))
    with pytest.raises(WorkloadDataError, match="one column name"):
        FleetPredictor(horizon=3).fit(past, key=["endpoint"])
    assert fleet.update(new).update_errors_ == {}  # nothing above changed the fleet


def test_a_global_fleet_update_bounds_each_keys_zero_fill_and_applies_the_others():
    pytest.importorskip("torch")
    fleet = FleetPredictor(model="global_lstm", horizon=3, model_params={"max_epochs": 1}, random_state=0,
                           memory_limit_mb=50, max_gap=None).fit(make_fleet(["a", "b", "c"], n=200), key="endpoint")
    last = START + STEP * 199
    far = pd.DataFrame({"endpoint": ["a"], "timestamp": [last + STEP * 20_000_000], "requests": [1.0]})  # 150 MB
    near = pd.DataFrame({"endpoint": ["b"], "timestamp": [last + STEP], "requests": [1.0]})
    # Key a's 20 million zero-filled buckets were allocated past the limit, and the whole update then raised.
    fleet.update(pd.concat([far, near]))
    assert list(fleet.update_errors_) == ["a"] and isinstance(fleet.update_errors_["a"], MemoryLimitError)
    assert fleet._global.length.tolist() == [200, 201, 200]
