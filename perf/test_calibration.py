"""The calibration case: a fixed numpy + torch workload, recorded in every run.

Every gated time is divided by the calibration measured just around its case, so the
baseline comparison holds on a slower or faster machine; this case records the
session's figure (it is not gated: it is the yardstick).
"""

from perf.harness import median


def test_calibration(perf, calibration):
    perf.time("calibration", "-", calibration.run, rounds=20, warmup_rounds=2, gate=False, budget_kind="none")
    wall, cpu = calibration.seconds(5)
    assert median(wall) > 0 and median(cpu) > 0
