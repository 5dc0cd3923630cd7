"""Shared fixtures: hypothesis profiles, synthetic series and the tests' reference data folder."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

# CI (the CI variable set, as GitHub Actions and .ci/run have it): derandomised, so every run draws the
# same examples and a red run is reproduced by rerunning it; no example database to carry between runs.
# Locally: random draws, saved failures replayed first from .hypothesis/, so the search keeps widening.
# A failure found either way is kept in the test as an @example. HYPOTHESIS_PROFILE overrides the choice.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

DATA = Path(__file__).resolve().parent / "data"  # small reference files the tests compare with


def periodic_series(n: int = 1000, noise: float = 0.0, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """Linear trend plus periods 60 and 288 plus Gaussian noise, in 1-minute buckets (non-negative)."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    y = 100 + 0.02 * t + 20 * np.sin(2 * np.pi * t / 60) + 30 * np.sin(2 * np.pi * t / 288)
    y = np.clip(y + noise * rng.standard_normal(n), 0, None)
    return pd.DataFrame({"timestamp": pd.date_range(start, periods=n, freq="1min"), "requests": y})


@pytest.fixture
def series_1000() -> pd.DataFrame:
    return periodic_series(1000, noise=5.0)


def updated_and_refitted(y: np.ndarray, n: int, chunks: list[int], **params) -> tuple:
    """``DLinear(**params)`` fitted on ``y[:n]`` and updated with ``y``'s next ``chunks`` one after the other, and a
    copy of that fit refitted on the same points (``_fit_arrays(refit=True)``: the first fit's window, scaling and
    penalties), which the updates promise to equal: ``(updated, first fit, refit)``."""
    import copy

    from workload_predictor.models import DLinear

    model = DLinear(**params).fit(y[:n])
    first = copy.deepcopy(model)
    seen = n
    for size in chunks:
        model.update(y[seen : seen + size])
        seen += size
    refit = copy.deepcopy(first)
    refit._fit_arrays(y[:seen], refit=True)
    return model, first, refit


def keyed_poisson_frame(keys: list[str], first: int, n: int) -> pd.DataFrame:
    """Poisson(50) requests, one row a minute for each of ``keys``, from minute ``first`` of 2024-01-01 UTC for ``n``
    minutes (seeded by ``first``): a fleet's long frame."""
    rng = np.random.default_rng(first)
    start, minute = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timedelta("1min")
    return pd.concat([pd.DataFrame({"key": key, "timestamp": start + minute * (first + np.arange(n)),
                                    "requests": rng.poisson(50, n).astype(float)}) for key in keys],
                     ignore_index=True)


def fleet_file_without(data: bytes, names: tuple[str, ...]) -> bytes:
    """A fleet file's bytes as a release before its blocks kept the fields ``names`` wrote it (the fields' arrays
    dropped, the header's size and hash made anew)."""
    import hashlib
    import io
    import json

    from workload_predictor import persistence

    end = data.index(b"\n", len(persistence.MAGIC))
    with np.load(io.BytesIO(data[end + 1:]), allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    state = json.loads(arrays.pop(persistence.STATE_KEY).tobytes())
    blocks = next(value for key, value in state["state"]["__dict__"] if key == "_blocks")
    for block in blocks:
        for name in names:
            del arrays[block["fields"].pop(name)["__array__"]]
    buffer = io.BytesIO()
    np.savez(buffer, **{persistence.STATE_KEY: np.frombuffer(json.dumps(state).encode(), np.uint8)}, **arrays)
    payload = buffer.getvalue()
    header = json.loads(data[len(persistence.MAGIC):end])
    header.update(payload_bytes=len(payload), sha256=hashlib.sha256(payload).hexdigest())
    return persistence.MAGIC + json.dumps(header).encode() + b"\n" + payload


def generic_timedelta(count: int) -> np.timedelta64:
    """``np.timedelta64(count)``, a span without a unit (what a user may pass as a setting), made when a test runs:
    numpy 2.5 deprecates it, and the warning, an error in this suite, would stop the module from collecting."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.timedelta64(count)


def counted_calls(monkeypatch, owner, name: str) -> list:
    """``owner.name`` replaced (for the test) by a wrapper that appends 1 to the returned list at each call."""
    calls, original = [], getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls
