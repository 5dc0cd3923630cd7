"""A fleet key that is an infinite number is refused at the door, naming its row: ``--out`` JSON wrote ``inf`` and
``-inf`` as ``null`` (JSON has no infinity), two keys written alike and neither read back (review h117's leftover)."""

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor.data import factorize_keys
from workload_predictor.errors import WorkloadDataError


@pytest.mark.parametrize("keys", [[1.5, np.inf, -np.inf], [1, "a", float("-inf")], pd.array([1.0, np.inf, 2.0], dtype="Float64")])
def test_an_infinite_key_is_refused_naming_its_row(keys):
    with pytest.raises(WorkloadDataError, match=r"key column 'tenant' holds .*inf.* at row [12] of the frame: .*finite"):
        factorize_keys(pd.Series(keys), "tenant")


def test_a_fleet_fit_refuses_an_infinite_key():
    stamps = pd.date_range("2024-01-01", periods=200, freq="1min", tz="UTC")
    frame = pd.DataFrame({"timestamp": np.tile(stamps, 2), "requests": np.arange(400) % 7,
                          "tenant": np.repeat([1.0, np.inf], 200)})
    with pytest.raises(WorkloadDataError, match="finite"):
        FleetPredictor(horizon=5).fit(frame, key="tenant")


def test_finite_float_keys_and_missing_keys_are_as_before():
    codes, keys = factorize_keys(pd.Series([2.0, 1.0, 2.0]), "tenant")
    assert list(keys) == [1.0, 2.0] and list(codes) == [1, 0, 1]
    codes, _ = factorize_keys(pd.Series([1.0, np.nan]), "tenant", missing_ok=True)
    assert list(codes) == [0, -1]
