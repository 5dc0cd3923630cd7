"""A bare model's ``fit(y, anomalies=...)`` given flags that are not ``{(position, target index): reference median}``
of this ``y`` (review h192): each is a typed error naming the bucket and the fix, before anything is fitted. Read as
they were, a position past the series or a target index past its targets raised IndexError deep in the settling, a
list raised TypeError, a negative position settled a bucket counted from the series' end, and a NaN median was
accepted."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.errors import WorkloadDataError
from workload_predictor.models.baselines import Naive
from workload_predictor.models.dlinear import DLinear
from workload_predictor.models.ensemble import Ensemble

N = 600
Y = np.random.default_rng(0).poisson(20, N).astype(float)
Y2 = np.stack([Y, np.random.default_rng(1).poisson(5, N).astype(float)], axis=1)

MODELS = {"dlinear": lambda: DLinear(horizon=10), "naive": lambda: Naive(horizon=10),
          "ensemble": lambda: Ensemble(horizon=10, members=["naive", "dlinear"])}
BAD_BUCKETS = {"past-the-end": {(N, 0): 20.0}, "negative": {(-5, 0): 20.0}, "target-past": {(550, 2): 20.0},
               "fraction": {(550.5, 0): 20.0}, "bool": {(True, 0): 20.0}, "not-a-pair": {(550,): 20.0}}
BAD_MEDIANS = {"nan": float("nan"), "inf": float("inf"), "text": "20", "beyond": 1e19, "negative": -10.0}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("flags", BAD_BUCKETS.values(), ids=BAD_BUCKETS)
@pytest.mark.parametrize("y", [Y, Y2], ids=["1-d", "2-d"])
def test_a_flag_outside_the_series_is_a_typed_error(model, flags, y):
    fitted = MODELS[model]()
    with pytest.raises(WorkloadDataError, match=r"anomalies names the bucket .* not a \(position, target index\) of "
                                                r"y's 600 points"):
        fitted.fit(y, anomalies=flags)
    assert not hasattr(fitted, "n_seen_")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("median", BAD_MEDIANS.values(), ids=BAD_MEDIANS)
def test_a_flag_whose_median_is_no_finite_number_is_a_typed_error(model, median):
    with pytest.raises(WorkloadDataError, match=r"anomalies gives the bucket \(550, 0\) the reference median .* not "
                                                r"a finite number"):
        MODELS[model]().fit(Y, anomalies={(550, 0): median})


@pytest.mark.parametrize("model", MODELS)
def test_flags_that_are_no_dict_are_a_typed_error(model):
    with pytest.raises(WorkloadDataError, match=r"anomalies=\[\(550, 0\)\] must be a dict"):
        MODELS[model]().fit(Y, anomalies=[(550, 0)])


def test_flags_of_this_series_fit_as_before():
    """Well-formed flags (numpy integers too) are read as given: the fit equals the one given the same flags as Python
    ints."""
    spiked = Y.copy()
    spiked[550] = 5000.0
    plain = DLinear(horizon=10).fit(spiked, anomalies={(550, 0): 20.0})
    numpy_ints = DLinear(horizon=10).fit(spiked, anomalies={(np.int64(550), np.int32(0)): np.float64(20.0)})
    np.testing.assert_array_equal(plain.validation_forecast_, numpy_ints.validation_forecast_)
    assert not np.array_equal(plain.validation_forecast_, DLinear(horizon=10).fit(spiked, anomalies={})
                              .validation_forecast_)


@pytest.mark.parametrize("flags", [{(N, 0): 20.0}, {(550, 0): float("nan")}], ids=["past-the-end", "nan"])
def test_an_lstm_checks_the_flags_its_base_search_reads(flags):
    """The LSTM's fit reads the flags for its DLinear base's window search first (``_scored_flags``)."""
    pytest.importorskip("torch")
    from workload_predictor.models.lstm import LSTM

    with pytest.raises(WorkloadDataError, match="anomalies (names|gives) the bucket"):
        LSTM(horizon=10, max_epochs=1).fit(Y, anomalies=flags)
