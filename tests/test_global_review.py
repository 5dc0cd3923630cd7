"""The global LSTM fleet and its options as a user meets them (review h106)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from workload_predictor import FleetPredictor
from workload_predictor.errors import NoKeyFittedError, WorkloadDataError

from workload_predictor.models.global_lstm import GlobalLSTM

TINY = {"horizon": 4, "window": 24, "hidden_size": 4, "max_epochs": 1, "batch_size": 64, "random_state": 0}


def _series(n_keys: int = 3, n: int = 160) -> list[np.ndarray]:
    """Keys at 1, 10, 100 ... requests per bucket (a period of 12 buckets and noise)."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    return [10.0**i * (2 + np.sin(2 * np.pi * t / 12)) + rng.uniform(0, 10.0**i, n) for i in range(n_keys)]


def test_int8_inference_leaves_the_global_torch_rng_untouched():
    """``random_state``'s promise (the global torch RNG is left untouched) holds with ``quantize="int8"``: the int8
    copy is built at the fit's first forecast (its validation tail) and after a load at the first predict. Before:
    building it drew from the global RNG (the quantised LSTM's placeholder weights), so a caller's seeded torch
    draws changed after a fit, and a seeded fit in another thread could initialise its network from a shifted
    stream."""
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    model = GlobalLSTM(**TINY, quantize="int8").fit(_series())
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)
    model.network_ = _copy(model.network_)  # a loaded model: a new network, quantised at its first forecast
    torch.manual_seed(123)
    model.predict()
    torch.testing.assert_close(torch.rand(4), expected, rtol=0, atol=0)


def _copy(network: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(network)


@pytest.mark.parametrize("value", [0, "ENV", 1.5, True])
def test_a_bad_distributed_names_every_value_it_takes(value):
    """Before: ``distributed='ENV'`` (or 0) was told it "must be a positive integer", which left out None (train
    in this process) and ``'env'`` (a torchrun rank), the fixes such a user wanted."""
    with pytest.raises(WorkloadDataError, match=r"None .*'env'") as error:
        GlobalLSTM(**TINY, distributed=value).fit(_series())
    assert repr(value) in str(error.value)


def _frame(series: list[np.ndarray]) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-01", tz="UTC")
    return pd.concat([pd.DataFrame({"key": f"k{i}", "timestamp": start + pd.Timedelta("1min") * np.arange(len(y)),
                                    "requests": y}) for i, y in enumerate(series)], ignore_index=True)


@pytest.mark.parametrize("settings", [dict(model="global_lstm", window=24, model_params={"hidden": 4}),
                                      dict(model="dlinear", teacher="global_lstm", teacher_params={"hidden": 4})])
def test_an_unknown_global_setting_lists_only_the_settings_it_may_pass(settings):
    """An unknown ``model_params``/``teacher_params`` name lists the valid ones. Before: the list held the fleet's
    own settings (``horizon``, ``random_state``, ``device``, ...; ``window`` where the fleet gives one), which the
    fleet then refuses there."""
    with pytest.raises(WorkloadDataError, match="'hidden'") as error:
        FleetPredictor(horizon=4, **settings).fit(_frame(_series()), key="key")
    names = [name.strip(" .") for name in str(error.value).split("valid:")[1].split(". ")[0].split(",")]
    assert "hidden_size" in names and "distributed" in names
    owned = ["horizon", "random_state", "n_threads", "device", "max_training_time"]
    assert not set(owned + (["window"] if settings["model"] == "global_lstm" else [])) & set(names), names


@pytest.mark.parametrize("settings", [dict(model="global_lstm", model_params={1: 2, "hidden": 4}),
                                      dict(model="dlinear", teacher="global_lstm", teacher_params={1: 2, "hidden": 4})])
def test_unknown_settings_of_mixed_types_are_a_typed_error(settings):
    """Before: ``model_params={1: 2, "hidden": 4}`` (or ``teacher_params``) raised ``TypeError`` from sorting the
    unknown names."""
    with pytest.raises(WorkloadDataError, match="'hidden'"):
        FleetPredictor(horizon=4, **settings).fit(_frame(_series()), key="key")


def test_series_passed_as_a_dict_is_a_typed_error_naming_the_fix():
    """Before: ``fit({"a": array, ...})`` read the dict's keys as the series: "series[0] must be numbers (could not
    convert string to float: 'k0')"; ``update`` with a dict, "pass one array per fitted key"."""
    series = dict(zip(["k0", "k1", "k2"], _series()))
    with pytest.raises(WorkloadDataError, match=r"list\(series.values\(\)\), keys=list\(series\)"):
        GlobalLSTM(**TINY).fit(series)
    model = GlobalLSTM(**TINY).fit(list(series.values()), list(series))
    with pytest.raises(WorkloadDataError, match=r"\[new_series.get\(key\) for key in model.keys_\]"):
        model.update({key: values[:5] for key, values in series.items()})


def _spawn_exits(monkeypatch, **how):
    import os

    import torch.multiprocessing as mp

    def spawn(*args, **kwargs):  # a training process that died before training, as torch reports it
        raise mp.ProcessExitedException("process 1 terminated with exit code 1", error_index=1, error_pid=1,
                                        **{"exit_code": 1, **how})

    monkeypatch.setattr(mp, "spawn", spawn)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)


def test_a_training_process_that_exits_before_training_names_the_main_guard(monkeypatch):
    """A script that fits with ``distributed=2`` without ``if __name__ == "__main__":`` runs its fit again in each
    spawned process as it imports the script, where Python refuses to start processes: the process exits with
    code 1. Before: torch's ``ProcessExitedException`` ("process 1 terminated with exit code 1"), no ValueError,
    nothing naming the guard the docs ask for."""
    _spawn_exits(monkeypatch)
    with pytest.raises(WorkloadDataError, match='if __name__ == "__main__":') as error:
        GlobalLSTM(**TINY, distributed=2).fit(_series())
    assert "exit code 1" in str(error.value)


def test_a_training_process_killed_by_a_signal_is_torchs_error(monkeypatch):
    """A process killed (the kernel's out-of-memory killer, a SIGTERM) is not a missing guard: torch's error."""
    import torch.multiprocessing as mp

    _spawn_exits(monkeypatch, exit_code=-9, signal_name="SIGKILL")
    with pytest.raises(mp.ProcessExitedException):
        GlobalLSTM(**TINY, distributed=2).fit(_series())


@pytest.mark.parametrize("teacher", [False, True])
def test_a_fleets_training_processes_that_exit_are_the_fits_error_not_every_keys(monkeypatch, teacher):
    """The fleet read any WorkloadDataError of the global fit as "no key is long enough": the processes' error
    became every key's (a global fleet) or gave plain DLinear students with a warning (a teacher)."""
    _spawn_exits(monkeypatch)
    params = {"hidden_size": 4, "max_epochs": 1, "window": 24, "distributed": 2}
    settings = dict(model="dlinear", teacher="global_lstm", teacher_params=params) if teacher else dict(
        model="global_lstm", model_params=params)
    with pytest.raises(WorkloadDataError, match='if __name__ == "__main__":') as error:
        FleetPredictor(horizon=4, max_training_time=None, **settings).fit(_frame(_series()), key="key")
    assert not isinstance(error.value, NoKeyFittedError)


def test_no_key_long_enough_is_a_no_key_fitted_error_with_each_keys_error():
    with pytest.raises(NoKeyFittedError, match="no key is long enough") as error:
        GlobalLSTM(**TINY).fit([np.ones(30), np.ones(40)], ["a", "b"])
    assert list(error.value.errors) == ["a", "b"]
