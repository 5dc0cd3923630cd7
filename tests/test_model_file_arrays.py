"""A model file's arrays are read once: each ``.npy`` header is parsed when the member is checked, and the array is
built from the bytes checked (model_file.open_arrays), never through a second parse by ``numpy.load``.

The arrays, and so the loaded predictors, models and fleets, are the ones ``numpy.load`` reads from the same payload
(every attribute, every forecast bit for bit); numpy's own header parser is the oracle for the one that reads the
headers numpy writes; forged members stay refused with ModelFileError.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import periodic_series
from test_fleet import make_fleet
from test_persistence import join_file, split_file
from workload_predictor import FleetPredictor, ModelFileError, WorkloadPredictor, model_file, persistence
from workload_predictor.models.registry import params_for

DATA = Path(__file__).parent / "data"


def numpy_arrays(payload: bytes):
    """The payload's arrays as numpy.load reads them (the reading this module replaces)."""
    return np.load(io.BytesIO(bytes(payload)), allow_pickle=False)


def assert_same_array(got: np.ndarray, expected: np.ndarray, where: str = "") -> None:
    assert type(got) is type(expected) and got.dtype == expected.dtype, where
    assert got.shape == expected.shape and got.strides == expected.strides, where
    for flag in ("C_CONTIGUOUS", "F_CONTIGUOUS", "WRITEABLE", "ALIGNED"):
        assert got.flags[flag] == expected.flags[flag], (where, flag)
    assert got.tobytes(order="A") == expected.tobytes(order="A"), where  # bit for bit, NaNs and -0.0 included


def assert_same(got, expected, where: str = "") -> None:
    """``got`` and ``expected`` hold the same state, recursively: arrays bit for bit, floats by their bits."""
    assert type(got) is type(expected), (where, type(got), type(expected))
    if isinstance(expected, np.ndarray):
        assert_same_array(got, expected, where)
    elif isinstance(expected, np.generic):
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), where
    elif isinstance(expected, float):
        assert struct.pack("<d", got) == struct.pack("<d", expected), where
    elif isinstance(expected, (pd.DatetimeIndex, pd.Index)):
        assert got.equals(expected) and str(got.dtype) == str(expected.dtype), where
    elif isinstance(expected, (pd.Timestamp, pd.Timedelta, str, int, bool, type(None))):
        assert got == expected, where
    elif isinstance(expected, dict):
        assert list(got) == list(expected), where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple, collections.deque)):
        assert len(got) == len(expected) and getattr(got, "maxlen", None) == getattr(expected, "maxlen", None), where
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_same(a, b, f"{where}[{i}]")
    elif dataclasses.is_dataclass(expected):
        assert_same(dataclasses.asdict(got), dataclasses.asdict(expected), where)
    elif callable(getattr(expected, "state_dict", None)):  # a torch module
        assert_same({k: t.detach().cpu().numpy() for k, t in got.state_dict().items()},
                    {k: t.detach().cpu().numpy() for k, t in expected.state_dict().items()}, where)
    else:
        assert_same(vars(got), vars(expected), where)


def load_both(data: bytes, expected: type, monkeypatch):
    """``data`` loaded as this package reads it, and as numpy.load would read its arrays."""
    ours = persistence.loads(data, expected)
    with monkeypatch.context() as patch:
        patch.setattr(model_file, "open_arrays", numpy_arrays)
        theirs = persistence.loads(data, expected)
    return ours, theirs


def assert_same_forecasts(a, b) -> None:
    fa, fb = a.predict(), b.predict()
    if isinstance(fa, pd.DataFrame):  # a fleet's
        pd.testing.assert_frame_equal(fa, fb, check_exact=True)
        assert all(fa[c].to_numpy().tobytes() == fb[c].to_numpy().tobytes() for c in fa.select_dtypes("number"))
        return
    for field in ("yhat", "lower", "upper"):
        assert getattr(fa, field).tobytes() == getattr(fb, field).tobytes(), field
    assert fa.index.equals(fb.index)


# -- every kind of model file loads as numpy.load would read it ------------------------------------------------------
@pytest.mark.parametrize("model", ["dlinear", "lstm", "ensemble", "naive", "seasonal_naive", "moving_average",
                                   "moving_median"])
def test_a_predictor_loads_as_numpy_load_reads_it(model, monkeypatch):
    if model in ("lstm", "ensemble"):
        pytest.importorskip("torch")
    params = params_for(model, max_epochs=2) if model in ("lstm", "ensemble") else None
    predictor = WorkloadPredictor(model=model, horizon=5, random_state=0, model_params=params)
    data = persistence.dumps(predictor.fit(periodic_series(400, noise=5.0)))
    ours, theirs = load_both(data, WorkloadPredictor, monkeypatch)
    assert_same(ours, theirs)
    assert_same_forecasts(ours, theirs)
    assert_same_forecasts(ours, predictor)


@pytest.mark.parametrize("name", ["dlinear_0.5.0", "lstm_0.6.0", "ensemble_0.8.0"])
def test_a_file_saved_by_an_older_release_loads_as_numpy_load_reads_it(name, monkeypatch):
    if not name.startswith("dlinear"):
        pytest.importorskip("torch")
    ours, theirs = load_both((DATA / f"{name}.wpm").read_bytes(), WorkloadPredictor, monkeypatch)
    assert_same(ours, theirs)
    assert_same_forecasts(ours, theirs)


def test_a_model_saved_on_its_own_loads_as_numpy_load_reads_it(monkeypatch):
    model = WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0)).model_
    ours, theirs = load_both(persistence.dumps(model), type(model), monkeypatch)
    assert_same(ours, theirs)


@pytest.mark.parametrize("model", ["dlinear", "global_lstm"])
def test_a_fleet_loads_as_numpy_load_reads_it(model, monkeypatch):
    if model == "global_lstm":
        pytest.importorskip("torch")
    params = {"max_epochs": 1, "hidden_size": 4, "window": 24} if model == "global_lstm" else None
    fleet = FleetPredictor(model=model, horizon=5, random_state=0, model_params=params).fit(
        make_fleet(12, n=300), key="endpoint")
    ours, theirs = load_both(persistence.dumps(fleet), FleetPredictor, monkeypatch)
    assert_same(ours, theirs)
    assert_same_forecasts(ours, theirs)


# -- the arrays themselves: every dtype, byte order, shape, order and .npy version ----------------------------------
DTYPES = ["|b1", "|i1", "|u1", "<i2", ">i2", "<u4", "<i8", ">i8", "<f2", "<f4", ">f4", "<f8", ">f8", "<c8", "<c16",
          ">c16", "<M8[ns]", ">M8[ns]", "<M8[s]", "<M8[D]", "<M8"]


def npy_member(array: np.ndarray, version: tuple[int, int] | None) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, array, version=version, allow_pickle=False)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, raw in members.items():
            archive.writestr(zipfile.ZipInfo(name), raw, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


@st.composite
def arrays(draw) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    raw = draw(st.binary(min_size=int(np.prod(shape)) * dtype.itemsize, max_size=int(np.prod(shape)) * dtype.itemsize))
    array = np.frombuffer(raw, dtype=np.uint8).view(dtype).reshape(shape) if raw else np.empty(shape, dtype)
    return np.asfortranarray(array) if draw(st.booleans()) else array


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.tuples(arrays(), st.sampled_from([None, (1, 0), (2, 0), (3, 0)])), min_size=1, max_size=6))
def test_every_array_is_the_one_numpy_load_reads(items):
    payload = zip_of({f"a{i}.npy": npy_member(array, version) for i, (array, version) in enumerate(items)})
    expected = numpy_arrays(payload)
    with model_file.open_arrays(payload) as got:
        assert got.files == expected.files
        for key in expected.files:
            ours = got[key]
            assert_same_array(ours, expected[key], key)
            assert np.shares_memory(ours, got[key]) is False  # each read is an array of its own


def test_an_array_does_not_share_the_callers_bytes_and_is_writeable():
    source = np.arange(12.0).reshape(3, 4)
    payload = bytearray(zip_of({"a.npy": npy_member(source, None)}))
    with model_file.open_arrays(payload) as got:
        array = got["a"]
    array[0, 0] = -1.0
    payload[:] = bytes(len(payload))
    assert array.flags.writeable and array[0, 0] == -1.0 and array[2, 3] == 11.0


def test_fortran_order_is_read_as_numpy_reads_it():
    source = np.asfortranarray(np.arange(24.0).reshape(2, 3, 4))
    payload = zip_of({"a.npy": npy_member(source, None)})
    with model_file.open_arrays(payload) as got:
        array = got["a"]
    assert array.flags.f_contiguous and not array.flags.c_contiguous and np.array_equal(array, source)


# -- the header parser: numpy's own is the oracle --------------------------------------------------------------------
def numpy_header(header: bytes, version: tuple[int, int]):
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(io.BytesIO(header), max_header_size=model_file.MAX_NPY_HEADER_BYTES)


def outcome(read, header: bytes, version: tuple[int, int]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            shape, fortran, dtype = read(header, version)
        except Exception as exc:  # noqa: BLE001 - the type is compared
            return type(exc)
    return shape, tuple(type(n) for n in shape), type(fortran), fortran, dtype, dtype.str


def header_bytes(text: str, version: tuple[int, int]) -> bytes:
    raw = text.encode("latin1")
    return struct.pack("<H" if version == (1, 0) else "<I", len(raw)) + raw


def written_header(shape: tuple, fortran: bool, descr: str, version: tuple[int, int]) -> str:
    out = io.BytesIO()
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(out, {"descr": descr, "fortran_order": fortran, "shape": shape})
    raw = out.getvalue()[8:]
    return raw[2 if version == (1, 0) else 4 :].decode("latin1")


VERSIONS = st.sampled_from([(1, 0), (2, 0)])
SHAPES = st.lists(st.integers(0, 2**40), max_size=5).map(tuple)
DESCRS = st.sampled_from(DTYPES + ["<U3", "|S2", "|O", "<m8[ns]", "<f8", "<M8[xs]", "<q9", "<V8"])


@settings(max_examples=300, deadline=None)
@given(shape=SHAPES, fortran=st.booleans(), descr=DESCRS, version=VERSIONS)
def test_every_header_numpy_writes_is_read_as_numpy_reads_it_without_its_parser(shape, fortran, descr, version):
    try:
        text = written_header(shape, fortran, descr, version)
    except Exception:  # noqa: BLE001 - numpy writes no such header
        return
    expected = outcome(numpy_header, header_bytes(text, version), version)

    def refuse(*_, **__):
        raise AssertionError("numpy's header parser ran on a header numpy writes")

    with pytest.MonkeyPatch.context() as patch:
        if not isinstance(expected, type):  # a valid header: read without numpy's parser
            patch.setattr(np.lib.format, "read_array_header_1_0", refuse)
            patch.setattr(np.lib.format, "read_array_header_2_0", refuse)
        assert outcome(model_file._npy_header, header_bytes(text, version), version) == expected


EDITS = st.sampled_from([" ", "  ", ",", "(", ")", "{", "}", "'", '"', ":", "-", "0", "1", "L", "\n", "\\", "True",
                         "False", "None", "'descr'", "'shape'", "'fortran_order'", "[", "]", "+", "_", "e", "\x00",
                         "\xe9", "2.0", "#"])


@settings(max_examples=600, deadline=None)
@given(shape=SHAPES, fortran=st.booleans(), descr=DESCRS, version=VERSIONS,
       edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3), EDITS), max_size=4))
def test_an_edited_header_is_read_or_refused_as_numpy_reads_or_refuses_it(shape, fortran, descr, version, edits):
    try:
        text = written_header(shape, fortran, descr, version)
    except Exception:  # noqa: BLE001 - numpy writes no such header
        return
    for at, cut, insert in edits:  # replace text[at : at + cut] by insert
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut :]
    header = header_bytes(text, version)
    assert outcome(model_file._npy_header, header, version) == outcome(numpy_header, header, version)


@pytest.mark.parametrize("text", [
    "{'shape': (3,), 'fortran_order': False, 'descr': '<f8'}\n",  # another key order
    '{"descr": "<f8", "fortran_order": False, "shape": (3,)}\n',  # other quotes
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3L,), }\n",  # Python 2's long
    "{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }\n",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (True,), }\n",
    "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }\n",
    "{'descr': [('x', '<f8')], 'fortran_order': False, 'shape': (3,), }\n",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3, ), }\n",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (03,), }\n",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1, }\n",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }\n\n",
])
def test_headers_numpy_does_not_write_are_left_to_numpys_parser(text):
    for version in ((1, 0), (2, 0)):
        header = header_bytes(text, version)
        assert outcome(model_file._npy_header, header, version) == outcome(numpy_header, header, version)


# -- forged members stay refused -------------------------------------------------------------------------------------
def forged(payload_edit) -> bytes:
    """A saved predictor's file with its payload passed through ``payload_edit`` and a valid checksum."""
    data = persistence.dumps(WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0)))
    header, payload = split_file(data)
    return join_file(header, payload_edit(bytearray(payload)))


def first_member(payload: bytes) -> zipfile.ZipInfo:
    with zipfile.ZipFile(io.BytesIO(bytes(payload))) as archive:
        return next(info for info in archive.infolist() if not info.filename.startswith(persistence.STATE_KEY))


def data_start(payload: bytes, info: zipfile.ZipInfo) -> int:
    n, m = struct.unpack_from("<2H", payload, info.header_offset + 26)
    return info.header_offset + 30 + n + m


def flip_data_byte(payload: bytearray) -> bytearray:  # the CRC-32 no longer matches; the array's values still pass
    info = first_member(payload)
    start = data_start(payload, info)
    assert bytes(payload[start : start + 6]) == b"\x93NUMPY" and payload[start + 6] == 1
    header = 10 + struct.unpack_from("<H", payload, start + 8)[0]
    payload[start + header] ^= 0x01  # the lowest bit of the first element
    return payload


def rename_local(payload: bytearray) -> bytearray:  # the local header's name differs from the directory's
    info = first_member(payload)
    payload[info.header_offset + 30] ^= 0x01
    return payload


def encrypted_flag(payload: bytearray) -> bytearray:  # the directory says encrypted
    name = first_member(payload).filename.encode()
    start = bytes(payload).find(b"PK\x01\x02")  # the central directory's entries
    while start >= 0:
        name_length = struct.unpack_from("<H", payload, start + 28)[0]
        if bytes(payload[start + 46 : start + 46 + name_length]) == name:
            payload[start + 8] |= 0x01
            return payload
        start = bytes(payload).find(b"PK\x01\x02", start + 4)
    raise AssertionError("no directory entry")


def bad_local_signature(payload: bytearray) -> bytearray:
    payload[first_member(payload).header_offset] ^= 0xFF
    return payload


def huge_header(payload: bytearray) -> bytearray:  # the .npy header length field says 65,535 bytes
    info = first_member(payload)
    start = data_start(payload, info)
    assert payload[start + 6] == 1
    payload[start + 8 : start + 10] = b"\xff\xff"
    return payload


def not_npy(payload: bytearray) -> bytearray:
    info = first_member(payload)
    payload[data_start(payload, info)] ^= 0xFF
    return payload


@pytest.mark.parametrize("edit, message", [(flip_data_byte, "CRC-32"), (rename_local, None), (encrypted_flag, None),
                                           (bad_local_signature, None), (huge_header, None), (not_npy, None)])
def test_a_forged_member_is_refused(edit, message):
    with pytest.raises(ModelFileError, match=message):
        persistence.loads(forged(edit))


def test_a_member_lying_past_the_payload_is_refused_before_it_is_read():
    member = npy_member(np.arange(4.0), None)
    payload = bytearray(zip_of({"a.npy": member}))
    info = first_member(payload)
    payload[info.header_offset + 28 : info.header_offset + 30] = struct.pack("<H", len(payload))  # extra length
    with pytest.raises(ModelFileError, match="ends past the payload"):
        model_file.open_arrays(bytes(payload))


def test_a_negative_size_in_a_shape_is_refused_when_the_member_is_checked():
    text = "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, -4), }\n"
    raw = b"\x93NUMPY\x01\x00" + header_bytes(text, (1, 0)) + np.arange(4.0).tobytes()
    with pytest.raises(ModelFileError, match="negative size"):
        model_file.open_arrays(zip_of({"a.npy": raw}))


# -- the payload is read where it lies, never keeping a caller's bytes from changing -------------------------------
def test_a_callers_bytearray_stays_resizable_after_a_load_and_after_a_refused_one():
    data = persistence.dumps(WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0)))
    held = []
    for raw in (data, forged(flip_data_byte)):
        buffer = bytearray(raw)
        try:
            held.append(persistence.loads(buffer))
        except ModelFileError as exc:
            held.append(exc)  # its traceback holds the loader's frames
        buffer.extend(b"more")  # BufferError if a view of it were still held
        del buffer[:]
    assert isinstance(held[0], WorkloadPredictor) and isinstance(held[1], ModelFileError)


def test_load_reads_the_files_bytes_and_each_array_is_a_copy_of_its_own(tmp_path):
    predictor = WorkloadPredictor(horizon=5).fit(periodic_series(300, noise=2.0))
    loaded = WorkloadPredictor.load(predictor.save(tmp_path / "model.wpm"))
    arrays = [value for value in vars(loaded.model_).values() if isinstance(value, np.ndarray)]

    def owner(array):  # what holds an array's memory: None where numpy allocated it
        while isinstance(array, np.ndarray):
            array = array.base
        return array

    assert arrays and all(array.flags.writeable and owner(array) is None for array in arrays)
    assert_same_forecasts(loaded, predictor)
