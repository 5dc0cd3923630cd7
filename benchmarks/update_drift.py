"""How far DLinear's rank-one updates drift from a direct solve (the rounding Sherman-Morrison accumulates).

Fits DLinear on the first 1000 points of a periodic series, then updates it one bucket at a time and compares
its coefficients with a refit on the same data (first fit's window, scaling and penalty), relative to the
largest coefficient: with the library's recomputation every ``REFRESH_AFTER`` steps (checked just before and
at each recomputation), and with recomputation switched off for 4,000 steps.

Run: python3 benchmarks/update_drift.py   (about 10 s)
"""

import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import periodic_series  # noqa: E402
from workload_predictor.models import DLinear  # noqa: E402
from workload_predictor.models import dlinear as dlinear_module  # noqa: E402


def drift(model: DLinear, first: DLinear, y: np.ndarray, seen: int) -> float:
    twin = copy.deepcopy(first)
    twin._fit_arrays(y[:seen], refit=True)
    return float(np.abs(model.coef_ - twin.coef_).max() / np.abs(twin.coef_).max())


def main() -> None:
    y = periodic_series(5000, noise=5.0)["requests"].to_numpy()[:, None]
    refresh = dlinear_module.REFRESH_AFTER
    model = DLinear(horizon=10).fit(y[:1000])
    first, worst = copy.deepcopy(model), 0.0
    for i in range(1000, 1000 + 3 * refresh):
        model.update(y[i : i + 1])
        if model.rank_one_steps_ in (0, refresh - 1):
            worst = max(worst, drift(model, first, y, i + 1))
    print(f"with recomputation every {refresh} steps: largest drift {worst:.1e} over {3 * refresh} updates")
    dlinear_module.REFRESH_AFTER = 10**9
    model = DLinear(horizon=10).fit(y[:1000])
    first = copy.deepcopy(model)
    for i in range(1000, 5000):
        model.update(y[i : i + 1])
        if i + 1 - 1000 in (256, 1024, 4000):
            print(f"without recomputation, after {i + 1 - 1000:5d} steps: drift {drift(model, first, y, i + 1):.1e}")


if __name__ == "__main__":
    main()
