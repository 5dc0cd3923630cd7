"""Save and load fitted predictors in a format that cannot run code when read.

A model file is::

    b"WORKLOAD-PREDICTOR\\n"                      magic line
    {"format_version": 4, ...}\\n                 one JSON header line (at most 64 KiB)
    <payload>                                    a NumPy ``.npz`` archive

The header holds the format version, the package version that wrote the file, the
payload's length and its SHA-256. The payload holds every array (float weights,
window statistics, timestamps as ``datetime64[ns]``, LSTM tensors as float32
arrays) plus one JSON document, ``__state__``, that describes the objects.

Why this is safe to load from an untrusted place: nothing in the file is
executable. The archive's arrays are read by :func:`~workload_predictor.model_file.open_arrays`
from their checked ``.npy`` headers (numbers and datetimes only: object arrays, which
would be pickles, are refused), the JSON is plain data, and the objects it describes
are rebuilt only from an allow-list (the registered models of
:mod:`~workload_predictor.models.registry` and the classes their entries declare), by calling
their ``__init__`` (which only stores parameters) and setting plain attributes.
A pickle, a tampered or truncated payload, an unknown class or a different
format version raises :class:`~workload_predictor.errors.ModelFileError` before
anything is built. The checksum detects corruption, not forgery (anyone can
recompute it); safety against forgery comes from the allow-list, not the hash.

Nor can a file make the loader allocate or wait: :mod:`workload_predictor.model_file`
reads only regular files of at most ``max_bytes``, checks every size the file
declares (archive members, array shapes, network sizes, the predictor's horizon
and window) against what it holds before allocating, and any failure below the
format layer is a ``ModelFileError``.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import hashlib
import io
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from . import model_file
from ._version import __version__
from .data import BucketedSeries, steps_within_range
from .errors import ModelFileError, WorkloadDataError, cut, quote
from .models import registry

logger = logging.getLogger(__name__)

MAGIC = b"WORKLOAD-PREDICTOR\n"
# 4: the predictor's model settings live in model_params, the ensemble's in member_params (the registry's layout)
FORMAT_VERSION = 4
MAX_HEADER_BYTES = 64 * 1024
STATE_KEY = "__state__"
_JSON = json.JSONDecoder()  # what json.loads decodes bytes with (it checks a text for a BOM first; bytes, no)

_ARRAY_KINDS = model_file.ARRAY_KINDS  # bool, ints, floats, complex, datetime64: never object ("O")
# Classes a model file may name besides the models (which come from the registry): see allow().
_CLASSES: dict[str, str | type] = {
    "BucketedSeries": BucketedSeries,
    "GlobalLSTM": "workload_predictor.models.global_lstm:GlobalLSTM",  # the fleet's one network over all keys
    "FleetPredictor": "workload_predictor.fleet:FleetPredictor",
    "FleetBlock": "workload_predictor.fleet:FleetBlock",
    "FleetGlobal": "workload_predictor.fleet:FleetGlobal",
}
for _name in _CLASSES:
    registry.reserve(_name)
_CHECKS: dict[type, Callable[[Any], None]] = {}
_FORECAST_ON_LOAD: set[type] = set()


def allow(cls: type, *, check: Callable[[Any], None] | None = None, forecast_on_load: bool = False) -> type:
    """Let model files hold instances of ``cls`` (the predictor registers itself so).

    ``check(obj)`` runs on every loaded instance and raises :class:`ModelFileError` for
    state no fit produces; ``forecast_on_load``: a fitted instance read from a file must
    also forecast finite numbers (see :func:`_check_forecasts`). Returns ``cls``.
    """
    _CLASSES[cls.__name__] = cls
    registry.reserve(cls.__name__)
    if check is not None:
        _CHECKS[cls] = check
    if forecast_on_load:
        _FORECAST_ON_LOAD.add(cls)
    return cls


def _allowed(name: Any) -> type | None:
    """The class a model file may name ``name``, or ``None``: the classes given to :func:`allow`, the
    registered models and the classes their registry entries declare (:func:`registry.persisted_classes`)."""
    if isinstance(name, str) and name in _CLASSES:
        return registry.resolve(_CLASSES[name])
    return registry.resolve_persisted(name)


def _resolve(name: Any, what: str, kind: Any) -> type:
    cls = _allowed(name)
    if cls is None or not kind(cls):
        raise ModelFileError(f"the model file names {what} {quote(name)}, which is not one this package builds.")
    return cls


def _is_object(cls: type) -> bool:
    return callable(getattr(cls, "get_params", None)) and callable(getattr(cls, "_param_names", None))


def _is_torch_module(cls: type) -> bool:
    return callable(getattr(cls, "load_state_dict", None))


# -- encoding ------------------------------------------------------------------------------
class _Encoder:
    """Turns a fitted object tree into JSON-able data plus a dict of named arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> str:
        if value.dtype.kind not in _ARRAY_KINDS:
            raise _Unsaveable(value, f"an array of dtype {value.dtype} (only numbers and datetimes)")
        key = f"a{len(self.arrays)}"
        # np.require keeps a 0-d array (a numpy scalar) 0-d; np.ascontiguousarray made it one element of shape (1,).
        self.arrays[key] = np.require(value, requirements="C")
        return key

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value
        if isinstance(value, np.generic):
            return {"__scalar__": self.array(np.asarray(value))}
        if isinstance(value, np.ndarray):
            return {"__array__": self.array(value)}
        if isinstance(value, pd.Timestamp):
            return {"__timestamp__": value.isoformat()}
        if isinstance(value, pd.Timedelta):
            return {"__timedelta__": value.isoformat()}
        if isinstance(value, pd.DatetimeIndex):
            tz = None if value.tz is None else str(value.tz)
            naive = value.tz_convert("UTC").tz_localize(None) if tz else value
            return {"__datetimeindex__": self.array(naive.as_unit("ns").to_numpy()), "tz": tz}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v) for v in value]}
        # A list, deque or dict is copied (in C, which no other thread interleaves with) before its items are
        # encoded: predict appends its timing to predict_seconds_ in any thread, and a save iterating the deque
        # itself failed with "deque mutated during iteration".
        if isinstance(value, list):
            return [self.encode(v) for v in list(value)]
        if isinstance(value, collections.deque):
            return {"__deque__": [self.encode(v) for v in list(value)], "maxlen": value.maxlen}
        if isinstance(value, dict):
            return self._items(dict(value), attributes=False)
        name = type(value).__name__
        if type(value) is _allowed(name):
            if dataclasses.is_dataclass(value):
                fields = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
                return {"__dataclass__": name, "fields": fields}
            if _is_object(type(value)):
                # One copy of the attributes first (a dict copy in C, which no other thread interleaves with): an
                # update landing in another thread while they are filtered would otherwise mix its state with the
                # one before it.
                attributes = dict(vars(value))
                params = value.get_params()
                state = {k: v for k, v in attributes.items() if k not in params}
                return {"__object__": name, "params": self._items(params), "state": self._items(state)}
            if _is_torch_module(type(value)) and isinstance(getattr(value, "init_args_", None), dict):
                # The constructor's arguments, in its signature's order (registry.record_init keeps them).
                return {"__torch__": name, "init": [self.encode(v) for v in value.init_args_.values()],
                        "state": self.encode({k: t.detach().cpu().numpy() for k, t in value.state_dict().items()})}
        raise _Unsaveable(value)

    def _items(self, mapping: dict, attributes: bool = True) -> dict:
        """A dict (an object's parameters or attributes, ``attributes``) encoded, a value that cannot be saved named by
        its key."""
        items = []
        for key, value in mapping.items():
            try:
                items.append([self.encode(key), self.encode(value)])
            except _Unsaveable as exc:
                exc.path.insert(0, f".{key}" if attributes and isinstance(key, str) else f"[{key!r}]")
                raise
        return {"__dict__": items}


class _Unsaveable(TypeError):
    """A value a model file cannot hold, and where it was (``path``: attribute names and keys, outermost first)."""

    def __init__(self, value: Any, kind: str | None = None) -> None:
        super().__init__()
        self.value_type, self.kind, self.path = type(value), kind, []

    def __reduce__(self):  # pickled with what its __init__ takes; the value's type and the path come with the rest
        return type(self), (None, self.kind), self.__dict__

    def __str__(self) -> str:
        kind = self.kind or f"a value of type {self.value_type.__module__}.{self.value_type.__qualname__}"
        base = next((cls for cls in self.value_type.__mro__[1:] if _allowed(cls.__name__) is cls), None)
        if self.kind is None and base is not None:  # a subclass: the loader rebuilds only the classes it names
            kind += (f", a subclass of {base.__name__}: a model file holds this package's own classes only; save a "
                     f"{base.__name__} (one your class wraps)")
        elif self.kind is None:
            kind += ("; a model file holds numbers, text, arrays, timestamps and this package's classes only: drop it, "
                     "or keep it outside the predictor")
        where = "".join(self.path).lstrip(".")
        return f"cannot save {where} ({kind})" if where else f"cannot save {kind}"


# -- decoding ------------------------------------------------------------------------------
class _Decoder:
    def __init__(self, arrays: Any) -> None:
        self.arrays = arrays
        self.read: set[str] = set()  # the arrays read so far: each at most once

    def array(self, key: Any, view: bool = False) -> np.ndarray:
        """The array ``key`` names: its own copy, or (``view``) where it lies in the payload, for a caller that
        copies it at once (:meth:`~workload_predictor.model_file.Arrays.view`; arrays read by ``numpy.load``, which
        has none, give their own copy)."""
        # Arrays looks a name up; the list of names of an archive read by numpy.load is scanned
        names = self.arrays if isinstance(self.arrays, model_file.Arrays) else self.arrays.files
        if not isinstance(key, str) or key == STATE_KEY or key not in names:
            raise ModelFileError(f"the model file refers to a missing array {quote(key)}.")
        if key in self.read:
            # save() stores each array once under its own name: a second reference would read (and allocate) the
            # member again, so a few bytes of state naming one large array many times would take gigabytes.
            raise ModelFileError(f"the model file refers to the array {quote(key)} more than once (save() stores each "
                                 "array once); it was damaged or altered: save the model again.")
        self.read.add(key)
        # an array of numbers or datetimes: open_arrays refused any other dtype
        return _in_place(self.arrays, key) if view else self.arrays[key]

    def index(self, key: Any, tz: Any) -> pd.DatetimeIndex:
        """The timestamps of the array ``key`` in the time zone ``tz`` (``None``: naive), copied from the payload once:
        pandas copies an array it is given (3.0), again to change its unit (even to the same one) and to localize it,
        and a history's index is as large as its values."""
        stamps = self.array(key, view=True)  # read-only, in the payload
        if stamps.dtype.kind != "M" or stamps.ndim != 1:  # save writes datetime64[ns]; pandas would cast others
            raise ModelFileError(f"the model file holds timestamps as an array of dtype {stamps.dtype} and shape "
                                 f"{stamps.shape}, not datetimes in one axis; it was damaged or altered: save the "
                                 "model again.")
        index = pd.DatetimeIndex(stamps, copy=False)
        if index.unit != "ns":
            index = index.as_unit("ns")  # a copy
        elif tz is None:
            index = pd.DatetimeIndex(stamps, copy=True)
        return index if tz is None else index.tz_localize("UTC").tz_convert(tz)  # tz_localize copies

    def decode(self, value: Any) -> Any:
        """The object the JSON ``value`` describes. Its lists of :data:`_DRAIN_FROM` items or more, and a data
        class's fields, are emptied as their items are decoded (:func:`_drained`, :func:`_drained_items`): the JSON
        objects of a part are let go once the part is built, so a load does not hold the whole JSON state beside the
        objects built from it."""
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [self.decode(v) for v in _drained(value)]
        if not isinstance(value, dict) or len(value) == 0:
            raise ModelFileError(f"the model file holds an unexpected value {quote(value)}.")
        kind = next(iter(value))
        if kind == "__scalar__":  # 0-d; files saved before 0.12.0 hold it as one element of shape (1,)
            scalar = self.array(value[kind])
            return scalar[()] if scalar.shape == () else scalar.reshape(-1)[0] if scalar.shape == (1,) else scalar
        if kind == "__array__":
            return self.array(value[kind])
        if kind == "__timestamp__":
            return pd.Timestamp(value[kind])
        if kind == "__timedelta__":
            return pd.Timedelta(value[kind])
        if kind == "__datetimeindex__":
            return self.index(value[kind], value.get("tz"))
        if kind == "__tuple__":
            return tuple(self.decode(v) for v in _drained(value[kind]))
        if kind == "__deque__":
            return collections.deque((self.decode(v) for v in _drained(value[kind])), maxlen=value.get("maxlen"))
        if kind == "__dict__":
            return {self.decode(k): self.decode(v) for k, v in _drained(value[kind])}
        if kind == "__dataclass__":
            cls = _resolve(value[kind], "data class", dataclasses.is_dataclass)
            return cls(**{k: self.decode(v) for k, v in _drained_items(value["fields"])})
        if kind == "__object__":
            cls = _resolve(value[kind], "class", _is_object)
            params = self.decode(value["params"])
            if not isinstance(params, dict):
                raise ModelFileError(f"the model file gives {value[kind]} parameters that are not a mapping.")
            unknown = set(params) - set(cls._param_names())
            if unknown:
                raise ModelFileError(f"the model file gives {value[kind]} parameters it does not take: {quote(unknown)}.")
            obj = cls(**params)  # __init__ only stores parameters
            for name, attribute in self.decode(value["state"]).items():
                if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
                    raise ModelFileError(f"the model file sets an invalid attribute name {quote(name)}.")
                if name in getattr(cls, "DERIVED_STATE", ()):  # an older release stored it; this one derives it
                    continue
                if callable(getattr(cls, name, None)) or isinstance(getattr(cls, name, None), property):
                    # A method or a computed attribute of the class: a file from another version, or forged.
                    raise ModelFileError(f"the model file sets {value[kind]}.{name}, which is not stored state; was it "
                                         "written by another version of workload-predictor? Refit and save again.")
                setattr(obj, name, attribute)
            return obj
        if kind == "__torch__":
            cls = _resolve(value[kind], "network", _is_torch_module)
            import torch

            init, arrays = self.decode(value["init"]), self.decode(value["state"])
            if isinstance(init, list):  # a numpy scalar argument (a numpy-integer horizon) as the plain value it is
                init = [v.item() if isinstance(v, np.generic) else v for v in init]
            if not isinstance(arrays, dict):
                raise ModelFileError("the model file gives a network whose weights are not a mapping.")
            model_file.check_network(cls, init, arrays)  # before anything of the declared size is built
            # Built on the meta device, then given empty CPU storage for the stored weights: building it as it is
            # drew its initial weights from torch's global RNG (a load changed the caller's random stream), on
            # torch's default device (torch.set_default_device).
            with torch.device("meta"):
                module = cls(*init)
            module = module.to_empty(device="cpu")
            state = {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
            module.load_state_dict(state, strict=True)
            return module.eval()
        raise ModelFileError(f"the model file holds an unknown entry {quote(kind)}.")


#: The shortest JSON list the decoder empties as it goes (:func:`_drained`); a shorter one is let go with its parent,
#: once the parent's item is decoded, and iterating it as it is costs less.
_DRAIN_FROM = 16


def _drained(items: Any) -> Iterable:
    """The items of ``items`` in order. A list of at least :data:`_DRAIN_FROM` items lets go of each as it is handed
    out, so that only its caller holds the item; anything else is iterated as it is."""
    if type(items) is not list or len(items) < _DRAIN_FROM:
        return items
    return _emptied(items)


def _drained_items(mapping: Any) -> Iterable:
    """The items of the JSON object ``mapping`` in order, each taken out of it as it is handed out (a data class's
    fields: what is left of one once decoded is let go before the next); ``mapping.items()`` of anything else."""
    if type(mapping) is not dict:
        return mapping.items()
    return ((key, mapping.pop(key)) for key in list(mapping))


def _emptied(items: list) -> Iterator:
    """The items of ``items`` in order, each taken out of it as it is handed out (from its end, once reversed)."""
    items.reverse()
    while items:
        yield items.pop()


# -- files ---------------------------------------------------------------------------------
def dumps(obj: Any) -> bytes:
    """The bytes of a model file holding ``obj`` (a predictor or a model)."""
    encoder = _Encoder()
    state = json.dumps(encoder.encode(obj), allow_nan=True, separators=(",", ":")).encode()
    # A state load would refuse is refused here, before the file's bytes are built: nothing is written. (A file over
    # load's default size is written: load reads it with a larger max_bytes.)
    _check_saveable(obj, "JSON items", _state_items(np.frombuffer(state, dtype=np.uint8)), model_file.MAX_STATE_ITEMS)
    buffer = io.BytesIO()
    np.savez(buffer, **{STATE_KEY: np.frombuffer(state, dtype=np.uint8)}, **encoder.arrays)
    payload = buffer.getvalue()
    header = {
        "format": "workload-predictor model",
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "payload_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    return MAGIC + json.dumps(header).encode() + b"\n" + payload


def _check_saveable(obj: Any, what: str, count: int, most: int) -> None:
    """A typed error when the file of ``obj`` would hold ``count`` ``what`` (JSON items, bytes), over the ``most``
    :func:`load` reads, naming how many of a fleet's keys a file holds."""
    if count <= most:
        return
    from .errors import UnsaveableModelError

    keys = len(getattr(obj, "keys_", None) or ())
    per_key = f" ({count / keys:,.1f} per key: about {most * keys // count:,} keys a file)" if keys else ""
    raise UnsaveableModelError(
        f"the model file would hold {count:,} {what}, over the {most:,} load reads{per_key}; nothing was written. "
        "Save a smaller fleet (fit one fleet per part of the keys) or a shorter history.", count, most)


def _in_place(arrays: Any, key: str) -> np.ndarray:
    """The array ``key`` where it lies in the payload (:meth:`~workload_predictor.model_file.Arrays.view`), or its own
    copy (arrays read by ``numpy.load``, which has no view)."""
    reader = getattr(arrays, "view", None)
    return reader(key) if reader is not None else arrays[key]


def _state_json(raw: np.ndarray) -> Any:
    """The decoded JSON state of a model file (its bytes ``raw``), once its items are counted: at most
    :data:`~workload_predictor.model_file.MAX_STATE_ITEMS` containers and commas (an upper bound on the items,
    brackets and commas inside strings counted too), checked before the decoder builds them.

    Read as :func:`json.loads` reads bytes (the encoding its first bytes show), into one text and no copy of the
    bytes: ``raw`` may be the state where it lies in the payload."""
    raw = np.asarray(raw).reshape(-1).view(np.uint8)
    items = _state_items(raw)
    if items > model_file.MAX_STATE_ITEMS:
        raise ModelFileError(
            f"the model file's state holds {items:,} JSON items, over the {model_file.MAX_STATE_ITEMS:,} a model "
            "file may hold (a fleet of about 75,000 keys): it was altered, or the fleet is too large for one file; "
            "save smaller fleets."
        )
    text = str(memoryview(raw), json.detect_encoding(bytes(raw[:4])), "surrogatepass")
    return _JSON.decode(text)


def _state_items(raw: np.ndarray) -> int:
    """An upper bound on the items of the JSON state ``raw`` (its bytes): its containers and commas."""
    return sum(int(np.count_nonzero(raw == ord(c))) for c in "[{,")


def _check_magic(data: bytes, subject: str) -> None:
    """:class:`ModelFileError` unless ``data`` starts with the model file's first line; ``subject`` opens the
    message (the file's quoted name and "is", or "not" where there is no name)."""
    if not data.startswith(MAGIC):
        hint = " (it looks like a pickle, which is never loaded)" if data[:1] == b"\x80" else ""
        raise ModelFileError(
            f"{subject} a workload-predictor model file{hint}: it lacks the model file's first line, "
            "WORKLOAD-PREDICTOR. Load only files written by WorkloadPredictor.save(...)."
        )


def loads(data: bytes, expected: type | None = None) -> Any:
    """Rebuild the object held in model-file bytes; :class:`ModelFileError` on anything amiss. A file another release
    wrote that this one refuses is refused naming that release, and to refit."""
    return _loads(data, expected, "not")[0]


def _loads(data: bytes, expected: type | None, subject: str, own: bool = False) -> tuple[Any, Any]:
    """:func:`loads`, and the package version the header names; ``subject`` opening the message for bytes that are
    no model file (see :func:`_check_magic`); ``own``: ``data`` is :func:`load`'s own, which nothing else holds."""
    _check_magic(data, subject)
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER_BYTES)
    if end < 0:
        raise ModelFileError("the model file's header is missing or truncated; save the model again.")
    try:
        header = json.loads(data[len(MAGIC) : end])
        version, size, digest = header["format_version"], header["payload_bytes"], header["sha256"]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise ModelFileError(f"the model file's header is unreadable ({type(exc).__name__}: {cut(exc)}); "
                             "save the model again.") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"the model file has format version {quote(version)} (written by workload-predictor "
            f"{quote(header.get('package_version'))}); this version {__version__} reads format {FORMAT_VERSION} only. "
            "Refit and save the model with this version."
        )
    if header.get("package_version") != __version__:
        logger.warning("loading a model saved by workload-predictor %s into %s (same file format %d)",
                       quote(header.get("package_version")), __version__, FORMAT_VERSION)
    # The payload is read where it lies (a view, not a copy of it) where nothing can resize the bytes under it: bytes,
    # or load()'s own; a caller's bytearray is copied, so the view does not keep them from resizing it.
    payload = memoryview(data)[end + 1 :] if own or isinstance(data, bytes) else bytes(data[end + 1 :])
    if len(payload) != size:
        raise ModelFileError(
            f"the model file is truncated or padded: its payload has {len(payload)} bytes, the header says "
            f"{quote(size)}."
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ModelFileError("the model file's checksum does not match its payload: it was corrupted or altered.")
    written = header.get("package_version")
    obj = _from_release(written, _decoded, payload)
    if expected is not None and not isinstance(obj, expected):
        raise ModelFileError(f"the model file holds a {type(obj).__name__}, not a {expected.__name__}.")
    if type(obj) is _allowed("FleetPredictor") and expected is not type(obj):
        # A fleet's own checks (model_file.check_fleet, then a forecast) run in FleetPredictor.load (its ``check``):
        # read without them, a forged fleet would load and fail later, deep inside predict or update.
        raise ModelFileError("the model file holds a FleetPredictor: load it with FleetPredictor.load(path).")
    _from_release(written, _checked, obj)
    return obj, written


def _from_release(written: Any, step: Callable, *args: Any) -> Any:
    """``step(*args)``: reading or checking the state of a file whose header says the package version ``written``
    wrote it. Where that is another release, a :class:`ModelFileError` it raises names that release and the fix: a
    file whose checksum holds and that this release refuses is most likely one it cannot read, not a damaged one."""
    try:
        return step(*args)
    except ModelFileError as exc:
        if written == __version__:
            raise
        raise ModelFileError(
            f"{exc} The file was written by workload-predictor {quote(written)}, this is {__version__}: a file of "
            "another release whose checksum holds is more likely one this release cannot read than a damaged one. "
            f"Refit the model with {__version__} and save it."
        ) from None


def _decoded(payload: Any) -> Any:
    """The object the model file's payload (its checksum checked) describes; :class:`ModelFileError` for anything
    amiss in it."""
    try:
        with model_file.open_arrays(payload) as arrays:
            if STATE_KEY not in arrays.files:
                raise ModelFileError("the model file holds no state description.")
            # The state is passed on, not kept: the decoder lets go of its JSON objects as it builds the objects.
            return _Decoder(arrays).decode(_state_json(_in_place(arrays, STATE_KEY)))
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - below the format layer every failure means a bad file
        # (KeyboardInterrupt and SystemExit are not Exceptions and pass through.)
        raise ModelFileError(f"the model file's payload is invalid ({type(exc).__name__}: {cut(exc)}).") from None


def _checked(obj: Any) -> None:
    """The checks of a loaded object: its class's (:func:`allow`), or a model's on its own, then one forecast
    (:func:`_check_forecasts`); :class:`ModelFileError` for state no fit produces."""
    own = _CHECKS.get(type(obj)) or (model_file.check_model if _is_model(obj) else None)
    try:
        if own is not None:
            own(obj)
    except ModelFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - below the format layer every failure means a bad file
        raise ModelFileError(f"the model file's payload is invalid ({type(exc).__name__}: {cut(exc)}).") from None
    _check_forecasts(obj)


def _is_model(obj: Any) -> bool:
    """Whether ``obj`` is a model on its own (a file written by ``dumps(model)``): checked as a predictor's model is
    (:func:`~workload_predictor.model_file.check_model`) and forecast once when fitted."""
    from .models.base import BaseForecaster

    return isinstance(obj, BaseForecaster)


def _check_forecasts(obj: Any) -> None:
    """A fitted predictor (a class allowed with ``forecast_on_load``) or a fitted model on its own from a file
    must forecast finite numbers, or the file is refused.

    The allow-list keeps code out, not nonsense: a forged or damaged file with a valid checksum
    can hold state that no fit produces (a window longer than the stored context, weights of the
    wrong shape, a negative horizon). One forecast at load time turns that into a
    ``ModelFileError`` here instead of a crash or a NaN in the caller's loop later.
    """
    if _is_model(obj):
        model_file.check_model_forecast(obj)
        model_file.check_member_forecasts(obj)
        return
    if type(obj) not in _FORECAST_ON_LOAD or not hasattr(obj, "model_"):
        return
    timings = getattr(obj, "predict_seconds_", None)
    try:
        if isinstance(timings, collections.deque):  # this check is not one of the caller's predicts
            obj.predict_seconds_ = collections.deque(timings, maxlen=timings.maxlen)
        # A series ending near 2262-04-11 has the timestamps of only its first steps (the library fits, updates and
        # saves it, and predict(steps) forecasts the steps that fit): the forecast checked with its timestamps is of
        # those steps, its numbers are checked for every step of the horizon.
        state = obj._snapshot()
        fit = min(steps_within_range(state.last_timestamp, state.freq), obj.horizon)
        if fit == obj.horizon:  # every step fits: the forecast of the model's own horizon, as a caller's predict()
            forecast = obj.predict()
            numbers = (forecast.yhat, forecast.lower, forecast.upper)
        else:
            forecast = obj.predict(fit) if fit else None
            numbers = obj._values(state, state.model._check_steps(None), None)[:3]
        parts = [np.asarray(part, dtype=np.float64) for part in numbers]
        expected_shape = (obj.horizon, len(obj.targets_))
        whole = (forecast is None or (len(forecast.index) == fit and np.shape(forecast.yhat)[0] == fit)) and all(
            np.shape(part) == expected_shape for part in parts)
    except Exception as exc:  # noqa: BLE001 - whatever the forged state breaks, the answer is the same
        raise ModelFileError(f"the model file's state does not forecast ({type(exc).__name__}: {cut(exc)}); "
                             "it was damaged or altered: refit and save again.") from None
    finally:
        if isinstance(timings, collections.deque):
            obj.predict_seconds_ = timings
    if not whole:
        raise ModelFileError("the model file's state forecasts values and timestamps of different lengths; it was "
                             "damaged or altered: refit and save again.")
    model_file.check_loaded_forecast(*parts, obj.horizon, "the model file's")
    model_file.check_member_forecasts(obj.model_)


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` to ``path`` atomically and durably. Returns the path.

    The bytes go to a temporary file ``.<name>.tmp-<pid>-<random>`` beside
    ``path``, which is flushed to disk (``fsync``) and renamed over ``path``; the
    directory is then synced so the rename survives a crash. A reader sees the old
    file or the new one, never a part. The file keeps the mode of the one it
    replaces (a new file gets the umask's default, as ``open`` would give it).
    Temporary files left by a save that was killed (their process no longer runs)
    are removed. An ``OSError`` writing or renaming the temporary file is raised as
    the same error about ``path`` (its ``filename``), the file asked for.

    A state whose file load would refuse for what a fit can reach is refused first, nothing written
    (:class:`~workload_predictor.errors.UnsaveableModelError`): a forecast beyond what a model file may hold
    (:func:`~workload_predictor.model_file.check_saveable`), more JSON items than load reads. The state checked is
    the state written (a shallow copy of ``obj``), also beside an ``update`` in another thread.
    """
    path = _path_to_write(path)
    # The state checked is the state written: one shallow copy (a predictor's attributes copied at once, in C, which
    # no other thread interleaves with, as dumps copies an object's) is checked and dumped. An update in another
    # thread replaces the original's attributes, never writes into them, so one landing between the check and the
    # dump is not saved unchecked: the file holds the state before it.
    obj = copy.copy(obj)
    model_file.check_saveable(obj)
    data = dumps(obj)
    directory = path.parent
    _remove_stale_temporaries(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None  # open()'s 0o666 below, less the umask
    temporary = directory / f".{path.name}{_TEMPORARY_INFIX}{os.getpid()}-{secrets.token_hex(4)}"
    # One clean-up from the temporary file's creation on. An interrupt (KeyboardInterrupt) lands after a call
    # returns: one right after open() returned leaves the file, removed here by its name, and a file object no name
    # holds, which closes its descriptor as it goes.
    created = False  # whether open() created the temporary file
    try:
        with open(temporary, "xb") as out:
            created = True
            if mode is not None:
                os.chmod(out.fileno() if os.chmod in os.supports_fd else temporary, mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException as exc:
        if created or not isinstance(exc, OSError):  # not open()'s refusal (no such directory), which created nothing
            temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None:  # e.g. no such directory, the disk is full
            raise _about(exc, path) from exc
        raise
    _sync_directory(directory)
    return path


def _path_to_write(path: Any) -> Path:
    """``path`` (a str, bytes or os.PathLike) as a Path; a typed error naming it if it is none."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise WorkloadDataError(f"path={quote(path)} is not a path: pass the str or os.PathLike of the file to "
                                "write.") from None
    if "\0" in path:
        raise WorkloadDataError(f"path={quote(path)} is not a valid path (it holds a NUL character).")
    return Path(path)


def _about(exc: OSError, path: Path) -> OSError:
    """``exc`` (with an errno), raised writing or renaming the temporary file, as the same error about ``path``."""
    return type(exc)(exc.errno, exc.strerror, str(path))


_TEMPORARY_INFIX = ".tmp-"


def _sync_directory(directory: Path) -> None:
    """fsync ``directory`` so a rename in it is on disk (POSIX; a no-op where directories cannot be opened).

    The descriptor goes from ``os.open`` into ``handles`` inside one C call (``list.extend`` drawing from ``map``),
    where no signal handler runs: an interrupt (``KeyboardInterrupt``) lands after a call returns, and one landing
    after a bare ``handle = os.open(...)`` returned lost the descriptor before it was stored, so nothing closed it.
    A directory cannot be wrapped in a file object that closes it as it is collected, so the ``finally`` closes what
    ``handles`` holds.
    """
    handles: list[int] = []
    try:
        handles.extend(map(os.open, (directory,), (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0),)))
        os.fsync(handles[0])
    except OSError:
        pass  # not openable here, or a file system that refuses fsync on a directory: the rename is still atomic
    finally:
        for handle in handles:
            os.close(handle)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove ``path``'s temporary files whose writing process has died (a save killed mid-write)."""
    prefix = f".{path.name}{_TEMPORARY_INFIX}"
    try:
        names = [entry.name for entry in os.scandir(path.parent) if entry.name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid_text = name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            try:
                (path.parent / name).unlink()
            except OSError:
                pass  # another saver removed it first, or it is not ours to remove


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # another user's process, or no way to tell: keep the file
    return True


def load(path: str | os.PathLike, expected: type | None = None,
         max_bytes: int = model_file.MAX_FILE_BYTES, check: Callable[[Any], None] | None = None) -> Any:
    """Read a model file written by :func:`save`; see :func:`loads`.

    ``path`` must be a regular file (links are followed; a device, FIFO or
    directory is refused) of at most ``max_bytes`` bytes (default
    :data:`~workload_predictor.model_file.MAX_FILE_BYTES`, 1 GiB), checked before
    it is read. ``check(obj)``: the caller's own checks of the loaded object, which
    raise :class:`ModelFileError`, run after this module's (a refusal of a file
    another release wrote names that release, as this module's do). Anything amiss
    raises :class:`ModelFileError`.
    """
    data = model_file.read_file(path, max_bytes)
    obj, written = _loads(data, expected, f"{quote(os.path.basename(os.fspath(path)))} is not", own=True)
    del data  # the file's bytes go before the caller's checks (a fleet's forecast), which then have that memory
    if check is not None:
        _from_release(written, check, obj)
    return obj
