"""Data-parallel training of a network with ``torch.nn.parallel.DistributedDataParallel``.

Two ways in:

* ``processes=n`` (``GlobalLSTM(distributed=n)``): this call spawns ``n`` processes with
  ``torch.multiprocessing.spawn``, once ``n`` copies of the training data and of the
  network's training memory have passed the memory limit in force (with less of a time limit
  left than starting them takes, ``SPAWN_SECONDS``, it trains in this process instead); they meet through a file in a temporary directory
  (no port to pick), train with backend ``gloo`` on the CPU or ``nccl`` on GPUs (rank
  ``r`` on ``cuda:r``), and rank 0 hands the trained weights back as float arrays.
* ``processes="env"``: the caller already is one rank of a group started by
  ``torchrun`` (``MASTER_ADDR``, ``RANK``, ``WORLD_SIZE`` set); the group is initialised
  from the environment if it is not yet, and every rank ends with the same weights.

Every rank holds all training windows and the same batch order; each computes the
gradient of its share of every global batch and DDP averages them, so the result is
the single-process run on the same global batch (``training.train_network``'s
``shard``), whatever the number of processes. A script that uses ``processes=n``
must guard its entry point with ``if __name__ == "__main__":`` (spawned processes
import it); a process that ends with exit code 1 before it trains (what a script
without the guard does) is a :class:`~workload_predictor.errors.WorkloadDataError`
saying so.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .. import _deadline
from .._memory import check_memory
from ..errors import WorkloadDataError, quote
from .torch_runtime import network_bytes
from .training import TrainingResult, train_network

TIMEOUT = datetime.timedelta(minutes=10)  # a rank that never arrives fails the group instead of hanging it
#: Seconds from ``mp.spawn`` until the ranks start training (each starts a Python, imports torch, joins the group and
#: wraps its network): 3.4-5.4 s for 2 gloo ranks on this 2-core machine (under load from other work), 0.6-2.7 s
#: more to hand the weights back and end. With less time left than this the group would train no epoch.
SPAWN_SECONDS = 3.0
#: The stage :func:`train_data_parallel` records on the deadline when it trains in this process for want of time.
IN_PROCESS_STAGE = "data-parallel processes"


def backend_for(device: torch.device) -> str:
    return "nccl" if device.type == "cuda" else "gloo"


def check_processes(processes: int | str, device: torch.device) -> None:
    """A typed error, before any data is read, for ``distributed=processes`` this machine cannot run: ``"env"``
    outside a ``torchrun`` group, or more processes than GPUs on ``cuda``."""
    if processes == "env":
        if not dist.is_initialized() and "WORLD_SIZE" not in os.environ:
            raise WorkloadDataError("distributed='env' expects to run under torchrun (WORLD_SIZE, RANK and "
                                    "MASTER_ADDR set) or in an initialised process group; pass distributed=n to "
                                    "spawn n processes instead.")
    elif device.type == "cuda" and torch.cuda.device_count() < processes:
        raise WorkloadDataError(f"distributed={processes} on device={quote(device.type)} needs {processes} GPUs; "
                                f"{torch.cuda.device_count()} are visible. Use fewer processes or device='cpu'.")


def train_data_parallel(network: torch.nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                        y_val: torch.Tensor, config: dict[str, Any], *, seed: int, processes: int | str,
                        device: torch.device, n_threads: int | None) -> TrainingResult:
    """Train ``network`` (in place) data-parallel; see the module docstring. Returns rank 0's training record."""
    check_processes(processes, device)
    if processes == "env":
        return _train_rank(network, x_train, y_train, x_val, y_val, config, seed, device)
    import torch.multiprocessing as mp

    # The time limit as a wall-clock instant (the processes share the machine's clock): starting the processes
    # and importing torch in each takes seconds, which count against the limit as any other part of the fit.
    # No later than the deadline of a fit around this one (a fleet's, from its door), as train_network's in here.
    config = dict(config)
    max_time, left = config.pop("max_time", None), _deadline.current().left()
    if left is not None:
        max_time = left if max_time is None else min(max_time, left)
    if max_time is not None and max_time < SPAWN_SECONDS:
        # Less time left than starting the processes takes: they would train no epoch. This process trains instead,
        # for the time left, on the same global batches (the group's result, whatever its size: module notes), and
        # the skipped processes are recorded as a stage the deadline cut (time_limited_stages_, the fit's warning).
        # On the host, where the network and the data are (a few seconds at most). Nothing left: the initial
        # weights, validated here as one rank would.
        _deadline.current().cut(IN_PROCESS_STAGE)
        return train_network(network, x_train, y_train, x_val, y_val, generator=torch.Generator().manual_seed(seed),
                             max_time=max(0.0, max_time), **config)
    init = [network.lstm.input_size, network.lstm.hidden_size, network.lstm.num_layers, network.head.out_features]
    # Every process receives its own copy of the data and of the weights, and trains its own network
    # (torch_runtime.network_bytes): checked against the memory limit in force before any is spawned.
    data = sum(t.element_size() * t.nelement() for t in (x_train, y_train, x_val, y_val))
    weights = sum(p.element_size() * p.nelement() for p in network.parameters())
    trains = network_bytes(init[0], init[1], init[2], init[3], n_patches=x_train.shape[1],
                           batch=min(int(config["batch_size"]), max(1, len(x_train))), n_eval=len(x_val))
    check_memory(f"distributed={processes} training processes", extra_bytes=float(processes) * (data + weights + trains))
    state = {k: v.detach().cpu().numpy() for k, v in network.state_dict().items()}
    ends_at = None if max_time is None else time.time() + max_time
    with tempfile.TemporaryDirectory(prefix="workload-predictor-ddp-") as folder:
        try:
            mp.spawn(_spawned, nprocs=processes, join=True,
                     args=(processes, folder, type(network), init, state, x_train, y_train, x_val, y_val, config,
                           seed, device.type, n_threads, ends_at))
        except mp.ProcessExitedException as exc:
            if exc.signal_name is not None or exc.exit_code != 1:  # killed (out of memory, a signal): torch's word
                raise
            # Exit code 1 outside _spawned (whose errors torch raises as ProcessRaisedException): the process failed
            # while importing the caller's __main__, which a spawned process imports first; a script without the
            # guard runs its fit again there, and Python refuses to start processes from a process still starting.
            raise WorkloadDataError(
                f"distributed={processes}: training process {exc.error_index} ended with exit code 1 before it "
                "could train (its traceback is on stderr). Each process imports the script that called fit: guard "
                'its entry point with if __name__ == "__main__": (and keep the script importable without side '
                "effects), or pass distributed=None to train in this process.") from exc
        with np.load(Path(folder) / "weights.npz", allow_pickle=False) as weights:
            network.load_state_dict({k: torch.from_numpy(weights[k]) for k in weights.files})
        record = json.loads((Path(folder) / "training.json").read_text())
    record["history"] = [tuple(pair) for pair in record["history"]]
    return TrainingResult(**record)


def _train_rank(network, x_train, y_train, x_val, y_val, config, seed, device) -> TrainingResult:
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device), timeout=TIMEOUT)
    rank, world = dist.get_rank(), dist.get_world_size()
    # One batch order for every rank: rank 0's seed (a rank's own, drawn when random_state=None, would shard
    # another permutation of the windows).
    agreed = torch.tensor([seed], dtype=torch.int64)
    if dist.get_backend() == "nccl":  # the group's backend (torchrun's may be nccl): its tensors live on the GPU
        agreed = agreed.cuda()
    dist.broadcast(agreed, src=0)
    seed = int(agreed[0])
    network.to(device)
    wrapped = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    if device.type == "cuda":
        x_train, y_train, x_val, y_val = (t.pin_memory().to(device, non_blocking=True)
                                          for t in (x_train, y_train, x_val, y_val))
    result = train_network(wrapped, x_train, y_train, x_val, y_val, generator=torch.Generator().manual_seed(seed),
                           shard=(rank, world), device=device, **config)
    network.eval()
    return result


def _spawned(rank: int, world: int, folder: str, network_class, init, state, x_train, y_train, x_val, y_val,
             config, seed, device_type, n_threads, ends_at) -> None:
    """One spawned rank: join the group, train until ``ends_at`` (``time.time()``; None: no limit), and (rank 0)
    write the weights and the record as plain data."""
    torch.set_num_threads(int(n_threads or 1))
    device = torch.device(f"cuda:{rank}") if device_type == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend_for(device), init_method=f"file://{Path(folder) / 'rendezvous'}", rank=rank,
                            world_size=world, timeout=TIMEOUT)
    try:
        network = network_class(*init)
        network.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        # What is left of the limit once every rank has joined (the ranks' stops are agreed during training).
        max_time = None if ends_at is None else max(0.0, ends_at - time.time())
        result = _train_rank(network, x_train, y_train, x_val, y_val, {**config, "max_time": max_time}, seed, device)
        if rank == 0:
            np.savez(Path(folder) / "weights.npz", **{k: v.detach().cpu().numpy() for k, v in network.state_dict().items()})
            (Path(folder) / "training.json").write_text(json.dumps(dataclasses.asdict(result)))
        # Every rank is done with the group before any tears it down: a rank that destroyed its gloo group while
        # another still held a connection aborted ("terminate called without an active exception", 2 of 27 runs).
        dist.barrier()
    finally:
        dist.destroy_process_group()
