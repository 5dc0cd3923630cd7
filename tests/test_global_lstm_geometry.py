"""How the global and the per-key LSTM cut their window into patches (review h43)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_global_lstm import TINY

from workload_predictor import WorkloadPredictor
from workload_predictor.models.global_lstm import GlobalLSTM


@pytest.mark.parametrize("window, used", [(2000, 1992), (23, 23), (95, 91), (96, 96), (24, 24), (336, 336), (18, 18)])
def test_the_window_is_cut_into_the_patches_that_keep_most_of_it(window, used):
    """Before: window=2000 was cut into 11 patches of round(2000 / 12) = 167, 1,837 buckets; 12 of 166 keep 1,992.
    Every window of DLinear's default search (12 ... 336) keeps its patches."""
    used_window, patch = GlobalLSTM(**{**TINY, "window": window})._geometry()
    assert used_window == window // patch * patch == used
    from workload_predictor.models.lstm import patch_for  # the per-key LSTM's rule, the same function

    assert patch_for(window) == patch
    # No patch size near window / 12 keeps more of the window in whole patches.
    assert all(window // p * p <= used for p in {max(1, window // 12), max(1, round(window / 12)), window // 12 + 1}
               if 1 <= p <= window)


def test_the_too_short_error_names_the_window_asked_and_the_one_read():
    series = [np.random.default_rng(i).poisson(10, (3000, 1)).astype(float) for i in range(2)] + [np.ones((2100, 1))]
    settings = {**TINY, "window": 2000, "max_epochs": 1, "max_windows_per_key": 16}
    model = GlobalLSTM(**settings).fit(series, ["a", "b", "short"])
    assert model.window_ == 1992 and model.patch_size_ == 166
    assert "too few for window 1992 (window=2000 read as 12 whole patches of 166) + horizon 5" in str(
        model.errors_["short"])


def test_the_per_key_lstm_cuts_its_window_with_the_same_rule():
    """Before: window=23 was read as 11 patches of 2 (22 buckets); now 23 patches of 1."""
    y = np.random.default_rng(0).poisson(10, 300).astype(float)
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=300, freq="1min", tz="UTC"), "requests": y})
    predictor = WorkloadPredictor(model="lstm", horizon=3, window=23, random_state=0, verbose=False,
                                  model_params={"max_epochs": 1, "hidden_size": 4}).fit(frame)
    assert (predictor.model_.window_, predictor.model_.patch_size_) == (23, 1)
