"""A model file cannot make load() allocate, hang or crash; save() is durable and keeps the file's mode.

The attacks that would take memory or hang on a loader without these bounds run in a
child process under an address-space limit (RLIMIT_AS) and an alarm, so a regression
fails the test instead of the machine.
"""

from __future__ import annotations

import collections
import io
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import periodic_series
from test_persistence import _dlinear_node, _nodes, join_file, rewrite_state, split_file
from workload_predictor import FleetPredictor, ModelFileError, WorkloadPredictor, model_file, persistence

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's")


@pytest.fixture(scope="module")
def saved_bytes() -> bytes:
    return persistence.dumps(WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0)))


def archive_members(data: bytes) -> dict[str, bytes]:
    """The raw members (``name.npy`` -> bytes) of a model file's payload."""
    _, payload = split_file(data)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def build_archive(members: dict[str, bytes], compressed: frozenset = frozenset()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, raw in members.items():
            kind = zipfile.ZIP_DEFLATED if name in compressed else zipfile.ZIP_STORED
            archive.writestr(zipfile.ZipInfo(name), raw, compress_type=kind)
    return buffer.getvalue()


def npy_header(shape: tuple, dtype: str = "<f8") -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
    return out.getvalue()


def first_float_member(members: dict[str, bytes]) -> str:
    return next(name for name, raw in members.items()
                if name != f"{persistence.STATE_KEY}.npy" and b"'<f8'" in raw[:128])


# -- load(): what the file may be --------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    import numpy as np
    from workload_predictor import persistence, predictor  # what a load imports, before the limit
    from workload_predictor.models import dlinear
    np.linalg.solve(np.eye(64), np.ones(64))  # BLAS threads started
    page = resource.getpagesize()
    with open("/proc/self/statm") as f:
        virtual = int(f.read().split()[0]) * page
    resource.setrlimit(resource.RLIMIT_AS, (virtual + int(sys.argv[1]) * 2**20, resource.RLIM_INFINITY))
    def hang(*_):
        raise TimeoutError("still reading after the alarm")
    signal.signal(signal.SIGALRM, hang)
    outcomes = []
    for path in sys.argv[2:]:
        signal.alarm(5)
        try:
            persistence.load(path)
            outcomes.append("loaded")
        except BaseException as exc:
            outcomes.append(type(exc).__name__)
        signal.alarm(0)
    print(json.dumps(outcomes))
""")


def load_in_child(paths: list[Path], headroom_mb: int = 256) -> list[str]:
    """The exception name (or "loaded") of load() on each path, in a process allowed ``headroom_mb`` more memory."""
    env = {**os.environ, "PYTHONPATH": str(Path(persistence.__file__).parents[1])}
    result = subprocess.run([sys.executable, "-c", CHILD, str(headroom_mb), *map(str, paths)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@linux_only
def test_only_regular_files_of_bounded_size_are_read(tmp_path, saved_bytes):
    """A link to /dev/zero (read until memory ran out), a FIFO (blocked forever), a directory and a
    sparse file far larger than any model are refused before a byte is read: ModelFileError, nothing else."""
    zero = tmp_path / "zero.wp"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.wp"
    os.mkfifo(fifo)
    sparse = tmp_path / "sparse.wp"
    sparse.write_bytes(saved_bytes)
    os.truncate(sparse, model_file.MAX_FILE_BYTES + 1)  # a hole: no disk used
    good = tmp_path / "good.wp"
    good.write_bytes(saved_bytes)
    paths = [zero, fifo, tmp_path, sparse, good]
    assert load_in_child(paths) == ["ModelFileError"] * 4 + ["loaded"]


def test_the_size_limit_is_a_parameter(tmp_path, saved_bytes):
    path = tmp_path / "m.wp"
    path.write_bytes(saved_bytes)
    with pytest.raises(ModelFileError, match="max_bytes"):
        persistence.load(path, max_bytes=len(saved_bytes) - 1)
    assert isinstance(persistence.load(path, max_bytes=len(saved_bytes)), WorkloadPredictor)


def test_the_predictors_load_takes_the_size_limit_its_message_names(tmp_path, saved_bytes):
    """A file over the limit says "pass a larger max_bytes to load(...)"; before, WorkloadPredictor.load took no
    max_bytes (TypeError), so a predictor saved into a file over 1 GiB could only be read through persistence.load."""
    path = tmp_path / "m.wp"
    path.write_bytes(saved_bytes)
    with pytest.raises(ModelFileError, match="pass a larger max_bytes to load"):
        WorkloadPredictor.load(path, max_bytes=len(saved_bytes) - 1)
    assert isinstance(WorkloadPredictor.load(path, max_bytes=len(saved_bytes)), WorkloadPredictor)


def test_a_member_declaring_a_huge_shape_is_refused_before_allocating(saved_bytes):
    """shape (10**12,) on an 8-byte member raised MemoryError from numpy's reader."""
    members = archive_members(saved_bytes)
    name = first_float_member(members)
    members[name] = npy_header((10**12,)) + b"\0" * 8
    header, _ = split_file(saved_bytes)
    with pytest.raises(ModelFileError, match=r"declares shape \(1000000000000,\)"):
        persistence.loads(join_file(header, build_archive(members)))


@pytest.mark.parametrize("where", ["header", "state"])
def test_deep_nesting_is_a_model_file_error(saved_bytes, where):
    """60,000 '[' raised RecursionError from the JSON parser."""
    if where == "header":
        data = persistence.MAGIC + b"[" * 60_000 + b"\n"
    else:
        members = archive_members(saved_bytes)
        state = b"[" * 60_000
        members[f"{persistence.STATE_KEY}.npy"] = npy_header((len(state),), "|u1") + state
        header, _ = split_file(saved_bytes)
        data = join_file(header, build_archive(members))
    with pytest.raises(ModelFileError):
        persistence.loads(data)


# -- load(): sizes the file declares ---------------------------------------------------------------------
def _bomb_member(n_bytes: int) -> bytes:
    """An .npy of ``n_bytes`` of zeros, DEFLATE-compressed to about a thousandth of that."""
    return npy_header((n_bytes // 8,)) + bytes(n_bytes)


@linux_only
def test_a_compressed_member_is_refused_before_it_is_inflated(tmp_path, saved_bytes):
    """A 100 KB file whose member inflates to 64 MB (1.4 MB to 1.5 GB in the report): inflated before any check."""
    members = archive_members(saved_bytes)
    name = first_float_member(members)
    members[name] = _bomb_member(64 * 2**20)
    header, _ = split_file(saved_bytes)
    path = tmp_path / "bomb.wp"
    path.write_bytes(join_file(header, build_archive(members, compressed=frozenset({name}))))
    assert path.stat().st_size < 2 * 2**20
    assert load_in_child([path], headroom_mb=32) == ["ModelFileError"]
    with pytest.raises(ModelFileError, match="compressed|declares"):
        persistence.load(path)


def test_members_declaring_more_bytes_than_the_payload_are_refused(saved_bytes):
    """A zip directory may claim sizes its bytes do not hold (overlapping entries reuse the same data)."""
    members = archive_members(saved_bytes)
    payload = build_archive(members)
    directory = payload.rindex(b"PK\x01\x02")  # the last central directory entry
    forged = bytearray(payload)
    forged[directory + 24 : directory + 28] = (2**31).to_bytes(4, "little")  # uncompressed size
    header, _ = split_file(saved_bytes)
    with pytest.raises(ModelFileError):
        persistence.loads(join_file(header, bytes(forged)))


def test_a_forged_network_size_is_refused_before_the_network_is_built(saved_bytes, monkeypatch):
    """hidden_size 20,000 built a 6.4 GB network before the shape check; here 4,000 (256 MB) over 475 weights."""
    torch = pytest.importorskip("torch")
    from workload_predictor.models import lstm

    built = []
    real_init = lstm._PatchLSTM.__init__

    def spy(self, *sizes):
        built.append((sizes, str(torch.get_default_device())))
        real_init(self, *sizes)

    monkeypatch.setattr(lstm._PatchLSTM, "__init__", spy)

    def forge(state):
        weights = {"__dict__": [["lstm.weight_ih_l0", {"__array__": "net0"}]]}
        state["state"]["__dict__"].append(["network_", {"__torch__": "_PatchLSTM", "init": [4, 4000, 1, 3],
                                                         "state": weights}])
        return state

    def add_weights(state, arrays):
        arrays["net0"] = np.zeros((16, 4), dtype=np.float32)

    with pytest.raises(ModelFileError, match="network sizes"):
        persistence.loads(rewrite_state(saved_bytes, forge, add_weights))
    assert all(device == "meta" for _, device in built), built  # only shapes, no storage


@pytest.mark.parametrize("level_targets", [-1, 7])
def test_a_forged_network_level_shift_is_refused(level_targets):
    """The network's ``level_targets`` (how many targets' last values each window is read less of) must divide its
    patch inputs: any other value is a forged file (it broke the first forecast inside torch)."""
    pytest.importorskip("torch")
    saved = (Path(__file__).parent / "data" / "lstm_0.6.0.wpm").read_bytes()

    def networks(node):
        if isinstance(node, dict):
            if "__torch__" in node:
                yield node
            for value in node.values():
                yield from networks(value)
        elif isinstance(node, list):
            for value in node:
                yield from networks(value)

    def forge(state):
        (network,) = networks(state)
        network["init"] = network["init"][:4] + [level_targets]
        return state

    with pytest.raises(ModelFileError, match="level_targets|network sizes"):
        persistence.loads(rewrite_state(saved, forge))


def test_a_forged_network_size_of_zero_is_refused_without_a_warning_from_torch():
    """A network size of 0 (found by a sweep of every field's mutations of a single LSTM's and an ensemble's files):
    refused, but building its shapes made torch warn "Initializing zero-element tensors is a no-op" first."""
    pytest.importorskip("torch")
    saved = (Path(__file__).parent / "data" / "lstm_0.6.0.wpm").read_bytes()

    def forge(state):
        (network,) = [node for _, node in _nodes(state) if isinstance(node, dict) and "__torch__" in node]
        network["init"][3] = 0
        return state

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ModelFileError, match=r"network sizes \[4, 32, 1, 0\] do not match its stored weights"):
            persistence.loads(rewrite_state(saved, forge))


@pytest.mark.parametrize("dtype", [np.complex64, np.int32, np.bool_, "datetime64[ns]"])
def test_a_network_weight_of_another_kind_of_number_is_refused(dtype):
    """A network weight stored as complex numbers loaded with its imaginary part dropped (torch's UserWarning
    "Casting complex values to real discards the imaginary part", found by the model-file fuzz on a global fleet);
    integers and bools were cast to floats without a word, and dates raised torch's own TypeError: each is a file
    damaged or altered."""
    pytest.importorskip("torch")
    saved = (Path(__file__).parent / "data" / "lstm_0.6.0.wpm").read_bytes()
    named = []

    def find(state):
        text = json.dumps(state)
        named.append(re.search(r'"(lstm\.weight_ih_l0)", \{"__array__": "([^"]+)"\}', text).group(2))
        return state

    def retype(state, arrays):
        arrays[named[0]] = arrays[named[0]].astype(dtype)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cast's warning is no refusal
        with pytest.raises(ModelFileError, match=r"network weight 'lstm\.weight_ih_l0' holds values of dtype \S+, where the "
                                                 r"network holds float32"):
            persistence.loads(rewrite_state(saved, find, retype))


@pytest.mark.parametrize("name,value,message", [
    ("horizon", 3_000_000, "horizon"),  # 300,000,000 returned a Forecast of 3e8 stamps and 10 values
    ("model", "lstm", "says model='lstm' but holds a DLinear"),
    ("model", "os.system", "names the model"),
])
def test_forged_predictor_parameters_are_refused(saved_bytes, name, value, message):
    def forge(state):
        for pair in state["params"]["__dict__"]:
            if pair[0] == name:
                pair[1] = value
        if name == "horizon":
            for pair in _dlinear_node(state)["params"]["__dict__"]:
                if pair[0] == "horizon":
                    pair[1] = value
        return state

    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(saved_bytes, forge))


@pytest.mark.parametrize("name,value,message", [
    ("confidence_", float("nan"), "confidence nan"),  # NaN silenced the accuracy alert
    ("confidence_", 1.5, "confidence 1.5"),
    ("predict_seconds_", {"__deque__": [], "maxlen": None}, "predict timings"),  # an unbounded buffer
    ("predict_seconds_", {"__deque__": [], "maxlen": 10**12}, "predict timings"),
])
def test_forged_predictor_state_is_refused(saved_bytes, name, value, message):
    def forge(state):
        for pair in state["state"]["__dict__"]:
            if pair[0] == name:
                pair[1] = value
        return state

    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(saved_bytes, forge))


def _pairs(node):
    """The [name, value] pairs of an object node's state."""
    return node["state"]["__dict__"]


def _set(pairs, name, value):
    for pair in pairs:
        if pair[0] == name:
            pair[1] = value(pair[1]) if callable(value) else value
            return
    raise AssertionError(f"no {name} in the saved state")


def _get(pairs, name):
    return next(value for key, value in pairs if key == name)


def _edit_array(where, name, edit):
    """A ``change_arrays`` for rewrite_state: ``edit`` the array that attribute ``name`` of ``where(state)`` names."""
    def change(state, arrays):
        key = _get(where(state), name)["__array__"]
        arrays[key] = edit(arrays[key].copy())
    return change


def _predictor_pairs(state):
    return _pairs(state)


def _dlinear_pairs(state):
    return _pairs(_dlinear_node(state))


def _stamp_in(offset):
    """A state edit writing the same instant as last_timestamp_ at another UTC offset (None: naive)."""
    def edit(value):
        stamp = pd.Timestamp(value["__timestamp__"])
        stamp = stamp.tz_localize(None) if offset is None else stamp.tz_convert(offset)
        return {"__timestamp__": stamp.isoformat()}
    return edit


def _series_tz(tz):
    def edit(value):
        value["fields"]["index"]["tz"] = tz
        return value
    return edit


# (which object's state, attribute, new JSON value or edit, array edit or None, message)
FORGED_STATE = {
    "negative halfwidth": (_predictor_pairs, "interval_halfwidth_", None, lambda a: -a - 1.0,
                           "interval_halfwidth_ with negative"),
    "NaN halfwidth": (_predictor_pairs, "interval_halfwidth_", None, lambda a: a * np.nan, "non-finite widths"),
    "infinite halfwidth": (_predictor_pairs, "interval_halfwidth_", None, lambda a: a + np.inf, "non-finite widths"),
    "negative validation MAE": (_predictor_pairs, "validation_mae_", None, lambda a: -a - 1.0, "validation_mae_"),
    "NaN validation actual": (_dlinear_pairs, "validation_actual_", None, lambda a: a * np.nan,
                              "DLinear's validation_actual_"),
    "negative validation actual": (_dlinear_pairs, "validation_actual_", None, lambda a: -a - 1.0,
                                   "DLinear's validation_actual_ with negative"),
    "infinite validation forecast": (_dlinear_pairs, "validation_forecast_", None, lambda a: a + np.inf,
                                     "DLinear's validation_forecast_"),
    "freq_ negative": (_predictor_pairs, "freq_", {"__timedelta__": "-P0DT0H0M10S"}, None, "freq_="),
    "freq_ zero": (_predictor_pairs, "freq_", {"__timedelta__": "P0DT0H0M0S"}, None, "freq_="),
    "freq_ not a span": (_predictor_pairs, "freq_", "10s", None, "freq_="),
    "last_timestamp_ at +01:00": (_predictor_pairs, "last_timestamp_", _stamp_in("Etc/GMT-1"), None,
                                  "last_timestamp_=.*not a UTC timestamp"),
    "last_timestamp_ in US/Eastern": (_predictor_pairs, "last_timestamp_", _stamp_in("US/Eastern"), None,
                                      "not a UTC timestamp"),
    "last_timestamp_ naive": (_predictor_pairs, "last_timestamp_", _stamp_in(None), None, "not a UTC timestamp"),
    "history index at +01:00": (_predictor_pairs, "series_", _series_tz("Etc/GMT-1"), None, "UTC timestamps"),
    "history bucket width": (_predictor_pairs, "series_",
                             lambda v: {**v, "fields": {**v["fields"], "freq": {"__timedelta__": "P0DT0H0M20S"}}},
                             None, "bucket width"),
    "anomaly at +01:00": (_predictor_pairs, "input_anomalies_",
                          {"__deque__": [{"__tuple__": [{"__timestamp__": "2024-01-01T01:00:00+01:00"}, "requests",
                                                        1.0, 1.0]}], "maxlen": 100}, None, "UTC timestamp"),
    "n_updates_ a string": (_predictor_pairs, "n_updates_", "abc", None, "n_updates_='abc'"),
    "n_updates_ negative": (_predictor_pairs, "n_updates_", -1, None, "n_updates_=-1"),
    "n_updates_ a float": (_predictor_pairs, "n_updates_", 1.5, None, "n_updates_=1.5"),
    "n_updates_ a bool": (_predictor_pairs, "n_updates_", True, None, "n_updates_=True"),
    "n_validation_windows_ negative": (_predictor_pairs, "n_validation_windows_", -3, None, "n_validation_windows_"),
    "n_calibration_windows_ a string": (_predictor_pairs, "n_calibration_windows_", "41", None,
                                        "n_calibration_windows_"),
    "interval_exact_ a string": (_predictor_pairs, "interval_exact_", "yes", None, "interval_exact_"),
    "interval_level_ above 1": (_predictor_pairs, "interval_level_", 5.0, None, "interval_level_=5.0"),
    "interval_level_ a string": (_predictor_pairs, "interval_level_", "0.9", None, "interval_level_='0.9'"),
}


@pytest.mark.parametrize("case", list(FORGED_STATE))
def test_forged_state_that_no_fit_produces_is_refused(saved_bytes, case):
    """A file whose checksum was recomputed over state no fit produces (a negative interval, a bucket width <= 0, a
    timestamp that is not UTC, a counter that is not a count) is refused on load, naming what is wrong: it loaded,
    then forecast lower > yhat > upper, went backwards in time, or failed at the first update."""
    where, name, value, edit_array, message = FORGED_STATE[case]

    def forge(state):
        if value is not None:
            _set(where(state), name, value)
        return state

    forged = rewrite_state(saved_bytes, forge, None if edit_array is None else _edit_array(where, name, edit_array))
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(forged)


FORGED_PARAMETERS = [
    ("level", 5, "level=5 must be a coverage"),
    ("level", 0.0, "level=0.0"),
    ("level", 1.0, "level=1.0"),
    ("level", float("nan"), "level=nan"),
    ("level", "0.9", "level='0.9'"),
    ("max_gap", "zzz", "max_gap='zzz'"),
    ("max_gap", -1, "max_gap=-1"),
    ("memory_limit_mb", "zzz", "memory_limit_mb='zzz'"),
    ("memory_limit_mb", -5, "memory_limit_mb=-5"),
    ("memory_limit_mb", 0, "memory_limit_mb=0"),
    ("max_training_time", -1, "max_training_time=-1"),
    ("max_training_time", "zzz", "max_training_time='zzz'"),
    ("model_params", {"__dict__": [["no_such_parameter", 1]]}, "model_params has 'no_such_parameter'"),
]


@pytest.mark.parametrize("name,value,message", FORGED_PARAMETERS)
def test_forged_parameters_that_fit_refuses_are_refused_on_load(saved_bytes, name, value, message):
    """A file's parameters pass the checks a user's pass at fit and update: one they refuse is refused on load
    (it loaded, then made Forecast.level 5 or failed at the first update)."""
    def forge(state):
        for pair in state["params"]["__dict__"]:
            if pair[0] == name:
                pair[1] = value
        return state

    with pytest.raises(ModelFileError, match=f"parameter that fit or update refuses.*{message}"):
        persistence.loads(rewrite_state(saved_bytes, forge))


@pytest.mark.parametrize("path", [None, 3, 2.5, ["model.wp"], object()])
@pytest.mark.parametrize("load", [WorkloadPredictor.load, FleetPredictor.load, persistence.load])
def test_a_path_that_is_not_a_path_is_a_model_file_error(load, path):
    """load(None) and load(3) raised a TypeError from os.open; the README promises ModelFileError."""
    with pytest.raises(ModelFileError, match="is not a path"):
        load(path)


def test_a_path_with_a_nul_character_is_a_model_file_error():
    with pytest.raises(ModelFileError, match="not a valid path"):
        WorkloadPredictor.load("model\0.wp")


def test_str_and_pathlike_paths_load_the_same(tmp_path, saved_bytes):
    path = tmp_path / "model.wp"
    path.write_bytes(saved_bytes)
    by_str, by_path = WorkloadPredictor.load(str(path)), WorkloadPredictor.load(path)
    np.testing.assert_array_equal(by_str.predict().upper, by_path.predict().upper)


# -- the fleet's file: the same checks where it holds the same state -----------------------------
def _fleet_frame() -> pd.DataFrame:
    return pd.concat([periodic_series(300, noise=2.0, seed=seed).assign(endpoint=f"k{seed}") for seed in range(3)],
                     ignore_index=True)


@pytest.fixture(scope="module")
def fleet_bytes() -> dict[str, bytes]:
    frame = _fleet_frame()
    return {model: persistence.dumps(FleetPredictor(model=model, horizon=5).fit(frame, key="endpoint"))
            for model in ("dlinear", "naive")}


def _fleet_load(data: bytes, tmp_path: Path):
    path = tmp_path / "fleet.wp"
    path.write_bytes(data)
    return FleetPredictor.load(path)


def _fleet_node(state, kind):
    for _, node in _nodes(state):
        if isinstance(node, dict) and node.get("__dataclass__") == kind:
            return node
    raise AssertionError(f"no {kind} in the saved fleet")


def _first_key_predictor(state):
    for _, node in _nodes(state):
        if isinstance(node, dict) and node.get("__object__") == "WorkloadPredictor":
            return node
    raise AssertionError("no per-key predictor in the saved fleet")


def test_valid_fleet_files_still_load(fleet_bytes, tmp_path):
    for data in fleet_bytes.values():
        assert np.isfinite(_fleet_load(data, tmp_path).predict()[["yhat", "upper"]].to_numpy()).all()


def _block_halfwidth(edit):
    def change(state, arrays):
        key = _fleet_node(state, "FleetBlock")["fields"]["halfwidth"]["__array__"]
        arrays[key] = edit(arrays[key].copy())
    return change


@pytest.mark.parametrize("model,forge,change_arrays,message", [
    ("dlinear", None, _block_halfwidth(lambda a: -a - 1.0), "half-widths that are negative"),
    ("dlinear", None, _block_halfwidth(lambda a: a * np.nan), "half-widths that are negative or non-finite"),
    ("dlinear", lambda s: _fleet_node(s, "FleetBlock")["fields"].update(freq={"__timedelta__": "-P0DT0H1M0S"}),
     None, "bucket width"),
    ("dlinear", lambda s: _set(s["params"]["__dict__"], "level", 5), None, "level=5"),
    ("dlinear", lambda s: _set(s["params"]["__dict__"], "max_gap", "zzz"), None, "max_gap='zzz'"),
    ("dlinear", lambda s: _set(s["params"]["__dict__"], "memory_limit_mb", "zzz"), None, "memory_limit_mb='zzz'"),
    ("dlinear", lambda s: _set(s["params"]["__dict__"], "max_training_time", -1), None, "max_training_time=-1"),
    ("naive", lambda s: _set(_pairs(_first_key_predictor(s)), "last_timestamp_", _stamp_in("Etc/GMT-1")), None,
     "key 'k0'.*not a UTC timestamp"),
    ("naive", lambda s: _set(_pairs(_first_key_predictor(s)), "n_updates_", "abc"), None, "key 'k0'.*n_updates_"),
    ("naive", lambda s: _set(_pairs(_first_key_predictor(s)), "freq_", {"__timedelta__": "-P0DT0H1M0S"}), None,
     "key 'k0'.*freq_="),
])
def test_forged_fleet_files_are_refused(fleet_bytes, tmp_path, model, forge, change_arrays, message):
    def change(state):
        if forge is not None:
            forge(state)
        return state

    with pytest.raises(ModelFileError, match=message):
        _fleet_load(rewrite_state(fleet_bytes[model], change, change_arrays), tmp_path)


@pytest.fixture(scope="module")
def fitted_fleets() -> dict[str, FleetPredictor]:
    frame = _fleet_frame()
    return {model: FleetPredictor(model=model, horizon=5).fit(frame, key="endpoint") for model in ("dlinear", "naive")}


def _set_values(block, row, value):
    block.values[row, 0, 0] = value  # the oldest bucket: outside the window a forecast reads


def _forge_fitted(fleet, **changes):
    fleet.fitted_params_ = {**fleet.fitted_params_, **changes}


@pytest.mark.parametrize("model,forge,message", [
    ("dlinear", lambda f: _set_values(f._blocks[0], 0, np.nan), "series with negative or non-finite loads"),
    ("dlinear", lambda f: _set_values(f._blocks[0], 1, -4.0), "series with negative or non-finite loads"),
    ("dlinear", lambda f: f.keys_.append("zz"), "lists 4 keys in keys_ .* holds the state of 3"),
    ("dlinear", lambda f: f.keys_.__setitem__(1, "k0"), r"lists 3 keys in keys_ \(2 distinct\)"),
    ("naive", lambda f: f.keys_.pop(), "lists 2 keys in keys_ .* holds the state of 3"),
    ("dlinear", lambda f: f._blocks[0].confidence.__setitem__(0, 5.0), "confidences that are not scores in"),
    ("dlinear", lambda f: f._blocks[0].confidence_by_target.__setitem__((0, 0), -0.5), "confidences that are not"),
    ("dlinear", lambda f: f._blocks[0].window.__setitem__(0, 10**6), "windows that are not between 1 and"),
    ("dlinear", lambda f: setattr(f._blocks[0], "offset", f._blocks[0].offset[:2]), "offset of shape"),
    ("dlinear", lambda f: f._blocks[0].coef.__setitem__((0, 0, -1, 0), np.inf), "weights or scales that are non-fin"),
    ("dlinear", lambda f: _forge_fitted(f, horizon=8), "says horizon=5 but was fitted with horizon=8"),
    ("dlinear", lambda f: _forge_fitted(f, level=7), "level=7"),
    ("dlinear", lambda f: setattr(f, "errors_", {"k1": ["WorkloadDataError", "x"]}), "'k1' both as fitted and in errors_"),
])
def test_fleet_state_no_fit_produces_is_refused_at_load(fitted_fleets, tmp_path, model, forge, message):
    """A fleet file whose checksum is valid but whose state no fit produces (a forged or resealed file) is refused
    at load: it never loads to forecast NaN after its first update, nor to crash in a property."""
    import copy

    fleet = copy.deepcopy(fitted_fleets[model])
    forge(fleet)
    with pytest.raises(ModelFileError, match=message):
        _fleet_load(persistence.dumps(fleet), tmp_path)


def test_a_fleet_file_declaring_a_huge_horizon_is_refused_before_anything_is_allocated(fitted_fleets, tmp_path):
    import copy
    import tracemalloc

    fleet = copy.deepcopy(fitted_fleets["dlinear"])
    fleet.horizon = 10**9  # parameters and fitted settings agree; the stored arrays are for horizon 5
    _forge_fitted(fleet, horizon=10**9)
    data = persistence.dumps(fleet)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"weights of 3 keys in an array of shape \(3, 1, \d+, 5\)"):
            _fleet_load(data, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # the 15 GiB point forecast is never allocated


def test_a_fleet_file_saved_before_the_fitted_settings_were_recorded_loads(fitted_fleets, tmp_path):
    import copy

    fleet = copy.deepcopy(fitted_fleets["dlinear"])
    del fleet.fitted_params_
    loaded = _fleet_load(persistence.dumps(fleet), tmp_path)
    pd.testing.assert_frame_equal(loaded.predict(), fitted_fleets["dlinear"].predict())
    assert loaded.save(tmp_path / "again.wp").exists()


@pytest.fixture(scope="module")
def flagged_fleet() -> FleetPredictor:
    """A DLinear fleet whose keys' windows hold a burst the series came back from: its blocks keep flagged buckets."""
    frame = _fleet_frame()
    for key, at in (("k0", 290), ("k1", 280)):
        rows = np.flatnonzero(frame["endpoint"].to_numpy() == key)
        frame.loc[rows[[at, at + 3]], "requests"] = 1e6
    fleet = FleetPredictor(model="dlinear", horizon=5).fit(frame, key="endpoint")
    assert len(fleet._blocks[0].flag_at) >= 4 and fleet._blocks[0].settled_inputs()  # the flags matter
    return fleet


def _flag_rows(block, rows):
    block.flag_at = block.flag_at[rows]
    block.flag_median = block.flag_median[rows]


def _set_flag(block, row, col, value):
    block.flag_at = block.flag_at.copy()
    block.flag_at[row, col] = value


@pytest.mark.parametrize("forge,message", [
    (lambda b: _set_flag(b, 0, 0, 3), "flagged bucket outside its 3 keys' windows"),
    (lambda b: _set_flag(b, 0, 0, -1), "flagged bucket outside"),
    (lambda b: _set_flag(b, -1, 1, 300), "flagged bucket outside .* of 300 buckets"),
    (lambda b: _set_flag(b, 0, 1, 0), "flagged bucket outside"),  # before the window and its reference: unread
    (lambda b: _set_flag(b, 0, 2, 1), "flagged bucket outside .* and 1 target"),
    (lambda b: _flag_rows(b, [1, 0, *range(2, len(b.flag_at))]), "flagged buckets that are not rows .* in order"),
    (lambda b: _flag_rows(b, [0, 0, *range(1, len(b.flag_at))]), "flagged buckets that are not rows .* in order"),
    (lambda b: _flag_rows(b, np.repeat(np.arange(len(b.flag_at)), 3 * 300)), r"flagged buckets of shapes \(\d+, 3\)"),
    (lambda b: b.flag_median.__setitem__(0, -1.0), "flagged buckets that are not .* medians \\(loads\\)"),
    (lambda b: b.flag_median.__setitem__(0, np.nan), "flagged buckets that are not"),
    (lambda b: b.flag_median.__setitem__(0, 1e300), "flagged buckets that are not"),
    (lambda b: setattr(b, "flag_median", b.flag_median[1:]), "flagged buckets of shapes"),
    (lambda b: setattr(b, "flag_median", None), "flagged buckets of shapes"),
    (lambda b: setattr(b, "flag_at", None), "flagged buckets of shapes"),
    (lambda b: setattr(b, "flag_at", b.flag_at.astype(np.float64)), "flagged buckets of shapes"),
    (lambda b: setattr(b, "flag_at", b.flag_at[:, :2].copy()), "flagged buckets of shapes"),
    (lambda b: setattr(b, "flag_median", b.flag_median.astype(np.float32)), "flagged buckets of shapes"),
])
def test_a_blocks_flagged_buckets_no_fit_keeps_are_refused_at_load(flagged_fleet, tmp_path, forge, message):
    """The flagged buckets a block's forecast reads (saved so a loaded fleet reads the fit's): each a key's bucket
    and target among its window and the reference before it, in order, once, with a load as its median."""
    import copy

    fleet = copy.deepcopy(flagged_fleet)
    forge(fleet._blocks[0])
    with pytest.raises(ModelFileError, match=message):
        _fleet_load(persistence.dumps(fleet), tmp_path)


def test_a_fleet_file_with_its_blocks_flagged_buckets_loads_and_reads_them(flagged_fleet, tmp_path):
    loaded = _fleet_load(persistence.dumps(flagged_fleet), tmp_path)
    block, saved = loaded._blocks[0], flagged_fleet._blocks[0]
    np.testing.assert_array_equal(block.flag_at, saved.flag_at)
    np.testing.assert_array_equal(block.flag_median, saved.flag_median)
    pd.testing.assert_frame_equal(loaded.predict(), flagged_fleet.predict())


def test_a_global_fleet_file_with_state_no_fit_produces_is_refused(tmp_path):
    pytest.importorskip("torch")
    frame = _fleet_frame()
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(frame, key="endpoint")
    fleet._global.model.recent_[0][0, 0] = np.nan  # what the next update reads, not the forecast
    with pytest.raises(ModelFileError, match="global network's kept points"):
        _fleet_load(persistence.dumps(fleet), tmp_path)
    fleet._global.model.recent_[0][0, 0] = 1.0
    fleet._global.confidence[0] = 2.0
    with pytest.raises(ModelFileError, match="confidences that are not scores"):
        _fleet_load(persistence.dumps(fleet), tmp_path)



@pytest.mark.parametrize("name, value, message", [
    ("n_seen_", None, "global network's n_seen_"),
    ("n_seen_", -1, "global network's n_seen_"),
    ("n_seen_", np.array([1, 2, 3]), "global network's n_seen_"),  # fewer than the points each key keeps
    ("validation_origins_", None, "global network's validation_origins_"),
    ("validation_origins_", [np.array([3, 2, 1])] * 3, "global network's validation_origins_"),
    ("recent_weights_", -1, "global network's recent_weights_"),
    ("recent_weights_", [np.full((2, 1), 7.0)] * 3, "global network's recent_weights_"),
    # update: TypeError inside the memory estimate or the base's solve
    ("hidden_size", None, "settings its fit refuses .*hidden_size=None"),
    ("num_layers", "2", "settings its fit refuses .*num_layers='2'"),
    ("ridge", "x", "settings its fit refuses .*ridge='x'"),
    ("scale_", lambda a: a.astype(complex), "global network's scale_"),  # update: UFuncTypeError (complex128)
    ("base_gram_", lambda a: a * np.nan, "global network's base_gram_"),  # NaN forecasts after the update
    # state no fit produces (they loaded and updated)
    ("scale_", lambda a: -a, "global network's scale_"),
    ("ridge", float("inf"), "settings its fit refuses .*ridge=inf"),
])
def test_a_global_fleet_file_missing_what_its_update_reads_is_refused(tmp_path, name, value, message):
    """Before: these loaded (the forecast does not read them) and the first update failed inside numpy
    ("'NoneType' object is not iterable", "zero-dimensional arrays cannot be concatenated", ...)."""
    pytest.importorskip("torch")
    frame = _fleet_frame()
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(frame, key="endpoint")
    model = fleet._global.model
    setattr(model, name, value(getattr(model, name)) if callable(value) else value)
    with pytest.raises(ModelFileError, match=message):
        _fleet_load(persistence.dumps(fleet), tmp_path)

def _dlinear_of(predictor):
    return predictor.model_


@pytest.mark.parametrize("forge,message", [
    (lambda m: m.stats_[0].sum_x.__setitem__(0, np.nan), "DLinear window statistics"),
    (lambda m: setattr(m.stats_[0], "xx", m.stats_[0].xx[:-1]), "DLinear window statistics"),
    (lambda m: setattr(m.stats_[0], "count", -1.0), "DLinear window statistics"),
    (lambda m: setattr(next(iter(m.ridge_[0].values())), "lam", float("nan")), "DLinear ridge systems"),
    (lambda m: setattr(m, "ridge_", {}), "DLinear ridge systems"),
    (lambda m: m.recent_.__setitem__((0, 0), np.nan), "DLinear's recent_"),
    (lambda m: m.recent_.__setitem__((0, 0), -1.0), "DLinear's recent_"),
    (lambda m: setattr(m, "n_seen_", 3), "n_seen_=3"),
    (lambda m: setattr(m, "alpha_", float("inf")), "alpha_=inf"),
    (lambda m: setattr(m, "rank_one_steps_", -1), "rank_one_steps_=-1"),
])
def test_dlinear_state_an_update_reads_is_checked_at_load(forge, message):
    """The load-time forecast reads neither the statistics nor the ridge systems nor the kept points, but update does:
    NaN there gave NaN forecasts after the first update, with a confidence of 0.86."""
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0))
    forge(_dlinear_of(predictor))
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(persistence.dumps(predictor))


def test_a_loaded_predictor_keeps_a_bounded_timing_buffer(saved_bytes):
    from workload_predictor.predictor import PREDICT_TIMINGS

    loaded = persistence.loads(saved_bytes)
    assert isinstance(loaded.predict_seconds_, collections.deque)
    assert loaded.predict_seconds_.maxlen == PREDICT_TIMINGS


# -- save(): durable, keeps the mode, cleans up after a crash ---------------------------------------------
@pytest.fixture(scope="module")
def small_predictor() -> WorkloadPredictor:
    return WorkloadPredictor(horizon=3).fit(periodic_series(200))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path, small_predictor):
    path = tmp_path / "m.wp"
    small_predictor.save(path)
    for mode in (0o644, 0o640, 0o600):
        os.chmod(path, mode)
        small_predictor.save(path)
        assert stat.S_IMODE(path.stat().st_mode) == mode  # mkstemp made every save 0600


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_a_new_file_gets_the_umask_default(tmp_path, small_predictor):
    old = os.umask(0o027)
    try:
        small_predictor.save(tmp_path / "new.wp")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.wp").stat().st_mode) == 0o640


def test_save_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path, small_predictor, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src, dst):
        events.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    small_predictor.save(tmp_path / "m.wp")
    expected = ["fsync file", "rename", "fsync dir"] if os.name == "posix" else ["fsync file", "rename"]
    assert events == expected


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_a_save_killed_mid_write_leaves_nothing_after_the_next_save(tmp_path, small_predictor):
    """The killed save's temporary file stays (nothing can remove it then); the next save removes it."""
    path = tmp_path / "m.wp"
    small_predictor.save(path)
    code = textwrap.dedent(f"""
        import os, signal
        from workload_predictor import WorkloadPredictor
        predictor = WorkloadPredictor.load({str(path)!r})
        os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)  # killed between the write and the rename
        predictor.save({str(path)!r})
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(persistence.__file__).parents[1])}
    killed = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert len(os.listdir(tmp_path)) == 2  # the model and the orphan
    small_predictor.save(path)
    assert os.listdir(tmp_path) == ["m.wp"]
    WorkloadPredictor.load(path)


def test_save_leaves_the_temporaries_of_running_saves_alone(tmp_path, small_predictor):
    path = tmp_path / "m.wp"
    alive = tmp_path / f".m.wp.tmp-{os.getppid()}-0000"  # a process that runs: its save is in progress
    alive.write_bytes(b"partial")
    small_predictor.save(path)
    assert sorted(os.listdir(tmp_path)) == sorted([alive.name, "m.wp"])


@pytest.mark.parametrize("member", ["moving_average", "seasonal_naive", "moving_median"])
@pytest.mark.parametrize("excess", [1, 10**9])
def test_an_ensemble_member_reading_more_points_than_the_ensemble_keeps_is_refused(tmp_path, member, excess):
    """A member's window longer than the context the ensemble keeps read indices before the context's start: a
    few points more forecast from the wrong end of the series (numpy's negative indices wrap), 10**9 more gathered
    7.45 GiB of indices at load's forecast check. Each member's window is checked against the context first."""
    predictor = WorkloadPredictor(model="ensemble", horizon=5,
                                  model_params={"members": ("dlinear", "naive", member)}).fit(periodic_series(600))
    model = predictor.model_
    model.members_[member].window_ = model.window_ + excess
    path = tmp_path / "forged.wp"
    predictor.save(path)
    with pytest.raises(ModelFileError, match=f"{member}.* reads {model.window_ + excess} points"):
        WorkloadPredictor.load(path)


@pytest.mark.parametrize("member", ["moving_average", "moving_median"])
@pytest.mark.parametrize("forged", ["5", 2.5])
def test_an_ensemble_members_window_must_be_stored_as_a_count(tmp_path, member, forged):
    """A window stored as text or a fraction passed the check on what the member reads (int() turned it into one),
    loaded, and its first update raised a TypeError deep inside numpy (found by review)."""
    predictor = WorkloadPredictor(model="ensemble", horizon=5,
                                  model_params={"members": ("dlinear", "naive", member)}).fit(periodic_series(600))
    predictor.model_.members_[member].window_ = forged
    path = tmp_path / "forged.wp"
    predictor.save(path)
    with pytest.raises(ModelFileError, match=f"{member}"):
        WorkloadPredictor.load(path)


@pytest.mark.parametrize("model", ["moving_average", "dlinear", "moving_median"])
def test_a_model_keeping_fewer_points_than_an_update_reads_is_refused(tmp_path, model):
    """recent_ shorter than the window plus the horizon less one passed the load (only an empty one was refused);
    the first update then raised IndexError inside numpy."""
    predictor = WorkloadPredictor(model=model, horizon=5).fit(periodic_series(400))
    predictor.model_.recent_ = predictor.model_.recent_[-4:]
    predictor.model_.n_seen_ = 4
    path = predictor.save(tmp_path / "forged.wp")
    with pytest.raises(ModelFileError, match=f"keeps 4 points in its {type(predictor.model_).__name__}'s recent_"):
        WorkloadPredictor.load(path)


def test_an_ensemble_member_keeping_fewer_points_than_its_update_reads_is_refused(tmp_path):
    predictor = WorkloadPredictor(model="ensemble", horizon=5,
                                  model_params={"members": ("dlinear", "naive", "moving_median")}).fit(
        periodic_series(600))
    member = predictor.model_.members_["moving_median"]
    member.recent_ = member.recent_[-member.context_length() :]
    path = predictor.save(tmp_path / "forged.wp")
    with pytest.raises(ModelFileError, match="MovingMedian's recent_, fewer than the window"):
        WorkloadPredictor.load(path)


def test_a_model_file_on_its_own_gets_the_predictors_model_checks(tmp_path):
    """persistence.load takes "a predictor or a model"; a model file on its own was not checked at all."""
    model = WorkloadPredictor(horizon=5).fit(periodic_series(400)).model_
    model.recent_ = model.recent_[-3:]
    path = tmp_path / "dlinear.wp"
    persistence.save(model, path)
    with pytest.raises(ModelFileError, match="the model file's DLinear keeps 3 points in its DLinear's recent_"):
        persistence.load(path)


# -- review 5: an LSTM's network reads the model's window in its patches and forecasts its horizon -------------------

@pytest.fixture(scope="module")
def lstm_predictor() -> WorkloadPredictor:
    pytest.importorskip("torch")
    return WorkloadPredictor(model="lstm", horizon=5, random_state=0,
                             model_params={"max_epochs": 1, "hidden_size": 4}).fit(periodic_series(600))


def _replace_head(network, outputs):
    """A network whose head forecasts ``outputs`` values (its arguments and weights agree with each other)."""
    import torch

    network.head = torch.nn.Linear(network.head.in_features, outputs)
    network.init_args_.update(outputs=outputs)


@pytest.mark.parametrize("forge, message", [
    (lambda m: setattr(m, "patch_size_", m.window_), "network of 10 inputs per patch"),
    (lambda m: setattr(m, "patch_size_", 0), "in patches of 0"),
    (lambda m: setattr(m, "patch_size_", m.patch_size_ + 1), "not a positive number of whole patches"),
    (lambda m: m.network_.init_args_.update(level_targets=2), "level_targets=2"),
    (lambda m: _replace_head(m.network_, 4), "4 outputs"),
])
def test_an_lstm_network_that_disagrees_with_its_window_patches_or_horizon_is_refused(lstm_predictor, tmp_path, forge,
                                                                                      message):
    """Before: with correction_share_ = 0 (a value fits produce) a forecast never runs the network, so a file whose
    patch_size_ disagreed with the network loaded and predicted, and its first update failed inside torch
    (RuntimeError: input.size(-1) must be equal to input_size; ZeroDivisionError for patch_size_ = 0)."""
    import copy

    predictor = copy.deepcopy(lstm_predictor)
    predictor.model_.correction_share_ = 0.0
    forge(predictor.model_)
    path = predictor.save(tmp_path / "forged.wp")
    with pytest.raises(ModelFileError, match=message):
        WorkloadPredictor.load(path)


def test_a_valid_lstm_file_with_no_correction_still_loads_and_updates(lstm_predictor, tmp_path):
    import copy

    predictor = copy.deepcopy(lstm_predictor)
    predictor.model_.correction_share_ = 0.0
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "valid.wp"))
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)


@pytest.mark.parametrize("forge, message", [
    (lambda m: setattr(m, "patch_size_", m.window_), "GlobalLSTM network of 2 inputs per patch"),
    (lambda m: setattr(m, "window_", m.window_ + 1), "whole patches"),
    (lambda m: setattr(m, "base_coef_", m.base_coef_[:-1]), "base_coef_ of shape"),
    (lambda m: setattr(m, "base_gram_", m.base_gram_[:-1, :-1]), "base_gram_ of shape"),
])
def test_a_global_network_that_disagrees_with_its_window_or_base_is_refused(tmp_path, forge, message):
    pytest.importorskip("torch")
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(_fleet_frame(),
                                                                                               key="endpoint")
    forge(fleet._global.model)
    with pytest.raises(ModelFileError, match=message):
        _fleet_load(persistence.dumps(fleet), tmp_path)


# -- state an update, health or a second save reads: checked at load (adversarial review) ------------------------
def _attr_pair(node, name):
    """The ``[name, value]`` pair of an object node's state (appended, as a file of another version would hold it,
    where absent)."""
    pairs = node["state"]["__dict__"]
    for pair in pairs:
        if pair[0] == name:
            return pair
    pairs.append([name, None])
    return pairs[-1]


def _param_pair(node, name):
    return next(pair for pair in node["params"]["__dict__"] if pair[0] == name)


def _object_node(state, name):
    return next(node for _, node in _nodes(state) if isinstance(node, dict) and node.get("__object__") == name)


def _forge_attr(owner, name, value):
    """A change for ``rewrite_state``: the attribute ``name`` of the first ``owner`` object set to ``value``."""
    def change(state):
        _attr_pair(_object_node(state, owner), name)[1] = value
        return state
    return change


def _forge_array(owner, name, edit):
    """A ``change_arrays`` for ``rewrite_state``: the array of ``owner``'s attribute ``name`` passed through ``edit``."""
    def change(state, arrays):
        key = _attr_pair(_object_node(state, owner), name)[1]["__array__"]
        arrays[key] = edit(arrays[key])
    return change


def _unchanged(state):
    return state


def test_an_array_named_many_times_is_read_once(saved_bytes):
    """A few bytes of state naming one 1.6 MB array 60 times read it 60 times (96 MB; 250,000 names of a small one
    took 46 s): each array is stored once, so a second reference is refused before it is read."""
    def forge(state):
        _attr_pair(state, "zz_extra_")[1] = [{"__array__": "big"} for _ in range(60)]
        return state

    def add_big(state, arrays):
        arrays["big"] = np.ones(200_000)

    import tracemalloc

    data = rewrite_state(saved_bytes, forge, add_big)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="refers to the array 'big' more than once"):
            persistence.loads(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize("name,value,message", [
    ("fit_seconds_", "abc", "fit_seconds_='abc', not a finite number of seconds"),  # health: ValueError in float()
    ("fit_seconds_", None, "fit_seconds_=None, not a finite number of seconds"),  # health: TypeError
    ("predict_seconds_", {"__deque__": ["x", [1]], "maxlen": 100}, "predict timings"),  # health: np.percentile
    ("time_limited_stages_", 5, "time_limited_stages_=5, not a tuple of stage names"),  # health: int not iterable
])
def test_state_health_reads_is_checked_at_load(saved_bytes, name, value, message):
    """These loaded, forecast and saved, then health() failed with a TypeError or ValueError of float() or numpy."""
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(saved_bytes, _forge_attr("WorkloadPredictor", name, value)))


@pytest.mark.parametrize("name,value,message", [
    # update: KeyError 7 (the blend names a window no ridge system is kept for), TypeError (a window named "48")
    ("window_weights_", {"__dict__": [[48, 0.5], [24, 0.3], [12, 0.1], [7, 0.1]]}, "DLinear window weights"),
    ("window_weights_", {"__dict__": [["48", 1.0]]}, "DLinear window weights"),
    ("window_weights_", {"__dict__": [[10**8, 1.0]]}, "DLinear window weights"),
    ("penalty_rates_", 5, "DLinear penalty rates"),  # read by an update with half_life
    ("validation_origins_", "x", "validation_origins_ of shape"),  # update: ValueError of np.concatenate
    ("n_seen_", 10**30, "n_seen_=1000.*, more than"),  # update: OverflowError (C long)
])
def test_dlinear_state_an_update_reads_is_checked_at_load_too(saved_bytes, name, value, message):
    """These loaded and forecast; update() then failed with a KeyError, TypeError, ValueError or OverflowError."""
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(saved_bytes, _forge_attr("DLinear", name, value)))


def test_a_dlinear_model_file_on_its_own_gets_the_update_checks(tmp_path):
    from workload_predictor.models.dlinear import DLinear

    data = persistence.dumps(DLinear(horizon=3).fit(periodic_series(300)["requests"].to_numpy()))
    forged = rewrite_state(data, _forge_attr("DLinear", "window_weights_", {"__dict__": [[7, 1.0]]}))
    with pytest.raises(ModelFileError, match="DLinear window weights"):
        persistence.loads(forged)


@pytest.fixture(scope="module")
def ensemble_bytes() -> bytes:
    members = ["dlinear", "seasonal_naive", "moving_average", "exponential_smoothing", "naive"]
    predictor = WorkloadPredictor(horizon=5, model="ensemble", model_params={"members": members})
    return persistence.dumps(predictor.fit(periodic_series(300, noise=2.0)))


def test_a_valid_ensemble_file_loads_and_updates(ensemble_bytes):
    loaded = persistence.loads(ensemble_bytes)
    loaded.update(periodic_series(340, noise=2.0).iloc[300:])
    assert np.isfinite(loaded.predict().upper).all()


@pytest.mark.parametrize("forge,change_arrays,message", [
    # update: ValueError of numpy broadcasting (evidence of 3 windows, or of 2 slots, for 144 windows of 5 slots)
    (_unchanged, _forge_array("Ensemble", "evidence_forecast_", lambda a: a[:, :3]), "ensemble evidence of shapes"),
    (_unchanged, _forge_array("Ensemble", "evidence_forecast_", lambda a: a[:2]), "ensemble evidence of shapes"),
    (_unchanged, _forge_array("Ensemble", "evidence_actual_", lambda a: a[:3]), "ensemble evidence of shapes"),
    # update: ValueError (unpacking a rule of one item), ZeroDivisionError (the best 0), TypeError (the best 1.5)
    (_forge_attr("Ensemble", "combination_rule_", {"__tuple__": ["zzz"]}), None, "combination rule"),
    (_forge_attr("Ensemble", "combination_rule_", {"__tuple__": ["best", 0, False]}), None, "combination rule"),
    (_forge_attr("Ensemble", "combination_rule_", {"__tuple__": ["best", 1.5, False]}), None, "combination rule"),
    (_forge_attr("Ensemble", "combination_rule_", {"__tuple__": ["median", 0.5, {"__tuple__": ["zz"]}]}), None,
     "combination rule"),
    # the update went through, the next predict failed (TypeError): the LSTM's slot without an LSTM
    (_forge_attr("Ensemble", "lstm_shares_slot_", True), None, "lstm_shares_slot_=True"),
    (_unchanged, _forge_array("Ensemble", "validation_origins_", lambda a: a[:2]), "validation_origins_ of shape"),
    # loaded: the median's share of the forecast was scaled by 1 - shift_share_ (2x at -1, -1x at 2.0) and by
    # combination_share_ unchecked, a wrong forecast where the rule is the median, until the next update
    (_forge_attr("Ensemble", "shift_share_", -1.0), None, "shift_share_=-1.0, not a number in"),
    (_forge_attr("Ensemble", "shift_share_", 2.0), None, "shift_share_=2.0, not a number in"),
    (_forge_attr("Ensemble", "combination_share_", 3.0), None, "combination_share_=3.0, not a number in"),
    (_forge_attr("Ensemble", "shift_member_", 7), None, "shift_member_=7, not one of its slots"),
    # loaded and updated: an update chose its fallback again among the names it knew, silently (a fallback of
    # other members than the fit's candidates, or the registered baselines where none was known)
    (_forge_attr("Ensemble", "fallback_members_", ["zzz"]), None, "fallback_members_=.*zzz.*, not distinct names"),
    (_forge_attr("Ensemble", "fallback_members_", [7]), None, "fallback_members_=.*7.*, not distinct names"),
    (_forge_attr("Ensemble", "fallback_members_", ["naive", "naive"]), None, "fallback_members_=.*not distinct"),
])
def test_ensemble_state_an_update_reads_is_checked_at_load(ensemble_bytes, forge, change_arrays, message):
    """These loaded, forecast and saved; update() (or the predict after it) then failed inside numpy."""
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(ensemble_bytes, forge, change_arrays))


@pytest.fixture(scope="module")
def small_lstm_bytes() -> bytes:
    pytest.importorskip("torch")
    params = {"hidden_size": 4, "max_epochs": 2, "window": 24, "patch_size": 8}
    return persistence.dumps(WorkloadPredictor(horizon=3, model="lstm", model_params=params)
                             .fit(periodic_series(300, noise=2.0)))


def _forge_param(owner, name, value):
    def change(state):
        _param_pair(_object_node(state, owner), name)[1] = value
        return state
    return change


@pytest.mark.parametrize("forge,message", [
    (_forge_param("LSTM", "batch_size", 0), "batch_size=0 must be"),  # update: ValueError of range()
    (_forge_param("LSTM", "n_threads", "x"), "n_threads='x' must be"),  # update: ValueError of int()
    # update: torch.set_num_threads(10**9) asked for 80 GB (RuntimeError of the CPU allocator)
    (_forge_param("LSTM", "n_threads", 10**9), "n_threads=1000000000 must be a positive integer number of torch threads up to 4,096"),
    (_forge_attr("LSTM", "buckets_untrained_", "x"), "buckets_untrained_='x'"),  # update: TypeError
    (_forge_attr("LSTM", "network_update_every_", "x"), "network_update_every_='x'"),  # update: TypeError
    # update: "cannot convert float NaN to integer", OverflowError, TypeError of round() (its training windows' split)
    (_forge_param("LSTM", "validation_fraction", float("nan")), "validation_fraction=nan must be"),
    (_forge_param("LSTM", "validation_fraction", float("inf")), "validation_fraction=inf must be"),
    (_forge_param("LSTM", "validation_fraction", "0.15"), "validation_fraction='0.15' must be"),
    (_forge_param("LSTM", "max_training_time", "x"), "max_training_time='x'"),  # update: TypeError of its deadline
    # update: "operands could not be broadcast together with shapes (3,) (4,)" (the base forecasts another horizon)
    (_forge_param("DLinear", "horizon", 4), "horizon 3 and 1 target, its LSTM's base 4"),
    (_forge_param("DLinear", "horizon", 2), "horizon 3 and 1 target, its LSTM's base 2"),
    (_forge_param("DLinear", "horizon", 3.0), "horizon 3 and 1 target, its LSTM's base 3.0"),  # update: TypeError
])
def test_lstm_settings_an_update_reads_are_checked_at_load(small_lstm_bytes, forge, message):
    """The stored model's own settings pass the checks its fit runs (the predictor's were checked, the model's not)."""
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(small_lstm_bytes, forge))


def test_a_fleet_file_read_without_the_fleets_checks_is_refused(fleet_bytes):
    """persistence.load(path) (a model on its own) returned a fleet without check_fleet: a forged key loaded and
    failed later (KeyError in confidence_)."""
    def forge(state):
        _attr_pair(state, "keys_")[1].append("zz")
        return state

    with pytest.raises(ModelFileError, match=r"FleetPredictor.load\(path\)"):
        persistence.loads(rewrite_state(fleet_bytes["dlinear"], forge))
    with pytest.raises(ModelFileError, match=r"FleetPredictor.load\(path\)"):
        persistence.loads(fleet_bytes["dlinear"])  # valid too: only FleetPredictor.load runs its checks
    assert isinstance(persistence.loads(fleet_bytes["dlinear"], FleetPredictor), FleetPredictor)


def test_a_fleet_block_reaching_past_the_last_timestamp_is_refused(fleet_bytes, tmp_path):
    """A block of 300 buckets of 50,000 days loaded and forecast; update() failed (OutOfBoundsTimedelta)."""
    def forge(state):
        _fleet_node(state, "FleetBlock")["fields"]["freq"] = {"__timedelta__": "P50000D"}
        return state

    with pytest.raises(ModelFileError, match="reach past"):
        _fleet_load(rewrite_state(fleet_bytes["dlinear"], forge), tmp_path)


def test_a_state_of_more_json_items_than_a_file_may_hold_is_refused_before_it_is_decoded(saved_bytes, monkeypatch):
    """Before: a 3 MB state of a million empty lists (in an unknown attribute) decoded to 138 MB before any check,
    45 times the file (a 1 GiB file would have asked for 45 GB). The items are counted first."""
    import tracemalloc

    def padded(state):
        state["state"]["zzz_"] = [[]] * 1_100_000
        return state

    forged = rewrite_state(saved_bytes, padded)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"2,2\d\d,\d{3} JSON items, over the 1,000,000"):
            persistence.loads(forged)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * len(forged)  # the file and a count: nothing decoded
    monkeypatch.setattr(model_file, "MAX_STATE_ITEMS", 100)  # a real file's items are counted as well
    with pytest.raises(ModelFileError, match="JSON items"):
        persistence.loads(saved_bytes)


@pytest.fixture(scope="module")
def updated_model_bytes() -> dict[str, bytes]:
    """Files of a DLinear, an LSTM and an ensemble predictor, each fitted and updated once, and the rows after."""
    series = periodic_series(460, noise=2.0)
    files = {}
    for model, params in (("dlinear", None), ("lstm", {"max_epochs": 1}),
                          ("ensemble", {"member_params": {"lstm": {"max_epochs": 1}}})):
        predictor = WorkloadPredictor(model=model, horizon=5, model_params=params, random_state=0)
        predictor.fit(series.iloc[:440]).update(series.iloc[440:450])
        files[model] = persistence.dumps(predictor)
    return files, series.iloc[450:453]


@pytest.mark.parametrize("value", [None, -1, "x"])
@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble"])
def test_a_file_missing_state_an_update_reads_is_refused_or_updates(updated_model_bytes, model, value):
    """Every stored attribute of every object in the file (the predictor, its model, an ensemble's members, an
    LSTM's linear base) set to null, -1 or a string: load refuses the file, or the predictor it loads updates,
    forecasts, reports its health and saves, as model_file promises ("a file that loads does not fail later").
    Before: a null recent_, n_seen_ or validation_origins_ of any model, a null DLinear stats_ or ridge_, or a null
    member's context_, validation windows, scaling or coefficients loaded, and the first update failed inside numpy
    (51 attributes of the ensemble's file, 5 of DLinear's, 6 of the LSTM's); so did any weight_floor_ or
    recent_weights_ of an LSTM's linear base (unchecked)."""
    files, rows = updated_model_bytes
    saved = files[model]
    state = json.loads(_state_of(saved))
    targets = [(path, name) for path, node in _nodes(state) if isinstance(node, dict) and "__object__" in node
               for name, _ in node["state"]["__dict__"]]
    late = []
    for path, name in targets:
        def forge(tree, path=path, name=name):
            node = tree
            for key in path:
                node = node[key]
            _set(_pairs(node), name, value)
            return tree

        try:
            predictor = persistence.loads(rewrite_state(saved, forge), expected=WorkloadPredictor)
        except ModelFileError:
            continue
        try:
            predictor.update(rows)
            predictor.predict()
            predictor.health()
            persistence.loads(persistence.dumps(predictor))
        except Exception as exc:  # noqa: BLE001 - any failure after a load is what this test looks for
            late.append(f"{_get_node(state, path)['__object__']}.{name}: {type(exc).__name__}")
    assert not late, late


def _state_of(data: bytes) -> bytes:
    _, payload = split_file(data)
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        return archive[persistence.STATE_KEY].tobytes()


def _get_node(tree, path):
    for key in path:
        tree = tree[key]
    return tree


@pytest.mark.parametrize("text", [False, True], ids=["a number", "text of their shape"])
def test_an_ensemble_saved_on_its_own_with_a_member_that_cannot_forecast_is_refused(updated_model_bytes, text):
    """A member the ensemble weighs 0 is not read by the ensemble's forecast at load; its coefficients forged to a
    number loaded, and the first update failed inside numpy ("matmul: Input operand 1 does not have enough
    dimensions"). A number is refused by the weights' shape; text of their shape by the member's forecast."""
    files, _ = updated_model_bytes
    predictor = persistence.loads(files["ensemble"], expected=WorkloadPredictor)
    assert predictor.weights_["dlinear"] == 0.0  # the forged member is one the ensemble's forecast does not read
    k, window, horizon = predictor.model_.members_["dlinear"].coef_.shape

    def forge(state):
        node = next(node for _, node in _nodes(state) if isinstance(node, dict) and node.get("__object__") == "DLinear"
                    and any(name == "context_" for name, _ in node["state"]["__dict__"]))  # the member, not a base
        _set(_pairs(node), "coef_", [[["x"] * horizon] * window] * k if text else -1)
        return state

    with pytest.raises(ModelFileError, match="DLinear does not forecast" if text else "DLinear weights coef_ of shape"):
        persistence.loads(rewrite_state(persistence.dumps(predictor.model_), forge))


# -- what an update reads, and the file it then saves ---------------------------------------------------------
@pytest.fixture(scope="module")
def flagged_predictor() -> WorkloadPredictor:
    """A predictor fitted on 400 Poisson(30) buckets of two targets with one sentinel in each, updated once."""
    rng = np.random.default_rng(11)
    values = rng.poisson(30, (420, 2)).astype(float)
    values[300, 0], values[395, 1] = 4294967295.0, 1e9
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=420, freq="10s", tz="UTC"),
                          "requests": values[:, 0], "output_tokens": values[:, 1]})
    predictor = WorkloadPredictor(horizon=5).fit(frame.iloc[:400], target=["requests", "output_tokens"])
    predictor.update(frame.iloc[400:402])
    predictor.later_rows_ = frame.iloc[402:]  # the rows the checks below update with (taken off before saving)
    return predictor


def _forged_copy(predictor: WorkloadPredictor, forge) -> bytes:
    import copy

    forged = copy.deepcopy(predictor)
    vars(forged).pop("later_rows_", None)
    forge(forged)
    return persistence.dumps(forged)


@pytest.fixture(scope="module")
def plain_predictor() -> WorkloadPredictor:
    """A predictor with nothing flagged: its forecast reads the model's context, not the history."""
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=500, freq="10s", tz="UTC"),
                          "requests": np.random.default_rng(3).poisson(30, 500).astype(float)})
    return WorkloadPredictor(horizon=5).fit(frame)


def _with_history(edit):
    def forge(predictor):
        import dataclasses

        predictor.series_ = dataclasses.replace(predictor.series_, **edit(predictor.series_))
    return forge


def _nan_in_history(series):
    values = series.values.copy()
    values[-3, 0] = np.nan
    return {"values": values}


def _negative_in_history(series):
    values = series.values.copy()
    values[0, 0] = -1e12
    return {"values": values}


def _shifted_stamp(series):
    stamps = series.index.tolist()
    stamps[-2] -= pd.Timedelta("3s")
    return {"index": pd.DatetimeIndex(stamps)}


@pytest.mark.parametrize("forge,message", [
    (_with_history(_nan_in_history), "history with values that are not finite loads >= 0"),
    (_with_history(_negative_in_history), "history with values that are not finite loads >= 0"),
    (_with_history(lambda s: {"values": s.values.astype("datetime64[ns]")}), "not finite loads >= 0"),
    (_with_history(lambda s: {"values": s.values > 30}), "not finite loads >= 0"),
    (_with_history(_shifted_stamp), r"history whose timestamps are not one bucket width \(10s\) apart"),
], ids=["NaN", "negative", "datetimes", "booleans", "irregular"])
def test_a_history_the_door_never_lets_in_is_refused_at_load(plain_predictor, forge, message):
    """Before: each loaded. The history is what an update's anomaly scan and the forecast's settled inputs read, and
    what predict shows: datetimes failed the first update inside numpy (DTypePromotionError), NaN and -1e12 were
    scanned as loads, and an irregular history was shown as the buckets before the forecast."""
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(_forged_copy(plain_predictor, forge))


def _fewer_forecasts(part):
    part.validation_forecast_ = part.validation_forecast_[:0]


@pytest.mark.parametrize("model", ["dlinear", "moving_median", "ensemble member"])
def test_validation_forecasts_of_another_count_than_the_validation_windows_are_refused(model):
    """Before: they loaded (a forecast does not read them) and the first update failed inside numpy ("operands could
    not be broadcast together with shapes (56,5,2) (3,5,2)", "all input arrays must have the same shape")."""
    params = {"members": ("dlinear", "naive", "moving_average")} if model == "ensemble member" else None
    predictor = WorkloadPredictor(model="ensemble" if params else model, horizon=5, model_params=params).fit(
        periodic_series(400, noise=2.0))
    _fewer_forecasts(predictor.model_.members_["naive"] if params else predictor.model_)
    with pytest.raises(ModelFileError, match=r"validation_forecast_ of shape \(0, 5, 1\) for validation_actual_"):
        persistence.loads(persistence.dumps(predictor))


def test_negative_flag_medians_are_refused_at_load(flagged_predictor):
    """Before: the file loaded; its update read the medians into the validation windows' targets, and the file that
    update saved was refused ("validation_actual_ with negative or non-finite values")."""
    def forge(predictor):
        predictor.input_flags_ = -np.abs(predictor.input_flags_) - 1.0  # NaN (not flagged) stays NaN
    with pytest.raises(ModelFileError, match=r"flags among its newest buckets .* medians \(finite loads >= 0\) or NaN"):
        persistence.loads(_forged_copy(flagged_predictor, forge))


def test_an_unforged_flagged_predictor_loads_updates_and_saves_a_file_that_loads(flagged_predictor):
    loaded = persistence.loads(_forged_copy(flagged_predictor, lambda p: None))
    assert loaded.input_flags_ is not None
    loaded.update(flagged_predictor.later_rows_.iloc[:3])
    again = persistence.loads(persistence.dumps(loaded))
    np.testing.assert_array_equal(again.predict().upper, loaded.predict().upper)


@pytest.fixture(scope="module")
def small_ensemble() -> WorkloadPredictor:
    return WorkloadPredictor(model="ensemble", horizon=5, model_params={
        "members": ("dlinear", "naive", "moving_average")}).fit(periodic_series(400, noise=2.0))


def _negative_fallback(ensemble):
    ensemble.fallback_weights_ = ensemble.fallback_weights_ - 1.0
    ensemble.combination_share_ = 0.5  # the fallback weighs half


def _complex_unweighed_member(ensemble):
    dlinear = ensemble.members_["dlinear"]
    ensemble.step_weights_ = {name: np.full(5, float(name == "naive")) for name in ensemble.members_}
    dlinear.coef_ = dlinear.coef_.astype(complex)


@pytest.mark.parametrize("forge,message", [
    (lambda m: m.step_weights_.update(naive=m.step_weights_["naive"][:0]), "step_weights_"),
    (lambda m: m.step_weights_.update(naive=np.zeros(10)), "step_weights_"),
    (lambda m: setattr(m, "window_", str(m.window_)), "ensemble's window_="),
    (lambda m: setattr(m, "window_", float(m.window_)), "ensemble's window_="),
    # it loaded and forecast as fitted (111.4); one update weighed the moving average -0.5 and forecast 0.0
    (_negative_fallback, r"fallback weights .* weights in \[0, 1\]"),
    # a member the forecast weighs 0, its forecast cast to float64 at load: the update's validation forecasts were
    # complex, and the file it saved was refused
    (_complex_unweighed_member, "DLinear forecasts values of dtype complex128, not real numbers"),
], ids=["no weights", "ten weights", "window as text", "window as a float", "negative fallback", "complex member"])
def test_ensemble_state_its_update_reads_is_checked_at_load(small_ensemble, forge, message):
    """Before: each loaded and forecast; the first update failed inside numpy or Python ("all input arrays must have
    the same shape", "slice indices must be integers", "unsupported operand type(s) for +: 'int' and 'str'")."""
    import copy

    predictor = copy.deepcopy(small_ensemble)
    forge(predictor.model_)
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(persistence.dumps(predictor))


def test_a_global_fleet_file_with_fewer_validation_forecasts_than_windows_is_refused(tmp_path):
    """Before: it loaded; the first update of that key failed inside numpy."""
    pytest.importorskip("torch")
    fleet = FleetPredictor(model="global_lstm", horizon=5, random_state=0,
                           model_params={"max_epochs": 1, "hidden_size": 4, "window": 24}).fit(_fleet_frame(),
                                                                                                key="endpoint")
    fleet._global.model.validation_forecast_[1] = fleet._global.model.validation_forecast_[1][:2]
    with pytest.raises(ModelFileError, match="validation_forecast_ and validation_actual_ with other window counts"):
        _fleet_load(persistence.dumps(fleet), tmp_path)


def test_a_file_whose_model_kept_more_points_than_an_update_keeps_saves_a_file_that_loads_after_an_update():
    """A model file whose moving median kept twice the points its update keeps loaded and updated, but the update kept
    the flags of the buckets the old model kept, more than the updated one reads: the file it saved was refused
    ("keeps the flags among its newest buckets as ... of shape (227, 2), not at most 224 rows")."""
    rng = np.random.default_rng(11)
    values = rng.poisson(30, (410, 2)).astype(float)
    values[300, 0], values[395, 1] = 4294967295.0, 1e9
    frame = pd.DataFrame({"timestamp": pd.date_range("2024-03-01", periods=410, freq="10s", tz="UTC"),
                          "requests": values[:, 0], "output_tokens": values[:, 1]})
    predictor = WorkloadPredictor(model="moving_median", horizon=5).fit(frame.iloc[:400],
                                                                        target=["requests", "output_tokens"])
    kept = predictor.model_.recent_
    predictor.model_.recent_ = np.concatenate([kept, kept])
    loaded = persistence.loads(persistence.dumps(predictor))
    loaded.update(frame.iloc[400:403])
    assert len(loaded.input_flags_) <= loaded._flag_span(loaded.model_)
    again = persistence.loads(persistence.dumps(loaded))
    np.testing.assert_array_equal(again.predict().upper, loaded.predict().upper)
