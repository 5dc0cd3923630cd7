"""save/load: bit-identical round trips, and files that cannot run code when loaded."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from conftest import periodic_series
from workload_predictor import ModelFileError, WorkloadDataError, WorkloadPredictor, persistence
from workload_predictor.models import DLinear
from workload_predictor.models.baselines import MovingAverage
from workload_predictor.models.registry import params_for


def assert_same_forecast(a: WorkloadPredictor, b: WorkloadPredictor, steps: int | None = None) -> None:
    fa, fb = a.predict(steps), b.predict(steps)
    for field in ("yhat", "lower", "upper"):
        assert np.array_equal(getattr(fa, field), getattr(fb, field)), field  # bit-identical, not close
    assert fa.index.equals(fb.index)
    assert fa.confidence == fb.confidence and fa.targets == fb.targets and fa.level == fb.level


# -- round trips ---------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(["dlinear", "naive", "moving_average", "seasonal_naive", "seasonal_median"]),
    n=st.integers(150, 400),
    horizon=st.integers(1, 12),
    n_targets=st.integers(1, 3),
    level=st.floats(0.5, 0.95),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([1e-3, 1.0, 1e6, 1e12]),
)
def test_round_trip_is_bit_identical(model, n, horizon, n_targets, level, seed, scale):
    rng = np.random.default_rng(seed)
    frame = periodic_series(n, noise=5.0, seed=seed)
    targets = [f"t{j}" for j in range(n_targets)]
    for j, name in enumerate(targets):
        frame[name] = scale * (frame["requests"] * (j + 1) + rng.gamma(2.0, 3.0, n))
    predictor = WorkloadPredictor(model=model, horizon=horizon, level=level, window=None if model == "dlinear" else 12)
    predictor.fit(frame, target=targets)
    loaded = persistence.loads(persistence.dumps(predictor), expected=WorkloadPredictor)
    assert_same_forecast(predictor, loaded)
    assert_same_forecast(predictor, loaded, steps=1)
    assert loaded.get_params() == predictor.get_params()
    # The loaded predictor keeps streaming exactly as the original does.
    more = periodic_series(n + 7, noise=5.0, seed=seed + 1).iloc[n:]
    more = more.assign(**{name: scale * more["requests"] for name in targets})
    predictor.update(more, timestamp="timestamp")
    loaded.update(more, timestamp="timestamp")
    assert_same_forecast(predictor, loaded)


@pytest.mark.parametrize("model", ["lstm", "ensemble"])
def test_torch_models_round_trip_bit_identical(tmp_path, model):
    frame = periodic_series(400, noise=5.0)
    predictor = WorkloadPredictor(model=model, horizon=6, random_state=0,
                                  model_params=params_for(model, max_epochs=3)).fit(frame)
    path = predictor.save(tmp_path / "model.wp")
    loaded = WorkloadPredictor.load(path)
    assert_same_forecast(predictor, loaded)
    if model == "ensemble":
        assert loaded.weights_ == predictor.weights_
    assert [p.name for p in tmp_path.iterdir()] == ["model.wp"]  # the temporary file is gone


def test_the_ensembles_calibration_pool_round_trips_and_a_file_without_one_still_loads_and_updates():
    """The pool the ensemble's interval comes from is saved and keeps rolling after load; a file written before
    the pool existed loads, forecasts and updates with the validation tail's interval; a pool whose two
    arrays disagree is refused on load."""
    import copy

    from workload_predictor.predictor import calibration

    frame = periodic_series(420, noise=5.0)
    predictor = WorkloadPredictor(model="ensemble", horizon=5,
                                  model_params={"members": ("dlinear", "naive", "moving_average")})
    predictor.fit(frame.iloc[:400])
    loaded = persistence.loads(persistence.dumps(predictor), expected=WorkloadPredictor)
    np.testing.assert_array_equal(loaded.model_.calibration_forecast_, predictor.model_.calibration_forecast_)
    for p in (predictor, loaded):
        p.update(frame.iloc[400:])
    assert_same_forecast(predictor, loaded)

    older = copy.deepcopy(predictor)
    del older.model_.calibration_forecast_, older.model_.calibration_actual_
    older = persistence.loads(persistence.dumps(older), expected=WorkloadPredictor)
    older.update(periodic_series(425, noise=5.0).iloc[420:])
    tail = calibration(older.model_.validation_forecast_, older.model_.validation_actual_, older.level)
    np.testing.assert_array_equal(older.interval_halfwidth_, tail["interval_halfwidth_"])
    assert not hasattr(older.model_, "calibration_forecast_")

    damaged = copy.deepcopy(predictor)
    damaged.model_.calibration_actual_ = damaged.model_.calibration_actual_[1:]
    with pytest.raises(ModelFileError, match="calibration pool"):
        persistence.loads(persistence.dumps(damaged))


def test_an_ensemble_file_saved_by_0_8_0_forecasts_and_updates_as_it_did():
    """0.8.0 stored the ensemble's ``median_share_``, which is derived now, and mixed its LSTM member (all of the
    network's correction) with DLinear in the slot they share by ``lstm_share_``: the file loads, keeps that mix,
    and forecasts and updates as 0.8.0 did (``tests/data/README.md``)."""
    from test_level_shift import _replay_saved_file

    predictor = _replay_saved_file("ensemble_0.8.0", rtol_before=1e-9, rtol_after=1e-5)
    model = predictor.model_
    assert 0.0 < model.lstm_share_ < 1.0 and model.weights_["dlinear"] > 0 and model.weights_["lstm"] > 0
    assert not hasattr(model.members_["lstm"], "correction_share_")


@pytest.mark.parametrize("name", ["dlinear_0.5.0", "lstm_0.6.0", "ensemble_0.8.0"])
def test_a_file_saved_before_0_9_1_keeps_its_intervals_level_through_a_new_level_and_a_save(name, tmp_path):
    """Files saved before 0.9.1 hold no ``interval_level_``: their interval is calibrated at their ``level``. A level
    set after loading changes the next calibration, not the label of the stored one, in memory or after a save."""
    predictor = WorkloadPredictor.load(Path(__file__).parent / "data" / f"{name}.wpm")
    before = predictor.predict()
    predictor.set_params(level=0.5)
    assert predictor.predict().level == before.level
    predictor.save(tmp_path / "again.wpm")
    after = WorkloadPredictor.load(tmp_path / "again.wpm").predict()
    assert after.level == before.level == 0.9
    np.testing.assert_array_equal(after.upper, before.upper)


def test_save_overwrites_and_load_returns_an_independent_copy(tmp_path):
    frame = periodic_series(300, noise=2.0)
    first = WorkloadPredictor(horizon=5).fit(frame.iloc[:250])
    path = tmp_path / "m.wp"
    first.save(path)
    second = WorkloadPredictor(horizon=5).fit(frame)
    second.save(path)  # replaces the file atomically
    loaded = WorkloadPredictor.load(path)
    assert_same_forecast(second, loaded)
    loaded.model_.coef_[...] = 0.0
    assert not np.array_equal(second.predict().yhat, loaded.predict().yhat)


def test_unfitted_predictor_round_trips_its_parameters():
    predictor = WorkloadPredictor(model="ensemble", horizon=7, model_params={"members": ("dlinear", "naive")},
                                  memory_limit_mb=None)
    loaded = persistence.loads(persistence.dumps(predictor))
    assert loaded.get_params() == predictor.get_params()
    assert isinstance(loaded.model_params["members"], tuple)


def test_loading_a_dlinear_file_does_not_import_torch(tmp_path):
    path = WorkloadPredictor(horizon=5).fit(periodic_series(300)).save(tmp_path / "m.wp")
    code = (
        "import sys; from workload_predictor import WorkloadPredictor as W; "
        f"W.load({str(path)!r}).predict(); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# -- files that must be refused ------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_bytes() -> bytes:
    return persistence.dumps(WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0)))


def split_file(data: bytes) -> tuple[dict, bytes]:
    end = data.index(b"\n", len(persistence.MAGIC))
    return json.loads(data[len(persistence.MAGIC) : end]), data[end + 1 :]


def join_file(header: dict, payload: bytes, fix_checksum: bool = True) -> bytes:
    if fix_checksum:  # a forger recomputes the checksum: only the allow-list protects then
        header = {**header, "payload_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    return persistence.MAGIC + json.dumps(header).encode() + b"\n" + payload


def test_the_checksum_in_the_header_matches_the_payload(saved_bytes):
    header, payload = split_file(saved_bytes)
    assert header["sha256"] == hashlib.sha256(payload).hexdigest()
    assert header["format_version"] == persistence.FORMAT_VERSION
    from workload_predictor import __version__

    assert header["package_version"] == __version__


def test_wrong_format_version_is_refused(saved_bytes):
    header, payload = split_file(saved_bytes)
    data = join_file({**header, "format_version": persistence.FORMAT_VERSION + 1}, payload)
    with pytest.raises(ModelFileError, match="format version"):
        persistence.loads(data)


def test_other_package_version_loads_with_a_warning(saved_bytes, caplog):
    header, payload = split_file(saved_bytes)
    data = join_file({**header, "package_version": "0.0.1"}, payload)
    with caplog.at_level("WARNING", logger="workload_predictor.persistence"):
        persistence.loads(data)
    assert "0.0.1" in caplog.text


def test_bad_checksum_is_refused(saved_bytes):
    header, payload = split_file(saved_bytes)
    tampered = bytearray(payload)
    tampered[len(tampered) // 2] ^= 0xFF
    with pytest.raises(ModelFileError, match="checksum"):
        persistence.loads(join_file(header, bytes(tampered), fix_checksum=False))


@pytest.mark.parametrize("keep", [0.0, 0.005, 0.5, 0.999])
def test_truncated_file_is_refused(saved_bytes, keep, tmp_path):
    path = tmp_path / "cut.wp"
    path.write_bytes(saved_bytes[: int(keep * len(saved_bytes))])
    with pytest.raises(ModelFileError):
        WorkloadPredictor.load(path)


def test_a_file_that_is_no_model_is_named_and_no_bytes_are_shown(tmp_path):
    """Before: loading a CSV said it "does not start with b'WORKLOAD-PREDICTOR\\n'" and named no file."""
    path = tmp_path / "conv.csv"
    path.write_text("timestamp,requests\n2024-01-01,3\n")
    with pytest.raises(ModelFileError) as raised:
        WorkloadPredictor.load(path)
    message = str(raised.value)
    assert "conv.csv" in message and "is not a workload-predictor model file" in message
    assert "b'" not in message and "save(" in message


def test_missing_file_is_a_model_file_error(tmp_path):
    with pytest.raises(ModelFileError, match="cannot read"):
        WorkloadPredictor.load(tmp_path / "absent.wp")


def test_a_model_of_another_class_is_refused(tmp_path):
    model = DLinear(horizon=3).fit(periodic_series(200)["requests"].to_numpy())
    path = persistence.save(model, tmp_path / "dlinear.wp")
    assert np.array_equal(persistence.load(path).predict(), model.predict())
    with pytest.raises(ModelFileError, match="not a WorkloadPredictor"):
        WorkloadPredictor.load(path)


@functools.lru_cache(maxsize=16)
def _archive_of(data: bytes) -> tuple[dict, bytes, dict[str, np.ndarray], dict[str, bytes]]:
    """The file's header, JSON state, stored arrays (read-only) and each array's ``.npy`` encoding, read once per
    file: a test that forges one file many times (each attribute in turn) decodes and encodes its arrays once."""
    header, payload = split_file(data)
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    for array in arrays.values():
        array.setflags(write=False)
    state = arrays.pop(persistence.STATE_KEY).tobytes()
    return header, state, arrays, {name: _npy(array) for name, array in arrays.items()}


def _npy(array: np.ndarray) -> bytes:
    """``array`` as ``np.savez`` writes it into its archive (``allow_pickle=True``, its default)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def savez_bytes(encoded: dict[str, bytes]) -> bytes:
    """The archive ``np.savez(buffer, **arrays)`` writes, byte for byte, from each array's ``_npy`` encoding (in the
    keywords' order): the zip members as savez opens them (stored, zip64). A forgery of the state alone writes the
    other arrays' encodings again, not the arrays (test_savez_bytes_are_what_np_savez_writes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, data in encoded.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                member.write(data)
    return buffer.getvalue()


def rewrite_state(data: bytes, change, change_arrays=None) -> bytes:
    """The file with its JSON state passed through ``change`` and a valid checksum (a forgery).

    ``change_arrays(state, arrays)``: also edits the stored arrays in place (by the keys the state names).
    """
    header, state_bytes, stored, encoded = _archive_of(bytes(data))
    state = change(json.loads(state_bytes))
    state_array = np.frombuffer(json.dumps(state).encode(), np.uint8)
    if change_arrays is not None:
        arrays = {name: array.copy() for name, array in stored.items()}
        change_arrays(state, arrays)
        encoded = {name: _npy(array) for name, array in arrays.items()}
    return join_file(header, savez_bytes({persistence.STATE_KEY: _npy(state_array), **encoded}))


def test_savez_bytes_are_what_np_savez_writes(saved_bytes):
    """rewrite_state's writer: the same bytes as np.savez, on a saved predictor's arrays and on odd ones."""
    header, state, arrays, encoded = _archive_of(bytes(saved_bytes))
    odd = {"empty": np.zeros((0, 3)), "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
           "scalar": np.array(7, np.int64), "strided": np.arange(10)[::3], "text": np.array(["a", "bc"])}
    for members in ({persistence.STATE_KEY: np.frombuffer(state, np.uint8), **arrays}, odd):
        expected = io.BytesIO()
        np.savez(expected, **members)
        assert savez_bytes({name: _npy(array) for name, array in members.items()}) == expected.getvalue()
    assert encoded == {name: _npy(array) for name, array in arrays.items()}


def test_forged_state_naming_another_class_is_refused(saved_bytes):
    def to_os_system(state):
        state["__object__"] = "system"
        state["params"] = {"__dict__": [["command", "touch /tmp/pwned"]]}
        return state

    with pytest.raises(ModelFileError, match="not one this package builds"):
        persistence.loads(rewrite_state(saved_bytes, to_os_system))


def test_forged_attribute_names_are_refused(saved_bytes):
    def dunder(state):
        state["state"]["__dict__"].append(["__class__", None])
        return state

    with pytest.raises(ModelFileError, match="invalid attribute"):
        persistence.loads(rewrite_state(saved_bytes, dunder))


def _dlinear_node(state):
    """The DLinear object inside a saved predictor's state tree."""
    for _, node in _nodes(state):
        if isinstance(node, dict) and node.get("__object__") == "DLinear":
            return node
    raise AssertionError("no DLinear in the saved state")


@pytest.mark.parametrize("name", ["trend_coef_", "predict", "fit"])
def test_state_that_would_overwrite_a_method_or_computed_attribute_is_refused(saved_bytes, name):
    """A file may set stored state only: not a method, nor a property (as an older version's file would)."""
    def overwrite(state):
        _dlinear_node(state)["state"]["__dict__"].append([name, 1.0])
        return state

    with pytest.raises(ModelFileError, match=f"DLinear.{name}, which is not stored state"):
        persistence.loads(rewrite_state(saved_bytes, overwrite))


@pytest.mark.parametrize("name,value,message", [
    ("window_", 10**6, "model's window 1000000 and a stored context of shape"),  # longer than the stored context
    ("scale_", float("nan"), "NaN or infinite"),  # a forecast of NaN
    ("coef_", [[1.0]], "DLinear weights coef_ of shape"),  # weights of the wrong shape, refused by their shape
])
def test_state_that_cannot_forecast_is_refused_at_load(saved_bytes, name, value, message):
    """The allow-list keeps code out, not nonsense: a forged state that loads must still forecast, or be refused."""
    def forge(state):
        node = _dlinear_node(state)["state"]["__dict__"]
        entry = next(pair for pair in node if pair[0] == name)
        entry[1] = value
        return state

    with pytest.raises(ModelFileError, match=message):
        persistence.loads(rewrite_state(saved_bytes, forge))


def test_parameters_the_class_does_not_take_are_refused(saved_bytes):
    def extra_param(state):
        _dlinear_node(state)["params"]["__dict__"].append(["command", "rm -rf /"])
        return state

    with pytest.raises(ModelFileError, match="parameters it does not take"):
        persistence.loads(rewrite_state(saved_bytes, extra_param))


class _Payload:
    """A pickle payload whose unpickling creates ``marker`` (standing in for arbitrary code)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_malicious_pickle_payload_is_live(tmp_path):
    # The control: unpickling this payload does run code. The tests below prove load() never does.
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(marker)))
    assert marker.exists()


def test_planted_pickle_file_runs_nothing(tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "model.wp"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ModelFileError, match="pickle"):
        WorkloadPredictor.load(path)
    assert not marker.exists()


def test_planted_torch_save_file_runs_nothing(tmp_path):
    import torch

    marker, path = tmp_path / "ran", tmp_path / "model.wp"
    torch.save({"state": _Payload(marker)}, path)
    with pytest.raises(ModelFileError):
        WorkloadPredictor.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["array", "state"])
def test_pickle_inside_a_valid_looking_archive_runs_nothing(saved_bytes, tmp_path, where):
    marker = tmp_path / "ran"
    header, payload = split_file(saved_bytes)
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    evil = np.array([_Payload(marker)], dtype=object)
    if where == "array":
        arrays["a0"] = evil  # an array the state refers to
    else:
        arrays[persistence.STATE_KEY] = evil
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=True, **arrays)
    data = join_file(header, buffer.getvalue())  # checksum recomputed: only allow_pickle=False stops it
    with pytest.raises(ModelFileError):
        persistence.loads(data)
    assert not marker.exists()


def test_garbage_after_the_magic_is_refused(saved_bytes):
    for data in (persistence.MAGIC, persistence.MAGIC + b"{not json}\n" + b"x" * 10,
                 persistence.MAGIC + b"x" * (persistence.MAX_HEADER_BYTES + 10)):
        with pytest.raises(ModelFileError):
            persistence.loads(data)


def test_a_zip_that_is_not_an_archive_of_arrays_is_refused(saved_bytes):
    header, _ = split_file(saved_bytes)
    with pytest.raises(ModelFileError, match="payload"):
        persistence.loads(join_file(header, b"PK\x03\x04 not really a zip"))


def test_save_refuses_state_it_cannot_represent(tmp_path):
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300))
    predictor.extra_ = pd.DataFrame({"a": [1]})
    with pytest.raises(TypeError, match="cannot save"):
        predictor.save(tmp_path / "m.wp")
    assert not any(tmp_path.iterdir())
    assert os.listdir(tmp_path) == []


# -- fuzzing the loader -------------------------------------------------------------------------
def _nodes(tree, path=()):
    """Every (path, node) of a JSON tree."""
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _nodes(value, path + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _nodes(value, path + (i,))


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
              st.sampled_from(["__object__", "__array__", "a0", "a99", "WorkloadPredictor", "DLinear", "os.system",
                               "__torch__", "__dataclass__", "__class__", "__dict__"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["__object__", "__array__", "__dict__", "params",
                                                                "state", "fields", "x"]), children, max_size=3)),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_forged_states_load_or_raise_model_file_error(saved_bytes, data):
    """Any JSON a forger puts in the state (checksum recomputed) loads or raises ModelFileError: nothing else."""
    def mutate(state):
        nodes = list(_nodes(state))
        path, _ = nodes[data.draw(st.integers(0, len(nodes) - 1), label="node")]
        replacement = data.draw(JSON_VALUES, label="replacement")
        if not path:
            return replacement
        parent = state
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = replacement
        return state

    try:
        loaded = persistence.loads(rewrite_state(saved_bytes, mutate))
    except ModelFileError as error:
        event(f"refused: {str(error)[:45]}")
    else:
        event(f"loaded a {type(loaded).__name__}")  # harmless edits (a number, an unused name) load
        if isinstance(loaded, WorkloadPredictor) and hasattr(loaded, "model_"):
            forecast = loaded.predict()  # what loaded must forecast, finitely
            assert np.isfinite(forecast.yhat).all() and np.isfinite(forecast.upper).all()


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 10**6), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4),
       fix_checksum=st.booleans())
def test_damaged_bytes_raise_model_file_error(saved_bytes, cut, flips, fix_checksum):
    data = bytearray(saved_bytes)
    for position, mask in flips:
        data[position % len(data)] ^= mask
    data = bytes(data[: len(data) - cut % 64])
    if fix_checksum and data.startswith(persistence.MAGIC):
        try:
            header, payload = split_file(data)
            data = join_file(header, payload)
        except (ValueError, KeyError, TypeError):
            pass
    try:
        loaded = persistence.loads(data)
    except ModelFileError as error:
        event(f"refused: {str(error)[:45]}")
        return
    event("loaded")
    assert not flips and cut % 64 == 0 or isinstance(loaded, WorkloadPredictor)


# -- the command line: --model-file --------------------------------------------------------------
def test_cli_model_file_fits_saves_then_loads_and_updates(tmp_path):
    import re

    from click.testing import CliRunner

    from workload_predictor.cli import main

    frame = periodic_series(500, noise=3.0)
    first, full = tmp_path / "first.csv", tmp_path / "full.csv"
    frame.iloc[:450].to_csv(first, index=False)
    frame.to_csv(full, index=False)
    model_file, out = tmp_path / "model.wp", tmp_path / "forecast.csv"
    runner = CliRunner()
    fitted = runner.invoke(main, ["forecast", str(first), "--model", "dlinear", "--horizon", "5", "-q",
                                  "--model-file", str(model_file)])
    assert fitted.exit_code == 0, fitted.output
    assert "(fitted; saved)" in fitted.output and model_file.exists()
    reused = runner.invoke(main, ["forecast", str(full), "--model", "dlinear", "--horizon", "5", "-q",
                                  "--model-file", str(model_file), "--out", str(out)])  # the file's own settings
    assert reused.exit_code == 0, reused.output
    assert re.search(r"loaded, 50 new buckets appended with update\(\)", reused.output)
    # The same as the library: fit on the first 450 buckets, update with the last 50.
    expected = WorkloadPredictor(model="dlinear", horizon=5, random_state=0).fit(frame.iloc[:450])
    expected.update(frame.iloc[450:])
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["yhat"], expected.predict().yhat[:, 0], rtol=1e-9, atol=0.01)
    assert WorkloadPredictor.load(model_file).n_updates_ == 1  # saved back, up to date


def test_cli_refuses_a_planted_model_file(tmp_path):
    from click.testing import CliRunner

    from workload_predictor.cli import EXIT_DATA, main

    data, marker, model_file = tmp_path / "s.csv", tmp_path / "ran", tmp_path / "model.wp"
    periodic_series(300).to_csv(data, index=False)
    model_file.write_bytes(pickle.dumps(_Payload(marker)))
    result = CliRunner().invoke(main, ["forecast", str(data), "--model-file", str(model_file)])
    assert result.exit_code == EXIT_DATA and "pickle" in result.output
    assert not marker.exists()


@pytest.mark.parametrize("model,params", [("moving_average", {"window": np.int64(12)}),
                                          ("moving_median", {"windows": tuple(np.arange(5, 45, 5))}),
                                          ("dlinear", {"alpha": np.float64(0.5)})])
def test_numpy_scalars_in_the_settings_come_back_as_scalars_and_a_loaded_predictor_refits(tmp_path, model, params):
    """A numpy integer among the settings came back from a file as an array of one element (np.ascontiguousarray
    makes a 0-d array 1-d), so the loaded predictor forecast but refused to fit again (found by review)."""
    data = periodic_series(400)
    predictor = WorkloadPredictor(model=model, horizon=5, model_params=params).fit(data)
    path = tmp_path / "model.wp"
    predictor.save(path)
    loaded = WorkloadPredictor.load(path)
    for name, value in params.items():
        got = loaded.model_params[name]
        assert np.shape(got) == np.shape(value) and np.all(np.asarray(got) == np.asarray(value)), got
    loaded.fit(data)
    np.testing.assert_array_equal(loaded.predict().yhat, predictor.predict().yhat)


@pytest.mark.parametrize("model", ["moving_median", "dlinear", "exponential_smoothing", "ensemble"])
@pytest.mark.parametrize("horizon", [np.int64(5), np.int32(5)], ids=repr)
def test_a_numpy_integer_horizon_saves_a_file_that_loads_and_forecasts_the_same(tmp_path, model, horizon):
    """fit takes a numpy integer horizon; the file it saved was refused at load as "damaged or altered" (the
    ensemble's: its LSTM network's arguments held the numpy integer, "not a list of plain values")."""
    params = params_for(model, max_epochs=1)
    predictor = WorkloadPredictor(model=model, horizon=horizon, model_params=params).fit(periodic_series(400))
    path = predictor.save(tmp_path / "model.wp")
    loaded = WorkloadPredictor.load(path)
    assert_same_forecast(loaded, predictor)
    assert loaded.horizon == 5


def test_a_file_whose_model_and_network_hold_a_numpy_integer_horizon_loads():
    """Files saved before models took the horizon as an int hold the numpy integer in the model and in the
    LSTM network's constructor arguments: they load, and forecast as they did."""
    from workload_predictor.models.lstm import LSTM

    y = periodic_series(400)["requests"].to_numpy()
    lstm = LSTM(horizon=np.int64(4), max_epochs=1).fit(y)
    loaded = persistence.loads(persistence.dumps(lstm))
    np.testing.assert_array_equal(loaded.predict(), lstm.predict())
    predictor = WorkloadPredictor(model="moving_median", horizon=4).fit(periodic_series(400))
    predictor.horizon = predictor.model_.horizon = np.int64(4)
    assert_same_forecast(persistence.loads(persistence.dumps(predictor)), predictor)


# -- a model saved on its own ----------------------------------------------------------------------
@pytest.fixture
def moving_average() -> MovingAverage:
    return MovingAverage(horizon=5, window=5).fit(np.random.default_rng(0).poisson(5, 300).astype(float))


@pytest.mark.parametrize("window", [6, 10**11], ids=["one past the context", "beyond memory"])
def test_a_model_file_whose_window_is_longer_than_its_context_is_refused(moving_average, window):
    """A bare model file got no state check: window_ one past the context forecast the mean of other points (numpy
    wraps negative indices), 10**11 raised MemoryError inside numpy."""
    moving_average.window_ = window
    with pytest.raises(ModelFileError, match=f"MovingAverage's context_ for a window of {window:,}"):
        persistence.loads(persistence.dumps(moving_average))


def test_a_model_file_keeping_fewer_points_than_an_update_reads_is_refused(moving_average):
    moving_average.recent_ = moving_average.recent_[-3:]
    with pytest.raises(ModelFileError, match="recent_, fewer than the window 5 and the horizon 5 less one"):
        persistence.loads(persistence.dumps(moving_average))


@pytest.mark.parametrize("name, value, message", [
    ("horizon", 0, "horizon=0 must be a positive integer"),
    ("validation_forecast_", np.zeros((3, 4, 1)), r"validation_forecast_ of shape \(3, 4, 1\) for horizon 5"),
    ("n_targets_", 2, r"validation_forecast_ of shape \(\d+, 5, 1\) for horizon 5 and 2 targets"),
    ("window_", "5", "does not forecast"),
])
def test_a_model_file_with_state_no_fit_produces_is_refused(moving_average, name, value, message):
    setattr(moving_average, name, value)
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(persistence.dumps(moving_average))


@pytest.mark.parametrize("model", ["naive", "moving_median", "exponential_smoothing", "seasonal_median", "dlinear",
                                   "ensemble"])
def test_model_files_on_their_own_load_forecast_and_update_as_the_model(model):
    """The checks a bare model file now gets pass every model a fit produces, one- and two-dimensional."""
    from workload_predictor.models import registry

    frame = periodic_series(500, noise=3.0)
    # The ensemble without the LSTM: the LSTM's update trains again, with fresh random draws.
    params = {"members": ("dlinear", "naive", "moving_median", "exponential_smoothing")} if model == "ensemble" else {}
    for y in (frame["requests"].to_numpy(), np.stack([frame["requests"], 2 * frame["requests"]], axis=1)):
        fitted = registry.build(model, {"horizon": 6}, params).fit(y[:450])
        loaded = persistence.loads(persistence.dumps(fitted))
        np.testing.assert_array_equal(loaded.predict(), fitted.predict())
        np.testing.assert_array_equal(loaded.update(y[450:]).predict(), fitted.update(y[450:]).predict())
        assert isinstance(persistence.loads(persistence.dumps(registry.build(model, {"horizon": 6}))),
                          type(fitted))  # unfitted: loads as it is


@pytest.mark.parametrize("path", [123, None, 2.5, ["model.wp"]])
def test_saving_to_something_that_is_not_a_path_is_a_typed_error(path):
    """Before: a plain TypeError from pathlib ("expected str, bytes or os.PathLike object, not int"); load answers the
    same values with a ModelFileError naming them."""
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0))
    with pytest.raises(WorkloadDataError, match=r"path=.* is not a path"):
        predictor.save(path)


def test_a_bytes_path_saves_as_it_loads(tmp_path):
    """Before: save(b"...") raised TypeError while load(b"...") read the file."""
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0))
    path = os.fsencode(tmp_path / "model.wp")
    predictor.save(path)
    np.testing.assert_array_equal(WorkloadPredictor.load(path).predict().yhat, predictor.predict().yhat)


def test_a_save_that_cannot_write_names_the_path_asked_for(tmp_path):
    """Before: FileNotFoundError: [Errno 2] No such file or directory: '.../.model.wp.tmp-<pid>-<random>', the
    temporary file save writes first; IsADirectoryError named it too. The error keeps its type and errno."""
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0))
    missing = tmp_path / "no_such_directory" / "model.wp"
    with pytest.raises(FileNotFoundError) as caught:
        predictor.save(missing)
    assert caught.value.filename == str(missing) and ".tmp-" not in str(caught.value)
    with pytest.raises(IsADirectoryError) as caught:
        predictor.save(tmp_path)
    assert caught.value.filename == str(tmp_path) and ".tmp-" not in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary file left behind


def test_what_save_cannot_write_is_named_by_its_attribute(tmp_path):
    """Before: "cannot save a value of type pandas.core.frame.DataFrame", with no word of which attribute held it (an
    autoscaler that hangs its own metadata on the predictor has dozens), and "cannot save a value of type
    __main__.MyPredictor" for a subclass, which no model file can name."""
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300))
    predictor.deployment_ = {"owner": "team-a", "frame": pd.DataFrame({"a": [1]})}
    with pytest.raises(TypeError, match=r"cannot save deployment_\['frame'\] \(a value of type pandas"):
        predictor.save(tmp_path / "m.wp")

    class MyPredictor(WorkloadPredictor):
        pass

    with pytest.raises(TypeError, match=r"MyPredictor.*a subclass of WorkloadPredictor.*save a WorkloadPredictor"):
        persistence.dumps(MyPredictor(horizon=5).fit(periodic_series(300)))
    assert os.listdir(tmp_path) == []
