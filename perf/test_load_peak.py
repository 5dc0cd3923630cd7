"""load_peak: the memory a model file makes ``load`` allocate, over what the file states (budgets only).

``WorkloadPredictor.load`` of a DLinear fitted on 300,000 buckets (a 5 MB file, its history dominating) and
``FleetPredictor.load`` of a 300-key DLinear fleet (1.9 MB). The figure is the traced peak of one load (tracemalloc:
Python's and numpy's allocations, the same in every run within a few kB; after one load outside the trace, so imports
and caches are not counted) over what a load must hold at once, derived from the file alone:

    the file's bytes (read once, decoded in place) + its arrays' bytes (each read once into its own array)
    + ``state_factor`` x the bytes of its JSON state (the objects built from it, and its JSON not yet decoded)
    + ``fixed_kb``

(``[target] load_peak`` in budgets.toml says how the allowances were measured). A load that holds a second copy of the
payload, or of a large array, reads well over 1 (a copy of the payload: 1.48x, DLinear). The arrays' and the state's
bytes are read with numpy's own ``.npz`` reader, not the library's. Both models are numpy only: tracemalloc sees all
they allocate (it cannot see torch's memory, which is why the LSTM's memory cases read RSS with psutil).
"""

import io
import json
import os
import tracemalloc

import numpy as np
import pytest

from perf import datasets, harness

LOAD_PEAK = harness.BUDGETS["target"]["load_peak"]
BUCKETS = 300_000  # the DLinear's history: 5 MB of file
FLEET_KEYS = 300


def stated_bytes(path: os.PathLike) -> dict:
    """What the model file at ``path`` states: its bytes, its arrays' bytes and its JSON state's bytes."""
    with open(path, "rb") as handle:
        data = handle.read()
    _, header, payload = data.split(b"\n", 2)
    assert json.loads(header)["payload_bytes"] == len(payload)
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        arrays = {name: archive[name].nbytes for name in archive.files}
    return {"file": len(data), "arrays": sum(arrays.values()), "state": arrays["__state__"]}


def traced_peak(load) -> int:
    """The traced peak of ``load()`` in bytes, after one untraced call."""
    load()
    tracemalloc.start()
    try:
        load()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("model", ["dlinear", "fleet"])
def test_load_peak(perf, tmp_path, model):
    from workload_predictor import FleetPredictor, WorkloadPredictor

    path = tmp_path / f"{model}.wp"
    if model == "dlinear":
        frame = datasets.scaled(BUCKETS)
        WorkloadPredictor(model="dlinear", max_training_time=None).fit(
            frame, timestamp="timestamp", target="requests").save(path)
        cls = WorkloadPredictor
    else:
        FleetPredictor(max_training_time=None).fit(datasets.fleet(FLEET_KEYS, n=300)).save(path)
        cls = FleetPredictor
    stated = stated_bytes(path)
    allowed = (stated["file"] + stated["arrays"] + LOAD_PEAK["state_factor"] * stated["state"]
               + LOAD_PEAK["fixed_kb"] * 1024)
    perf.benchmark.group = "load_peak"
    peaks = []
    perf.benchmark.pedantic(lambda: peaks.append(traced_peak(lambda: cls.load(path))), rounds=1, iterations=1)
    peak = peaks[0]
    perf.figure("load_peak", model, peak / allowed, "x", budget_kind="load_peak",
                extra={"peak_mb": peak / 2**20, "allowed_mb": allowed / 2**20, "file_mb": stated["file"] / 2**20,
                       "arrays_mb": stated["arrays"] / 2**20, "state_kb": stated["state"] / 1024,
                       "peak_over_file": peak / stated["file"]})
