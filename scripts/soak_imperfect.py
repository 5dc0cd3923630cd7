"""Soak: a stream of imperfect rows through every model kind, each fault against a clean twin.

Each model kind is fitted once on ``perf.datasets.generate`` buckets (10 s, daily-like and hourly-like seasons,
Poisson noise, flash crowds). Every fault then runs on a deep copy of it: a few clean one-row updates, the
fault's updates, then one-row updates for one context length (``window + horizon`` buckets) and ``--tail`` more,
with ``health()`` and ``check_alerts()`` after every update. A typed error (a ``ValueError`` subclass) is what a
caller may get: the soak drops those rows, as a caller would, and goes on. The outcome per fault:

* ``ok``: every update accepted; ``typed``: some refused with a typed error (the message is printed with ``-v``),
  followed by the drift: the largest gap between the forecast (point and interval's upper bound, every step) and
  the clean twin's (the same stream without the fault), as a share of the clean twin's level, over the buckets from
  one context length after the fault's end on. A refused row is a lost bucket (zero-filled by the next update).
* ``DEFECT(...)``: an exception that is no ``ValueError``, or (fleets) key ``b``'s forecast moved by key ``a``'s fault.

Fleets: the fault hits key ``a`` only; key ``b`` gets its clean rows one update at a time (with key ``a``'s outside
the fault) and must forecast exactly as in the clean twin (isolation; not checked for the global LSTM, whose shared
base absorbs every key's windows). All kinds take about 30 minutes on two busy cores.

``--tokens`` fits every model on three targets, ``requests``, ``input_tokens`` and ``output_tokens`` (tokens follow
the requests, with Poisson noise), and adds the faults of one token column among good ones (a NaN, a string, a
missing column ...) and the dtypes a pipeline makes (uint64, Int64, Decimal, float32, epochs in ms). The drift is
then the worst target's, each target's gap as a share of its own level. Run::

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD python3 scripts/soak_imperfect.py [--kinds dlinear,ensemble,...] [--tokens] [-v]
"""

from __future__ import annotations

import argparse
import copy
import decimal
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from perf.datasets import generate  # noqa: E402
from workload_predictor import FleetPredictor, WorkloadPredictor  # noqa: E402

N_FIT, N_STREAM, AT, WINDOW, HORIZON = 1000, 420, 3, 48, 10
FREQ = pd.Timedelta(seconds=10)
# The stream starts 90 s before the end of summer time in Berlin (2024-10-27 01:00 UTC), so a fault at AT sends
# local stamps across the change.
STREAM_START = pd.Timestamp("2024-10-27 00:58:30", tz="UTC")
DAY = 8640
EPOCH = pd.Timestamp(0, tz="UTC")
TOKENS = ("input_tokens", "output_tokens")
KINDS = {
    "dlinear": lambda: WorkloadPredictor("dlinear", horizon=HORIZON, window=WINDOW),
    "ensemble": lambda: WorkloadPredictor("ensemble", horizon=HORIZON, window=WINDOW,
                                          model_params={"member_params": {"lstm": {"max_epochs": 2}}},
                                          random_state=0),
    "lstm": lambda: WorkloadPredictor("lstm", horizon=HORIZON, window=WINDOW, model_params={"max_epochs": 3},
                                      random_state=0),
    "fleet-dlinear": lambda: FleetPredictor("dlinear", horizon=HORIZON, window=WINDOW),
    "fleet-dlinear-incr": lambda: FleetPredictor("dlinear", horizon=HORIZON, window=WINDOW,
                                                 update_mode="incremental"),
    "fleet-ensemble": lambda: FleetPredictor("ensemble", horizon=HORIZON, window=WINDOW,
                                             model_params={"member_params": {"lstm": {"max_epochs": 2}}},
                                             random_state=0),
    "fleet-global-lstm": lambda: FleetPredictor("global_lstm", horizon=HORIZON, window=WINDOW,
                                                model_params={"max_epochs": 3}, random_state=0),
}


def token_columns(requests: np.ndarray, seed: int) -> dict:
    """Input and output tokens that follow ``requests`` (about 300 and 120 a request), with Poisson noise."""
    rng = np.random.default_rng(seed)
    return {"input_tokens": 300.0 * requests + rng.poisson(50, len(requests)),
            "output_tokens": 120.0 * requests + rng.poisson(20, len(requests))}


class Stream:
    """The clean buckets after the fit: ``stamp(k)`` and ``value(k)``, and rows built from them; with ``tokens``
    (``--tokens``), each row holds those token columns too."""

    def __init__(self, values: np.ndarray, tokens: dict | None = None):
        self.values, self.tokens = values, tokens or {}

    def stamp(self, k: int) -> pd.Timestamp:
        return STREAM_START + k * FREQ

    def rows(self, ks, values=None, stamps=None, column="requests") -> pd.DataFrame:
        """The clean rows of buckets ``ks``, with ``values`` in ``column`` and ``stamps`` instead where given."""
        ks = list(ks)
        frame = pd.DataFrame({"timestamp": [self.stamp(k) for k in ks] if stamps is None else list(stamps),
                              "requests": [self.values[k] for k in ks]})
        for name, array in self.tokens.items():
            frame[name] = [array[k] for k in ks]
        if values is not None:
            frame[column] = pd.Series(list(values), dtype=object).infer_objects()  # 10**400 stays an object
        return frame


def faults(s: Stream) -> dict:
    """Each fault: (the frames sent instead of the clean rows of buckets AT..AT+span-1, span, shift), where
    ``shift`` is how far (in buckets) the stamps of every later clean row move (a day of outage written in)."""
    k = AT
    one = lambda value: [s.rows([k], values=[value])]  # noqa: E731
    later = s.stamp(k) + 30 * FREQ
    local = [s.stamp(j).tz_convert("Europe/Berlin") for j in range(k, k + 12)]
    return {
        "nan": (one(np.nan), 1, 0),
        "inf": (one(np.inf), 1, 0),
        "negative": (one(-5.0), 1, 0),
        "1e12": (one(1e12), 1, 0),
        "2**32-1 x3": ([s.rows([j], values=[2.0**32 - 1]) for j in range(k, k + 3)], 3, 0),
        "1e12 x15 (> horizon)": ([s.rows([j], values=[1e12]) for j in range(k, k + 15)], 15, 0),
        "burst x50 3 buckets": ([s.rows([j], values=[50 * s.values[j]]) for j in range(k, k + 3)], 3, 0),
        "duplicated row": ([pd.concat([s.rows([k]), s.rows([k])], ignore_index=True)], 1, 0),
        "replayed row": ([s.rows([k - 1]), s.rows([k])], 1, 0),
        "out-of-order rows": ([s.rows([k + 1, k])], 2, 0),
        "row from far past": ([s.rows([k], stamps=[pd.Timestamp("2001-01-01", tz="UTC")]), s.rows([k])], 1, 0),
        "clock jump fwd 1 day": ([s.rows([k], stamps=[s.stamp(k) + DAY * FREQ]), s.rows([k])], 1, 0),
        # One stray stamp within max_gap: accepted with 29 zero buckets; the correct rows behind it are refused.
        "clock jump fwd 30": ([s.rows([k], stamps=[later])] + [s.rows([j]) for j in range(k + 1, k + 31)], 31, 0),
        "clock jump back 5": ([s.rows([j], stamps=[s.stamp(j - 5)]) for j in range(k, k + 5)], 5, 0),
        "day of zeros": ([pd.DataFrame({"timestamp": [s.stamp(k) + j * FREQ for j in range(DAY)],
                                        "requests": np.zeros(DAY)})], 0, DAY),
        "float strings": ([s.rows([j], values=[f"{s.values[j]:.1f}"]) for j in range(k, k + 20)], 20, 0),
        "naive+aware mixed": ([s.rows([k, k + 1], stamps=[s.stamp(k).tz_localize(None), s.stamp(k + 1)])], 2, 0),
        "naive then aware": ([s.rows([k], stamps=[s.stamp(k).tz_localize(None)]), s.rows([k + 1])], 2, 0),
        "DST local stamps": ([s.rows(range(k, k + 12), stamps=local)], 12, 0),
        "DST local ISO strings": ([s.rows(range(k, k + 12), stamps=[t.isoformat() for t in local])], 12, 0),
        "DST local strings 1/row": ([s.rows([j], stamps=[t.isoformat()]) for j, t in zip(range(k, k + 12), local)],
                                    12, 0),
        "1e18 (MAX_VALUE)": (one(1e18), 1, 0),
        "1e12 then save/load": (one(1e12) + ["save"], 1, 0),
        "2**32-1 x3 then save/load": ([s.rows([j], values=[2.0**32 - 1]) for j in range(k, k + 3)] + ["save"], 3, 0),
        "nullable NA": ([s.rows([k]).astype({"requests": "Float64"}).assign(requests=pd.NA)], 1, 0),
        "NaT stamp": ([s.rows([k], stamps=[pd.NaT])], 1, 0),
        "numbers and strings": ([s.rows([k, k + 1], values=[s.values[k], "n/a"])], 2, 0),
        "save/load": (["save"], 0, 0),
        # A stuck sensor: the last good counts repeated, for one context length, then for a day (each one update).
        "stuck 1 context": ([stuck(s, WINDOW + HORIZON)], WINDOW + HORIZON, 0),
        "stuck 1 day": ([stuck(s, DAY)], 0, DAY),
        **exporter_faults(s),
        **(token_faults(s) if s.tokens else {}),
    }


JITTER = [pd.Timedelta(seconds=x) for x in (3.7, 2.1, 8.4, 0.6, 5.5)]  # where in its bucket each row is stamped
SPAN = 30  # buckets of each exporter fault below


def exporter_faults(s: Stream) -> dict:
    """What an exporter or a pipeline in front of it does wrong for a while: cumulative counters, stamps off the
    grid, another bucket width, other units, a renamed column, frames with nothing in them, a huge frame."""
    k = AT
    cumulative = np.cumsum(s.values[k:k + SPAN])
    reset = np.concatenate([np.cumsum(s.values[k:k + SPAN // 2]), np.cumsum(s.values[k + SPAN // 2:k + SPAN])])
    hour = 360
    big = 10**6
    return {
        # A counter exported instead of per-bucket counts, one row an update; the same with a reset half-way.
        "cumulative counter": ([s.rows([j], values=[cumulative[j - k]]) for j in range(k, k + SPAN)], SPAN, 0),
        "counter reset": ([s.rows([j], values=[reset[j - k]]) for j in range(k, k + SPAN)], SPAN, 0),
        # Rows stamped inside their bucket (jitter of 0.6-8.4 s), one an update.
        "jittered stamps": ([s.rows([j], stamps=[s.stamp(j) + JITTER[j % len(JITTER)]])
                             for j in range(k, k + SPAN)], SPAN, 0),
        # The row of bucket k arrives after bucket k+1's (a late row for a closed bucket).
        "late row": ([s.rows([k + 1]), s.rows([k])], 2, 0),
        # An exporter switched to 20 s rows (each the sum of two buckets, on every other bucket) or to 5 s rows
        # (each half a bucket, two an update ... one update each).
        "20 s rows": ([s.rows([j], values=[s.values[j] + s.values[j + 1]]) for j in range(k, k + SPAN, 2)],
                      SPAN, 0),
        "5 s rows": ([s.rows([j], values=[s.values[j] / 2], stamps=[s.stamp(j) + h * FREQ / 2])
                      for j in range(k, k + SPAN) for h in (0, 1)], SPAN, 0),
        # Counts in thousands for an hour (a unit switched in the exporter), one row an update.
        "requests /1000 1 h": ([s.rows([j], values=[s.values[j] / 1000]) for j in range(k, k + hour)], hour, 0),
        # The target column renamed for a while: each update refused, its bucket lost.
        "target renamed": ([s.rows([j]).rename(columns={"requests": "request_count"}) for j in range(k, k + SPAN)],
                           SPAN, 0),
        "empty frame": ([pd.DataFrame()], 0, 0),
        "header only": ([s.rows([k]).iloc[:0]], 0, 0),
        "only NaN rows": ([s.rows(range(k, k + 5), values=[np.nan] * 5)], 5, 0),
        "only NaN/NaT rows": ([pd.DataFrame({"timestamp": [pd.NaT] * 5, "requests": [np.nan] * 5})], 0, 0),
        # The source silent for a day (no rows), then back.
        "silent 1 day": ([], 0, DAY),
        # A million rows in one update (a backfill): the stream's values repeated, the stream then goes on after it.
        "10**6 rows 1 update": ([pd.DataFrame({"timestamp": s.stamp(k) + FREQ * np.arange(big),
                                               "requests": np.resize(s.values, big),
                                               **{n: np.resize(a, big) for n, a in s.tokens.items()}})], 0, big),
    }


def stuck(s: Stream, n: int, requests_move: bool = False) -> pd.DataFrame:
    """``n`` rows from bucket ``AT`` on, each holding the counts of bucket ``AT - 1`` (the tokens' only, the requests
    their own, with ``requests_move``)."""
    return pd.DataFrame({"timestamp": [s.stamp(AT) + j * FREQ for j in range(n)],
                         "requests": s.values[AT:AT + n] if requests_move else np.full(n, s.values[AT - 1]),
                         **{name: np.full(n, array[AT - 1]) for name, array in s.tokens.items()}})


def fleet_faults(s: Stream) -> dict:
    """Fleets only: key ``a``'s rows under other keys (a key appearing mid-stream, a key renamed for a while)."""
    k = AT
    return {
        "new key mid-stream": ([pd.concat([s.rows([k]).assign(key="a"), s.rows([k]).assign(key="c")],
                                          ignore_index=True)], 1, 0),
        "key renamed": ([s.rows([j]).assign(key="a-renamed") for j in range(k, k + SPAN)], SPAN, 0),
    }


def token_faults(s: Stream) -> dict:
    """``--tokens``: one token column bad while the others are good, the columns an update may come with, and the
    dtypes a caller's pipeline makes of the same numbers."""
    k = AT
    one = lambda column, value: [s.rows([k], values=[value], column=column)]  # noqa: E731
    return {
        # One row each; the last row's stamp an epoch in ms.
        "pipeline dtypes": ([s.rows([k]).astype({"requests": "uint64"}), s.rows([k + 1]).astype({"requests": "Int64"}),
                             s.rows([k + 2]).assign(requests=pd.Series([decimal.Decimal(int(s.values[k + 2]))])),
                             s.rows([k + 3]).astype({"input_tokens": "float32"}),
                             s.rows([k + 4]).assign(timestamp=[(s.stamp(k + 4) - EPOCH) // pd.Timedelta("1ms")])], 5, 0),
        "input_tokens nan": (one("input_tokens", np.nan), 1, 0),
        "output_tokens inf": (one("output_tokens", np.inf), 1, 0),
        "input_tokens negative": (one("input_tokens", -5.0), 1, 0),
        "output_tokens 1e18": (one("output_tokens", 1e18), 1, 0),
        "output_tokens 2**32-1 x3": ([s.rows([j], values=[2.0**32 - 1], column="output_tokens")
                                     for j in range(k, k + 3)], 3, 0),
        "input_tokens string": (one("input_tokens", "n/a"), 1, 0),
        "input_tokens 10**400": (one("input_tokens", 10**400), 1, 0),
        "no output_tokens column": ([s.rows([k]).drop(columns="output_tokens")], 1, 0),
        # A token exporter stuck (its last good counts repeated) while the requests move, one context length.
        "tokens stuck 1 context": ([stuck(s, WINDOW + HORIZON, requests_move=True)], WINDOW + HORIZON, 0),
        # A token exporter switched to thousands for an hour; the input token column renamed for a while.
        "input_tokens /1000 1 h": ([s.rows([j], values=[s.tokens["input_tokens"][j] / 1000], column="input_tokens")
                                   for j in range(k, k + 360)], 360, 0),
        "input_tokens renamed": ([s.rows([j]).rename(columns={"input_tokens": "prompt_tokens"})
                                 for j in range(k, k + SPAN)], SPAN, 0),
        "extra column + reordered": ([s.rows([k]).assign(region="eu")[["output_tokens", "region", "requests",
                                                                       "timestamp", "input_tokens"]]], 1, 0),
    }


def targets_of(series: pd.DataFrame) -> list[str]:
    return ["requests", *(name for name in TOKENS if name in series)]


class Single:
    def __init__(self, make, series: pd.DataFrame):
        self.p = make().fit(series, timestamp="timestamp", target=targets_of(series))

    def update(self, frame: pd.DataFrame, clean_b: pd.DataFrame | None) -> Exception | None:
        try:
            self.p.update(frame)
        except ValueError as exc:
            return exc
        return None

    def forecast(self) -> np.ndarray:
        """Per key (one here) and target, the point forecast, then the interval's upper bound."""
        f = self.p.predict()
        return np.stack([np.concatenate([f.yhat[:, t], f.upper[:, t]]) for t in range(f.yhat.shape[1])])[None]

    def check(self) -> None:
        self.p.health(now=self.p.last_timestamp_)
        self.p.check_alerts(now=self.p.last_timestamp_)

    def roundtrip(self, path: Path) -> None:
        self.p.save(path)
        self.p = WorkloadPredictor.load(path)


class Fleet(Single):
    def __init__(self, make, series: pd.DataFrame, other: pd.DataFrame):
        frame = pd.concat([series.assign(key="a"), other.assign(key="b")], ignore_index=True)
        self.targets = targets_of(series)
        self.p = make().fit(frame, key="key", timestamp="timestamp",
                            target=self.targets if len(self.targets) > 1 else "requests")

    def update(self, frame, clean_b):
        # A fault's frame with its own key column (fleet_faults) is sent as it is.
        parts = [frame if "key" in frame else frame.assign(key="a")] + \
            ([] if clean_b is None else [clean_b.assign(key="b")])
        try:  # the whole update refused (no key's update fits memory_limit_mb): typed, as a single predictor's
            self.p.update(pd.concat(parts, ignore_index=True))  # a non-ValueError propagates: a defect
        except ValueError as exc:
            return exc
        return next(iter(self.p.update_errors_.values()), None)

    def forecast(self) -> np.ndarray:
        f = self.p.predict()
        one = "target" not in f
        return np.stack([np.stack([np.concatenate([f.loc[(f["key"] == k) & (one or f["target"] == t), c].to_numpy()
                                                   for c in ("yhat", "upper")]) for t in self.targets])
                         for k in ("a", "b")])

    def check(self) -> None:
        self.p.health(now=STREAM_START)
        self.p.check_alerts(now=STREAM_START)

    def roundtrip(self, path: Path) -> None:
        self.p.save(path)
        self.p = FleetPredictor.load(path)


def run(base, s: Stream, plan, tail: int, clean_b: Stream | None, longest: int = 31):
    """Feed ``plan`` (a fault, or None for the clean twin) through a copy of ``base``: the forecasts after each
    clean bucket, by bucket, and the typed errors met. A run goes on for ``longest`` buckets of fault (31, or the
    fault's span where longer; the clean twin's, the longest span of the faults run), then one context length and
    ``tail`` more: every fault of up to 31 buckets is compared over the same buckets."""
    model = copy.deepcopy(base)
    frames, span, shift = plan if plan is not None else ([], 0, 0)
    errors, forecasts = [], {}
    b_rows = (lambda ks: clean_b.rows(ks)) if clean_b is not None else (lambda ks: None)
    end = AT + max(longest, span) + WINDOW + HORIZON + tail
    k = 0
    while k < end:
        if k == AT and plan is not None:
            if clean_b is not None:  # key b's clean rows of the fault's span, one update each, as in the twin
                for j in range(AT, AT + span):
                    model.p.update(b_rows([j]).assign(key="b"))
            for frame in frames:
                if isinstance(frame, str):  # "save": a save/load round trip
                    with tempfile.TemporaryDirectory() as tmp:
                        model.roundtrip(Path(tmp) / "model.wpm")
                    continue
                error = model.update(frame, None)
                if error is not None:
                    errors.append(error)
                model.check()
            if shift:
                s = Stream(s.values, s.tokens)
                s.stamp = (lambda k0: (lambda j: STREAM_START + (j + k0) * FREQ))(shift)
            k, plan = AT + span, None
            continue
        error = model.update(s.rows([k]), b_rows([k]))
        if error is not None:
            errors.append(error)
        model.check()
        forecasts[k] = model.forecast()
        k += 1
    return forecasts, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--faults", default=None, help="comma-separated fault names (default: all)")
    parser.add_argument("--tail", type=int, default=20, help="buckets compared after one context length")
    parser.add_argument("--tokens", action="store_true",
                        help="fit on requests, input_tokens and output_tokens; add the token columns' faults")
    parser.add_argument("--save-mid", action="store_true",
                        help="save and load the model in the middle of each fault (a restart mid-fault)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    unknown = [kind for kind in args.kinds.split(",") if kind not in KINDS]
    if unknown:
        parser.error(f"unknown kind(s) {', '.join(map(repr, unknown))}; choose from {', '.join(KINDS)}")
    warnings.simplefilter("ignore")
    import logging
    logging.disable(logging.CRITICAL)
    data = generate(N_FIT + N_STREAM + 40)
    other = generate(N_FIT + N_STREAM + 40, seed=7)
    tokens = [token_columns(frame["requests"].to_numpy(float), seed) if args.tokens else {}
              for frame, seed in ((data, 0), (other, 7))]
    stamps = STREAM_START + FREQ * np.arange(-N_FIT, 0)
    fit_part = data.iloc[:N_FIT].assign(timestamp=stamps, **{n: a[:N_FIT] for n, a in tokens[0].items()})
    other_part = other.iloc[:N_FIT].assign(timestamp=stamps, **{n: a[:N_FIT] for n, a in tokens[1].items()})
    s = Stream(data["requests"].to_numpy(float)[N_FIT:], {n: a[N_FIT:] for n, a in tokens[0].items()})
    b = Stream(other["requests"].to_numpy(float)[N_FIT:], {n: a[N_FIT:] for n, a in tokens[1].items()})
    table = {}
    for kind in args.kinds.split(","):
        fleet = kind.startswith("fleet")
        started = time.perf_counter()
        base = Fleet(KINDS[kind], fit_part, other_part) if fleet else Single(KINDS[kind], fit_part)
        known = {**faults(s), **(fleet_faults(s) if fleet else {})}
        if args.save_mid:  # the process restarted from a file saved in the middle of each fault
            known = {name: (frames[:len(frames) // 2] + ["save"] + frames[len(frames) // 2:], span, shift)
                     for name, (frames, span, shift) in known.items()}
        fleet_only = set(fleet_faults(s))  # named with a single kind among the --kinds: skipped there
        unknown = [name for name in (args.faults.split(",") if args.faults else [])
                   if name not in known and name not in fleet_only]
        if unknown:
            parser.error(f"unknown fault(s) {', '.join(map(repr, unknown))}; choose from {', '.join(known)}")
        chosen = {name: plan for name, plan in known.items() if not args.faults or name in args.faults.split(",")}
        clean, _ = run(base, s, None, args.tail, b if fleet else None,
                       longest=max([31, *(plan[1] for plan in chosen.values())]))
        for name, plan in chosen.items():
            try:
                got, errors = run(base, s, plan, args.tail, b if fleet else None)
            except Exception as exc:  # noqa: BLE001 - any untyped exception is the finding
                table[name, kind] = f"DEFECT({type(exc).__name__})"
                print(f"{kind:18} {name:24} {type(exc).__name__}: {str(exc)[:300]}")
                continue
            # Each target's gap as a share of its level (the mean of its clean forecasts): the worst target's.
            after = AT + plan[1] + WINDOW + HORIZON
            level = np.maximum(np.mean([clean[j].mean(axis=(0, 2)) for j in clean if j >= after], axis=0), 1e-9)
            worst = max((np.abs(got[j] - clean[j]).max(axis=(0, 2)) / level).max() for j in got if j >= after)
            outcome = f"{'typed' if errors else 'ok'} {worst:.0%}"
            if fleet:  # key b's forecast must not see key a's fault (the global LSTM shares its base: not checked)
                off = max((np.abs(got[j][1] - clean[j][1]).max(axis=1) / level).max() for j in got)
                if off > 0 and kind != "fleet-global-lstm":  # bit for bit
                    outcome = f"DEFECT(key b off by {off:.1%})"
            table[name, kind] = outcome
            if args.verbose:
                print(f"{kind:18} {name:26} {outcome:10} "
                      + "; ".join(f"{type(e).__name__}: {str(e)[:160]}" for e in errors[:2]))
        print(f"# {kind}: {time.perf_counter() - started:.0f} s", flush=True)
    frame = pd.Series(table).unstack()
    print(frame.to_string())


if __name__ == "__main__":
    main()
