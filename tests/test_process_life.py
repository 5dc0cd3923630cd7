"""A predictor's life in a long-running process: threads beside each other, interruptions at any moment, a disk
that refuses the save.

An autoscaler runs a predictor (or a fleet) for weeks: one thread updates, others forecast and check health, a
timer saves, and SIGTERM / Ctrl-C (a ``KeyboardInterrupt``) may land anywhere. Interruptions are injected where the
interpreter delivers a signal: at a Python function's entry and after a C function returns (``sys.setprofile``'s
``call`` and ``c_return`` events), one run per such point of the code under test.
"""

from __future__ import annotations

import copy
import errno
import linecache
import os
import resource
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

import workload_predictor
from workload_predictor import FleetPredictor, WorkloadPredictor, _threads, fleet as fleet_module, predictor as predictor_module
from workload_predictor.fleet import _FITTED_STATE

PACKAGE = os.path.dirname(workload_predictor.__file__)
FREQ = pd.Timedelta("10s")
START = pd.Timestamp("2024-01-01", tz="UTC")


def stream(n: int, seed: int = 0) -> pd.DataFrame:
    t = np.arange(n)
    y = np.random.default_rng(seed).poisson(50 + 20 * np.sin(2 * np.pi * t / 60)).astype(float)
    return pd.DataFrame({"timestamp": START + FREQ * t, "requests": y})


def long_frame(n_keys: int = 3, n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + FREQ * t,
                                    "requests": rng.poisson(30 + 10 * i + 10 * np.sin(2 * np.pi * t / 40))})
                      for i in range(n_keys)], ignore_index=True)


class Interrupt:
    """Raises ``KeyboardInterrupt`` at the ``at``-th point a signal can land in the frames ``counted`` accepts (a
    Python function's entry, the return of a C function it called), once; ``armed``: a function name whose call
    starts the count (None: from the start)."""

    def __init__(self, at: int, counted, armed: str | None = None):
        self.at, self.counted, self.armed, self.seen, self.where = at, counted, armed, 0, None

    def __call__(self, frame, event, arg):
        if self.where is not None or event not in ("call", "c_return"):
            return
        if event == "call" and sys.version_info < (3, 11) and frame.f_lasti >= 0:
            # Python 3.10 reports a generator's resumption as a call, and a profiler raising there ends the frame
            # without its finally blocks; a signal lands inside the frame, where they run. Not a point.
            return
        code = frame.f_code
        if self.armed is not None:
            if event == "call" and code.co_name == self.armed:
                self.armed = None
            else:
                return
        if self.counted(code):
            self.seen += 1
            if self.seen == self.at:
                self.where = f"{os.path.basename(code.co_filename)}:{frame.f_lineno} ({code.co_name}, {event})"
                raise KeyboardInterrupt

    def run(self, call) -> bool:
        """``call()`` with the interruption armed: whether it was interrupted (False: the count ran past its end)."""
        sys.setprofile(self)
        try:
            call()
        except KeyboardInterrupt:
            pass
        finally:
            sys.setprofile(None)
        return self.where is not None


def in_files(*names: str):
    paths = {os.path.join(PACKAGE, name) for name in names}
    return lambda code: code.co_filename in paths


def same_attributes(a, b) -> bool:
    """The same attribute names holding the same objects (an unchanged state: an update replaces, never writes
    into); the predict timings, which any forecast appends to, aside. ``a``, ``b``: objects or their ``vars``."""
    a, b = (x if isinstance(x, dict) else vars(x) for x in (a, b))
    return a.keys() == b.keys() and all(a[name] is value for name, value in b.items() if name != "predict_seconds_")


def published_is_attributes(predictor: WorkloadPredictor) -> bool:
    """What ``predict`` reads (the published state) is the state of the attributes ``update``/``save`` read."""
    state = predictor._published
    return (state.model is predictor.model_ and state.series is predictor.series_
            and state.last_timestamp == predictor.last_timestamp_ and state.confidence == predictor.confidence_)


# -- threads ---------------------------------------------------------------------------------------------------------
def test_forecasts_and_health_beside_an_updating_thread_each_read_one_state():
    """The documented contract: many ``predict`` and ``health`` threads beside one ``update`` thread. ``health``
    read the attributes one by one while an update replaced them: a report gave the staleness of one state beside
    the accuracy of the next (6 to 32 of 195 to 692 reports beside 30 updates in three runs, at a 10 us switch
    interval)."""
    data = stream(630)
    predictor = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    rows = [data.iloc[[600 + i]] for i in range(30)]
    now = START + FREQ * 700

    def report(h: dict) -> tuple:
        return tuple(h["metrics"][name]["value"] for name in ("stale_buckets", "accuracy", "idle_fit", "stuck_input"))

    sequential = copy.deepcopy(predictor)
    forecasts = {sequential.predict().index[0]: sequential.predict().yhat}
    reports = {report(sequential.health(now=now))}
    for row in rows:
        sequential.update(row)
        forecasts[sequential.predict().index[0]] = sequential.predict().yhat
        reports.add(report(sequential.health(now=now)))
    assert len(reports) == len(rows) + 1  # each state's report tells it apart

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    done, seen_forecasts, seen_reports = threading.Event(), [], []

    def forecast() -> None:
        while not done.is_set():
            seen_forecasts.append(predictor.predict())

    def check() -> None:
        while not done.is_set():
            seen_reports.append(report(predictor.health(now=now)))

    threads = [threading.Thread(target=target) for target in (forecast, forecast, check, check)]
    for thread in threads:
        thread.start()
    try:
        for row in rows:
            predictor.update(row)
    finally:
        done.set()
        for thread in threads:
            thread.join()
        sys.setswitchinterval(interval)
    assert len(seen_reports) > len(rows) and len({f.index[0] for f in seen_forecasts}) > 2
    torn_reports = [r for r in seen_reports if r not in reports]
    torn_forecasts = [f for f in seen_forecasts if not np.array_equal(f.yhat, forecasts[f.index[0]])]
    assert not torn_reports, f"{len(torn_reports)} of {len(seen_reports)} health reports mix two states"
    assert not torn_forecasts


def held_until(event: threading.Event, timeout: float = 1.0) -> None:
    """Returns once ``event`` is set, or another thread waits for an instance's lock (held by this one: it would
    wait for good), or after ``timeout`` (an update's first linear solve in a new thread took 0.2 s here)."""
    end = time.monotonic() + timeout
    while not event.wait(0.002) and time.monotonic() < end:
        for ident, frame in sys._current_frames().items():
            if ident != threading.get_ident() and "instance_lock(" in linecache.getline(frame.f_code.co_filename,
                                                                                       frame.f_lineno):
                return


class Overlap:
    """Holds the first thread that reaches the patched step until the other thread has reached it as well (or waits
    its turn elsewhere: :func:`held_until`), so the two calls overlap."""

    def __init__(self, step):
        self.step, self.calls, self.second = step, 0, threading.Event()
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls += 1
            first = self.calls == 1
        if first:
            held_until(self.second)
        else:
            self.second.set()
        return self.step(*args, **kwargs)


def in_two_threads(first, second) -> list:
    """``first()`` in one thread; once it is under way, ``second()`` in another: their outcomes (None or the
    exception raised)."""
    outcomes = [None, None]

    def run(i, call):
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the outcome is checked
            outcomes[i] = exc

    one = threading.Thread(target=run, args=(0, first))
    one.start()
    time.sleep(0.02)
    two = threading.Thread(target=run, args=(1, second))
    two.start()
    one.join()
    two.join()
    return outcomes


def test_two_updates_in_two_threads_both_land_or_one_is_refused(monkeypatch):
    """Two threads updating one predictor at once each built on the state before both: the later commit replaced
    the earlier one, whose buckets were lost although its ``update`` returned (the series ended at the first
    thread's bucket, without the second's, and ``n_updates_`` was 1). They run one after the other now."""
    data = stream(603)
    predictor = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    monkeypatch.setattr(predictor_module, "check_memory", Overlap(predictor_module.check_memory))
    outcomes = in_two_threads(lambda: predictor.update(data.iloc[[600]]), lambda: predictor.update(data.iloc[[602]]))
    landed = [i for i, outcome in enumerate(outcomes) if outcome is None]
    for outcome in outcomes:  # a refused one: the other's bucket came first
        assert outcome is None or isinstance(outcome, workload_predictor.UpdateOrderError), outcome
    assert predictor.n_updates_ == len(landed)
    kept = pd.Series(predictor.series_.values[:, 0], index=predictor.series_.index)
    for i in landed:
        stamp = data["timestamp"].iloc[600 + 2 * i]
        assert kept.get(stamp) == data["requests"].iloc[600 + 2 * i], f"update {i} returned but its bucket is lost"
    assert published_is_attributes(predictor)


def test_a_fit_beside_an_update_in_another_thread_leaves_the_fit_whole(monkeypatch):
    """A refit landing while an update ran was overwritten by the update's commit, built on the state before the
    fit: the fit's timings beside the old model updated (its forecast not the fit's, ``n_updates_`` 1). The update
    finishes first now, then the fit commits."""
    data = stream(700)
    predictor = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    refit = data.iloc[100:400]
    expected = WorkloadPredictor(horizon=5).fit(refit).predict()
    monkeypatch.setattr(predictor_module, "check_memory", Overlap(predictor_module.check_memory))
    outcomes = in_two_threads(lambda: predictor.update(data.iloc[[600]]), lambda: predictor.fit(refit))
    assert outcomes == [None, None]
    assert predictor.n_updates_ == 0 and published_is_attributes(predictor)
    np.testing.assert_array_equal(predictor.predict().yhat, expected.yhat)
    assert predictor.last_timestamp_ == refit["timestamp"].iloc[-1]


def test_a_first_forecast_beside_the_first_update_reads_one_state(monkeypatch):
    """A predictor without a published state (a copy taken beside an update leaves it out) builds it at its first
    forecast. Built from the attributes before an update in another thread and stored after that update's commit,
    it left every later forecast on the state before the update, beside the attributes (``health``, ``save``, the
    next ``update``) of the state after it."""
    data = stream(601)
    fitted = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    expected = copy.deepcopy(fitted).update(data.iloc[[600]]).predict()
    predictor = copy.copy(fitted)
    del predictor._published
    build, update_done, calls = predictor_module._published_of, threading.Event(), []

    def published_of(state, before=None):  # the first forecast's: held once built, until the update is done
        built = build(state, before)
        calls.append(1)
        if len(calls) == 1:
            held_until(update_done)
        return built

    def update():
        try:
            predictor.update(data.iloc[[600]])
        finally:
            update_done.set()

    monkeypatch.setattr(predictor_module, "_published_of", published_of)
    assert in_two_threads(predictor.predict, update) == [None, None]
    assert published_is_attributes(predictor)
    np.testing.assert_allclose(predictor.predict().yhat, expected.yhat, rtol=1e-12)


def test_a_fleet_copys_first_forecast_beside_its_first_update_reads_one_state(monkeypatch):
    """A fleet's copy builds the state its forecasts read at its first read, from its attributes one name at a time:
    an update committing in another thread part way through published a mix (the blocks of one state beside the
    errors, keys or predictors of the other). Its first read now waits for the update, or the update for it."""
    frame = long_frame()
    last = START + FREQ * 158
    fitted = FleetPredictor(horizon=5).fit(frame[frame["timestamp"] < last], key="endpoint")
    fleet = copy.copy(fitted)  # a copy reads its attributes, published at its first read
    reader, update_done, calls = [], threading.Event(), []

    def attributes(obj=None):  # the fleet module's vars(): held once the first read took the blocks (its 8th call)
        if obj is fleet and threading.get_ident() in reader:
            calls.append(1)
            if len(calls) == 8:
                held_until(update_done)
        return vars(obj)

    def read():
        reader.append(threading.get_ident())
        fleet.predict(steps=1)

    def update():
        try:
            fleet.update(frame[frame["timestamp"] == last])
        finally:
            update_done.set()

    monkeypatch.setattr(fleet_module, "vars", attributes, raising=False)
    assert in_two_threads(read, update) == [None, None]
    monkeypatch.undo()
    state = fleet._published
    assert all(getattr(state, name) is vars(fleet).get(name) for name in _FITTED_STATE)
    assert (fleet.predict(steps=1)["timestamp"] == last + FREQ).all()


def test_two_fleet_updates_in_two_threads_both_land(monkeypatch):
    """A fleet's two updates at once (each of another key) each built on the state before both: the one that
    committed second, having taken the blocks to keep before the other's commit, dropped the other key's update
    (its bucket gone, though its ``update`` returned)."""
    frame = long_frame()
    head, last = frame[frame["timestamp"] < START + FREQ * 158], START + FREQ * 158
    fleet = FleetPredictor(horizon=5).fit(head, key="endpoint")
    row = frame[frame["timestamp"] == last]
    without, second_done, calls = fleet_module._without, threading.Event(), []

    def kept_blocks(blocks, names):  # the first update's: held once it took them, until the second is done
        kept = without(blocks, names)
        calls.append(names)
        if len(calls) == 1:
            held_until(second_done)
        return kept

    def second():
        try:
            fleet.update(row[row["endpoint"] == "k1"])
        finally:
            second_done.set()

    monkeypatch.setattr(fleet_module, "_without", kept_blocks)
    outcomes = in_two_threads(lambda: fleet.update(row[row["endpoint"] == "k0"]), second)
    assert outcomes == [None, None]
    stamps = fleet.predict(steps=1).groupby("endpoint")["timestamp"].first()
    assert stamps["k0"] == stamps["k1"] == last + FREQ, stamps  # both keys' buckets were added
    assert stamps["k2"] == last  # k2 got none


def test_a_copy_beside_an_update_that_undoes_a_jump_reads_the_jump_or_its_undoing(monkeypatch):
    """An update that undoes a stray jump wrote the attributes from before the jump into the predictor, then updated
    from them: a ``save`` or ``health`` in another thread (each copies the attributes) read that state in between,
    neither the one before the call (the jump) nor the one after it (its undoing), while ``predict`` read the jump.
    Each copy taken from inside the undoing update (where its own steps check memory) is one of the two."""
    data = stream(700)
    predictor = WorkloadPredictor(horizon=5).fit(data.iloc[:600]).update(data.iloc[[690]])  # a stray clock's row
    jumped = predictor.last_timestamp_
    check, seen = predictor_module.check_memory, []

    def copying(*args, **kwargs):  # what save and health copy, at that moment
        seen.append(copy.copy(predictor).last_timestamp_)
        return check(*args, **kwargs)

    monkeypatch.setattr(predictor_module, "check_memory", copying)
    with pytest.warns(workload_predictor.UndoneJumpWarning):
        predictor.update(data.iloc[[600]])  # the row after the one before the jump: the jump is undone
    assert predictor.last_timestamp_ == data["timestamp"].iloc[600] and len(predictor.undone_jumps_) == 1
    assert seen and set(seen) <= {jumped, predictor.last_timestamp_}, (seen, jumped)
    assert published_is_attributes(predictor)


# -- interruptions -----------------------------------------------------------------------------------------------------
def interrupted_everywhere(make, call, counted, check, armed: str | None = None) -> int:
    """``call(obj)`` on a fresh ``make()`` interrupted at each point in turn; ``check(obj, where)`` after each.
    Returns the number of points."""
    at = 1
    while True:
        obj = make()
        interrupt = Interrupt(at, counted, armed)
        if not interrupt.run(lambda obj=obj: call(obj)):
            return at - 1
        check(obj, interrupt.where)
        at += 1


def test_an_interrupted_update_leaves_the_state_before_it_or_after_it():
    """``update`` published the new forecast state, then set the attributes: an interruption between the two left
    ``predict`` forecasting the new state while ``update``, ``health`` and ``save`` read the old one (at
    predictor.py, after ``vars(self)``). Now every point leaves one state, the one before the update or after it."""
    data = stream(602)
    fitted = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    fitted.predict()
    row = data.iloc[[600]]
    after = copy.deepcopy(fitted).update(row)

    def check(predictor, where):
        assert published_is_attributes(predictor), where
        if predictor.n_updates_ == 0:
            assert same_attributes(predictor, fitted), where
        else:
            assert vars(predictor).keys() == vars(after).keys(), where
            np.testing.assert_array_equal(predictor.predict().yhat, after.predict().yhat, err_msg=where)
        if "base.py" in where:  # interrupted in the commit: it goes on
            predictor.update(data.iloc[[601]])

    # From the new history's index on: the steps before it build the new state aside (an interruption at each of
    # the 480 points of an update left the predictor as it was but at the commit: 3 s, too long for the suite).
    points = interrupted_everywhere(lambda: copy.copy(fitted), lambda p: p.update(row),
                                    in_files("predictor.py", "models/base.py"), check, armed="_history_index")
    assert points > 20


def test_an_interrupted_commit_of_a_refit_leaves_the_fit_before_it_or_the_new_one(monkeypatch):
    """``fit`` set the new attributes, then removed the old fit's extra ones, then published the forecast state:
    an interruption between them left the new attributes beside the old forecast (and the old fit's
    ``update_seconds_``). Each point of the commit (the model fitted, its state stored) is interrupted."""
    data = stream(602)
    # A model quick to fit (the commit is every model's): the fit runs once per point.
    fitted = WorkloadPredictor(model="moving_average", horizon=5).fit(data.iloc[:600]).update(data.iloc[[600]])
    fitted.predict()
    refit = data.iloc[300:500]
    clean = WorkloadPredictor(model="moving_average", horizon=5).fit(refit)

    def check(predictor, where):
        assert published_is_attributes(predictor), where
        if predictor.model_ is fitted.model_:
            assert same_attributes(predictor, fitted), where
        else:
            assert vars(predictor).keys() == vars(clean).keys(), where
            np.testing.assert_array_equal(predictor.predict().yhat, clean.predict().yhat, err_msg=where)

    points = interrupted_everywhere(lambda: copy.copy(fitted), lambda p: p.fit(refit),
                                    in_files("predictor.py", "models/base.py"), check, armed="_commit_fit")
    assert points > 10


def test_a_copy_beside_a_refits_commit_holds_one_fit(monkeypatch):
    """``fit`` set the new attributes, then removed the ones of the fit before that it does not set (here the last
    update's ``update_seconds_``): a copy (what ``save`` and ``health`` take) between the two held the new fit
    beside the old one's leftovers. The dict each ``vars()`` call of the commit returns is what a copy in another
    thread would have taken there."""
    from workload_predictor.models import base as base_module

    data = stream(601)
    fitted = WorkloadPredictor(horizon=5).fit(data.iloc[:600]).update(data.iloc[[600]])
    refit = data.iloc[300:500]
    clean = WorkloadPredictor(horizon=5).fit(refit)
    old_model, old_names, seen = fitted.model_, vars(fitted).keys(), []

    def recording(obj=None):
        if obj is fitted:
            seen.append(dict(vars(obj)))
        return vars(obj)

    for module in (predictor_module, base_module):
        monkeypatch.setattr(module, "vars", recording, raising=False)
    fitted.fit(refit)
    monkeypatch.undo()
    seen.append(dict(vars(fitted)))
    assert len(seen) > 2
    for state in seen:
        assert state.keys() == (old_names if state["model_"] is old_model else vars(clean).keys())


def test_an_interrupted_fleet_update_leaves_the_state_before_it_or_after_it():
    """The fleet set its attributes, then built the state it publishes from them one name at a time (and set the
    undo records after that): an interruption there left forecasts of the old state beside the attributes (and
    ``save``) of the new. Each point from the commit on is interrupted."""
    frame = long_frame(n_keys=2)
    head = frame[frame["timestamp"] < START + FREQ * 158]
    row = frame[frame["timestamp"] == START + FREQ * 158]
    fleet = FleetPredictor(horizon=5).fit(head, key="endpoint")
    fleet.predict()
    after = copy.deepcopy(fleet).update(row)

    def make():
        fleet_copy = copy.copy(fleet)
        fleet_copy._state()  # published, as the original's is
        return fleet_copy

    def check(fleet_copy, where):
        state = fleet_copy._published
        assert all(getattr(state, name) is vars(fleet_copy).get(name) for name in _FITTED_STATE), where
        if fleet_copy._blocks is fleet._blocks:
            assert same_attributes(fleet_copy, fleet) and fleet_copy._jumps is fleet._jumps, where
        else:
            assert vars(fleet_copy).keys() == vars(after).keys(), where
            assert fleet_copy.predict().equals(after.predict()), where

    points = interrupted_everywhere(make, lambda f: f.update(row), in_files("fleet.py", "models/base.py"), check,
                                    armed="_publish")
    assert points > 5


def temporaries(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name != "m.wp")


def descriptors_in(directory) -> list[str]:
    """``directory`` and the files in it this process holds open (a removed temporary file's, ``... (deleted)``,
    too)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == str(directory) or target.startswith(f"{directory}{os.sep}"):
            held.append(target)
    return held


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_an_interrupted_save_leaves_the_old_file_or_the_new_one_and_nothing_beside_it(tmp_path):
    """Interrupted after the temporary file was opened and before the write's clean-up was armed (the return of
    ``os.open``), ``save`` left the temporary file beside the model (which no later save removes while the process
    runs) and its descriptor open; interrupted as ``os.open`` returned the directory's descriptor for its sync, it
    left that descriptor open. Each point of the write (after the state was encoded) is interrupted."""
    data = stream(601)
    old = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    new = copy.deepcopy(old).update(data.iloc[[600]])
    path = tmp_path / "m.wp"
    files = [old.save(path).read_bytes(), new.save(path).read_bytes()]
    assert files[0] != files[1]

    def make():
        path.write_bytes(files[0])
        return new

    def check(_, where):
        assert temporaries(tmp_path) == [] and descriptors_in(tmp_path) == [], where
        assert path.read_bytes() in files, where

    points = interrupted_everywhere(make, lambda p: p.save(path), in_files("persistence.py"), check,
                                    armed="_remove_stale_temporaries")
    assert points > 5


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_a_save_the_disk_refuses_raises_about_the_path_and_keeps_the_old_file(tmp_path):
    """A full disk, here a file size limit (``EFBIG`` from the kernel in the middle of the write, as ``ENOSPC``
    comes): an ``OSError`` naming the path asked for, the old file intact, no temporary file left."""
    data = stream(601)
    predictor = WorkloadPredictor(horizon=5).fit(data.iloc[:600])
    path = predictor.save(tmp_path / "m.wp")
    before = path.read_bytes()
    predictor.update(data.iloc[[600]])
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, limits[1]))
    try:
        with pytest.raises(OSError) as caught:
            predictor.save(path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert caught.value.errno == errno.EFBIG and caught.value.filename == str(path)
    assert path.read_bytes() == before and temporaries(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="a read-only directory (root writes anyway)")
def test_a_save_into_a_read_only_directory_raises_about_the_path(tmp_path):
    data = stream(600)
    predictor = WorkloadPredictor(horizon=5).fit(data)
    path = predictor.save(tmp_path / "m.wp")
    before = path.read_bytes()
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as caught:
            predictor.save(path)
    finally:
        tmp_path.chmod(0o755)
    assert caught.value.filename == str(path) and path.read_bytes() == before and temporaries(tmp_path) == []


class Interrupted(BaseException):
    """What the signal handler raises (a KeyboardInterrupt of the test's own, which pytest does not take as the
    user's)."""


def test_a_fleet_fit_on_a_thread_pool_interrupted_keeps_its_fit_and_the_pool_runs_on(monkeypatch):
    """A signal to the main thread while a thread pool fits the fleet's partitions: the fleet keeps the fit it had,
    and the pool fits the next call."""
    frame = long_frame(n_keys=4)
    with ThreadPoolExecutor(2) as pool:
        fleet = FleetPredictor(horizon=5, executor=pool, partition_size=1).fit(frame, key="endpoint")
        before = fleet.predict()
        fitted, main = vars(fleet).copy(), threading.main_thread().ident
        fit = fleet_module._fit_partition
        started = []

        def fit_partition(config, series):
            started.append(series[0].key)
            if len(started) == 1:
                signal.pthread_kill(main, signal.SIGUSR1)  # the user's Ctrl-C, delivered to the main thread
            return fit(config, series)

        def interrupt(*_):
            raise Interrupted

        monkeypatch.setattr(fleet_module, "_fit_partition", fit_partition)
        handler = signal.signal(signal.SIGUSR1, interrupt)
        try:
            with pytest.raises(Interrupted):
                fleet.fit(frame.assign(requests=frame["requests"] * 2), key="endpoint")
        finally:
            signal.signal(signal.SIGUSR1, handler)
        assert same_attributes(fleet, fitted)
        assert fleet.predict().equals(before)
        monkeypatch.undo()
        refit = fleet.fit(frame, key="endpoint").predict()
    assert refit.equals(before)


def test_an_interrupted_model_update_leaves_the_model_before_it_or_after_it():
    """A model used on its own (``DLinear().fit(y).update(new_y)``): its ``update`` committed its changes one
    attribute at a time, so an interruption between two left its validation windows rolled beside the context
    before the new points (a model that forecast neither state). Each point of the commit is interrupted."""
    from workload_predictor.models.dlinear import DLinear

    y = stream(602)["requests"].to_numpy()
    fitted = DLinear(horizon=5, window=24).fit(y[:600])
    after = copy.deepcopy(fitted).update(y[600:601])

    def check(model, where):
        if model.n_seen_ == fitted.n_seen_:
            assert same_attributes(model, fitted), where
        else:
            assert vars(model).keys() == vars(after).keys(), where
            for name, value in vars(after).items():
                assert np.array_equal(vars(model)[name], value) if isinstance(value, np.ndarray) \
                    else type(vars(model)[name]) is type(value), (where, name)

    points = interrupted_everywhere(lambda: copy.copy(fitted), lambda m: m.update(y[600:601]),
                                    in_files("models/base.py"), check, armed="update")
    assert points > 5


# -- BLAS's thread count ---------------------------------------------------------------------------------------------
def _give_back_control(library) -> None:
    """threadpoolctl >= 3.8: no thread holds OpenBLAS's count (the first to set it does, until it clears)."""
    release = getattr(type(library), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)


@pytest.fixture
def blas_at_two():
    """The BLAS libraries, each at 2 threads (set back as they were afterwards); skipped where none goes above 1."""
    libraries = _threads._blas_libraries()
    before = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(2)
        _give_back_control(library)
    if not any(library.get_num_threads() == 2 for library in libraries):
        pytest.skip("no BLAS library here runs more than one thread")
    yield libraries
    for library, n in zip(libraries, before):
        if n is not None:
            library.set_num_threads(n)
        _give_back_control(library)


def test_a_blas_limit_in_a_thread_other_than_the_first_to_limit_it_limits_it(blas_at_two):
    """threadpoolctl's OpenBLAS controller lets only the thread that first set the count set it again: a limit
    entered first in the main thread (a fit) left every later one in another thread (an autoscaler's update thread)
    on the full pool, where an update took up to 0.25 s instead of 3 ms on a loaded host."""
    counts = lambda: [library.get_num_threads() for library in blas_at_two]  # noqa: E731
    with _threads.single_blas_thread():
        assert set(counts()) <= {1, None}
    seen = []

    def in_a_thread():
        with _threads.single_blas_thread():
            seen.append(counts())

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen and set(seen[0]) <= {1, None}, seen
    assert 2 in counts()  # set back


def test_an_interrupted_blas_limit_leaves_blas_as_the_caller_set_it(blas_at_two):
    """An interruption after a library was set to one thread and before the block was counted (or its ``__exit__``
    armed) left BLAS at one thread for the rest of the process; one part way through the exit's setting back left
    the libraries not yet set back. Each point of a block and one nested in it, in the limiter and in threadpoolctl,
    is interrupted. One point is left, as documented: the check at ``__exit__``'s first instruction, before any of
    its code runs (the state is put right after it, for the points after it)."""
    import threadpoolctl

    expected = [library.get_num_threads() for library in blas_at_two]
    files = {_threads.__file__, threadpoolctl.__file__}
    wrong = []

    def nested(_):
        with _threads.single_blas_thread():
            with _threads.single_blas_thread():
                pass

    def check(_, where):
        counts = [library.get_num_threads() for library in blas_at_two]
        if _threads._limited != 0 or counts != expected:
            wrong.append(where)
            while _threads._limited:
                _threads.single_blas_thread().__exit__(None, None, None)

    points = interrupted_everywhere(lambda: None, nested, lambda code: code.co_filename in files, check)
    assert points > 10
    assert {where.split(":")[0] + " " + where.split(" ", 1)[1] for where in wrong} <= {"_threads.py (__exit__, call)"}, \
        wrong


def test_an_interrupted_torch_thread_limit_leaves_torchs_count_as_the_caller_set_it(monkeypatch):
    """``torch_threads`` set torch's count, then counted the block, then armed its ``finally``: an interruption
    after the set left torch at the block's count (and the next block saved that as the caller's), one after the
    count left the block counted for good (no later block set or restored the count). Each point of a block and
    one nested in it is interrupted (torch faked: its count in a list)."""
    import types

    count = [4]
    fake = types.SimpleNamespace(get_num_threads=lambda: count[0], set_num_threads=lambda n: count.__setitem__(0, n))
    monkeypatch.setitem(sys.modules, "torch", fake)
    wrong = []

    def nested(_):
        with _threads.torch_threads(1):
            with _threads.torch_threads(2):
                assert count == [1]

    def check(_, where):
        if _threads._torch_depth != 0 or count != [4]:
            wrong.append((where, _threads._torch_depth, count[0]))
            _threads._torch_depth, count[0] = 0, 4

    points = interrupted_everywhere(lambda: None, nested, in_files("_threads.py"), check)
    assert points > 5 and not wrong, wrong
