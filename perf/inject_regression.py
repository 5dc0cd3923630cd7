"""Inject a regression from outside the library, to prove the gate can fail.

Load it as a pytest plugin with the regressions to inject in ``PERF_INJECT`` (comma-separated)::

    PERF_INJECT=fit-2x              python -m pytest -p perf.inject_regression perf/ --benchmark-compare
    PERF_INJECT=predict-2x          ...   # predict computes twice as long
    PERF_INJECT=fit-wait-2x         ...   # fit waits as long again as it took (a lock, an fsync, a remote call)
    PERF_INJECT=predict-wait-2x     ...
    PERF_INJECT=fit-100mb           ...   # fit holds an extra 100 MB while it runs
    PERF_INJECT=fit-memory-2x       ...   # fit's peak memory twice what it is (RSS and traced; the memory cases)
    PERF_INJECT=predict-memory-2x   ...
    PERF_INJECT=predict-2x-first-attempt ...  # predict 2x slower in a case's first attempt only (noise)
    PERF_INJECT=ensemble-update-2x  ...   # the ensemble's model.update computes twice as long (-wait-2x: waits)
    PERF_INJECT=dlinear-update-2x   ...   # DLinear's model.update twice as long (-wait-2x: waits)
    PERF_INJECT=predictor-update-2x ...   # WorkloadPredictor.update twice as long, every model (-wait-2x: waits)
    PERF_INJECT=lstm-update-2x      ...   # the LSTM's update (its base and network training) twice as long
    PERF_INJECT=fleet-fit-2x        ...   # FleetPredictor.fit twice as long (-wait-2x: waits)
    PERF_INJECT=fleet-update-2x     ...   # FleetPredictor.update twice as long, every update_mode and the global
                                          # LSTM's (-wait-2x: waits)
    PERF_INJECT=fleet-predict-2x    ...   # FleetPredictor.predict twice as long (-wait-2x: waits)
    PERF_INJECT=health-2x           ...   # WorkloadPredictor.health twice as long (-wait-2x: waits; fleet-health-2x,
                                          # fleet-health-wait-2x: FleetPredictor.health)
    PERF_INJECT=bucketize-2x        ...   # workload_predictor.bucketize twice as long (-wait-2x: waits)
    PERF_INJECT=save-2x             ...   # WorkloadPredictor.save twice as long (load-2x: .load; -wait-2x: waits)
    PERF_INJECT=cli-2x              ...   # a command-line forecast run twice as long (-wait-2x: waits)
    PERF_INJECT=alerts-2x           ...   # WorkloadPredictor.check_alerts twice as long (-wait-2x: waits)
    PERF_INJECT=backtest-2x         ...   # workload_predictor.backtest.run_backtest (backtest() and the command
                                          # line's evaluate run it) twice as long (-wait-2x: waits)
    PERF_INJECT=evaluate-2x         ...   # a command-line evaluate run twice as long (-wait-2x: waits)
    PERF_INJECT=bare-predict-2x     ...   # a bare model's predict() twice; where it settled its inputs, the second
                                          # call reads the kept ones (the case bare_predict[cached]); -wait-2x: waits as
                                          # long again as its calls computed, summed (_waits_in_sum: calls of 10 us)
    PERF_INJECT=bare-settle-2x      ...   # a bare model's predict() twice, first on a shallow copy (no kept inputs:
                                          # it settles them), so a state's first forecast, the case
                                          # bare_predict[settled], is made twice (more than that where it kept them)
    PERF_INJECT=flagged-update-2x   ...   # a bare model's update twice where it weighed a flagged bucket (DLinear's
                                          # path when its windows hold one; clean updates as they are), the second
                                          # on a shallow copy made before it; -wait-2x: waits as long again as such
                                          # updates computed, summed (_waits_in_sum)
    PERF_INJECT=predictor-flagged-update-2x ...   # the same of WorkloadPredictor.update (-wait-2x: waits)
    PERF_INJECT=import-wait         ...   # import workload_predictor waits IMPORT_WAIT_S (about as long again
                                          # as DLinear's import + construction take; the fresh-process cases)
    PERF_INJECT=fit-2x,predict-wait-2x ...    # several at once
    PERF_INJECT=lstm-update-wait-2x@update_predictor_10_buckets[lstm] ...   # only in that case (KIND@CASE: the
                                          # test's name less ``test_``; other cases run the code as it is)

It wraps methods of the code under test (``WRAPPERS``: ``WorkloadPredictor.fit`` / ``.predict`` / ``.save`` / ``.load``
/ ``.check_alerts``, the models' update, ``FleetPredictor.fit`` / ``.update`` / ``.predict``, the predictor's and the
fleet's ``health``, ``bucketize``, the backtest, the command line's ``forecast`` and ``evaluate``, a bare model's
``predict`` and ``update``; the library's code is untouched; the baseline's code, when the gate loads it beside, is not
wrapped): a 2x computation does the call twice (as sensitive to the machine's load as the real work; a fleet's or a
predictor's ``update``, which commits its result to its object, first on a shallow copy of it), a 2x wait sleeps as long
as the calls took on an idle machine (their wall time less the time they waited for a core; their CPU time does not
move), summed and slept off a millisecond or more at a time (``_waits``), the allocation touches 100 MB of pages during
the fit, a 2x memory growth holds, at the end of the call, as much again as the call's peak growth in both figures of
the memory cases (see ``_doubled_memory``). It also sets ``PERF_PRELOAD`` so that the fresh processes of the memory and
import cases (``perf/_child.py``) import it too (``import-wait`` only adds a finder there).
"""

from __future__ import annotations

import copy
import functools
import mmap
import os
import re
import time
import tracemalloc

KINDS = ("fit-2x", "predict-2x", "fit-wait-2x", "predict-wait-2x", "fit-100mb", "fit-memory-2x", "predict-memory-2x",
         "predict-2x-first-attempt",
         "ensemble-update-2x", "ensemble-update-wait-2x", "dlinear-update-2x", "dlinear-update-wait-2x",
         "predictor-update-2x", "predictor-update-wait-2x", "lstm-update-2x", "lstm-update-wait-2x", "fleet-fit-2x",
         "fleet-fit-wait-2x", "fleet-update-2x", "fleet-update-wait-2x", "fleet-predict-2x", "fleet-predict-wait-2x",
         "health-2x", "health-wait-2x", "fleet-health-2x", "fleet-health-wait-2x", "bucketize-2x", "bucketize-wait-2x",
         "save-2x", "save-wait-2x", "load-2x", "load-wait-2x", "cli-2x", "cli-wait-2x", "alerts-2x",
         "alerts-wait-2x", "backtest-2x", "backtest-wait-2x", "evaluate-2x", "evaluate-wait-2x", "bare-predict-2x",
         "bare-predict-wait-2x", "bare-settle-2x", "flagged-update-2x", "flagged-update-wait-2x",
         "predictor-flagged-update-2x", "predictor-flagged-update-wait-2x", "import-wait")
IMPORT_WAIT_S = 0.25


def _slower(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        method(*args, **kwargs)  # the same work twice: twice as long, and as sensitive to load as real work
        return method(*args, **kwargs)

    return wrapper


def _slower_on_a_copy(method):
    """Twice the work of a method that commits its result to its object: first on a shallow copy, then on the
    object. ``WorkloadPredictor.update`` replaces its attributes, never writes into them (its model is updated on
    copies); ``FleetPredictor.update`` computes every key's update so (the global model's on a copy) and publishes
    them on the object it is called on. So the first call leaves the object as it was. A bare model's ``predict``
    keeps the inputs it settled beside the instance it settled them for (``base._OWN_INPUTS``): a copy has none kept,
    so the first call settles them afresh whether or not the object had them."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        method(copy.copy(self), *args, **kwargs)
        return method(self, *args, **kwargs)

    return wrapper


def _waits(method, chunk_s: float = 0.001):
    """Waits as long again as the calls take on an idle machine (their latency: wall time less the time spent waiting
    for a core), off the CPU, summed over the calls and slept off once at least ``chunk_s`` is owed: a sleep of its
    own after each call of 100-300 us lasted 60 us more than asked and cost 17 us of CPU time, so the wait injected
    into ``health`` read 6x its latency and 3.3x its CPU time (not a 2x wait). Calls of a millisecond or more sleep
    after each call, as long as they took."""
    owed = [0.0]

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        from perf.paired import Clock

        with Clock() as clock:
            result = method(*args, **kwargs)
        owed[0] += clock.sample.latency
        if owed[0] >= chunk_s:
            time.sleep(owed[0])
            owed[0] = 0.0
        return result

    return wrapper


def _waits_in_sum(method, chunk_s: float = 0.001, counted=None):
    """Waits as long again as the calls computed, summed over the calls: for calls of microseconds, where
    :func:`_waits`' reading of the clock (``/proc/thread-self/schedstat``, 17 us of CPU time) costs more than the
    call. Each call adds its
    thread's CPU time (the call's latency on an idle machine, for a call that computes and never waits) to what is
    owed; once that reaches ``chunk_s`` the call sleeps it off, so a round of 10 ms of calls waits as long again
    within one chunk, and what a round leaves owed the next one waits. A sleep's overshoot (its least time, a late
    wake-up) is not deducted from what later calls owe: deducted, one long sleep left the next rounds waiting nothing
    (their median latency read 1.56x). ``counted``: whether a call (its first argument, read after the call) owes
    its time; ``None``: every call."""
    owed = [0.0]

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        start = time.thread_time()
        result = method(*args, **kwargs)
        if counted is None or counted(args[0]):
            owed[0] += time.thread_time() - start
        if owed[0] >= chunk_s:
            time.sleep(owed[0])
            owed[0] = 0.0
        return result

    return wrapper


def _weighed_flagged(obj) -> bool:
    """Whether the update just made on ``obj`` (a bare model or a ``WorkloadPredictor``) weighed a flagged bucket:
    DLinear keeps its newest points' weights (``recent_weights_``) only where one of them is flagged."""
    return getattr(getattr(obj, "model_", obj), "recent_weights_", None) is not None


def _slower_where_flagged(method):
    """Twice the work of an update that weighed a flagged bucket (the path DLinear's update takes when its windows
    hold one), an update that did not as it is: the update on the object, then, where it weighed one, the same update
    again on a shallow copy of the object made before it (the state the first started from; an update replaces its
    object's attributes, never writes into them: see :func:`_slower_on_a_copy`)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        before = copy.copy(self)
        result = method(self, *args, **kwargs)
        if _weighed_flagged(self):
            method(before, *args, **kwargs)
        return result

    return wrapper


def _waits_where_flagged(method, chunk_s: float = 0.001):
    """:func:`_waits_in_sum` of the updates that weighed a flagged bucket (their thread's CPU time: an update computes
    and never waits), the others as they are."""
    return _waits_in_sum(method, chunk_s, counted=_weighed_flagged)


def _slower_in_first_attempt(method):
    from perf import harness

    slow = _slower(method)

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        return (slow if harness.ATTEMPT[0] == 0 else method)(*args, **kwargs)

    return wrapper


def _heavier(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        import numpy as np

        ballast = np.ones(100 * 2**20 // 8)  # 100 MB, every page touched
        try:
            return method(*args, **kwargs)
        finally:
            del ballast

    return wrapper


_STATUS = (re.compile(rb"\nVmRSS:\s*(\d+)"), re.compile(rb"\nVmHWM:\s*(\d+)"))  # compiled once: not in a call


def _resident_mb() -> tuple[float, float | None]:
    """(RSS, the kernel's RSS high-water mark or None) of this process, in MB. Read from Linux's
    /proc/self/status into one small buffer (a few kB asked for, less than a predict's traced peak,
    which its readings must not raise); psutil elsewhere."""
    try:
        descriptor = os.open("/proc/self/status", os.O_RDONLY)
        try:
            status = os.read(descriptor, 4096)
        finally:
            os.close(descriptor)
        rss, hwm = (pattern.search(status) for pattern in _STATUS)
        return int(rss.group(1)) / 1024.0, int(hwm.group(1)) / 1024.0
    except (OSError, AttributeError):
        import psutil

        return psutil.Process().memory_info().rss / 2**20, None


def _doubled_memory(method):
    """The call's peak memory growth twice what it is, in both figures ``perf/_child.py`` measures.

    After the call, with its result held: the traced peak (``tracemalloc``, when it traces) is raised
    to the traced memory before the call plus twice the call's traced peak growth, by a numpy array
    left untouched (numpy reports it to tracemalloc; untouched, its pages are not resident); then the
    RSS to the RSS before the call plus twice its peak growth (the kernel's high-water mark, which the
    memory case resets just before the call), by fresh anonymous pages, each touched. Both are let go
    before the call returns: the figures are peaks."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        import numpy as np  # imported by then (pandas is); imported at the top, it would weigh on the import cases

        tracing = tracemalloc.is_tracing()
        traced_before = tracemalloc.get_traced_memory()[0] if tracing else 0
        rss_before, _ = _resident_mb()
        result = method(*args, **kwargs)
        traced_peak = tracemalloc.get_traced_memory()[1] if tracing else 0  # before reading the RSS, which allocates
        held = []
        rss_now, hwm = _resident_mb()
        extra = int((rss_before + 2 * (max(hwm or rss_now, rss_now) - rss_before) - rss_now) * 2**20)
        if tracing:
            now = tracemalloc.get_traced_memory()[0]
            held.append(np.empty(max(0, traced_before + 2 * (traced_peak - traced_before) - now), dtype=np.uint8))
        if extra > 0:
            pages = mmap.mmap(-1, extra)
            for offset in range(0, extra, mmap.PAGESIZE):
                pages[offset] = 1
            held.append(pages)
        del held
        return result

    return wrapper


PREDICTOR = ("workload_predictor", "WorkloadPredictor")
FLEET = ("workload_predictor", "FleetPredictor")
CLI_FORECAST = ("workload_predictor.cli", "forecast")  # a click command; its ``callback`` is the command's function
CLI_EVALUATE = ("workload_predictor.cli", "evaluate")
BACKTEST = ("workload_predictor.backtest", None)  # run_backtest: backtest() and the command line's evaluate look it up there
BARE = ("workload_predictor.models.base", "BaseForecaster")  # a bare model's predict(), update(): every model's
PACKAGE = ("workload_predictor", None)  # a function of the package's namespace (``from workload_predictor import ...``)
# kind -> ((module, class or None for the module itself), method or function, wrapper); side-effect-free methods
# only where the work is done twice (the models' update computes its changes on copies and commits them in
# ``update``; a fleet's update is done twice on a copy first).
WRAPPERS = {"fit-2x": (PREDICTOR, "fit", _slower), "predict-2x": (PREDICTOR, "predict", _slower),
            "fit-wait-2x": (PREDICTOR, "fit", _waits), "predict-wait-2x": (PREDICTOR, "predict", _waits),
            "fit-100mb": (PREDICTOR, "fit", _heavier),
            "fit-memory-2x": (PREDICTOR, "fit", _doubled_memory),
            "predict-memory-2x": (PREDICTOR, "predict", _doubled_memory),
            "predict-2x-first-attempt": (PREDICTOR, "predict", _slower_in_first_attempt),
            "ensemble-update-2x": (("workload_predictor.models.ensemble", "Ensemble"), "_prepare_update", _slower),
            "ensemble-update-wait-2x": (("workload_predictor.models.ensemble", "Ensemble"), "_prepare_update", _waits),
            "dlinear-update-2x": (("workload_predictor.models.dlinear", "DLinear"), "_prepare_update", _slower),
            "dlinear-update-wait-2x": (("workload_predictor.models.dlinear", "DLinear"), "_prepare_update", _waits),
            "predictor-update-2x": (PREDICTOR, "update", _slower_on_a_copy),
            "predictor-update-wait-2x": (PREDICTOR, "update", _waits),
            "lstm-update-2x": (("workload_predictor.models.lstm", "LSTM"), "_update_state", _slower),
            "lstm-update-wait-2x": (("workload_predictor.models.lstm", "LSTM"), "_update_state", _waits),
            "fleet-fit-2x": (FLEET, "fit", _slower),
            "fleet-fit-wait-2x": (FLEET, "fit", _waits),
            "fleet-update-2x": (FLEET, "update", _slower_on_a_copy), "fleet-update-wait-2x": (FLEET, "update", _waits),
            "fleet-predict-2x": (FLEET, "predict", _slower), "fleet-predict-wait-2x": (FLEET, "predict", _waits),
            "health-2x": (PREDICTOR, "health", _slower), "health-wait-2x": (PREDICTOR, "health", _waits),
            "fleet-health-2x": (FLEET, "health", _slower), "fleet-health-wait-2x": (FLEET, "health", _waits),
            "bucketize-2x": (PACKAGE, "bucketize", _slower), "bucketize-wait-2x": (PACKAGE, "bucketize", _waits),
            # load is a classmethod: the wrapper, a plain function on the class, wraps the bound method
            "save-2x": (PREDICTOR, "save", _slower), "save-wait-2x": (PREDICTOR, "save", _waits),
            "load-2x": (PREDICTOR, "load", _slower), "load-wait-2x": (PREDICTOR, "load", _waits),
            # the command line's forecast command: its click callback, the whole run after argument parsing
            "cli-2x": (CLI_FORECAST, "callback", _slower), "cli-wait-2x": (CLI_FORECAST, "callback", _waits),
            "alerts-2x": (PREDICTOR, "check_alerts", _slower), "alerts-wait-2x": (PREDICTOR, "check_alerts", _waits),
            "backtest-2x": (BACKTEST, "run_backtest", _slower), "backtest-wait-2x": (BACKTEST, "run_backtest", _waits),
            "evaluate-2x": (CLI_EVALUATE, "callback", _slower),
            "evaluate-wait-2x": (CLI_EVALUATE, "callback", _waits),
            # the second of two forecasts on one state reads the inputs the first settled: bare-predict-2x doubles
            # the forecast as a repeated call makes it, bare-settle-2x a state's first forecast, settling included
            "bare-predict-2x": (BARE, "predict", _slower), "bare-predict-wait-2x": (BARE, "predict", _waits_in_sum),
            "bare-settle-2x": (BARE, "predict", _slower_on_a_copy),
            # an update whose windows hold a flagged bucket (DLinear weighs it): a bare model's, a predictor's
            "flagged-update-2x": (BARE, "update", _slower_where_flagged),
            "flagged-update-wait-2x": (BARE, "update", _waits_where_flagged),
            "predictor-flagged-update-2x": (PREDICTOR, "update", _slower_where_flagged),
            "predictor-flagged-update-wait-2x": (PREDICTOR, "update", _waits_where_flagged)}


class _SlowImport:
    """A finder first in ``sys.meta_path`` that waits before the package is found (and lets the others find it)."""

    def find_spec(self, name, path=None, target=None):
        if name == "workload_predictor":
            time.sleep(IMPORT_WAIT_S)
        return None


def _in_case(method, injected, case: str):
    """``injected`` while the test ``test_<case>`` runs (pytest's ``PYTEST_CURRENT_TEST`` names it), ``method``
    as it is in every other test: one run injects one kind into one case and another kind into another, without
    the two adding up where both reach (the ensemble's update runs its LSTM member's)."""
    running = f"::test_{case} ("

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        chosen = injected if running in os.environ.get("PYTEST_CURRENT_TEST", "") else method
        return chosen(*args, **kwargs)

    return wrapper


def install(kinds: str) -> None:
    import importlib
    import sys

    for entry in filter(None, (k.strip() for k in kinds.split(","))):
        kind, _, case = entry.partition("@")
        if kind == "import-wait" and not case:  # must not import the package: the fresh processes time its import
            sys.meta_path.insert(0, _SlowImport())
            continue
        if kind not in WRAPPERS:
            raise ValueError(f"PERF_INJECT={entry!r}: choose from {', '.join(KINDS)}, each optionally @CASE "
                             "(import-wait without)")
        (module, cls), name, wrap = WRAPPERS[kind]
        target = importlib.import_module(module)
        target = getattr(target, cls) if cls else target
        method = getattr(target, name)
        setattr(target, name, _in_case(method, wrap(method), case) if case else wrap(method))


_KINDS = os.environ.get("PERF_INJECT", "")
if _KINDS:
    install(_KINDS)
    preload = [m for m in os.environ.get("PERF_PRELOAD", "").split(",") if m]
    if __name__ not in preload:
        os.environ["PERF_PRELOAD"] = ",".join(preload + [__name__])
