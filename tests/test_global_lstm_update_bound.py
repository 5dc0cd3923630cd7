"""A global LSTM fleet's update checks what it allocates, its recalibration included, before allocating (review h54).

A fleet of 50 keys x 1,000 buckets, horizon 48, three targets, every key one new bucket: the recalibration of the
updated keys (their validation windows stacked, their errors, the conformal quantile) allocated 33.9 MiB, after the
model's update and outside the limit; the update's traced peak was 45.7 MiB, the bytes checked against
``memory_limit_mb`` (the model's update alone) 26.1 MiB. Now 64.5 MiB are checked."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor
from workload_predictor import _memory
from workload_predictor.errors import MemoryLimitError

START = pd.Timestamp("2024-03-01", tz="UTC")
FIVE = pd.Timedelta("5min")
TARGETS = ["requests", "output_tokens", "input_tokens"]
KEYS = 50


@pytest.fixture(scope="module")
def fitted() -> FleetPredictor:
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"key": f"k{i}", "timestamp": START + FIVE * np.arange(1000),
                                     **{t: rng.poisson(100, 1000).astype(float) for t in TARGETS}})
                       for i in range(KEYS)], ignore_index=True)
    fleet = FleetPredictor(model="global_lstm", horizon=48, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24})
    return fleet.fit(frame, target=TARGETS)


def _next_bucket() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"key": [f"k{i}" for i in range(KEYS)], "timestamp": START + 1000 * FIVE,
                         **{t: rng.poisson(100, KEYS).astype(float) for t in TARGETS}})


def _checked(monkeypatch) -> list:
    """The bytes each check of the update's roll was told it would allocate."""
    told = []
    check = _memory.check_memory

    def spy(step, extra_bytes=0.0, **kwargs):
        if step.startswith("global LSTM update"):
            told.append(extra_bytes)
        return check(step, extra_bytes, **kwargs)

    monkeypatch.setattr("workload_predictor.fleet.check_memory", spy)
    return told


def test_the_update_allocates_no_more_than_it_checked_against_the_limit(fitted, monkeypatch):
    import copy

    fleet = copy.deepcopy(fitted)
    told = _checked(monkeypatch)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fleet.update(_next_bucket())
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert fleet.update_errors_ == {} and len(told) == 1
    assert peak <= told[0], f"allocated {peak / 2**20:.1f} MiB, checked {told[0] / 2**20:.1f} MiB"


def test_a_limit_the_recalibration_would_pass_refuses_the_update_before_it_changes_anything(fitted, monkeypatch):
    """The model's update alone fits in the limit; with the recalibration of 50 keys it does not (each key's alone
    does): the update raises, changing nothing (it went through, the recalibration allocated past the limit)."""
    import copy

    from workload_predictor.models.global_lstm import GlobalLSTM

    fleet = copy.deepcopy(fitted)
    before = fleet.predict()
    added = np.ones(KEYS, dtype=np.int64)
    model_bytes = GlobalLSTM.update_bytes(fleet._global.model, added)
    fleet.set_params(memory_limit_mb=(model_bytes + 10 * 2**20) / 2**20)  # the model's update + 10 MiB
    with pytest.raises(MemoryLimitError, match="the validation roll.*Each key's update fits alone"):
        fleet.update(_next_bucket())
    pd.testing.assert_frame_equal(fleet.predict(), before)
    assert fleet._global.last_timestamp(0) == START + 999 * FIVE


def test_the_calibration_in_chunks_of_keys_is_each_keys_own(fitted, monkeypatch):
    """The calibration bounded to a few keys' windows at a time gives every key the same interval and confidence, bit
    for bit, as one call over all keys."""
    from workload_predictor import fleet as fleet_module

    model, level = fitted._global.model, fitted.level
    whole = fleet_module._global_calibration(model, level)
    one_key = 8 * len(model.validation_actual_[0]) * model.horizon * model.n_targets_
    monkeypatch.setattr(fleet_module, "CALIBRATION_CHUNK_BYTES", 3.5 * one_key)  # chunks of 3 keys
    chunked = fleet_module._global_calibration(model, level)
    for name, values in whole.items():
        np.testing.assert_array_equal(chunked[name], values, err_msg=name)
    for name in ("halfwidth", "confidence", "confidence_by_target"):
        np.testing.assert_array_equal(whole[name], getattr(fitted._global, name), err_msg=name)
