#!/usr/bin/env bash
# Backtest every model against the baselines on the bundled Azure 2023 traces (the README's evaluation table):
# conv and code, 1 s and 10 s buckets, horizons 10 and 30. Tables go to stdout, records to $OUT/*.json.
# Usage: scripts/evaluate_traces.sh [OUT_DIR]   (about 2-4 minutes on 2 cores)
set -euo pipefail
OUT="${1:-evaluation}"
mkdir -p "$OUT"
# The package's bundled copies of the traces, written out as CSV files.
python3 -c "
import sys
from workload_predictor.datasets import azure_llm_trace
for name in ('conv', 'code'):
    azure_llm_trace(name).to_csv(f'{sys.argv[1]}/AzureLLMInferenceTrace_{name}.csv', index=False)
" "$OUT"
TRACES="$OUT"
for trace in conv code; do
  for freq in 1s 10s; do
    for horizon in 10 30; do
      echo "== $trace $freq horizon $horizon"
      python3 -m workload_predictor.cli evaluate "$TRACES/AzureLLMInferenceTrace_$trace.csv" --freq "$freq" --horizon "$horizon" \
        --quiet --json "$OUT/${trace}_${freq}_h${horizon}.json"
      echo
    done
  done
done
