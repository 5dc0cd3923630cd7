"""A global LSTM over several targets where one target's buckets go wrong (a cumulative counter exported for
requests): its other targets' forecasts stay theirs (review h125; h121's open item 1)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from workload_predictor.models.global_lstm import GlobalLSTM

FITTED, NEW = 300, 20


def _key(n: int, level: float, seed: int) -> np.ndarray:
    """Requests (Poisson around a daily-like swing) and tokens that follow them (300 a request, with noise)."""
    rng = np.random.default_rng(seed)
    requests = rng.poisson(level * (1 + 0.3 * np.sin(2 * np.pi * np.arange(n) / 12))).astype(float)
    return np.stack([requests, 300 * requests + rng.poisson(50, n)], axis=1)


SERIES = [_key(FITTED + NEW, level, seed) for seed, level in enumerate([30, 80, 10])]


@pytest.fixture(scope="module")
def fitted() -> GlobalLSTM:
    return GlobalLSTM(horizon=5, window=24, hidden_size=4, max_epochs=1, random_state=0).fit(
        [y[:FITTED] for y in SERIES])


def _updated(model: GlobalLSTM, first_key_new: np.ndarray) -> GlobalLSTM:
    return copy.deepcopy(model).update([first_key_new] + [y[FITTED:] for y in SERIES[1:]])


def test_a_counter_in_one_target_leaves_the_others_forecasts_as_a_new_draw_would(fitted):
    """Key 0's requests exported as a running total for 20 buckets (flagged as a counter's from its fifth), its tokens
    clean. Against the same update with clean requests, the tokens' forecast, and their forecasts of the update's
    windows whose inputs hold a flagged bucket (its out-of-sample validation windows, which set its interval), move at
    most twice what a new draw of key 0's requests (its noise alone) moves them. The fitted map spreads each target's
    forecast over every target's inputs (tokens are 300 requests), so the counter's inputs took the tokens with them:
    up to 9 of their scales (a new draw: 0.4-1). The windows of its first buckets, before its flag, are judged in
    ``test_global_lstm_counter_spill.py``."""
    new = SERIES[0][FITTED:]
    clean = _updated(fitted, new)
    redraw = new.copy()
    redraw[:, 0] = _key(FITTED + NEW, 30, seed=11)[FITTED:, 0]
    counter = new.copy()
    counter[:, 0] = np.cumsum(new[:, 0])
    redrawn, faulty = _updated(fitted, redraw), _updated(fitted, counter)
    scale = fitted.scale_[0, 1]
    flagged = clean.validation_origins_[0] > FITTED + 4  # inputs up to the counter's fifth bucket, or later

    def moved(a: GlobalLSTM, b: GlobalLSTM) -> tuple[float, float]:
        windows = np.abs(a.validation_forecast_[0][flagged, :, 1] - b.validation_forecast_[0][flagged, :, 1])
        return float(np.abs(a.predict()[0][:, 1] - b.predict()[0][:, 1]).max() / scale), float(windows.max() / scale)

    assert faulty.recent_weights_[0][-NEW + 4, 0] < 1  # the counter's fifth bucket is flagged
    by_counter, by_redraw = moved(faulty, clean), moved(redrawn, clean)
    assert by_counter[0] <= 2 * by_redraw[0]
    assert by_counter[1] <= 2 * by_redraw[1]
