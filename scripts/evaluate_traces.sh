#!/usr/bin/env bash
# Backtest every model against the baselines on the Azure 2023 traces (issue 4's accuracy targets):
# conv and code, 1 s and 10 s buckets, horizons 10 and 30. Tables go to stdout, records to $OUT/*.json.
# Usage: scripts/evaluate_traces.sh [OUT_DIR]   (about 2-4 minutes on 2 cores)
set -euo pipefail
TRACES="$(cd "$(dirname "$0")/../.." && pwd)/shared/data/traces"
OUT="${1:-evaluation}"
mkdir -p "$OUT"
for trace in conv code; do
  for freq in 1s 10s; do
    for horizon in 10 30; do
      echo "== $trace $freq horizon $horizon"
      workload-predictor evaluate "$TRACES/AzureLLMInferenceTrace_$trace.csv" --freq "$freq" --horizon "$horizon" \
        --quiet --json "$OUT/${trace}_${freq}_h${horizon}.json"
      echo
    done
  done
done
