"""The Python API as a user meets it: scikit-learn's conventions (a refit keeps nothing of the fit before it, a
short ``repr``), the Forecast as a value (equality, its arrays the caller's own), ``plot`` with any history."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from workload_predictor import WorkloadPredictor

_NOISY = periodic_series(400, noise=5.0)


def _two_targets(n: int, freq: str, seed: int, start: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq=freq, tz="UTC"),
                         "requests": 50 + 10 * np.sin(np.arange(n) / 20) + rng.poisson(5, n),
                         "input_tokens": rng.poisson(500, n).astype(float)})


def _fitted_state(predictor: WorkloadPredictor) -> dict:
    """The attributes a fit sets, but the wall times it measured."""
    timed = {"fit_seconds_", "fit_peak_rss_mb_"}
    return {name: value for name, value in vars(predictor).items() if name not in timed and name not in
            predictor.get_params()}


def test_a_refit_after_updates_holds_what_a_fresh_fit_holds():
    """A refit on other data, targets and bucket width: the attributes a fresh fit on that data has, no more (the
    last update's ``update_seconds_`` of the first fit stayed after it), and the same forecast, bit for bit."""
    first = _two_targets(420, "10s", 0, "2024-01-01")
    other = _two_targets(300, "1min", 3, "2025-01-01")[["timestamp", "requests"]]
    refitted = WorkloadPredictor(horizon=5).fit(first.iloc[:400], target=["requests", "input_tokens"])
    for at in range(400, 420, 5):
        refitted.update(first.iloc[at:at + 5])
    refitted.predict()
    refitted.fit(other)
    fresh = WorkloadPredictor(horizon=5).fit(other)
    assert sorted(_fitted_state(refitted)) == sorted(_fitted_state(fresh))
    one, two = refitted.predict(), fresh.predict()
    pd.testing.assert_frame_equal(one.to_frame(), two.to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(one.history, two.history, check_exact=True)
    assert refitted.n_updates_ == 0 and refitted.targets_ == ("requests",)


@pytest.fixture(scope="module")
def fitted() -> WorkloadPredictor:
    return WorkloadPredictor(horizon=5).fit(_two_targets(300, "10s", 0, "2024-01-01"),
                                            target=["requests", "input_tokens"])
