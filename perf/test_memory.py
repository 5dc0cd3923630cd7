"""Memory growth during fit and during predict(10): peak RSS minus the RSS just before, with psutil
(Python's allocation tracer does not see torch's allocations), in fresh processes so earlier cases cannot hide growth.

Warm (budgeted): after a throwaway fit of the same model on another 1000-point series of the same kind,
the steady state of a service that refits on a sliding window. Cold (reported beside the old report's
10 / 50 / 83 MB): the first fit after the imports, what a script pays.
"""

import pytest

from perf.harness import MODELS


@pytest.mark.parametrize("state", ["warm", "cold"])
@pytest.mark.parametrize("model", MODELS)
def test_memory(perf, model, state):
    growth = perf.memory(model, state, "synthetic")
    assert set(growth) == {"fit", "predict"}
