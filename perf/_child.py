"""Fresh-process measurements: import cost and memory growth.

Run as ``python -m perf._child import MODEL`` or
``python -m perf._child memory MODEL DATASET TORCH_THREADS [BASE_TREE]``; prints one JSON line.
Only the standard library is imported at the top, so the import timings start from a
bare interpreter. Modules named in ``PERF_PRELOAD`` (comma-separated) are imported
first: that is how ``perf/inject_regression.py`` reaches these processes.

With ``BASE_TREE`` (a source tree holding the baseline's ``workload_predictor``), the memory case
measures that tree's package instead of the code under test: the tree goes first on ``sys.path``
(``-m`` from the repository root puts the code under test there, and ``PYTHONPATH`` comes after it),
the measuring code stays this one, and ``PERF_PRELOAD`` is not imported (the injected regressions
wrap the code under test only). The result names the package file it measured.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import resource
import sys
import threading
import time
import tracemalloc

# The reference cases' imports; a model case imports what load_needs() says.
REFERENCES = {"pandas": ["pandas"], "pandas, torch": ["pandas", "torch"]}
MB = 2.0**20


def preload() -> None:
    for name in filter(None, os.environ.get("PERF_PRELOAD", "").split(",")):
        importlib.import_module(name.strip())


def load_needs(what: str) -> None:
    """Import what ``what`` needs before the user's first fit: a reference's modules, or the package and the
    model's own modules (from its registry entry; a combining model's default members' too)."""
    if what in REFERENCES:
        for module in REFERENCES[what]:
            importlib.import_module(module)
        return
    importlib.import_module("workload_predictor")
    registry = sys.modules["workload_predictor.models.registry"]
    entry = registry.get(what)
    for name in [what, *(entry.defaults()["members"] if entry.combines else ())]:
        registry.get(name).cls  # noqa: B018 - resolving the class imports its module


def _queued_seconds() -> float:
    """Seconds this thread has waited for a core (``perf.paired.Clock`` reads the same; 0 where Linux does not say)."""
    try:
        with open("/proc/thread-self/schedstat") as schedstat:
            return int(schedstat.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def import_case(what: str) -> dict:
    """Seconds to import what ``what`` needs and, for a model, to construct its predictor: wall, CPU (all threads)
    and latency (wall less the time the thread waited for a core, as ``perf.paired.Sample.latency``: CPU time plus
    the waits of the imports themselves, a sleep, a lock, a blocking read, which CPU time does not see)."""
    switches, queued = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw, _queued_seconds()
    start, start_cpu, start_thread = time.perf_counter(), time.process_time(), time.thread_time()
    load_needs(what)
    if what not in REFERENCES:
        sys.modules["workload_predictor"].WorkloadPredictor(model=what, random_state=0)
    thread = time.thread_time() - start_thread
    queued = _queued_seconds() - queued
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    waited = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw != switches
    return {"seconds": wall, "cpu_seconds": cpu, "latency_seconds": max(wall - queued, thread) if waited else thread,
            "torch_imported": "torch" in sys.modules}


def _kernel_peak_mb() -> float | None:
    """The kernel's RSS high-water mark (Linux), or None."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _reset_kernel_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def rss_growth(operation) -> dict:
    """Peak RSS during ``operation()`` minus the RSS just before it, in MB; and, while ``tracemalloc``
    traces, the peak of the memory it traces minus the traced memory just before (``traced_mb``).

    On Linux the kernel's high-water mark, reset just before, is the exact peak. Elsewhere psutil
    samples the RSS every 0.5 ms from a thread (which then allocates too: its objects add a few
    tens of kB to the traced peak).
    """
    import psutil

    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss / MB
    kernel = _reset_kernel_peak()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss / MB)
            time.sleep(0.0005)

    sampler = None if kernel else threading.Thread(target=sample, daemon=True)
    if sampler is not None:
        sampler.start()
    traced_before = None
    if tracemalloc.is_tracing():
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
    try:
        operation()
    finally:
        traced = None if traced_before is None else (tracemalloc.get_traced_memory()[1] - traced_before) / MB
        done.set()
        if sampler is not None:
            sampler.join()
    sampled = max(peak[0], process.memory_info().rss / MB)
    hwm = _kernel_peak_mb() if kernel else None
    top = max(sampled, hwm or 0.0)
    return {"before_mb": before, "peak_mb": top, "growth_mb": top - before, "sampled_peak_mb": sampled,
            "kernel_peak_mb": hwm, "traced_mb": traced}


def memory_case(model: str, dataset: str, torch_threads: int) -> dict:
    """Growth of a fit, then of a predict(10) on the fitted model: cold, then warm, in one process.

    Cold: the first fit after the imports. Warm: after a throwaway fit (and predict) of the
    same model on another series of the same length: the steady state of a service that
    refits on a sliding window (caches keyed by the window size are then warm too). The cold fit
    comes first and is let go; then the throwaway fit; then the warm fit, on the cold fit's series.
    The predict is measured from the RSS after the fit, with the peak reset, so the fit's
    own peak cannot hide it.

    Both are also measured with ``tracemalloc`` (started after the imports, stopped between the
    states, so the throwaway fit is not traced): the peak of Python's and numpy's allocations
    (numpy reports its arrays' data to it) above those before. It counts bytes asked for, not pages
    touched, so it resolves what RSS cannot (a warm fit grows the RSS by 0.2 MB, a warm predict by
    one page, whatever they allocate and free, since the allocator reuses its free memory), and it
    is the same in every process (within 2 kB); it does not see torch's tensors, which RSS does.
    Tracing adds its own records of live blocks to the RSS (about 0.5-1.5 MB of a cold torch fit),
    in both copies of a paired case alike.
    """
    import pandas  # noqa: F401  (imported before measuring: the user's script has it)

    from perf import datasets

    frame = datasets.load(dataset)
    if frame is None:
        return {"skipped": f"dataset {dataset} not available"}
    load_needs(model)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(torch_threads)
    from workload_predictor import WorkloadPredictor

    def fit(data):
        return WorkloadPredictor(model=model, random_state=0).fit(data, timestamp="timestamp", target="requests")

    def measured() -> dict:
        kept = []
        tracemalloc.start(1)
        try:
            result = {"fit": rss_growth(lambda: kept.append(fit(frame)))}
            result["predict"] = rss_growth(lambda: kept[0].predict(10))
        finally:
            tracemalloc.stop()
        return result

    result = {"cold": measured()}
    fit(datasets.scaled(len(frame))).predict(10)
    result["warm"] = measured()
    result["torch_imported"] = "torch" in sys.modules
    result["package"] = sys.modules["workload_predictor"].__file__
    return result


def main(argv: list[str]) -> None:
    base_tree = argv[4] if argv[0] == "memory" and len(argv) > 4 else None
    if base_tree:
        sys.path.insert(0, base_tree)
    else:
        preload()
    if argv[0] == "import":
        result = import_case(argv[1])
    elif argv[0] == "memory":
        model, dataset, threads = argv[1:4]
        result = memory_case(model, dataset, int(threads))
    else:
        raise SystemExit(f"unknown case {argv[0]!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
