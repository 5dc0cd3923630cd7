"""Reading a model file without letting its bytes decide what is allocated.

:mod:`workload_predictor.persistence` defines the format; this module guards the
reading. Every size a file declares is checked against what the file holds and
against fixed bounds *before* anything of that size is allocated:

* the path must name a regular file (after following links: no device such as
  ``/dev/zero``, no FIFO, no directory) of at most ``max_bytes``, checked on the
  open descriptor before a byte is read;
* the payload's archive members must be stored uncompressed (as ``numpy.savez``
  writes them), and their sizes from the zip directory must add up to no more than
  the payload itself (no DEFLATE bomb, no overlapping members);
* each array's shape and dtype come from its ``.npy`` header, read without the
  data: the shape times the item size must be exactly the bytes the member holds;
* the state names each array once (a second reference is refused before the member
  is read again), so the arrays built add up to at most the payload;
* a network is built on torch's ``meta`` device first (no memory) and its tensor
  shapes compared with the stored ones before the real one is built;
* a fitted predictor's horizon, window, targets and model must agree with its
  stored arrays, its confidence must lie in [0, 1] and its timing buffer must be
  bounded, before it forecasts once as the last check; a model saved on its own
  gets the checks of a predictor's model (:func:`check_model`) and forecasts once too;
* what an update, ``health`` and a second save read and a forecast does not (the stored
  models' own settings, validation origins, a DLinear's blend, an ensemble's evidence and
  rule, the timings) is checked too, so a file that loads does not fail later;
* the loads a file holds are at most ``MAX_VALUE`` (as the door lets them in), its forecasts (held, and the ones
  load runs), interval half-widths and validation errors at most :func:`forecast_bound` (``(1 + horizon) *
  MAX_VALUE``), its models' scalings a mean and a spread of loads.

So a file can make :func:`~workload_predictor.persistence.load` allocate at most a
small multiple of its own size, and a file is at most ``max_bytes``.
"""

from __future__ import annotations

import collections
import inspect
import io
import math
import os
import re
import stat
import struct
import warnings
import zipfile
import zlib
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

from .data import MAX_VALUE, duration_text
from .errors import ModelFileError, WorkloadDataError, cut, is_integer, is_number, is_positive_int, plural, quote

#: Default largest model file :func:`~workload_predictor.persistence.load` reads (1 GiB). A DLinear
#: predictor fitted on a million buckets is about 40 MB (the fitted series dominates); pass
#: ``max_bytes`` to read a larger one.
MAX_FILE_BYTES = 1 << 30
#: Most JSON tokens (opening brackets and commas) a file's state may hold, counted before it is decoded: decoding
#: takes up to about 140 bytes per token (a million empty lists, 3 bytes each in the file, 2 tokens each, peaked at
#: 138 MB), 45 times the state's size; this bounds it near 70 MB. A DLinear fleet of 2,000 keys holds 26,000 (13 per
#: key: a file holds a fleet of up to about 75,000 keys).
MAX_STATE_ITEMS = 1_000_000
#: Largest ``.npy`` header read from a member (numpy's own default limit).
MAX_NPY_HEADER_BYTES = 10_000
ARRAY_KINDS = "biufcM"  # bool, ints, floats, complex, datetime64: never object ("O") nor void ("V")
#: Largest count a file may give a model (``n_seen_``, a window's position): an update adds to it and numpy reads it
#: as an int64.
MAX_COUNT = 2**53
#: The classes of DLinear state (``"dlinear"``, ``"dlinear_log"``): what :func:`_check_dlinear` checks.
DLINEAR_CLASSES = ("DLinear", "LogDLinear")
#: A DLinear's smallest spread, relative to ``max(1, mean)``: :func:`~workload_predictor.windows.fit_scale` takes a
#: column whose spread is smaller for a constant (its scale then ``max(1, |mean|)``).
SCALE_FLOOR = 1e-12


def read_file(path: str | os.PathLike, max_bytes: int = MAX_FILE_BYTES) -> bytearray:
    """The bytes of the regular file at ``path`` if it holds at most ``max_bytes``; else ModelFileError.

    The file is opened without blocking (a FIFO would otherwise wait for a writer),
    and its type and size are read from the open descriptor, so a file swapped
    after the check is never the one read.
    """
    if not is_positive_int(max_bytes):
        raise WorkloadDataError(f"max_bytes={quote(max_bytes)} must be a positive number of bytes (an int).")
    try:
        path = os.fspath(path)  # str, bytes or os.PathLike; anything else is not a path
    except TypeError:
        raise ModelFileError(f"path={quote(path)} is not a path: pass the str or os.PathLike of a file written by "
                             "save().") from None
    shown = quote(str(path))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        handle = os.open(path, flags)
    except OSError as exc:
        raise ModelFileError(f"cannot read the model file {shown} ({exc.strerror or type(exc).__name__}).") from None
    except ValueError as exc:  # e.g. an embedded NUL character
        raise ModelFileError(f"path={shown} is not a valid path ({cut(exc)}).") from None
    try:
        info = os.fstat(handle)
    except OSError:
        os.close(handle)
        raise
    if not stat.S_ISREG(info.st_mode):
        os.close(handle)
        kind = ("a directory" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise ModelFileError(f"the model file {shown} is {kind}; pass the path of a file written by save().")
    with os.fdopen(handle, "rb", buffering=0) as stream:
        if info.st_size > max_bytes:
            raise ModelFileError(
                f"the model file {shown} holds {info.st_size:,} bytes, more than max_bytes={max_bytes:,}; "
                "pass a larger max_bytes to load(...) if the file is trusted and really that large."
            )
        data = bytearray(info.st_size + 1)  # one more: a file that grew after fstat is caught
        view, filled = memoryview(data), 0
        try:
            while filled < len(data):
                count = stream.readinto(view[filled:])
                if not count:
                    break
                filled += count
        except OSError as exc:
            raise ModelFileError(f"cannot read the model file {shown} ({exc.strerror or type(exc).__name__}).") \
                from None
        finally:
            view.release()
    if filled > info.st_size:
        raise ModelFileError(f"the model file {shown} grew while it was read; read it once its writer is done.")
    del data[filled:]
    return data


def open_arrays(payload: bytes) -> "Arrays":
    """The payload's arrays (:class:`Arrays`), once every member's declared size has been checked.

    Refused: a compressed or encrypted member, members whose sizes add up to more than
    the payload, a member that lies outside the payload, a member that is not a ``.npy``
    array, a dtype that is not a plain number or datetime, and a shape whose data is not
    exactly the member's bytes. Each member's header is parsed once, here; an array is
    read later from the bytes checked (:meth:`Arrays.__getitem__`).
    """
    with zipfile.ZipFile(_Reader(payload)) as archive:  # the payload where it lies: BytesIO would copy it
        members = archive.infolist()
    declared = sum(info.file_size for info in members)
    if declared > len(payload):
        raise ModelFileError(
            f"the model file's archive declares {declared:,} bytes of members in a {len(payload):,}-byte payload "
            "(overlapping or forged entries)."
        )
    # A name held twice is read as its last entry (as zipfile reads it); every entry is checked.
    return Arrays(payload, {info.filename[: -len(".npy")]: _check_member(payload, info) for info in members})


class _Reader:
    """A read-only, seekable file over ``payload``'s bytes, which it does not copy: what :class:`zipfile.ZipFile`
    reads the archive's directory through (``seek``, ``tell``, ``read``). A read returns at most the bytes left from
    the position, as a file's does, whatever size the archive declares."""

    def __init__(self, payload: bytes) -> None:
        self._view, self._position = memoryview(payload), 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """As :meth:`io.BytesIO.seek`: a negative position is refused from the start, and taken for 0 from the
        current position or the end (zipfile seeks 22 bytes before the end of any payload)."""
        if whence == io.SEEK_SET and offset < 0:
            raise ValueError(f"negative seek value {offset}")
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._position + size)
        data = bytes(self._view[self._position : max(self._position, end)])
        self._position += len(data)
        return data


class _Member(NamedTuple):
    """Where a checked member lies in the payload (``start`` of its bytes, ``size`` of them, ``crc`` its CRC-32)
    and the array its ``.npy`` header declares (data from ``data``: ``shape``, Fortran order or not, ``dtype``)."""

    name: str
    start: int
    size: int
    crc: int
    data: int
    shape: tuple
    fortran: bool
    dtype: np.dtype


class Arrays:
    """A model file's checked arrays by name (``files``, as :class:`numpy.lib.npyio.NpzFile` names them); each is
    read from the payload on access into an array of its own (writeable, aligned) after its CRC-32 is checked."""

    def __init__(self, payload: bytes, members: dict[str, _Member]) -> None:
        self._payload, self._members = payload, members
        self.files = list(members)

    def __contains__(self, key: Any) -> bool:
        """Whether the archive holds an array named ``key`` (a lookup, not a scan of :attr:`files`)."""
        return key in self._members if isinstance(key, str) else key in self.files

    def __getitem__(self, key: str) -> np.ndarray:
        return self._shaped(key, self._flat(key).copy())

    def view(self, key: str) -> np.ndarray:
        """The array ``key`` where it lies in the payload, once its CRC-32 is checked: read-only, maybe misaligned,
        and keeping the payload alive; for a caller that copies it at once (a pandas index, see
        :mod:`~workload_predictor.persistence`)."""
        return self._shaped(key, self._flat(key))

    def _flat(self, key: str) -> np.ndarray:
        """The member ``key``'s array data in the payload, in one axis, once its CRC-32 is checked."""
        member = self._members[key]
        if zlib.crc32(memoryview(self._payload)[member.start : member.start + member.size]) != member.crc:
            raise ModelFileError(f"the model file's array {quote(member.name)} does not match its CRC-32: it was "
                                 "corrupted or altered.")
        return np.frombuffer(self._payload, dtype=member.dtype, count=math.prod(member.shape), offset=member.data)

    def _shaped(self, key: str, flat: np.ndarray) -> np.ndarray:
        """``flat`` (:meth:`_flat`) in the shape and order member ``key`` declares."""
        member = self._members[key]
        if member.fortran:  # as numpy.load builds it: the reversed shape, transposed
            return flat.reshape(member.shape[::-1]).transpose()
        return flat.reshape(member.shape)  # a view: flat is one contiguous axis

    def __enter__(self) -> "Arrays":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._payload, self._members = b"", {}


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # a zip member's local file header (zipfile's structFileHeader)
_NPY_MAGIC = b"\x93NUMPY"
# numpy.lib.format's header as numpy writes it: a dict of three keys in this order, padded with spaces to a newline.
_NPY_HEADER = re.compile(r"\{'descr': '([<>|=]?[A-Za-z][A-Za-z0-9]*(?:\[[A-Za-z0-9]+\])?)', "
                         r"'fortran_order': (True|False), 'shape': (\([0-9, ]*\)), \} *\n")


def _check_member(payload: bytes, info: zipfile.ZipInfo) -> _Member:
    """Where ``info``'s member lies in ``payload`` and the array it holds, checked as :func:`open_arrays` says."""
    name = quote(info.filename)
    if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
        raise ModelFileError(f"the model file's array {name} is compressed; save() stores arrays uncompressed.")
    if not info.filename.endswith(".npy"):
        raise ModelFileError(f"the model file's archive holds {name}, which is not an array.")
    start = _member_start(payload, info, name)
    size = info.file_size
    if size < 8 or bytes(payload[start : start + 6]) != _NPY_MAGIC:
        raise ModelFileError(f"the model file's array {name} is not a .npy array (it lacks NumPy's magic string).")
    version = (payload[start + 6], payload[start + 7])
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ModelFileError(f"the model file's array {name} has .npy version {version}.")
    length_bytes = 2 if version == (1, 0) else 4
    if size < 8 + length_bytes:
        raise ModelFileError(f"the model file's array {name} is truncated inside its .npy header.")
    length = int.from_bytes(payload[start + 8 : start + 8 + length_bytes], "little")
    header_bytes = 8 + length_bytes + length
    if length > MAX_NPY_HEADER_BYTES:  # numpy reads every version's header as latin-1: a character a byte
        raise ModelFileError(f"the model file's array {name} declares a .npy header of {length:,} bytes, more than "
                             f"the {MAX_NPY_HEADER_BYTES:,} read.")
    if header_bytes > size:
        raise ModelFileError(f"the model file's array {name} declares a .npy header of {length:,} bytes in a "
                             f"{size:,}-byte member.")
    shape, fortran, dtype = _npy_header(bytes(payload[start + 8 : start + header_bytes]), version)
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        raise ModelFileError(f"the model file's array {name} has dtype {quote(str(dtype))}, not numbers or datetimes.")
    if any(n < 0 for n in shape):
        raise ModelFileError(f"the model file's array {name} declares shape {quote(shape)}, with a negative size.")
    count = math.prod(shape)  # Python ints: no overflow for a forged shape
    if count * dtype.itemsize != size - header_bytes:
        raise ModelFileError(
            f"the model file's array {name} declares shape {quote(shape)} of {dtype} ({count * dtype.itemsize:,} "
            f"bytes) but holds {size - header_bytes:,} bytes."
        )
    return _Member(info.filename, start, size, info.CRC, start + header_bytes, shape, fortran, dtype)


def _member_start(payload: bytes, info: zipfile.ZipInfo, name: str) -> int:
    """Where ``info``'s bytes start in ``payload``, after its local header, checked as :meth:`zipfile.ZipFile.open`
    checks it (signature, name, no encryption nor patch), and that they end inside the payload."""
    offset = info.header_offset
    if offset < 0 or offset + _LOCAL_HEADER.size > len(payload):
        raise ModelFileError(f"the model file's array {name} starts outside the payload.")
    header = _LOCAL_HEADER.unpack_from(payload, offset)
    if header[0] != zipfile.stringFileHeader:
        raise ModelFileError(f"the model file's array {name} has no zip file header where the archive says.")
    if info.flag_bits & 0x61:  # encrypted (bit 0), compressed patched data (5), strong encryption (6)
        raise ModelFileError(f"the model file's array {name} is encrypted or patched; save() writes neither.")
    named = bytes(payload[offset + _LOCAL_HEADER.size : offset + _LOCAL_HEADER.size + header[10]])
    try:
        local_name = named.decode("utf-8" if header[3] & 0x800 else "cp437")
    except UnicodeDecodeError:
        local_name = None
    if local_name != info.orig_filename:
        raise ModelFileError(f"the model file's array {name} is named {quote(named)} in its zip file header.")
    start = offset + _LOCAL_HEADER.size + header[10] + header[11]
    if start + info.file_size > len(payload):
        raise ModelFileError(f"the model file's array {name} ends past the payload ({start + info.file_size:,} of "
                             f"{len(payload):,} bytes).")
    return start


def _npy_header(header: bytes, version: tuple[int, int]) -> tuple[tuple, bool, np.dtype]:
    """The shape, Fortran order and dtype a ``.npy`` header declares (``header``: its bytes from the length field
    on), as :func:`numpy.lib.format.read_array_header_1_0` reads it (``_2_0`` for versions 2 and 3), which reads any
    header not written as numpy writes it (and raises what it raises)."""
    text = header[2 if version == (1, 0) else 4 :]
    match = _NPY_HEADER.fullmatch(text.decode("latin1"))
    if match is not None:
        descr, fortran, shape_text = match.groups()
        shape = tuple(int(n) for n in shape_text[1:-1].split(",") if n.strip())
        if repr(shape) == shape_text:  # the canonical tuple: no blanks or signs numpy's parser reads otherwise
            try:
                return shape, fortran == "True", np.dtype(descr)
            except Exception:  # noqa: BLE001 - numpy's reader below raises what numpy raises for it
                pass
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return read(io.BytesIO(header), max_header_size=MAX_NPY_HEADER_BYTES)


def check_network(cls: type, init: Any, state: dict[str, np.ndarray]) -> None:
    """Refuse ``cls(*init)`` unless its parameters have exactly the shapes of the stored ``state``.

    The module is built on torch's ``meta`` device (shapes without storage), after
    each integer argument (a size) is bounded by the number of stored values, so a
    forged size costs nothing.
    """
    import torch

    if not isinstance(init, list) or not all(v is None or isinstance(v, (bool, int, float, str)) for v in init):
        raise ModelFileError(f"the model file gives the network arguments {quote(init)}, not a list of plain values.")
    for value, parameter in zip(init, inspect.signature(cls).parameters.values()):
        # A size given as True or 2.0 builds the same shapes on the meta device, and torch's forward refuses it.
        if parameter.annotation in (int, "int") and not is_integer(value):
            raise ModelFileError(f"the model file gives the network's {parameter.name}={quote(value)}, not an integer.")
    stored = sum(int(np.asarray(v).size) for v in state.values())
    sizes = [v for v in init if isinstance(v, int) and not isinstance(v, bool)]
    if any(v < 0 or v > max(stored, 1) for v in sizes):
        raise ModelFileError(
            f"the model file gives the network sizes {quote(init)}, which do not fit its {stored:,} stored weights."
        )
    # Shapes only: a forged size of 0 (a valid count for some arguments) makes torch warn that initialising its empty
    # weights does nothing, on the way to the refusal below.
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        built = cls(*init).state_dict()
    shapes = {k: tuple(t.shape) for k, t in built.items()}
    given = {k: tuple(np.shape(v)) for k, v in state.items()}
    if shapes != given:
        wrong = sorted(set(shapes) ^ set(given)) or sorted(k for k in shapes if shapes[k] != given[k])
        raise ModelFileError(
            f"the model file's network sizes {quote(init)} do not match its stored weights (first difference: "
            f"{quote(wrong[0])}); it was damaged or altered."
        )
    # The weights' kind of number, the network's: torch would cast a complex weight to real, dropping its imaginary
    # part (with a warning), and a date, a bool or an integer to a float, without a word.
    for name, tensor in built.items():
        kind = "c" if tensor.is_complex() else "f" if tensor.is_floating_point() else "b" if tensor.dtype == torch.bool \
            else "iu"
        dtype = np.asarray(state[name]).dtype
        if dtype.kind not in kind:
            raise ModelFileError(
                f"the model file's network weight {quote(name)} holds values of dtype {dtype}, where the network holds "
                f"{str(tensor.dtype).removeprefix('torch.')}; it was damaged or altered."
            )


def _check_anomalies(obj: Any, k: int, refuse: Any) -> None:
    """The recorded input anomalies: a bounded buffer of (timestamp, target, value, median), a floor per target (both
    absent in files saved before they were recorded), and the flags among the newest buckets (``input_flags_``, rows
    of medians or NaN, as many as the predictor keeps at most, at least one median, each a recorded anomaly:
    :func:`_check_flags_recorded`; absent in files saved before it was kept), and the newest
    non-zero buckets and their counts that raise the floor through updates (absent in files saved before they were
    kept)."""
    from .anomaly import KEPT, RECENT_BUCKETS

    floor = getattr(obj, "input_floor_", None)
    if floor is not None and not _is_scale_floor(floor, (k,)):
        refuse(f"holds an input anomaly floor of shape {quote(np.shape(floor))}, not {plural(k, 'value')} from 1 to "
               f"{MAX_VALUE:g} (a quantile or median of loads, at least 1), as large as {_largest(floor):g}")
    _check_nonzero(getattr(obj, "input_nonzero_", None), getattr(obj, "input_nonzero_counts_", None),
                   getattr(obj.model_, "n_seen_", None), k, refuse)
    rows = getattr(obj, "input_flags_", None)
    if rows is not None:
        span = obj._flag_span(obj.model_)
        # None where no bucket among them is flagged (a fit's, an update's): never rows of NaN only.
        if not isinstance(rows, np.ndarray) or rows.dtype.kind != "f" or rows.ndim != 2 or rows.shape[1] != k \
                or not 1 <= len(rows) <= span or not _is_load(rows[~np.isnan(rows)]) or bool(np.isnan(rows).all()):
            refuse(f"keeps the flags among its newest buckets as {quote(rows)} of shape {quote(np.shape(rows))}, not "
                   f"at most {span:,} rows of {plural(k, 'median')} (finite loads >= 0) or NaN, at most {MAX_VALUE:g}, "
                   "at least one median")
    stamps = getattr(obj, "input_anomaly_buckets_", None)  # what health counts (absent in files saved before)
    if stamps is not None:
        last = obj.last_timestamp_.tz_localize(None).to_datetime64()
        if not isinstance(stamps, np.ndarray) or stamps.dtype != np.dtype("datetime64[ns]") or stamps.ndim != 1 \
                or not len(stamps) <= RECENT_BUCKETS or (np.diff(stamps) <= np.timedelta64(0, "ns")).any() \
                or (len(stamps) and stamps[-1] > last):
            # None where none was flagged; none (empty) where every flagged bucket lies before the newest
            # RECENT_BUCKETS at fit: a fit's file holds that.
            refuse(f"keeps its flagged buckets as {quote(stamps)}, not 0 to {RECENT_BUCKETS:,} increasing UTC "
                   "timestamps up to its last bucket")
    flagged = getattr(obj, "input_anomalies_", None)
    if flagged is None:
        if rows is not None:  # a fit and an update record the anomalies they flag (None only in older files)
            refuse("keeps flags among its newest buckets without the input anomalies recorded")
        return
    if not isinstance(flagged, collections.deque) or flagged.maxlen != KEPT or not all(
            isinstance(a, tuple) and len(a) == 4 and isinstance(a[0], pd.Timestamp) and _is_utc(a[0]) and a[1] in {str(t) for t in obj.targets_}
            and all(isinstance(x, float) for x in a[2:]) for a in flagged):
        refuse(f"keeps its input anomalies in {quote(flagged)}, not a buffer of {KEPT} "
               "(UTC timestamp, target, value, median)")
    if rows is not None:
        _check_flags_recorded(obj, rows, flagged, refuse)


def _check_flags_recorded(obj: Any, rows: np.ndarray, flagged: collections.deque, refuse: Any) -> None:
    """The flags among the newest buckets (``input_flags_``, checked) are the recorded input anomalies among them
    (``input_anomalies_``, checked): a fit's scan and each update's record every bucket they flag in both, with its
    median, the flags for the newest buckets the predictor keeps, the anomalies the newest ``KEPT`` (a flag at or
    before the oldest of a full buffer may have left it); an update of a file saved before the flags were kept builds
    them from the anomalies. The rows' count follows no one rule (flags that came after none was kept begin at their
    update's first bucket), so it is their place, target and median that are compared."""
    last, freq, count = obj.last_timestamp_, obj.freq_, len(rows)
    column = {str(target): j for j, target in enumerate(obj.targets_)}
    unmatched = ~np.isnan(rows)

    def differ(stamp: Any, target: str, flag: float, median: float | None) -> None:
        flagged_as = "not flagged" if math.isnan(flag) else f"flagged with the median {flag:g}"
        recorded_as = "no anomaly recorded" if median is None else f"an anomaly recorded with the median {median:g}"
        refuse(f"keeps flags among its newest buckets that disagree with its recorded input anomalies (first: "
               f"{quote(target)} at {stamp}, {flagged_as}, {recorded_as})")

    for stamp, target, _, median in flagged:
        try:
            back, rest = divmod(last - stamp, freq)
        except (OverflowError, ValueError):
            continue  # far from the buckets the flags cover
        if rest != pd.Timedelta(0) or not 0 <= back < count:
            continue  # before the buckets the flags cover (or off their grid: no flag reads it)
        row, col = count - 1 - back, column[target]
        if not rows[row, col] == median:
            differ(stamp, target, float(rows[row, col]), median)
        unmatched[row, col] = False
    if len(flagged) == flagged.maxlen:  # the flags at or before the oldest kept may have left the buffer
        oldest = flagged[0][0]
        try:
            newer = -(-(last - oldest) // freq)  # the rows after it, ceiled
        except (OverflowError, ValueError):
            newer = count if oldest < last else 0  # centuries apart (no fit's)
        unmatched[: max(count - max(newer, 0), 0)] = False
    if unmatched.any():
        row, col = (int(i) for i in np.argwhere(unmatched)[0])
        differ(last - (count - 1 - row) * freq, str(obj.targets_[col]), float(rows[row, col]), None)


def _check_lost(obj: Any, model: Any, refuse: Any) -> None:
    """The lost buckets (``lost_buckets_``: increasing signed integer positions among the newest buckets the
    predictor keeps flags for, up to the model's last point) and the calibration windows the interval leaves out
    (``interval_left_out_``: a bool per window, at least one); both ``None`` when there are none, absent in files
    saved before they were kept. Signed, as an update writes them (int64): an update joins the positions it finds to
    them, and uint64 joined with int64 are float64, which index no array (such a file's update would raise
    IndexError)."""
    lost = getattr(obj, "lost_buckets_", None)
    if lost is not None:
        seen, span = model.n_seen_, obj._flag_span(model)
        if not isinstance(lost, np.ndarray) or lost.dtype.kind != "i" or lost.ndim != 1 \
                or not 1 <= len(lost) <= span or (np.diff(lost) <= 0).any() or not seen - span <= lost[0] \
                or not lost[-1] < seen:
            refuse(f"keeps its lost buckets as {quote(lost)}, not 1 to {span:,} increasing signed integer positions "
                   f"from {seen - span:,} to {seen - 1:,} (its newest buckets)")
    left_out = getattr(obj, "interval_left_out_", None)
    if left_out is not None:
        pool = getattr(model, "calibration_actual_", None)
        count = len(model.validation_actual_ if pool is None else pool)
        if not isinstance(left_out, np.ndarray) or left_out.dtype != np.bool_ or left_out.shape != (count,) \
                or not left_out.any():
            refuse(f"leaves out of its interval the windows {quote(left_out)}, not {plural(count, 'bool')} (one per "
                   "calibration window), at least one true")


def _check_lost_held(obj: Any, refuse: Any) -> None:
    """The lost buckets the history still holds (checked by :func:`_check_lost` and with the history before) are
    zero-filled ones, 0 in every target: a position naming a busy bucket is none an update records (it was read as
    its reference median, and the windows on it left out of the interval)."""
    lost = getattr(obj, "lost_buckets_", None)
    if lost is None:
        return
    values = obj.series_.values
    shift = obj.model_.n_seen_ - len(values)  # values[0] is point number shift of the model's
    held = lost[lost >= max(shift, 0)] - shift
    if len(held) and (values[held] != 0).any():
        first = int(held[(values[held] != 0).any(axis=1)][0])
        refuse(f"keeps a lost bucket at position {first + shift:,} whose history holds the loads "
               f"{quote(values[first].tolist())}, not a zero-filled bucket")


def _check_nonzero(kept: Any, counts: Any, seen: Any, k: int, refuse: Any) -> None:
    """The newest non-zero buckets per target (``kept``, an ``input_nonzero_``: at most ``BUSY_KEPT`` rows of ``k``
    finite loads above 0, NaN before a target's first, as many of each as its count allows) and the counts of all
    (``counts``, ``input_nonzero_counts_``: ``k`` integers up to the ``seen`` buckets the model saw); both ``None``
    (absent in older files) or neither."""
    from .anomaly import BUSY_KEPT

    if kept is None and counts is None:
        return
    if not isinstance(counts, np.ndarray) or counts.dtype.kind not in "iu" or counts.shape != (k,) \
            or (counts < 0).any() or not is_positive_int(seen) or (counts > seen).any():
        refuse(f"counts its non-zero buckets as {quote(counts)} of shape {quote(np.shape(counts))}, not "
               f"{plural(k, 'integer')} from 0 to the {quote(seen)} buckets its model saw")
    if not isinstance(kept, np.ndarray) or kept.dtype.kind != "f" or kept.ndim != 2 or kept.shape[1] != k \
            or not 1 <= len(kept) <= BUSY_KEPT or not _is_load(kept[~np.isnan(kept)]) \
            or (kept[~np.isnan(kept)] <= 0).any() or (np.diff(np.isnan(kept).astype(np.int8), axis=0) > 0).any() \
            or ((~np.isnan(kept)).sum(axis=0) != np.minimum(counts, BUSY_KEPT)).any():
        refuse(f"keeps its newest non-zero buckets as {quote(kept)} of shape {quote(np.shape(kept))}, not at most "
               f"{BUSY_KEPT:,} rows of {k} finite loads above 0 and at most {MAX_VALUE:g} (NaN before a target's "
               f"first), as many as its counts {quote(counts)} allow")


def _check_weights(model: Any, k: int, refuse: Any, base: bool = False, seen: Any = None) -> None:
    """A DLinear's bucket weights: a floor per target and one weight in [0, 1] per kept point (both absent in
    files saved before DLinear weighed buckets). ``base``: an LSTM's linear base, which keeps no points of its own:
    its weights are those of its newest points, ``(m, k)`` with ``m >= 1``, and ``seen`` its LSTM's ``n_seen_``,
    below which its ``idle_`` lies (the model's own otherwise)."""
    floor = getattr(model, "weight_floor_", None)
    if floor is not None and not _is_scale_floor(floor, (k,)):
        refuse(f"holds a DLinear weight floor of shape {quote(np.shape(floor))}, not {plural(k, 'value')} from 1 to "
               f"{MAX_VALUE:g} (a quantile or median of loads, at least 1), as large as {_largest(floor):g}")
    weights = getattr(model, "recent_weights_", None)
    recent = getattr(model, "recent_", None)
    shaped = (isinstance(weights, np.ndarray) and weights.ndim == 2 and len(weights) >= 1 and weights.shape[1] == k
              if base else np.shape(weights) == np.shape(recent))
    if weights is not None and (not _is_real(weights) or not shaped
                                or not ((weights >= 0.0) & (weights <= 1.0)).all()):
        refuse(f"holds DLinear recent weights of shape {quote(np.shape(weights))} for kept points of shape "
               f"{f'(m >= 1, {k})' if base else quote(np.shape(recent))}, not weights in [0, 1] for each")
    newest = getattr(model, "newest_weights_", None)  # absent in files saved before a counter's start was weighed
    from .anomaly import COUNTER_RUN

    lead = COUNTER_RUN - 1
    if newest is not None and not (isinstance(newest, np.ndarray) and newest.dtype.kind == "f"
                                   and newest.shape == (lead, k)
                                   and bool(np.isnan(newest[~((newest >= 0.0) & (newest <= 1.0))]).all())):
        refuse(f"holds DLinear newest_weights_ of shape {quote(np.shape(newest))}, not ({lead}, {k}) weights in "
               "[0, 1] (NaN: a window not summed) of its newest windows")
    # both absent in files saved before them
    idle, seen = getattr(model, "idle_", False), getattr(model, "n_seen_", None) if seen is None else seen
    if not (isinstance(idle, (bool, np.bool_)) or (_is_count(idle) and (not _is_count(seen) or idle < seen))):
        refuse(f"holds a DLinear idle_={quote(idle)}, not True, False or the position of a point it has seen (a count "
               f"below n_seen_={quote(seen)})")


def _check_kept(model: Any, k: int, refuse: Any) -> None:
    """The points a model keeps for its next forecast and update (``context_``, ``recent_``) and the count it has
    seen: finite loads >= 0 of ``k`` targets, as the door lets in (an update reads them, a forecast may not), and
    as many as they read: the model's window (``context_length()``) for a forecast, the window and the horizon
    less one for the newest window an update completes."""
    name = type(model).__name__
    for attribute in ("context_", "recent_"):
        kept = getattr(model, attribute, None)
        if kept is not None and (not _is_load(kept) or kept.ndim != 2 or kept.shape[1] != k or len(kept) == 0):
            refuse(f"holds its {name}'s {attribute} of shape {quote(np.shape(kept))}, not finite loads >= 0 (at most "
                   f"{MAX_VALUE:g}) of {plural(k, 'target')}")
    seen = getattr(model, "n_seen_", None)
    context, recent = getattr(model, "context_", None), getattr(model, "recent_", None)
    if seen is not None and (not _is_count(seen) or (recent is not None and seen < len(recent))):
        refuse(f"has its {name}'s n_seen_={quote(seen)}, not a count of at least the points it keeps")
    if context is None and recent is None:
        return
    try:
        reads = model.context_length()
    except (AttributeError, TypeError, ValueError, OverflowError):
        reads = None
    horizon = getattr(model, "horizon", None)
    if not is_positive_int(reads) or not is_positive_int(horizon):
        refuse(f"has its {name} read {quote(reads)} points before each forecast of horizon {quote(horizon)}, not a "
               "window and a horizon of at least 1")
    if context is not None and len(context) < reads:
        refuse(f"keeps {plural(len(context), 'point')} in its {name}'s context_ for a window of {reads:,}")
    if recent is not None and len(recent) < reads + horizon - 1:
        refuse(f"keeps {plural(len(recent), 'point')} in its {name}'s recent_, fewer than the window {reads:,} and "
               f"the horizon {horizon} less one that an update reads")


def _check_dlinear(model: Any, horizon: int, k: int, refuse: Any, context: np.ndarray | None = None) -> None:
    """The state a DLinear's update reads and a forecast does not: its scaling, window statistics, ridge systems
    and penalty, each finite and shaped by its window, horizon and targets; and its weights: their forecast after
    ``context`` (the loads the model it serves keeps, checked before) within :func:`forecast_bound`."""
    window = getattr(model, "window_", None)
    if not _is_count(window) or window < 1:
        refuse(f"has a DLinear window_={quote(window)}, not a positive number of buckets")
    from .models.dlinear import LOG_TOP, TRANSFORMS

    transform = getattr(model, "transform_", None)  # absent in files saved before the setting: none
    if not any(transform is t or (type(transform) is str and transform == t) for t in TRANSFORMS):
        refuse(f"has a DLinear transform_={quote(transform)}, not None or 'log1p'")
    from .models.base import MAX_WINDOW

    if "kernel_size_" in vars(model):  # absent in files saved before it was recorded: the setting is the fit's
        kernel = model.kernel_size_
        if not is_positive_int(kernel) or kernel > MAX_WINDOW:
            refuse(f"has a DLinear kernel_size_={quote(kernel)}, not a positive number of buckets (at most "
                   f"{MAX_WINDOW:,})")
    life = vars(model).get("half_life_")  # absent in files saved before it was recorded: the setting is the fit's
    if life is not None and not (is_number(life) and 1 <= life < np.inf):
        refuse(f"has a DLinear half_life_={quote(life)}, not None or a number of buckets >= 1 (finite)")
    # The largest value its scaling, statistics and forecasts read: a load, or log(1 + load) of one.
    top = MAX_VALUE if transform is None else LOG_TOP
    for name in ("offset_", "scale_"):
        array = getattr(model, name, None)
        if array is not None and (not _is_real(array) or array.shape != (k,) or (name == "scale_" and (array <= 0).any())):
            refuse(f"holds a DLinear {name} that is NaN or infinite, or not {plural(k, 'value')}"
                   f"{' > 0' if name == 'scale_' else ''} (shape {quote(np.shape(array))})")
    offset, scale = getattr(model, "offset_", None), getattr(model, "scale_", None)
    if offset is not None and scale is not None and not _is_scaling_of_loads(offset, scale, top):
        # An update scales every new window by them, and a forged 1e300 turned its statistics into NaN.
        refuse(f"holds a DLinear offset_ {quote(offset)} and scale_ {quote(scale)}, not the mean of "
               f"{'loads' if transform is None else 'log(1 + load)'} in [0, {top:g}] and their spread")
    intercept = getattr(model, "intercept_", None)
    if intercept is not None and np.shape(intercept) != (k, horizon):  # a forecast would broadcast a 0-d one
        refuse(f"holds a DLinear intercept_ of shape {quote(np.shape(intercept))}, not ({k}, {horizon})")
    coef = getattr(model, "coef_", None)
    if coef is not None and np.shape(coef) != (k, window, horizon):
        # A forecast multiplies each target's windows by its weights: other targets' weights or steps would make one
        # of another shape, and a model on its own forecasting one target reads the first column of it.
        refuse(f"holds DLinear weights coef_ of shape {quote(np.shape(coef))}, not ({k}, {window}, {horizon}) for "
               f"{plural(k, 'target')}, window {window} and horizon {horizon}")
    alpha = getattr(model, "alpha_", None)
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                              or not 0.0 < alpha < math.inf):
        refuse(f"has a DLinear alpha_={quote(alpha)}, not a finite penalty > 0")
    steps = getattr(model, "rank_one_steps_", None)
    if not _is_count(steps):
        refuse(f"has a DLinear rank_one_steps_={quote(steps)}, not a count >= 0")
    stats = getattr(model, "stats_", None)
    if stats is not None:
        shapes = {"sum_x": (window,), "sum_y": (horizon,), "xx": (window, window), "xy": (window, horizon)}
        if not isinstance(stats, list) or len(stats) != k or not all(
                type(part).__name__ == "WindowStats" and isinstance(part.count, (int, float))
                and 0.0 <= part.count <= MAX_COUNT and all(
                    _is_real(getattr(part, name, None)) and getattr(part, name).shape == shape
                    for name, shape in shapes.items()) for part in stats):
            refuse(f"holds DLinear window statistics that are not {plural(k, 'set')} of finite sums for window "
                   f"{window} and horizon {horizon}")
        if offset is not None and scale is not None:
            # Sums over ``count`` windows of scaled loads, each at most ``largest`` from 0 (the loads in [0, MAX_VALUE]):
            # larger sums are no fit's, and an update's solve turned a forged 1e300 into NaN weights.
            largest = np.maximum(offset, top - offset) / scale
            for j, part in enumerate(stats):
                bound = 2.0 * part.count * largest[j]  # twice: rounding
                if _beyond(part.sum_x, bound) or _beyond(part.sum_y, bound) \
                        or _beyond(part.xx, bound * largest[j]) or _beyond(part.xy, bound * largest[j]):
                    windows = "window" if part.count == 1 else "windows"  # a count of windows, weighted: a float
                    refuse(f"holds DLinear window statistics of target {j} larger than {part.count:g} {windows} of "
                           f"loads in [0, {MAX_VALUE:g}] sum to")
    ridge = getattr(model, "ridge_", None)
    if ridge is not None and (not isinstance(ridge, list) or len(ridge) != k or not all(
            isinstance(systems, dict) and systems and all(
                _is_count(w) and 1 <= w <= window and type(system).__name__ == "RidgeInverse"
                and isinstance(system.lam, (int, float)) and not isinstance(system.lam, bool)
                # a system kept without its inverse is solved as it is: with no penalty, an idle fit's (its windows
                # all alike) is singular; a fit's is at least alpha_ * PENALTY_FLOOR
                and (0.0 < system.lam if system.inverse is None else 0.0 <= system.lam) and system.lam < math.inf
                and (system.inverse is None or (_is_real(system.inverse) and system.inverse.shape == (w, w)))
                for w, system in systems.items()) for systems in ridge)):
        refuse(f"holds DLinear ridge systems that are not {plural(k, 'set')} of finite penalties (> 0 without an "
               f"inverse) and ({window} or fewer)-square inverses")
    setting = getattr(model, "transform", None)  # what a fit sets transform_ to (a file saved before it: neither)
    known = any(setting is t or (type(setting) is str and setting == t) for t in TRANSFORMS)  # others: check_settings
    if known and not (setting is transform or (type(setting) is str and setting == transform)):
        # A null transform_ beside transform="log1p" would read weights fitted on log(1 + load) as ones on loads.
        refuse(f"has a {type(model).__name__} transform={quote(setting)} fitted as transform_={quote(transform)} (a "
               "fit sets one to the other)")
    _check_dlinear_reach(model, horizon, refuse, context)


def _check_dlinear_reach(model: Any, horizon: int, refuse: Any, context: np.ndarray | None) -> None:
    """A DLinear's weights ``coef_`` and ``intercept_`` forecast within :func:`forecast_bound` after ``context``: its
    inputs are loads and its scaling a mean and spread of loads (both checked before), so a forecast beyond it is its
    weights' (a forged weight of 1e300 forecast 1e284). No bound on the weights themselves: a fit with a small
    ``alpha`` on nearly collinear windows has large ones that cancel on its loads. A forecast that fails (state of
    the wrong shape) is left to the forecast load runs."""
    if context is None or not _is_real(getattr(model, "coef_", None)) or not _is_real(getattr(model, "intercept_", None)):
        return
    try:
        with np.errstate(all="ignore"):
            forecast = model._predict_at(context, np.array([len(context)]))
    except Exception:  # noqa: BLE001 - the forecast check that follows names what it breaks
        return
    bound = forecast_bound(horizon)
    if not _is_within(forecast, bound):
        largest = float(np.nanmax(np.abs(forecast))) if np.size(forecast) else math.nan
        refuse(f"holds DLinear weights (coef_, intercept_) that forecast {largest:g} from its context, beyond "
               f"{bound:g} ((1 + horizon) times the largest load)")


def _is_scale_floor(floor: Any, shape: tuple[int, ...]) -> bool:
    """Whether ``floor`` is an array of ``shape`` scale floors (:func:`~workload_predictor.anomaly.floor_of`): the
    largest of a quantile of loads, the median of the non-zero ones and 1, so from 1 to ``MAX_VALUE``. A floor
    beyond every load flags nothing ever again: a forged 1e300 loaded, forecast and updated as before, and no burst
    was flagged after it. (No tighter bound: the floor is of the fit's whole series, which the file does not keep;
    its newest loads may all be far below it.)"""
    return (_is_real(floor) and floor.shape == shape and not bool((floor < 1.0).any())
            and not bool((floor > MAX_VALUE).any()))


def _largest(array: Any) -> float:
    """The largest value of a real ``array`` (NaN if it is none, empty or holds NaN), for a message."""
    try:
        return float(np.max(array)) if np.size(array) and np.asarray(array).dtype.kind in "fiu" else math.nan
    except (TypeError, ValueError):
        return math.nan


def _is_scaling_of_loads(offset: np.ndarray, scale: np.ndarray, top: float = MAX_VALUE) -> bool:
    """Whether finite ``offset`` and ``scale`` > 0 (of one shape) are a mean and a spread of loads the door lets in,
    as :func:`~workload_predictor.windows.fit_scale` gives them: the mean in [0, ``top``], the spread at most
    ``top`` and at least ``SCALE_FLOOR`` of ``max(1, mean)`` (``top``: ``MAX_VALUE``, or a log1p DLinear's
    ``log1p(MAX_VALUE)``)."""
    return not ((offset < 0).any() or (offset > top).any() or (scale > top).any()
                or (scale < SCALE_FLOOR * np.maximum(1.0, offset)).any())


def _is_utc(stamps: Any) -> bool:
    """Whether a Timestamp or DatetimeIndex is in UTC, as the data door makes every timestamp it lets in."""
    return str(getattr(stamps, "tz", None)) == "UTC"


def _is_count(value: Any) -> bool:
    """Whether ``value`` is an integer >= 0 (a counter such as ``n_updates_``)."""
    return is_integer(value) and value >= 0


#: Timestamps :func:`_evenly_spaced` reads at a time: its temporaries stay under 80 kB however long the history
#: (np.diff of a history's timestamps at once allocated as much as they hold).
_CHECK_BLOCK = 8192


def _is_real(array: Any, nonnegative: bool = False) -> bool:
    """Whether ``array`` is an array of finite real numbers (and, if ``nonnegative``, none below 0), read from its least
    and greatest values (a NaN anywhere makes both NaN, an infinity one of them infinite): nothing as large as it is
    allocated."""
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        return False
    if array.size == 0:
        return True
    low, high = array.min(), array.max()
    return math.isfinite(low) and math.isfinite(high) and (not nonnegative or bool(low >= 0))


def _is_load(array: Any) -> bool:
    """Whether ``array`` holds loads the door lets in: finite numbers in [0, ``MAX_VALUE``]."""
    return _is_real(array, nonnegative=True) and (array.size == 0 or bool(array.max() <= MAX_VALUE))


def _beyond(array: np.ndarray, bound: Any) -> bool:
    """Whether a value of ``array`` (real numbers) is more than ``bound`` from 0, read from its least and greatest
    values: ``np.abs(array)`` would allocate a copy of it."""
    return array.size > 0 and bool(array.max() > bound or array.min() < -bound)


def _evenly_spaced(stamps: np.ndarray, step: Any) -> bool:
    """Whether each of ``stamps`` (one axis) is ``step`` after the one before, read :data:`_CHECK_BLOCK` at a time."""
    return not any((np.diff(stamps[start : start + _CHECK_BLOCK + 1]) != step).any()
                   for start in range(0, len(stamps) - 1, _CHECK_BLOCK))


def forecast_bound(horizon: int) -> float:
    """The largest forecast, in size, a model file may give or hold at ``horizon`` steps: ``(1 + horizon) *
    MAX_VALUE``. Loads are at most ``MAX_VALUE`` (the door refuses more), so they rise by at most that per bucket,
    and the steepest trend they can show, continued over the horizon, stays within it. A forecast beyond it is no
    answer to loads a fit reads (a forged DLinear weight of 1e300 forecast 1e284), and neither is an interval
    half-width or a validation error beyond it: no forecast within it misses a load by more."""
    return (1.0 + float(horizon)) * MAX_VALUE


def check_loaded_forecast(yhat: np.ndarray, lower: np.ndarray, upper: np.ndarray, horizon: int, owner: str) -> None:
    """The forecast :func:`~workload_predictor.persistence.load` runs on a loaded predictor or fleet (float64 arrays):
    finite, its point forecast within :func:`forecast_bound`, or the file (``owner``: "the model file's") is refused."""
    if not all(np.isfinite(part).all() for part in (yhat, lower, upper)):
        raise ModelFileError(f"{owner} state forecasts NaN or infinite values; it was damaged or altered: refit and "
                             "save again.")
    largest, bound = float(np.abs(yhat).max(initial=0.0)), forecast_bound(horizon)
    if largest > bound:  # beyond any trend loads can show over the horizon
        raise ModelFileError(f"{owner} state forecasts {largest:g}, beyond {bound:g} ((1 + horizon) times the largest "
                             "load); it was damaged or altered: refit and save again.")


def check_saveable(obj: Any) -> None:
    """Refuse to write a model file of ``obj`` (a predictor, a fleet, a model) that load would refuse for what a fit
    can reach: a forecast (the one load runs, each member's, an LSTM's linear base's), a stored validation or
    evidence forecast, an interval half-width or a validation error beyond :func:`forecast_bound`, or one that is
    not finite. A series growing faster than any trend (50 % a bucket up to near ``MAX_VALUE``) forecasts so; the
    forecast stands in memory, but a file of it would load nowhere.

    Only these values are checked (computed once each, as load computes them, or bounded without computing them
    where a bound proves them within, as an LSTM's without its network's forward pass, :func:`_size_of`; the stored
    arrays read in place; a forecast within the bound by construction, a flat baseline's, a seasonal median's beyond
    one step, not at all),
    not load's other checks, which no fit fails: a state no fit produces (a window longer than the points it reads,
    a forecast that fails) is left to load, which refuses it naming what is wrong. Raises
    :class:`~workload_predictor.errors.UnsaveableModelError`."""
    _check_settings_kept(obj)
    for owner, what, values, horizon, keys in _bounded_values(obj):
        if not isinstance(values, np.ndarray) or values.dtype.kind not in "fiu" or values.size == 0:
            continue  # a state no fit produces: load's own checks name it
        largest = _largest_size(values)
        bound = forecast_bound(horizon)
        if largest <= bound:
            continue
        if keys is not None:  # name the first key beyond the bound
            rows = values.reshape(len(keys), -1)
            first = int(np.flatnonzero(~(np.maximum(rows.max(axis=1), -rows.min(axis=1)) <= bound))[0])
            owner, largest = f"{owner}'s key {quote(keys[first])}", float(np.abs(rows[first]).max())
        _refuse_unsaveable(owner, what, largest, bound, horizon)


#: Stored arrays of at most this many values are reduced through a copy of their sizes (32 KiB): one reduction, not
#: two (a save checks about twenty arrays; each numpy call costs microseconds).
SMALL_REDUCED = 4096


def _largest_size(values: np.ndarray) -> float:
    """The largest ``|value|`` of a real array, NaN where any is; a larger array is read in place, no copy."""
    if values.size <= SMALL_REDUCED:
        return float(np.maximum.reduce(np.abs(values), axis=None))
    return max(float(np.maximum.reduce(values, axis=None)), -float(np.minimum.reduce(values, axis=None)))


def _check_settings_kept(obj: Any) -> None:
    """Refuse to save a fitted DLinear (on its own, or a predictor's model, its members and an LSTM's base) whose
    settings changed since its fit (``set_params``) where load compares them with its fitted state
    (:func:`_dlinear_setting_disagreement`)."""
    from .errors import UnsaveableModelError

    if hasattr(obj, "model_") and hasattr(obj, "interval_halfwidth_"):  # a fitted predictor
        model = obj.model_
    elif getattr(obj, "context_", None) is not None and hasattr(obj, "horizon"):  # a fitted model on its own
        model = obj
    else:
        return
    members = getattr(model, "members_", None)
    for part in [model, *(members.values() if isinstance(members, dict) else ())]:
        for piece in (part, getattr(part, "base_", None)):
            if type(piece).__name__ not in DLINEAR_CLASSES or getattr(piece, "stats_", None) is None:
                continue
            disagreement = _dlinear_setting_disagreement(piece)
            if disagreement is not None:
                raise UnsaveableModelError(
                    f"cannot save the {type(piece).__name__}: it has {disagreement}, so load would refuse the file; "
                    "nothing was written. A setting changed since fit (set_params): fit again, or set it back, then "
                    "save.")


def _refuse_unsaveable(owner: str, what: str, largest: float, bound: float, horizon: int) -> None:
    from .errors import UnsaveableModelError

    if not math.isfinite(largest):
        raise UnsaveableModelError(
            f"cannot save {owner}: its {what} holds NaN or infinite values, which load refuses; nothing was written. "
            f"Fit again (on loads in larger units if they are near the largest load, {MAX_VALUE:g}), then save.",
            largest, bound)
    raise UnsaveableModelError(
        f"cannot save {owner}: {largest:g} in its {what}, beyond the {bound:g} a model file may hold at horizon "
        f"{horizon} ((1 + horizon) times the largest load, {MAX_VALUE:g}), so load would refuse the file; nothing was "
        "written (the fitted model still forecasts). Fit again on the loads in larger units (e.g. divided by 1,000: "
        "a forecast scales with them) or with a shorter horizon, then save.", largest, bound)


def _bounded_values(obj: Any):
    """``(owner, what, values, horizon, keys)`` for each array of ``obj`` that load bounds by :func:`forecast_bound`
    (see :func:`check_saveable`), computed as load computes it (``values`` None: a forecast of a state no fit
    produces); ``keys``: the keys along the first axis, or None."""
    if hasattr(obj, "_blocks") and hasattr(obj, "keys_"):  # a fleet (its state's attributes)
        yield from _fleet_bounded(obj)
    elif hasattr(obj, "model_") and hasattr(obj, "interval_halfwidth_"):  # a fitted predictor
        yield from _predictor_bounded(obj, "the predictor")
    elif getattr(obj, "context_", None) is not None and hasattr(obj, "horizon"):  # a fitted model on its own
        yield from _model_bounded(obj, f"the {type(obj).__name__}", int(obj.horizon))


def _forecast_from(part: Any, inputs: np.ndarray) -> np.ndarray | None:
    """``part``'s forecast ``[1, H, k]`` from the points ``inputs``, or None where its state is no fit's (it reads more
    points than ``inputs`` holds, as a forged window of 10**9 would gather gigabytes of indices; the forecast
    fails): load refuses such a file before it forecasts, naming what is wrong."""
    try:
        reads = part.context_length()
        if not is_positive_int(reads) or reads > len(inputs):
            return None
        with np.errstate(all="ignore"):
            return part._predict_at(inputs, np.array([len(inputs)]))
    except Exception:  # noqa: BLE001 - a state no fit produces: load names what it breaks
        return None


def _first(forecast: np.ndarray | None) -> np.ndarray | None:
    return None if forecast is None else forecast[0]


def _predictor_bounded(obj: Any, owner: str, settled: bool = True):
    """A fitted predictor's: its forecast (from its settled inputs where a flagged run lies in its context; not with
    ``settled`` False, for a fleet's key, whose forecast the fleet gives), its model's (:func:`_model_bounded`), its
    interval half-widths and validation errors."""
    horizon = int(obj.model_.horizon)
    inputs = obj._snapshot().inputs if settled else None
    if inputs is not None and not _within_by_construction(obj.model_, horizon):  # else the model's, checked below
        yield owner, "forecast", _size_of(obj.model_, inputs, {}, forecast_bound(horizon)), horizon, None
    yield from _model_bounded(obj.model_, owner, horizon)
    yield owner, "interval half-widths", np.asarray(obj.interval_halfwidth_), horizon, None
    mae = getattr(obj, "validation_mae_", None)
    if mae is not None:
        yield owner, "validation errors", np.asarray(mae), horizon, None


class _NoForecast(Exception):
    """A member of an ensemble forecasts nothing (:func:`_forecast_from`): neither does the ensemble."""


def _model_bounded(model: Any, owner: str, horizon: int):
    """A fitted model's: its forecast, each member's, an LSTM's linear base's (from the context of the model it
    serves), their validation and calibration forecasts and an ensemble's evidence.

    A forecast is checked by :func:`_size_of`: where a bound proves it within :func:`forecast_bound` (an LSTM's
    without its network's forward pass, an ensemble's from its members'), it is not computed. An ensemble's
    combination reads its members' forecasts from its context; a member whose forecast from its own context is bit
    for bit the same (:func:`_reads_same`: the same points, or a DLinear or LSTM, which read only their window,
    ending in the same points) and was computed there is not asked again. (Not a seasonal median: its cumulative
    sums read every point given, and from the ensemble's 120 points it differed by 1e-13 from its own 8.) A part
    whose forecast is within the bound by construction (:func:`_within_by_construction`) is not asked for its
    own."""
    members = getattr(model, "members_", {})
    combines = bool(members) and callable(getattr(model, "_combined", None))
    forecasts: dict[int, np.ndarray] = {}  # by id(member): its forecast [1, H, k] from the ensemble's context
    sizes: dict[int, np.ndarray] = {}  # by id(member): the size _size_of found of it there
    bound = forecast_bound(horizon)
    if combines:
        yield owner, "forecast", _size_of(model, model.context_, forecasts, bound, sizes), horizon, None
    parts = [("", model), *((f"{name} member's ", member) for name, member in members.items())]
    for label, part in parts:
        own = getattr(part, "context_", None)
        if not isinstance(own, np.ndarray) or own.ndim != 2:
            continue
        if (part is not model or not combines) and not _within_by_construction(part, horizon):
            read = None
            if combines and (id(part) in sizes or id(part) in forecasts) and _reads_same(part, own, model.context_):
                read = sizes[id(part)] if id(part) in sizes else _first(forecasts[id(part)])
            yield owner, f"{label}forecast", _size_of(part, own, {}, bound) if read is None else read, horizon, None
        base = getattr(part, "base_", None)
        if base is not None and getattr(base, "coef_", None) is not None:
            yield owner, f"{label}linear base's forecast", _forecast_from(base, own), horizon, None
        for name in ("validation_forecast_", "calibration_forecast_"):
            stored = getattr(part, name, None)
            if isinstance(stored, np.ndarray):
                yield owner, f"{label}{name}", stored, horizon, None
    evidence = getattr(model, "evidence_forecast_", None)
    if isinstance(evidence, np.ndarray):
        yield owner, "ensemble evidence forecasts", evidence, horizon, None


def _size_of(part: Any, inputs: np.ndarray, forecasts: dict[int, np.ndarray], bound: float,
             sizes: dict[int, np.ndarray] | None = None) -> np.ndarray | None:
    """At least the size of ``part``'s forecast ``[1, H, k]`` from ``inputs``, as one value, proven as cheaply as
    it is within ``bound`` (the check's): without the forecast where its class declares a bound of its own
    (``_forecast_within`` times the largest input; an LSTM's ``_forecast_size_bound``; an ensemble's
    ``_combined_size_bound`` of its members' sizes, each found so) and that bound is finite and within ``bound``;
    else the forecast's own largest size (a combination's from its members' forecasts, each kept in ``forecasts``
    by id). The declarations are read from the part's own class (:func:`_declared`): a subclass's are its own.
    None where no forecast is computed (:func:`_forecast_from`, a state no fit produces: load names it). ``sizes``:
    where given, each member's size found for a combination, by id, is kept there."""
    try:
        proven = _declared_bound(part, inputs, forecasts, bound, sizes)
    except _NoForecast:
        return None
    if proven is not None:
        return np.array([proven])
    if callable(getattr(part, "_combined", None)) and getattr(part, "members_", None):

        def forecast_of(member: Any) -> np.ndarray:
            if id(member) not in forecasts:
                forecast = _forecast_from(member, inputs)
                if forecast is None:
                    raise _NoForecast
                forecasts[id(member)] = forecast
            return forecasts[id(member)]

        try:
            with np.errstate(all="ignore"):
                forecast = part._combined(forecast_of)
        except Exception:  # noqa: BLE001 - _NoForecast, or a combination of a state no fit produces
            return None
    else:
        forecast = _forecast_from(part, inputs)  # kept for a member's own check (_model_bounded)
        if forecast is not None:
            forecasts[id(part)] = forecast
    if not isinstance(forecast, np.ndarray) or forecast.dtype.kind not in "fiu" or forecast.size == 0:
        return forecast  # a state no fit produces, left as it is: the check passes it to load
    return np.array([_largest_size(forecast)])


def _declared_bound(part: Any, inputs: np.ndarray, forecasts: dict[int, np.ndarray], bound: float,
                    sizes: dict[int, np.ndarray] | None = None) -> float | None:
    """A bound on the size of ``part``'s forecast from ``inputs`` that its class declares (see :func:`_size_of`),
    where it is finite and within ``bound``; else None. Raises _NoForecast where a member's forecast fails."""
    within = _declared(part, "_forecast_within")
    bound_at = _declared(part, "_forecast_size_bound")
    combined_at = _declared(part, "_combined_size_bound")
    proven = None
    with np.errstate(all="ignore"):
        if isinstance(within, float):  # declared for loads (>= 0): a seasonal median of signed values reaches 3x
            loads = inputs.size and inputs.dtype.kind == "f" and float(np.minimum.reduce(inputs, axis=None)) >= 0.0
            proven = within * (1.0 + 1e-6) * _largest_size(inputs) if loads else None
        elif callable(bound_at):
            try:
                proven = bound_at(part, inputs)
            except Exception:  # noqa: BLE001 - a state no fit produces: its forecast is computed, and fails there
                proven = None
        elif callable(combined_at):

            def size_of(member: Any) -> float:  # kept in ``sizes`` (where given) by id, for the member's own check
                size = _size_of(member, inputs, forecasts, bound)
                if size is None:
                    raise _NoForecast
                if sizes is not None:
                    sizes[id(member)] = size
                return float(size.max())

            try:
                proven = combined_at(part, size_of)
            except _NoForecast:
                raise
            except Exception:  # noqa: BLE001 - a state no fit produces: its forecast is computed, and fails there
                proven = None
    return proven if isinstance(proven, float) and math.isfinite(proven) and proven <= bound else None


def _declared(part: Any, name: str) -> Any:
    """What ``part``'s class declares of its own ``_predict_at`` (``_forecast_reads``, ``_forecast_within``, see
    :class:`~workload_predictor.models.base.BaseForecaster`): read from the class itself, not inherited, as a
    subclass's forecast is its own (it may read more, or forecast otherwise)."""
    return vars(type(part)).get(name)


def _within_by_construction(part: Any, horizon: int) -> bool:
    """Whether ``part``'s forecast is within :func:`forecast_bound` at ``horizon`` by construction: its class declares
    it within ``c`` times the largest load it reads (``_forecast_within``: 1 for a copy, a mean with weights >= 0
    summing to 1 or a median of loads, as the naive, moving average and median, seasonal naive and exponential
    smoothing forecast; 2 for the seasonal median's median shifted by a difference of means), the loads a fit keeps
    are at most ``MAX_VALUE`` (load refuses others, :func:`_check_kept`), and ``c`` with a margin for rounding (1e-6
    of it) is at most ``1 + horizon``: a 1-step seasonal median is computed, its rounding could reach past
    ``2 MAX_VALUE``."""
    within = _declared(part, "_forecast_within")
    return isinstance(within, float) and within * (1.0 + 1e-6) <= 1.0 + horizon


def _reads_same(part: Any, own: np.ndarray, context: Any) -> bool:
    """Whether ``part``'s forecast from ``own`` is bit for bit its forecast from ``context``: the same points, or a
    part that reads only the ``context_length()`` points before its origin (``_forecast_reads`` "window") where
    both end in the same such points."""
    if own is context:
        return True
    if not isinstance(context, np.ndarray) or own.dtype != context.dtype or own.shape[1:] != context.shape[1:]:
        return False
    if own.shape == context.shape and bool(np.array_equal(own, context)):
        return True
    if _declared(part, "_forecast_reads") != "window":
        return False
    try:
        reads = part.context_length()
    except Exception:  # noqa: BLE001 - a state no fit produces: its own forecast is asked, and fails there
        return False
    return (is_positive_int(reads) and reads <= min(len(own), len(context))
            and bool(np.array_equal(own[len(own) - reads :], context[len(context) - reads :])))


def _fleet_bounded(fleet: Any):
    """A fleet's: each block's forecasts, interval half-widths and validation errors, each key predictor's
    (:func:`_predictor_bounded`) and the forecast the fleet gives of them (``_key_points``), the global network's forecasts (clipped
    at 0, as the fleet gives them), half-widths and validation forecasts."""
    def computed(forecast: Callable[..., np.ndarray], *args: Any) -> np.ndarray | None:
        try:
            with np.errstate(all="ignore"):
                return forecast(*args)
        except Exception:  # noqa: BLE001 - a state no fit produces: load names what it breaks
            return None

    horizon = int(fleet._fitted()["horizon"])
    owner = "the fleet"
    for block in fleet._blocks:
        keys = block.keys
        yield owner, "forecast", computed(block.point, horizon), horizon, keys
        yield owner, "interval half-widths", block.halfwidth, horizon, keys
        yield owner, "validation errors", block.validation_mae, horizon, keys
    predictors = fleet._predictors
    if predictors:
        for name, predictor in predictors.items():
            yield from _predictor_bounded(predictor, f"the fleet's key {quote(name)}", settled=False)
        yield owner, "forecast", computed(fleet._key_points, horizon), horizon, list(predictors)
    state = fleet._global
    if state is not None:
        yield owner, "forecast", computed(lambda: np.clip(np.stack(state.model._map_predict(horizon)), 0.0, None)), \
            horizon, state.keys
        yield owner, "interval half-widths", state.halfwidth, horizon, state.keys
        for key, stored in zip(state.keys, state.model.validation_forecast_):
            yield f"the fleet's key {quote(key)}", "validation forecasts", stored, horizon, None


def _is_within(array: Any, bound: float) -> bool:
    """Whether ``array`` is finite real numbers of size at most ``bound``."""
    return _is_real(array) and not _beyond(array, bound)


def _is_positive_span(freq: Any) -> bool:
    return isinstance(freq, pd.Timedelta) and freq > pd.Timedelta(0)


def _check_parameters(checks: Any, refuse: Any) -> None:
    """Run the estimator's own parameter checks (what ``fit`` or ``update`` would run): a file's parameters pass
    exactly the checks a user's do, and one they would refuse is refused here, naming it."""
    for check in checks:
        try:
            check()
        except WorkloadDataError as exc:
            refuse(f"has a parameter that fit or update refuses ({cut(exc)})")


def _check_calibration(obj: Any, model: Any, members: list, horizon: int, k: int, refuse: Any) -> None:
    """The interval and the windows it is calibrated on: the widths and errors in [0, :func:`forecast_bound`], the
    windows as :func:`_check_validation` takes them, the window counts integers >= 0."""
    bound = forecast_bound(horizon)
    halfwidth = obj.interval_halfwidth_
    if not _is_real(halfwidth, nonnegative=True) or not _is_within(halfwidth, bound):
        refuse(f"holds interval_halfwidth_ with negative or non-finite widths, or widths above {bound:g} (an "
               f"interval's half-width is a finite number >= 0, at most the error of a forecast within {bound:g})")
    mae = getattr(obj, "validation_mae_", None)
    if mae is not None and (not _is_real(mae, nonnegative=True) or not _is_within(mae, bound) or mae.shape != (k,)):
        refuse(f"holds validation_mae_ of shape {quote(np.shape(mae))}, not {k} finite errors from 0 to {bound:g}")
    recent = getattr(obj, "recent_mae_", None)  # absent in a file saved before it: health reads validation_mae_
    if recent is not None and (not _is_real(recent, nonnegative=True) or not _is_within(recent, bound)
                               or recent.shape != (k,)):
        refuse(f"holds recent_mae_ of shape {quote(np.shape(recent))}, not {k} finite errors from 0 to {bound:g}")
    _check_validation(model, members, horizon, refuse)
    for name in ("n_validation_windows_", "n_calibration_windows_"):
        count = getattr(obj, name, 0)
        if not _is_count(count):
            refuse(f"has {name}={quote(count)}, not a count >= 0")
    exact = getattr(obj, "interval_exact_", False)
    if not isinstance(exact, (bool, np.bool_)):
        refuse(f"has interval_exact_={quote(exact)}, not True or False")
    level = getattr(obj, "interval_level_", 0.5)  # the level the interval was calibrated at (none before 0.9.1)
    if isinstance(level, bool) or not isinstance(level, float) or not 0.0 < level < 1.0:
        refuse(f"has interval_level_={quote(level)}, not a coverage in (0, 1)")


def _check_validation(model: Any, members: list, horizon: int, refuse: Any) -> None:
    """The validation and calibration windows of the model and its members: the actual values loads (finite, in
    [0, ``MAX_VALUE``]), the forecasts finite and within :func:`forecast_bound` (an update calibrates the interval
    on them), a forecast per actual window (an update rolls both buffers by the actual windows' count)."""
    bound = forecast_bound(horizon)
    for part in [model, *members]:
        for name, actual in (("validation_forecast_", False), ("validation_actual_", True),
                             ("calibration_forecast_", False), ("calibration_actual_", True)):
            array = getattr(part, name, None)
            if array is not None and not (_is_load(array) if actual else _is_within(array, bound)):
                refuse(f"holds its {type(part).__name__}'s {name} with {'negative or ' if actual else ''}non-finite "
                       f"values, or {f'loads above {MAX_VALUE:g}' if actual else f'forecasts beyond {bound:g}'}")
        forecast, actual = getattr(part, "validation_forecast_", None), getattr(part, "validation_actual_", None)
        if forecast is not None and actual is not None and forecast.shape != actual.shape:
            refuse(f"holds its {type(part).__name__}'s validation_forecast_ of shape {quote(forecast.shape)} for "
                   f"validation_actual_ of shape {quote(actual.shape)}, not a forecast per validation window")


def _check_timeline(obj: Any, refuse: Any) -> None:
    """The bucket width, the last timestamp, the update counter and the history's timestamp grid."""
    freq = getattr(obj, "freq_", None)
    if not _is_positive_span(freq):
        refuse(f"has freq_={quote(freq)}, not a positive bucket width")
    last = getattr(obj, "last_timestamp_", None)
    if not isinstance(last, pd.Timestamp) or not _is_utc(last):
        refuse(f"has last_timestamp_={quote(last)}, not a UTC timestamp (every timestamp is stored in UTC)")
    updates = getattr(obj, "n_updates_", None)
    if not _is_count(updates):
        refuse(f"has n_updates_={quote(updates)}, not a count >= 0")
    grid = getattr(obj, "_history_grid", None)  # None after fit; after an update, (timestamps ahead, position)
    if grid is not None and not (
            isinstance(grid, tuple) and len(grid) == 2 and isinstance(grid[0], pd.DatetimeIndex) and _is_utc(grid[0])
            and _is_count(grid[1]) and 1 <= grid[1] <= len(grid[0]) and grid[0][grid[1] - 1] == last):
        refuse("holds a history grid that is not UTC timestamps reaching its last timestamp")


def _is_finite_nonnegative(value: Any) -> bool:
    """Whether ``value`` is a finite number >= 0 (a timing ``health`` reports, a penalty rate)."""
    return is_number(value) and 0.0 <= value < math.inf


def _check_measured(obj: Any, refuse: Any) -> None:
    """What ``health`` reads: the fit's seconds and the predict timings finite numbers >= 0, the idle span counts it
    can name the buckets of, the stages a time limit cut short a tuple of names."""
    seconds = getattr(obj, "fit_seconds_", None)
    if not _is_finite_nonnegative(seconds):
        refuse(f"has fit_seconds_={quote(seconds)}, not a finite number of seconds >= 0")
    if not all(_is_finite_nonnegative(t) for t in obj.predict_seconds_):
        refuse(f"keeps predict timings {quote(list(obj.predict_seconds_))}, not finite numbers of seconds >= 0")
    span = getattr(obj, "idle_span_", None)  # absent (or None) in a file saved before it: health counts series_
    if span is not None and not _nameable_idle_span(span, getattr(obj, "last_timestamp_", None),
                                                     getattr(obj, "freq_", None)):
        refuse(f"has idle_span_={quote(span)}, not the counts of buckets its fit rests on (5 counts, its first bucket "
               "a timestamp health can name)")
    stages = getattr(obj, "time_limited_stages_", ())
    if not isinstance(stages, (tuple, list)) or not all(isinstance(stage, str) for stage in stages):
        refuse(f"has time_limited_stages_={quote(stages)}, not a tuple of stage names")


def _check_stuck_run(obj: Any, refuse: Any) -> None:
    """What ``health`` reads of a stuck sensor: ``stuck_run_``, a tuple of one count >= 0 per target that each
    target's newest ``run + 2`` buckets of the history, checked already, agree with
    (:func:`workload_predictor.health.is_stuck_runs`); in a file saved before the runs were kept per target, one
    count of every target (:func:`workload_predictor.health.is_stuck_run`); absent or ``None`` in a file saved
    before any was kept (health counts ``series_``)."""
    from .health import is_stuck_run, is_stuck_runs

    run, values = getattr(obj, "stuck_run_", None), obj.series_.values
    if run is not None and not (is_stuck_runs(run, values) if isinstance(run, tuple) else is_stuck_run(run, values)):
        refuse(f"has stuck_run_={quote(run)}, not the repeated buckets its series ends with (a count >= 0 per target, "
               f"{values.shape[1]} of them, that its newest buckets agree with)")


def _nameable_idle_span(span: Any, last: Any, freq: Any) -> bool:
    """Whether ``span`` is an idle span (:func:`workload_predictor.health.idle_span`) whose first bucket, ``span[0] -
    1`` buckets of ``freq`` before ``last``, is a timestamp (health names it in its detail)."""
    from .health import is_idle_span

    if not is_idle_span(span) or not isinstance(last, pd.Timestamp) or not _is_positive_span(freq):
        return False
    try:
        last - (int(span[0]) - 1) * freq
    except (OverflowError, ValueError):  # pandas' OutOfBounds errors are ValueErrors
        return False
    return True


def _check_settings(part: Any, horizon: int, k: int, refuse: Any) -> None:
    """A stored model's own settings pass the checks its ``fit`` runs on them (an update and a refit read them: a
    ``batch_size`` of 0 failed in torch at the first update; ``n_threads`` at most ``registry.MAX_THREADS``)."""
    from . import _deadline
    from .models import registry
    from .models.base import check_validation_settings

    name = type(part).__name__
    checks = [lambda: registry.check_runtime_settings(part)]
    if hasattr(part, "validation_fraction"):  # an update sizes the windows it trains on by it (the LSTM's)
        checks.append(lambda: check_validation_settings(part))
    if hasattr(part, "max_training_time"):  # an update's time limit (the LSTM's)
        checks.append(lambda: _deadline.check_seconds(part.max_training_time))
    if callable(getattr(part, "_check_params", None)):
        checks.append(part._check_params)
    if hasattr(part, "network_") and hasattr(part, "hidden_size"):  # a torch model: the settings its fit checks
        from .models.torch_runtime import check_settings

        checks.append(lambda: check_settings(part, outputs=horizon * k))
    _run_setting_checks(checks, f"its {name}", refuse)


def _run_setting_checks(checks: list, what: str, refuse: Any) -> None:
    """Run ``checks`` (a fit's checks of ``what``'s stored settings); refuse the file at the first that fails."""
    for check in checks:
        try:
            check()
        except WorkloadDataError as exc:
            refuse(f"holds {what} with settings its fit refuses ({cut(exc)})")
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            refuse(f"holds {what} with settings that cannot be checked ({type(exc).__name__}: {cut(exc)})")


def _check_origins(part: Any, refuse: Any) -> None:
    """The origins of the validation windows (an update shifts them and keeps the newest): one increasing count per
    validation window (absent from an LSTM's base in files saved before 0.9.0)."""
    origins = getattr(part, "validation_origins_", None)
    if origins is None:
        return
    if not _increasing_origins(origins, getattr(part, "validation_actual_", None)):
        refuse(f"holds its {type(part).__name__}'s validation_origins_ of shape {quote(np.shape(origins))} "
               f"({quote(getattr(origins, 'dtype', type(origins).__name__))}), not one increasing position per "
               "validation window")


def _increasing_origins(origins: Any, actual: Any) -> bool:
    """Whether ``origins`` are one increasing count per validation window of ``actual`` (None: not known)."""
    if not (isinstance(origins, np.ndarray) and origins.dtype.kind in "iu" and origins.ndim == 1
            and (actual is None or len(origins) == len(actual))):
        return False
    # Compared as the int64 positions an update appends to them: the differences of narrower integers wrap (int8 127
    # then -128 differ by 1), and a uint64 beyond int64's range reads as negative.
    positions = origins.astype(np.int64)
    return len(positions) == 0 or (positions[0] >= 0 and positions[-1] <= MAX_COUNT and (np.diff(positions) > 0).all())


def _check_blend(model: Any, k: int, refuse: Any) -> None:
    """A DLinear's blend (``window_weights_``): the windows its ridge systems are kept for, each a weight in [0, 1];
    with forgetting, a penalty rate per window and target (an update reads both); and the penalties (with forgetting,
    the penalty rates) in force before its newest windows (``newest_penalties_``, read where an update weighs those
    windows down)."""
    blend = getattr(model, "window_weights_", None)
    ridge = getattr(model, "ridge_", None)
    windows = set(ridge[0]) if isinstance(ridge, list) and ridge else None
    if blend is not None and (not isinstance(blend, dict) or not blend or not all(
            _is_count(w) and is_number(share) and 0.0 <= share <= 1.0
            for w, share in blend.items()) or (windows is not None and set(blend) != windows)):
        refuse(f"holds DLinear window weights {quote(blend)}, not weights in [0, 1] of the windows its ridge systems "
               f"are kept for ({quote(sorted(windows or ()))})")
    if ridge is not None and not all(set(systems) == windows for systems in ridge):
        refuse("holds DLinear ridge systems for different windows per target")
    from .anomaly import COUNTER_RUN

    held = getattr(model, "newest_penalties_", None)  # absent in files saved before they were kept
    shape = (COUNTER_RUN - 1, k, len(windows or ()))
    if held is not None and not (isinstance(held, np.ndarray) and held.dtype.kind == "f" and held.shape == shape
                                 and bool(np.isnan(held[~(np.isfinite(held) & (held >= 0.0))]).all())):
        refuse(f"holds DLinear newest_penalties_ of shape {quote(np.shape(held))}, not {shape} finite penalties >= 0 "
               "(NaN: not known) of its systems before its newest windows")
    rates = getattr(model, "penalty_rates_", None)
    if rates is not None and (not isinstance(rates, list) or len(rates) != k or not all(
            isinstance(r, dict) and (windows is None or set(r) == windows) and all(
                _is_finite_nonnegative(v) for v in r.values())
            for r in rates)):
        refuse(f"holds DLinear penalty rates that are not {plural(k, 'set')} of finite rates >= 0 for its windows")


def _check_dlinear_settings(model: Any, refuse: Any) -> None:
    """A DLinear's settings (checked by its ``_check_params`` before) agree with the state its fit set from them
    (:func:`_dlinear_setting_disagreement`)."""
    disagreement = _dlinear_setting_disagreement(model)
    if disagreement is not None:
        refuse(f"has a {type(model).__name__} {disagreement}")


def record_fitted_settings(model: Any) -> None:
    """A fitted DLinear from a file saved before it recorded ``kernel_size_`` or ``half_life_``: its settings as
    saved are the fit's (what its updates read), recorded at load, so a setting changed later takes effect at the next
    fit (as :func:`~workload_predictor.predictor._checked_on_load` records a predictor's ``interval_level_``)."""
    state = vars(model)
    if "stats_" in state:
        state.setdefault("kernel_size_", int(model.kernel_size))
        state.setdefault("half_life_", None if model.half_life is None else float(model.half_life))


def _dlinear_setting_disagreement(model: Any) -> str | None:
    """Where a fitted DLinear's settings disagree with the state its fit set from them, the setting and that state
    (``"window=48 beside window_=24, ..."``); else ``None``. A ``window`` is ``window_`` and the one window of the
    blend (``window_weights_``); without one, the blend holds at most ``blend`` windows, each of
    ``candidate_windows`` (or the defaults); ``follow_level`` is ``follow_level_``; without ``robust`` a fit keeps
    no anomaly floor (``weight_floor_``) and judges no windows (``residual_from_``), a robust one keeps a floor (which
    updates read as the fit's ``robust``); with ``half_life`` a fit is never idle (``idle_`` False);
    ``kernel_size`` and ``half_life`` are ``kernel_size_`` and ``half_life_``, which updates read (a fit reads every
    setting). Each compared where the file holds both (files saved before a setting or its state: absent).
    ``transform``: :func:`_check_dlinear`; ``horizon``: :func:`_check_parts`."""
    from .models.dlinear import DEFAULT_WINDOWS

    state = vars(model)
    window, blend = state.get("window"), state.get("window_weights_")
    windows = sorted(blend) if isinstance(blend, dict) else None  # checked by _check_blend: counts
    fitted = state.get("window_")
    if window is not None:
        if not is_positive_int(window) or fitted != window:  # at save, what set_params left
            return f"window={quote(window)} beside window_={quote(fitted)}, which a fit sets to its window"
        if windows is not None and windows != [window]:
            return (f"window={quote(window)} beside the blend of windows {quote(windows)}, which a fit without a "
                    "search sets to its window alone")
    elif windows is not None:
        if is_positive_int(state.get("blend")) and len(windows) > state["blend"]:
            return (f"blend={quote(state['blend'])} beside the blend of windows {quote(windows)}, which a search "
                    "sets to at most blend windows")
        given = state.get("candidate_windows")  # checked by _check_params at load; at save, as set_params left it
        known = given is None or (isinstance(given, (list, tuple, range, np.ndarray)) and np.ndim(given) == 1
                                  and all(is_positive_int(w) for w in given))
        candidates = {int(w) for w in given or DEFAULT_WINDOWS} if known else set(windows)
        if not set(windows) <= candidates:
            return (f"candidate_windows={quote(state.get('candidate_windows'))} beside the blend of windows "
                    f"{quote(windows)}, which a search sets from the candidates {quote(sorted(candidates))}")
    kernel, fitted_kernel = state.get("kernel_size"), state.get("kernel_size_")
    # at save, the setting as set_params left it (not type-checked)
    if "kernel_size_" in state and not (is_positive_int(kernel) and is_positive_int(fitted_kernel)
                                        and kernel == fitted_kernel):
        return (f"kernel_size={quote(kernel)} beside kernel_size_={quote(fitted_kernel)}, which a fit sets to its "
                "kernel_size")
    follow = state.get("follow_level")
    if "follow_level_" in state and isinstance(follow, (bool, np.bool_)) and bool(state["follow_level_"]) != follow:
        return (f"follow_level={quote(follow)} beside follow_level_={quote(state['follow_level_'])}, which a fit sets "
                "to it")
    if state.get("robust", True) is False or state.get("robust", True) is np.False_:
        for kept in ("weight_floor_", "residual_from_"):
            if state.get(kept) is not None:
                return f"robust=False beside {kept}={quote(state[kept])}, which only a robust fit keeps"
    elif "weight_floor_" in state and state["weight_floor_"] is None:
        return f"robust={quote(state.get('robust', True))} beside weight_floor_=None, which a robust fit sets"
    if state.get("half_life") is not None and state.get("idle_", False) is not False:
        return (f"half_life={quote(state['half_life'])} beside idle_={quote(state['idle_'])}, which a fit with "
                "forgetting sets to False (it is never idle)")
    life = state.get("half_life")  # at save, as set_params left it
    if "half_life_" in state and not (life is None and state["half_life_"] is None or (
            is_number(life) and is_number(state["half_life_"]) and life == state["half_life_"])):
        return (f"half_life={quote(life)} beside half_life_={quote(state['half_life_'])}, which a fit sets to its "
                "half_life")
    return None


def _check_residual_state(model: Any, horizon: int, k: int, refuse: Any, seen: Any = None) -> None:
    """A DLinear's residual judging (see its ``robust``), which an update reads: none (``residual_from_`` null: a
    file saved before it, or a fit that judged nothing), or the origin judged from and the next one (counts; the next
    one the origin of the window the next point completes, ``seen - horizon + 1``, where ``seen``, the points its owner
    has seen, is known: an update aligns the blocks its windows are judged in by it), the map
    windows are judged under (``(k, window_, H)`` and ``(k, H)``, finite), the newest residuals ``(k, m, H)``
    (finite, ``m`` at most the reference's windows), their windows' noises ``(k, m)`` and the reference of the newest
    window's block (its median and spread, ``(k, H)``, and unit ``(k,)``: finite, the spread, noises and unit at least
    ``RESIDUAL_FLOOR``; or all null, a reference too short). A file saved before the noises holds neither them nor
    the unit (its updates judge each window in its own unit)."""
    from .models.dlinear import RESIDUAL_EVERY, RESIDUAL_FLOOR, RESIDUAL_REFERENCE

    start = getattr(model, "residual_from_", None)
    if start is None:
        return
    window = getattr(model, "window_", None)
    names = ("residual_coef_", "residual_intercept_", "residual_history_", "residual_center_", "residual_spread_")
    coef, intercept, history, center, spread = (getattr(model, name, None) for name in names)
    following = getattr(model, "residual_next_", None)
    noise, unit = getattr(model, "residual_noise_", None), getattr(model, "residual_unit_", None)

    def finite(array: Any, shape: tuple) -> bool:
        # float64, as a fit keeps them: a float32 noise at RESIDUAL_FLOOR passes ">= RESIDUAL_FLOOR" and the float64
        # copy an update makes of it falls below (the updated model's file would be refused)
        return (isinstance(array, np.ndarray) and array.dtype == np.float64 and array.ndim == len(shape)
                and all(want is None or got == want for got, want in zip(array.shape, shape))
                and bool(np.isfinite(array).all()))

    reference = (center is None and spread is None) or (finite(center, (k, horizon)) and finite(spread, (k, horizon))
                                                         and bool((spread >= RESIDUAL_FLOOR).all()))
    # the noises and unit: neither (a file saved before them), or the history's rows' and the reference's (null with it)
    units = (noise is None and unit is None) or (
        finite(history, (k, None, horizon)) and finite(noise, (k, history.shape[1]))
        and bool((noise >= RESIDUAL_FLOOR).all()) and (
            unit is None if center is None else finite(unit, (k,)) and bool((unit >= RESIDUAL_FLOOR).all())))
    if not (_is_count(start) and start <= MAX_COUNT and _is_count(following) and start <= following <= MAX_COUNT
            and _is_count(window) and finite(coef, (k, window, horizon)) and finite(intercept, (k, horizon))
            and finite(history, (k, None, horizon)) and history.shape[1] <= RESIDUAL_REFERENCE + RESIDUAL_EVERY
            and reference and units):
        refuse(f"holds a DLinear residual_from_={quote(start)} without the state its updates judge windows with: "
               f"residual_next_ a count from it, residual_coef_ ({k}, window_, {horizon}), residual_intercept_ "
               f"({k}, {horizon}), residual_history_ ({k}, m <= {RESIDUAL_REFERENCE + RESIDUAL_EVERY}, {horizon}) and "
               f"residual_center_, residual_spread_ ({k}, {horizon}) or both null, finite, the spread at least "
               f"{RESIDUAL_FLOOR:g}; residual_noise_ ({k}, m) and residual_unit_ ({k},), null with the reference, "
               f"at least {RESIDUAL_FLOOR:g}, or neither (a file saved before them)")
    if _is_count(seen) and following != seen - horizon + 1:
        refuse(f"holds a DLinear residual_next_={quote(following)}, not the origin of the window its next point "
               f"completes ({seen - horizon + 1}: n_seen_={quote(seen)}, horizon {horizon})")


def _check_lstm_counters(part: Any, refuse: Any) -> None:
    """An LSTM's update counters (set by an ensemble): buckets since the network last trained, and how many it
    waits for."""
    waiting = getattr(part, "buckets_untrained_", 0)
    every = getattr(part, "network_update_every_", 1)
    if not _is_count(waiting) or waiting > MAX_COUNT or not is_positive_int(every) or every > MAX_COUNT:
        refuse(f"has an LSTM buckets_untrained_={quote(waiting)} and network_update_every_={quote(every)}, not a "
               "count >= 0 and a positive count")


def _check_evidence(model: Any, horizon: int, k: int, refuse: Any) -> None:
    """An ensemble's evidence (what its update re-weighs the members on): the slots' forecasts ``(S, n, H, k)`` and
    the actual values ``(n, H, k)``, a size per target > 0, the combination rule one of those it chooses from, the
    fallback's weights ``(S, H)``; the LSTM shares DLinear's slot only where both are members."""
    from .models import combination

    members = model.members_
    shares = getattr(model, "lstm_shares_slot_", None)
    if shares is not None and (not isinstance(shares, (bool, np.bool_))
                               or (shares and not {"lstm", "dlinear"} <= set(members))):
        refuse(f"has lstm_shares_slot_={quote(shares)} for the members {quote(list(members))} (True only where both "
               "the LSTM and DLinear are members)")
    slots = model._slots()
    s = len(slots)
    for name in ("combination_share_", "shift_share_"):  # the forecast's weights scale by them (shift_share_ absent: 0.0)
        share = getattr(model, name, None)
        if share is not None and (not isinstance(share, float) or not 0.0 <= share <= 1.0):
            refuse(f"has the ensemble's {name}={quote(share)}, not a number in [0, 1]")
    member = getattr(model, "shift_member_", None)
    if member is not None and member not in slots:
        refuse(f"has the ensemble's shift_member_={quote(member)}, not one of its slots {quote(list(slots))}")
    weights = getattr(model, "step_weights_", None)  # what the forecast and an update's validation roll weigh
    if not isinstance(weights, dict) or list(weights) != list(members) or not all(
            _is_real(w) and w.shape == (horizon,) and ((w >= 0.0) & (w <= 1.0)).all() for w in weights.values()):
        refuse(f"holds the ensemble's step_weights_ {quote(weights)}, not a weight in [0, 1] per horizon step "
               f"({horizon}) for each of its members {quote(list(members))}")
    forecast, actual = getattr(model, "evidence_forecast_", None), getattr(model, "evidence_actual_", None)
    if forecast is None and actual is None:
        return
    if not isinstance(forecast, np.ndarray) or not isinstance(actual, np.ndarray) or forecast.ndim != 4 \
            or forecast.shape[0] != s or forecast.shape[2:] != (horizon, k) or actual.shape != forecast.shape[1:] \
            or not _is_within(forecast, forecast_bound(horizon)) or not _is_within(actual, MAX_VALUE):
        refuse(f"holds ensemble evidence of shapes {quote(np.shape(forecast))} and {quote(np.shape(actual))}, not "
               f"finite ({s}, n, {horizon}, {k}) forecasts within {forecast_bound(horizon):g} and (n, {horizon}, {k}) "
               f"loads within {MAX_VALUE:g} for its {s} slots")
    size = getattr(model, "evidence_size_", None)
    if not _is_real(size) or size.shape != (k,) or (size <= 0).any():
        refuse(f"holds an ensemble evidence size of shape {quote(np.shape(size))}, not {k} finite sizes > 0")
    rule = getattr(model, "combination_rule_", None)
    rules = combination.candidate_rules(s)
    weighted = [r for r in rules if r[0] != "median"]
    if not (_in_rules(rule, rules) or (isinstance(rule, tuple) and len(rule) == 3 and rule[0] == "median"
                                       and isinstance(rule[1], float) and 0.0 <= rule[1] <= 1.0
                                       and _in_rules(rule[2], weighted))):
        refuse(f"holds the combination rule {quote(rule)}, not one of the rules for {s} slots")
    fallback = getattr(model, "fallback_weights_", None)
    if fallback is not None and (not _is_real(fallback) or fallback.shape != (s, horizon)
                                 or not ((fallback >= 0.0) & (fallback <= 1.0)).all()):
        refuse(f"holds fallback weights of shape {quote(np.shape(fallback))}, not ({s}, {horizon}) weights in [0, 1]")
    kept = getattr(model, "fallback_members_", None)  # the candidates an update chooses the fallback among again
    if kept is not None and (not isinstance(kept, list) or not all(isinstance(n, str) and n in slots for n in kept)
                             or len(set(kept)) != len(kept)):
        refuse(f"has the ensemble's fallback_members_={quote(kept)}, not distinct names among its slots "
               f"{quote(list(slots))}")


def _in_rules(rule: Any, rules: list) -> bool:
    """Whether ``rule`` is one of ``rules``, compared element by element with its types (``("best", True, 0)`` is no
    ``("best", 1, False)``)."""
    return isinstance(rule, tuple) and any(
        len(rule) == len(r) and all(type(a) is type(b) and a == b for a, b in zip(rule, r)) for r in rules)


def _check_update_state(model: Any, members: list, horizon: int, k: int, refuse: Any) -> None:
    """What an update reads that a forecast does not, for the model and each member (an LSTM's base too): their
    settings, counts, validation origins, DLinear blends, LSTM counters and the ensemble's evidence."""
    for part in [model, *members]:
        for piece in (part, getattr(part, "base_", None)):
            if piece is None:
                continue
            _check_settings(piece, horizon, k, refuse)
            seen = getattr(piece, "n_seen_", None)
            if seen is not None and seen > MAX_COUNT:
                refuse(f"has its {type(piece).__name__}'s n_seen_={quote(seen)}, more than {MAX_COUNT:,} points")
            _check_origins(piece, refuse)
            if type(piece).__name__ in DLINEAR_CLASSES:
                _check_blend(piece, k, refuse)
                _check_dlinear_settings(piece, refuse)
                record_fitted_settings(piece)
                _check_residual_state(piece, horizon, k, refuse, getattr(part, "n_seen_", None))  # a base: its LSTM's
        if hasattr(part, "network_"):
            _check_lstm_counters(part, refuse)
    if isinstance(getattr(model, "members_", None), dict):
        _check_evidence(model, horizon, k, refuse)


def predictor_parameter_checks(obj: Any) -> tuple:
    """The checks ``fit`` or ``update`` run on a fitted predictor's parameters, each raising
    :class:`WorkloadDataError`: what ``load`` refuses, and ``save`` refuses to write."""
    from . import _deadline
    from ._memory import check_limit
    from .data import DEFAULT_MAX_GAP, gap_buckets
    from .models import registry
    from .models.base import BaseForecaster

    return (
        lambda: BaseForecaster._check_horizon(obj),
        obj._check_level,
        lambda: registry.check_runtime_settings(obj),  # random_state, n_threads, device, verbose
        lambda: _deadline.check_seconds(getattr(obj, "max_training_time", None)),
        lambda: check_limit(getattr(obj, "memory_limit_mb", None)),
        lambda: gap_buckets(getattr(obj, "max_gap", DEFAULT_MAX_GAP), obj.freq_),
        lambda: obj._build_model().check_settings(),  # model_params and window, as fit builds and checks the model
    )


def fleet_parameter_checks(fleet: Any) -> tuple:
    """The checks ``fit`` or ``update`` run on a fleet's parameters (see :func:`predictor_parameter_checks`)."""
    from . import _deadline
    from ._memory import check_limit

    return (
        fleet._check_settings,  # model, model_params, level, max_gap, horizon, n_jobs, partition_size, teacher
        lambda: _deadline.check_seconds(getattr(fleet, "max_training_time", None)),
        lambda: check_limit(getattr(fleet, "memory_limit_mb", None)),
    )


def check_predictor(obj: Any, predict_timings: int) -> None:
    """Refuse a loaded predictor whose declared sizes disagree with its stored arrays.

    Run before the predictor forecasts for the first time: a forecast allocates by
    ``horizon`` and the model's window, so they must be the sizes the stored arrays
    have, not whatever the file says.
    """
    from .models import registry

    def refuse(what: str) -> None:
        raise ModelFileError(f"the model file's predictor {what}; it was damaged or altered: refit and save again.")

    model_name = getattr(obj, "model", None)
    if not isinstance(model_name, str) or model_name not in registry.names():
        refuse(f"names the model {quote(model_name)}, which is not one of {', '.join(registry.names())}")
    horizon = getattr(obj, "horizon", None)
    if not is_positive_int(horizon):  # numpy integers too, as fit takes them
        refuse(f"has horizon {quote(horizon)}, not a positive integer")
    if not hasattr(obj, "model_"):
        return  # unfitted: its parameters are checked by fit, as a user's are
    _check_set(obj, refuse)
    _check_timeline(obj, refuse)
    _check_parameters(predictor_parameter_checks(obj), refuse)
    model = obj.model_
    if type(model).__name__ != registry.class_name(registry.get(model_name).target):
        refuse(f"says model={quote(model_name)} but holds a {type(model).__name__}")
    targets = obj.targets_
    if not isinstance(targets, (list, tuple)) or not targets:
        refuse("names no targets")
    k = len(targets)
    members = list(getattr(model, "members_", {}).values())
    _check_parts(model, members, horizon, k, refuse)
    for name, array, shape in (
        ("interval_halfwidth_", obj.interval_halfwidth_, (horizon, k)),
        ("validation_forecast_", model.validation_forecast_, (None, horizon, k)),
        ("validation_actual_", model.validation_actual_, (None, horizon, k)),
    ):
        _check_shape(name, array, shape, horizon, k, refuse)
    _check_pool(model, horizon, k, refuse)
    _check_calibration(obj, model, members, horizon, k, refuse)
    window = obj.window_
    context = model.context_
    if not is_positive_int(window) or not window <= len(context) \
            or window != model.context_length() or context.ndim != 2 or context.shape[1] != k:
        refuse(f"has window {quote(window)}, its model's window {quote(model.context_length())} and a stored "
               f"context of shape {quote(np.shape(context))} for {plural(k, 'target')}")
    _check_members_and_kept(model, members, window, horizon, k, refuse)
    _check_update_state(model, members, horizon, k, refuse)
    _check_scan_state(model, members, k, refuse, own=False)
    confidence = obj.confidence_
    scores = obj._confidence_by_index
    if not all(isinstance(c, (int, float)) and 0.0 <= c <= 1.0 for c in [confidence, *scores]) or len(scores) != k:
        refuse(f"has confidence {quote(confidence)} (by target {quote(scores)}), not scores in [0, 1]")
    timings = obj.predict_seconds_
    if not isinstance(timings, collections.deque) or timings.maxlen != predict_timings:
        refuse(f"keeps its predict timings in {quote(timings)}, not a buffer of {predict_timings}")
    _check_measured(obj, refuse)
    _check_anomalies(obj, k, refuse)
    _check_lost(obj, model, refuse)
    series = obj.series_
    if series.values.ndim != 2 or series.values.shape[1] != k or len(series.index) != len(series.values) \
            or len(series.index) == 0 or series.index[-1] != obj.last_timestamp_ or not _is_utc(series.index) \
            or series.freq != obj.freq_:
        refuse("holds a history whose values, UTC timestamps, bucket width and targets disagree")
    # An update's input-anomaly scan and the forecast's settled inputs read the history's values; predict shows its
    # timestamps as the buckets before the forecast.
    if not _is_load(series.values):
        refuse(f"holds a history with values that are not finite loads >= 0 and at most {MAX_VALUE:g} (what the "
               "door lets in)")
    if not _evenly_spaced(np.asarray(series.index.array, dtype="datetime64[ns]"), series.freq.to_timedelta64()):
        refuse(f"holds a history whose timestamps are not one bucket width ({duration_text(series.freq)}) apart")
    _check_stuck_run(obj, refuse)
    _check_noise_scale(obj, refuse)
    _check_lost_held(obj, refuse)


def _check_noise_scale(obj: Any, refuse: Any) -> None:
    """What ``health``'s ``relative_error`` measures against: ``noise_scale_``, ``(2, k)`` naive forecast errors, each a
    finite number from 0 to ``MAX_VALUE`` (a difference between two loads the door lets in), its row 1 the one the
    newest buckets of the history, checked already, give as the model reads them (a burst it came back from at its
    reference median, :func:`workload_predictor.health.held_values`; as they are in a file saved before health read
    them so) (:func:`workload_predictor.health.noise_scale`); absent or ``None`` in a file saved before it was kept
    (health reads ``series_``)."""
    from .health import held_values, kept_length, naive_error

    scale, values = getattr(obj, "noise_scale_", None), obj.series_.values
    if scale is None:
        return
    kept, horizon = kept_length(obj.model_, obj.window_), obj.model_.horizon
    if not (_is_real(scale, nonnegative=True) and _is_within(scale, MAX_VALUE) and scale.shape == (2, values.shape[1])
            and any(np.array_equal(scale[1], naive_error(held[-kept:], horizon))
                    for held in (values, held_values(obj)))):
        refuse(f"has noise_scale_ of shape {quote(np.shape(scale))}, not {values.shape[1]} pairs of naive forecast "
               f"errors from 0 to {MAX_VALUE:g}, the newest ones those of the buckets it holds")


def _check_parts(model: Any, members: list, horizon: int, k: int, refuse: Any) -> None:
    """The model and its members: fitted for ``horizon`` and ``k`` targets, DLinear bucket weights and LSTM
    correction shares in range."""
    for part in [model, *members]:
        if getattr(part, "horizon", None) != horizon or getattr(part, "n_targets_", None) != k:
            refuse(f"has horizon {horizon} and {plural(k, 'target')}, its {type(part).__name__} "
                   f"{quote(getattr(part, 'horizon', None))} and {quote(getattr(part, 'n_targets_', None))}")
        _check_weights(part, k, refuse)
        base = getattr(part, "base_", None)
        if base is not None:  # an LSTM's linear base: its horizon, targets and weights are read by an update
            if not is_integer(getattr(base, "horizon", None)) or base.horizon != horizon \
                    or getattr(base, "n_targets_", k) != k:
                refuse(f"has horizon {horizon} and {plural(k, 'target')}, its {type(part).__name__}'s base "
                       f"{quote(getattr(base, 'horizon', None))} and {quote(getattr(base, 'n_targets_', k))}")
            _check_weights(base, k, refuse, base=True, seen=getattr(part, "n_seen_", None))
        share = getattr(part, "correction_share_", 1.0)
        if isinstance(share, bool) or not isinstance(share, float) or not 0.0 <= share <= 1.0:
            refuse(f"has an LSTM correction share {quote(share)}, not a number in [0, 1]")
        if hasattr(part, "network_"):
            _check_network_geometry(part, horizon, k, refuse, level_targets=(0, k))


def _check_network_geometry(model: Any, horizon: int, k: int, refuse: Any, level_targets: tuple[int, ...]) -> None:
    """A patch-LSTM's network reads the model's window in whole patches of ``k`` targets and forecasts its
    horizon: ``window_`` a multiple of ``patch_size_``, the LSTM's inputs ``patch_size_ * k``, the head's outputs
    ``horizon * k``, and ``level_targets`` one of ``level_targets``. Checked at load because a forecast need not
    run the network (an LSTM whose correction counts for nothing forecasts with its base alone): the first
    ``update`` would otherwise fail inside torch."""
    name = type(model).__name__
    window, patch, network = getattr(model, "window_", None), getattr(model, "patch_size_", None), model.network_
    lstm, head = getattr(network, "lstm", None), getattr(network, "head", None)
    inputs, outputs = getattr(lstm, "input_size", None), getattr(head, "out_features", None)
    levels = getattr(network, "level_targets", None)
    if not is_positive_int(window) or not is_positive_int(patch) or window % patch:
        refuse(f"has its {name} read a window of {quote(window)} buckets in patches of {quote(patch)}, not a "
               "positive number of whole patches")
    if inputs != patch * k or outputs != horizon * k or levels not in level_targets:
        refuse(f"holds a {name} network of {quote(inputs)} inputs per patch, {quote(outputs)} outputs and "
               f"level_targets={quote(levels)}, not {patch * k} (patches of {patch} buckets of {plural(k, 'target')}), "
               f"{horizon * k} (horizon {horizon} of {plural(k, 'target')}) and one of {level_targets}")


def _check_shape(name: str, array: Any, shape: tuple, horizon: int, k: int, refuse: Any) -> None:
    """``array`` (the attribute ``name``) is an ndarray of ``shape`` (``None``: any length)."""
    if not isinstance(array, np.ndarray) or array.ndim != len(shape) or any(
            want is not None and got != want for got, want in zip(array.shape, shape, strict=True)):
        refuse(f"holds {name} of shape {quote(np.shape(array))} for horizon {horizon} and {plural(k, 'target')}")


def _check_pool(model: Any, horizon: int, k: int, refuse: Any) -> None:
    """The ensemble's interval calibration pool: two equal stacks of (windows, horizon, k), where there is one."""
    pool = getattr(model, "calibration_forecast_", None)
    if pool is not None:
        actual = getattr(model, "calibration_actual_", None)
        if not all(isinstance(a, np.ndarray) and a.ndim == 3 and a.shape[1:] == (horizon, k) for a in (pool, actual)) \
                or len(pool) != len(actual) or len(pool) == 0:
            refuse(f"holds a calibration pool of shapes {quote(np.shape(pool))} and {quote(np.shape(actual))}, "
                   f"not two equal (windows, {horizon}, {k})")


#: What an update of a fitted model reads, present (not null) in every file a fit saved since format 4 (0.2.0): the
#: model's and each member's context, count, validation windows and their origins, and a single model's kept points
#: (an ensemble keeps its members'); the scaling of a DLinear and an LSTM, and a DLinear's (an LSTM's base too)
#: coefficients and window statistics. A forecast need not read them all (a member the ensemble weighs 0, a
#: DLinear's statistics), so load checks them: a file without one would load and fail at the first update.
_FITTED_STATE = ("context_", "n_seen_", "validation_forecast_", "validation_actual_", "validation_origins_")
_KEPT_STATE = ("recent_",)
_CLASS_STATE = {**{name: ("offset_", "scale_", "coef_", "intercept_", "stats_", "ridge_") for name in DLINEAR_CLASSES},
                "LSTM": ("offset_", "scale_")}
#: State a fit always sets and an update, ``health`` or a forecast reads with no fallback for its absence, by class
#: (``None`` a value some hold): a file without it is refused (an update or ``health`` would raise AttributeError).
_SET_STATE = {**{name: ("rank_one_steps_",) for name in DLINEAR_CLASSES},
              "Ensemble": ("n_history_origins_", "fallback_weights_", "combination_share_"),
              "WorkloadPredictor": ("n_updates_", "fit_seconds_"),
              "FleetPredictor": ("key_", "_global")}


def _check_set(part: Any, refuse: Any) -> None:
    """``part`` holds the state its class's fits always set (:data:`_SET_STATE`), ``None`` or not."""
    absent = [name for name in _SET_STATE.get(type(part).__name__, ()) if name not in vars(part)]
    if absent:
        refuse(f"holds its {type(part).__name__} without {', '.join(absent)}, which every fit sets and an update or "
               "health reads")


def _check_present(part: Any, refuse: Any, base: bool = False) -> None:
    """The state an update of ``part`` reads is there (:data:`_FITTED_STATE`); ``base``: ``part`` is an LSTM's linear
    base, which keeps its class's state only."""
    _check_set(part, refuse)
    names = _CLASS_STATE.get(type(part).__name__, ())
    if not base:
        names = _FITTED_STATE + (() if isinstance(getattr(part, "members_", None), dict) else _KEPT_STATE) + names
    missing = [name for name in names if getattr(part, name, None) is None]
    if missing:
        refuse(f"holds its {type(part).__name__}{' base' if base else ''} without {', '.join(missing)}, which an "
               "update reads")


def _check_members_and_kept(model: Any, members: list, window: int, horizon: int, k: int, refuse: Any) -> None:
    """Each ensemble member reads 1 to the ``window`` points the ensemble keeps; the model and every member hold
    the state an update reads (:func:`_check_present`) and keep what it reads (:func:`_check_kept`), a DLinear (an
    LSTM's base too) its update state."""
    if isinstance(getattr(model, "members_", None), dict) and not _is_count(getattr(model, "window_", window)):
        # The context an update keeps: context_length() turns "72" or 72.0 into an int, the update's slice does not.
        refuse(f"has the ensemble's window_={quote(model.window_)}, not a number of buckets")
    for name, part in getattr(model, "members_", {}).items():  # a member forecasts from the ensemble's context
        try:
            reads = part.context_length()
        except (AttributeError, TypeError, ValueError, OverflowError):
            reads = None
        stored = getattr(part, "window_", reads)  # what context_length() turned into an int ("5" or 2.5 would pass)
        if not _is_count(reads) or not 1 <= reads <= window or not _is_count(stored):
            refuse(f"has an ensemble member {quote(name)} that reads {quote(reads)} points before each forecast, "
                   f"not 1 to the {window} the ensemble keeps")
    for part in [model, *members]:  # what an update reads (a forecast may not)
        _check_present(part, refuse)
        if getattr(part, "base_", None) is not None:
            _check_present(part.base_, refuse, base=True)
        _check_kept(part, k, refuse)
        if hasattr(part, "network_"):  # an LSTM scales its windows by the mean and spread of its training loads
            offset, scale = getattr(part, "offset_", None), getattr(part, "scale_", None)
            if not (_is_real(offset) and _is_real(scale) and offset.shape == scale.shape == (k,)
                    and (scale > 0).all() and _is_scaling_of_loads(offset, scale)):
                refuse(f"holds an LSTM offset_ {quote(offset)} and scale_ {quote(scale)}, not the mean of {k} targets' "
                       f"loads in [0, {MAX_VALUE:g}] and their spread")
        for dlinear in (part, getattr(part, "base_", None)):  # an LSTM's linear base is a DLinear too
            if type(dlinear).__name__ in DLINEAR_CLASSES:
                _check_dlinear(dlinear, horizon, k, refuse, getattr(part, "context_", None))


def check_model(model: Any) -> None:
    """Refuse a model read from a file on its own (no predictor around it) whose state no fit produces: the
    checks :func:`check_predictor` runs on a predictor's model, before it forecasts once
    (:func:`~workload_predictor.persistence.loads`).

    A fitted model's parameters pass the checks ``fit`` runs on them (horizon, validation split),
    and its horizon, targets, validation and calibration buffers, window and kept points (as many
    as a forecast and an update read), its members' and its DLinear state agree with each other.
    """
    from .models.base import BaseForecaster, check_validation_settings

    name = type(model).__name__

    def refuse(what: str) -> None:
        raise ModelFileError(f"the model file's {name} {what}; it was damaged or altered: refit and save again.")

    if getattr(model, "context_", None) is None:
        return  # unfitted: its parameters are checked by fit, as a user's are
    _check_parameters((lambda: BaseForecaster._check_horizon(model), lambda: check_validation_settings(model)),
                      refuse)
    horizon, k = int(model.horizon), getattr(model, "n_targets_", None)
    if not is_positive_int(k):
        refuse(f"has n_targets_={quote(k)}, not a positive number of targets")
    members = list(getattr(model, "members_", {}).values())
    _check_parts(model, members, horizon, k, refuse)
    for attribute in ("validation_forecast_", "validation_actual_"):
        _check_shape(attribute, getattr(model, attribute, None), (None, horizon, k), horizon, k, refuse)
    _check_pool(model, horizon, k, refuse)
    _check_validation(model, members, horizon, refuse)
    try:
        window = model.context_length()
    except (AttributeError, TypeError, ValueError, OverflowError):
        window = None
    if not is_positive_int(window):
        refuse(f"reads {quote(window)} points before each forecast, not a positive number")
    _check_members_and_kept(model, members, window, horizon, k, refuse)
    for part in [model, *members]:
        # A fit and an update keep the newest context_length() points (checked to be at least that many): fewer
        # read by a forecast, from a window forged shorter (a kernel, a period, a season count), read other points.
        context = getattr(part, "context_", None)
        reads = window if part is model else part.context_length()
        if context is not None and len(context) != reads:
            refuse(f"keeps {plural(len(context), 'point')} in its {type(part).__name__}'s context_ for a window of "
                   f"{reads:,} (a fit and an update keep as many as it reads)")
    _check_update_state(model, members, horizon, k, refuse)
    _check_scan_state(model, members, k, refuse, own=True)


def _check_scan_state(model: Any, members: list, k: int, refuse: Any, own: bool) -> None:
    """The state a model that scanned its own fit keeps for its own forecast and update
    (:data:`~workload_predictor.models.base.SCAN_STATE`, all of it or none: absent in files saved before it was kept,
    and in a model fitted with flags given). ``own``: ``model`` is a model on its own, which may hold it: the floor
    (``input_floor_``, ``k`` scale floors), its newest points (``input_tail_``: from its context's length to
    ``min(n_seen_, span)`` rows of ``k`` loads ending in its ``context_``, ``span`` its
    :meth:`~workload_predictor.models.base.BaseForecaster._input_span`, and in the kept points, ``recent_``, of the
    model and each member), the flags among them (``input_flags_``: ``None``, or 1 to ``span`` rows of ``k``
    reference medians (loads) or NaN, at least one median, each on a point more than a floor from it:
    :func:`_check_own_flags`) and its newest non-zero points and their counts (as a predictor's). A predictor's model
    and an ensemble's members hold none: their owner settles their inputs. Every check reads the stored arrays;
    nothing is allocated by a size the file declares."""
    from .models.base import SCAN_STATE

    for part in ([] if own else [model]) + members:
        held = [name for name in SCAN_STATE if name in vars(part)]
        if held:
            refuse(f"holds {', '.join(held)} on its {type(part).__name__}, which only a model that scanned its own fit "
                   "keeps (its owner settles its inputs)")
    if not own:
        return
    held = [name for name in SCAN_STATE if name in vars(model)]
    if not held:
        return
    if len(held) != len(SCAN_STATE):
        refuse(f"holds {', '.join(held)} without {', '.join(n for n in SCAN_STATE if n not in held)}: the state of "
               "a model's own input-anomaly scan is kept whole")
    floor = model.input_floor_
    if not _is_scale_floor(floor, (k,)):
        refuse(f"holds an input anomaly floor of shape {quote(np.shape(floor))}, not {plural(k, 'value')} from 1 to "
               f"{MAX_VALUE:g} (a quantile or median of loads, at least 1), as large as {_largest(floor):g}")
    span, seen, context = model._input_span(), model.n_seen_, model.context_
    tail = model.input_tail_
    if not isinstance(tail, np.ndarray) or tail.ndim != 2 or tail.shape[1:] != (k,) or not _is_load(tail) \
            or not len(context) <= len(tail) <= min(span, seen) \
            or not np.array_equal(tail[len(tail) - len(context) :], context):
        refuse(f"keeps its newest points for its input-anomaly scan as {quote(tail)} of shape {quote(np.shape(tail))}, "
               f"not {len(context):,} to {min(span, seen):,} newest loads of {plural(k, 'target')} ending in its "
               "context_")
    for part in [model, *members]:
        recent = vars(part).get("recent_")
        same = None if recent is None else min(len(recent), len(tail))
        if same is not None and not np.array_equal(recent[len(recent) - same :], tail[len(tail) - same :]):
            refuse(f"keeps in its {type(part).__name__}'s recent_ other points than the newest of its input-anomaly "
                   "scan (input_tail_): both are the newest points of its series")
    rows = model.input_flags_
    if rows is not None and (not isinstance(rows, np.ndarray) or rows.dtype.kind != "f" or rows.ndim != 2
                             or rows.shape[1] != k or not 1 <= len(rows) <= span
                             or not _is_load(rows[~np.isnan(rows)]) or bool(np.isnan(rows).all())):
        refuse(f"keeps the flags among its newest points as {quote(rows)} of shape {quote(np.shape(rows))}, not at "
               f"most {span:,} rows of {plural(k, 'median')} (finite loads >= 0) or NaN, at least one median")
    if rows is not None:
        _check_own_flags(rows, tail, floor, refuse)
    _check_nonzero(model.input_nonzero_, model.input_nonzero_counts_, getattr(model, "n_seen_", None), k, refuse)


def _check_own_flags(rows: np.ndarray, tail: np.ndarray, floor: np.ndarray, refuse: Any) -> None:
    """The flags a model on its own keeps (``rows``, checked) lie among its newest points (``tail``, checked), the
    newest last, each on a point more than a scale floor (``floor``, checked) from its median: the scans flag a bucket
    only at least ``COUNTER_MARGIN`` (2) floors above the buckets before it (a counter's) or ``K`` floors from their
    median (the rule's; an update's floor is no lower than the fit's). A model on its own records its flags nowhere
    else, so rows moved (one dropped or added) would read the bursts among its points raw, and ordinary points as
    their medians."""
    if len(rows) > len(tail):
        refuse(f"keeps flags for {len(rows):,} of its newest points, more than the {len(tail):,} it keeps")
    at, col = np.nonzero(~np.isnan(rows))
    values = tail[len(tail) - len(rows) :][at, col]
    near = np.flatnonzero(~(np.abs(values - rows[at, col]) > floor[col]))
    if len(near):
        i = int(near[0])
        refuse(f"keeps a flag {len(rows) - int(at[i]) - 1:,} points before its newest (target index {int(col[i])}) "
               f"with the median {float(rows[at[i], col[i]]):g} on a point of {float(values[i]):g}, within its scale "
               f"floor {float(floor[col[i]]):g} of it: no scan flags such a point")


def check_fleet(fleet: Any, predict_timings: int, check_key: Callable[[Any, list], None]) -> None:
    """Refuse a loaded fleet whose parameters its own checks refuse, or whose per-key state no fit produces:
    the same checks as :func:`check_predictor` where the fleet holds the same state (bucket widths > 0,
    finite interval half-widths >= 0, confidences in [0, 1], each per-key predictor's state), every array
    shaped by its keys, the fitted horizon and the targets (compared before a forecast allocates by them),
    the series finite loads >= 0, ``keys_`` exactly the keys the state holds, each once, and its key column's
    name one ``check_key(name, targets)`` (the check fit runs on it) passes."""
    def refuse(what: str) -> None:
        raise ModelFileError(f"the fleet file {what}; it was damaged or altered: refit and save again.")

    _check_parameters(fleet_parameter_checks(fleet), refuse)
    if not hasattr(fleet, "keys_"):
        return
    _check_set(fleet, refuse)  # a key column named None is one fit takes: key_ absent is not key_ None
    horizon = _check_fitted_params(fleet, refuse)
    targets = getattr(fleet, "targets_", None)
    if not isinstance(targets, (list, tuple)) or not targets or not all(isinstance(t, str) for t in targets) \
            or len(set(targets)) != len(targets):
        refuse(f"names the targets {quote(targets)}, not distinct column names")
    key = getattr(fleet, "key_", None)
    try:
        # Any label fit takes (a frame's columns may be named by numbers, None or tuples), not one it refuses: a
        # forecast column's name ("yhat") loaded, and the forecast's key column was written over by that column.
        check_key(key, list(targets))
    except WorkloadDataError as exc:
        refuse(f"names its key column {quote(key)}, which fit refuses ({cut(exc)})")
    k = len(targets)
    blocks = getattr(fleet, "_blocks", None)
    if not isinstance(blocks, list):
        refuse("holds its DLinear keys in something other than a list of blocks")
    held: list = []
    for block in blocks:
        _check_block(block, horizon, k, refuse)
        held.extend(block.keys)
    state = getattr(fleet, "_global", None)
    if state is not None:
        _check_global(state, horizon, k, refuse)
        held.extend(state.keys)
    predictors = getattr(fleet, "_predictors", None)
    if not isinstance(predictors, dict):
        refuse("holds per-key predictors that are not a mapping")
    held.extend(predictors)
    keys, errors = fleet.keys_, getattr(fleet, "errors_", None)
    if not isinstance(keys, list) or not isinstance(errors, dict) \
            or not isinstance(getattr(fleet, "update_errors_", None), dict):
        refuse("lists its keys and errors in something other than a list and mappings")
    try:
        distinct = set(held)
        listed = set(keys)
        failed = listed & set(errors)
    except TypeError:
        refuse("names a key that is not a hashable value")
    if len(distinct) != len(held) or len(listed) != len(keys) or listed != distinct:
        refuse(f"lists {plural(len(keys), 'key')} in keys_ ({len(listed):,} distinct) but holds the state of "
               f"{len(held):,} ({len(distinct):,} distinct); every fitted key is listed once and held once")
    if failed:
        refuse(f"lists the key {quote(str(next(iter(failed))))} both as fitted and in errors_")
    _check_fleet_model(fleet.model, blocks, state, predictors, refuse)
    for name, predictor in predictors.items():
        try:
            check_predictor(predictor, predict_timings)
        except ModelFileError as exc:
            raise ModelFileError(f"the fleet file's key {quote(str(name))}: {exc}") from None
        if predictor.horizon != horizon or list(predictor.targets_) != list(targets):
            refuse(f"holds the key {quote(str(name))} fitted with horizon {quote(predictor.horizon)} and the targets "
                   f"{quote(predictor.targets_)}, not the fleet's {horizon} and {quote(targets)}")
        try:
            # Each key's model as a model file's: the fleet's forecast casts each key's to float64 (a complex or
            # datetime forecast passes), and an update reads its members' forecasts too.
            check_model_forecast(predictor.model_)
            check_member_forecasts(predictor.model_)
        except ModelFileError as exc:
            raise ModelFileError(f"the fleet file's key {quote(str(name))}: {exc}") from None


def _check_fleet_model(model: Any, blocks: list, state: Any, predictors: dict, refuse: Any) -> None:
    """Where a fit of ``model`` (the fleet's, as fitted: :func:`_check_fitted_params`) puts its keys: batched DLinear
    blocks for ``"dlinear"`` only, the global state for a global model only and no key beside it, and per-key
    predictors of that model (a ``"dlinear_log"`` fleet's keys batched would forecast as plain DLinear). A global
    model is one the registry does not name (the fleet's parameter checks allow those and its global models)."""
    from .models import registry

    one_per_key = model in registry.names()
    held = ("batched DLinear keys" if blocks and model != "dlinear"
            else "the state of a global model" if state is not None and one_per_key
            else "per-key predictors" if predictors and not one_per_key else None)
    if held is not None:
        refuse(f"says model={quote(model)} but holds {held}, which a fit of it does not make")
    other = next((name for name, predictor in predictors.items() if getattr(predictor, "model", None) != model), None)
    if other is not None:
        refuse(f"holds the key {quote(str(other))} fitted with model={quote(getattr(predictors[other], 'model', None))}, "
               f"not the fleet's {quote(model)}")


def check_member_forecasts(model: Any) -> None:
    """Each member of a combining model forecasts finite numbers too: one the combination weighs 0 is not read by
    the model's forecast, but by the update that may weigh it again."""
    for member in getattr(model, "members_", {}).values():
        check_model_forecast(member)


def check_model_forecast(model: Any) -> None:
    """A fitted model on its own forecasts ``horizon`` finite steps of its targets, or the file is refused."""
    if getattr(model, "context_", None) is None:
        return
    try:
        forecast = np.asarray(model._map_predict())  # unclipped; a complex one cast to float64 would lose its imaginary part
        expected_shape = (model.horizon,) if getattr(model, "_one_d", False) else (model.horizon, model.n_targets_)
        whole, real = forecast.shape == expected_shape, forecast.dtype.kind in "fiu"
        finite = real and bool(np.isfinite(forecast).all())
        bound = forecast_bound(model.horizon)
        within = finite and _is_within(forecast, bound)
    except Exception as exc:  # noqa: BLE001 - whatever the forged state breaks, the answer is the same
        raise ModelFileError(f"the model file's {type(model).__name__} does not forecast ({type(exc).__name__}: "
                             f"{cut(exc)}); it was damaged or altered: refit and save again.") from None
    if not whole or not within:
        what = (f"an array of shape {forecast.shape}" if not whole else
                f"values beyond {bound:g} (as large as {float(np.abs(forecast).max()):g})" if finite else
                "NaN or infinite values" if real else f"values of dtype {forecast.dtype}, not real numbers")
        raise ModelFileError(f"the model file's {type(model).__name__} forecasts {what}; it was damaged or altered: "
                             "refit and save again.")


def _check_fitted_params(fleet: Any, refuse: Any) -> int:
    """The settings the fleet was fitted with: the ones its file names (``save`` refuses a model or horizon set
    since fit) and that its checks pass. Returns the fitted horizon. Files saved before the fleet recorded them
    hold none: their parameters are the fitted ones."""
    fitted = getattr(fleet, "fitted_params_", None)
    if fitted is None:
        return fleet.horizon
    _check_parameters((fleet._check_fitted,), refuse)  # the names recorded, and the checks fit runs on them
    changed = [name for name in ("model", "horizon") if fitted[name] != getattr(fleet, name)]
    if changed:
        refuse(f"says {changed[0]}={quote(getattr(fleet, changed[0]))} but was fitted with "
               f"{changed[0]}={quote(fitted[changed[0]])}")
    return fleet.horizon


def _check_block(block: Any, horizon: int, k: int, refuse: Any) -> None:
    """One DLinear block of ``B`` keys: every array ``B`` rows of the shape its window, horizon and targets give,
    finite, the series and widths >= 0, the scales > 0, the windows within the series and the weights, the
    confidences in [0, 1]."""
    keys = block.keys
    if not isinstance(keys, list) or not keys:
        refuse("holds a block of keys that is not a non-empty list")
    b = len(keys)
    values, coef = block.values, block.coef
    if not isinstance(values, np.ndarray) or values.ndim != 3 or values.shape[0] != b or values.shape[1] < 1 \
            or values.shape[2] != k:
        refuse(f"holds the series of {plural(b, 'key')} in an array of shape {quote(np.shape(values))}, not "
               f"({b}, n, {k})")
    if not isinstance(coef, np.ndarray) or coef.ndim != 4 or coef.shape[:2] != (b, k) or coef.shape[2] < 1 \
            or coef.shape[3] != horizon:
        refuse(f"holds the weights of {plural(b, 'key')} in an array of shape {quote(np.shape(coef))}, not "
               f"({b}, {k}, window, {horizon}) for horizon {horizon}")
    shapes = {"start": (b,), "offset": (b, k), "scale": (b, k), "window": (b,), "intercept": (b, k, horizon),
              "halfwidth": (b, horizon, k), "confidence": (b,), "confidence_by_target": (b, k),
              "validation_mae": (b, k)}
    _check_shapes(block, shapes, "a block's", f"its {plural(b, 'key')}, horizon {horizon} and {plural(k, 'target')}",
                  refuse)
    if not _is_positive_span(block.freq):
        refuse(f"holds a block of keys with bucket width {quote(block.freq)}, not a positive span")
    if block.start.dtype != np.dtype("datetime64[ns]") or np.isnat(block.start).any():
        refuse("holds a block whose first buckets are not timestamps")
    _check_reach(block.start, values.shape[1], block.freq, refuse)
    if not _is_load(values):
        refuse(f"holds a series with negative or non-finite loads, or loads above {MAX_VALUE:g} (the door lets in "
               f"finite loads in [0, {MAX_VALUE:g}])")
    if not all(_is_real(getattr(block, name)) for name in ("offset", "scale", "coef", "intercept")) \
            or (block.scale <= 0).any():
        refuse("holds DLinear weights or scales that are non-finite (or scales <= 0)")
    if not _is_scaling_of_loads(block.offset, block.scale):
        refuse(f"holds a block's offset and scale that are not the mean of loads in [0, {MAX_VALUE:g}] and their "
               "spread")
    _check_calibrated(block, horizon, refuse)
    if not _is_real(block.validation_mae, nonnegative=True) or not _is_within(block.validation_mae,
                                                                              forecast_bound(horizon)):
        refuse(f"holds validation errors that are negative, non-finite or larger than {forecast_bound(horizon):g}")
    recent = getattr(block, "recent_mae", None)  # absent in a file saved before it was kept: validation MAE alone
    if recent is not None and not (isinstance(recent, np.ndarray) and recent.shape == (b, k)
                                   and _is_real(recent, nonnegative=True) and _is_within(recent, forecast_bound(horizon))):
        refuse(f"holds the newest windows' validation errors of shape {quote(np.shape(recent))}, not ({b}, {k}) "
               f"finite errors from 0 to {forecast_bound(horizon):g}")
    floor = getattr(block, "input_floor", None)  # absent in a file saved before it was kept: its series' floor
    if floor is not None and not (isinstance(floor, np.ndarray) and floor.shape == (b, k) and _is_real(floor)
                                  and (floor >= 1).all() and _is_within(floor, MAX_VALUE)):
        refuse(f"holds the keys' input-anomaly floors of shape {quote(np.shape(floor))}, not ({b}, {k}) finite "
               f"floors from 1 to {MAX_VALUE:g}")
    window = block.window
    if window.dtype.kind not in "iu" or (window < 1).any() or (window > min(coef.shape[2], values.shape[1])).any():
        refuse(f"holds windows that are not between 1 and its weights' width {coef.shape[2]} and its series' "
               f"length {values.shape[1]}")
    weights = block.window_weights
    if not isinstance(weights, list) or len(weights) != b or not all(
            isinstance(blend, dict) and blend and all(_is_count(w) and 1 <= w <= coef.shape[2]
                                                      and isinstance(share, float) and 0.0 <= share <= 1.0
                                                      for w, share in blend.items()) for blend in weights):
        refuse(f"holds blend weights that are not {plural(b, 'mapping')} of windows to weights in [0, 1]")
    if not _is_count(block.n_validation) or not isinstance(block.interval_exact, (bool, np.bool_)):
        refuse(f"holds n_validation={quote(block.n_validation)} and interval_exact={quote(block.interval_exact)}, "
               "not a count and True or False")
    _check_block_flags(block, b, values.shape[1], k, refuse)
    _check_block_recent(block, b, values.shape[1], refuse)
    _check_block_lost(block, b, values.shape[1], refuse)
    try:
        with np.errstate(all="ignore"):
            point = block.point(horizon)  # the keys' forecasts (their settled inputs are found once, and kept)
    except Exception:  # noqa: BLE001 - the forecast load runs next names what it breaks
        return
    bound = forecast_bound(horizon)
    if not _is_within(point, bound):
        largest = float(np.nanmax(np.abs(point)))
        refuse(f"holds a block's DLinear weights (coef, intercept) that forecast {largest:g}, beyond {bound:g} ((1 + "
               "horizon) times the largest load)")


def _check_block_flags(block: Any, b: int, n: int, k: int, refuse: Any) -> None:
    """A block's flagged buckets (``flag_at``, ``flag_median``; both absent in files saved before they were kept): at
    most one row of (key row, position, target index) per bucket and target of the ``b`` keys' ``n`` buckets and ``k``
    targets, strictly increasing, each among its key's window and the ``REFERENCE_BUCKETS`` before it (the ones its
    forecast reads), with a reference median that is a load. The count is checked before anything of its size is
    computed."""
    from .anomaly import REFERENCE_BUCKETS

    at, median = getattr(block, "flag_at", None), getattr(block, "flag_median", None)
    if at is None and median is None:
        return
    expected = "rows of (key row, position, target index) as int64, in order, with as many medians (loads)"
    if not isinstance(at, np.ndarray) or at.dtype != np.dtype(np.int64) or at.ndim != 2 or at.shape[1] != 3 \
            or not isinstance(median, np.ndarray) or median.dtype != np.dtype(np.float64) \
            or median.shape != (len(at),) or len(at) > b * n * k:
        refuse(f"holds a block's flagged buckets of shapes {quote(np.shape(at))} and {quote(np.shape(median))}, not "
               f"at most {b * n * k:,} {expected}")
    if not len(at):
        return
    rows, positions, cols = at[:, 0], at[:, 1], at[:, 2]
    if (rows < 0).any() or (rows >= b).any() or (cols < 0).any() or (cols >= k).any() or (positions >= n).any() \
            or (positions < np.maximum(n - block.window[rows].astype(np.int64) - REFERENCE_BUCKETS, 0)).any():
        keys = plural(b, "key's", "keys'")
        refuse(f"holds a block's flagged bucket outside its {keys} windows (and the {REFERENCE_BUCKETS} buckets "
               f"before each) of {plural(n, 'bucket')} and {plural(k, 'target')}")
    order = (rows * n + positions) * k + cols  # within b * n * k, checked above
    if (np.diff(order) <= 0).any() or not _is_load(median):
        refuse(f"holds a block's flagged buckets that are not {expected}")


def _check_block_recent(block: Any, b: int, n: int, refuse: Any) -> None:
    """A block's flagged buckets among its keys' newest ones (``recent_flags``, what health counts; absent in files
    saved before they were kept): at most one row of (key row, position) per bucket of the ``b`` keys' newest
    ``RECENT_BUCKETS``, each among them (a position from ``n - RECENT_BUCKETS``, below 0 before the ``n`` kept),
    strictly increasing. The count is checked before anything of its size is computed."""
    from .anomaly import RECENT_BUCKETS

    at = getattr(block, "recent_flags", None)
    if at is None:
        return
    if not isinstance(at, np.ndarray) or at.dtype != np.dtype(np.int64) or at.ndim != 2 or at.shape[1] != 2 \
            or len(at) > b * RECENT_BUCKETS:
        refuse(f"holds a block's recent flagged buckets of shape {quote(np.shape(at))}, not at most "
               f"{b * RECENT_BUCKETS:,} rows of (key row, position) as int64")
    if not len(at):
        return
    rows, positions = at[:, 0], at[:, 1]
    if (rows < 0).any() or (rows >= b).any() or (positions >= n).any() or (positions < n - RECENT_BUCKETS).any():
        keys = plural(b, "key's", "keys'")
        refuse(f"holds a block's recent flagged bucket outside its {keys} newest {RECENT_BUCKETS} buckets")
    order = rows * RECENT_BUCKETS + positions - (n - RECENT_BUCKETS)  # within b * RECENT_BUCKETS, checked above
    if (np.diff(order) <= 0).any():
        refuse("holds a block's recent flagged buckets that are not in order of key row and position, each once")


def _check_block_lost(block: Any, b: int, n: int, refuse: Any) -> None:
    """A block's lost buckets (``lost_at``; absent in files saved before they were kept, ``None`` where none): at
    least one and at most one row of (key row, position) per bucket of the ``b`` keys' ``n`` buckets, each among
    them, strictly increasing. The count is checked before anything of its size is computed."""
    at = getattr(block, "lost_at", None)
    if at is None:
        return
    if not isinstance(at, np.ndarray) or at.dtype != np.dtype(np.int64) or at.ndim != 2 or at.shape[1] != 2 \
            or not 0 < len(at) <= b * n:
        refuse(f"holds a block's lost buckets of shape {quote(np.shape(at))}, not 1 to {b * n:,} rows of (key row, "
               "position) as int64")
    rows, positions = at[:, 0], at[:, 1]
    if (rows < 0).any() or (rows >= b).any() or (positions < 0).any() or (positions >= n).any():
        keys = plural(b, "key's", "keys'")
        refuse(f"holds a block's lost bucket outside its {keys} {plural(n, 'bucket')}")
    if (np.diff(rows * n + positions) <= 0).any():  # within b * n, checked above
        refuse("holds a block's lost buckets that are not in order of key row and position, each once")


def _check_reach(start: np.ndarray, length: Any, freq: Any, refuse: Any) -> None:
    """Each key's series (``length`` buckets of ``freq`` from ``start``; a length and a width for all keys, or one
    per key) starts its last bucket by pandas' last timestamp: an update and a forecast compute that bucket. Its
    forecast's buckets may pass it (a fit near 2262-04-11 holds such a key: the fleet's forecast leaves it out)."""
    # The whole buckets between each start and pandas' last timestamp, against those a key needs: counts, so the
    # check itself cannot overflow as a span of 10**9 buckets of 50,000 days would.
    room = np.asarray((pd.Timestamp.max - pd.DatetimeIndex(np.ravel(start))) // freq)
    short = np.flatnonzero(room < np.asarray(length, dtype=np.int64) - 1)
    if len(short):
        first = int(short[0])
        key_length = int(np.ravel(length)[first] if np.ndim(length) else length)
        key_freq = freq[first] if isinstance(freq, pd.TimedeltaIndex) else freq
        refuse(f"holds a key whose {key_length:,} buckets of {duration_text(key_freq)} reach past {pd.Timestamp.max}")


def _check_shapes(obj: Any, shapes: dict[str, tuple[int, ...]], whose: str, sized_by: str, refuse: Any) -> None:
    """Each array ``shapes`` names on ``obj`` is an ndarray of that shape (``whose``, ``sized_by``: the message's
    words for the owner and for what sets the shapes)."""
    for name, shape in shapes.items():
        array = getattr(obj, name)
        if not isinstance(array, np.ndarray) or array.shape != shape:
            refuse(f"holds {whose} {name} of shape {quote(np.shape(array))}, not {shape} for {sized_by}")


def _check_calibrated(obj: Any, horizon: int, refuse: Any) -> None:
    """``obj``'s interval half-widths are finite, in [0, :func:`forecast_bound`], its confidences (overall and by
    target) scores in [0, 1]."""
    bound = forecast_bound(horizon)
    if not _is_real(obj.halfwidth, nonnegative=True) or not _is_within(obj.halfwidth, bound):
        refuse(f"holds interval half-widths that are negative or non-finite, or above {bound:g}")
    if not all(_is_real(getattr(obj, name)) and ((getattr(obj, name) >= 0) & (getattr(obj, name) <= 1)).all()
               for name in ("confidence", "confidence_by_target")):
        refuse("holds confidences that are not scores in [0, 1]")


def _check_global(state: Any, horizon: int, k: int, refuse: Any) -> None:
    """A global model's per-key state: ``N`` keys, each array ``N`` rows shaped by the horizon and targets, the
    network's keys, horizon and targets the fleet's, its kept points finite loads >= 0."""
    keys, model = state.keys, state.model
    if not isinstance(keys, list) or not keys:
        refuse("holds a global model whose keys are not a non-empty list")
    n = len(keys)
    shapes = {"start": (n,), "length": (n,), "halfwidth": (n, horizon, k), "confidence": (n,),
              "confidence_by_target": (n, k)}
    _check_shapes(state, shapes, "the global model's",
                  f"its {plural(n, 'key')}, horizon {horizon} and {plural(k, 'target')}", refuse)
    if not isinstance(state.freqs, list) or len(state.freqs) != n or not all(_is_positive_span(f) for f in state.freqs):
        refuse("holds a key whose bucket width is not a positive span")
    if state.start.dtype != np.dtype("datetime64[ns]") or np.isnat(state.start).any() \
            or state.length.dtype.kind not in "iu" or (state.length < 1).any():
        refuse("holds a global model whose keys' first buckets or lengths are not timestamps and counts >= 1")
    _check_reach(state.start, state.length, pd.TimedeltaIndex(state.freqs), refuse)
    _check_calibrated(state, horizon, refuse)
    if getattr(model, "keys_", None) != keys or getattr(model, "horizon", None) != horizon \
            or getattr(model, "n_targets_", None) != k:
        refuse(f"holds a global network for other keys, horizon {quote(getattr(model, 'horizon', None))} or "
               f"{quote(getattr(model, 'n_targets_', None))} targets than its own {plural(n, 'key')}, {horizon} and "
               f"{k}")
    _check_network_geometry(model, horizon, k, refuse, level_targets=(0,))
    p = model.window_ * k + 1
    for name, shape in (("base_coef_", (p, horizon * k)), ("base_gram_", (p, p)), ("base_cross_", (p, horizon * k)),
                        ("offset_", (n, k)), ("scale_", (n, k))):  # what an update adds to and solves, and scales by
        array = getattr(model, name, None)
        if not isinstance(array, np.ndarray) or array.shape != shape or not _is_real(array) \
                or (name == "scale_" and ((array <= 0).any() or not _is_scaling_of_loads(model.offset_, array))):
            refuse(f"holds the global network's {name} of shape {quote(np.shape(array))}, not finite {shape} "
                   f"{'scales > 0 (the spread of loads its offset_ is the mean of) ' if name == 'scale_' else ''}for "
                   f"its window {model.window_}, horizon {horizon}, {plural(n, 'key')} and {plural(k, 'target')}")
    pending = getattr(model, "scale_pending_", None)  # None: a file saved before it was kept (no target is rescaled)
    if pending is not None and (not isinstance(pending, np.ndarray) or pending.dtype != np.bool_
                                or pending.shape != (n, k)
                                or (model.scale_[pending] != np.maximum(1.0, np.abs(model.offset_[pending]))).any()):
        refuse(f"holds the global network's scale_pending_ of shape {quote(np.shape(pending))} and dtype "
               f"{quote(getattr(pending, 'dtype', None))}, not ({n:,}, {k}) bool flags of targets whose scale is a "
               "constant's, max(1, |offset|)")
    spread = getattr(model, "level_spread_", None)  # None: a file saved before it was kept (found at its next update)
    if spread is not None and (not isinstance(spread, np.ndarray) or spread.dtype != np.float64
                               or spread.shape != (n, k) or not _is_within(spread[spread != np.inf], MAX_VALUE)
                               or (spread < 0).any()):
        refuse(f"holds the global network's level_spread_ of shape {quote(np.shape(spread))} and dtype "
               f"{quote(getattr(spread, 'dtype', None))}, not ({n:,}, {k}) float64 spreads of loads in [0, "
               f"{MAX_VALUE:g}] or inf (how far each key's windows' means sit from its offset)")
    runs = getattr(model, "level_run_", None)  # None: a file saved before it was kept (updates judge levels without)
    if runs is not None and (not isinstance(runs, np.ndarray) or runs.dtype != np.int64 or runs.shape != (n, k)
                             or (runs < 1).any()):
        refuse(f"holds the global network's level_run_ of shape {quote(np.shape(runs))} and dtype "
               f"{quote(str(getattr(runs, 'dtype', None)))}, not ({n:,}, {k}) int64 counts of windows >= 1 (the "
               "longest run of each key's fitted windows' means on one side of its offset)")
    noise = getattr(model, "level_residual_", None)  # None: a file saved before it was kept (updates judge without)
    if noise is not None and (not isinstance(noise, np.ndarray) or noise.dtype != np.float64
                              or noise.shape != (3, n, k) or not _is_within(noise, MAX_VALUE) or (noise[1:] < 0).any()):
        refuse(f"holds the global network's level_residual_ of shape {quote(np.shape(noise))} and dtype "
               f"{quote(str(getattr(noise, 'dtype', None)))}, not (3, {n:,}, {k}) float64 loads within "
               f"{MAX_VALUE:g}, rows 1 and 2 >= 0 (the mean of each key's one-step residuals from the base at fit, "
               "their long-run deviation and that mean's standard error)")
    before = getattr(model, "scaling_before_shift_", None)  # None: no key scaled again by a small level shift
    kept = None if not isinstance(before, np.ndarray) or before.dtype != np.float64 or before.shape != (2, n, k) \
        else ~np.isnan(before[0])
    if before is not None and (kept is None or not kept.any()
                               or (np.isnan(before[1]) != ~kept).any()
                               or not _is_real(before[:, kept]) or not _is_scaling_of_loads(*before[:, kept])):
        refuse(f"holds the global network's scaling_before_shift_ of shape {quote(np.shape(before))} and dtype "
               f"{quote(str(getattr(before, 'dtype', None)))}, not (2, {n:,}, {k}) float64 offsets and scales of loads "
               "(NaN alike where a key holds none; at least one held): the scaling each key had before a small level "
               "shift scaled it again")
    naive = getattr(model, "fit_naive_error_", None)  # None: a file saved before it was kept (found at its next update)
    if naive is not None and (not isinstance(naive, np.ndarray) or naive.dtype != np.float64 or naive.shape != (n, k)
                              or not _is_real(naive, nonnegative=True) or not _is_within(naive, MAX_VALUE)):
        refuse(f"holds the global network's fit_naive_error_ of shape {quote(np.shape(naive))} and dtype "
               f"{quote(str(getattr(naive, 'dtype', None)))}, not ({n:,}, {k}) float64 naive forecast errors from 0 to "
               f"{MAX_VALUE:g} (each key's in the series it was fitted on, what health measures its error against)")
    floor = getattr(model, "weight_floor_", None)  # None: robust=False, or a file saved before the weights
    if floor is not None and not _is_scale_floor(floor, (n, k)):
        refuse(f"holds the global network's weight_floor_ of shape {quote(np.shape(floor))}, not ({n:,}, {k}) scale "
               f"floors from 1 to {MAX_VALUE:g} (a quantile or median of loads, at least 1), as large as "
               f"{_largest(floor):g}")
    stages = getattr(model, "time_limited_stages_", ())  # absent: a file saved before the network kept them
    if not isinstance(stages, tuple) or not all(isinstance(stage, str) for stage in stages):
        refuse(f"holds the global network's time_limited_stages_={quote(stages)}, not a tuple of stage names")
    _check_global_settings(model, horizon, refuse)
    _check_global_base(model, refuse)  # its penalty checked first
    recent = getattr(model, "recent_", None)
    if not isinstance(recent, list) or len(recent) != n or not all(
            _is_load(r) and r.ndim == 2 and r.shape[1] == k for r in recent):
        refuse(f"holds the global network's kept points not as {plural(n, 'array')} of loads in [0, {MAX_VALUE:g}] "
               f"of {plural(k, 'target')}")
    for name, actual in (("validation_forecast_", False), ("validation_actual_", True)):
        arrays = getattr(model, name, None)
        if not isinstance(arrays, list) or len(arrays) != n or not all(
                (_is_load(a) if actual else _is_within(a, forecast_bound(horizon))) and a.ndim == 3
                and a.shape[1:] == (horizon, k) for a in arrays):
            refuse(f"holds the global network's {name} not as {plural(n, 'array')} of (windows, {horizon}, {k}) "
                   f"{f'loads in [0, {MAX_VALUE:g}]' if actual else f'forecasts within {forecast_bound(horizon):g}'}")
    if any(f.shape != a.shape for f, a in zip(model.validation_forecast_, model.validation_actual_)):
        refuse("holds the global network's validation_forecast_ and validation_actual_ with other window counts for a "
               "key (an update rolls both by the actual windows' count)")
    _check_global_update_state(model, n, recent, refuse)


def _check_global_base(model: Any, refuse: Any) -> None:
    """The global network's linear base ``base_coef_`` is the ridge solve of its statistics ``base_gram_`` and
    ``base_cross_``, as every fit and update sets the three together (:meth:`GlobalLSTM._solve_base`): a forecast reads
    the coefficients, an update adds to the statistics and solves them again. Each is finite, not bounded (a small
    spread makes large features), so a forged 1e300 in one alone loaded: in the coefficients it forecast -1e298 (the
    fleet's forecast clips at 0) and filled the validation windows an update keeps; in the cross statistics the first
    update forecast 1e298."""
    try:
        with np.errstate(all="ignore"):
            solved = model._solve_base()
    except Exception:  # noqa: BLE001 - a singular or malformed system: no fit's
        solved = None
    coef = model.base_coef_
    scale = float(np.abs(solved).max(initial=0.0)) if _is_real(solved) else math.nan
    if not math.isfinite(scale) or np.shape(solved) != coef.shape \
            or (np.abs(solved - coef) > 1e-6 * max(scale, 1e-300)).any():
        refuse("holds the global network's base_coef_, base_gram_ and base_cross_ that disagree: its linear base is "
               "not the ridge solve of its statistics, as every fit and update leaves it")


def _check_global_settings(model: Any, horizon: int, refuse: Any) -> None:
    """The global network's settings an update reads pass the checks its fit runs: the network's sizes and training
    settings (its update's memory estimate multiplies them) and the base's ridge penalty (its update solves with it).
    Not its device: a file fitted on a GPU loads where there is none."""
    from .models.torch_runtime import check_settings

    def ridge() -> None:
        if not is_number(model.ridge) or not 0.0 < model.ridge < math.inf:
            raise WorkloadDataError(f"ridge={quote(model.ridge)} must be a positive, finite penalty")

    _run_setting_checks([lambda: check_settings(model, outputs=horizon), ridge], "a global network", refuse)
    fitted = getattr(model, "fitted_settings_", None)  # None: a file saved before its fit recorded them
    if fitted is not None and (not isinstance(fitted, dict) or set(fitted) != {"linear_base", "ridge", "robust"}):
        refuse(f"holds the global network's fitted_settings_ {cut(quote(fitted))}, not the linear_base, ridge and "
               "robust its fit read")
    if fitted is not None:  # the settings its fit read are those it holds: a fleet's network is set by its fit alone
        _run_setting_checks([model._check_fitted_settings], "a global network", refuse)


def _check_global_update_state(model: Any, n: int, recent: list, refuse: Any) -> None:
    """What a global network's update reads and its forecast does not: each key's count of points seen (at least
    those it keeps), its validation windows' increasing origins and those its interval leaves out, its kept points' weights in [0, 1] (absent in
    files saved before the global network weighed buckets), and each key's newest non-zero points and their count
    (:func:`_check_global_nonzero`)."""
    seen = getattr(model, "n_seen_", None)
    if not isinstance(seen, np.ndarray) or seen.dtype.kind not in "iu" or seen.shape != (n,) \
            or (seen > MAX_COUNT).any() or any(int(s) < len(r) for s, r in zip(seen, recent)):
        refuse(f"holds the global network's n_seen_ {quote(seen)}, not {plural(n, 'count')} of at least the points "
               "each key keeps")
    keep = model._recent_length()  # a fit and an update keep each key's newest points, as many as it has up to this
    if any(len(r) != min(int(s), keep) for s, r in zip(seen, recent)):
        # A forecast reads a key's newest kept points: with one missing it forecast from the bucket before its last.
        refuse(f"holds the global network's kept points not as each key's newest {keep:,} (or all it has seen)")
    origins, actual = getattr(model, "validation_origins_", None), model.validation_actual_
    owners = plural(n, "key's", "keys'")
    if not isinstance(origins, list) or len(origins) != n or not all(
            _increasing_origins(o, a) for o, a in zip(origins, actual)):
        refuse(f"holds the global network's validation_origins_ not as {owners} increasing positions, one per "
               "validation window of each key")
    left_out = getattr(model, "validation_left_out_", None)  # None: a file saved before it was kept (none left out)
    if left_out is not None and (not isinstance(left_out, list) or len(left_out) != n or not all(
            out is None or (isinstance(out, np.ndarray) and out.dtype == np.bool_ and out.shape == (len(a),)
                            and out.any()) for out, a in zip(left_out, actual))):
        refuse(f"holds the global network's validation_left_out_ not as {owners} windows left out of the interval: "
               "each None (none) or a bool per validation window of the key, at least one true")
    weights = getattr(model, "recent_weights_", None)
    if weights is not None and (not isinstance(weights, list) or len(weights) != n or not all(
            w is None or (_is_real(w) and w.shape == r.shape and ((w >= 0.0) & (w <= 1.0)).all())
            for w, r in zip(weights, recent))):
        refuse(f"holds the global network's recent_weights_ not as {plural(n, 'weight')} in [0, 1] (or None) of the "
               "points each key keeps")
    _check_global_lost(model, n, recent, refuse)
    _check_global_nonzero(model, n, refuse)


def _check_global_lost(model: Any, n: int, recent: list, refuse: Any) -> None:
    """Each key's lost buckets (``lost_buckets_``: ``n`` entries, each ``None`` or increasing int64 positions from the
    key's first point among the points it keeps, each a zero-filled bucket: 0 in every target); absent in files saved
    before the global network read them. int64, as an update writes them: an update joins the positions it finds to
    them, and uint64 joined with int64 are float64, which index no array (such a file's update would raise
    IndexError)."""
    lost = getattr(model, "lost_buckets_", None)
    if lost is None:
        return
    owners = plural(n, "key's", "keys'")
    if not isinstance(lost, list) or len(lost) != n:
        refuse(f"holds the global network's lost_buckets_ not as {owners} lost buckets (None or positions per key)")
    for j, (positions, kept) in enumerate(zip(lost, recent)):
        if positions is None:
            continue
        first = int(model.n_seen_[j]) - len(kept)  # kept[0] is the key's point number first
        # The count first: nothing of a forged array's size is computed (increasing positions among the kept points
        # are at most as many as those).
        if not isinstance(positions, np.ndarray) or positions.dtype != np.dtype(np.int64) or positions.ndim != 1 \
                or not 1 <= len(positions) <= len(kept) or positions[0] < first \
                or positions[-1] >= first + len(kept) or (np.diff(positions) <= 0).any() \
                or (kept[positions - first] != 0).any():
            refuse(f"holds the global network's lost buckets of key {quote(model.keys_[j])} as {quote(positions)}, "
                   f"not increasing int64 positions from {first:,} to {first + len(kept) - 1:,} (its kept points) of "
                   "zero-filled buckets")


def _check_global_nonzero(model: Any, n: int, refuse: Any) -> None:
    """Each key's newest non-zero points (``weight_nonzero_``: ``n`` arrays) and their counts
    (``weight_nonzero_counts_``: ``(n, k)`` integers), each key's as a predictor's ``input_nonzero_`` and
    ``input_nonzero_counts_`` (:func:`_check_nonzero`, up to the points the key saw); both absent in files saved
    before the global network's floor followed them (it keeps its training part's floor)."""
    kept, counts = getattr(model, "weight_nonzero_", None), getattr(model, "weight_nonzero_counts_", None)
    if kept is None and counts is None:
        return
    k, owners = model.n_targets_, plural(n, "key's", "keys'")
    if not isinstance(kept, list) or len(kept) != n or not isinstance(counts, np.ndarray) or counts.ndim != 2 \
            or len(counts) != n:
        refuse(f"holds the global network's weight_nonzero_ and weight_nonzero_counts_ of shape "
               f"{quote(np.shape(counts))} not as {owners} newest non-zero points and ({n:,}, {k}) counts")
    from .anomaly import BUSY_KEPT
    from .models.global_lstm import PACKED_DTYPES, _unpacked

    for i, key in enumerate(model.keys_):
        def refuse_key(what: str, key: Any = key) -> None:
            refuse(f"holds the global network's weight_nonzero_ state of key {quote(key)}, which {what}")

        rows = kept[i]  # an array: a file saved before they were packed (the rows themselves)
        if isinstance(rows, tuple):  # one array per target of BUSY_KEPT entries: 0, then as many points as counted
            if len(rows) != k or not all(isinstance(c, np.ndarray) and c.shape == (BUSY_KEPT,)
                                         and c.dtype in PACKED_DTYPES for c in rows):
                refuse_key(f"is not {plural(k, 'array')} of {BUSY_KEPT:,} entries, each of "
                           f"{', '.join(np.dtype(t).name for t in PACKED_DTYPES)}")
            rows = _unpacked(rows)
        _check_nonzero(rows, counts[i], int(model.n_seen_[i]), k, refuse_key)
