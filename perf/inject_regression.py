"""Inject a regression from outside the library, to prove the gate can fail.

Load it as a pytest plugin with the kind of regression in ``PERF_INJECT``::

    PERF_INJECT=fit-2x      python -m pytest -p perf.inject_regression perf/ --benchmark-compare
    PERF_INJECT=predict-2x  ...   # predict takes twice as long
    PERF_INJECT=fit-100mb   ...   # fit holds an extra 100 MB while it runs
    PERF_INJECT=predict-2x-first-attempt ...  # predict 2x slower in a case's first attempt only (noise)

It wraps ``WorkloadPredictor.fit`` / ``.predict`` (the library's code is untouched): the
slow-downs do the call twice (a wait would not slow down with the machine as real work
does, and the gate compares figures normalised by the machine's speed), the allocation
touches 100 MB of pages during the fit. It also sets ``PERF_PRELOAD`` so that the fresh processes of the
memory cases (``perf/_child.py``) import it too.
"""

from __future__ import annotations

import functools
import os

KINDS = ("fit-2x", "predict-2x", "fit-100mb", "predict-2x-first-attempt")


def _slower(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        method(*args, **kwargs)  # the same work twice: twice as long, and as sensitive to load as real work
        return method(*args, **kwargs)

    return wrapper


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


def install(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"PERF_INJECT={kind!r}: choose one of {', '.join(KINDS)}")
    from workload_predictor import WorkloadPredictor

    if kind == "fit-2x":
        WorkloadPredictor.fit = _slower(WorkloadPredictor.fit)
    elif kind == "predict-2x":
        WorkloadPredictor.predict = _slower(WorkloadPredictor.predict)
    elif kind == "predict-2x-first-attempt":
        WorkloadPredictor.predict = _slower_in_first_attempt(WorkloadPredictor.predict)
    else:
        WorkloadPredictor.fit = _heavier(WorkloadPredictor.fit)


_KIND = os.environ.get("PERF_INJECT", "")
if _KIND:
    install(_KIND)
    preload = [m for m in os.environ.get("PERF_PRELOAD", "").split(",") if m]
    if __name__ not in preload:
        os.environ["PERF_PRELOAD"] = ",".join(preload + [__name__])
