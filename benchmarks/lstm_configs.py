"""How the LSTM's default configuration was chosen: test MAE and fit time per configuration.

Same series and protocol as benchmarks/holdout_accuracy.py (fit on n-100 points, score every origin of
the last 100, horizon 10). One torch thread. Medians over the seeds.
Run: python3 benchmarks/lstm_configs.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse

from holdout_accuracy import make_series, print_table, test_mae
from workload_predictor.models import LSTM, DLinear

CONFIGS = {
    "default (hidden 32, 1 layer, ~12 patches, DLinear base)": {},
    "no patches (patch_size=1: one LSTM step per bucket)": {"patch_size": 1},
    "hidden 64": {"hidden_size": 64},
    "2 layers": {"num_layers": 2},
    "batch 32": {"batch_size": 32},
    "no DLinear base": {"linear_base": False},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float]]] = {"dlinear (reference)": []}
    for seed in args.seeds:
        y = make_series(1000, seed)
        results["dlinear (reference)"].append(test_mae(DLinear(horizon=10), y))
        for name, params in CONFIGS.items():
            results.setdefault(name, []).append(test_mae(LSTM(horizon=10, random_state=seed, **params), y))
    print_table(results, "configuration")


if __name__ == "__main__":
    main()
