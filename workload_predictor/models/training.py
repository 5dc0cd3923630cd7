"""The one training loop every torch model uses: mini-batch Adam, early stopping, a time limit.

We call torch's functional Adam kernel (``torch.optim.adam.adam``) rather than the
``torch.optim.Adam`` class: the class's ``add_param_group`` is wrapped by
``torch._disable_dynamo``, which imports ``torch._dynamo`` on first use and
costs 1.5-1.6 s in every fresh process (measured with ``python -X importtime``).
The update itself is torch's own code either way.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch.optim.adam import adam


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
) -> TrainingResult:
    """Train ``module`` on MSE and leave it holding the weights with the lowest validation loss.

    The initial weights count as epoch 0, so a network that cannot beat its
    starting point on validation keeps it. ``progress`` (optional) is called
    after each epoch with ``(epoch, train_loss, validation_loss)``.
    """
    start = time.perf_counter()
    params = [p for p in module.parameters() if p.requires_grad]
    exp_avg = [torch.zeros_like(p) for p in params]
    exp_avg_sq = [torch.zeros_like(p) for p in params]
    steps = [torch.zeros((), dtype=torch.float32) for _ in params]
    loss_fn = torch.nn.MSELoss()

    def validation_loss() -> float:
        with torch.no_grad():
            return float(loss_fn(module(x_val), y_val))

    best_loss = validation_loss()
    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    best_epoch, since_best, stopped_by = 0, 0, "max_epochs"
    history: list[tuple[float, float]] = []
    train_loss = math.nan
    n = len(x_train)
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        module.train()
        order = torch.randperm(n, generator=generator).to(x_train.device)
        total = 0.0
        for first in range(0, n, batch_size):
            batch = order[first : first + batch_size]
            loss = loss_fn(module(x_train[batch]), y_train[batch])
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                adam(params, list(grads), exp_avg, exp_avg_sq, [], steps, foreach=True, capturable=False,
                     differentiable=False, fused=None, grad_scale=None, found_inf=None, has_complex=False,
                     amsgrad=False, beta1=0.9, beta2=0.999, lr=learning_rate, weight_decay=0.0, eps=1e-8,
                     maximize=False)
            total += float(loss.detach()) * len(batch)
        module.eval()
        train_loss = total / n
        val_loss = validation_loss()
        history.append((train_loss, val_loss))
        if progress is not None:
            progress(epoch, train_loss, val_loss)
        if val_loss < best_loss - 1e-7 * abs(best_loss):
            best_loss, best_epoch, since_best = val_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            since_best += 1
            if since_best >= patience:
                stopped_by = "patience"
                break
        if max_time is not None and time.perf_counter() - start > max_time:
            stopped_by = "time_limit"
            break
    module.load_state_dict(best_state)
    module.eval()
    return TrainingResult(
        best_epoch=best_epoch, epochs_run=epoch, final_train_loss=float(train_loss),
        best_validation_loss=float(best_loss), stopped_by=stopped_by,
        seconds=time.perf_counter() - start, history=history,
    )
