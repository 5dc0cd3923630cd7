"""What DLinear's judging (windows weighed by their residuals, tests/test_dlinear_burst.py) costs an update: a
one-row update with no flagged point judges its window alone, within a block and where one begins, and the state
and statistics it leaves are the general path's bit for bit."""

import copy

import numpy as np
import pytest

from workload_predictor.models.dlinear import RESIDUAL_EVERY, DLinear

LEVEL = 1e4


def _stream(n: int = 640, fit: int = 420, horizon: int = 8):
    """A DLinear fitted on the start of two targets' Poisson counts (the first holds a 3x burst after the fit, the
    second a step up) and the rows after it."""
    rng = np.random.default_rng(7)
    y = rng.poisson(LEVEL, (n, 2)).astype(float)
    y[560:563, 0] *= 3
    y[520:, 1] *= 1.5
    return DLinear(horizon=horizon).fit(y[:fit]), y, fit


def _general(monkeypatch):
    """Route every one-window path to the general one (:meth:`DLinear._judge_windows`)."""
    for name in ("_judge_in_block", "_judge_block_start"):
        monkeypatch.setattr(DLinear, name, lambda self, z, origin, state: self._judge_windows(
            z, np.array([origin]), None, state))


def _assert_same(fast: DLinear, general: DLinear) -> None:
    for name in ("residual_center_", "residual_spread_", "residual_unit_", "residual_history_", "residual_noise_",
                 "residual_next_", "coef_", "intercept_"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(general, name), err_msg=name)
    for mine, theirs in zip(fast.stats_, general.stats_):
        assert mine.count == theirs.count
        np.testing.assert_array_equal(mine.xx, theirs.xx)
        np.testing.assert_array_equal(mine.xy, theirs.xy)


def test_one_row_updates_judge_their_window_alone_as_the_general_path(monkeypatch):
    """Every one-row update with no flagged point takes a one-window path (a block's first window takes its
    reference from the kept history), and ends bit for bit where the general path ends, through a burst and a
    level shift."""
    fast, y, fit = _stream()
    general = copy.deepcopy(fast)
    paths = []
    original = DLinear._judge_windows

    def counted(self, *args):
        paths.append(self.residual_next_)
        return original(self, *args)

    monkeypatch.setattr(DLinear, "_judge_windows", counted)
    starts = 0
    for i in range(fit, len(y)):
        starts += fast.residual_next_ % RESIDUAL_EVERY == 0
        fast.update(y[i : i + 1])
    assert starts >= (len(y) - fit) // RESIDUAL_EVERY and paths == []  # no general path, block starts included
    added = fast.stats_[0].count - general.stats_[0].count
    assert added < len(y) - fit - fast.horizon / 2  # the burst's windows weighed down
    monkeypatch.undo()
    _general(monkeypatch)
    for i in range(fit, len(y)):
        general.update(y[i : i + 1])
    _assert_same(fast, general)


@pytest.mark.parametrize("rows", [3, 20])
def test_a_block_start_on_a_short_history_is_the_general_paths(monkeypatch, rows):
    """A kept history shorter than the reference (a short series' fit, or a file holding fewer rows): the block's
    reference is what the general path takes of it (too short to judge against: none)."""
    fast, y, fit = _stream(n=470)
    while fast.residual_next_ % RESIDUAL_EVERY:  # up to a block's start
        fast.update(y[fit : fit + 1])
        fit += 1
    fast.residual_history_ = fast.residual_history_[:, -rows:].copy()
    fast.residual_noise_ = fast.residual_noise_[:, -rows:].copy()
    general = copy.deepcopy(fast)
    taken = []
    original = DLinear._judge_block_start
    monkeypatch.setattr(DLinear, "_judge_block_start", lambda self, *args: taken.append(1) or original(self, *args))
    fast.update(y[fit : fit + 1])
    assert taken == [1]
    assert (fast.residual_center_ is None) == (rows < 8)
    monkeypatch.undo()
    _general(monkeypatch)
    general.update(y[fit : fit + 1])
    _assert_same(fast, general)
