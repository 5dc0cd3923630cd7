"""The global LSTM's shared base and a key read far outside the scale it was fitted on (review h41)."""

from __future__ import annotations

import numpy as np
from test_global_lstm import TINY

from workload_predictor.models.global_lstm import GlobalLSTM
from workload_predictor.persistence import dumps, loads


def _periodic(n: int, level: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(level * (1 + 0.5 * np.sin(np.arange(n) / 10))).astype(float)[:, None]


def test_a_key_constant_but_for_one_burst_is_scaled_as_its_constant():
    """A key constant at 5 but for one flagged burst was scaled by the weighted spread of its points, 1e-3 (the
    burst weighed down to almost nothing): it is scaled as the constant it is, 5 (``windows.fit_scale``)."""
    burst = np.full((300, 1), 5.0)
    burst[100] = 1e5
    model = GlobalLSTM(**TINY).fit([_periodic(300, 10.0, 0), burst, _periodic(300, 50.0, 1)])
    assert (model.offset_[1, 0], model.scale_[1, 0]) == (5.0, 5.0)


def test_a_key_of_a_tiny_spread_does_not_take_the_other_keys_forecasts_with_it():
    """Before: a key of a tiny spread at fit (a constant 5 but for one flagged burst was scaled 1e-3; here one bucket
    0.01 off, 5.8e-4) reached the shared base thousands of scales out with its first ordinary buckets after the fit
    (a Poisson(5) stream), and the other keys' forecasts followed (one of about 5 became 123 and -102), as did its
    own. Now a window past 30 scales weighs in the base as a flagged bucket's does."""
    tiny = np.full((300, 1), 5.0)
    tiny[100] = 5.01
    series = [_periodic(300, 10.0, 0), tiny, _periodic(300, 50.0, 1)]
    models = [GlobalLSTM(**TINY).fit(series) for _ in range(2)]
    assert models[0].scale_[1, 0] < 0.01  # the degenerate scale this test is about
    stream = np.random.default_rng(2).poisson(5, 30).astype(float)[:, None]
    quiet = np.full((30, 1), 5.0)
    for model, new in zip(models, (stream, quiet)):
        model.update([series[0][-30:], new, series[2][-30:]])
    moved, calm = models[0].predict(), models[1].predict()
    for key, level in ((0, 10.0), (2, 50.0)):  # the other keys: as after the quiet update, within 10 % of their level
        assert np.abs(moved[key] - calm[key]).max() < 0.1 * level
    assert np.abs(moved[1] - 5.0).max() < 5.0  # its own forecast near its level of 5
    loaded = loads(dumps(models[0]))
    assert all(np.array_equal(a, b) for a, b in zip(loaded.predict(), moved))


def test_a_window_past_the_extent_weighs_as_a_flagged_buckets_and_others_are_unchanged():
    """The base's statistics of windows within 30 scales are exactly the unweighted ones; one past it (here 300
    scales) adds ``(30 / 300)^4`` of itself."""
    model = GlobalLSTM(**TINY).fit([_periodic(300, 10.0, 0), _periodic(300, 50.0, 1)])
    z = np.random.default_rng(3).normal(0, 1, (80, 1))
    origins = np.arange(model.window_, 80 - model.horizon + 1)
    plain = model._base_stats([z], [origins], [None])
    far = z.copy()
    far[-1] = 300.0  # the last target of the last window only
    gram, cross = model._base_stats([far], [origins], [None])
    x = model._features(far, origins[-1:])
    expected = plain[0] - model._features(z, origins[-1:]).T @ model._features(z, origins[-1:]) + 1e-4 * x.T @ x
    np.testing.assert_allclose(gram, expected, rtol=1e-12, atol=1e-12)
    assert np.abs(cross).max() < 1e4  # unweighted, the 300 reaches the cross statistics at full weight
    model.robust = False
    assert np.abs(model._base_stats([far], [origins], [None])[1]).max() >= 300.0
