"""Model files mutated in the state 0.37 and 0.38 added (lost buckets, windows left out, the residual noises,
``transform_``, ``noise_scale_``, ``recent_mae_``, a block's ``recent_flags``) and in the state every fit sets: each
mutated file is refused with a ModelFileError at load, or loads a model that forecasts, updates, rates its health and
saves a file that loads (a file saved before a field was kept: the field absent).

``tests/test_model_file_fuzz.py`` mutates every stored field of its files at random; the fields here are ones its
files hold empty (``None``) or that it never drops."""

from __future__ import annotations

import copy
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from test_model_file_fuzz import node, pack, stored_fields, unpack
from workload_predictor import FleetPredictor, ModelFileError, WorkloadDataError, WorkloadPredictor

START = pd.Timestamp("2024-03-01", tz="UTC")
FREQ = pd.Timedelta("1min")


def rows(values, first: int) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": START + FREQ * (first + np.arange(len(values))), "requests": values})


def faulty(model: str = "dlinear", members=None, lost: bool = True):
    """A predictor fitted on a burst in its validation windows (it leaves windows out of its interval and keeps
    flags), then (``lost``) updated with 5 buckets lost (no row for them) and 5 more: it keeps lost buckets; the
    rows of its next update."""
    values = np.random.default_rng(3).poisson(40, 640).astype(float)
    values[540:545] = 1e6
    params = None if members is None else {"members": members}
    predictor = WorkloadPredictor(model, horizon=5, window=24, model_params=params).fit(rows(values[:600], 0))
    if not lost:
        return predictor, rows(values[600:603], 600)
    predictor.update(rows(values[600:605], 600)).update(rows(values[610:615], 610))
    return predictor, rows(values[615:618], 615)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """kind -> (class, header, state, arrays, {field name: path}, rows of the next update)."""
    folder = tmp_path_factory.mktemp("new_state")
    frame = pd.concat([rows(np.random.default_rng(i).poisson(40 + 80 * i, 313), 0).assign(endpoint=f"k{i}")
                       for i in range(2)], ignore_index=True)
    frame.loc[(frame.endpoint == "k0") & (frame.timestamp == START + 300 * FREQ), "requests"] = 1e6
    head, tail = frame[frame.timestamp < START + 310 * FREQ], frame[frame.timestamp >= START + 310 * FREQ]
    objects = {"dlinear": faulty(), "dlinear_log": faulty("dlinear_log", lost=False),
               "ensemble": faulty("ensemble", ["dlinear", "naive", "moving_average"], lost=False),
               "fleet": (FleetPredictor(horizon=5).fit(head, key="endpoint"), tail),
               "naive fleet": (FleetPredictor(model="naive", horizon=5).fit(head, key="endpoint"), tail),
               # a window search: a blend of two windows
               "searched": (WorkloadPredictor("dlinear", horizon=5, model_params={"candidate_windows": [12, 24]}).fit(
                   rows(np.random.default_rng(2).poisson(40, 300).astype(float), 0)),
                   rows(np.random.default_rng(2).poisson(40, 3).astype(float), 300)),
               # idle throughout: DLinear keeps its systems without inverses and solves them at the update that wakes
               "idle": (WorkloadPredictor("dlinear", horizon=5, window=24).fit(rows(np.zeros(300), 0)),
                        rows(np.random.default_rng(1).poisson(30, 3).astype(float), 300))}
    made = {}
    for kind, (obj, more) in objects.items():
        path = folder / f"{kind}.wpm"
        obj.save(path)
        header, state, arrays = unpack(path.read_bytes())
        fields = {name: where for where, name in reversed(list(stored_fields(state)))}
        made[kind] = (type(obj), header, state, arrays, fields, more)
    return made


def forged(files, tmp_path, kind: str, changes: dict) -> str:
    """The path of ``kind``'s file with each field of ``changes`` set to its value (a JSON value, an array, or
    ``DROP``: the field absent, as in a file saved before it was kept)."""
    _, header, state, arrays, fields, _ = files[kind]
    state, arrays = copy.deepcopy(state), dict(arrays)
    for name, value in sorted(changes.items(), key=lambda item: fields[item[0]], reverse=True):
        where = fields[name]
        if value is DROP:  # an attribute's [name, value] pair, or a data class's field
            parent = node(state, where[:-2] if where[-1] == 1 else where[:-1])
            del parent[where[-2] if where[-1] == 1 else where[-1]]
        elif isinstance(value, np.ndarray):
            arrays[node(state, where)["__array__"]] = value
        else:
            node(state, where[:-1])[where[-1]] = value
    path = tmp_path / f"{kind}-forged.wpm"
    path.write_bytes(pack(header, state, arrays))
    return str(path)


DROP = object()


def works(cls, path: str, more: pd.DataFrame, tmp_path) -> None:
    """The loaded file forecasts finite loads, rates its health, updates (or refuses the rows, typed) and saves a
    file that loads."""
    loaded = cls.load(path)
    for _ in range(2):
        forecast = loaded.predict()
        frame = forecast if isinstance(forecast, pd.DataFrame) else forecast.to_frame()
        values = frame[["yhat", "lower", "upper"]].to_numpy(np.float64)
        assert np.isfinite(values).all() and (values >= 0).all()
        loaded.health(now=START + pd.Timedelta("1D"))
        try:
            loaded.update(more.copy())
        except WorkloadDataError:
            pass
    cls.load(loaded.save(tmp_path / "again.wpm"))


# -- state every fit sets: a file without it loaded and failed at its update or health ------------------------------
@pytest.mark.parametrize("kind, field, error", [
    ("dlinear", "state.model_.state.rank_one_steps_", "AttributeError at the update"),
    ("ensemble", "state.model_.state.members_.dlinear.state.rank_one_steps_", "AttributeError at the update"),
    ("ensemble", "state.model_.state.n_history_origins_", "AttributeError at the update"),
    ("ensemble", "state.model_.state.fallback_weights_", "AttributeError at the update"),
    ("ensemble", "state.model_.state.combination_share_", "AttributeError at the update"),
    ("dlinear", "state.n_updates_", "AttributeError at the update"),
    ("dlinear", "state.fit_seconds_", "AttributeError in health"),
    ("fleet", "state.key_", "AttributeError at the update"),  # not key_ None, a name fit takes
    ("fleet", "state._global", "AttributeError at the update"),
])
def test_a_file_without_state_every_fit_sets_is_refused(files, tmp_path, kind, field, error):
    name = field.rsplit(".", 1)[1]
    with pytest.raises(ModelFileError, match=f"without {name}"):
        files[kind][0].load(forged(files, tmp_path, kind, {field: DROP}))


# -- the new state absent (a file saved before it was kept): a documented fallback ---------------------------------
@pytest.mark.parametrize("kind, fields", [
    ("dlinear", ["state.noise_scale_"]),  # health measures the naive error on the series held
    ("dlinear", ["state.recent_mae_"]),  # health reads validation_mae_
    ("dlinear", ["state.lost_buckets_"]),  # the zeros read as loads
    ("dlinear", ["state.interval_left_out_"]),  # every window calibrates the interval
    ("dlinear", ["state.input_flags_"]),  # the flags from the anomalies recorded
    ("dlinear", ["state.model_.state.residual_noise_", "state.model_.state.residual_unit_"]),
    ("dlinear", ["state.model_.state.transform_", "state.model_.params.transform"]),
    ("dlinear", ["state.model_.state.idle_", "state.model_.state.newest_weights_"]),
    ("dlinear", ["state.model_.state.newest_penalties_"]),  # an update keeps the penalty it raised
    ("ensemble", ["state.interval_left_out_", "state.recent_mae_", "state.noise_scale_"]),
    ("fleet", ["state._blocks.0.fields.recent_flags"]),  # health rates the block's keys' anomalies unknown
])
def test_a_file_saved_before_the_new_state_loads_and_works(files, tmp_path, kind, fields):
    cls, *_, more = files[kind]
    works(cls, forged(files, tmp_path, kind, dict.fromkeys(fields, DROP)), more, tmp_path)


# -- inconsistent new state: refused (each loaded on the base and forecast or failed later) ------------------------
def test_a_dlinear_fitted_transform_is_its_setting(files, tmp_path):
    """A LogDLinear whose ``transform_`` was null loaded and read its weights on log(1 + load) as loads: a forecast
    near log(40) for loads near 40. Its setting null beside ``transform_='log1p'`` (or 'log1p' on a DLinear fitted on
    the loads) is no fit's either."""
    log, plain = files["dlinear_log"][0], files["dlinear"][0]
    for kind, change in (("dlinear_log", {"state.model_.state.transform_": None}),
                         ("dlinear_log", {"state.model_.params.transform": None}),
                         ("dlinear", {"state.model_.params.transform": "log1p"})):
        with pytest.raises(ModelFileError, match="fitted as transform_="):
            (log if kind == "dlinear_log" else plain).load(forged(files, tmp_path, kind, change))


def test_a_lost_bucket_the_history_holds_is_a_zero_filled_one(files, tmp_path):
    """A lost bucket naming a busy bucket loaded: read as its reference median, the windows on it left out. A file
    that keeps fewer of its lost buckets (each a zero-filled one) loads and works."""
    cls, _, state, arrays, fields, more = files["dlinear"]
    lost = arrays[node(state, fields["state.lost_buckets_"])["__array__"]]
    assert len(lost) == 5
    with pytest.raises(ModelFileError, match="not a zero-filled bucket"):
        cls.load(forged(files, tmp_path, "dlinear", {"state.lost_buckets_": np.concatenate([lost[:-1], lost[-1:] + 3])}))
    works(cls, forged(files, tmp_path, "dlinear", {"state.lost_buckets_": lost[1:]}), more, tmp_path)


def test_residual_noises_are_float64_as_saved(files, tmp_path):
    """float32 noises at the floor (1e-6) passed the floor check and loaded; an update's float64 copy of them was
    9.99999997e-07, below it, and the loaded model's own save did not load."""
    cls, _, state, arrays, fields, _ = files["dlinear"]
    noise = arrays[node(state, fields["state.model_.state.residual_noise_"])["__array__"]]
    with pytest.raises(ModelFileError, match="residual_noise_"):
        cls.load(forged(files, tmp_path, "dlinear", {"state.model_.state.residual_noise_": noise.astype(np.float32)}))


# -- a block's recent flags: bounded before anything of their size is computed ------------------------------------
@pytest.mark.parametrize("flags, what", [
    (np.zeros((2 * 1000 + 1, 2), np.int64), "more rows than 2 keys' newest 1000 buckets"),
    (np.array([[0, 5], [0, 5]]), "one bucket twice"),
    (np.array([[2, 309]]), "a key row past the block's"),
    (np.array([[0, 310]]), "a position past the series (310 buckets)"),
    (np.array([[0, -691]]), "a position before the newest 1000"),
    (np.array([[0.0, 309.0]]), "floats"),
    (np.array([0, 309]), "one axis"),
])
def test_a_blocks_recent_flags_no_fit_keeps_are_refused(files, tmp_path, flags, what):
    with pytest.raises(ModelFileError, match="recent flagged bucket"):
        FleetPredictor.load(forged(files, tmp_path, "fleet", {"state._blocks.0.fields.recent_flags": flags}))


def test_a_huge_declared_length_of_new_state_allocates_nothing_of_its_size(files, tmp_path):
    """100,000 rows of recent flags (or lost buckets) are refused by their count before anything of their size
    is computed: the load's traced peak is the file's own array and a copy, not a table of their size. (A ``.npy``
    header declaring more than its member holds: ``tests/test_model_file_arrays.py``.)"""
    cases = (("fleet", "state._blocks.0.fields.recent_flags", np.zeros((10**5, 2), np.int64)),
             ("dlinear", "state.lost_buckets_", np.arange(10**5, dtype=np.int64)))
    for kind, field, array in cases:
        cls = files[kind][0]
        path = forged(files, tmp_path, kind, {field: array})
        tracemalloc.start()
        try:
            with pytest.raises(ModelFileError):
                cls.load(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # the file's own bytes (8 or 16 MB of array) and one copy, never a table of the declared size
        assert peak < 3 * array.nbytes + 8 * 2**20, (field, peak)


def test_an_idle_dlinears_system_without_an_inverse_has_a_penalty(files, tmp_path):
    """An idle fit keeps its ridge systems without inverses (its windows all alike, penalised by alpha_ *
    PENALTY_FLOOR); with a penalty of 0 the file loaded and the update that woke it raised numpy's LinAlgError
    (singular matrix). The file as saved loads, wakes and works."""
    cls, _, state, arrays, fields, more = files["idle"]
    field = next(name for name in fields if name.startswith("state.model_.state.ridge_.0.") and name.endswith(".lam"))
    assert node(state, fields[field.replace(".lam", ".inverse")]) is None
    with pytest.raises(ModelFileError, match="ridge systems"):
        cls.load(forged(files, tmp_path, "idle", {field: 0.0}))
    works(cls, forged(files, tmp_path, "idle", {}), more, tmp_path)


@pytest.mark.parametrize("kind, model, held", [
    ("fleet", "dlinear_log", "batched DLinear keys"),  # loaded, its keys forecasting as plain DLinear
    ("fleet", "naive", "batched DLinear keys"),
    ("naive fleet", "moving_average", "the key 'k0' fitted with model='naive'"),
    ("naive fleet", "dlinear", "the key 'k0' fitted with model='naive'"),
])
def test_a_fleet_holds_its_keys_as_a_fit_of_its_model_does(files, tmp_path, kind, model, held):
    """A fit batches model='dlinear' only and fits each key of another model as its own predictor of it: a fleet
    file saying model='dlinear_log' (set where the file names it, and as fitted) over batched DLinear keys loaded,
    forecast and updated them as plain DLinear; a fleet of per-key predictors of another model loaded too."""
    changes = {"params.model": model, "state.fitted_params_.model": model}
    with pytest.raises(ModelFileError, match=held):
        FleetPredictor.load(forged(files, tmp_path, kind, changes))


# -- the flags among the newest buckets: the recorded anomalies among them -----------------------------------------
@pytest.mark.parametrize("change", [
    lambda flags: flags[:-1],  # one row short: each flag a bucket later
    lambda flags: np.concatenate([flags[-90:], flags[-90:]]),  # the newest 90 rows twice: flags 90 buckets earlier too
    lambda flags: np.full(flags.shape, np.nan),  # none flagged
    lambda flags: flags + 1,  # other medians
], ids=["one short", "doubled", "all NaN", "other medians"])
def test_input_flags_are_the_recorded_anomalies_among_the_newest_buckets(files, tmp_path, change):
    """``input_flags_`` rows one short, doubled (within the rows a predictor keeps), all NaN or with other medians
    loaded, holding flags no scan found: a flagged bucket is read as its median in the forecast's inputs and the
    update's references (here one short forecast otherwise after an update; with the flags of a counter's run among
    the window's buckets each of the first three did). A fit and each update record a flagged bucket in both
    ``input_flags_`` and ``input_anomalies_``; the rows' count is no rule (flags that came after none was kept begin
    at their update's first bucket), so the newest 80 rows, which hold every flag, load and work."""
    cls, _, state, arrays, fields, more = files["dlinear"]
    flags = arrays[node(state, fields["state.input_flags_"])["__array__"]]
    assert len(flags) == 180 and (~np.isnan(flags[-80:])).sum() == 5
    with pytest.raises(ModelFileError, match="flags among its newest buckets"):
        cls.load(forged(files, tmp_path, "dlinear", {"state.input_flags_": change(flags)}))
    works(cls, forged(files, tmp_path, "dlinear", {"state.input_flags_": flags[-80:]}), more, tmp_path)


def test_input_flags_without_the_anomalies_recorded_are_refused(files, tmp_path):
    """A fit and every update record the anomalies they flag: flags beside no record are no fit's (a file saved
    before the anomalies were recorded has no flags either)."""
    cls, header, state, arrays, fields, _ = files["dlinear"]
    state, where = copy.deepcopy(state), fields["state.input_anomalies_"]
    node(state, where[:-2])[where[-2]] = None  # the attribute's value (a buffer), as a file saved before it was kept
    path = tmp_path / "unrecorded.wpm"
    path.write_bytes(pack(header, state, arrays))
    with pytest.raises(ModelFileError, match="without the input anomalies recorded"):
        cls.load(path)


def test_flags_older_than_a_full_buffer_of_anomalies_load(tmp_path):
    """A burst every other bucket in two targets for 180 buckets: 180 flags among the newest buckets, the newest 100
    of them recorded as anomalies (a full buffer). The flags at or before its oldest are no longer recorded; the file
    loads, forecasts as saved, updates and saves a file that loads."""
    values = np.random.default_rng(5).poisson(40, (603, 2)).astype(float)
    values[420:600:2] = 1e4 * (1 + np.arange(420, 600, 2) % 7)[:, None]
    frame = rows(values[:, 0], 0).rename(columns={"requests": "a"}).assign(b=values[:, 1])
    predictor = WorkloadPredictor("dlinear", horizon=5, window=24).fit(frame[:400], target=["a", "b"])
    predictor.update(frame[400:600])
    flags, recorded = predictor.input_flags_, predictor.input_anomalies_
    oldest = len(flags) - 1 - (predictor.last_timestamp_ - recorded[0][0]) // FREQ
    assert len(recorded) == recorded.maxlen and (~np.isnan(flags[:oldest])).sum() > 10
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "full.wpm"))
    assert loaded.predict() == predictor.predict()
    WorkloadPredictor.load(loaded.update(frame[600:]).save(tmp_path / "again.wpm"))


def test_a_model_params_set_since_fit_is_saved_and_loaded(files, tmp_path):
    """``model_params`` set (``set_params``) since fit may disagree with the fitted model's own settings: ``save``
    writes it (a refit takes it; only ``model`` and ``horizon`` set since fit are refused), so ``load`` takes it."""
    cls = files["dlinear"][0]
    fitted = cls.load(forged(files, tmp_path, "dlinear", {}))
    kernel = fitted.model_.kernel_size
    fitted.set_params(model_params={"kernel_size": kernel + 2})
    loaded = cls.load(fitted.save(tmp_path / "set.wpm"))
    assert loaded.model_params == {"kernel_size": kernel + 2} and loaded.model_.kernel_size == kernel
    pd.testing.assert_frame_equal(loaded.predict().to_frame(), fitted.predict().to_frame())


# -- counts in refusals: "1 point", not "1 points" -------------------------------------------------------------------
@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    """A DLinear saved on its own: (header, state, arrays, {field name: path})."""
    from workload_predictor import persistence
    from workload_predictor.models.dlinear import DLinear

    path = tmp_path_factory.mktemp("bare") / "dlinear.wpm"
    model = DLinear(horizon=5, window=24).fit(np.random.default_rng(0).poisson(40, (300, 1)).astype(float))
    persistence.save(model, path)
    header, state, arrays = unpack(path.read_bytes())
    return header, state, arrays, {name: where for where, name in reversed(list(stored_fields(state)))}


@pytest.mark.parametrize("field, message", [
    ("state.context_", "keeps 1 point in its DLinear's context_ for a window of 24"),
    ("state.recent_", "keeps 1 point in its DLinear's recent_, fewer than the window 24"),
])
def test_a_model_keeping_one_point_says_1_point(bare, tmp_path, field, message):
    from workload_predictor import persistence

    header, state, arrays, fields = bare
    arrays = dict(arrays)
    name = node(state, fields[field])["__array__"]
    arrays[name] = arrays[name][-1:]
    path = tmp_path / "one.wpm"
    path.write_bytes(pack(header, state, arrays))
    with pytest.raises(ModelFileError, match=message):
        persistence.load(path)


def test_window_statistics_of_one_window_say_1_window(files, tmp_path):
    cls, _, state, arrays, fields, _ = files["dlinear"]
    sums = arrays[node(state, fields["state.model_.state.stats_.0.fields.sum_x"])["__array__"]]
    changes = {"state.model_.state.stats_.0.fields.count": 1.0,  # one window, its sums beyond one window's
               "state.model_.state.stats_.0.fields.sum_x": np.full_like(sums, 1e200)}
    with pytest.raises(ModelFileError, match=r"larger than 1 window of loads"):
        cls.load(forged(files, tmp_path, "dlinear", changes))


def test_one_calibration_window_says_1_bool():
    from types import SimpleNamespace

    from workload_predictor import model_file

    def refuse(what):
        raise ModelFileError(what)

    model = SimpleNamespace(calibration_actual_=None, validation_actual_=np.zeros((1, 5, 1)))
    obj = SimpleNamespace(lost_buckets_=None, interval_left_out_=np.ones(2, bool))
    with pytest.raises(ModelFileError, match=r"not 1 bool \(one per calibration window\)"):
        model_file._check_lost(obj, model, refuse)


@pytest.mark.parametrize("fields, message", [
    ({"validation_origins_": [np.array([4, 3])]}, "not as 1 key's increasing positions"),
    ({"validation_left_out_": [np.ones(1, bool)]}, "not as 1 key's windows left out"),
    ({"weight_nonzero_": "x", "weight_nonzero_counts_": None}, "not as 1 key's newest non-zero points"),
], ids=["origins", "left out", "non-zero"])
def test_a_global_network_of_one_key_says_1_key(fields, message):
    """The global network's per-key checks (a file of one key): "1 key's", not "1 keys'"."""
    from types import SimpleNamespace

    from workload_predictor import model_file

    def refuse(what):
        raise ModelFileError(what)

    kept = dict(n_seen_=np.array([20]), _recent_length=lambda: 5, validation_actual_=[np.zeros((2, 5, 1))],
                validation_origins_=[np.array([3, 4])], n_targets_=1, keys_=["k0"])
    with pytest.raises(ModelFileError, match=message):
        model_file._check_global_update_state(SimpleNamespace(**{**kept, **fields}), 1, [np.zeros((5, 1))], refuse)


def test_a_forecast_of_one_bucket_drawing_too_many_requests_says_1_bucket():
    from test_requests import make_forecast

    with pytest.raises(WorkloadDataError, match=r"synthetic requests over 1 bucket \("):
        make_forecast([1e9]).to_requests(random_state=0)


# -- a DLinear's settings against the state its fit set from them ---------------------------------------------------
@pytest.mark.parametrize("kind, changes, message", [
    ("dlinear", {"state.model_.params.window": 48}, "window=48 beside window_=24"),  # a refit would read 48
    ("searched", {"state.model_.params.window": 24}, r"window=24 beside the blend of windows \[12, 24\]"),
    ("searched", {"state.model_.params.blend": 1}, r"blend=1 beside the blend of windows \[12, 24\]"),
    ("searched", {"state.model_.params.candidate_windows": [24, 48]}, r"candidate_windows=\[24, 48\] beside"),
    ("dlinear", {"state.model_.params.follow_level": False}, "follow_level=False beside follow_level_=True"),
    ("dlinear_log", {"state.model_.state.follow_level_": False}, "follow_level=True beside follow_level_=False"),
    # an update without robust leaves the judging behind: the updated model's own save did not load
    ("dlinear", {"state.model_.params.robust": False}, r"robust=False beside weight_floor_=array\(\[49\.\]\)"),
    ("dlinear", {"state.model_.params.robust": False, "state.model_.state.weight_floor_": None},
     "robust=False beside residual_from_="),
    ("idle", {"state.model_.params.half_life": 100.0}, "half_life=100.0 beside idle_=True"),
    ("ensemble", {"state.model_.state.members_.dlinear.params.robust": False}, "robust=False beside weight_floor_"),
], ids=["window", "window-blend", "blend", "candidates", "follow_level", "follow_level_", "robust-floor",
        "robust-judging", "half_life", "ensemble member"])
def test_a_dlinear_setting_its_fitted_state_disagrees_with_is_refused(files, tmp_path, kind, changes, message):
    """Each loaded on the base: forecast and updated with the fitted state, a refit then taking the setting (a
    model without ``robust`` holding a robust fit's judging: its update's save was refused at load)."""
    with pytest.raises(ModelFileError, match=message):
        files[kind][0].load(forged(files, tmp_path, kind, changes))


def test_fitted_dlinears_with_their_settings_load_and_work(files, tmp_path):
    """A search's blend, a given window, a log transform, an idle fit: as saved, each loads and works."""
    for kind in ("searched", "dlinear_log", "idle"):
        cls, *_, more = files[kind]
        works(cls, forged(files, tmp_path, kind, {}), more, tmp_path)


def test_a_dlinear_setting_changed_since_fit_is_not_saved(tmp_path):
    """``set_params`` on a fitted DLinear (saved on its own, or a predictor's model) changing a setting load compares
    with the fitted state: save wrote a file load now refuses; it writes nothing and says why."""
    from workload_predictor import UnsaveableModelError, persistence
    from workload_predictor.models.dlinear import DLinear

    loads = np.random.default_rng(0).poisson(40, (300, 1)).astype(float)
    model = DLinear(horizon=5, window=24).fit(loads).set_params(window=48)
    with pytest.raises(UnsaveableModelError, match="window=48 beside window_=24.*set it back"):
        persistence.save(model, tmp_path / "model.wpm")
    persistence.save(model.set_params(window=24), tmp_path / "model.wpm")
    persistence.load(tmp_path / "model.wpm")
    predictor = WorkloadPredictor("dlinear", horizon=5, window=24).fit(rows(loads[:, 0], 0))
    predictor.model_.set_params(robust=False)
    with pytest.raises(UnsaveableModelError, match="robust=False beside weight_floor_"):
        predictor.save(tmp_path / "predictor.wpm")
    assert not (tmp_path / "predictor.wpm").exists()


# -- the penalties before the newest windows (newest_penalties_) ----------------------------------------------------
@pytest.fixture(scope="module")
def raised(tmp_path_factory):
    """A predictor whose updates raised its penalty on a counter's climbing buckets (h204's example: 93.36 to 265.52)
    before the bucket that flags the run, saved: ``files``' entry for ``forged``, the frame of that bucket, the
    penalty raised and that of a refit of the fit on all the points."""
    rng = np.random.default_rng(0)
    values = rng.poisson(1000.0 * (1 + 0.3 * np.sin(2 * np.pi * np.arange(155) / 48))).astype(float)
    values[150:155] = np.cumsum(values[150:155])
    frame = rows(values, 0)
    predictor = WorkloadPredictor("dlinear", horizon=1, window=12).fit(frame.iloc[:150])
    refit = copy.deepcopy(predictor.model_)
    refit._fit_arrays(values[:, None], refit=True)
    predictor.update(frame.iloc[150:151]).update(frame.iloc[151:154])
    lam = predictor.model_.ridge_[0][12].lam
    assert lam > 2 * predictor.model_.newest_penalties_.max()  # raised on the newest windows
    path = tmp_path_factory.mktemp("raised") / "raised.wpm"
    predictor.save(path)
    header, state, arrays = unpack(path.read_bytes())
    fields = {name: where for where, name in reversed(list(stored_fields(state)))}
    return {"raised": (WorkloadPredictor, header, state, arrays, fields, frame.iloc[154:155])}, lam, \
        refit.ridge_[0][12].lam


def test_the_penalties_before_the_newest_windows_are_saved(raised, tmp_path):
    """Loaded, the update whose bucket flags the counter's run sets the penalty the refit on the same points has
    (the one in force before its climb): the state went through the file. A file saved before it was kept loads,
    works and keeps the raised penalty (what an update did before it was kept)."""
    files, lam, refitted = raised
    assert lam > 2 * refitted
    cls, *_, more = files["raised"]
    loaded = cls.load(forged(files, tmp_path, "raised", {}))
    loaded.update(more.copy())
    np.testing.assert_allclose(loaded.model_.ridge_[0][12].lam, refitted, rtol=1e-9)
    before = cls.load(forged(files, tmp_path, "raised", {"state.model_.state.newest_penalties_": DROP}))
    before.update(more.copy())
    assert before.model_.ridge_[0][12].lam == lam
    works(cls, forged(files, tmp_path, "raised", {"state.model_.state.newest_penalties_": DROP}), more, tmp_path)


@pytest.fixture(scope="module")
def raised_rate(tmp_path_factory):
    """``raised``'s predictor with ``half_life=20``: its updates raised the penalty rate (``penalty_rates_``, 0.68 to
    2.04) on the counter's climbing buckets, saved: ``files``' entry, the frame of the bucket that flags the run, the
    rate raised and that of the same predictor updated with all 5 buckets at once."""
    rng = np.random.default_rng(0)
    values = rng.poisson(1000.0 * (1 + 0.3 * np.sin(2 * np.pi * np.arange(155) / 48))).astype(float)
    values[150:155] = np.cumsum(values[150:155])
    frame = rows(values, 0)
    predictor = WorkloadPredictor("dlinear", horizon=1, window=12, model_params={"half_life": 20}).fit(frame.iloc[:150])
    at_once = copy.deepcopy(predictor).update(frame.iloc[150:155])
    predictor.update(frame.iloc[150:151]).update(frame.iloc[151:154])
    rate = predictor.model_.penalty_rates_[0][12]
    path = tmp_path_factory.mktemp("raised_rate") / "raised_rate.wpm"
    predictor.save(path)
    header, state, arrays = unpack(path.read_bytes())
    fields = {name: where for where, name in reversed(list(stored_fields(state)))}
    return {"raised_rate": (WorkloadPredictor, header, state, arrays, fields, frame.iloc[154:155])}, rate, \
        at_once.model_.penalty_rates_[0][12]


def test_a_forgetting_models_rates_before_the_newest_windows_are_saved(raised_rate, tmp_path):
    """With forgetting, ``newest_penalties_`` holds the penalty rates before the newest windows. Loaded, the update
    whose bucket flags the counter's run sets the rate of an update of all its buckets at once: the state went through
    the file. A file saved before it was kept loads, works and keeps the raised rate."""
    files, rate, at_once = raised_rate
    assert rate > 2 * at_once
    cls, *_, more = files["raised_rate"]
    loaded = cls.load(forged(files, tmp_path, "raised_rate", {}))
    loaded.update(more.copy())
    np.testing.assert_allclose(loaded.model_.penalty_rates_[0][12], at_once, rtol=1e-9)
    before = cls.load(forged(files, tmp_path, "raised_rate", {"state.model_.state.newest_penalties_": DROP}))
    before.update(more.copy())
    assert before.model_.penalty_rates_[0][12] == rate
    works(cls, forged(files, tmp_path, "raised_rate", {"state.model_.state.newest_penalties_": DROP}), more, tmp_path)


@pytest.mark.parametrize("value", [
    np.full((4, 1, 2), 93.0),  # a window its systems do not have
    np.full((3, 1, 1), 93.0),  # fewer than the newest COUNTER_RUN - 1 windows
    np.full((4, 1, 1), -1.0),
    np.full((4, 1, 1), np.inf),
    np.full((4, 1, 1), 93, dtype=np.int64),
    "93",
])
def test_penalties_before_the_newest_windows_not_of_its_systems_are_refused(raised, tmp_path, value):
    with pytest.raises(ModelFileError, match="newest_penalties_"):
        WorkloadPredictor.load(forged(raised[0], tmp_path, "raised", {"state.model_.state.newest_penalties_": value}))
