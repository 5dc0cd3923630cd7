"""Weeks of imperfect update frames into a fleet, as a state machine (hypothesis' ``RuleBasedStateMachine``).

A fleet (DLinear ``update_mode="refit"`` and ``"incremental"``, a small global LSTM) gets a stream of update frames:
clean rows, corrupt counts (sentinels such as 2**32-1), NaN, inf, negative loads, text and boolean columns, rows at
or before a key's newest bucket, duplicated and shuffled rows, stamps in other zones or naive, gaps up to and past
``max_gap``, unknown keys, a missing target or key column, empty frames, keys present in one update and absent in
the next. A second fleet, fitted identically, gets the same frames with every corrupt count replaced by the clean
value. After every step:

* the update was accepted, or it raised a :class:`WorkloadDataError` (a typed ``ValueError``) and the fleet is
  exactly as before (its saved bytes equal); a key refused inside an accepted update (``update_errors_``) keeps its
  forecast; each step ends within a bound (no hang);
* the caller's frame is not modified;
* both fleets refuse the same keys (a corrupt count is no reason to refuse a key);
* forecasts are finite, ``0 <= lower <= yhat <= upper``; ``health()`` rates every key; a fleet saved and loaded
  forecasts identically;
* poisoning: ``docs/bad-samples.md`` says a flagged corrupt count moves the point forecast for the buckets it
  lasted only, in an update stream for bursts of up to ``horizon`` buckets. Once a key has had ``RECOVERY``
  (= horizon) clean buckets after its last corrupt one, its point forecast is within ``RECOVERY_SHARE`` (half) of the
  clean fleet's mean forecast. That fleet saw the real count where the corrupt one was, which a flagged bucket reads
  as the median of its window (a global LSTM: between the buckets around it, from that median towards them,
  ``docs/bad-samples.md``): on these series (a cycle of +-40 % of the level) the two differ by up to that much
  in the buckets read, so the forecasts are close, not equal (measured with both reading the median: DLinear at most
  7 %, the global LSTM 29 %: its base weighs those lags more, and the model itself moves by at most 1.4 %: the gap
  is the burst's reading, ``tests/test_global_lstm_burst.py``). A corrupt count left in would move them by orders of
  magnitude.
"""

from __future__ import annotations

import copy
import functools
import os
import tempfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from test_fuzz import no_hang
from workload_predictor import FleetPredictor, WorkloadDataError

HORIZON = 3
MAX_GAP = 8  # buckets: small, so that gaps up to and past it are cheap
KEYS = ("k0", "k1", "k2")
FITTED = 160  # buckets per key at fit
STREAM = 400  # clean buckets per key known in advance (fit + updates)
START = pd.Timestamp("2024-03-01", tz="UTC")
FREQ = pd.Timedelta("1min")
SENTINELS = (2.0**32 - 1, 1e18, 1e12)
RECOVERY = HORIZON  # clean buckets after the last corrupt one, after which the point forecasts agree
RECOVERY_SHARE = 0.5  # of the clean fleet's mean forecast (plus one request): see the module's notes
STEP_SECONDS = 30  # a hang, not a slow machine: a step takes well under a second


def clean_values() -> dict[str, np.ndarray]:
    """Each key's clean counts (Poisson around a daily-like cycle, a level per key), fit and updates alike."""
    rng = np.random.default_rng(7)
    t = np.arange(STREAM)
    return {key: rng.poisson(level * (1 + 0.4 * np.sin(2 * np.pi * t / period))).astype(np.float64)
            for key, level, period in zip(KEYS, (40.0, 120.0, 8.0), (30, 45, 20))}


CLEAN = clean_values()


def stamp(position: int) -> pd.Timestamp:
    return START + position * FREQ


@functools.lru_cache(maxsize=None)
def fitted_fleet(mode: str) -> FleetPredictor:
    frame = pd.concat([pd.DataFrame({"endpoint": key, "timestamp": stamp(np.arange(FITTED)),
                                     "requests": CLEAN[key][:FITTED]}) for key in KEYS], ignore_index=True)
    if mode == "global":
        pytest.importorskip("torch")
        fleet = FleetPredictor(model="global_lstm", horizon=HORIZON, random_state=0, max_gap=MAX_GAP,
                               model_params={"max_epochs": 1, "hidden_size": 4, "window": 24})
    else:
        fleet = FleetPredictor(model="dlinear", horizon=HORIZON, update_mode=mode, max_gap=MAX_GAP)
    return fleet.fit(frame, key="endpoint")


def check_forecast(forecast: pd.DataFrame) -> None:
    values = forecast[["lower", "yhat", "upper"]].to_numpy(np.float64)
    assert np.isfinite(values).all(), forecast
    assert (values[:, 0] >= 0).all() and (values[:, 0] <= values[:, 1]).all() and (values[:, 1] <= values[:, 2]).all()
    assert sorted(forecast["endpoint"].unique()) == list(KEYS)


def rows(key: str, positions, values=None, timestamps=None) -> pd.DataFrame:
    positions = np.asarray(positions)
    return pd.DataFrame({"endpoint": key, "timestamp": stamp(positions) if timestamps is None else timestamps,
                         "requests": CLEAN[key][positions] if values is None else values})


class FleetUpdates(RuleBasedStateMachine):
    """One fleet fed imperfect frames and one fed the same frames with clean counts (see the module's notes)."""

    mode = "refit"

    @initialize()
    def start(self):
        fitted = fitted_fleet(self.mode)
        self.fleet, self.clean = copy.deepcopy(fitted), copy.deepcopy(fitted)
        self.next = dict.fromkeys(KEYS, FITTED)  # each key's next bucket (position on its grid)
        self.since = dict.fromkeys(KEYS, None)  # clean buckets since a key's last corrupt one (None: never corrupt)
        self.burst = dict.fromkeys(KEYS, 0)  # the length of each key's last run of corrupt buckets
        self.folder = tempfile.TemporaryDirectory()

    def teardown(self):
        if hasattr(self, "folder"):
            self.folder.cleanup()

    def saved(self, fleet: FleetPredictor) -> bytes:
        path = os.path.join(self.folder.name, "fleet.wpm")
        fleet.save(path)
        with open(path, "rb") as file:
            return file.read()

    # -- feeding both fleets ----------------------------------------------------------------------------
    def feed(self, frame: pd.DataFrame, clean: pd.DataFrame | None = None) -> set:
        """``frame`` to the fleet, ``clean`` (or ``frame``) to the clean fleet; the keys whose rows were taken."""
        clean = frame if clean is None else clean
        shown, shown_clean = frame.copy(deep=True), clean.copy(deep=True)
        before = self.saved(self.fleet)
        forecast_before = self.fleet.predict()
        outcomes = []
        for fleet, given in ((self.fleet, frame), (self.clean, clean)):
            try:
                with no_hang(STEP_SECONDS):
                    fleet.update(given)
                outcomes.append(None)
            except WorkloadDataError as exc:  # typed; any other error fails the test
                outcomes.append(exc)
        pd.testing.assert_frame_equal(frame, shown)  # the caller's frames are not modified
        pd.testing.assert_frame_equal(clean, shown_clean)
        refused, refused_clean = outcomes
        assert (refused is None) == (refused_clean is None), outcomes
        if refused is not None:  # nothing changed
            assert self.saved(self.fleet) == before
            return set()
        assert set(self.fleet.update_errors_) == set(self.clean.update_errors_), (
            self.fleet.update_errors_, self.clean.update_errors_)
        taken = set(frame["endpoint"]) - set(self.fleet.update_errors_) if "endpoint" in frame else set()
        forecast = self.fleet.predict()
        for key in KEYS:
            now, then = forecast[forecast["endpoint"] == key], forecast_before[forecast_before["endpoint"] == key]
            if key in taken:  # its series moved on
                assert now["timestamp"].iloc[0] > then["timestamp"].iloc[0]
            elif self.mode == "global":  # its series stays, its forecast follows the shared base (fleet.update's doc)
                assert now["timestamp"].iloc[0] == then["timestamp"].iloc[0]
            else:  # a key refused or without rows keeps its forecast
                pd.testing.assert_frame_equal(now, then)
        return taken & set(KEYS)

    def advance(self, key: str, buckets: int, corrupt: bool) -> None:
        self.next[key] += buckets
        if corrupt:
            self.burst[key] = buckets + (self.burst[key] if self.since[key] == 0 else 0)
            self.since[key] = 0
        elif self.since[key] is not None:
            self.since[key] += buckets

    def room(self, key: str, buckets: int) -> bool:
        return self.next[key] + buckets <= STREAM

    # -- rules ----------------------------------------------------------------------------------------
    @rule(keys=st.sets(st.sampled_from(KEYS), min_size=1), buckets=st.integers(1, 3), shuffle=st.booleans(),
          zone=st.sampled_from(["UTC", "US/Eastern", "Asia/Kolkata", "naive"]))
    def clean_rows(self, keys, buckets, shuffle, zone):
        """The next buckets of some keys (the others absent), stamps in any zone or naive (UTC), rows in any order."""
        keys = [key for key in sorted(keys) if self.room(key, buckets)]
        if not keys:
            return
        frame = pd.concat([rows(key, range(self.next[key], self.next[key] + buckets)) for key in keys],
                          ignore_index=True)
        frame["timestamp"] = (frame["timestamp"].dt.tz_localize(None) if zone == "naive"
                              else frame["timestamp"].dt.tz_convert(zone))
        if shuffle:
            frame = frame.iloc[::-1].reset_index(drop=True)
        taken = self.feed(frame)
        assert taken == set(keys), (taken, self.fleet.update_errors_)
        for key in keys:
            self.advance(key, buckets, corrupt=False)

    @rule(buckets=st.integers(RECOVERY, 2 * RECOVERY))
    def clean_stretch(self, buckets):
        """Clean data resumes: the next buckets of every key, in one frame."""
        self.clean_rows(keys=set(KEYS), buckets=buckets, shuffle=False, zone="UTC")

    @rule(key=st.sampled_from(KEYS), value=st.sampled_from(SENTINELS), buckets=st.integers(1, HORIZON),
          other=st.booleans(), then=st.integers(0, 2 * RECOVERY))
    def corrupt_counts(self, key, value, buckets, other, then):
        """A burst of up to ``horizon`` corrupt counts (with the key's corrupt buckets just before it), then ``then``
        clean buckets of that key, one update each; the clean fleet gets the real counts."""
        self.burst_of(key, value, buckets, other)
        for _ in range(then):
            self.clean_rows(keys={key}, buckets=1, shuffle=False, zone="UTC")
            self.recovered_from_corrupt_counts()

    def burst_of(self, key, value, buckets, other):
        if self.since[key] == 0:  # the key's newest bucket is corrupt: this update makes its burst longer
            buckets = min(buckets, HORIZON - self.burst[key])
        if not buckets or not self.room(key, buckets):
            return
        positions = range(self.next[key], self.next[key] + buckets)
        frame, clean = rows(key, positions, values=np.full(buckets, value)), rows(key, positions)
        if other:  # another key's clean row beside it
            neighbour = KEYS[(KEYS.index(key) + 1) % len(KEYS)]
            if self.room(neighbour, 1):
                extra = rows(neighbour, [self.next[neighbour]])
                frame, clean = pd.concat([frame, extra], ignore_index=True), pd.concat([clean, extra], ignore_index=True)
        taken = self.feed(frame, clean)
        assert key in taken
        for name in taken:
            self.advance(name, buckets if name == key else 1, corrupt=name == key)

    @rule(key=st.sampled_from(KEYS), bad=st.sampled_from(["nan", "inf", "negative"]), with_good=st.booleans())
    def bad_value(self, key, bad, with_good):
        """A NaN, inf or negative count: that key is refused (kept as it was), the others go on."""
        value = {"nan": np.nan, "inf": np.inf, "negative": -5.0}[bad]
        frame = rows(key, [self.next[key]], values=[value])
        good = [name for name in KEYS if name != key and self.room(name, 1)] if with_good else []
        frame = pd.concat([frame, *(rows(name, [self.next[name]]) for name in good)], ignore_index=True)
        taken = self.feed(frame)
        assert key not in taken and key in self.fleet.update_errors_
        assert taken == set(good)
        for name in good:
            self.advance(name, 1, corrupt=False)

    @rule(key=st.sampled_from(KEYS), back=st.integers(0, 5), duplicate=st.booleans())
    def old_rows(self, key, back, duplicate):
        """A row at or before the key's newest bucket (with or without its next bucket): refused, the key kept."""
        positions = [self.next[key] - 1 - back] + ([self.next[key]] if duplicate and self.room(key, 1) else [])
        taken = self.feed(rows(key, positions))
        assert key not in taken

    @rule(key=st.sampled_from(KEYS))
    def duplicated_row(self, key):
        """The next bucket twice: accepted as one bucket or refused, the same in both fleets."""
        if not self.room(key, 1):
            return
        taken = self.feed(rows(key, [self.next[key], self.next[key]]))
        if key in taken:
            self.advance(key, 1, corrupt=False)

    @rule(key=st.sampled_from(KEYS), gap=st.sampled_from([1, MAX_GAP - 1, MAX_GAP, MAX_GAP + 1, 10 * MAX_GAP, 10**7]))
    def gap(self, key, gap):
        """A row ``gap`` buckets past the next one (zero-filled up to ``max_gap``, an UpdateGapError past it)."""
        position = self.next[key] + gap
        at = stamp(position)
        value = CLEAN[key][position] if position < STREAM else 1.0
        taken = self.feed(rows(key, [0], values=[value], timestamps=[at]))
        if gap <= MAX_GAP and position < STREAM:
            assert key in taken
            # The zero-filled buckets are loads of 0 to both fleets; the key's stream goes on after them.
            self.advance(key, gap + 1, corrupt=False)
        else:
            assert key not in taken

    @rule(kind=st.sampled_from(["text", "object", "bool", "no target", "no key column", "unknown key", "empty",
                                "epoch ints", "text stamps", "mixed zones"]),
          key=st.sampled_from(KEYS))
    def odd_frame(self, kind, key):
        """Frames of the wrong kind: refused (typed) or taken as their clean rows would be."""
        if not self.room(key, 1):
            return
        frame = rows(key, [self.next[key]])
        if kind == "text":
            frame["requests"] = frame["requests"].astype(str)
        elif kind == "object":
            frame["requests"] = frame["requests"].astype(object)
        elif kind == "bool":
            frame["requests"] = True
        elif kind == "no target":
            frame = frame.drop(columns="requests")
        elif kind == "no key column":
            frame = frame.drop(columns="endpoint")
        elif kind == "unknown key":
            frame = pd.concat([frame, frame.assign(endpoint="zz")], ignore_index=True)
        elif kind == "empty":
            frame = frame.iloc[:0]
        elif kind == "epoch ints":
            frame["timestamp"] = frame["timestamp"].astype("int64")
        elif kind == "text stamps":
            frame["timestamp"] = frame["timestamp"].astype(str)
        elif kind == "mixed zones":
            other = KEYS[(KEYS.index(key) + 1) % len(KEYS)]
            if not self.room(other, 1):
                return
            frame = pd.concat([frame, rows(other, [self.next[other]])], ignore_index=True)
            frame["timestamp"] = pd.Series([frame["timestamp"][0].tz_convert("US/Eastern"),
                                            frame["timestamp"][1].tz_localize(None)], dtype=object)
        taken = self.feed(frame)
        if kind == "unknown key":
            assert "zz" in self.fleet.update_errors_
        for name in taken:
            self.advance(name, 1, corrupt=False)

    # -- invariants -----------------------------------------------------------------------------------
    @invariant()
    def forecasts_health_and_files(self):
        forecast = self.fleet.predict()
        check_forecast(forecast)
        health = self.fleet.health(now=stamp(max(self.next.values())))
        assert sorted(health.index if health.index.name == "endpoint" else health["endpoint"]) == list(KEYS)
        path = os.path.join(self.folder.name, "fleet.wpm")
        loaded = FleetPredictor.load(self.fleet.save(path))
        pd.testing.assert_frame_equal(loaded.predict(), forecast)

    @invariant()
    def recovered_from_corrupt_counts(self):
        if not any(since is not None and since >= RECOVERY for since in self.since.values()):
            return
        forecast, clean = self.fleet.predict(), self.clean.predict()
        for key, since in self.since.items():
            if since is None or since < RECOVERY:
                continue
            mine = forecast.loc[forecast["endpoint"] == key, "yhat"].to_numpy()
            theirs = clean.loc[clean["endpoint"] == key, "yhat"].to_numpy()
            bound = RECOVERY_SHARE * theirs.mean() + 1.0
            assert np.abs(mine - theirs).max() <= bound, (key, since, mine, theirs)


class RefitFleetUpdates(FleetUpdates):
    mode = "refit"


class IncrementalFleetUpdates(FleetUpdates):
    mode = "incremental"


class GlobalFleetUpdates(FleetUpdates):
    mode = "global"


def replayed(machine: type, steps: list, check) -> None:
    """A falsifying example kept as a test: a fresh ``machine``, each of ``steps`` (a function of the machine that
    runs one rule) followed by the machine's invariants, as hypothesis runs them, then ``check(machine)``."""
    state = machine()
    try:
        state.start()
        for step in steps:
            step(state)
            state.forecasts_health_and_files()
            state.recovered_from_corrupt_counts()
        check(state)
    finally:
        state.teardown()


# The profile's other settings (ci: derandomised). CI runs 12 sequences of 8 steps; longer ones find what those cannot
# (a gap beside a refit or a global key's trough took 20-30 steps): FLEET_FUZZ_EXAMPLES / FLEET_FUZZ_STEPS raise them.
STEPS = settings(max_examples=int(os.environ.get("FLEET_FUZZ_EXAMPLES", "12")),
                 stateful_step_count=int(os.environ.get("FLEET_FUZZ_STEPS", "8")))

TestRefitFleetUpdates = STEPS(RefitFleetUpdates).TestCase
TestIncrementalFleetUpdates = STEPS(IncrementalFleetUpdates).TestCase
TestGlobalFleetUpdates = STEPS(GlobalFleetUpdates).TestCase
