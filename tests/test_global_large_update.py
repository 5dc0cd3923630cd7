"""A global LSTM's update of many points for one key (a backfill): what the model keeps afterwards."""

from __future__ import annotations

import numpy as np

from test_soak_faults import retained_bytes
from workload_predictor.models.global_lstm import GlobalLSTM


def test_a_backfill_of_many_points_leaves_no_array_of_its_size_in_the_model():
    # 20,000 new points for key 0 in one update: the model keeps each key's newest points and validation windows,
    # as after any update, not views that hold every window the update forecast until the next update replaces them.
    rng = np.random.default_rng(0)
    model = GlobalLSTM(horizon=5, window=24, hidden_size=4, max_epochs=1, random_state=0)
    model.fit([rng.poisson(20, 300).astype(float) for _ in range(2)])
    n = 20_000
    model.update([rng.poisson(20, n).astype(float), None])
    after_backfill = retained_bytes(model)
    model.update([np.array([20.0]), np.array([20.0])])
    after_one_more = retained_bytes(model)  # every buffer of key 0 replaced by one of the size it keeps
    # The backfill's own windows (20,000 x 5 forecasts x 8 bytes in the validation forecasts alone) must not be
    # among what the model held.
    assert after_backfill <= after_one_more + 8 * n // 10, (after_backfill, after_one_more)
