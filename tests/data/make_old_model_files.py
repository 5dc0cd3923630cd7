"""Writes the model files ``tests/test_file_versions.py`` loads: each saved by an earlier release, beside a JSON of
what that release forecast with it (see ``tests/data/README.md``).

Run with the release's package first on the path, e.g. for 0.2.0::

    git -C REPO worktree add --detach /tmp/v0.2.0 v0.2.0   # or: git archive <commit> workload_predictor | tar -x
    PYTHONPATH=/tmp/v0.2.0 python3 tests/data/make_old_model_files.py tests/data dlinear fleet_dlinear

The cases: ``dlinear`` and ``fleet_dlinear`` with 0.2.0, ``seasonal_naive`` and ``fleet_global_lstm`` with 0.9.1,
``dlinear3`` with 0.33.0.
"""

import json
import sys
import warnings

import numpy as np
import pandas as pd

import workload_predictor
from workload_predictor import WorkloadPredictor
from workload_predictor.fleet import FleetPredictor

ROWS, FITTED, UPDATED = 130, 110, 20  # the series, the rows fitted (then saved), the rows of the update after


def load_series(seed: int, scale: float = 1.0, stuck_until: int = ROWS) -> np.ndarray:
    """A cycle with noise, an idle stretch (buckets 20 to 69 all 0), a burst (85) and a count repeated exactly from
    bucket 95 up to ``stuck_until`` (a stuck sensor), rounded to 0.1."""
    rng = np.random.default_rng(seed)
    t = np.arange(ROWS)
    y = (np.clip(100 + 20 * np.sin(2 * np.pi * t / 24) + 10 * rng.standard_normal(ROWS), 0, None) * scale).round(1)
    y[20:70] = 0.0
    y[85] *= 8
    y[95:stuck_until] = y[95]
    return y


def series(name: str) -> dict:
    """The case's series: target -> values (one predictor), or key -> values of ``requests`` (a fleet)."""
    if name.startswith("fleet"):
        return {"a": load_series(10).tolist(), "b": load_series(11, 2.0).tolist()}
    data = {"requests": load_series(1).tolist()}
    if name == "dlinear3":  # every target stuck at the save; output_tokens moves again in the update
        data["input_tokens"] = load_series(2, 40.0).tolist()
        data["output_tokens"] = load_series(3, 9.0, stuck_until=FITTED + 5).tolist()
    return data


def frame(data: dict, fleet: bool, rows: slice) -> pd.DataFrame:
    stamps = pd.date_range("2026-01-01", periods=ROWS, freq="1min", tz="UTC")[rows]
    if fleet:
        return pd.concat([pd.DataFrame({"key": key, "timestamp": stamps, "requests": values[rows]})
                          for key, values in data.items()], ignore_index=True)
    return pd.DataFrame({"timestamp": stamps, **{name: values[rows] for name, values in data.items()}})


def forecast(predictor) -> dict:
    out = predictor.predict()
    if isinstance(out, pd.DataFrame):
        return {c: out[c].astype(float).tolist() for c in ("yhat", "lower", "upper")}
    return {c: np.ravel(np.asarray(getattr(out, c), dtype=float)).tolist() for c in ("yhat", "lower", "upper")}


CASES = {
    "dlinear": lambda: WorkloadPredictor(model="dlinear", horizon=4, window=12),
    "dlinear3": lambda: WorkloadPredictor(model="dlinear", horizon=4, window=12),
    "seasonal_naive": lambda: WorkloadPredictor(model="seasonal_naive", horizon=4),
    "fleet_dlinear": lambda: FleetPredictor(model="dlinear", horizon=4, window=12),
    "fleet_global_lstm": lambda: FleetPredictor(model="global_lstm", horizon=4, window=12, random_state=0,
                                                model_params={"max_epochs": 2, "hidden_size": 4}),
}


def main(out: str, names: list) -> None:
    warnings.simplefilter("ignore")
    version = workload_predictor.__version__
    for name in names:
        predictor, data = CASES[name](), series(name)
        fleet = isinstance(predictor, FleetPredictor)
        targets = list(data) if not fleet else ["requests"]
        fitted = frame(data, fleet, slice(0, FITTED))
        if fleet:
            predictor.fit(fitted)
        else:
            predictor.fit(fitted, target=targets if len(targets) > 1 else targets[0])
        stem = f"{out}/{name}_{version}"
        predictor.save(f"{stem}.wpm")
        record = {"version": version, "kind": type(predictor).__name__, "start": "2026-01-01T00:00:00+00:00",
                  "freq": "1min", "fitted_rows": FITTED, "update_rows": [FITTED, FITTED + UPDATED], "series": data,
                  "saved": forecast(predictor)}
        try:
            predictor.update(frame(data, fleet, slice(FITTED, FITTED + UPDATED)))
            record["updated"] = forecast(predictor)
        except Exception as exc:  # noqa: BLE001 - what that release answered
            record["update_error"] = f"{type(exc).__name__}: {exc}"[:200]
        with open(f"{stem}.json", "w") as handle:
            json.dump(record, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
