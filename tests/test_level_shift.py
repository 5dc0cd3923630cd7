"""DLinear follows the level (``follow_level``): windows less their last value, in closed form, and the penalty
the validation tail chooses."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import periodic_series
from workload_predictor import WorkloadPredictor
from workload_predictor.models import DLinear
from workload_predictor.models.dlinear import (EXACT_ALPHA, FOLLOW_ALPHA, WindowStats, level_map, solve_dlinear)
from workload_predictor.models.dlinear_batched import fit_batched
from workload_predictor.windows import targets_at, windows_at

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dlinear_follows_a_level_it_never_saw_in_training(seed):
    """Fitted on 800 buckets of Poisson(50), forecasting once the series sits at 150: raw windows revert toward the
    training mean (the code trace's defect: DLinear 2x the moving average's error at 10 s); shifted ones do not."""
    rng = np.random.default_rng(seed)
    y = np.concatenate([rng.poisson(50, 800), rng.poisson(150, 200)]).astype(float)[:, None]
    following = DLinear().fit(y[:800]).predict_at(y, np.array([900]))
    raw = DLinear(follow_level=False).fit(y[:800]).predict_at(y, np.array([900]))
    assert abs(following.mean() - 150) < 50  # nearer the new level than the old
    assert abs(raw.mean() - 150) > 50  # the same test fails for raw windows


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**16), window=st.integers(2, 40), horizon=st.integers(1, 8),
       alpha=st.sampled_from([1e-3, 0.1, 1.0]))
def test_shifted_fit_is_the_ridge_fit_of_the_windows_less_their_last_value(seed, window, horizon, alpha):
    """The closed form from the raw statistics equals fitting the materialised windows less their last input (and the
    targets less it), then adding it back; each step's weights on raw inputs sum to one."""
    rng = np.random.default_rng(seed)
    z = np.cumsum(rng.normal(size=300)) + rng.normal(size=300)
    origins = np.arange(window, 300 - horizon + 1)
    x, y = windows_at(z, origins, window), targets_at(z, origins, horizon)
    solution = solve_dlinear(WindowStats.from_windows(x, y), 25, alpha, follow_level=True)
    last = x[:, -1:]
    shifted = solve_dlinear(WindowStats.from_windows(x - last, y - last), 25, alpha)
    probe = rng.normal(size=(20, window)) * 3 + rng.normal()
    np.testing.assert_allclose(probe @ solution.coef + solution.intercept,
                               (probe - probe[:, -1:]) @ shifted.coef + shifted.intercept + probe[:, -1:],
                               rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(solution.coef.sum(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(level_map(shifted.coef), solution.coef, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("alpha", [None, 1e-3])
def test_rank_one_updates_of_the_shifted_systems_equal_a_refit_on_all_the_data(alpha):
    """Updates keep the fit's window, blend, scaling and penalties; with them, a refit on every point seen gives the
    same map (the shifted Gram matrix changes by the rank-one step of the shifted window)."""
    y = periodic_series(700, noise=6.0, seed=4)["requests"].to_numpy()[:, None]
    model = DLinear(horizon=5, alpha=alpha).fit(y[:600])
    expected = copy.deepcopy(model)
    for i in range(600, 700, 3):
        model.update(y[i : i + 3])
    assert model.rank_one_steps_ > 0  # the last updates were rank-one steps, not recomputations
    expected._fit_arrays(y[:700], refit=True)
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(model.intercept_, expected.intercept_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(model.coef_[0].sum(axis=0), 1.0, rtol=1e-9)


def test_the_validation_tail_chooses_the_weak_penalty_only_for_a_clean_cycle():
    t = np.arange(600)
    clean = (50 + 20 * np.sin(2 * np.pi * t / 24) + 10 * np.sin(2 * np.pi * t / 60))[:, None]
    noisy = np.random.default_rng(3).poisson(50, (600, 1)).astype(float)
    assert DLinear().fit(clean).alpha_ == EXACT_ALPHA
    assert DLinear().fit(noisy).alpha_ == FOLLOW_ALPHA
    assert DLinear(alpha=0.3).fit(clean).alpha_ == 0.3  # a given penalty is not chosen
    assert DLinear(follow_level=False).fit(noisy).alpha_ == EXACT_ALPHA  # raw windows: the weak one, as always
    # The batched fleet kernel chooses per series as DLinear does.
    fit = fit_batched(np.stack([clean, noisy]), horizon=10)
    for b, series in enumerate((clean, noisy)):
        model = DLinear().fit(series)
        np.testing.assert_allclose(fit.coef[b, 0, -model.window_ :], model.coef_[0], rtol=1e-7, atol=1e-9)


def _replay_saved_file(name: str, rtol_before: float, rtol_after: float) -> WorkloadPredictor:
    """Load ``tests/data/{name}.wpm`` and check its forecasts before and after the recorded update against what the
    version that saved it forecast (``{name}.json``, see ``tests/data/README.md``); returns the loaded predictor."""
    record = json.loads((DATA / f"{name}.json").read_text())
    y = np.asarray(record["series"])
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=len(y), freq="1min", tz="UTC"),
                          "requests": y})
    predictor = WorkloadPredictor.load(DATA / f"{name}.wpm")
    before = predictor.predict()
    np.testing.assert_allclose(np.ravel(before.yhat), record["yhat_before"], rtol=rtol_before)
    np.testing.assert_allclose(np.ravel(before.upper), record["upper_before"], rtol=rtol_before)
    start, stop = record["update_rows"]
    predictor.update(frame.iloc[start:stop])
    after = predictor.predict()
    np.testing.assert_allclose(np.ravel(after.yhat), record["yhat_after"], rtol=rtol_after)
    np.testing.assert_allclose(np.ravel(after.upper), record["upper_after"], rtol=rtol_after)
    return predictor


def test_a_dlinear_file_saved_by_0_5_0_forecasts_and_updates_as_it_did():
    """Files saved before ``follow_level`` hold raw-window statistics and systems: they keep forecasting with them."""
    predictor = _replay_saved_file("dlinear_0.5.0", rtol_before=1e-12, rtol_after=1e-9)
    assert not predictor.model_._follows_level()


def test_the_lstm_forecast_follows_a_shift_in_level():
    """The LSTM's network reads each window less its last value, as its base does: a window plus a constant is
    forecast as the window's forecast plus that constant (a network reading raw levels corrects by the level)."""
    from workload_predictor.models import LSTM

    y = periodic_series(700, noise=20.0, seed=1)["requests"].to_numpy()
    model = LSTM(horizon=5, random_state=0, max_epochs=8).fit(y)
    assert model.best_epoch_ > 0  # the trained network, not its zero-initialised head, corrects the base
    origins = np.arange(500, 700, 9)
    for shift in (-20.0, 25.0, 300.0):  # y is 22.9 or more: a shift keeps it a load
        np.testing.assert_allclose(model.predict_at(y + shift, origins) - shift, model.predict_at(y, origins),
                                   rtol=0, atol=1e-3 * np.abs(y).max())
    # Two targets: each target's window is read less its own last value, so each follows its own shift.
    pair = np.column_stack([y, 3.0 * y[::-1] + 50.0])
    both = LSTM(horizon=5, random_state=0, max_epochs=8).fit(pair)
    assert both.best_epoch_ > 0
    shift = np.array([-20.0, 400.0])
    np.testing.assert_allclose(both.predict_at(pair + shift, origins) - shift, both.predict_at(pair, origins),
                               rtol=0, atol=1e-3 * np.abs(pair).max())
    raw = LSTM(horizon=5, random_state=0, max_epochs=8, follow_level=False).fit(y)
    assert raw.network_.level_targets == 0  # the option off: raw windows, as files saved before it hold


def test_an_lstm_file_saved_by_0_6_0_forecasts_and_updates_as_it_did():
    """0.6.0's LSTM network read raw windows: its file rebuilds that network (no level shift), and forecasts and
    updates as 0.6.0 did."""
    predictor = _replay_saved_file("lstm_0.6.0", rtol_before=1e-6, rtol_after=1e-5)
    assert predictor.model_.network_.level_targets == 0 and predictor.model_.best_epoch_ > 0
