"""init: construction in-process, and import + construction in a fresh process.

The old report: LSTM 0.510 s, DLinear 0.003 s, Ensemble 0.518 s. The fresh-process
figure is what a user pays before ``fit``: importing the package and the model's own
modules (torch for the LSTM and the ensemble), then constructing the predictor. It is
bounded by the imports it needs, measured in the same run and interleaved with it:
1.2x ``import pandas`` for DLinear, 1.2x ``import pandas, torch`` for LSTM and Ensemble.
"""

import pytest

from perf import harness
from perf.harness import MODELS, median


@pytest.mark.parametrize("model", MODELS)
def test_init(perf, model):
    from workload_predictor import WorkloadPredictor

    perf.time("init", model, lambda: WorkloadPredictor(model=model, random_state=0), rounds=2000, warmup_rounds=50)


@pytest.mark.parametrize("model", MODELS)
def test_import_and_init(perf, model):
    reference = harness.BUDGETS["target"]["import_reference"][model]
    repeats = int(harness.SETTINGS["import_repeats"])
    harness.run_child("import", reference)  # untimed: warms the page cache for both
    harness.run_child("import", model)
    pairs = []

    def one_pair():
        # Alternate the order, so a neighbour that comes or goes hurts both sides alike.
        first, second = (reference, model) if len(pairs) % 2 == 0 else (model, reference)
        a, b = harness.run_child("import", first), harness.run_child("import", second)
        ours, ref = (b, a) if first == reference else (a, b)
        pairs.append((ours["seconds"], ref["seconds"], ours["torch_imported"]))

    perf.benchmark.pedantic(one_pair, rounds=repeats, iterations=1)
    ratio = median(o / r for o, r, _ in pairs)
    if model == "dlinear":
        assert not any(t for *_, t in pairs), "import workload_predictor + DLinear imported torch"
    perf.figure("import_ratio", model, ratio, "x", budget_kind="import_ratio",
                extra={"seconds": median(o for o, _, _ in pairs), "reference": reference,
                       "reference_seconds": median(r for _, r, _ in pairs),
                       "ratios": [round(o / r, 3) for o, r, _ in pairs]})
