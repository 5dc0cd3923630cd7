"""Shared fixtures: hypothesis profiles, synthetic series and the real-trace folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

TRACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "traces"


@pytest.fixture
def traces_dir() -> Path:
    """The shared real-trace folder (``../shared/data/traces``), or a skip saying why."""
    if not (TRACES / "AzureLLMInferenceTrace_conv.csv").exists():
        pytest.skip(f"real traces not found at {TRACES} (the shared data folder beside the checkout)")
    return TRACES


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
