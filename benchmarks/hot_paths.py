"""An autoscaler's loop, this working tree against a git revision in one process: ``predict()`` and
``update(one bucket)`` of a bare DLinear, a DLinear ``WorkloadPredictor``, an ensemble ``WorkloadPredictor`` and a
DLinear fleet (1,000 keys, one row a key, then ``predict()``), on series of 1,000 buckets (``--data``, see
:func:`series`): Poisson(50) clean; with one 2**32 - 1 bucket 4 before the end (a counter wrap: flagged, and in the
forecast's inputs); with a counter's run ending 2 before the end (flagged from its 5th bucket); the bundled Azure code
trace at 1 s with a 2**32 - 1 bucket every 50 (its updates continue it, a new burst every 50 of them).

Both packages are loaded side by side (the revision's copy as ``wp_old``, as benchmarks/update_ab.py does) and fitted
on the same data. Rounds alternate between them (old, new, new, old, ...): each round times ``CALLS`` calls on a
fresh deep copy of the fitted object (made before the timer starts; the updates of a round move the burst by at most
``CALLS`` buckets, so it stays in the inputs) with ``time.thread_time``. Prints each case's medians of the per-round
medians (microseconds, milliseconds for the fleet) and the median of the per-round ratios new / old, and checks that
both forecast bit for bit the same after the round's calls.

Run: PYTHONPATH=. python3 benchmarks/hot_paths.py REV [--rounds 15] [--cases bare,predictor,ensemble,fleet]
[--data clean,burst,counter,trace] [--seed 0] (about 4 minutes for the bare and predictor cases; the fleet's and the
ensemble's fits take minutes more). ``--profile CASE`` prints cProfile's top functions (``--sort``, ``--lines``) of
this tree's calls instead.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import importlib
import pstats
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
N, SENTINEL, KEYS = 1000, 2.0**32 - 1, 1000
START = pd.Timestamp("2026-01-01", tz="UTC")
STEP = pd.Timedelta("10s")

from update_ab import load_revision  # noqa: E402  (benchmarks/ is the script's folder, first on sys.path)


SEED = 0  # of the fitted series (--seed)


DATA = ("clean", "burst", "counter", "trace")  # --data
LABELS = {"clean": "clean", "burst": "one burst", "counter": "counter run", "trace": "trace, bursts"}
TRACE_EVERY = 50  # a 2**32 - 1 bucket every this many of the trace's (--data trace)


def trace_values(length: int, offset: int = 0) -> np.ndarray:
    """The bundled Azure code trace's requests a second (3,437 buckets, read cyclically from ``offset``) with a
    2**32 - 1 bucket every ``TRACE_EVERY`` (from its 25th): the trace itself has no bucket the rule flags at 1 s or
    5 s, so its bursts are written in, as a service that writes a sentinel now and then would."""
    from workload_predictor import bucketize
    from workload_predictor.datasets import azure_llm_trace

    global _TRACE
    if _TRACE is None:
        _TRACE = bucketize(azure_llm_trace("code"), freq="1s")["requests"].to_numpy(dtype=float)
    values = _TRACE[(offset + np.arange(length)) % len(_TRACE)]
    values[(offset + np.arange(length)) % TRACE_EVERY == 25] = SENTINEL
    return values


_TRACE = None


def series(seed: int, data: str, extra: int = 0) -> np.ndarray:
    """The fitted series (``seed`` 0) and its updates' points (``[N:]`` of ``seed`` 1) of the case's ``data``:
    Poisson(50) clean, with one 2**32 - 1 bucket 4 before the end (``burst``), with the newest 30 buckets but 2
    exported as a counter (``counter``: their running sum, flagged from its 5th bucket), or the trace's
    (``trace``: its updates continue it, a burst every ``TRACE_EVERY`` buckets)."""
    if data == "trace":
        return trace_values(N + extra, 1000 * SEED)
    values = np.random.default_rng(SEED + seed).poisson(50, N + extra).astype(float)
    if data == "burst" and seed == 0:
        values[N - 5] = SENTINEL  # 4 buckets before the end
    if data == "counter" and seed == 0:
        values[N - 32 : N - 2] = np.cumsum(values[N - 32 : N - 2])
    return values


def frame(values: np.ndarray, first: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + STEP * np.arange(first, first + len(values)), "requests": values})


def fleet_values(data: str, extra: int) -> np.ndarray:
    """``(KEYS, N + extra)``: each key's series as :func:`series` makes it (the trace from another offset a key)."""
    if data == "trace":
        return np.stack([trace_values(N + extra, 1000 * SEED + 3 * key) for key in range(KEYS)])
    values = np.random.default_rng(7).poisson(50, (KEYS, N + extra)).astype(float)
    if data == "burst":
        values[:, N - 5] = SENTINEL
    if data == "counter":
        values[:, N - 32 : N - 2] = np.cumsum(values[:, N - 32 : N - 2], axis=1)
    return values


def fleet_frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"key": np.repeat([f"k{i:04d}" for i in range(KEYS)], N),
                         "timestamp": np.tile(START + STEP * np.arange(N), KEYS), "requests": values[:, :N].ravel()})


def fleet_rows(values: np.ndarray, step: int) -> pd.DataFrame:
    return pd.DataFrame({"key": [f"k{i:04d}" for i in range(KEYS)], "timestamp": START + STEP * (N + step),
                         "requests": values[:, N + step]})


class Case:
    """One object fitted by each package, and the calls a round times on a copy of it."""

    calls = 50

    def __init__(self, package, data: str):
        self.package, self.data = package, data
        self.fitted = self.fit()
        self.new = series(1, data, self.calls)[N:]

    def fit(self):
        raise NotImplementedError

    def call(self, obj, k: int):
        raise NotImplementedError

    def forecast(self, obj) -> np.ndarray:
        raise NotImplementedError


class BarePredict(Case):
    calls = 200

    def fit(self):
        return self.package.models.DLinear(horizon=10).fit(series(0, self.data))

    def call(self, obj, k):
        return obj.predict()

    def forecast(self, obj):
        return obj.predict()


class BareUpdate(BarePredict):
    calls = 50

    def call(self, obj, k):
        return obj.update(self.new[k : k + 1])


class PredictorPredict(Case):
    model = "dlinear"
    calls = 200

    def fit(self):
        self.rows = [frame(series(1, self.data, self.calls)[N + k : N + k + 1], N + k) for k in range(self.calls)]
        return self.package.WorkloadPredictor(model=self.model, horizon=10, random_state=0).fit(
            frame(series(0, self.data)))

    def call(self, obj, k):
        return obj.predict()

    def forecast(self, obj):
        return obj.predict().yhat


class PredictorUpdate(PredictorPredict):
    calls = 50

    def call(self, obj, k):
        return obj.update(self.rows[k])


class EnsemblePredict(PredictorPredict):
    model = "ensemble"
    calls = 50


class EnsembleUpdate(PredictorUpdate):
    model = "ensemble"
    calls = 20


class FleetUpdatePredict(Case):
    calls = 3
    mode = "refit"

    def fit(self):
        values = fleet_values(self.data, self.calls + 1)
        self.rows = [fleet_rows(values, k) for k in range(self.calls + 1)]
        fleet = self.package.FleetPredictor(model="dlinear", horizon=10, update_mode=self.mode).fit(
            fleet_frame(values))
        if self.mode == "incremental":  # its first update makes each key's own predictor (a fit a key)
            fleet.update(self.rows[-1].assign(timestamp=START + STEP * N))
            self.rows = [rows.assign(timestamp=rows["timestamp"] + STEP) for rows in self.rows]
        return fleet

    def call(self, obj, k):
        obj.update(self.rows[k])
        return obj.predict()

    def forecast(self, obj):
        return obj.predict()["yhat"].to_numpy()


class FleetIncremental(FleetUpdatePredict):
    mode = "incremental"
    calls = 5


CASES = {
    "bare": [("bare.predict", BarePredict), ("bare.update(1)", BareUpdate)],
    "predictor": [("predictor.predict", PredictorPredict), ("predictor.update(1)", PredictorUpdate)],
    "ensemble": [("ensemble.predict", EnsemblePredict), ("ensemble.update(1)", EnsembleUpdate)],
    "fleet": [("fleet[refit] update+predict", FleetUpdatePredict),
              ("fleet[incremental] update+predict", FleetIncremental)],
}


def time_round(case: Case) -> tuple[float, np.ndarray]:
    obj = copy.deepcopy(case.fitted)
    seconds = []
    for k in range(case.calls):
        started = time.thread_time()
        case.call(obj, k)
        seconds.append(time.thread_time() - started)
    return statistics.median(seconds), case.forecast(obj)


#: Fields that measure the process (memory, time), not the model: not compared.
MEASURED = re.compile(r"rss|seconds|elapsed|_time_")


def assert_same(old, new, where: str = "state") -> int:
    """Assert that ``old`` and ``new`` (the two packages' objects after the same calls) hold the same state: every
    array equal bit for bit (``assert_array_equal``, NaN where NaN), every number, string and flag equal, read
    through attributes, dicts, lists, tuples and dataclasses (a model's statistics, its ridge systems, a predictor's
    model, a fleet's predictors). Returns the arrays compared."""
    if isinstance(old, (pd.DataFrame, pd.Series, pd.Index)):
        if isinstance(old, pd.Index):
            pd.testing.assert_index_equal(old, new, exact=True)
        elif isinstance(old, pd.DataFrame):
            pd.testing.assert_frame_equal(old, new, check_exact=True)
        else:
            pd.testing.assert_series_equal(old, new, check_exact=True)
        return 1
    if isinstance(old, np.ndarray):
        np.testing.assert_array_equal(old, new, err_msg=where, strict=True)
        return 1
    if isinstance(old, dict):
        assert list(old) == list(new), where
        return sum(assert_same(old[key], new[key], f"{where}[{key!r}]") for key in old)
    if isinstance(old, (list, tuple)):
        assert len(old) == len(new), where
        return sum(assert_same(a, b, f"{where}[{i}]") for i, (a, b) in enumerate(zip(old, new)))
    if isinstance(old, (float, np.floating)):
        assert (old == new) or (old != old and new != new), f"{where}: {old} vs {new}"
        return 0
    if old is None or isinstance(old, (bool, int, str, np.integer, np.bool_, pd.Timestamp, pd.Timedelta)):
        assert old == new, f"{where}: {old} vs {new}"
        return 0
    if hasattr(old, "__dict__") or hasattr(old, "__slots__"):
        fields = vars(old) if hasattr(old, "__dict__") else {name: getattr(old, name) for name in old.__slots__}
        other = vars(new) if hasattr(new, "__dict__") else {name: getattr(new, name) for name in new.__slots__}
        names = [name for name in fields if not name.startswith("_lock") and not callable(fields[name])]
        assert sorted(names) == sorted(name for name in other if not name.startswith("_lock")
                                       and not callable(other[name])), where
        names = [name for name in names if not MEASURED.search(name)]
        return sum(assert_same(fields[name], other[name], f"{where}.{name}") for name in names)
    return 0  # a lock, a logger, a module: no state to compare


def states(old, new, chosen: list, data: list[str]) -> None:
    """``--states``: each case's object after its calls, fitted and updated by each package, compared field by
    field (:func:`assert_same`), and its forecast."""
    for name, cls in chosen:
        for kind in data:
            cases = {"old": cls(old, kind), "new": cls(new, kind)}
            objects = {}
            for which, case in cases.items():
                objects[which] = copy.deepcopy(case.fitted)
                for k in range(case.calls):
                    case.call(objects[which], k)
            arrays = assert_same(objects["old"], objects["new"])
            np.testing.assert_array_equal(cases["old"].forecast(objects["old"]), cases["new"].forecast(objects["new"]))
            print(f"{name:36s} {LABELS[kind]:13s} state and forecast bit for bit the same ({arrays} arrays)",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cases", default="bare,predictor,ensemble,fleet")
    parser.add_argument("--seed", type=int, default=0, help="of the series (0: its burst's buckets climb into it)")
    parser.add_argument("--data", default=",".join(DATA), help="of " + ", ".join(DATA))
    parser.add_argument("--sort", default="tottime", help="cProfile's order (--profile)")
    parser.add_argument("--lines", type=int, default=14, help="cProfile's functions shown (--profile)")
    parser.add_argument("--states", action="store_true", help="compare the states after the calls, not times")
    parser.add_argument("--profile", default=None, help="a case name (e.g. bare.predict): cProfile this tree's")
    args = parser.parse_args()
    global SEED
    SEED = args.seed
    import logging
    import warnings

    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    new = importlib.import_module("workload_predictor")
    chosen = [(name, cls) for group in args.cases.split(",") for name, cls in CASES[group]]
    if args.profile:
        for data in args.data.split(","):
            cls = dict(chosen)[args.profile]
            case = cls(new, data)
            obj = copy.deepcopy(case.fitted)
            profile = cProfile.Profile()
            profile.enable()
            for k in range(case.calls):
                case.call(obj, k)
            profile.disable()
            print(f"== {args.profile}, {LABELS[data]}, {case.calls} calls")
            pstats.Stats(profile).sort_stats(args.sort).print_stats(args.lines)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = load_revision(args.revision, Path(tmp))
        if args.states:
            states(old, new, chosen, args.data.split(","))
            return
        for name, cls in chosen:
            for data in args.data.split(","):
                cases = {"old": cls(old, data), "new": cls(new, data)}
                medians = {"old": [], "new": []}
                same = True
                for round_ in range(args.rounds):
                    order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
                    forecasts = {}
                    for which in order:
                        seconds, forecasts[which] = time_round(cases[which])
                        medians[which].append(seconds)
                    same = same and np.array_equal(forecasts["old"], forecasts["new"])
                ratio = statistics.median(n / o for n, o in zip(medians["new"], medians["old"]))
                unit, scale = ("ms", 1e3) if name.startswith("fleet") else ("us", 1e6)
                print(f"{name:36s} {LABELS[data]:13s} {args.revision} "
                      f"{statistics.median(medians['old']) * scale:9.1f} {unit}, tree "
                      f"{statistics.median(medians['new']) * scale:9.1f} {unit}, new/old {ratio:.3f}, "
                      f"bit for bit: {same}", flush=True)


if __name__ == "__main__":
    main()
