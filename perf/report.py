"""The end-of-run summary: every case's raw and normalised figures, then the old report's table beside ours."""

from __future__ import annotations

from typing import Callable, Iterable

NAMES = {"dlinear": "DLinear", "lstm": "LSTM", "ensemble": "Ensemble"}  # the old report's models, its table's rows


def _name(model: str) -> str:
    """A model's name in the summary: the old report's for its models, the registry name for a model added since."""
    return NAMES.get(model, model)


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1e3:.3f} ms" if value < 1 else f"{value:.3f} s"
    if unit == "MB":
        return f"{value:.3f} MB" if abs(value) < 10 else f"{value:.1f} MB"
    if unit == "x":
        return f"{value:.3f}x"
    return f"{value:.4g} {unit}"


def figures_table(rows: Iterable) -> list[str]:
    lines = ["", "perf: raw and normalised figures, per call. wall: median wall time (memory: median growth); cpu: median",
             "      CPU time; latency: median wall time less the time spent waiting for a core (= wall on an idle",
             "      machine: CPU time plus the code's own waits; budgets use it, its CPU part rescaled where the",
             "      calibration shows contention); calibration: its CPU median around the case; normalised = cpu /",
             "      calibration; share: CPU share the calibration got (1 = idle machine); cpu x, latency x: the gate's",
             "      ratios to the baseline, against its code in alternating rounds (vs code) or its stored figures",
             f"{'case':<40} {'wall':>12} {'cpu':>11} {'latency':>11} {'calibration':>11} {'normalised':>10} {'share':>5} "
             f"{'cpu x':>6} {'lat. x':>6} {'vs':>7}  verdict"]
    for row in rows:
        cal = f"{row.calibration_s * 1e3:.2f} ms" if row.calibration_s else "-"
        norm = f"{row.normalised:.4g}" if row.normalised is not None else "-"
        cpu = _value(row.extra.get("cpu_s"), "s") if "cpu_s" in row.extra else "-"
        latency = _value(row.extra.get("latency_s"), "s") if "latency_s" in row.extra else "-"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        latency_ratio = "-" if row.latency_ratio is None else f"{row.latency_ratio:.2f}"
        versus = row.versus or ("-" if row.unit != "MB" or row.baseline is None else f"{row.baseline:.1f} MB")
        share = f"{row.cpu_share:.2f}" if row.cpu_share is not None else "-"
        lines.append(f"{row.case:<40} {_value(row.figure, row.unit):>12} {cpu:>11} {latency:>11} {cal:>11} {norm:>10} "
                     f"{share:>5} {ratio:>6} {latency_ratio:>6} {versus:>7}  {row.verdict}")
    return lines


def _ours(rows: list, kind: str, model: str) -> float | None:
    for row in rows:
        if row.kind == kind and row.model == model and ("synthetic" in row.case or f"[{model}" in row.case):
            return row.figure if row.budget_figure is None else row.budget_figure
    return None


def old_report_table(rows: list, budgets: dict) -> list[str]:
    """The old report's table with our figures beside its own and old / ours per cell (> 1: we are faster or smaller)."""
    old = budgets["old_report"]["table"]
    columns = [("init", "init_s", "s", "init (construction)"), ("fit", "fit_s", "s", "train (fit, 1000 points)"),
               ("predict", "predict_s", "s", "predict(10)"), ("memory_fit_cold", "memory_mb", "MB", "memory (cold fit)")]
    lines = ["", "Old report vs this run: synthetic 1000-point series; ours = median CPU time of a call (= wall time on an",
             "idle machine; rescaled where the calibration shows contention, as budgets see it); ratio = old / ours",
             "(> 1: ours is faster or smaller)"]
    header = f"{'model':<9}" + "".join(f" | {title:^32}" for *_, title in columns)
    lines += [header, f"{'':<9}" + "".join(f" | {'old':>10} {'ours':>12} {'ratio':>8}" for _ in columns)]
    for model, name in NAMES.items():
        cells = []
        for kind, key, unit, _ in columns:
            theirs, ours = old[model][key], _ours(rows, kind, model)
            ratio = f"{theirs / ours:.0f}x" if ours and theirs / ours >= 10 else (f"{theirs / ours:.2f}x" if ours else "-")
            cells.append(f" | {_value(theirs, unit):>10} {_value(ours, unit):>12} {ratio:>8}")
        lines.append(f"{name:<9}" + "".join(cells))
    lines.append("init: construction in-process (the old code built its network there; ours builds it in fit). "
                 "memory: peak RSS minus RSS before, in a fresh process; cold = the first fit after the imports.")
    fresh = [row for row in rows if row.kind == "import_ratio"]
    if fresh:
        lines.append("import + construction in a fresh process: " + "; ".join(
            f"{_name(row.model)} {row.extra.get('cpu_seconds', float('nan')):.3f} s CPU, "
            f"{row.extra.get('latency_seconds', float('nan')):.3f} s latency: {row.figure:.3f}x import "
            f"{row.extra.get('reference')} ({row.extra.get('reference_cpu_seconds', float('nan')):.3f} s CPU)"
            for row in fresh))
    warm = {row.model: row.figure for row in rows if row.kind == "memory_fit_warm"}
    if warm:
        lines.append("warm fit growth (budgeted): " + ", ".join(f"{_name(m)} {v:.1f} MB" for m, v in warm.items()))
    confidence = [row for row in rows if row.kind == "fit" and "confidence" in row.extra]
    if confidence:
        lines.append("confidence returned: " + ", ".join(f"{row.case.split('[')[1][:-1]} {row.extra['confidence']:.3f}"
                                                         for row in confidence))
    return lines


def scaling_table(rows: list) -> list[str]:
    """Fit and predict time by series length, and fit time per 1,000 points (flat = linear cost)."""
    fits = [row for row in rows if row.kind == "scaling_fit"]
    if not fits:
        return []
    predicts = {(row.model, row.extra.get("points")): row for row in rows if row.kind == "scaling_predict"}
    lines = ["", "Scaling: median CPU time of a call (fit per 1,000 points stays flat when cost is linear in the data)",
             f"{'model':<9} {'points':>8} {'fit':>12} {'fit / 1k points':>16} {'predict(10)':>12}"]
    for row in fits:
        points = row.extra.get("points")
        predict = predicts.get((row.model, points))
        fit = row.budget_figure if row.budget_figure is not None else row.figure
        lines.append(f"{_name(row.model):<9} {points:>8,} {_value(fit, 's'):>12} {_value(fit * 1000 / points, 's'):>16} "
                     f"{_value(predict.budget_figure if predict else None, 's'):>12}")
    return lines


def load_table(rows: list) -> list[str]:
    loads = [row for row in rows if row.kind in ("load_users", "load_burst_p99")]
    if not loads:
        return []
    lines = ["", "Load (10 threads)", f"{'case':<24} {'throughput':>14} {'p99':>12} {'max':>12}"]
    for row in loads:
        p99 = row.figure if row.kind == "load_burst_p99" else row.extra.get("p99_s")
        worst = row.figure if row.kind == "load_users" else None
        lines.append(f"{row.case:<24} {row.extra.get('throughput_per_s', float('nan')):>10.1f} /s "
                     f"{_value(p99, 's'):>12} {_value(worst, 's'):>12}")
    return lines


def print_summary(write: Callable[[str], None], rows: list, budgets: dict) -> None:
    for line in figures_table(rows) + scaling_table(rows) + load_table(rows) + old_report_table(rows, budgets):
        write(line)
