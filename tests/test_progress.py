"""Progress bars: drawn on a terminal or with verbose=True, silent otherwise, never changing a result."""

from __future__ import annotations

import io

import numpy as np
import pytest

from workload_predictor._progress import epoch_callback, progress_bar, wants_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_follow_the_terminal_unless_verbose_says_otherwise():
    assert wants_progress(None, Terminal()) is True
    assert wants_progress(None, io.StringIO()) is False
    assert wants_progress(False, Terminal()) is False
    assert wants_progress(True, io.StringIO()) is True


def test_a_silent_bar_adds_no_hook():
    sentinel = object()
    with progress_bar(10, "x", False) as bar:
        assert epoch_callback(bar, then=sentinel) is sentinel
        assert epoch_callback(bar) is None


def test_lstm_draws_epochs_only_when_asked_and_learns_the_same(capsys):
    pytest.importorskip("tqdm")
    from workload_predictor.models import LSTM

    y = 50 + 10 * np.sin(np.arange(400) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 1, 400)
    quiet = LSTM(horizon=4, max_epochs=3, random_state=0, verbose=False).fit(y)
    assert capsys.readouterr().err == ""
    loud = LSTM(horizon=4, max_epochs=3, random_state=0, verbose=True).fit(y)
    assert "LSTM fit" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet.predict(), loud.predict())
    LSTM(horizon=4, max_epochs=3, random_state=0).fit(y)  # default: stderr is captured, not a terminal
    assert capsys.readouterr().err == ""
