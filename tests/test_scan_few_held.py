"""The chains' sweep (``anomaly._sweep``) sets the held positions apart from the flags' with a Python set where they
are few (an update's: ``np.isin`` cost 50 us a call, 100 us of a bare DLinear's 1.1 ms update with a burst in its
inputs) and with ``np.isin`` where many: both give the same flags, bit for bit, on series whose sweeps hold few
positions and many."""

from __future__ import annotations

import numpy as np
import pytest

from workload_predictor import anomaly

FEW = anomaly._FEW_HELD

def _chain(n: int = 400, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).poisson(0.3, (n, 2)).astype(float)
    values[[150, 152, 154], 0] = 500.0  # a chain: one flag a round
    values[[200, 201, 202], 1] = 2.0**32 - 1
    values[[300, 301], 1] = 0.0
    return values


def _spiky(n: int = 3000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.poisson(5.0, (n, 1)).astype(float)
    at = np.sort(rng.choice(np.arange(100, n), 400, replace=False))
    values[at, 0] = rng.choice([5e2, 3e3, 1e4, 4.29e9], len(at))  # sentinels written again and again: many held
    return values


@pytest.mark.parametrize("values", [_chain(), _chain(seed=3), _spiky(), _spiky(seed=2)], ids=["chain0", "chain3",
                                                                                            "spiky1", "spiky2"])
def test_few_and_many_held_positions_flag_alike(values, monkeypatch):
    sizes = []
    sweep = anomaly._sweep

    def counted(values, col, floor, length, k, flags, held, offset=0):
        sizes.append(len(held))
        return sweep(values, col, floor, length, k, flags, held, offset)

    monkeypatch.setattr(anomaly, "_sweep", counted)
    floor = anomaly.floor_of(values)
    found = {}
    for few in (0, FEW, 10**9):
        monkeypatch.setattr(anomaly, "_FEW_HELD", few)
        found[few] = anomaly.detect(values, 60, floor)
        streamed = []
        for t in range(len(values) - 40, len(values)):  # updates of one bucket, with the flags found before them
            low = t - anomaly.HISTORY_BUCKETS
            known = {(p - low, c): median for p, c, _, median in found[few] if low <= p < t}
            streamed += anomaly.detect(values[low : t + 1], anomaly.HISTORY_BUCKETS, floor, known=known)
        found[few] = (found[few], streamed)
    assert found[0] == found[FEW] == found[10**9]
    assert found[0][0]
    assert max(sizes) > 0  # sweeps that held positions ran (the chains: 64 at most, the spiky series: 2,709)
