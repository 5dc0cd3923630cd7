"""The gate must be able to fail: inject a regression from outside the library and watch it fail.

In subprocesses (``python -m pytest``): save a baseline of three cases into a temporary storage
(twice, merged per case from the less disturbed run, as the stored baselines are), then run each affected case against it with one regression injected by the plugin
``perf/inject_regression.py`` (``-p perf.inject_regression``): fit 2x slower, predict 2x slower,
fit holding an extra 100 MB. Each must exit non-zero naming the case and the regression; then the
same cases, without injection, must pass again. A timed case is re-measured before it fails
(``confirm_reruns`` in budgets.toml): a slow-down injected into its first attempt only must pass. The LSTM's fit and predict are chosen because a
2x slow-down stays within their budgets: only the baseline comparison can catch it.
"""

import os
import subprocess
import sys

import pytest

from perf.harness import ROOT

FIT = "perf/test_fit_predict.py::test_fit[lstm-synthetic]"
PREDICT = "perf/test_fit_predict.py::test_predict[lstm-synthetic]"
MEMORY = "perf/test_memory.py::test_memory[dlinear-warm]"
INJECTIONS = [("fit-2x", FIT, "fit[lstm-synthetic]"), ("predict-2x", PREDICT, "predict[lstm-synthetic]"),
              ("fit-100mb", MEMORY, "memory[dlinear-warm] fit")]


def _pytest(storage, *args, inject=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PERF_INJECT", "PERF_PRELOAD")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--benchmark-storage=file://{storage}",
               "--benchmark-columns=median", *args]
    if inject:
        env["PERF_INJECT"] = inject
        command[3:3] = ["-p", "perf.inject_regression"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """Saved twice and merged per case from the less disturbed run (``perf.merge_baselines``), as the stored
    baselines are: one save in a busy minute inflates the baseline and hides part of an injected 2x (a CI run
    measured the injected predict at 1.47x against such a save, whose figure was 1.38x the stored one's)."""
    storage = tmp_path_factory.mktemp("benchmarks")
    for _ in range(2):
        code, output = _pytest(storage, FIT, PREDICT, MEMORY, "--benchmark-save=gate")
        assert code == 0, f"the baseline run failed:\n{output[-4000:]}"
    saves = sorted(storage.rglob("*_gate.json"))
    assert len(saves) == 2, saves
    merged = subprocess.run([sys.executable, "-m", "perf.merge_baselines", *map(str, saves)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    return storage


@pytest.mark.parametrize("inject,node,case", INJECTIONS, ids=[i for i, _, _ in INJECTIONS])
def test_gate_catches(baseline, inject, node, case):
    code, output = _pytest(baseline, node, "--benchmark-compare", inject=inject)
    print(f"--- PERF_INJECT={inject} {node}: exit {code}\n" + "\n".join(
        line for line in output.splitlines() if "REGRESSION" in line or "OVER BUDGET" in line or "FAILED" in line))
    assert code != 0, f"PERF_INJECT={inject}: the gate passed a regression:\n{output[-4000:]}"
    assert f"FAILED {node}" in output, output[-4000:]
    assert f"REGRESSION: {case}" in output, output[-4000:]
    if inject != "fit-100mb":  # a timed regression is confirmed by every attempt before it fails
        assert "attempts failed" in output, output[-4000:]


def test_gate_remeasures_a_transient_slowdown(baseline):
    """predict 2x slower in the first attempt only (what one contended measurement looks like): re-measured, passes."""
    code, output = _pytest(baseline, PREDICT, "--benchmark-compare", inject="predict-2x-first-attempt")
    print(f"--- PERF_INJECT=predict-2x-first-attempt {PREDICT}: exit {code}")
    assert code == 0, f"a slow-down in one attempt failed the gate:\n{output[-4000:]}"
    assert "ok at attempt 2" in output, output[-4000:]


def test_gate_passes_without_injection(baseline):
    code, output = _pytest(baseline, FIT, PREDICT, MEMORY, "--benchmark-compare")
    print(f"--- no injection: exit {code}")
    assert code == 0, f"without injection the gate failed:\n{output[-4000:]}"
    assert "REGRESSION" not in output
