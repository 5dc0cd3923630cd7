#!/usr/bin/env bash
# CUDA checks for a session that is lent a GPU (one short run, a few minutes): correctness on cuda, the GPU perf
# cases, and the global-options table with its GPU row. Run from the repository root:
#   bash scripts/gpu_checks.sh            (writes its figures under ${OUT:-/tmp/gpu_checks})
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD
out=${OUT:-/tmp/gpu_checks}
mkdir -p "$out"
python3 - <<'PY' 2>&1 | tee "$out/correctness.txt"
import numpy as np, torch
assert torch.cuda.is_available(), "no CUDA device"
print(torch.__version__, torch.cuda.get_device_name(0))
from workload_predictor.models.global_lstm import GlobalLSTM
from workload_predictor.models.lstm import LSTM
rng = np.random.default_rng(0)
t = np.arange(800)
series = [(10 ** rng.uniform(0, 3)) * (1.5 + np.sin(2 * np.pi * t / p))[:, None] for p in (24, 60, 144, 288) * 5]
for device in ("cpu", "cuda", "auto"):
    model = GlobalLSTM(horizon=10, max_epochs=5, random_state=0, device=device).fit(series)
    print("global", device, next(model.network_.parameters()).device, np.round(model.predict()[0][:3, 0], 3))
cpu = GlobalLSTM(horizon=10, max_epochs=5, random_state=0).fit(series).predict()
gpu = GlobalLSTM(horizon=10, max_epochs=5, random_state=0, device="cuda").fit(series).predict()
scale = np.array([s.std() for s in series])
print("global cpu vs cuda, max |diff| / std:", max(np.abs(a - b).max() / s for a, b, s in zip(cpu, gpu, scale)))
single = [LSTM(horizon=10, max_epochs=5, random_state=0, device=d).fit(series[0]).predict() for d in ("cpu", "cuda")]
print("per-key LSTM cpu vs cuda, max |diff| / std:", np.abs(single[0] - single[1]).max() / scale[0])
PY
python3 -m pytest perf/test_gpu.py -q -p no:cacheprovider --benchmark-json="$out/gpu_perf.json" 2>&1 | tail -25 | tee "$out/gpu_perf.txt"
python3 scripts/global_options_table.py --keys 100 --lstm-keys 10 --json "$out/table.json" 2>&1 | tail -20 | tee "$out/table.txt"
