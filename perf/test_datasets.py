"""The datasets are what the budgets were set on: the shipped series must stay the documented one."""

import numpy as np
import pandas as pd

from perf import datasets


def test_synthetic_is_the_documented_series():
    shipped = datasets.synthetic()
    made = datasets.generate()
    assert len(shipped) == 1000
    assert np.array_equal(shipped["requests"].to_numpy(), made["requests"].to_numpy()), (
        "perf/data/synthetic_1000.csv no longer matches perf.datasets.generate(); if the generator changed on "
        "purpose, regenerate with perf.datasets.write_synthetic() and refresh the baselines")
    assert (pd.to_datetime(shipped["timestamp"], utc=True) == made["timestamp"]).all()


def test_synthetic_has_its_features():
    counts = datasets.synthetic()["requests"].to_numpy()
    assert (counts >= 0).all() and np.issubdtype(counts.dtype, np.integer)
    # Bursts: a few buckets far above the periodic rate (at most ~20 + 8 + 6 + 5 = 39 without a burst).
    assert (counts > 60).sum() >= 5
    # Periodic: the autocorrelation at the 60-bucket period beats the one at half of it.
    centred = counts - counts.mean()
    def acf(lag):
        return float(centred[:-lag] @ centred[lag:]) / float(centred @ centred)
    assert acf(60) > acf(30)


def test_azure_conv_first_1000_seconds():
    frame = datasets.azure_conv()
    assert len(frame) == 1000
    steps = pd.DatetimeIndex(frame["timestamp"]).to_series().diff().dropna().unique()
    assert list(steps) == [pd.Timedelta(seconds=1)]
    assert frame["requests"].sum() > 0
