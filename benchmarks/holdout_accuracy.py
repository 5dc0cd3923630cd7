"""Accuracy and speed of the models on a held-out test tail of synthetic series (not the validation tail).

Series: 1000 (or --n) points, periods 60 and 288, linear trend, Gaussian noise (sd 5). Models are fitted on the first n-100 points and scored on every origin of the
last 100 points (horizon 10, MAE over all steps).

Compares: DLinear closed form (window searched, and fixed 24 / 120), a gradient-trained DLinear
(same decomposition, two nn.Linear branches, Adam, 50 epochs, batch 32, lr 1e-3 and 1e-2 — what
darts/neuralforecast do), our LSTM (on a DLinear base, and plain), the ensemble and naive.

Run: python3 benchmarks/holdout_accuracy.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from workload_predictor.models import LSTM, DLinear, Ensemble, Naive
from workload_predictor.windows import decompose, fit_scale, targets_at, windows_at

HORIZON, TEST = 10, 100


def make_series(n: int, seed: int) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    y = 100 + 0.02 * t + 20 * np.sin(2 * np.pi * t / 60) + 30 * np.sin(2 * np.pi * t / 288)
    return np.clip(y + 5 * rng.standard_normal(n), 0, None)


def gradient_dlinear_mae(y: np.ndarray, window: int, lr: float, seed: int) -> tuple[float, float]:
    """A DLinear trained like the libraries do: 50 epochs of Adam on the two branches."""
    torch.manual_seed(seed)
    train = y[: len(y) - TEST]
    mean, scale = fit_scale(train[:, None])
    z = (y - mean[0]) / scale[0]
    origins = np.arange(window, len(train) - HORIZON + 1)
    trend, seasonal = decompose(windows_at(z, origins, window), 25)
    xt, xs = torch.tensor(trend, dtype=torch.float32), torch.tensor(seasonal, dtype=torch.float32)
    target = torch.tensor(targets_at(z, origins, HORIZON), dtype=torch.float32)
    lin_t, lin_s = torch.nn.Linear(window, HORIZON), torch.nn.Linear(window, HORIZON)
    for lin in (lin_t, lin_s):  # the original's 1/seq_len initialisation
        torch.nn.init.constant_(lin.weight, 1.0 / window)
    opt = torch.optim.Adam([*lin_t.parameters(), *lin_s.parameters()], lr=lr)
    start = time.perf_counter()
    for _ in range(50):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 32):
            b = perm[i : i + 32]
            loss = torch.nn.functional.mse_loss(lin_t(xt[b]) + lin_s(xs[b]), target[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    test_origins = np.arange(len(y) - TEST, len(y) - HORIZON + 1)
    tt, ts = decompose(windows_at(z, test_origins, window), 25)
    with torch.no_grad():
        pred = (lin_t(torch.tensor(tt, dtype=torch.float32)) + lin_s(torch.tensor(ts, dtype=torch.float32))).numpy()
    forecast = pred * scale[0] + mean[0]
    return float(np.abs(forecast - targets_at(y, test_origins, HORIZON)).mean()), seconds


def test_mae(model, y: np.ndarray) -> tuple[float, float]:
    start = time.perf_counter()
    model.fit(y[: len(y) - TEST])
    seconds = time.perf_counter() - start
    origins = np.arange(len(y) - TEST, len(y) - HORIZON + 1)
    forecast = model.predict_at(y, origins)[:, :, 0]
    return float(np.abs(forecast - targets_at(y, origins, HORIZON)).mean()), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float]]] = {}
    for seed in args.seeds:
        y = make_series(args.n, seed)
        searched = DLinear(horizon=HORIZON)
        candidates = {
            "dlinear (window searched)": searched,
            "dlinear window=24": DLinear(horizon=HORIZON, window=24),
            "dlinear window=120": DLinear(horizon=HORIZON, window=120),
            "lstm (patches, DLinear base)": LSTM(horizon=HORIZON, random_state=seed),
            "lstm (patches, no base)": LSTM(horizon=HORIZON, random_state=seed, linear_base=False),
            "ensemble": Ensemble(horizon=HORIZON, random_state=seed),
            "naive": Naive(horizon=HORIZON),
        }
        for name, model in candidates.items():
            rows.setdefault(name, []).append(test_mae(model, y))
        for lr in (1e-3, 1e-2):
            rows.setdefault(f"gradient DLinear (same window) lr={lr:g}", []).append(
                gradient_dlinear_mae(y, searched.window_, lr, seed))
        print(f"seed {seed}: searched window {searched.window_}")
    print()
    print_table(rows, "model")


def print_table(rows: dict[str, list[tuple[float, float]]], label: str) -> None:
    """Median test MAE and fit seconds per row, then the MAE of each seed."""
    print(f"{label:58s} {'test MAE (median)':>18s} {'fit s (median)':>15s}   per seed")
    for name, values in rows.items():
        maes, secs = zip(*values)
        print(f"{name:58s} {np.median(maes):18.3f} {np.median(secs):15.4f}   {' '.join(f'{m:.3f}' for m in maes)}")


if __name__ == "__main__":
    main()
