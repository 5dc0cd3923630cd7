"""The training loop's early stopping: what the LSTM's design rests on.

The initial weights count as epoch 0, so a network that no epoch improves on
validation keeps them; otherwise the weights of the epoch with the lowest
validation loss are restored at the end, whatever the later epochs did.
"""

from __future__ import annotations

import pytest
import torch

from workload_predictor.models.training import train_network


def one_weight(value: float) -> torch.nn.Linear:
    module = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(value)
    return module


def line(slope: float, n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randn(n, 1, generator=torch.Generator().manual_seed(seed))
    return x, slope * x


def train(module, train_slope: float, val_slope: float, **settings):
    x_train, y_train = line(train_slope, seed=1)
    x_val, y_val = line(val_slope, seed=2)
    snapshots = {0: module.weight.detach().clone()}

    def keep(epoch, train_loss, val_loss):
        snapshots[epoch] = module.weight.detach().clone()

    options = dict(max_epochs=30, batch_size=16, learning_rate=0.05, patience=5,
                   generator=torch.Generator().manual_seed(0), progress=keep)
    options.update(settings)
    result = train_network(module, x_train, y_train, x_val, y_val, **options)
    return result, snapshots


def test_initial_weights_are_kept_when_no_epoch_beats_them():
    # The initial weight 0 fits validation (slope 0) exactly; training pulls it towards the train slope 1.
    module = one_weight(0.0)
    result, snapshots = train(module, train_slope=1.0, val_slope=0.0)
    assert result.best_epoch == 0 and result.stopped_by == "patience"
    assert any(float(w) != 0.0 for epoch, w in snapshots.items() if epoch > 0)  # the epochs moved it
    assert float(module.weight.detach()) == 0.0  # ... and the start was given back


def test_the_best_epochs_weights_are_restored():
    # From 0 towards the train slope 2, the weight passes the validation slope 1 and moves on: validation
    # improves for a few epochs, then worsens until patience stops the run.
    module = one_weight(0.0)
    result, snapshots = train(module, train_slope=2.0, val_slope=1.0, learning_rate=0.02)
    losses = [val for _, val in result.history]
    assert 0 < result.best_epoch < result.epochs_run  # a middle epoch won, later ones were worse
    assert losses[result.best_epoch - 1] == min(losses) == pytest.approx(result.best_validation_loss)
    assert torch.equal(module.weight, snapshots[result.best_epoch])
    assert not torch.equal(module.weight, snapshots[result.epochs_run])
