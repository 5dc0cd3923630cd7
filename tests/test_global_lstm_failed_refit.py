"""A ``GlobalLSTM`` refit that raises after it began to change the model leaves it unfitted, never a mix of two fits,
as every per-key model's (``base.unfitted_on_error``; tests/test_failed_refit.py).

Before: a refit whose training raised (a torch error such as CUDA's out of memory, an interrupt) kept the old
network, keys and recent points beside the new fit's scaling, base and target count: on series of the same shape
``predict()`` forecast from that mix without a word; on two targets where one was fitted, it raised torch's
``RuntimeError: input.size(-1) must be equal to input_size. Expected 2, got 4``.
"""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor.errors import NotFittedError
from workload_predictor.models.global_lstm import GlobalLSTM

pytest.importorskip("torch")

TINY = {"horizon": 5, "window": 24, "hidden_size": 8, "max_epochs": 1, "batch_size": 64, "random_state": 0}


def _series(scale: float = 1.0, targets: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(240)
    return [np.tile((scale * level * (1 + 0.5 * np.sin(2 * np.pi * t / 24)) + rng.normal(0, 1, 240)).clip(0)[:, None],
                    (1, targets)) for level in (10.0, 100.0, 700.0)]


@pytest.mark.parametrize("scale, targets", [(1000.0, 1), (1.0, 2)])
def test_a_refit_whose_training_raises_leaves_the_model_unfitted(monkeypatch, scale, targets):
    model = GlobalLSTM(**TINY).fit(_series())
    expected = model.predict()

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(GlobalLSTM, "_train", out_of_memory)
        with pytest.raises(RuntimeError, match="out of memory"):
            model.fit(_series(scale, targets))
    assert not [name for name in vars(model) if name.endswith("_") and not name.startswith("__")]
    with pytest.raises(NotFittedError):
        model.predict()
    with pytest.raises(NotFittedError):
        model.update([y[-5:] for y in _series()])
    refitted = model.fit(_series()).predict()  # and it fits again, as before
    for a, b in zip(refitted, expected):
        np.testing.assert_array_equal(a, b)
