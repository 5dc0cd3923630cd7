"""The baseline's code beside the code under test, in one process, and a clock that sees waits.

The gate's most exact yardstick is the code that recorded the baseline, measured in the same run
in rounds alternating with the code under test: whatever the machine does to one round (a
neighbour on the other core, a slower host, a busy cache) it does to the round next to it, and
the ratio of the two is what changed in the code. :func:`load` imports the package of another
source tree (the stored baseline's commit, extracted with ``git archive``) as a second copy of
``workload_predictor``; :func:`active` swaps its modules into ``sys.modules`` so that the test's
``from workload_predictor import ...`` and every lazy import inside the library resolve to it.
The package imports itself with relative imports only, so the two copies never mix.

:class:`Clock` reads, per round, the wall time, the CPU time of the calling thread and the time
it spent runnable but waiting for a core (``/proc/thread-self/schedstat``). A neighbour only adds
the last; a lock, a sleep, a synchronous write or a remote call adds wall time that is neither:
``latency = wall - queueing`` is the wall time of an idle machine, and it sees waits. A round in
which the thread never switched out of its own accord (``getrusage(RUSAGE_THREAD).ru_nvcsw``) did not
wait: its latency is its CPU time. The kernel's queueing figure is exact in most rounds but, on a
host at load 12 on 2 cores, over-counts by 2-45 ms in about one round of ten; a wait shorter than
that is then missed in that round (never invented): the gate takes medians over rounds.
"""

from __future__ import annotations

import importlib.util
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

PACKAGE = "workload_predictor"
SCHEDSTAT = Path("/proc/thread-self/schedstat")


def _ours(name: str) -> bool:
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def _take_modules() -> dict[str, ModuleType]:
    """Remove the package's modules from ``sys.modules`` and return them."""
    taken = {name: module for name, module in sys.modules.items() if _ours(name)}
    for name in taken:
        del sys.modules[name]
    return taken


@dataclass
class Library:
    """One copy of the package: where its source came from and its modules."""

    source: str
    modules: dict[str, ModuleType] = field(default_factory=dict)


@contextmanager
def active(library: Library):
    """Make ``library`` the ``workload_predictor`` that imports return, then restore the other copy."""
    other = _take_modules()
    sys.modules.update(library.modules)
    try:
        yield library.modules[PACKAGE]
    finally:
        library.modules.update(_take_modules())  # submodules imported meanwhile belong to this copy
        sys.modules.update(other)


def load(source_tree: Path, label: str) -> Library:
    """Import ``source_tree/workload_predictor`` as a second copy of the package (see the module docstring)."""
    root = Path(source_tree) / PACKAGE
    if not (root / "__init__.py").is_file():
        raise FileNotFoundError(f"no {PACKAGE} package under {source_tree}")
    library = Library(label)
    other = _take_modules()
    try:
        spec = importlib.util.spec_from_file_location(PACKAGE, root / "__init__.py",
                                                      submodule_search_locations=[str(root)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = module
        spec.loader.exec_module(module)
    finally:
        library.modules.update(_take_modules())
        sys.modules.update(other)
    return library


def extract(commit: str, repository: Path) -> Path:
    """The package's source at ``commit`` (``git archive``) in a new temporary folder; raises when git cannot."""
    folder = Path(tempfile.mkdtemp(prefix="perf-base-"))
    try:
        archive = subprocess.run(["git", "-C", str(repository), "archive", "--format=tar", commit, PACKAGE],
                                 capture_output=True, timeout=60, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, capture_output=True, timeout=60,
                       check=True)
    except (OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(folder, ignore_errors=True)
        detail = getattr(error, "stderr", b"") or b""
        raise RuntimeError(f"git archive {commit} {PACKAGE} failed: {detail.decode(errors='replace')[-300:]}") from error
    return folder


# -- the clock ---------------------------------------------------------------------------------------
def _queued_seconds() -> float:
    """Seconds the calling thread has spent runnable but waiting for a core (0 where Linux does not say)."""
    try:
        return int(SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


QUEUE_VISIBLE = _queued_seconds() > 0 or SCHEDSTAT.is_file()


def _voluntary_switches() -> int | None:
    """How often the calling thread has left its core of its own accord (slept, waited); None where unknown."""
    try:
        return resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
    except (AttributeError, OSError):
        return None


@dataclass
class Sample:
    """One round: wall, CPU (calling thread) and queueing seconds, and the thread's voluntary context switches."""

    wall: float
    cpu: float
    queued: float
    switches: int | None = None

    @property
    def latency(self) -> float:
        """Wall time less the time spent waiting for a core: the wall time of an idle machine.

        A thread that never left its core of its own accord did not wait: its latency is its CPU
        time (each preemption leaves a few microseconds that are neither CPU time nor queueing,
        0.1-0.3 ms a round on a host at load 12, which would otherwise read as waiting)."""
        if self.switches == 0:
            return self.cpu
        return max(self.wall - self.queued, self.cpu)

    @property
    def blocked(self) -> float:
        """Wall time neither on a core nor waiting for one: sleeps, locks, I/O."""
        return self.latency - self.cpu


class Clock:
    """``with Clock() as c: ...`` then ``c.sample``."""

    sample: Sample

    def __enter__(self) -> "Clock":
        self._switches = _voluntary_switches()
        self._queued = _queued_seconds()
        self._cpu = time.thread_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        # Queueing is read inside the wall-clock window at both ends: a preemption during a read of
        # schedstat (a syscall) lands in both figures or in neither.
        cpu = time.thread_time() - self._cpu
        queued = _queued_seconds() - self._queued
        wall = time.perf_counter() - self._wall
        switches = _voluntary_switches()
        switched = None if switches is None or self._switches is None else switches - self._switches
        self.sample = Sample(wall, cpu, queued, switched)
