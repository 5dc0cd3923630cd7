"""One table, one run: the global LSTM's options side by side on the fleet benchmark.

Rows: the global LSTM trained in 1 process and data-parallel over 2 (DDP, gloo), on the
CPU and (where CUDA is present) the GPU, float32 and int8 inference; the per-key LSTM
float32 vs int8 (on a subset of keys: it fits one network per key); plain per-key
DLinear and the DLinear student distilled from the global LSTM. Columns: fit seconds,
predict milliseconds (one call for the whole fleet and for one key), model size in MB
and the mean relative MAE on a held-out test stretch that no model saw.

Accuracy: each key's last ``--test`` buckets are held out; every model is fitted on the
rest and forecasts the test stretch from origins every ``horizon`` buckets (inputs are
the actual points before each origin). MAE is divided by the key's mean level in its
training part (so keys of every size count alike) and averaged over keys. The
distillation gap closed is ``(MAE_plain - MAE_student) / (MAE_plain - MAE_teacher)``,
overall and per key group (keys split into level terciles).

Run:  PYTHONPATH=$PWD python3 scripts/global_options_table.py --keys 100
(the fleet data are perf/datasets.py's ``fleet``; ``--fleet-module path/to/datasets.py`` reads them from
another checkout). Prints a markdown table and writes it as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def fleet_arrays(n_keys: int, module: str | None) -> list[np.ndarray]:
    """The first usable (``ok``) keys of the fleet benchmark, one ``(n, 1)`` float array each."""
    if module:
        spec = importlib.util.spec_from_file_location("fleet_datasets", module)
        datasets = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(datasets)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from perf import datasets
    frame = datasets.fleet(n_series=int(n_keys * 1.2) + 10)
    kinds = datasets.fleet_kinds(n_series=int(n_keys * 1.2) + 10)
    ok = [k for k in kinds.index if kinds[k] == "ok"][:n_keys]
    groups = frame.groupby("key")["requests"]
    return [groups.get_group(k).to_numpy(dtype=np.float64)[:, None] for k in ok]


def median_ms(func, repeat: int = 15) -> float:
    func()  # warm-up (an int8 copy is built on first use)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def relative_mae(forecasts: list[np.ndarray], series: list[np.ndarray], origins: np.ndarray, horizon: int,
                 levels: np.ndarray) -> np.ndarray:
    """Per key: MAE of ``forecasts[i]`` ``(m, H, k)`` at ``origins`` over the key's level."""
    out = []
    for forecast, y, level in zip(forecasts, series, levels):
        actual = np.stack([y[o : o + horizon] for o in origins])
        out.append(np.abs(np.maximum(forecast, 0.0) - actual).mean() / level)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--lstm-keys", type=int, default=10, help="keys for the per-key LSTM rows")
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--mixing", type=float, default=0.5)
    parser.add_argument("--fleet-module", default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from workload_predictor.models.distill import fit_student, global_lstm_teacher
    from workload_predictor.models.dlinear import DLinear
    from workload_predictor.models.global_lstm import GlobalLSTM
    from workload_predictor.models.lstm import LSTM
    from workload_predictor.models.quantize import network_bytes
    from workload_predictor.models.torch_runtime import inference_network

    torch.set_num_threads(1)
    series = fleet_arrays(args.keys, args.fleet_module)
    horizon, n = args.horizon, len(series[0])
    train = [y[: n - args.test] for y in series]
    levels = np.array([max(float(np.abs(y).mean()), 1e-9) for y in train])
    origins = np.arange(n - args.test, n - horizon + 1, horizon)
    rows, mae = [], {}

    def row(name, fit_s, fleet_ms, key_ms, mb, scores, note=""):
        mae[name] = scores
        rows.append({"model": name, "fit_s": fit_s, "predict_fleet_ms": fleet_ms, "predict_key_ms": key_ms,
                     "model_mb": mb, "mae": float(np.mean(scores)) if scores is not None else None, "note": note})
        print(rows[-1], flush=True)

    settings = {"horizon": horizon, "max_epochs": args.max_epochs, "random_state": 0}

    def global_row(name, model, fit_s, note=""):
        forecasts = model._forecast(series, [origins] * len(series))
        fleet_ms = median_ms(model.predict)
        key_ms = median_ms(lambda: model._forecast([model.recent_[0]], [np.array([len(model.recent_[0])])], keys=[0]))
        row(name, fit_s, fleet_ms, key_ms, model.model_bytes() / 2**20, relative_mae(forecasts, series, origins, horizon,
                                                                                    levels), note)

    start = time.perf_counter()
    teacher = GlobalLSTM(**settings).fit(train)
    global_row("global LSTM, 1 process, CPU, float32", teacher, time.perf_counter() - start,
               f"{teacher.n_epochs_} epochs")
    int8 = GlobalLSTM(**settings, quantize="int8")
    vars(int8).update({k: v for k, v in vars(teacher).items() if k.endswith("_")})  # the same trained network
    global_row("global LSTM, int8 inference", int8, float("nan"), "same network, quantised on first use")

    start = time.perf_counter()
    ddp = GlobalLSTM(**settings, distributed=2).fit(train)
    ddp_s = time.perf_counter() - start
    global_row("global LSTM, DDP 2 processes (gloo), CPU", ddp, ddp_s,
               f"{ddp.n_epochs_} epochs; speed-up over 1 process {rows[0]['fit_s'] / ddp_s:.2f}x")

    if torch.cuda.is_available():
        start = time.perf_counter()
        gpu = GlobalLSTM(**settings, device="cuda").fit(train)
        torch.cuda.synchronize()
        global_row("global LSTM, 1 GPU", gpu, time.perf_counter() - start)
    else:
        row("global LSTM, 1 GPU", None, None, None, None, None, "not measured: no CUDA device in this run")

    # Per-key LSTM, float32 vs int8 (a subset: one network per key).
    subset = range(min(args.lstm_keys, len(series)))
    for quantize in (None, "int8"):
        fits, forecasts, key_ms, sizes = 0.0, [], [], []
        for i in subset:
            start = time.perf_counter()
            model = LSTM(**settings, quantize=quantize).fit(train[i])
            fits += time.perf_counter() - start
            forecasts.append(model.predict_at(series[i], origins))
            key_ms.append(median_ms(model.predict, repeat=7))
            sizes.append(network_bytes(inference_network(model.network_, quantize)) + model.base_.coef_.nbytes)
        row(f"per-key LSTM ({len(subset)} keys), {'int8' if quantize else 'float32'}", fits, float("nan"),
            statistics.median(key_ms), sum(sizes) / 2**20,
            relative_mae(forecasts, [series[i] for i in subset], origins, horizon, levels[list(subset)]))

    # Plain per-key DLinear and the distilled student.
    for name in ("plain", "student"):
        fits, forecasts, key_ms, sizes = 0.0, [], [], []
        for i, y in enumerate(train):
            start = time.perf_counter()
            if name == "plain":
                model = DLinear(horizon=horizon).fit(y)
            else:
                model = fit_student(y, global_lstm_teacher(teacher, i), mixing=args.mixing, horizon=horizon)
            fits += time.perf_counter() - start
            forecasts.append(model.predict_at(series[i], origins))
            key_ms.append(median_ms(model.predict, repeat=7) if i < 20 else np.nan)
            sizes.append(model.coef_.nbytes + model.intercept_.nbytes)
        label = "DLinear per key, plain" if name == "plain" else f"DLinear student of the global LSTM (mixing {args.mixing})"
        row(label, fits, float("nan"), float(np.nanmedian(key_ms)), sum(sizes) / 2**20,
            relative_mae(forecasts, series, origins, horizon, levels),
            "fit excludes the teacher's" if name == "student" else "")

    teacher_mae = mae["global LSTM, 1 process, CPU, float32"]
    plain, student = mae["DLinear per key, plain"], mae[rows[-1]["model"]]
    terciles = np.quantile(levels, [1 / 3, 2 / 3])
    groups = {"all": np.ones(len(levels), bool), "low level": levels <= terciles[0],
              "mid level": (levels > terciles[0]) & (levels <= terciles[1]), "high level": levels > terciles[1]}
    gap = {}
    for group, mask in groups.items():
        p, s, t = plain[mask].mean(), student[mask].mean(), teacher_mae[mask].mean()
        gap[group] = {"plain": p, "student": s, "teacher": t, "gap_closed": (p - s) / (p - t) if p != t else None}

    print("\n| model | fit s | predict ms (fleet / 1 key) | model MB | rel. MAE | note |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        def f(x, fmt):
            return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else format(x, fmt)
        print(f"| {r['model']} | {f(r['fit_s'], '.2f')} | {f(r['predict_fleet_ms'], '.2f')} / "
              f"{f(r['predict_key_ms'], '.3f')} | {f(r['model_mb'], '.4f')} | {f(r['mae'], '.4f')} | {r['note']} |")
    print("\nDistillation (mean relative MAE; gap closed = (plain - student) / (plain - teacher)):")
    for group, g in gap.items():
        closed = "-" if g["gap_closed"] is None else f"{g['gap_closed']:.2f}"
        print(f"  {group:10s} plain {g['plain']:.4f}  student {g['student']:.4f}  teacher {g['teacher']:.4f}  "
              f"gap closed {closed}")
    subset_names = [r["model"] for r in rows if r["model"].startswith("per-key LSTM")]
    keys = list(range(min(args.lstm_keys, len(series))))
    same = {name: float(mae[name].mean()) for name in subset_names}
    same.update({name: float(mae[name][keys].mean()) for name in ("global LSTM, 1 process, CPU, float32",
                                                                  "DLinear per key, plain", rows[-1]["model"])})
    print(f"\nOn the per-key LSTM's {len(keys)} keys (same keys, mean relative MAE):")
    for name, value in same.items():
        print(f"  {value:.4f}  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "distillation": gap, "keys": len(series), "same_keys": same}, indent=1,
                                              default=float))


if __name__ == "__main__":
    main()
