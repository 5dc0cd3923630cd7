"""The typical burst of a sparse series through updates: an update stream learns the floor a refit learns."""

import numpy as np
import pandas as pd
import pytest

from workload_predictor import ModelFileError, WorkloadPredictor, anomaly, persistence

BURST = 50.0
SENTINEL = float(2**32 - 1)


def _sparse(n=3000, seed=1):
    """1 % bursts of 50 at 1-minute buckets, the newest a burst: 18 bursts among the first 2,000, 28 in all."""
    rng = np.random.default_rng(seed)
    values = np.where(rng.random(n) < 0.01, BURST, 0.0)
    values[-1] = BURST
    index = pd.date_range("2026-01-01", periods=n, freq="1min", tz="UTC")
    return pd.DataFrame({"timestamp": index, "requests": values})


def _streamed(frame, fitted=2000):
    predictor = WorkloadPredictor(horizon=6, random_state=0).fit(frame.iloc[:fitted], target="requests")
    for i in range(fitted, len(frame)):
        predictor.update(frame.iloc[i : i + 1])
    return predictor


def _flagged_after(predictor, start):
    return [a for a in predictor.input_anomalies_ if a[0] >= start]


@pytest.fixture(scope="module")
def sparse():
    frame = _sparse()
    assert int((frame["requests"].iloc[:2000] > 0).sum()) == 18 < anomaly.MIN_BUSY
    assert int((frame["requests"] > 0).sum()) == 28 >= anomaly.MIN_BUSY
    return frame, _streamed(frame), WorkloadPredictor(horizon=6, random_state=0).fit(frame, target="requests")


def test_an_update_stream_stops_flagging_ordinary_bursts_once_a_refit_would(sparse):
    """A fit on fewer than MIN_BUSY bursts flags them (its floor is 1); the floor was kept from the fit, so every
    later burst was flagged through 1,000 updates, where a refit on the same 3,000 buckets (28 bursts) flags none.
    From the bucket that holds the MIN_BUSY-th burst on, the updates judge against the typical burst (50), as the
    refit does; the floor they use is the refit's."""
    frame, streamed, refit = sparse
    assert not refit.input_anomalies_ and refit.input_floor_[0] == BURST
    bursts = frame["timestamp"][frame["requests"] > 0].tolist()
    typical_from = bursts[anomaly.MIN_BUSY - 1]
    assert _flagged_after(streamed, typical_from) == []
    floor = anomaly.busy_floor(streamed.input_nonzero_, streamed.input_nonzero_counts_, streamed.model_.n_seen_)
    np.testing.assert_array_equal(np.maximum(streamed.input_floor_, floor), refit.input_floor_)


def test_an_update_stream_forecasts_after_a_burst_as_a_refit_does(sparse):
    """With the newest bucket a burst, the updated predictor forecast 35 (every burst it had absorbed weighed down as
    an anomaly, the linear map followed the burst) where the refit forecasts 3.5. Both now forecast a small share of
    a burst: within a tenth of one (5) on average over the horizon (the update keeps the first fit's window, scaling
    and penalty, so the two differ by more than rounding)."""
    _, streamed, refit = sparse
    gap = np.abs(streamed.predict().yhat - refit.predict().yhat).mean()
    assert gap < 0.1 * BURST


def test_between_bursts_an_update_stream_is_not_certain_of_zero(sparse):
    """Bursts never entered the update stream's validation (each read as its reference median, 0): between bursts
    its interval was [0, 0] with confidence 1.0. It now reads them as the refit does: the same confidence (0.0,
    bursts forecast as nothing) and an interval that is not a zero width."""
    frame, streamed, refit = sparse
    quiet = pd.DataFrame({"timestamp": [frame["timestamp"].iloc[-1] + pd.Timedelta("1min")], "requests": [0.0]})
    streamed.update(quiet)
    refit.update(quiet)
    forecast, expected = streamed.predict(), refit.predict()
    assert forecast.confidence == pytest.approx(expected.confidence, abs=0.05)
    assert (np.asarray(forecast.upper) > 0).all()


def test_a_few_corrupt_buckets_do_not_raise_the_floor_and_a_quiet_spell_does_not_lower_it():
    """Three sentinels among the updates that bring the bursts past MIN_BUSY are fewer than half of the non-zero
    buckets: the typical burst stays 50, and each sentinel is flagged. A long spell of small values (2) after a fit on
    bursts of 50 lowers the median of the non-zero buckets below the fit's floor: the floor stays the fit's, and a
    burst of 50 after it is not flagged."""
    frame = _sparse()
    values = frame["requests"].to_numpy().copy()
    sentinels = [2500, 2600, 2700]
    values[sentinels] = SENTINEL
    streamed = _streamed(frame.assign(requests=values))
    flagged = {a[0] for a in streamed.input_anomalies_ if a[2] == SENTINEL}
    assert flagged == set(frame["timestamp"].iloc[sentinels])
    floor = anomaly.busy_floor(streamed.input_nonzero_, streamed.input_nonzero_counts_, streamed.model_.n_seen_)
    assert floor[0] == BURST

    predictor = WorkloadPredictor(horizon=6, random_state=0).fit(frame, target="requests")  # floor 50
    rng = np.random.default_rng(3)
    small = np.where(rng.random(3000) < 0.05, 2.0, 0.0)
    index = pd.date_range(predictor.last_timestamp_ + predictor.freq_, periods=len(small) + 1, freq="1min")
    predictor.update(pd.DataFrame({"timestamp": index[:-1], "requests": small}))
    floor = anomaly.busy_floor(predictor.input_nonzero_, predictor.input_nonzero_counts_, predictor.model_.n_seen_)
    assert 0 < floor[0] < predictor.input_floor_[0] == BURST
    predictor.update(pd.DataFrame({"timestamp": index[-1:], "requests": [BURST]}))
    assert _flagged_after(predictor, index[-1]) == []


def test_the_non_zero_buckets_are_bounded_saved_and_checked_and_older_files_keep_the_fit_floor():
    frame = _sparse()
    predictor = WorkloadPredictor(horizon=6, random_state=0).fit(frame.iloc[:2000], target="requests")
    busy = pd.DataFrame({"timestamp": pd.date_range(predictor.last_timestamp_ + predictor.freq_, periods=2000,
                                                    freq="1min"), "requests": np.full(2000, 7.0)})
    bounded = WorkloadPredictor(horizon=6).fit(frame.iloc[:2000], target="requests").update(busy)
    assert bounded.input_nonzero_.shape == (anomaly.BUSY_KEPT, 1) and bounded.input_nonzero_counts_[0] == 2018
    np.testing.assert_array_equal(bounded.input_nonzero_[:, 0], 7.0)

    loaded = persistence.loads(persistence.dumps(predictor))
    np.testing.assert_array_equal(loaded.input_nonzero_, predictor.input_nonzero_)
    np.testing.assert_array_equal(loaded.input_nonzero_counts_, predictor.input_nonzero_counts_)
    rest = frame.iloc[2000:]
    loaded.update(rest)
    predictor.update(rest)
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)
    assert list(loaded.input_anomalies_) == list(predictor.input_anomalies_)

    older = WorkloadPredictor(horizon=6, random_state=0).fit(frame.iloc[:2000], target="requests")
    del older.input_nonzero_, older.input_nonzero_counts_  # a file saved before they were kept: the fit's floor
    older = persistence.loads(persistence.dumps(older))
    older.update(rest)
    assert not hasattr(older, "input_nonzero_")
    # Every burst after the MIN_BUSY-th that the fit's floor flags in a scan of the whole series, as before.
    late = frame["timestamp"][frame["requests"] > 0].tolist()[anomaly.MIN_BUSY - 1]
    expected = [frame["timestamp"].iloc[p] for p, *_ in
                anomaly.series_flags(frame[["requests"]].to_numpy(), older.input_floor_) if frame["timestamp"].iloc[p] >= late]
    assert expected and [a[0] for a in _flagged_after(older, late)] == expected

    good = persistence.loads(persistence.dumps(predictor))
    kept = good.input_nonzero_
    for name, value in [
        ("input_nonzero_counts_", np.array([good.model_.n_seen_ + 1])),  # more than the buckets seen
        ("input_nonzero_counts_", np.array([-1])),
        ("input_nonzero_counts_", np.array([28.0])),  # not integers
        ("input_nonzero_counts_", np.array([27])),  # one fewer than the buckets kept
        ("input_nonzero_", np.where(np.isnan(kept), 50.0, np.nan)),  # NaN after the values
        ("input_nonzero_", np.where(np.isnan(kept), np.nan, 0.0)),  # zeros
        ("input_nonzero_", np.full((anomaly.BUSY_KEPT + 1, 1), 50.0)),  # past the bound
        ("input_nonzero_", None),  # one without the other
    ]:
        forged = persistence.loads(persistence.dumps(predictor))
        setattr(forged, name, value)
        with pytest.raises(ModelFileError, match="non-zero buckets"):
            persistence.loads(persistence.dumps(forged))
