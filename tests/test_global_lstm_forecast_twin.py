"""The global LSTM's batched forecast is bit for bit the key-by-key reading of it (review h83: the per-key work of a
forecast, found once per call instead of once per key)."""

from __future__ import annotations

import numpy as np
import torch
from test_global_lstm import TINY, fleet

from workload_predictor._threads import torch_threads
from workload_predictor.models.global_lstm import (
    LEVEL_FAR,
    LEVEL_NEAR,
    LEVEL_SHIFT,
    PREDICT_CHUNK,
    GlobalLSTM,
    _level_since,
)
from workload_predictor.models.torch_runtime import forward_in_chunks, inference_network
from workload_predictor.windows import windows_at


def _twin(model: GlobalLSTM, series: list[np.ndarray], origins: list[np.ndarray], keys: list[int] | None = None):
    """``model._forecast`` written out key by key: each key's inputs multiplied by its read mask, its windows gathered
    for the patches and again for the base, its forecast scaled back by its spread and its pending targets
    (``read == 0``) looked up key by key."""
    keys = list(range(len(series))) if keys is None else keys
    pending = getattr(model, "scale_pending_", None)
    read = np.ones_like(model.scale_) if pending is None else (~pending).astype(float)
    z = [(y - model.offset_[j]) / model.scale_[j] * read[j] for y, j in zip(series, keys)]
    network = inference_network(model.network_, model.quantize)
    shape = (model.window_ // model.patch_size_, model.patch_size_ * model.n_targets_)  # [L, P*k]
    patches = [windows_at(zi, oi, model.window_).reshape(len(oi), *shape) for zi, oi in zip(z, origins)]
    x = torch.from_numpy(np.concatenate(patches).astype(np.float32))
    with torch_threads(model.n_threads), torch.inference_mode():
        residual = forward_in_chunks(network, x, torch.device("cpu"), PREDICT_CHUNK)
    # The base's features gathered again, key by key, for its forecasts.
    assert model.linear_base
    base = np.concatenate([model._features(zi, oi) @ model.base_coef_ for zi, oi in zip(z, origins)])
    window_level = np.stack([row.reshape(-1, model.n_targets_).mean(axis=0, dtype=np.float64) for row in x.numpy()])
    base = _twin_followed(model, base, x[:, -1].numpy(), z, origins, window_level)
    forecast_z = (base + residual).reshape(-1, model.horizon, model.n_targets_)
    spread = model.scale_ * read
    out, first = [], 0
    for j, y, o in zip(keys, series, origins):
        out.append(forecast_z[first : first + len(o)] * spread[j] + model.offset_[j])
        first += len(o)
        for col in np.flatnonzero(read[j] == 0):
            out[-1][:, :, col] = _level_since(y[:, col], model.offset_[j, col], o)[:, None]
    return out


def _twin_followed(model: GlobalLSTM, base: np.ndarray, newest: np.ndarray, z: list[np.ndarray],
                   origins: list[np.ndarray], window_level: np.ndarray) -> np.ndarray:
    """``model._followed`` written out window by window: every window's share of the level-following map (its newest
    patch's mean, ``np.mean``, clipped; at least ``1 - (LEVEL_SHIFT / level)^4`` for a window whose mean
    ``window_level`` sits past ``LEVEL_SHIFT``), each far window's features gathered alone (one product for them
    all, as BLAS sums a batch)."""
    k = model.n_targets_
    level = newest.reshape(len(newest), model.patch_size_, k).mean(axis=1, dtype=np.float64)
    share = np.clip((np.abs(level) - LEVEL_NEAR) / (LEVEL_FAR - LEVEL_NEAR), 0.0, 1.0)
    past = np.abs(window_level) > LEVEL_SHIFT
    share[past] = np.maximum(share[past], 1.0 - (LEVEL_SHIFT / np.abs(window_level[past])) ** 4)
    rows = [(zi, o) for zi, oi in zip(z, origins) for o in oi]
    far = [row for row in range(len(rows)) if share[row].any()]
    if not far:
        return base
    features = np.concatenate([model._features(rows[row][0], np.array([rows[row][1]])) for row in far])
    following = features @ model._following_coef()
    base = base.copy()
    for f, row in enumerate(far):
        weight = np.tile(share[row], model.horizon)
        base[row] = (1 - weight) * base[row] + weight * following[f]
    return base


def _woken() -> tuple[GlobalLSTM, np.ndarray]:
    """Three periodic keys of two targets and an idle key woken by 10 buckets: its requests rescaled, its tokens
    (flagged against its idle floor) still pending."""
    rng = np.random.default_rng(0)
    series = [np.hstack([s, 50.0 * s]) for s in fleet(3)] + [np.zeros((240, 2))]
    model = GlobalLSTM(**TINY).fit(series)
    wake = np.hstack([rng.poisson(100, (10, 1)), rng.poisson(5000, (10, 1))]).astype(float)
    model.update([None] * 3 + [wake])
    assert model.scale_pending_.tolist() == [[False, False]] * 3 + [[False, True]]
    return model, wake


def _assert_same(model, series, origins, keys=None):
    got = model._forecast(series, origins, keys=keys)
    want = _twin(model, series, origins, keys=keys)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, i
        np.testing.assert_array_equal(g, w, err_msg=f"key {i}")


def test_the_batched_forecast_is_the_key_by_key_one_bit_for_bit():
    """predict's forecasts (every key at its newest point, the pending key at its points' mean), several origins a
    key, a subset of keys in another order, and windows moved far from their key's scale (the level-following map):
    the same bits as the key-by-key reading, pending targets and all."""
    model, wake = _woken()
    recent = model._settled_recent()
    _assert_same(model, recent, [np.array([len(r)]) for r in recent])
    predicted = model.predict()
    assert len(predicted) == 4
    np.testing.assert_allclose(predicted[3][:, 1], wake[:, 1].mean(), rtol=1e-12)  # the pending target, at its mean

    origins = [np.arange(model.window_, len(r) + 1, 7) for r in recent]
    _assert_same(model, recent, origins)
    _assert_same(model, [recent[3], recent[1]], [origins[3], origins[1]], keys=[3, 1])

    moved = [r.copy() for r in recent]
    moved[0][-model.patch_size_:] += 12.0 * model.scale_[0]  # past LEVEL_FAR: forecast by the level-following map
    moved[1][-model.patch_size_:] += 6.0 * model.scale_[1]  # between LEVEL_NEAR and LEVEL_FAR: toward it
    for i in (0, 1):
        z = (moved[i][-model.patch_size_:] - model.offset_[i]) / model.scale_[i]
        assert (np.abs(z.mean(axis=0)) > LEVEL_NEAR).all() and (np.abs(z.mean(axis=0)) < LEVEL_FAR).any() == (i == 1)
    _assert_same(model, moved, [np.array([len(m)]) for m in moved])
    _assert_same(model, moved, origins)  # far windows among near ones, several keys' at once


def test_a_model_without_pending_state_forecasts_as_before():
    """A model file saved before ``scale_pending_`` was kept (none pending): the same bits as the key-by-key reading."""
    model = GlobalLSTM(**TINY).fit(fleet(4))
    del model.scale_pending_
    recent = model._settled_recent()
    _assert_same(model, recent, [np.array([len(r)]) for r in recent])
    _assert_same(model, recent, [np.arange(model.window_, len(r) + 1, 5) for r in recent])
