"""Properties of fleets, the global LSTM and their health that docs/fleets.md and docs/health.md promise, over
drawn fleets (keys of drawn lengths, levels, starts and shapes):

* each key of a fleet forecasts as a lone ``WorkloadPredictor`` on that key's rows (batched DLinear and per-key
  models), and a key that cannot be fitted is in ``errors_`` where the lone predictor raises a typed error;
* neither the order of the rows nor the keys' type (text, int, tuple) changes any key's forecast or health (for a
  global LSTM fleet, whose training follows the sorted keys, the order of the rows);
* a ``"refit"`` update split into pieces leaves each key as one update of the same rows;
* an update in which one key's rows are bad (text that is no number, a negative count, rows before its newest
  bucket, a row past ``max_gap``) names that key alone in ``update_errors_``, leaves a per-key model's forecast of it
  as it was, and every key as an update without its rows;
* a fleet (the global LSTM's too) saved and loaded forecasts and rates as the one saved;
* a fleet's and a predictor's health levels and values do not move when every stamp (and ``now``) shifts by a whole
  number of buckets, nor with the time zone the stamps are written in;
* no drawn input (NaN, inf, negative, huge, text, empty or odd keys) raises anything but a typed ``ValueError``.

Sizes are small (keys of at most a few hundred buckets, horizon <= 5, the global LSTM one epoch of a tiny network),
so each test runs in seconds under the suite's profile.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from workload_predictor import FleetPredictor, WorkloadPredictor
from workload_predictor.errors import WorkloadDataError

START = pd.Timestamp("2024-03-01", tz="UTC")
TINY_GLOBAL = {"max_epochs": 1, "hidden_size": 4, "patch_size": 4}
SHAPES = ("poisson", "sparse", "idle_tail", "stuck_tail", "burst")
# A key: (shape, buckets, first bucket, level). 20 buckets is too short to fit any model here.
KEY = st.tuples(st.sampled_from(SHAPES), st.sampled_from([20, 90, 160, 260, 700]), st.integers(0, 40),
                st.sampled_from([0.5, 5.0, 60.0, 5e4]))
KEYS = st.lists(KEY, min_size=1, max_size=4)


def loads(shape: str, n: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` buckets of ``shape`` around ``level``: Poisson counts on a cycle, sparse bursts, a busy series going
    idle or repeating one count (a stuck exporter) over its newest third, or one burst 1,000 levels high."""
    t = np.arange(n)
    y = rng.poisson(level * (1 + 0.5 * np.sin(2 * np.pi * t / rng.integers(8, 40)))).astype(float)
    if shape == "sparse":
        y = np.where(rng.random(n) < 0.1, y * 10, 0.0)
    elif shape == "idle_tail":
        y[-(n // 3):] = 0.0
    elif shape == "stuck_tail":
        y[-(n // 3):] = max(y[-(n // 3) - 1], 1.0)
    elif shape == "burst":
        y[rng.integers(0, n)] = 1000 * level + 1
    return y


def long_frame(keys: list, seed: int, freq: str = "1min", names=None) -> pd.DataFrame:
    """A fleet's long frame: key ``names[i]`` (default ``"k{i}"``) holds ``keys[i]``'s buckets."""
    rng = np.random.default_rng(seed)
    width = pd.Timedelta(freq)
    frames = []
    for i, (shape, n, first, level) in enumerate(keys):
        name = f"k{i}" if names is None else names[i]
        frames.append(pd.DataFrame({"endpoint": pd.Series([name] * n, dtype=object),
                                    "timestamp": START + width * (first + np.arange(n)),
                                    "requests": loads(shape, n, level, rng)}))
    return pd.concat(frames, ignore_index=True)


def forecasts(fleet: FleetPredictor) -> dict:
    """Key -> its forecast rows (timestamp, yhat, lower, upper) as a frame indexed from 0."""
    frame = fleet.predict()
    return {name: part.drop(columns="endpoint").reset_index(drop=True)
            for name, part in frame.groupby("endpoint", sort=False)}


def assert_same_forecasts(got: dict, want: dict, rtol: float = 0.0) -> None:
    assert list(got) == list(want)
    for name in want:
        if rtol:
            pd.testing.assert_frame_equal(got[name], want[name], check_exact=False, rtol=rtol, atol=1e-9,
                                          obj=f"key {name!r}")
        else:
            pd.testing.assert_frame_equal(got[name], want[name], obj=f"key {name!r}")


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# -- each key as a lone predictor ----------------------------------------------------------------------------------
@settings(max_examples=15)
@given(keys=KEYS, seed=st.integers(0, 2**32 - 1), model=st.sampled_from(["dlinear", "naive", "moving_median",
                                                                          "dlinear_log", "seasonal_naive"]),
       horizon=st.integers(1, 5), partition_size=st.sampled_from([None, 1, 2]),
       level=st.sampled_from([None, 0.5, 0.99]), steps=st.integers(1, 5), two=st.booleans())
def test_each_fleet_key_forecasts_as_a_lone_predictor_on_its_rows(keys, seed, model, horizon, partition_size, level,
                                                                  steps, two):
    """Also at another ``level`` (a per-key model's key; a batched DLinear key refuses it), fewer ``steps`` and two
    targets (the second a key's counts reversed and scaled, so the targets differ)."""
    steps = min(steps, horizon)
    frame = long_frame(keys, seed)
    targets = ["requests"]
    if two:
        frame["tokens"] = frame.groupby("endpoint")["requests"].transform(lambda y: y.to_numpy()[::-1] * 7.5)
        targets.append("tokens")
    fleet = FleetPredictor(model=model, horizon=horizon, partition_size=partition_size, random_state=0)
    with quiet():
        try:
            fleet.fit(frame, key="endpoint", target=targets)
        except ValueError:
            fleet = None
    for i in range(len(keys)):
        name = f"k{i}"
        rows = frame[frame["endpoint"] == name].drop(columns="endpoint")
        with quiet():
            try:
                alone = WorkloadPredictor(model=model, horizon=horizon, random_state=0).fit(rows, target=targets)
            except ValueError as exc:
                assert fleet is None or name in fleet.errors_, f"{name}: alone {exc!r}, fitted in the fleet"
                continue
        assert fleet is not None and name in fleet.keys_, f"{name}: fitted alone, {fleet and fleet.errors_[name]!r}"
        if level is not None and model == "dlinear":
            with pytest.raises(WorkloadDataError, match="fit the fleet at that level"):
                fleet.predict(level=level)
            level = None
        expected = alone.predict(steps, level=level)
        got = fleet.predict(steps, level=level)
        got = got[got["endpoint"] == name]
        for j, target in enumerate(targets):
            part = got[got["target"] == target] if two else got
            np.testing.assert_array_equal(part["timestamp"].to_numpy(), expected.index.to_numpy())
            for column in ("yhat", "lower", "upper"):
                np.testing.assert_allclose(part[column].to_numpy(), getattr(expected, column)[:, j], rtol=1e-9,
                                           atol=1e-9, err_msg=f"{name} {target} {column}")
        assert fleet.confidence_[name] == pytest.approx(alone.confidence_, rel=1e-9, abs=1e-12)


# -- key order and key type ------------------------------------------------------------------------------------------
KEY_TYPES = {
    "text": lambda i: f"k{i}",
    "int": lambda i: 7 - 3 * i,  # another sort order than the text keys'
    "tuple": lambda i: ("svc", i % 2, f"r{i}"),
    "digits": lambda i: str(10 - i),
}


@settings(max_examples=10)
@given(keys=KEYS, seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(sorted(KEY_TYPES)),
       order=st.randoms(use_true_random=False), mode=st.sampled_from(["refit", "incremental"]),
       model=st.sampled_from(["dlinear", "naive"]))
def test_the_rows_order_and_the_keys_type_change_no_keys_forecast_or_health(keys, seed, kind, order, mode, model):
    frame = long_frame(keys, seed)
    name = KEY_TYPES[kind]
    names = {f"k{i}": name(i) for i in range(len(keys))}
    other = frame.assign(endpoint=pd.Series([names[k] for k in frame["endpoint"]], index=frame.index, dtype=object))
    if kind == "int":
        other["endpoint"] = other["endpoint"].astype(np.int64)
    positions = list(range(len(other)))
    order.shuffle(positions)
    other = other.iloc[positions]
    settings_ = dict(model=model, horizon=3, update_mode=mode, random_state=0)
    with quiet():
        try:
            base = FleetPredictor(**settings_).fit(frame, key="endpoint")
        except ValueError as exc:
            with pytest.raises(type(exc)):
                FleetPredictor(**settings_).fit(other, key="endpoint")
            return
        moved = FleetPredictor(**settings_).fit(other, key="endpoint")
    assert sorted(map(repr, moved.keys_)) == sorted(repr(names[k]) for k in base.keys_)
    assert sorted(map(repr, moved.errors_)) == sorted(repr(names[k]) for k in base.errors_)
    renamed = {names[k]: part for k, part in forecasts(base).items()}
    got = forecasts(moved)
    assert_same_forecasts({k: got[k] for k in renamed}, renamed)
    now = START + pd.Timedelta("1min") * 400
    want_health = base.health(now=now).rename(index=names)
    got_health = moved.health(now=now).loc[list(want_health.index)]
    pd.testing.assert_frame_equal(got_health, want_health, check_names=False)


# -- updates -----------------------------------------------------------------------------------------------------------
def split_frame(frame: pd.DataFrame, tail: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each key's rows but its newest ``tail``, and those newest rows (in the frame's order)."""
    newest = frame.groupby("endpoint", sort=False).cumcount(ascending=False) < tail
    return frame[~newest], frame[newest]


@settings(max_examples=10)
@given(keys=KEYS, seed=st.integers(0, 2**32 - 1), tail=st.integers(1, 30),
       cuts=st.lists(st.floats(0, 1), min_size=1, max_size=3), model=st.sampled_from(["dlinear", "naive"]))
def test_a_refit_update_split_into_pieces_leaves_each_key_as_one_update(keys, seed, tail, cuts, model):
    """docs/fleets.md: a ``"refit"`` key is refitted on its newest buckets, as many as it was fitted on, and a per-key
    model's key updates as its own predictor: where the rows arrive in one update or several, the key ends on the
    same buckets."""
    keys = [key for key in keys if key[1] > 20] or [("poisson", 160, 0, 5.0)]
    frame = long_frame(keys, seed)
    head, rows = split_frame(frame, tail)
    stamps = np.sort(rows["timestamp"].unique())
    bounds = sorted({int(cut * len(stamps)) for cut in cuts} | {0, len(stamps)})
    with quiet():
        one = FleetPredictor(model=model, horizon=3, random_state=0).fit(head, key="endpoint")
        pieces = FleetPredictor(model=model, horizon=3, random_state=0).fit(head, key="endpoint")
        one.update(rows)
        pieces.update(rows.iloc[:0])  # a tick in which no bucket closed: updates no key
        for lo, hi in zip(bounds, bounds[1:]):
            piece = rows[(rows["timestamp"] >= stamps[lo]) & (rows["timestamp"] <= stamps[hi - 1])]
            pieces.update(piece)
    assert pieces.update_errors_ == {} and one.update_errors_ == {}
    assert_same_forecasts(forecasts(pieces), forecasts(one), rtol=1e-9)
    levels = [column for column in one.health().columns if column.endswith("_level") or column == "level"]
    now = frame["timestamp"].max() + pd.Timedelta("1min")
    pd.testing.assert_frame_equal(pieces.health(now=now)[levels], one.health(now=now)[levels])


BAD_ROWS = {  # what one key's update rows hold, each a typed error for that key alone (docs/fleets.md, Updates)
    "text": lambda rows: rows.assign(requests=rows["requests"].astype(object).where(np.arange(len(rows)) != 0, "n/a")),
    "negative": lambda rows: rows.assign(requests=rows["requests"].where(np.arange(len(rows)) != 0, -5.0)),
    "before": lambda rows: rows.assign(timestamp=rows["timestamp"] - pd.Timedelta("1min") * (len(rows) + 3)),
    "far_ahead": lambda rows: rows.assign(timestamp=rows["timestamp"] + pd.Timedelta("1min") * 10**6),
}


@settings(max_examples=12)
@given(keys=st.lists(KEY, min_size=2, max_size=4), seed=st.integers(0, 2**32 - 1), tail=st.integers(1, 20),
       bad=st.sampled_from(sorted(BAD_ROWS)), which=st.integers(0, 3),
       setup=st.sampled_from([("dlinear", "refit"), ("dlinear", "incremental"), ("naive", "refit"),
                              ("global_lstm", "refit")]))
def test_an_update_whose_one_key_is_bad_changes_only_that_key(keys, seed, tail, bad, which, setup):
    model, mode = setup
    keys = [(shape, max(n, 90), first, level) for shape, n, first, level in keys]  # every key fits
    frame = long_frame(keys, seed)
    head, rows = split_frame(frame, tail)
    name = f"k{which % len(keys)}"
    spoilt = pd.concat([rows[rows["endpoint"] != name], BAD_ROWS[bad](rows[rows["endpoint"] == name])])
    params = {"model_params": TINY_GLOBAL, "window": 16} if model == "global_lstm" else {}
    fleet = FleetPredictor(model=model, horizon=3, update_mode=mode, random_state=0, **params)
    with quiet():
        fleet.fit(head, key="endpoint")
    assert fleet.errors_ == {}
    twin = FleetPredictor.load(fleet.save(Path(tempfile.mkdtemp()) / "fleet.wp"))
    before = forecasts(fleet)
    copy_of_spoilt = spoilt.copy()
    with quiet():
        fleet.update(spoilt)
        twin.update(rows[rows["endpoint"] != name])
    pd.testing.assert_frame_equal(spoilt, copy_of_spoilt)  # the caller's frame is not written
    assert list(fleet.update_errors_) == [name]
    assert isinstance(fleet.update_errors_[name], ValueError)
    got, want = forecasts(fleet), forecasts(twin)
    if model != "global_lstm":  # a global key's forecast reads the shared base, which the others' rows refit
        assert_same_forecasts({name: got[name]}, {name: before[name]})
    assert_same_forecasts(got, want, rtol=1e-9)
    health = fleet.health()
    assert health.loc[name, "update_error"] == str(fleet.update_errors_[name])
    assert health.drop(index=name)["update_error"].isna().all()


# -- save and load -----------------------------------------------------------------------------------------------------
RATED = ["level", "accuracy", "relative_error", "input_anomaly", "stale_buckets", "idle_fit", "stuck_input",
         "update_error"]


@settings(max_examples=6)
@given(keys=st.lists(KEY, min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1), tail=st.integers(0, 12),
       model=st.sampled_from(["global_lstm", "moving_median", "dlinear_log"]))
def test_a_fleet_saved_and_loaded_forecasts_rates_and_updates_as_the_one_saved(keys, seed, tail, model):
    """The global LSTM's and per-key models' fleets (DLinear's are tests/test_save_load_property.py's), after a fit
    and after an update."""
    frame = long_frame(keys, seed)
    head, rows = split_frame(frame, tail)
    params = {"model_params": TINY_GLOBAL, "window": 16} if model == "global_lstm" else {}
    fleet = FleetPredictor(model=model, horizon=3, random_state=0, **params)
    with quiet():
        try:
            fleet.fit(head, key="endpoint")
        except ValueError:
            return  # no key long enough (NoKeyFittedError, a typed error): the lone predictor test's business
    now = frame["timestamp"].max() + pd.Timedelta("3min")
    folder = Path(tempfile.mkdtemp())
    for step in ("fit", "update"):
        loaded = FleetPredictor.load(fleet.save(folder / f"{step}.wp"))
        assert loaded.keys_ == fleet.keys_ and list(map(repr, loaded.errors_)) == list(map(repr, fleet.errors_))
        assert_same_forecasts(forecasts(loaded), forecasts(fleet))
        pd.testing.assert_frame_equal(loaded.health(now=now)[RATED], fleet.health(now=now)[RATED])
        if step == "fit" and len(rows):
            with quiet():
                fleet.update(rows)
                loaded.update(rows)
            assert_same_forecasts(forecasts(loaded), forecasts(fleet))


# -- health ------------------------------------------------------------------------------------------------------------
@settings(max_examples=10)
@given(keys=st.lists(KEY, min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1),
       shift=st.integers(-10**6, 10**6), late=st.integers(-5, 400), freq=st.sampled_from(["10s", "1min", "1h"]),
       zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "naive"]),
       model=st.sampled_from(["dlinear", "naive", "global_lstm"]))
def test_health_and_alerts_move_with_neither_a_whole_bucket_shift_nor_the_stamps_time_zone(keys, seed, shift, late,
                                                                                          freq, zone, model):
    """docs/health.md: every metric is read from buckets (``stale_buckets`` from whole buckets before ``now``): shifting
    every stamp and ``now`` by a whole number of buckets changes no value or level; stamps written in another zone
    (or naive, read as UTC) are the same instants."""
    frame = long_frame(keys, seed, freq=freq)
    width = pd.Timedelta(freq)
    moved = frame.assign(timestamp=frame["timestamp"] + shift * width)
    if zone == "naive":
        moved["timestamp"] = moved["timestamp"].dt.tz_localize(None)
    else:
        moved["timestamp"] = moved["timestamp"].dt.tz_convert(zone)
    params = {"model_params": TINY_GLOBAL, "window": 16} if model == "global_lstm" else {}
    now = frame["timestamp"].max() + late * width + width / 3
    with quiet():
        try:
            base = FleetPredictor(model=model, horizon=4, random_state=0, **params).fit(frame, key="endpoint")
        except ValueError as exc:
            with pytest.raises(type(exc)):
                FleetPredictor(model=model, horizon=4, random_state=0, **params).fit(moved, key="endpoint")
            return
        other = FleetPredictor(model=model, horizon=4, random_state=0, **params).fit(moved, key="endpoint")
    later = now + shift * width
    if zone != "naive":
        later = later.tz_convert(zone)
    want, got = base.health(now=now), other.health(now=later)
    pd.testing.assert_frame_equal(got[RATED], want[RATED])
    def rated(alerts: list) -> list:  # the message and detail name stamps, which moved
        return [{k: v for k, v in alert.items() if k not in ("message", "detail")} for alert in alerts]

    assert rated(other.check_alerts(now=later)) == rated(base.check_alerts(now=now))
    shifted = forecasts(base)
    for part in shifted.values():
        part["timestamp"] = part["timestamp"] + shift * width
    assert_same_forecasts(forecasts(other), shifted)


# -- no input crashes --------------------------------------------------------------------------------------------------
ODD_VALUES = [float("nan"), float("inf"), -float("inf"), -1.0, -1e-300, 0.0, 1e300, 1.7e308, 2.0**64, "n/a", "7", "",
              None, True, 3.5]
ODD_KEYS = ["", " ", None, float("nan"), 0, -1, 2**70, 1.5, float("inf"), ("a", 1), (), "k0", b"k0", "\u00e9"]
STAMP_FAULTS = st.sampled_from(["none", "duplicate", "backwards", "far_ahead", "nat", "text"])


def spoil(frame: pd.DataFrame, data: st.DataObject) -> pd.DataFrame:
    """``frame`` with drawn cells replaced by odd values, keys and stamps (a copy; object columns)."""
    clean = frame["timestamp"].to_numpy()  # the stamps before any was spoilt
    frame = frame.astype({"endpoint": object, "timestamp": object, "requests": object})
    for _ in range(data.draw(st.integers(0, 4))):
        row = data.draw(st.integers(0, len(frame) - 1))
        column = data.draw(st.sampled_from(["endpoint", "timestamp", "requests"]))
        if column == "requests":
            frame.iat[row, 2] = data.draw(st.sampled_from(ODD_VALUES))
        elif column == "endpoint":
            frame.iat[row, 0] = data.draw(st.sampled_from(ODD_KEYS))
        else:
            fault = data.draw(STAMP_FAULTS)
            stamp = clean[row]
            frame.iat[row, 1] = {"none": stamp, "duplicate": clean[max(row - 1, 0)],
                                 "backwards": stamp - pd.Timedelta("1h"), "far_ahead": stamp + pd.Timedelta("3650D"),
                                 "nat": pd.NaT, "text": "not a time"}[fault]
    return frame


@settings(max_examples=20)
@given(keys=st.lists(KEY, min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1), tail=st.integers(1, 10),
       setup=st.sampled_from([("dlinear", "refit"), ("dlinear", "incremental"), ("naive", "refit"),
                              ("global_lstm", "refit")]), data=st.data())
def test_a_fleet_given_odd_values_keys_and_stamps_works_or_raises_a_typed_error(keys, seed, tail, setup, data):
    model, mode = setup
    frame = long_frame([(shape, max(n, 90), first, level) for shape, n, first, level in keys], seed)  # long enough
    head, rows = split_frame(frame, tail)
    head, rows = spoil(head, data), spoil(rows, data)
    given_head, given_rows = head.copy(), rows.copy()
    params = {"model_params": TINY_GLOBAL, "window": 16} if model == "global_lstm" else {}
    fleet = FleetPredictor(model=model, horizon=3, update_mode=mode, random_state=0, **params)
    now = data.draw(st.sampled_from([None, frame["timestamp"].max(), pd.Timestamp("2262-04-11"),
                                     pd.Timestamp("1677-09-22", tz="UTC")]))
    with quiet():
        try:
            fleet.fit(head, key="endpoint")
        except ValueError as exc:
            event(f"fit refused: {type(exc).__name__}: {str(exc)[:60]}")
            return
        event(f"fitted {len(fleet.keys_)} keys, {len(fleet.errors_)} in errors_")
        try:
            fleet.predict()
            fleet.health(now=now)
            fleet.check_alerts(now=now)
        except ValueError:
            pass
        try:
            fleet.update(rows)
        except ValueError:
            pass
        try:
            fleet.predict()
            fleet.health(now=now)
        except ValueError:
            pass
        try:  # a key a file cannot hold (bytes) is save's typed error
            loaded = FleetPredictor.load(fleet.save(Path(tempfile.mkdtemp()) / "fleet.wp"))
        except ValueError:
            loaded = fleet
    pd.testing.assert_frame_equal(head, given_head)
    pd.testing.assert_frame_equal(rows, given_rows)
    assert list(map(repr, loaded.keys_)) == list(map(repr, fleet.keys_))


DATA_METRICS = ("accuracy", "relative_error", "input_anomaly", "stale_buckets", "idle_fit", "stuck_input")


@settings(max_examples=10)
@given(key=KEY, seed=st.integers(0, 2**32 - 1), shift=st.integers(-10**5, 10**5), late=st.integers(-5, 400),
       tail=st.integers(0, 30), freq=st.sampled_from(["10s", "1min", "1h"]),
       zone=st.sampled_from(["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "naive"]),
       model=st.sampled_from(["dlinear", "naive", "moving_median"]), two=st.booleans())
def test_a_predictors_health_moves_with_neither_a_whole_bucket_shift_nor_the_stamps_time_zone(key, seed, shift, late,
                                                                                             tail, freq, zone, model,
                                                                                             two):
    """As the fleet's above, for a predictor fitted and then updated (``tail`` rows), with one or two targets: the
    measured metrics (not the fit's times or memory) have the same values and levels."""
    frame = long_frame([key], seed, freq=freq).drop(columns="endpoint")
    targets = ["requests"]
    if two:
        frame["tokens"] = frame["requests"].to_numpy()[::-1] * 3
        targets.append("tokens")
    width = pd.Timedelta(freq)
    moved = frame.assign(timestamp=frame["timestamp"] + shift * width)
    moved["timestamp"] = (moved["timestamp"].dt.tz_localize(None) if zone == "naive"
                          else moved["timestamp"].dt.tz_convert(zone))
    now = frame["timestamp"].max() + late * width + width / 3
    later = now + shift * width
    later = later if zone == "naive" else later.tz_convert(zone)
    reports = []
    for rows, at in ((frame, now), (moved, later)):
        head, new = rows.iloc[:len(rows) - tail], rows.iloc[len(rows) - tail:]
        predictor = WorkloadPredictor(model=model, horizon=4, random_state=0)
        with quiet():
            try:
                predictor.fit(head, target=targets)
            except ValueError as exc:
                reports.append(type(exc))
                continue
            if len(new):
                predictor.update(new)
        report = predictor.health(now=at)["metrics"]
        alerts = {alert["metric"]: alert["level"] for alert in predictor.check_alerts(now=at)}
        # A detail names stamps, which moved: the values, levels and thresholds are compared.
        reports.append(({metric: {k: v for k, v in report[metric].items() if k != "detail"} for metric in DATA_METRICS},
                        {metric: level for metric, level in alerts.items() if metric in DATA_METRICS},
                        predictor.predict().yhat.tolist()))
    assert reports[1] == reports[0]


@settings(max_examples=5)
@given(keys=st.lists(KEY, min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1),
       order=st.randoms(use_true_random=False), tail=st.integers(0, 8))
def test_a_global_fleet_fitted_and_updated_on_shuffled_rows_forecasts_and_rates_as_on_sorted_ones(keys, seed, order,
                                                                                                  tail):
    """The global LSTM trains on its keys in ``keys_`` order (sorted), whatever the order of the rows."""
    frame = long_frame(keys, seed)
    head, rows = split_frame(frame, tail)
    positions = list(range(len(head)))
    order.shuffle(positions)
    fleets = []
    for fit_rows in (head, head.iloc[positions]):
        fleet = FleetPredictor(model="global_lstm", horizon=3, random_state=0, model_params=TINY_GLOBAL, window=16)
        with quiet():
            try:
                fleet.fit(fit_rows, key="endpoint")
            except ValueError as exc:
                fleets.append(type(exc))
                continue
            if len(rows):
                fleet.update(rows.iloc[::-1])
        fleets.append(fleet)
    if not isinstance(fleets[0], FleetPredictor):
        assert fleets[1] is fleets[0]
        return
    assert_same_forecasts(forecasts(fleets[1]), forecasts(fleets[0]))
    now = frame["timestamp"].max()
    pd.testing.assert_frame_equal(fleets[1].health(now=now)[RATED], fleets[0].health(now=now)[RATED])
