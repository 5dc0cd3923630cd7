"""The perf suite's fixtures and its gate.

* Budgets (``perf/budgets.toml``, two layers) are checked in every run, on the latency of a call
  (its wall time less the time it waited for a core: CPU time plus the code's own waits).
* With ``--benchmark-compare`` (pytest-benchmark's stored baselines in ``.benchmarks/``), every
  gated case is also compared with its baseline, on CPU time and on latency, both per call:
  - paired cases (marker ``paired``: fit, predict, init, scaling, update) against the baseline's
    *code* (the commit that saved the baseline, extracted with ``git archive`` and imported
    beside the code under test; ``--perf-base``), in rounds alternating with it, so that the
    machine's state, then and now, cancels out;
    A paired case that code cannot run (added to the baseline since) alternates with the code of
    ``later_base`` (budgets.toml) instead;
  - other cases, or where no such code is available or can run the case, against the
    stored figures, CPU time normalised by the calibration workload measured before each round;
  - memory as the growth in MB.
  pytest-benchmark's own ``--benchmark-compare-fail`` sees neither ratios nor ``extra_info``, hence this gate.
* At the end: every case's raw and normalised figures and ratios, then the old report's table beside ours.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from perf import harness, paired
from perf.harness import BUDGETS, RESULTS, Row, median, over_budget
from perf.report import print_summary

GATE = BUDGETS["gate"]


class BASE:
    """The baseline's code, loaded beside the code under test for the paired cases (None: gate on figures)."""

    library: paired.Library | None = None
    label: str = ""
    note: str = ""  # why there is none, for the summary
    missing: str = ""  # why the code asked for (--perf-base, by default the baseline's commit) could not be loaded
    folder: Path | None = None
    tree: Path | None = None  # the source tree holding that code (the memory cases run it in fresh processes)


class LATER:
    """The code that pairs the cases the baseline's code cannot run (``later_base`` in budgets.toml's ``[gate]``),
    loaded the first time a case needs it."""

    commit: str = str(GATE.get("later_base", ""))
    library: paired.Library | None = None
    label: str = ""
    missing: str = ""  # why it could not be loaded
    folder: Path | None = None


def _later_library() -> paired.Library | None:
    if LATER.library is None and LATER.commit and not LATER.missing:
        try:
            LATER.folder = paired.extract(LATER.commit, harness.ROOT)
            LATER.library = paired.load(LATER.folder, LATER.commit)
            LATER.label = f"commit {LATER.commit[:10]}"
        except Exception as error:  # noqa: BLE001 - those cases stay on the stored figures, and the summary says why
            LATER.missing = f"{LATER.commit[:10]} could not be loaded: {type(error).__name__}: {str(error)[:200]}"
    return LATER.library


def pytest_addoption(parser):
    parser.addoption(
        "--perf-base", default="baseline", metavar="WHAT",
        help="code the gate measures the paired cases against, in alternating rounds: 'baseline' (default: the commit "
             "that recorded the compared baseline, with --benchmark-compare), a git commit, a source tree's path, or "
             "'none' (compare with the stored figures only)")


def pytest_configure(config):
    config.addinivalue_line("markers", "paired: with a baseline's code loaded, also measure the test's perf.time "
                                       "operations on it, in rounds alternating with the code under test")
    # A case that measures a figure of its own (a ratio of alternated runs, a speed-up, a drift) records it through the
    # perf fixture, which holds pytest-benchmark's fixture without running its timer: pytest-benchmark's warning that
    # it went unused is then by design, and would bury a warning that is not in every run's log.
    config.addinivalue_line("filterwarnings", "ignore:Benchmark fixture was not used at all in this test")


def pytest_sessionstart(session):
    bs = getattr(session.config, "_benchmarksession", None)
    if bs is not None and bs.compare and not bs.compared_mapping:
        raise pytest.UsageError(
            f"--benchmark-compare found no stored baseline in {bs.storage} (machine id {bs.machine_id}): the gate "
            "cannot gate. Save one on this machine kind with `pytest perf/ --benchmark-save=baseline` "
            "(see CONTRIBUTING.md, Performance suite)."
        )
    if bs is not None and bs.compare and bs.compared_mapping:
        # The baseline's least contended calibration: budgets are then judged at the baseline machine's speed.
        stored = [b.get("extra_info", {}).get("calibration_cpu_s") for b in list(bs.compared_mapping.values())[-1].values()]
        stored = [c for c in stored if c]
        if stored:
            harness.REFERENCE_CALIBRATION[0] = min(stored)
    given = os.environ.get("PERF_REFERENCE_CALIBRATION")
    if given:
        # A run started by another perf run (perf/test_gate.py) judges budgets at the speed its parent judges them.
        harness.REFERENCE_CALIBRATION[0] = float(given)
    _load_base(session.config, bs)


def _load_base(config, bs) -> None:
    """Load the code the paired cases are measured against (see ``--perf-base``)."""
    what = config.getoption("--perf-base")
    comparing = bs is not None and bs.compare and bs.compared_mapping
    if what == "none" or (what == "baseline" and not comparing):
        BASE.note = "not comparing" if what == "baseline" else "--perf-base=none"
        return
    try:
        if what == "baseline":
            path = Path(bs.storage.path) / list(bs.compared_mapping)[-1]
            commit = json.loads(path.read_text())["commit_info"]
            what = commit["id"]
            if commit.get("dirty"):
                BASE.note = BASE.missing = f"the baseline was saved from a dirty tree at {what[:10]}: its code is unknown"
                return
        if Path(what).is_dir():
            BASE.library, BASE.label = paired.load(Path(what), what), f"source tree {what}"
            BASE.tree = Path(what).resolve()
        else:
            BASE.folder = paired.extract(what, harness.ROOT)
            BASE.library, BASE.label = paired.load(BASE.folder, what), f"commit {what[:10]}"
            BASE.tree = BASE.folder
    except Exception as error:  # noqa: BLE001 - no code to pair with: the stored figures, and the run fails at the end
        BASE.note = BASE.missing = (f"the baseline's code ({what}) could not be loaded: {type(error).__name__}: "
                                    f"{' '.join(str(error).split())[:300]}")


def _comparing(config) -> bool:
    bs = getattr(config, "_benchmarksession", None)
    return bool(bs is not None and bs.compare and bs.compared_mapping)


def pytest_sessionfinish(session):
    for folder in (BASE.folder, LATER.folder):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    if gate_summary(RESULTS, _comparing(session.config))[1] and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # the summary says why


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A paired case runs twice: first with the baseline's code active, recording each ``perf.time`` operation
    (run once, not timed), then as usual, its ``perf.time`` alternating rounds of both. A case the baseline's
    code cannot run (one added to the baseline after it was saved) is paired in the same way with the later
    code named by ``later_base``, and where that cannot run it either, gated on the stored figures."""
    recorder = pyfuncitem.funcargs.get("perf")
    if not isinstance(recorder, Recorder) or pyfuncitem.get_closest_marker("paired") is None:
        return None
    if BASE.library is None:
        recorder.without_code = True
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    recorder.phase = "base"
    try:
        with paired.active(BASE.library):
            pyfuncitem.obj(**arguments)
    except Exception as error:  # noqa: BLE001 - skips (BaseException) pass through
        recorder.base_error = f"{type(error).__name__}: {str(error)[:200]}"
        recorder.base_operations.clear()
        later = _later_library()
        if later is not None:
            try:
                with paired.active(later):
                    pyfuncitem.obj(**arguments)
                recorder.base_library, recorder.base_label = later, LATER.label
                recorder.first_base_error, recorder.base_error = recorder.base_error, None
            except Exception as later_error:  # noqa: BLE001 - neither code runs it: the stored figures
                recorder.base_error += f"; {LATER.label} neither: {type(later_error).__name__}: {str(later_error)[:200]}"
                recorder.base_operations.clear()
    finally:
        recorder.phase = "head"
    return None


def pytest_collection_modifyitems(config, items):
    # The calibration case first, the regression-injection test last (it runs the suite in subprocesses).
    items.sort(key=lambda item: (0 if "test_calibration" in item.nodeid else 2 if "test_gate" in item.nodeid else 1))


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        print_summary(terminalreporter.write_line, RESULTS, BUDGETS)
        lines, failure = gate_summary(RESULTS, _comparing(terminalreporter.config))
        for line in lines + ([failure] if failure else []):
            terminalreporter.write_line(line, red=line is failure)
    if harness.GATE_RUNS:
        terminalreporter.write_line(f"gate proofs: {len(harness.GATE_RUNS)} pytest runs, wall seconds (side by side "
                                    "where the proofs fixture runs two at a time): " + "; ".join(
                                        f"{_short_kinds(what)} ({cases} cases) {seconds:.0f} s"
                                        for what, cases, seconds in harness.GATE_RUNS))


def _short_kinds(inject: str) -> str:
    kinds = inject.split(",")
    return inject if len(kinds) <= 2 else f"{kinds[0]},... ({len(kinds)} kinds)"


def gate_summary(rows: list[Row], comparing: bool) -> tuple[list[str], str | None]:
    """What the gate compared each case with, naming the cases it did not compare; and, when comparing, why the
    run fails where the gate compared none of the cases it should have (no baseline it could use for any)."""
    if not comparing:
        return [], None
    timed = [row for row in rows if row.extra.get("gate")]
    memory = [row for row in rows if row.unit == "MB" and row.kind.startswith("memory_")]
    paired_rows = [row for row in timed if row.versus == "code"]
    stored = [row for row in timed if row.versus == "figures"]
    code_only = [row.case for row in paired_rows if row.extra.get("stored_baseline") is False]
    lines = [f"gate: {len(paired_rows)} of {len(timed)} timed cases against the baseline's code "
             f"({BASE.label or BASE.note}) in alternating rounds, {len(stored)} against the stored figures; the clock "
             f"{'sees' if paired.QUEUE_VISIBLE else 'does NOT see'} queueing (/proc/thread-self/schedstat)"] if timed else []
    if code_only:
        lines.append(f"gate: not in the stored baseline, compared with the baseline's code only: {', '.join(code_only)}")
    later = [row.case for row in paired_rows if row.extra.get("later_base")]
    if later:
        lines.append(f"gate: paired with the later code ({LATER.label}, budgets.toml later_base) "
                     f"since the baseline's code cannot run them: {', '.join(later)}")
    if LATER.missing:
        lines.append(f"gate: later_base {LATER.missing}")
    memory_gated = [row for row in memory if row.baseline is not None]
    if memory:
        on_code = sum(row.versus == "code" for row in memory_gated)
        lines.append(f"gate: {len(memory_gated)} of {len(memory)} memory figures compared (RSS growth and traced peak): "
                     f"{on_code} against the baseline's code in fresh processes of the same run, "
                     f"{len(memory_gated) - on_code} against the stored baseline")
    ungated = [row.case for row in timed + memory if row.versus is None and row.baseline is None]
    if ungated:
        lines.append(f"gate: NOT compared with any baseline (not in the stored one and no baseline code ran them; "
                     f"refresh the baseline): {', '.join(ungated)}")
    compared = {id(row) for row in timed + memory}
    timed_cases = {row.case for row in timed}
    budget_only = [row.case if row.case not in timed_cases else f"{row.case} ({row.kind})" for row in rows
                   if id(row) not in compared and row.kind != "calibration"]
    if budget_only:
        lines.append(f"gate: budgets only, never compared with a baseline: {', '.join(budget_only)}")
    # A 2x slow-down of a case at r x its baseline reads 2r: at r <= 0.75 it passes a 1.5x threshold, and within
    # 10 % above (fit[ensemble-synthetic] at 0.755x read an injected 2x at 1.47-1.50x) it passes or fails by noise.
    near = 1.1 * GATE["time_ratio"] / 2
    stale = [f"{row.case} {min(row.ratio, row.latency_ratio):.2f}x" for row in paired_rows + stored
             if min(row.ratio, row.latency_ratio) < near]
    if stale:
        lines.append(f"gate: WARNING: under {near:.3g}x the baseline, so a 2x slow-down of these would read under "
                     f"{2 * near:.3g}x, not surely over the {GATE['time_ratio']:g}x threshold: {', '.join(stale)}; "
                     "refresh the baseline (CONTRIBUTING.md)")
    not_run = [row.case for row in stored + memory if row.extra.get("base_code_error")]
    if not_run:
        lines.append(f"gate: paired cases the baseline's code could not run, on the stored figures: {', '.join(not_run)}")
    failure = None
    if timed + memory and not (paired_rows or stored or memory_gated):
        failure = (f"REGRESSION GATE: --benchmark-compare compared none of the {len(timed + memory)} timed and memory "
                   "cases with a baseline: the gate did not gate (see the lines above; refresh the baseline)")
    elif BASE.missing and any(row.extra.get("paired_without_code") for row in timed + memory):
        failure = (f"REGRESSION GATE: {BASE.missing}. The paired cases fell back on the stored figures, which only the "
                   "calibration brings to this machine's speed (on a host unlike the baseline's, unchanged code read "
                   "0.66x-2.03x of them: a 2x slow-down can pass and noise can fail), and the memory cases on stored "
                   "RSS growths with a 15 MB slack (a 2x of growths under 15 MB passes). Make the baseline's commit "
                   "reachable (a full clone: git fetch --unshallow) or pass --perf-base=none to gate on the stored "
                   "figures knowingly.")
    return lines, failure


@pytest.fixture(scope="session", autouse=True)
def pinned_threads():
    """torch threads pinned for the whole session (the under-load cases restore torch's default)."""
    import torch

    default = torch.get_num_threads()
    harness.pin_threads()
    yield default
    torch.set_num_threads(default)


@pytest.fixture(scope="session")
def calibration():
    return harness.Calibration()


def _baseline(request, fullname: str) -> dict | None:
    bs = getattr(request.config, "_benchmarksession", None)
    if bs is None or not bs.compare or not bs.compared_mapping:
        return None
    latest = list(bs.compared_mapping.values())[-1]
    return latest.get(fullname)


class Recorder:
    """Measures a case, records raw and normalised figures, checks budgets and the baseline, fails loudly."""

    def __init__(self, request, benchmark, calibration):
        self.request = request
        self.benchmark = benchmark
        self.calibration = calibration
        self.case = request.node.name.replace("test_", "", 1)
        self.phase = "head"  # "base" during the first pass of a paired case
        self.base_operations: list[tuple] = []  # what that pass measured, in order, on the baseline's code
        self.base_error: str | None = None
        self.base_library, self.base_label = BASE.library, BASE.label  # the code the rounds alternate with
        self.first_base_error: str | None = None  # why the baseline's code could not, when the later code ran the case
        self.without_code = False  # a paired case run without the baseline's code (none could be loaded)

    # -- measuring ---------------------------------------------------------------------------------
    def time(self, kind: str, model: str, target, setup=None, rounds: int = 5, warmup_rounds: int = 1,
             calls: int = 1, gate: bool = True, budget_factor: float = 1.0, budget_kind: str | None = None,
             extra: dict | None = None, calibration_runs: int = 1, budget_on: str = "cpu"):
        """Benchmark ``target`` in pedantic mode, each round right after a calibration run.

        ``setup`` (optional) returns a fresh model each round. ``calls`` > 1 makes one round
        ``calls`` calls of ``target`` (calls of a millisecond or less); figures are per call.
        Each round records its wall time, the CPU time of the calling thread and the time the
        thread waited for a core (:class:`perf.paired.Clock`). The cases run single-threaded
        (torch pinned, BLAS limited by the library), so ``latency = wall - queueing`` is the wall
        time of an idle machine: CPU time plus the waits of the code itself (sleeps, locks, I/O),
        which neighbours that take turns on the cores do not move. Budgets (``budget_on="cpu"``)
        see the latency, its CPU part rescaled by the calibration (least contended calibration of
        the run / the case's own: neighbours sharing caches or the host inflate CPU time as well).
        ``budget_on="wall"`` (under load, where torch keeps its threads) budgets the wall median
        times the CPU share the calibration got.

        In a paired case (marker ``paired``, with the baseline's code loaded: see
        ``pytest_pyfunc_call``) every round of the code under test follows a round of the same
        operation on the baseline's code, and the gate compares the two per call: CPU time and
        latency, the median of the per-pair ratios (both sides make ``calls`` calls per round).
        """
        if self.phase == "base":  # the first pass of a paired case: keep the baseline code's operation
            # Its rounds make as many calls as the code under test's: the same work per round, so that work
            # done every n-th call (a periodic recomputation) weighs alike in both medians.
            self.base_operations.append((target, setup))
            args, kwargs = setup() if setup is not None else ((), {})
            return target(*args, **kwargs)
        base_operation = self.base_operations.pop(0) if (gate and self.base_operations) else None
        self.benchmark.group = kind
        label = "latency median" if budget_on == "cpu" else "wall median x CPU share"
        attempts, tried = 1 + int(GATE.get("confirm_reruns", 0)), []
        for attempt in range(attempts):
            harness.ATTEMPT[0] = attempt
            cal_wall, cal_cpu, head, base, index = [], [], [], [], [0]

            def setup_with_calibration():
                # Paired, the calibration only serves budgets and the stored figures: every fourth round is enough.
                if base_operation is None or index[0] % 4 == 0:
                    wall, cpu = self.calibration.seconds(calibration_runs)
                    cal_wall.append(median(wall))
                    cal_cpu.append(median(cpu))
                # The base pass ran the baseline's operation once: it stands for its first warm-up round.
                if base_operation is not None and not (attempt == 0 and index[0] == 0 and warmup_rounds > 0):
                    base.append(self._base_round(base_operation[0], base_operation[1], calls))
                index[0] += 1
                return setup() if setup is not None else ((), {})

            def timed(*args, **kwargs):
                with paired.Clock() as clock:
                    for _ in range(calls):
                        result = target(*args, **kwargs)
                head.append(clock.sample)
                return result

            if attempt == 0:
                result = self.benchmark.pedantic(timed, setup=setup_with_calibration, rounds=rounds,
                                                 warmup_rounds=warmup_rounds, iterations=1)
            else:  # a confirmation: pytest-benchmark's fixture runs once per test, so the same loop by hand
                for _ in range(warmup_rounds + rounds):
                    args, kwargs = setup_with_calibration()
                    result = timed(*args, **kwargs)
            head = head[-rounds:]
            kept = rounds if base_operation is None else -(-rounds // 4)
            cal_wall, cal_cpu = cal_wall[-kept:], cal_cpu[-kept:]
            base = [b for b in base[-rounds:] if b is not None] if base_operation is not None else []
            if base_operation is not None and len(base) < rounds:
                self.base_error = self.base_error or "the baseline's code failed in a round"
                base = []
            row, budget_label = self._time_row(model, kind, head, cal_wall, cal_cpu, calls, budget_on, extra,
                                               base, calls)
            row.extra["gate"] = gate
            if self.without_code and gate:
                row.extra["paired_without_code"] = True
            problems = self._problems(row, budget_kind or kind, budget_factor, "time" if gate else None,
                                      budget_label=f"{label}{budget_label}")
            tried.append(row)
            if not problems:
                break
        harness.ATTEMPT[0] = 0
        # A regression or an overrun must show in every attempt: one noisy measurement (a neighbour on the
        # other hyperthread slows the case more than the calibration) re-measures instead of failing CI.
        row.extra["attempts"] = [_attempt_summary(r) for r in tried]
        self.benchmark.extra_info.update({**row.extra, **(extra or {})})
        self.benchmark.extra_info.update(figure=row.figure, unit="s", calibration_cpu_s=row.calibration_s,
                                         normalised=row.normalised, cpu_share=row.cpu_share, calls_per_round=calls,
                                         kind=kind, model=model)
        if len(tried) > 1 and not problems:
            earlier = ", ".join(f"{r.ratio:.2f}x" if r.ratio is not None else "over budget" for r in tried[:-1])
            row.verdict = f"ok at attempt {len(tried)} (before: {earlier})"
        self._record(row, problems, fail=True, attempts=row.extra["attempts"])
        return result

    def _not_in_base_pass(self) -> None:
        if self.phase == "base":
            raise RuntimeError("a paired case measures with perf.time only")

    def _base_round(self, target, setup, calls) -> paired.Sample | None:
        """One round of the baseline's code (its modules active); None when it raises."""
        try:
            with paired.active(self.base_library):
                args, kwargs = setup() if setup is not None else ((), {})
                with paired.Clock() as clock:
                    for _ in range(calls):
                        target(*args, **kwargs)
            return clock.sample
        except Exception as error:  # noqa: BLE001 - the baseline's code may not run this case: gate on figures
            self.base_error = f"{type(error).__name__}: {str(error)[:200]}"
            return None

    def _time_row(self, model, kind, head, cal_wall, cal_cpu, calls, budget_on, extra, base, base_calls):
        wall = median(s.wall for s in head) / calls
        cpu = median(s.cpu for s in head) / calls
        latency = median(s.latency for s in head) / calls
        cal = median(cal_cpu)
        share = min(1.0, median(c / w for c, w in zip(cal_cpu, cal_wall)))
        # A neighbour on the other hyperthread, or the host taking the vCPU, inflates CPU time too. The
        # yardstick shows it: budgets see the CPU part rescaled to the least contended calibration of the run
        # (or of the stored baseline, when comparing); waits count as they are.
        reference = harness.REFERENCE_CALIBRATION[0] = min(harness.REFERENCE_CALIBRATION[0] or cal, cal)
        contention = reference / cal
        if budget_on == "cpu":
            budget_figure = median(s.cpu * contention + s.blocked for s in head) / calls
        else:
            budget_figure = wall * share
        row = Row(self.case, model, kind, wall, "s", calibration_s=cal, normalised=cpu / cal, cpu_share=share,
                  budget_figure=budget_figure, extra=dict(extra or {}))
        row.extra.update(cpu_s=cpu, latency_s=latency, blocked_s=median(s.blocked for s in head) / calls,
                         queued_s=median(s.queued for s in head) / calls, contention_factor=contention,
                         calibration_wall_s=median(cal_wall), normalised_latency=latency / cal,
                         normalised_wall=wall / median(cal_wall), clock_sees_queueing=paired.QUEUE_VISIBLE)
        if base:
            row.extra.update(
                base_code=self.base_label, base_cpu_s=median(s.cpu for s in base) / base_calls,
                base_latency_s=median(s.latency for s in base) / base_calls,
                paired_cpu_ratio=median((h.cpu / calls) / (b.cpu / base_calls) for h, b in zip(head, base)),
                paired_latency_ratio=median((h.latency / calls) / (b.latency / base_calls) for h, b in zip(head, base)))
        elif self.base_error:
            row.extra["base_code_error"] = self.base_error
        if base and self.first_base_error:
            row.extra["later_base"] = self.base_label
            row.extra["first_base_error"] = self.first_base_error
        label = f" {budget_figure * 1e3:.3f} ms" if budget_on == "cpu" else f" {share:.2f}"
        if budget_on == "cpu" and row.extra["blocked_s"] > 0.01 * cpu:
            label += f" of which {row.extra['blocked_s'] * 1e3:.3f} ms off-CPU"
        if contention < 0.995:
            label += (f", CPU x {contention:.2f}: calibration {cal * 1e3:.2f} ms here vs {reference * 1e3:.2f} ms at "
                      "the least contended point of this run or its baseline")
        return row, label

    def memory(self, model: str, state: str, dataset: str, gate: bool = True) -> dict:
        """Memory growth of a fit and of a predict(10), median over ``memory_repeats`` fresh processes: the peak
        RSS growth, and the peak of the memory ``tracemalloc`` traces (Python's and numpy's; see ``perf/_child.py``).

        Comparing, with the baseline's code loaded, as many processes measure the baseline's package (its source
        tree first on ``sys.path``), alternating with ours, and the gate compares the medians of the same run.
        The processes run side by side (RSS is per process, and no time is measured meanwhile), which halves the
        wall time of the memory cases on 2 cores. Each process measures the cold state, then the warm one
        (``perf/_child.py``): the case of one state keeps the other's measurements for that state's case, which
        reads them as its first attempt (its case runs next: the states are one parametrisation apart), so a
        model's two cases start as many processes as one. A case over its budget or the gate is measured again,
        up to ``confirm_reruns`` times, in fresh processes, and fails when every attempt fails.
        """
        self._not_in_base_pass()
        from concurrent.futures import ThreadPoolExecutor

        self.benchmark.group = f"memory {state}"
        repeats = int(harness.SETTINGS["memory_repeats"])
        args = ("memory", model, dataset, str(harness.SETTINGS["torch_threads"]))
        tree = BASE.tree if gate and _comparing(self.request.config) else None
        for source in filter(None, (harness.ROOT, tree)):
            _compiled(source)
        measured: dict[str, list] = {}
        other = "cold" if state == "warm" else "warm"

        def side_by_side(first: bool):
            kept = MEMORY_RUNS.pop((model, state, dataset, tree), None)
            if kept is not None:  # measured by the other state's case, in its first attempt
                measured.update(kept)
                self.base_error = kept["base_error"]
                return
            with ThreadPoolExecutor(repeats) as pool:
                ours = [pool.submit(harness.run_child, *args)]
                theirs = []
                for _ in range(repeats - 1 if tree is None else repeats):  # ours, theirs, ours, theirs, ...
                    if tree is not None:
                        theirs.append(pool.submit(harness.run_child, *args, str(tree)))
                    if len(ours) < repeats:
                        ours.append(pool.submit(harness.run_child, *args))
                runs = [future.result() for future in ours]
                base_runs, self.base_error = _base_runs(theirs, tree)
            measured.update(ours=[_state_of(run, state) for run in runs],
                            theirs=[_state_of(run, state) for run in base_runs])
            if first:  # the other state's case reads these as its first attempt
                MEMORY_RUNS[(model, other, dataset, tree)] = {
                    "ours": [_state_of(run, other) for run in runs],
                    "theirs": [_state_of(run, other) for run in base_runs], "base_error": self.base_error}

        attempts, tried = 1 + int(GATE.get("confirm_reruns", 0)), []
        for attempt in range(attempts):
            if attempt == 0:
                self.benchmark.pedantic(side_by_side, args=(True,), rounds=1, iterations=1)
            else:
                side_by_side(False)
            runs, base_runs = measured["ours"], measured["theirs"]
            if "skipped" in runs[0]:
                pytest.skip(runs[0]["skipped"])
            rows, growth, problems = self._memory_rows(model, state, runs, base_runs, gate)
            tried.append("; ".join(f"{row.case.split(' ', 1)[1]} {row.figure:.3f} MB"
                                   + (f" vs {row.baseline:.3f} MB" if row.baseline is not None else "") for row in rows))
            if not problems:
                break
        for row in rows:
            self._record(row, [p for p in problems if p.split(": ")[1] == row.case], fail=False)
            row.extra["attempts"] = tried
        if len(tried) > 1 and not problems:
            for row in rows:
                row.verdict = f"ok at attempt {len(tried)}"
        self.benchmark.extra_info.update(unit="MB", kind=f"memory_{state}", model=model, attempts=tried)
        if problems:
            if len(tried) > 1:
                problems.append(f"  every one of {len(tried)} attempts failed: " + " | ".join(tried))
            pytest.fail("\n".join(problems), pytrace=False)
        return growth

    def _memory_rows(self, model: str, state: str, runs: list[dict], base_runs: list[dict], gate: bool):
        """The four figures of a memory case (RSS growth and traced peak, of fit and predict), checked."""
        rows, growth, problems = [], {}, []
        for phase in ("fit", "predict"):
            for measure, stored_key, kind in (("growth_mb", f"growth_{phase}_mb", f"memory_{phase}_{state}"),
                                              ("traced_mb", f"traced_{phase}_mb", f"memory_traced_{phase}_{state}")):
                values = [r[phase][measure] for r in runs]
                if None in values:
                    continue  # not traced (tracemalloc unavailable)
                figure = median(values)
                extra = {f"{measure}_runs": [round(v, 4) for v in values],
                         "before_mb": round(median(r[phase]["before_mb"] for r in runs), 1)}
                if base_runs:
                    base_values = [r[phase][measure] for r in base_runs]
                    extra.update(base_figure=median(base_values), base_runs=[round(v, 4) for v in base_values],
                                 base_code=BASE.label)
                elif self.base_error:
                    extra["base_code_error"] = self.base_error
                elif BASE.missing and gate:
                    extra["paired_without_code"] = True
                traced = measure == "traced_mb"
                row = Row(f"{self.case} {phase}{' traced' if traced else ''}", model, kind, figure, "MB", extra=extra)
                self.benchmark.extra_info[stored_key] = figure
                self.benchmark.extra_info[f"{phase}{'_traced' if traced else ''}_runs"] = extra
                if not traced:
                    growth[phase] = figure
                problems += self._problems(row, None if traced else f"memory_{state}", 1.0,
                                           "memory" if gate else None, baseline_key=stored_key)
                rows.append(row)
        return rows, growth, problems

    def once(self, group: str, operation) -> float:
        """Run ``operation`` once under the benchmark; the CPU share the calibration got around it."""
        self._not_in_base_pass()
        self.benchmark.group = group
        wall_before, cpu_before = self.calibration.seconds(3)
        self.benchmark.pedantic(operation, rounds=1, iterations=1)
        wall_after, cpu_after = self.calibration.seconds(3)
        return min(1.0, median(cpu_before + cpu_after) / median(wall_before + wall_after))

    def figure(self, kind: str, model: str, figure: float, unit: str, budget_kind: str | None = None,
               budget_factor: float = 1.0, cpu_share: float | None = None, extra: dict | None = None):
        """Record a figure measured by the test itself (ratios, throughput, latencies); budgets only."""
        self._not_in_base_pass()
        budget_figure = figure * cpu_share if cpu_share is not None else None
        row = Row(self.case, model, kind, figure, unit, cpu_share=cpu_share, budget_figure=budget_figure,
                  extra=dict(extra or {}))
        self.benchmark.extra_info.update(figure=figure, unit=unit, kind=kind, model=model, cpu_share=cpu_share,
                                         **row.extra)
        self._finish(row, budget_kind, budget_factor, gate_metric=None,
                     budget_label="x CPU share" if cpu_share is not None else None)

    def confirmed_figure(self, kind: str, model: str, measure, unit: str, budget_kind: str) -> float:
        """``measure(attempt)`` -> (figure, extra), recorded with ``figure``; re-measured while over budget.

        The same policy as timed cases (``confirm_reruns``): the case fails only when every
        attempt is over its budget.
        """
        self._not_in_base_pass()
        attempts, tried = 1 + int(GATE.get("confirm_reruns", 0)), []
        for attempt in range(attempts):
            figure, extra = measure(attempt)
            tried.append(figure)
            if not over_budget(self.case, budget_kind, model, figure, unit):
                break
        self.figure(kind, model, figure, unit, budget_kind=budget_kind,
                    extra={**extra, "attempts": [round(f, 4) for f in tried]})
        if len(tried) > 1 and RESULTS[-1].verdict == "ok":
            RESULTS[-1].verdict = f"ok at attempt {len(tried)} (before: {', '.join(f'{f:.3f}' for f in tried[:-1])})"
        return figure

    # -- checking ----------------------------------------------------------------------------------
    def _problems(self, row: Row, budget_kind: str | None, factor: float, gate_metric: str | None,
                  baseline_key: str = "growth_mb", budget_label: str | None = None) -> list[str]:
        problems = []
        if budget_kind:
            figure = row.figure if row.budget_figure is None else row.budget_figure
            problems += over_budget(row.case, budget_kind, row.model, figure, row.unit, factor, row.figure,
                                    budget_label)
        if gate_metric:
            problems += self._gate(row, gate_metric, baseline_key)
        return problems

    def _record(self, row: Row, problems: list[str], fail: bool = True, attempts: list | None = None) -> None:
        if problems:
            row.verdict = "FAIL"
        RESULTS.append(row)
        if problems and fail:
            if attempts and len(attempts) > 1:
                problems = problems + [f"  every one of {len(attempts)} attempts failed: " + "; ".join(attempts)]
            pytest.fail("\n".join(problems), pytrace=False)

    def _finish(self, row: Row, budget_kind: str | None, factor: float, gate_metric: str | None,
                baseline_key: str = "growth_mb", fail: bool = True, budget_label: str | None = None) -> list[str]:
        problems = self._problems(row, budget_kind, factor, gate_metric, baseline_key, budget_label)
        self._record(row, problems, fail)
        return problems

    def _time_gate(self, row: Row, info: dict) -> list[str]:
        """CPU time and latency against the baseline's code (paired rounds) or, without it, its stored figures."""
        threshold, extra, nan = GATE["time_ratio"], row.extra, float("nan")
        stored = self._stored_ratios(row, info)
        if stored:
            extra["stored_cpu_ratio"], extra["stored_latency_ratio"] = stored
        if "paired_cpu_ratio" in extra:
            row.ratio, row.latency_ratio, row.versus = extra["paired_cpu_ratio"], extra["paired_latency_ratio"], "code"
            figures = (f"CPU {extra['cpu_s'] * 1e3:.3f} ms vs {extra['base_cpu_s'] * 1e3:.3f} ms, latency "
                       f"{extra['latency_s'] * 1e3:.3f} ms vs {extra['base_latency_s'] * 1e3:.3f} ms per call; layer: the "
                       f"baseline's code ({self.base_label}), measured in alternating rounds")
        elif stored:
            row.ratio, row.latency_ratio = stored
            row.versus = "figures"
            figures = (f"CPU {extra['cpu_s'] * 1e3:.3f} ms now vs {info.get('cpu_s', nan) * 1e3:.3f} ms, latency "
                       f"{extra['latency_s'] * 1e3:.3f} ms now, calibration {row.calibration_s * 1e3:.2f} ms now vs "
                       f"{info.get('calibration_cpu_s', nan) * 1e3:.2f} ms; layer: stored baseline's figures"
                       + (f"; the baseline's code could not run: {self.base_error}" if self.base_error else ""))
        else:
            return [f"REGRESSION GATE: {row.case}: the baseline has no normalised figure; refresh it."]
        row.baseline = float(info["normalised"]) if "normalised" in info else None
        problems = []
        for what, ratio in (("CPU time", row.ratio), ("latency (wall time less queueing: waits count)", row.latency_ratio)):
            if ratio > threshold:
                problems.append(f"REGRESSION: {row.case}: {what} per call is {ratio:.2f}x the baseline's (threshold "
                                f"{threshold:g}x; {figures})")
        if row.versus == "code":
            problems += self._base_waits(row, info, threshold)
        return problems

    @staticmethod
    def _base_waits(row: Row, info: dict, threshold: float) -> list[str]:
        """Whatever slows both copies alike (a thread the code under test left running that holds the GIL, a lock
        or a process-wide setting it changed) cancels out of the paired ratios. The baseline's code shows it: its
        latency over its CPU time, measured beside the code under test, against the same quotient when the
        baseline was saved (1 where it was not: its code did not wait then), both on one machine."""
        base_cpu, base_latency = row.extra["base_cpu_s"], row.extra["base_latency_s"]
        saved = float(info["latency_s"]) / float(info["cpu_s"]) if info.get("latency_s") and info.get("cpu_s") else 1.0
        if base_cpu <= 0:
            return []
        waits = row.extra["base_wait_ratio"] = base_latency / base_cpu
        if waits <= threshold * max(1.0, saved):
            return []
        return [f"REGRESSION: {row.case}: the baseline's code, measured beside the code under test, now waits: its "
                f"latency is {waits:.2f}x its CPU time ({base_latency * 1e3:.3f} ms vs {base_cpu * 1e3:.3f} ms per call; "
                f"{saved:.2f}x when the baseline was saved; threshold {threshold:g}x that): something the code under test "
                "leaves in the process (a thread holding the GIL, a lock, a process-wide setting) slows both copies, "
                "which the paired ratios cannot see"]

    @staticmethod
    def _stored_ratios(row: Row, info: dict) -> tuple[float, float] | None:
        """(CPU, latency) now over the stored figures, the CPU parts normalised by the calibration.

        A baseline saved before latencies were recorded lacks ``latency_s``: its latency is taken as
        its CPU time (those runs had a CPU share of 1 and pure computations do not wait)."""
        if "normalised" not in info:
            return None
        cpu_ratio = row.normalised / float(info["normalised"])
        base_cpu = float(info["normalised"]) * row.calibration_s  # the baseline's CPU time at this run's speed
        base_blocked = max(0.0, float(info.get("latency_s", info.get("cpu_s", 0.0))) - float(info.get("cpu_s", 0.0)))
        return cpu_ratio, row.extra["latency_s"] / (base_cpu + base_blocked)

    def _gate(self, row: Row, metric: str, baseline_key: str = "growth_mb") -> list[str]:
        base = _baseline(self.request, self.benchmark.fullname)
        bs = getattr(self.request.config, "_benchmarksession", None)
        if base is None:
            if bs is None or not bs.compare:
                return []
            if metric == "time" and "paired_cpu_ratio" in row.extra:
                # Not in the stored baseline, but measured beside the baseline's code: gated against that code.
                row.extra["stored_baseline"] = False
                return self._time_gate(row, {})
            if metric == "memory":
                return self._memory_gate(row, None, baseline_key)
            row.verdict = "new"  # a case the baseline does not know yet: refresh the baseline
            return []
        info = base.get("extra_info", {})
        if metric == "time":
            return self._time_gate(row, info)
        return self._memory_gate(row, info, baseline_key)

    @staticmethod
    def _memory_gate(row: Row, info: dict | None, key: str) -> list[str]:
        """Memory growth against the baseline's code, measured in the same run (``row.extra["base_figure"]``), or
        else against the stored figure ``info[key]`` (``info`` None: the stored baseline lacks the case)."""
        traced = row.kind.startswith("memory_traced_")
        what = "traced peak" if traced else "RSS growth"
        if "base_figure" in row.extra:
            row.baseline, row.versus = float(row.extra["base_figure"]), "code"
            layer = f"the baseline's code ({BASE.label}) in fresh processes of this run"
        elif info is not None and key in info:
            row.baseline, row.versus = float(info[key]), "figures"
            layer = "stored baseline"
        elif info is None or traced:
            # Not in the stored baseline (a new case, or a baseline saved before traced peaks were measured) and no
            # baseline code ran it: compared with nothing, and named in the summary.
            row.verdict = "new"
            return []
        else:
            return [f"REGRESSION GATE: {row.case}: the baseline has no {key}; refresh it."]
        limit = memory_limit(row.baseline, row.versus, traced)
        slack = memory_limit(0.0, row.versus, traced)
        row.ratio = row.figure / row.baseline if row.baseline > 0 else (1.0 if row.figure <= 0 else float("inf"))
        if row.figure <= limit:
            return []
        return [f"REGRESSION: {row.case}: memory {what} {row.figure:.3f} MB vs the baseline's {row.baseline:.3f} MB "
                f"({row.ratio:.2f}x; threshold: {GATE['memory_ratio']:g}x it or {slack:g} MB above it, whichever is "
                f"more: {limit:.3f} MB; layer: {layer})"]


def memory_limit(baseline: float, versus: str, traced: bool) -> float:
    """The most memory (MB) a figure may grow to against ``baseline``: ``memory_ratio`` times it, and at least the
    slack above it that the figure's noise needs (``[gate]`` in budgets.toml): tracemalloc's peak is the same in
    every process within kilobytes; RSS growths measured in the same run differ by a few tenths of a MB; stored
    RSS growths, measured on another host, by several MB."""
    if traced:
        slack = GATE["memory_traced_slack_mb"]
    elif versus == "code":
        slack = GATE["memory_paired_slack_mb"]
    else:
        slack = GATE["memory_slack_mb"]
    return max(baseline * GATE["memory_ratio"], baseline + slack)


COMPILED: set[Path] = set()


def _compiled(tree: Path) -> None:
    """Compile ``tree``'s package to bytecode, once per run, as pip does on install. A process importing it from
    source (``PYTHONDONTWRITEBYTECODE=1``, this project's machines, and no ``.pyc`` yet) leaves the compiler's freed
    memory in the heap, which its first fit then reuses: DLinear's cold fit grew the RSS by 5.2 MB importing the
    baseline's code from source against 7.1 MB for ours from bytecode (1.37x, unchanged code), and by 5.3 MB for
    both from source. Both copies of a paired memory case import bytecode, as a user's install does."""
    import compileall

    if tree not in COMPILED:
        compileall.compile_dir(str(Path(tree) / paired.PACKAGE), quiet=1)
        COMPILED.add(tree)


# (model, state, dataset, baseline tree or None) -> {"ours", "theirs", "base_error"}: a state's runs measured in the
# same processes as the other state's case's first attempt, for its own first attempt (Recorder.memory).
MEMORY_RUNS: dict[tuple, dict] = {}


def _state_of(run: dict, state: str) -> dict:
    """One state's figures of a fresh process's memory run (``perf/_child.py`` measures cold, then warm)."""
    if "skipped" in run:
        return run
    return {**run[state], "torch_imported": run["torch_imported"], "package": run["package"]}


def _base_runs(futures: list, tree: Path | None) -> tuple[list[dict], str | None]:
    """The baseline's code's memory runs, or ([], why) when they failed or did not measure that code."""
    try:
        runs = [future.result() for future in futures]
    except Exception as error:  # noqa: BLE001 - the baseline's code may not run this case: gate on figures
        return [], f"{type(error).__name__}: {' '.join(str(error).split())[-300:]}"
    for run in runs:
        package = Path(run.get("package") or "")
        if "skipped" not in run and Path(tree).resolve() not in package.resolve().parents:
            return [], f"the baseline's processes measured {package}, not the code under {tree}"
    return runs, None


def _attempt_summary(row: Row) -> str:
    shown = (f"CPU median {row.extra['cpu_s'] * 1e3:.3f} ms, latency {row.extra['latency_s'] * 1e3:.3f} ms, "
             f"calibration {row.calibration_s * 1e3:.2f} ms")
    if row.ratio is not None:
        shown += f", {row.ratio:.2f}x / {row.latency_ratio:.2f}x the baseline's {row.versus}"
    return shown


@pytest.fixture
def perf(request, benchmark, calibration):
    return Recorder(request, benchmark, calibration)


@pytest.fixture(scope="session")
def frames():
    """The datasets, loaded once (timestamps parsed here, so fit measures the model and the door, not CSV parsing)."""
    import pandas as pd

    from perf import datasets

    loaded = {}
    for name in datasets.DATASETS:
        frame = datasets.load(name)
        if frame is not None:
            frame = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], utc=True))
        loaded[name] = frame
    return loaded

