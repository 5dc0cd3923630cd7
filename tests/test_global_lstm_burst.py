"""A global LSTM fleet after a burst of corrupt counts: what ``docs/bad-samples.md`` promises (review h49's lead 2, h50).

Once the series has come back from a flagged burst, a global LSTM's forecast reads the burst between the buckets
around it as the key's buckets correlate (``anomaly.bridged``: from its median towards the bucket before and the
bucket after it), so the fleet that saw the sentinels forecasts as a twin fed that reading in their place (their bases
differ by the burst's windows only: weighed about 1e-33 in one, 1 in the other). While the burst is in the network's
input window, it departs from a twin fed the real counts by what the model makes of those counts against that reading
(here up to 14 % of the level, 25 % where it read the burst at its reference median: the bursts sit where k0's cycle
peaks, and the shared base weighs those lags); once the burst has left the window, it forecasts as that twin.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, anomaly
from workload_predictor.anomaly import REFERENCE_BUCKETS

START = pd.Timestamp("2024-03-01", tz="UTC")
MINUTE = pd.Timedelta("1min")
KEYS = ("k0", "k1", "k2")
FITTED, BURST, AFTER = 160, 3, 30  # buckets at fit, corrupt buckets of k0 (one update each), clean ones after it
SENTINEL = 2.0**32 - 1
#: Of the twin's mean forecast, once the burst has left the input window: the bases then differ by the burst's windows
#: only (at most ``window + BURST`` of k0's, among the fleet's ~400; measured 2.5 % at most), where a sentinel left in
#: moves a forecast by 1e8 times the level.
CLOSE = 0.05
#: Of the twin's mean forecast, at every bucket after the burst: the same windows, weighed 1 in that twin's base
#: (measured 3.7 % at most, at 13 buckets after, 0.3-1.2 % in the first 9).
AS_READ = 0.1


def clean_values() -> dict[str, np.ndarray]:
    """Each key's counts (Poisson around a cycle of +-40 %, a level and period per key), fit and updates alike."""
    rng = np.random.default_rng(7)
    t = np.arange(FITTED + BURST + AFTER)
    return {key: rng.poisson(level * (1 + 0.4 * np.sin(2 * np.pi * t / period))).astype(np.float64)
            for key, level, period in zip(KEYS, (40.0, 120.0, 8.0), (30, 45, 20))}


def _row(position: int, value: float) -> pd.DataFrame:
    return pd.DataFrame({"endpoint": ["k0"], "timestamp": [START + position * MINUTE], "requests": [value]})


def _k0(fleet: FleetPredictor) -> np.ndarray:
    forecast = fleet.predict()
    return forecast.loc[forecast["endpoint"] == "k0", "yhat"].to_numpy()


def test_after_a_burst_the_fleet_forecasts_as_a_twin_fed_its_reading_and_as_the_clean_series_once_it_left():
    pytest.importorskip("torch")
    clean = clean_values()
    frame = pd.concat([pd.DataFrame({"endpoint": key, "timestamp": START + MINUTE * np.arange(FITTED),
                                     "requests": clean[key][:FITTED]}) for key in KEYS], ignore_index=True)
    fitted = FleetPredictor(model="global_lstm", horizon=3, random_state=0,
                            model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(frame, key="endpoint")
    window = fitted._global.model.window_
    # The burst as the fleet reads it once the series came back: over the points its model keeps with the next one.
    kept = clean["k0"][FITTED + BURST + 1 - fitted._global.model._recent_length() : FITTED + BURST + 1, None].copy()
    kept[-1 - BURST : -1] = SENTINEL
    median = float(np.median(clean["k0"][FITTED - REFERENCE_BUCKETS : FITTED]))  # the burst's reference median
    runs = [(len(kept) - 1 - BURST, len(kept) - 2, 0, median)]
    read = anomaly.bridged(kept, anomaly.settle(kept, runs), runs)[-1 - BURST : -1, 0]
    poisoned, as_read, real = copy.deepcopy(fitted), copy.deepcopy(fitted), copy.deepcopy(fitted)
    to_read, to_real = [], []
    for position in range(FITTED, FITTED + BURST + AFTER):
        burst = position < FITTED + BURST
        for fleet, value in ((poisoned, SENTINEL), (as_read, read[min(position - FITTED, BURST - 1)]),
                             (real, clean["k0"][position])):
            fleet.update(_row(position, value if burst else clean["k0"][position]))
        if not burst:
            forecast, read_forecast, real_forecast = _k0(poisoned), _k0(as_read), _k0(real)
            to_read.append(np.abs(forecast - read_forecast).max() / read_forecast.mean())
            to_real.append(np.abs(forecast - real_forecast).max() / real_forecast.mean())
    to_read, to_real = np.array(to_read), np.array(to_real)
    assert (to_read <= AS_READ).all(), to_read.round(3)
    # Once the burst has left the input window (``window`` clean buckets after it), as the clean series' forecast.
    assert (to_real[window - 1 :] <= CLOSE).all(), to_real.round(3)
