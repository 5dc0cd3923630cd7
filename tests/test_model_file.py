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
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import periodic_series
from test_persistence import _dlinear_node, join_file, rewrite_state, split_file
from workload_predictor import ModelFileError, WorkloadPredictor, model_file, persistence

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
        weights = {"__dict__": [["lstm.weight_ih_l0", {"__array__": "a0"}]]}
        state["state"]["__dict__"].append(["network_", {"__torch__": "_PatchLSTM", "init": [4, 4000, 1, 3],
                                                         "state": weights}])
        return state

    with pytest.raises(ModelFileError, match="network sizes"):
        persistence.loads(rewrite_state(saved_bytes, forge))
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
