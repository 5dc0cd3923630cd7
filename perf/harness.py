"""What the perf cases share: budgets, thread pinning, the calibration workload, fresh-process runs,
and the checks (budgets of both layers, and the gate against the stored baseline)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from workload_predictor.models import registry

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGETS_FILE = HERE / "budgets.toml"


def load_budgets(path: Path = BUDGETS_FILE) -> dict:
    with open(path, "rb") as file:
        return tomllib.load(file)


BUDGETS = load_budgets()
SETTINGS = BUDGETS["settings"]
# The models benchmarked: the registered ones that have a fit budget (a new model is benchmarked once it has one).
MODELS = tuple(name for name in registry.names() if name in BUDGETS["target"]["fit_s"])


def pin_threads(n: int | None = None) -> int:
    """``torch.set_num_threads`` for the benchmark process (BLAS is the library's own business)."""
    import torch

    n = int(SETTINGS["torch_threads"] if n is None else n)
    torch.set_num_threads(n)
    return n


# -- calibration ------------------------------------------------------------------------------
class Calibration:
    """A fixed numpy + torch workload (~10 ms on 2 cores), single-threaded: the machine's speed now.

    It mixes what the models do: small least-squares solves and matrix products (DLinear)
    and an LSTM forward and backward pass (the LSTM). Figures divided by its median are
    comparable across machines and across a run whose neighbours come and go.
    """

    def __init__(self) -> None:
        import numpy as np
        import torch

        rng = np.random.default_rng(0)
        self.a, self.b = rng.standard_normal((976, 25)), rng.standard_normal((976, 10))
        self.m = rng.standard_normal((160, 160))
        generator = torch.Generator().manual_seed(0)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.lstm = torch.nn.LSTM(8, 32, batch_first=True)
        self.x = torch.randn(64, 12, 8, generator=generator)

    def run(self) -> None:
        import numpy as np
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            for _ in range(4):
                np.linalg.lstsq(self.a, self.b, rcond=None)
            for _ in range(4):
                self.m @ self.m
        for _ in range(3):
            out, _ = self.lstm(self.x)
            out.sum().backward()

    def seconds(self, rounds: int = 5) -> tuple[list[float], list[float]]:
        """Wall-clock and CPU seconds of ``rounds`` runs (after one untimed run).

        CPU / wall is the share of a core this process got: 1 on an idle machine,
        about 0.5 when a neighbour competes for the same core.
        """
        self.once()
        wall, cpu = [], []
        for _ in range(rounds):
            w, c = self.once()
            wall.append(w)
            cpu.append(c)
        return wall, cpu

    def once(self) -> tuple[float, float]:
        """One timed run: (wall, CPU) seconds, on one torch thread."""
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            start, start_cpu = time.perf_counter(), time.thread_time()
            self.run()
            return time.perf_counter() - start, time.thread_time() - start_cpu
        finally:
            torch.set_num_threads(previous)


def calls_per_round(operation: Callable[[], Any], round_seconds: float = 0.01) -> int:
    """Calls per round so that one round takes about ``round_seconds`` of CPU time.

    A call of 1 ms is either not preempted or preempted for a whole time slice
    (~4 ms here), so its median jumps when neighbours come; a round of several calls
    averages that out. Counted in CPU time (of this thread), so that a busy machine does
    not shrink rounds to one call each, whose caches its neighbours have emptied.
    """
    operation()
    start = time.thread_time()
    operation()
    once = max(time.thread_time() - start, 1e-6)
    return max(1, min(1000, round(round_seconds / once)))


# -- fresh processes -------------------------------------------------------------------------------
# The gate's own pytest runs (perf/test_gate.py): (what they inject, how many cases, wall seconds), for the summary.
GATE_RUNS: list[tuple[str, int, float]] = []


def run_child(*args: str, timeout: float = 300.0) -> dict:
    """Run ``python -m perf._child ARGS`` from the repository root; its JSON line."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "perf._child", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"perf._child {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- budgets ---------------------------------------------------------------------------------------
@dataclass
class Budget:
    layer: str  # "old_report" or "target"
    what: str  # e.g. "LSTM fit <= 2 s"
    limit: float
    unit: str


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1e3:.3f} ms" if value < 1 else f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.3f}{unit}"


def budgets_for(kind: str, model: str, factor: float = 1.0) -> list[Budget]:
    """The budgets of both layers that apply to a figure of ``kind`` for ``model`` (times ``factor``).

    The old report's fit and predict ceilings apply to the models it measured (``[old_report]``'s ``fit_s`` and
    ``predict_s``); a model it did not have is held to our targets alone."""
    old, target = BUDGETS["old_report"], BUDGETS["target"]
    name = registry.class_name(registry.get(model).target) if model in registry.names() else model  # "-": calibration
    scale = f" x{factor:g}" if factor != 1.0 else ""
    out: list[Budget] = []
    if kind in ("fit", "fit_ceiling") and model in old["fit_s"]:
        out.append(Budget("old_report", f"{name} fit <= {old['fit_s'][model]:g} s{scale}", old["fit_s"][model] * factor, "s"))
    if kind in ("predict", "predict_ceiling") and model in old["predict_s"]:
        out.append(Budget("old_report", f"predict(10) <= {old['predict_s'][model]:g} s{scale}",
                          old["predict_s"][model] * factor, "s"))
    if kind in ("fit_ceiling", "predict_ceiling"):  # latency of one call among many (load): the old ceiling only
        return out
    if kind == "fit":
        out.append(Budget("target", f"{name} fit <= {_fmt(target['fit_s'][model], 's')}{scale}",
                          target["fit_s"][model] * factor, "s"))
    elif kind == "predict":
        out.append(Budget("target", f"{name} predict(10) <= {_fmt(target['predict_s'][model], 's')}{scale}",
                          target["predict_s"][model] * factor, "s"))
    elif kind in ("memory_warm", "memory_cold"):
        out.append(Budget("old_report", f"memory growth < {old['memory_growth_mb']:g} MB (critical "
                          f"{old['memory_critical_mb']:g} MB)", old["memory_growth_mb"], "MB"))
        if kind == "memory_warm":
            out.append(Budget("target", f"{name} warm growth <= {target['memory_growth_mb'][model]:g} MB",
                              target["memory_growth_mb"][model], "MB"))
    elif kind == "import_ratio":
        ref = target["import_reference"][model]
        out.append(Budget("target", f"import + construction <= {target['import_ratio'][model]:g} x import {ref}",
                          target["import_ratio"][model], "x"))
    elif kind == "update" and model in target["update_s"]:
        out.append(Budget("target", f"{name} update(1 bucket) <= {_fmt(target['update_s'][model], 's')}{scale}",
                          target["update_s"][model] * factor, "s"))
    elif kind == "update_predictor" and model in target["update_predictor_s"]:
        out.append(Budget("target", f"{name} predictor.update(1-row frame) <= "
                          f"{_fmt(target['update_predictor_s'][model], 's')}{scale}",
                          target["update_predictor_s"][model] * factor, "s"))
    elif kind == "update_share" and model in target["update_share_of_fit"]:
        out.append(Budget("target", f"{name} update <= {target['update_share_of_fit'][model]:g} x a full fit",
                          target["update_share_of_fit"][model], "x"))
    elif kind == "update_ratio" and model in target.get("update_ratio_to_dlinear", {}):
        out.append(Budget("target", f"{name} update(1 bucket) <= {target['update_ratio_to_dlinear'][model]:g} x "
                          "DLinear's, same run", target["update_ratio_to_dlinear"][model], "x"))
    elif kind == "time_limit" and model in target.get("time_limit_ratio", {}):
        out.append(Budget("target", f"{name} fit under max_training_time=L <= {target['time_limit_ratio'][model]:g} x L",
                          target["time_limit_ratio"][model], "x"))
    elif kind == "flagged_sums" and model in target.get("flagged_sums_ratio", {}):
        out.append(Budget("target", f"{name} flagged windows' statistics <= {target['flagged_sums_ratio'][model]:g} x "
                          "their sums alone", target["flagged_sums_ratio"][model], "x"))
    elif kind == "load_peak":
        peak = target["load_peak"]
        out.append(Budget("target", f"load's traced peak <= {peak['ratio']:g} x (file + arrays + "
                          f"{peak['state_factor']:g} x state + {peak['fixed_kb']:g} kB)", peak["ratio"], "x"))
    elif kind == "update_accuracy":
        out.append(Budget("target", f"{name} MAE after 10 updates <= {target['update_accuracy_ratio'][model]:g} x "
                          "a refit's", target["update_accuracy_ratio"][model], "x"))
    return out


def over_budget(case: str, kind: str, model: str, figure: float, unit: str, factor: float = 1.0,
                wall: float | None = None, label: str | None = None) -> list[str]:
    """One message per budget ``figure`` exceeds, naming case, figure, budget and layer.

    ``figure`` is what the budget sees (for times, the median CPU time of a call, which is
    the wall time on an idle machine; ``label`` says which), ``wall`` the raw wall median.
    """
    messages = []
    shown = _fmt(figure, unit)
    if label:
        shown += f" ({label}; wall median {_fmt(wall, unit)})"
    for budget in budgets_for(kind, model, factor):
        if figure > budget.limit:
            critical = ""
            if unit == "MB" and figure > BUDGETS["old_report"]["memory_critical_mb"]:
                critical = " CRITICAL"
            messages.append(f"OVER BUDGET{critical}: {case}: {shown} > budget {budget.what} "
                            f"(layer: {budget.layer})")
    return messages


# -- the record every case leaves for the summary ----------------------------------------------------
@dataclass
class Row:
    case: str
    model: str
    kind: str
    figure: float
    unit: str
    calibration_s: float | None = None  # the calibration's CPU median around the case
    normalised: float | None = None  # CPU median of a call / calibration_s (what the gate compares)
    cpu_share: float | None = None  # share of a core the calibration got around the case (CPU / wall)
    budget_figure: float | None = None  # the figure the budgets see (CPU median, or wall x share)
    baseline: float | None = None  # the baseline's normalised time or memory growth
    ratio: float | None = None  # timed cases: CPU time per call over the baseline's (paired, or normalised)
    latency_ratio: float | None = None  # timed cases: latency (wall less queueing) over the baseline's
    versus: str | None = None  # "code": the baseline's code in alternating rounds; "figures": its stored figures
    verdict: str = "ok"
    extra: dict[str, Any] = field(default_factory=dict)


RESULTS: list[Row] = []
# Which attempt of a timed case is running (0: the first; the gate re-measures a failing case). Read by
# ``perf/inject_regression.py`` to inject a slow-down into the first attempt only.
ATTEMPT: list[int] = [0]
# The least contended calibration CPU median seen so far in this run (budgets rescale to it).
REFERENCE_CALIBRATION: list[float | None] = [None]


def median(values) -> float:
    return float(statistics.median(values))


def timed(operation: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        operation()
        times.append(time.perf_counter() - start)
    return times


def dataset_or_skip(frames: dict, name: str):
    """The loaded dataset, or a skip that says it is not available."""
    import pytest

    frame = frames[name]
    if frame is None:
        pytest.skip(f"{name}: dataset not available")
    return frame


class PeakRSS:
    """Peak RSS of this process during a block (psutil, sampled every 5 ms) minus the RSS before it, in MB:
    ``with PeakRSS() as rss: ...`` then ``rss.growth_mb``. For a block run in this process (the fresh-process
    figures of ``perf.memory`` need a child)."""

    def __enter__(self):
        import threading

        import psutil

        self.process = psutil.Process()
        self.before = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.growth_mb = (self.peak - self.before) / 2**20
