"""How load reads a model file's JSON state: the decoder lets go of each part's JSON once the part is built, the
state's text is read from where it lies as ``json.loads`` reads bytes, and a loaded fleet is the fleet saved."""

import codecs
import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor import FleetPredictor, model_file, persistence
from workload_predictor.errors import ModelFileError

from test_fleet import make_fleet


def archive(**arrays) -> model_file.Arrays:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return model_file.open_arrays(buffer.getvalue())


class Watched:
    """An archive's arrays that call ``seen(key)`` as each is read."""

    def __init__(self, arrays, seen):
        self._arrays, self._seen, self.files = arrays, seen, arrays.files

    def __getitem__(self, key):
        self._seen(key)
        return self._arrays[key]


# -- the decoder lets go ------------------------------------------------------------------------------------------
LONG = 40  # items of a list the decoder empties as it goes (persistence._DRAIN_FROM or more)


def test_the_long_lists_here_are_ones_the_decoder_empties():
    assert LONG >= persistence._DRAIN_FROM


@pytest.mark.parametrize("shape", ["list", "dict", "tuple", "deque"])
def test_each_item_is_let_go_before_the_next_is_decoded(shape):
    n = LONG
    items = [{"__array__": f"a{i}"} for i in range(n)]
    if shape == "list":
        state, held = items, items
    elif shape == "dict":
        held = [[f"k{i}", item] for i, item in enumerate(items)]
        state = {"__dict__": held}
    else:
        held = items
        state = {f"__{shape}__": held, **({"maxlen": None} if shape == "deque" else {})}
    left = []
    arrays = Watched(archive(**{f"a{i}": np.full(3, float(i)) for i in range(n)}), lambda key: left.append(len(held)))
    decoded = persistence._Decoder(arrays).decode(state)
    # while item i is decoded, the JSON list holds only the items after it
    assert left == list(range(n - 1, -1, -1))
    values = list(decoded.values()) if shape == "dict" else list(decoded)
    assert [float(v[0]) for v in values] == [float(i) for i in range(n)]
    assert held == []


def test_lists_are_let_go_at_every_depth_and_short_ones_with_their_parent():
    n = LONG
    inner = [[{"__array__": f"a{i}"}, i] for i in range(n)]
    short = [None, True, "x"]
    state = {"__tuple__": [inner, short] + [1.5] * n}
    arrays = archive(**{f"a{i}": np.arange(float(i)) for i in range(n)})
    decoded = persistence._Decoder(arrays).decode(state)
    assert state == {"__tuple__": []} and inner == [] and short == [None, True, "x"]
    assert [(a.tolist(), i) for a, i in decoded[0]] == [(list(np.arange(float(i))), i) for i in range(n)]
    assert decoded[1:] == ([None, True, "x"], *[1.5] * n)


def test_a_data_class_lets_go_of_each_field_before_the_next():
    block = {"__dataclass__": "FleetGlobal", "fields": {
        "model": None, "keys": ["k0"], "start": {"__array__": "a0"}, "length": {"__array__": "a1"},
        "freqs": [{"__timedelta__": "PT1M"}], "halfwidth": {"__array__": "a2"}, "confidence": {"__array__": "a3"},
        "confidence_by_target": {"__array__": "a4"}}}
    fields = block["fields"]
    left = []
    arrays = Watched(archive(**{f"a{i}": np.zeros(1) for i in range(5)}), lambda key: left.append(list(fields)))
    decoded = persistence._Decoder(arrays).decode(block)
    assert left[0] == ["length", "freqs", "halfwidth", "confidence", "confidence_by_target"] and left[-1] == [] and fields == {}
    assert decoded.keys == ["k0"] and decoded.freqs == [pd.Timedelta("1min")]


def test_refusals_are_unchanged_on_items_that_are_not_lists():
    """A forged container that is not a JSON list is read as before: a text's characters, a mapping's keys."""
    decoder = persistence._Decoder(archive(a0=np.arange(2.0)))
    assert decoder.decode({"__tuple__": "ab"}) == ("a", "b")
    assert decoder.decode({"__dict__": {"ab": 1}}) == {"a": "b"}
    with pytest.raises(ModelFileError, match="missing array"):
        decoder.decode([{"__array__": "a0"}, {"__array__": "nope"}])
    with pytest.raises(ValueError):  # a pair that is not two items, as before (load makes it a ModelFileError)
        decoder.decode({"__dict__": [[1, 2, 3]]})
    with pytest.raises(AttributeError, match="'list' object has no attribute 'items'"):  # fields that are no mapping
        decoder.decode({"__dataclass__": "FleetGlobal", "fields": [1, 2]})


@pytest.fixture(scope="module")
def fleet_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleets")
    frame = make_fleet(8, n=240)
    head = frame[frame["timestamp"] < frame["timestamp"].min() + pd.Timedelta("230min")]
    tail = frame[frame["timestamp"] >= frame["timestamp"].min() + pd.Timedelta("230min")]
    fleets = {}
    for mode in ("refit", "incremental"):
        fleet = FleetPredictor(horizon=6, update_mode=mode, max_training_time=None).fit(head, key="endpoint")
        fleet.update(tail)
        fleets[mode] = (fleet, fleet.save(folder / f"{mode}.wp"))
    return fleets


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_fleet_load_lets_go_of_its_long_json_lists_and_fields(fleet_files, monkeypatch, mode):
    _, path = fleet_files[mode]
    states, decode_state = [], persistence._state_json

    def kept(raw):
        states.append(decode_state(raw))
        return states[-1]

    monkeypatch.setattr(persistence, "_state_json", kept)
    FleetPredictor.load(path)

    def lists(value):
        if isinstance(value, list):
            yield value
            for item in value:
                yield from lists(item)
        elif isinstance(value, dict):
            for item in value.values():
                yield from lists(item)

    # what is left of the state: its short lists (let go with their parents) and the husks of the parts decoded
    assert "fields" not in json.dumps(states[0], separators=(",", ":")).replace('"fields":{}', "")
    found = [found_list for found_list in lists(states[0]) if found_list]
    assert all(len(found_list) < persistence._DRAIN_FROM for found_list in found)


@pytest.mark.parametrize("mode", ["refit", "incremental"])
def test_a_loaded_fleet_is_the_fleet_saved(fleet_files, tmp_path, mode):
    fleet, path = fleet_files[mode]
    loaded = FleetPredictor.load(path)
    pd.testing.assert_frame_equal(loaded.predict(), fleet.predict(), check_exact=True)
    assert loaded.save(tmp_path / "again.wp").read_bytes() == path.read_bytes()


# -- the state's text ---------------------------------------------------------------------------------------------
def outcome(read, raw):
    try:
        return "value", read(raw)
    except Exception as exc:  # noqa: BLE001 - the two readings must raise alike
        return type(exc), str(exc)


def as_json_loads(raw: np.ndarray):
    return json.loads(raw.tobytes())


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(value=json_values, encoding=st.sampled_from(ENCODINGS), ascii_only=st.booleans(), offset=st.integers(0, 3))
def test_the_state_reads_as_json_loads_reads_its_bytes(value, encoding, ascii_only, offset):
    data = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    where = np.frombuffer(b"\0" * offset + data, dtype=np.uint8)[offset:]  # read-only, maybe misaligned: a payload's
    assert outcome(persistence._state_json, where) == outcome(as_json_loads, where)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=12) | st.sampled_from([codecs.BOM_UTF8 + b"[1]", codecs.BOM_UTF16_LE * 2 + b"1\0",
                                                       b"\"\xed\xa0\x80\"", b"\"\xff\"", b"[", b"", b"1", b"12",
                                                       b"\0\x31", b"\x31\0"]))
def test_bytes_that_are_not_json_fail_as_json_loads_fails(data):
    raw = np.frombuffer(data, dtype=np.uint8)
    assert outcome(persistence._state_json, raw) == outcome(as_json_loads, raw)


def test_a_state_of_another_dtype_reads_as_its_bytes():
    raw = np.frombuffer(b"[1,2,3,4]   ", dtype=np.uint32).reshape(3, 1)
    assert persistence._state_json(raw) == [1, 2, 3, 4]


def test_the_state_is_read_where_it_lies(monkeypatch):
    """A file's state is read from the payload's view of it, not from a copy of it."""
    data = persistence.dumps(FleetPredictor(horizon=3, max_training_time=None).fit(make_fleet(2, n=120),
                                                                                   key="endpoint"))
    reads = []
    copy, view = model_file.Arrays.__getitem__, model_file.Arrays.view
    monkeypatch.setattr(model_file.Arrays, "__getitem__", lambda self, key: reads.append(("copy", key)) or copy(self, key))
    monkeypatch.setattr(model_file.Arrays, "view", lambda self, key: reads.append(("view", key)) or view(self, key))
    persistence.loads(data, expected=FleetPredictor)
    assert ("view", persistence.STATE_KEY) in reads and ("copy", persistence.STATE_KEY) not in reads


# -- names are looked up ------------------------------------------------------------------------------------------
def test_arrays_look_names_up_as_their_list_holds_them():
    arrays = archive(a0=np.arange(2.0), b=np.zeros(1))
    for key in ["a0", "b", "a1", "", "a0.npy", 0, None, 1.5, ("a0",), ["a0"]]:
        assert (key in arrays) is (key in arrays.files)
