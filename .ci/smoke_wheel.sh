#!/usr/bin/env bash
# Build the sdist and the wheel; install the wheel in a fresh virtual environment and run the installed
# console script on the trace the wheel bundles; collect the sdist's tests (conftest and data shipped).
#
# The environment sees the interpreter's site-packages (--system-site-packages) for the dependencies,
# torch's CPU build among them, which .ci/run installed from PyTorch's CPU index: installing torch into
# a bare environment costs 90-160 s here (one 900 MB unpack), over this step's budget. The wheel itself
# goes into the environment (it shadows the editable checkout), and `pip check` verifies that the
# wheel's declared dependencies are met.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# --no-isolation: the build backend (setuptools>=77) is the interpreter's own; an isolated build makes
# two environments and downloads setuptools into each (about 60 s more here).
python3 -m build --no-isolation --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
python3 -m venv --system-site-packages "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip uninstall --quiet --yes setuptools  # the venv's bundled copy would shadow the interpreter's newer one
"$py" -m pip install --quiet --no-deps --force-reinstall "$wheel"
"$py" -m pip check
cd "$work"  # away from the checkout, so nothing imports the source tree
"$py" - "$work/venv" <<'PY'
import sys
import workload_predictor
assert workload_predictor.__file__.startswith(sys.argv[1]), f"imported {workload_predictor.__file__}, not the wheel's copy"
from workload_predictor.datasets import azure_llm_trace
azure_llm_trace("conv").to_csv("conv.csv", index=False)
PY
"$work/venv/bin/workload-predictor" --help >/dev/null
"$work/venv/bin/workload-predictor" forecast conv.csv --freq 10s --horizon 5 --model dlinear --quiet
# The sdist carries what its tests need: every test module collects from the unpacked archive.
tar -xzf "$sdist"
cd workload_predictor-*/
"$py" -m pytest tests --collect-only -q -p no:cacheprovider | tail -1
for file in LICENSE tests/conftest.py tests/data/azure2023_code.per_minute.csv; do
    test -f "$file" || { echo "the sdist lacks $file" >&2; exit 1; }
done
