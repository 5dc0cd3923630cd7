"""Figures for forecasts and backtests (matplotlib, the optional extra ``plot``).

matplotlib is imported only when a figure is drawn, and only its object-oriented
API is used (``matplotlib.figure.Figure``, no ``pyplot``): drawing changes no
global state and needs no display. Every function returns a ``Figure``; call
``fig.savefig("forecast.png")`` on it.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from .errors import WorkloadDataError, is_integer, quote
from .models import registry

HISTORY_COLOR = "#4d4d4d"
FORECAST_COLOR = "#d1495b"
BAND_COLOR = "#edae49"


def _figure(rows: int, height: float = 3.0):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install 'workload-predictor[plot]' (or pip install matplotlib)."
        ) from None
    figure = Figure(figsize=(9, height * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, 1, squeeze=False)[:, 0]
    return figure, axes


def _naive_times(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    # matplotlib draws UTC; the label says so, and tz-naive values avoid per-axis tz handling.
    return index.tz_convert("UTC").tz_localize(None)


def plot_forecast(forecast, targets: Sequence[str] | str | None = None, history: int | None = None, ax: Any = None):
    """History, forecast and interval band of each target, the confidence in the title.

    ``targets`` (default all) picks what to draw, one panel each; ``history`` limits
    the observed buckets shown (default: what the forecast carries, at most ``6 x steps``).
    ``ax`` draws a single target into an existing matplotlib Axes.
    """
    if targets is not None and not isinstance(targets, (str, list, tuple)):
        raise WorkloadDataError(f"targets={quote(targets)}: pass a target's name or a list of names, from "
                                f"{list(forecast.targets)}.")
    if history is not None and (not is_integer(history) or history < 0):
        raise WorkloadDataError(f"history={quote(history)} must be a number of buckets, an integer >= 0 "
                                "(0 draws no history).")
    if ax is not None and not hasattr(ax, "stairs"):
        raise WorkloadDataError(f"ax={quote(ax)} is not a matplotlib Axes: pass one (e.g. figure.subplots()) or "
                                "leave it out.")
    chosen = list(forecast.targets) if targets is None else ([targets] if isinstance(targets, str) else list(targets))
    unknown = [t for t in chosen if t not in forecast.targets]
    if unknown or not chosen:
        raise WorkloadDataError(f"targets={quote(targets)}: choose from {list(forecast.targets)}.")
    if ax is not None and len(chosen) != 1:
        raise WorkloadDataError("ax= draws one target; pass targets=<one name> with it.")
    if ax is None:
        figure, axes = _figure(len(chosen))
    else:
        figure, axes = ax.figure, [ax]
    shown = int(history) if history is not None else 6 * forecast.steps
    width = forecast.freq if forecast.freq is not None else (forecast.index[1] - forecast.index[0] if forecast.steps > 1
                                                             else pd.Timedelta(seconds=1))
    # Bucket edges: each value holds from its bucket's start to the next one's.
    future = _naive_times(forecast.index.append(pd.DatetimeIndex([forecast.index[-1] + width])))
    # A history without rows draws as none.
    observed = forecast.history is not None and len(forecast.history) > 0 and shown > 0
    for axis, name in zip(axes, chosen):
        j = forecast.targets.index(name)
        if observed and name in forecast.history.columns:
            past = forecast.history[name].iloc[-shown:]
            edges = _naive_times(past.index.append(pd.DatetimeIndex([past.index[-1] + width])))
            values = past.to_numpy(dtype=float)
            axis.stairs(values, edges, color=HISTORY_COLOR, lw=1.3, label="observed", baseline=None)
        axis.stairs(forecast.upper[:, j], future, baseline=forecast.lower[:, j], fill=True, color=BAND_COLOR,
                    alpha=0.45, lw=0, label=f"{forecast.level:.0%} interval")
        axis.stairs(forecast.yhat[:, j], future, color=FORECAST_COLOR, lw=2, label="forecast", baseline=None)
        axis.axvline(future[0], color="#999999", lw=0.8, ls="--")
        axis.set_ylabel(f"{name} per {_width_label(forecast)}")
        top = max(float(np.max(forecast.upper[:, j])), float(np.max(values)) if observed
                  and name in forecast.history.columns else 0.0)
        axis.set_ylim(0, 1.2 * top if top > 0 else 1.0)  # headroom for the legend
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize=8, frameon=False, ncols=3)
        _time_axis(axis)
        score = forecast.confidence_by_target.get(name, forecast.confidence)
        axis.set_title(f"{name}: {forecast.model} forecast, {forecast.steps} steps, confidence {score:.2f}",
                       fontsize=10, loc="left")
    axes[-1].set_xlabel("time (UTC)")
    return figure


def _time_axis(axis) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _width_label(forecast) -> str:
    if forecast.freq is None:
        return "bucket"
    seconds = forecast.freq / pd.Timedelta(seconds=1)
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"


def plot_error_by_step(by_step: pd.DataFrame, target: str | None = None, title: str | None = None):
    """MAE by horizon step, one line per model; baselines dashed.

    ``by_step`` is :attr:`BacktestResult.by_step` (index: step; columns: ``(model, target)``).
    """
    targets = list(dict.fromkeys(by_step.columns.get_level_values("target")))
    target = targets[0] if target is None else target
    if target not in targets:
        raise WorkloadDataError(f"target={quote(target)}: choose from {targets}.")
    figure, (axis,) = _figure(1, height=3.6)
    steps = by_step.index.to_numpy()
    for model in dict.fromkeys(by_step.columns.get_level_values("model")):
        errors = by_step[(model, target)].to_numpy()
        baseline = model in registry.names(baseline=True)
        axis.plot(steps, errors, marker="o" if not baseline else None, ms=3, lw=1.2 if baseline else 2,
                  ls="--" if baseline else "-", label=model)
    axis.set_xlabel("horizon step (buckets ahead)")
    axis.set_ylabel(f"MAE ({target})")
    axis.set_xticks(steps if len(steps) <= 12 else np.unique(np.linspace(steps[0], steps[-1], 10).round().astype(int)))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, frameon=False, ncols=3)
    axis.set_title(title or f"Backtest error by horizon step ({target})", fontsize=10, loc="left")
    return figure
