"""A global LSTM over several targets where one target becomes a cumulative counter: the windows holding the counter's
first buckets, before the rule flags it, leave the other targets' forecasts theirs (review h137; h125 left 3)."""

from __future__ import annotations

import numpy as np
from test_global_target_spill import FITTED, NEW, SERIES, _key, _updated, fitted  # noqa: F401 (a fixture)

from workload_predictor.models.global_lstm import GlobalLSTM


def test_a_counters_first_buckets_leave_the_other_targets_forecasts_as_a_new_draw_would(fitted):  # noqa: F811
    """Key 0's requests exported as a running total for 20 buckets, its tokens clean. The rule
    flags the counter from its fourth bucket on; the windows whose inputs held its first three buckets and no later
    one read them as they are, and forecast the tokens 0.5-1.5 of their scales off the same update with clean
    requests (a new draw of the requests: 0.06-0.22). Read as begun where its climb began, as a predictor's bursts
    are, the tokens in those windows are forecast from the clean targets."""
    new = SERIES[0][FITTED:]
    clean = _updated(fitted, new)
    redraw, counter = new.copy(), new.copy()
    redraw[:, 0] = _key(FITTED + NEW, 30, seed=11)[FITTED:, 0]
    counter[:, 0] = np.cumsum(new[:, 0])
    faulty, redrawn = _updated(fitted, counter), _updated(fitted, redraw)
    weights = faulty.recent_weights_[0][-NEW:, 0]
    flagged = int(np.argmax(weights < 1))  # the counter's first flagged bucket
    assert 1 <= flagged < 5 and (weights[:flagged] == 1).all()
    origins = clean.validation_origins_[0]
    first = (origins > FITTED) & (origins <= FITTED + flagged)  # inputs through its first buckets, before its flag
    assert first.sum() == flagged

    def moved(a: GlobalLSTM) -> float:
        return float(np.abs(a.validation_forecast_[0][first, :, 1] - clean.validation_forecast_[0][first, :, 1]).max())

    assert moved(faulty) <= 2 * moved(redrawn)
