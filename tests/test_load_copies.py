"""Loading a model file copies nothing but its arrays: what the cheaper readings must still do.

The memory itself is budgeted in perf/test_load_peak.py (the traced peak of a load over the file's bytes, its arrays'
and its state's). Here: the zip directory read through a view of the payload (model_file._Reader) finds the members
``io.BytesIO`` finds and never reads past the payload; a history's timestamps, read from the payload once, equal the
ones pandas builds from its own copy and share no memory with the file's bytes; and the checks that read an array's
least and greatest values, or its timestamps a block at a time, answer as the whole-array formulas did.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import periodic_series
from workload_predictor import ModelFileError, WorkloadPredictor, model_file, persistence
from workload_predictor.data import MAX_VALUE


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# -- the zip directory, read in place ------------------------------------------------------------------------------
def test_the_reader_lists_the_members_bytesio_lists():
    payload = npz(a=np.arange(5.0), b=np.zeros((2, 3), dtype=np.int32), c=np.array("2024-01-01", dtype="M8[ns]"))
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        expected = [(i.filename, i.header_offset, i.file_size, i.CRC) for i in archive.infolist()]
    with zipfile.ZipFile(model_file._Reader(memoryview(payload))) as archive:
        got = [(i.filename, i.header_offset, i.file_size, i.CRC) for i in archive.infolist()]
    assert got == expected and len(got) == 3


def test_the_reader_reads_as_bytesio_reads():
    payload = bytes(range(256)) * 3
    ours, theirs = model_file._Reader(memoryview(payload)), io.BytesIO(payload)
    steps = [("read", 10), ("seek", (5, io.SEEK_SET)), ("read", -1), ("seek", (-30, io.SEEK_END)), ("read", 100),
             ("read", 5), ("seek", (-10, io.SEEK_CUR)), ("read", None), ("seek", (10_000, io.SEEK_SET)), ("read", 3),
             ("seek", (0, io.SEEK_SET)), ("read", 0), ("read", 2**62), ("seek", (-5000, io.SEEK_END)), ("read", 4),
             ("seek", (-5000, io.SEEK_CUR)), ("read", 1)]
    for step, argument in steps:
        if step == "read":
            assert ours.read(argument) == theirs.read(argument), (step, argument)
        else:
            assert ours.seek(*argument) == theirs.seek(*argument), (step, argument)
        assert ours.tell() == theirs.tell(), (step, argument)
    for file in (ours, theirs):
        with pytest.raises(ValueError):
            file.seek(-1)


def test_a_payload_shorter_than_a_zip_end_record_is_no_archive():
    for payload in (b"", b"PK\x05\x06", b"x" * 21):
        with pytest.raises(zipfile.BadZipFile):
            model_file.open_arrays(memoryview(payload))


def test_a_directory_declared_past_the_payload_is_refused_and_read_only_as_far_as_it_goes(monkeypatch):
    """A forged end record declaring a central directory of 2 GiB: zipfile asks for that many bytes, the reader hands
    back what the payload holds (an allocation of at most the payload), and zipfile refuses the archive (which
    load turns into a ModelFileError)."""
    data = persistence.dumps(WorkloadPredictor(model="dlinear", horizon=3).fit(periodic_series(300)))
    end = data.find(b"\n", len(persistence.MAGIC)) + 1
    payload = bytearray(data[end:])
    record = payload.rfind(zipfile.stringEndArchive)
    payload[record + 12 : record + 16] = (2**31).to_bytes(4, "little")  # size of the central directory
    asked = []
    real_read = model_file._Reader.read

    def spy(self, size=-1):
        got = real_read(self, size)
        asked.append((size, len(got)))
        return got

    monkeypatch.setattr(model_file._Reader, "read", spy)
    with pytest.raises(zipfile.BadZipFile):
        model_file.open_arrays(memoryview(bytes(payload)))
    assert asked and all(got <= len(payload) for _, got in asked)


# -- timestamps, copied from the payload once ----------------------------------------------------------------------
STAMPS = pd.date_range("2024-03-31 00:00", periods=500, freq="7min").as_unit("ns").to_numpy()


@pytest.mark.parametrize("unit", ["ns", "s"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Berlin"])
def test_an_index_is_read_once_and_owns_its_timestamps(tz, unit):
    payload = npz(a0=STAMPS.astype(f"M8[{unit}]"))
    with model_file.open_arrays(memoryview(payload)) as arrays:
        index = persistence._Decoder(arrays).decode({"__datetimeindex__": "a0", "tz": tz})
    expected = pd.DatetimeIndex(STAMPS)
    expected = expected if tz is None else expected.tz_localize("UTC").tz_convert(tz)
    assert index.equals(expected) and str(index.dtype) == str(expected.dtype)
    stamps = np.asarray(index.array, dtype="datetime64[ns]")  # the index's own data (a view of it)
    assert not np.shares_memory(stamps, np.frombuffer(payload, dtype=np.uint8))


def test_a_loaded_history_equals_the_fitted_one_and_not_the_file():
    predictor = WorkloadPredictor(model="dlinear", horizon=3).fit(periodic_series(400))
    data = persistence.dumps(predictor)
    loaded = persistence.loads(data, WorkloadPredictor)
    assert loaded.series_.index.equals(predictor.series_.index)
    assert str(loaded.series_.index.tz) == "UTC"
    stamps = np.asarray(loaded.series_.index.array, dtype="datetime64[ns]")
    assert not np.shares_memory(stamps, np.frombuffer(data, dtype=np.uint8))


def test_a_view_is_checked_as_a_copy_is():
    payload = bytearray(npz(a0=np.arange(1000.0)))
    data = bytes(payload)
    with model_file.open_arrays(memoryview(data)) as arrays:
        view = arrays.view("a0")
        assert not view.flags.writeable and np.array_equal(view, np.arange(1000.0))
        assert np.shares_memory(view, np.frombuffer(data, dtype=np.uint8))
        # An array of its own: writeable, in memory of its own (a copy, shaped as numpy.load shapes it), not the file's.
        copy = arrays["a0"]
        assert copy.flags.writeable and not np.shares_memory(copy, np.frombuffer(data, dtype=np.uint8))
    at = payload.find(np.arange(1000.0)[500:501].tobytes())
    payload[at] ^= 1  # one data bit: only the CRC-32 sees it
    with model_file.open_arrays(memoryview(bytes(payload))) as arrays:
        for read in (arrays.view, arrays.__getitem__):
            with pytest.raises(ModelFileError, match="CRC-32"):
                read("a0")


# -- checks without whole-array temporaries --------------------------------------------------------------------------
def old_is_real(array, nonnegative=False):
    return (isinstance(array, np.ndarray) and array.dtype.kind in "fiu" and bool(np.isfinite(array).all())
            and (not nonnegative or not bool((array < 0).any())))


def old_is_load(array):
    return old_is_real(array, nonnegative=True) and not bool((array > MAX_VALUE).any())


SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, MAX_VALUE, np.nextafter(MAX_VALUE, np.inf),
                           1e300, -1e300, 5e-324])
def cast(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` in ``dtype``: values past its range become infinities."""
    with np.errstate(over="ignore"):
        return array.astype(dtype)


SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)
FLOATS = st.tuples(hnp.arrays(np.float64, SHAPES, elements=st.one_of(SPECIAL, st.floats(allow_subnormal=True))),
                   st.sampled_from([np.float64, np.float32, np.float16]))
ARRAYS = st.one_of(
    FLOATS.map(lambda drawn: cast(*drawn)),
    hnp.arrays(st.sampled_from([np.int64, np.int8, np.uint8, np.uint64]), SHAPES),
)


@settings(max_examples=400, deadline=None)
@given(ARRAYS, st.sampled_from([0.0, 1.0, 1e6, np.inf, np.nan]), st.booleans(), st.sampled_from([0, 8192]))
def test_the_range_checks_answer_as_the_whole_array_formulas(array, bound, fortran, block):
    """Both readings of _is_real: an array over _CHECK_BLOCK values by its least and greatest (block 0: every array
    drawn), a smaller one through temporaries."""
    if fortran:
        array = np.asfortranarray(array)
    with np.errstate(all="ignore"), pytest.MonkeyPatch.context() as patch:
        patch.setattr(model_file, "_CHECK_BLOCK", block)
        assert model_file._is_real(array) == old_is_real(array)
        assert model_file._is_real(array, nonnegative=True) == old_is_real(array, nonnegative=True)
        assert model_file._is_load(array) == old_is_load(array)
        if old_is_real(array):
            # np.abs in float64: in an int8, np.abs(-128) is -128 (the old formula read it as within any bound >= 0)
            beyond = bool((np.abs(array.astype(np.float64)) > bound).any())
            assert model_file._is_within(array, bound) == (not beyond)
            assert model_file._beyond(array, bound) == beyond


@pytest.mark.parametrize("value", [[1.0], "text", None, np.array([True])])
def test_what_is_no_array_of_numbers_is_not_real(value):
    assert not model_file._is_real(value) and not model_file._is_load(value)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3 * model_file._CHECK_BLOCK + 3), st.lists(st.integers(0, 3 * model_file._CHECK_BLOCK + 3),
                                                                 max_size=3), st.sampled_from([1, -1, 0, 60]))
def test_the_spacing_check_reads_blocks_as_the_whole_diff_reads(n, breaks, shift):
    step = np.timedelta64(60, "s")
    stamps = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(n) * step
    for at in breaks:
        if at < n:
            stamps[at:] += np.timedelta64(shift, "s")
    expected = not bool((np.diff(stamps) != step).any())
    assert model_file._evenly_spaced(stamps, step) == expected


@pytest.mark.parametrize("at", [1, model_file._CHECK_BLOCK - 1, model_file._CHECK_BLOCK, model_file._CHECK_BLOCK + 1,
                                2 * model_file._CHECK_BLOCK, 3 * model_file._CHECK_BLOCK - 1])
def test_a_gap_on_a_block_boundary_is_found(at):
    step = np.timedelta64(10, "s")
    stamps = np.datetime64("2024-01-01T00:00:00", "ns") + np.arange(3 * model_file._CHECK_BLOCK) * step
    stamps[at:] += step
    assert not model_file._evenly_spaced(stamps, step)
    assert model_file._evenly_spaced(stamps[:at], step) and model_file._evenly_spaced(stamps[at:], step)
