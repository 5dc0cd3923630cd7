"""A model fitted on a GPU host, used in a process that has none: a model file whose settings say
``device="cuda"``, and torch networks pickled on the GPU (a Dask worker's result, ``client.submit``, joblib).

This host has no GPU, so the GPU side is faked: a file is written from a CPU fit whose ``device`` is set to
``"cuda"`` (the file stores the settings as given and the weights as host arrays, as a GPU host writes them), and
a pickle is read with ``torch.load`` (what unpickling a torch tensor's storage calls) refusing a read without a
``map_location`` (the read that raises "Attempting to deserialize object on a CUDA device" where CUDA is not).
"""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

from workload_predictor import FleetPredictor, WorkloadDataError, WorkloadPredictor

torch = pytest.importorskip("torch")
if torch.cuda.is_available():
    pytest.skip("the fakes stand for a host without CUDA", allow_module_level=True)

FREQ = pd.Timedelta("10s")
START = pd.Timestamp("2024-01-01", tz="UTC")
TINY = {"max_epochs": 1, "hidden_size": 4}


def stream(n: int) -> pd.DataFrame:
    t = np.arange(n)
    y = np.random.default_rng(0).poisson(50 + 20 * np.sin(2 * np.pi * t / 60)).astype(float)
    return pd.DataFrame({"timestamp": START + FREQ * t, "requests": y})


def long_frame(n: int = 160) -> pd.DataFrame:
    rng, t = np.random.default_rng(1), np.arange(n)
    return pd.concat([pd.DataFrame({"endpoint": f"k{i}", "timestamp": START + FREQ * t,
                                    "requests": rng.poisson(30 + 10 * i + 10 * np.sin(2 * np.pi * t / 40))})
                      for i in range(2)], ignore_index=True)


def as_if_fitted_on_cuda(obj):
    """``obj`` (and the per-key predictors and models it holds) with ``device="cuda"``, as a GPU host's fit leaves
    its settings."""
    obj.device = "cuda"
    model = getattr(obj, "model_", None)
    if model is not None and hasattr(model, "device"):
        model.device = "cuda"
    for predictor in getattr(obj, "_predictors", {}).values():
        as_if_fitted_on_cuda(predictor)
    return obj


def written_on_a_gpu_host(obj, path):
    as_if_fitted_on_cuda(obj).save(path)
    return type(obj).load(path)


@pytest.fixture
def no_bare_torch_load(monkeypatch):
    """``torch.load`` refuses a read without ``map_location`` (on a host without CUDA, such a read of a tensor
    stored from the GPU raises)."""
    load = torch.load

    def guarded(*args, **kwargs):
        assert kwargs.get("map_location") is not None, "torch.load without map_location"
        return load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", guarded)


@pytest.fixture(scope="module")
def lstm_predictor():
    data = stream(330)
    return WorkloadPredictor(model="lstm", horizon=5, window=24, model_params=TINY, random_state=0) \
        .fit(data.iloc[:300]), data


def test_an_lstm_predictor_file_from_a_gpu_host_forecasts_updates_and_saves_here(lstm_predictor, tmp_path,
                                                                                no_bare_torch_load):
    fitted, data = lstm_predictor
    loaded = written_on_a_gpu_host(copy.deepcopy(fitted), tmp_path / "p.wp")
    assert loaded.device == "cuda" and loaded.model_.device == "cuda"  # the settings as written
    assert next(loaded.model_.network_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.predict().yhat, fitted.predict().yhat, rtol=1e-6)
    loaded.update(data.iloc[300:330])  # the network trains where its weights are
    loaded.health()
    assert WorkloadPredictor.load(loaded.save(tmp_path / "again.wp")).device == "cuda"
    with pytest.raises(WorkloadDataError, match="device='cuda' but torch sees no CUDA device"):
        loaded.fit(data.iloc[:300])  # a fit asks for the device its settings name: set device='cpu' to refit here


@pytest.mark.parametrize("model", ["lstm", "global_lstm"])
def test_an_lstm_fleet_file_from_a_gpu_host_forecasts_updates_and_saves_here(model, tmp_path, no_bare_torch_load):
    frame = long_frame()
    cut = START + FREQ * 150
    fleet = FleetPredictor(model=model, horizon=5, window=24, model_params=TINY, random_state=0) \
        .fit(frame[frame["timestamp"] < cut], key="endpoint")
    loaded = written_on_a_gpu_host(fleet, tmp_path / "f.wp")
    assert loaded.device == "cuda"
    loaded.predict()
    loaded.update(frame[frame["timestamp"] >= cut])
    loaded.health()
    assert FleetPredictor.load(loaded.save(tmp_path / "again.wp")).device == "cuda"
    pickle.loads(pickle.dumps(loaded)).predict()  # its networks pickled (test_an_lstm_network_pickled_...)


def test_a_dlinear_fleet_file_from_a_gpu_host_updates_here_solving_on_the_cpu(tmp_path):
    """A DLinear fleet with ``device="cuda"`` solves its ridge systems on the GPU. Loaded on a host without one,
    its update (``update_mode="refit"``: the keys refitted, batched) raised "device='cuda' but torch sees no CUDA
    device": a fleet written on a GPU host could forecast but not update. An update now solves on the CPU there,
    as a fresh CPU fleet's update does; a fit still asks for the device its settings name."""
    frame = long_frame()
    cut = START + FREQ * 150
    head, tail = frame[frame["timestamp"] < cut], frame[frame["timestamp"] >= cut]
    fleet = FleetPredictor(horizon=5).fit(head, key="endpoint")
    expected = copy.deepcopy(fleet).update(tail).predict()
    loaded = written_on_a_gpu_host(fleet, tmp_path / "f.wp")
    loaded.update(tail)
    pd.testing.assert_frame_equal(loaded.predict(), expected, rtol=1e-9)
    assert loaded.device == "cuda"
    with pytest.raises(WorkloadDataError, match="torch sees no CUDA device"):
        loaded.fit(frame, key="endpoint")


def test_an_lstm_network_pickled_where_it_ran_unpickles_here_without_a_bare_torch_load(lstm_predictor,
                                                                                       no_bare_torch_load):
    """A per-key LSTM fleet's partitions fitted on Dask workers with a GPU (``resources={"GPU": 1}``,
    ``device="cuda"``) come back to the fleet's process, which may have none, pickled; so does a fitted predictor
    sent to a worker. Torch's own pickle of a network stores each tensor with its device and reads it back with a
    bare ``torch.load``, which raises on a host without CUDA for a GPU tensor. The network is now pickled as its
    constructor's arguments and host arrays, rebuilt on the CPU where its device is not (on it where it is)."""
    fitted, data = lstm_predictor
    network = fitted.model_.network_
    copied = pickle.loads(pickle.dumps(fitted))
    again = copied.model_.network_
    assert type(again) is type(network) and again is not network and not again.training
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), network.state_dict().values()))
    np.testing.assert_array_equal(copied.predict().yhat, fitted.predict().yhat)
    copied.update(data.iloc[300:310])


def test_copies_of_a_network_are_torchs_own(lstm_predictor):
    """``copy.copy`` and ``copy.deepcopy`` (an update's candidate network, the int8 copy) copy the module as torch
    does, tensors on their own device, not through the pickle's rebuild: a deep copy's weights are new tensors
    equal to the network's, a shallow copy's the same ones."""
    network = lstm_predictor[0].model_.network_
    deep, shallow = copy.deepcopy(network), copy.copy(network)
    for name, tensor in network.state_dict().items():
        assert torch.equal(deep.state_dict()[name], tensor)
        assert deep.state_dict()[name].data_ptr() != tensor.data_ptr()
        assert shallow.state_dict()[name].data_ptr() == tensor.data_ptr()
    assert deep.init_args_ == network.init_args_ and deep.training == network.training


def test_the_rebuild_puts_the_network_on_its_device_where_torch_sees_it(lstm_predictor, monkeypatch):
    """Unpickled where the device it ran on is (the same GPU host, a loky worker's result), the network goes back
    onto it: faked here by a device name torch sees ("cpu" standing for it) and one it does not ("cuda:0")."""
    from workload_predictor.models import lstm as lstm_module

    network = lstm_predictor[0].model_.network_
    _, args = network.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    assert args[3] == "cpu"
    moved = []
    monkeypatch.setattr(type(network), "to", lambda self, device: moved.append(str(device)) or self)
    lstm_module._unpickled_network(*args[:3], "cuda:0", *args[4:])
    assert moved == []  # no CUDA here: left on the CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    lstm_module._unpickled_network(*args[:3], "cuda:0", *args[4:])
    assert moved == ["cuda:0"]


def test_a_load_leaves_torchs_random_stream_and_builds_on_the_cpu(lstm_predictor, tmp_path, monkeypatch):
    """Loading a network built it with its constructor, which drew initial weights from torch's global RNG (the
    caller's next ``torch.rand`` after a load was another number), on torch's default device. It is built on the
    meta device now, its stored weights given on the CPU."""
    path = lstm_predictor[0].save(tmp_path / "p.wp")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    loaded = WorkloadPredictor.load(path)
    assert torch.equal(torch.rand(3), expected)
    assert next(loaded.model_.network_.parameters()).device.type == "cpu"


def test_torch_load_in_this_file_is_guarded(no_bare_torch_load):
    """The guard itself: a bare read of a tensor is refused (so the tests above would see one)."""
    buffer = io.BytesIO()
    torch.save(torch.zeros(2), buffer)
    buffer.seek(0)
    with pytest.raises(AssertionError, match="without map_location"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.load(buffer)
