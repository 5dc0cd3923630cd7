"""The calibration case: a fixed numpy + torch workload, recorded in every run.

A gated time compared with the stored figures (a case that is not paired with the baseline's
code) is divided by the calibration measured just around its case, so the comparison holds on a
slower or faster machine; budgets rescale CPU time by it where it shows contention. This case
records the session's figure (it is not gated: it is the yardstick).
"""

from perf.harness import median


def test_calibration(perf, calibration):
    perf.time("calibration", "-", calibration.run, rounds=20, warmup_rounds=2, gate=False, budget_kind="none")
    wall, cpu = calibration.seconds(5)
    assert median(wall) > 0 and median(cpu) > 0
