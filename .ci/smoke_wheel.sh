#!/usr/bin/env bash
# Build the sdist and the wheel; install the wheel with the dependencies it declares into a bare virtual
# environment (PyTorch's CPU build first, as the README's set-up does), run the README's examples there (each
# output block checked against what its code prints, .ci/readme_outputs.py) and the installed console script;
# collect the sdist's tests (conftest and data shipped).
#
# A bare environment is what a user has: a dependency the package imports but the wheel does not declare
# fails here, and `pip check` verifies the declared versions. Measured on a shared 2-core machine at load 8:
# the bare environment's steps 165 s wall, 53 s user + 5 s sys (torch from local disk 82 s, the wheel's other
# dependencies 54 s, the quick start 13 s); the whole script 93 s CPU (73 user + 20 sys) against 25 s for
# the earlier one, whose environment borrowed the interpreter's packages. The README's examples beyond the quick
# start add about 17 s wall at load 1 (the whole script: 80 s): Fleets 1.4 s, Production use 0.5 s, the plot
# extra's install and pip check 8.5 s, the Command line's three commands 6.9 s.
set -euo pipefail
unset PYTHONPATH  # the wheel and the sdist are under test, not a source tree named there
cd "$(dirname "$0")/.."
checkout=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --no-isolation: the build backend (setuptools>=77) is the interpreter's own; an isolated build makes
# two environments and downloads setuptools into each (about 60 s more here).
python3 -m build --no-isolation --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
python3 -m venv "$work/venv"
py="$work/venv/bin/python"
# Where PyTorch's CPU index cannot be reached, pip's configured find-links may still serve the same wheel.
"$py" -m pip install --quiet --retries 1 torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
"$py" -m pip install --quiet "$wheel"
"$py" -m pip check
cd "$work"  # away from the checkout, so nothing imports the source tree
"$py" - "$work/venv" <<'PY'
import sys
import workload_predictor
assert workload_predictor.__file__.startswith(sys.argv[1]), f"imported {workload_predictor.__file__}, not the wheel's copy"
from workload_predictor.datasets import azure_llm_trace
azure_llm_trace("conv").to_csv("conv.csv", index=False)
PY
# The README's python examples, as a user runs them after installing (the quick start is examples/quickstart.py):
# what each printed is what the README shows, wall times aside.
mkdir "$work/readme"
check_readme=(python3 "$checkout/.ci/readme_outputs.py" "$checkout/README.md" --python "$py" --workdir "$work/readme")
"${check_readme[@]}" --sections "Quick start" "Fleets" "Production use"
"$work/venv/bin/workload-predictor" --help >/dev/null
"$work/venv/bin/workload-predictor" forecast conv.csv --freq 10s --horizon 5 --model dlinear --quiet
# Without torch (an import of it fails), the package imports and DLinear forecasts from the command line.
"$py" - <<'PY'
import sys
sys.modules["torch"] = None  # import torch raises ImportError, as where it is not installed
from workload_predictor.cli import main
try:
    main(["forecast", "conv.csv", "--freq", "10s", "--horizon", "5", "--model", "dlinear", "--quiet"])
except SystemExit as exit:
    assert exit.code in (0, None), f"forecast --model dlinear without torch exited {exit.code}"
PY
# The README's set-up installs the plot extra, which the Command line section's --plot needs; installed only now,
# so that everything above ran with the wheel's own dependencies. Then every README output block not checked above.
"$py" -m pip install --quiet "$wheel[plot]"
"$py" -m pip check
"${check_readme[@]}"
# The sdist carries what its tests need: every test module collects from the unpacked archive (the CI
# interpreter has the test tools; `python -m pytest` in the unpacked folder imports the sdist's own sources).
tar -xzf "$sdist"
cd workload_predictor-*/
python3 -m pytest tests --collect-only -q -p no:cacheprovider | tail -1
for file in LICENSE tests/conftest.py tests/data/azure2023_code.per_minute.csv perf/datasets.py; do
    test -f "$file" || { echo "the sdist lacks $file" >&2; exit 1; }
done
