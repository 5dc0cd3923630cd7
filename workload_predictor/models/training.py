"""The one training loop every torch model uses: mini-batch Adam, early stopping, a time limit.

We call torch's functional Adam kernel (``torch.optim.adam.adam``) rather than the
``torch.optim.Adam`` class: the class's ``add_param_group`` is wrapped by
``torch._disable_dynamo``, which imports ``torch._dynamo`` on first use and
costs 1.5-1.6 s in every fresh process (measured with ``python -X importtime``).
The update itself is torch's own code either way.

Data parallelism (``shard=(rank, world_size)``): every process holds the same data
and draws the same batch order; each takes its share ``batch[rank::world_size]`` of
every global batch and weights its loss by its share of the batch, so the gradient
that ``DistributedDataParallel`` averages over the processes is the gradient of the
global batch's mean loss: the same step a single process takes on the whole batch
(up to the order of floating-point sums). Gradients come from ``loss.backward()``
because DDP synchronises them in backward hooks (``torch.autograd.grad`` would skip
them).

Data on another device (``device=`` differs from the tensors', e.g. host tensors
for a GPU network): each batch is gathered on the host, pinned and copied in one
non-blocking transfer per tensor.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch.optim.adam import adam

from .._deadline import Deadline, limit

SHARD_CHECK_EVERY = 8  # batches between deadline checks in sharded training (each check is a collective)


@dataclass
class TrainingResult:
    best_epoch: int  # 0 = the initial weights were never beaten on validation
    epochs_run: int
    final_train_loss: float  # mean training loss of the last epoch run
    best_validation_loss: float
    stopped_by: str  # "patience", "max_epochs" or "time_limit"
    seconds: float
    history: list[tuple[float, float]] = field(default_factory=list)  # (train, validation) per epoch


def train_network(
    module: torch.nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    max_epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    generator: torch.Generator,
    max_time: float | None = None,
    progress=None,
    shard: tuple[int, int] | None = None,
    device: torch.device | None = None,
) -> TrainingResult:
    """Train ``module`` on MSE and leave it holding the weights with the lowest validation loss.

    The initial weights count as epoch 0, so a network that cannot beat its
    starting point on validation keeps it. ``progress`` (optional) is called
    after each epoch with ``(epoch, train_loss, validation_loss)``. ``shard``:
    ``(rank, world_size)`` when ``module`` is wrapped in ``DistributedDataParallel``
    (see the module docstring). ``device``: where ``module`` lives, when the data
    stays on the host.

    ``max_time`` (seconds from the call; never later than the deadline of a fit around
    the call, see :mod:`workload_predictor._deadline`) is checked before every batch, not only
    between epochs: one epoch on a long series is thousands of batches (15,600 on
    1,000,000 windows of 64). A limit of ``L`` seconds therefore ends training at most
    one batch and one validation pass after ``L`` (sharded: every ``SHARD_CHECK_EVERY``
    batches, agreed by all processes so that they stop together); the weights of the
    epoch cut short are validated like a whole epoch's and kept only if they beat the
    best so far.
    """
    with limit(max_time) as deadline:
        return _train(module, x_train, y_train, x_val, y_val, max_epochs=max_epochs, batch_size=batch_size,
                      learning_rate=learning_rate, patience=patience, generator=generator, deadline=deadline,
                      progress=progress, shard=shard, device=device)


def _train(module, x_train, y_train, x_val, y_val, *, max_epochs, batch_size, learning_rate, patience, generator,
           deadline: Deadline, progress, shard, device) -> TrainingResult:
    start = time.perf_counter()
    limited = deadline.end is not None
    params = [p for p in module.parameters() if p.requires_grad]
    exp_avg = [torch.zeros_like(p) for p in params]
    exp_avg_sq = [torch.zeros_like(p) for p in params]
    steps = [torch.zeros((), dtype=torch.float32) for _ in params]
    loss_fn = torch.nn.MSELoss()

    rank, world = shard if shard is not None else (0, 1)
    target = device if device is not None else x_train.device

    def on_device(tensor: torch.Tensor) -> torch.Tensor:
        if tensor.device == target:
            return tensor
        if target.type == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(target, non_blocking=True)

    def validation_loss() -> float:
        with torch.no_grad():
            return float(loss_fn(module(on_device(x_val)), on_device(y_val)))

    def out_of_time(batch_index: int) -> bool:
        """Whether the deadline passed; sharded, checked every few batches and agreed by every process."""
        if shard is None:
            return deadline.expired()
        if batch_index % SHARD_CHECK_EVERY:
            return False
        return _all_sum(float(deadline.expired())) > 0

    best_loss = validation_loss()
    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    best_epoch, since_best, stopped_by = 0, 0, "max_epochs"
    history: list[tuple[float, float]] = []
    train_loss = math.nan
    n = len(x_train)
    epoch = 0
    # int(): a numpy integer setting at its dtype's top (np.uint64(2**64 - 1)) plus 1 wraps, and no epoch would run
    for epoch in range(1, int(max_epochs) + 1):
        module.train()
        order = torch.randperm(n, generator=generator).to(x_train.device)
        total, seen = 0.0, 0
        for index, first in enumerate(range(0, n, batch_size)):
            if limited and out_of_time(index):
                stopped_by = "time_limit"
                break
            batch = order[first : first + batch_size]
            local = batch[rank::world]  # [b / world]: this process's share of the global batch
            if len(local) == 0:  # a last batch smaller than the world: this process contributes zero
                local = batch[:1]
                weight = 0.0
            else:
                weight = len(local) * world / len(batch)
            loss = loss_fn(module(on_device(x_train[local])), on_device(y_train[local]))
            for p in params:
                p.grad = None
            (loss * weight).backward()
            grads = [p.grad for p in params]
            with torch.no_grad():
                adam(params, list(grads), exp_avg, exp_avg_sq, [], steps, foreach=True, capturable=False,
                     differentiable=False, fused=None, grad_scale=None, found_inf=None, has_complex=False,
                     amsgrad=False, beta1=0.9, beta2=0.999, lr=learning_rate, weight_decay=0.0, eps=1e-8,
                     maximize=False)
            total += float(loss.detach()) * len(local) * (weight > 0)
            seen += len(batch)
        module.eval()
        if shard is not None:
            total = _all_sum(total)
        if seen == 0:  # the time ran out before this epoch's first batch: nothing new to validate
            epoch -= 1
            break
        train_loss = total / seen
        val_loss = validation_loss()
        history.append((train_loss, val_loss))
        if progress is not None:
            progress(epoch, train_loss, val_loss)
        if val_loss < best_loss - 1e-7 * abs(best_loss):
            best_loss, best_epoch, since_best = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            since_best += 1
            if since_best >= patience and stopped_by != "time_limit":
                stopped_by = "patience"
                break
        if stopped_by != "time_limit" and limited and out_of_time(0):  # all processes stop together
            stopped_by = "time_limit"
        if stopped_by == "time_limit":
            break
    for p in params:
        p.grad = None
    module.load_state_dict(best_state)
    module.eval()
    return TrainingResult(
        best_epoch=best_epoch, epochs_run=epoch, final_train_loss=float(train_loss),
        best_validation_loss=float(best_loss), stopped_by=stopped_by,
        seconds=time.perf_counter() - start, history=history,
    )


def _all_sum(value: float) -> float:
    """``value`` summed over the processes of the default group (float64, on the CPU: gloo and nccl both reduce it)."""
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return float(tensor[0])
