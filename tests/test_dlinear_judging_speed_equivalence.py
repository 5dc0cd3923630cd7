"""DLinear's one-window judging (:meth:`DLinear._judge_one`, most updates) against the arithmetic it replaced, kept
plainly below: on random series with bursts, counters and gaps, every update weighs the same windows by the same
weights and leaves the same judging state, bit for bit; and the radius that spares a near window its deviation
(:func:`~workload_predictor.models.dlinear._near_radii`) never spares one whose deviation, as computed, exceeds
``RESIDUAL_K``."""

from __future__ import annotations

import copy

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from workload_predictor.models import DLinear
from workload_predictor.models import dlinear as D

JUDGING = ("residual_history_", "residual_noise_", "residual_center_", "residual_spread_", "residual_unit_",
           "residual_next_")


def _plain_judge_one(self, z, origin, state):
    """The one-window judging as it was written before the radius: the history and noises copied row by row, the
    deviation computed for every window."""
    center, spread, history = state["residual_center_"], state["residual_spread_"], state["residual_history_"]
    units, noises = state["residual_unit_"], state["residual_noise_"]
    dropped = int(history.shape[1] >= D.RESIDUAL_REFERENCE + D.RESIDUAL_EVERY)
    kept = np.empty((history.shape[0], history.shape[1] + 1 - dropped, self.horizon))
    kept[:, :-1] = history[:, dropped:]
    if noises is not None:
        kept_noise = np.empty((noises.shape[0], noises.shape[1] + 1 - dropped))
        kept_noise[:, :-1] = noises[:, dropped:]
        state["residual_noise_"] = kept_noise
    window, horizon = self.window_, self.horizon
    half, odd = (window - 1) // 2, (window - 1) % 2
    weights = [None] * z.shape[1]
    for j in range(z.shape[1]):
        column = z[:, j]
        inputs = column[origin - window : origin]
        steps = np.subtract(column[origin - window + 1 : origin], column[origin - window : origin - 1])
        np.abs(steps, out=steps)
        steps.sort()
        noise = max(D._NOISE_SCALE * float(steps[half] if odd else 0.5 * (steps[half - 1] + steps[half])),
                    D.RESIDUAL_FLOOR)
        residual = kept[j, -1]
        np.subtract(column[origin : origin + horizon], inputs @ self.residual_coef_[j], out=residual)
        residual -= self.residual_intercept_[j]
        residual /= noise
        if noises is not None:
            kept_noise[j, -1] = noise
        if center is None:
            continue
        judged = residual if units is None or noise >= units[j] else residual * (noise / units[j])
        deviation = np.abs(judged - center[j])
        deviation /= spread[j]
        far = float(np.maximum.reduce(deviation))
        if far > D.RESIDUAL_K and bool(D._calm(inputs[None], np.array([noise]))[0]):
            weights[j] = D.deviation_weights(np.array([far]))
    state.update(residual_history_=kept, residual_next_=state["residual_next_"] + 1)
    return (None if weights.count(None) == len(weights) else weights), state


class _Logged(DLinear):
    """A DLinear that logs what each update's judging returns (its windows' weights), and its one-window judgings."""

    def _judge_new(self, z, origins, element):
        judged, state = super()._judge_new(z, origins, element)
        self.__dict__.setdefault("log", []).append(judged)
        return judged, state

    def _judge_one(self, z, origin, state):
        judged, state = super()._judge_one(z, origin, state)
        self.__dict__.setdefault("one", []).append(judged)
        return judged, state


class _Plain(_Logged):
    def _judge_one(self, z, origin, state):
        judged, state = _plain_judge_one(self, z, origin, state)
        self.__dict__.setdefault("one", []).append(judged)
        return judged, state


def _series(seed: int, level: float, n: int, events: list[tuple[str, int, int, float]]) -> np.ndarray:
    """Two targets of Poisson counts on a daily-like cycle at ``level`` (the second a tenth of it), with ``events``:
    ``(kind, target, start, size)``: a burst (3 buckets times ``size``), a counter (20 buckets exported as their
    running total) or a gap (12 buckets of 0)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    rate = level * (1 + 0.5 * np.sin(2 * np.pi * t / 48))
    y = np.column_stack([rng.poisson(rate), rng.poisson(rate / 10)]).astype(float)
    for kind, target, start, size in events:
        if kind == "burst":
            y[start : start + 3, target] *= size
        elif kind == "counter":
            y[start : start + 20, target] = np.cumsum(y[start : start + 20, target])
        else:
            y[start : start + 12, target] = 0.0
    return y


def _same_judgment(mine, theirs) -> None:
    assert (mine is None) == (theirs is None)
    for a, b in zip(mine or [], theirs or []):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


def _run_both(y: np.ndarray, fit: int, chunks: list[int], old_file: bool = False) -> tuple[_Logged, _Plain]:
    """A DLinear fitted on ``y[:fit]`` and its copy judging as before, both updated with the rest of ``y`` in
    ``chunks`` (sizes, cycled), compared after every update."""
    mine = _Logged(horizon=6, window=24, alpha=1e-3).fit(y[:fit])
    if old_file:  # a file saved before the noises: each window judged in its own unit
        mine.residual_noise_ = mine.residual_unit_ = None
    theirs = copy.deepcopy(mine)
    theirs.__class__ = _Plain
    at, i = fit, 0
    while at < len(y):
        rows = y[at : at + chunks[i % len(chunks)]]
        mine.update(rows)
        theirs.update(rows)
        at, i = at + len(rows), i + 1
        _same_judgment(mine.log[-1], theirs.log[-1])
        for name in JUDGING:
            np.testing.assert_array_equal(getattr(mine, name), getattr(theirs, name), err_msg=name)
        assert mine.stats_[0].count == theirs.stats_[0].count and mine.stats_[1].count == theirs.stats_[1].count
    assert len(mine.__dict__.get("one", [])) == len(theirs.__dict__.get("one", []))
    return mine, theirs


_EVENTS = st.lists(st.tuples(st.sampled_from(["burst", "counter", "gap"]), st.integers(0, 1), st.integers(150, 240),
                             st.sampled_from([3.0, 10.0, 100.0])), max_size=4)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16), level=st.sampled_from([3.0, 50.0, 1e4]), events=_EVENTS,
       chunks=st.sampled_from([[1], [1, 1, 1, 1, 1, 1, 1, 2], [1] * 15 + [3]]), old_file=st.booleans())
def test_updates_weigh_the_same_windows_as_the_plain_judging(seed, level, events, chunks, old_file):
    """Random series with bursts, counters and gaps after the fit, updated a bucket at a time (now and then a few):
    the windows weighed, their weights and the judging state equal the plain judging's after every update."""
    _run_both(_series(seed, level, 260, events), 150, chunks, old_file)


def test_a_burst_is_weighed_down_by_the_one_window_path_as_before():
    """The far windows (a burst's, judged by their deviation) go through the one-window path, weighed as the plain
    judging weighs them."""
    y = _series(7, 1e4, 260, [("burst", 0, 180, 2.0), ("burst", 0, 215, 2.0), ("burst", 1, 200, 2.0),
                              ("burst", 1, 235, 2.0)])
    mine, theirs = _run_both(y, 150, [1])
    weighed = [w for judged in mine.one if judged is not None for w in judged if w is not None]
    assert len(mine.one) >= 100 and len(weighed) >= 3 and all(float(w[0]) < 1.0 for w in weighed)


def test_a_window_within_the_radius_lies_within_k_spreads_as_computed():
    """Residuals on the radius' sphere, at its poles and off it by the margin's order: each the radius lets pass
    has a computed deviation (in its own unit and scaled toward 0, in its reference's) of at most ``RESIDUAL_K``;
    and windows just beyond ``RESIDUAL_K`` spreads are not let pass."""
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(300):
        k, h = 2, int(rng.integers(1, 25))
        spread = np.maximum(np.exp(rng.normal(0, 1.5, (k, h))), D.RESIDUAL_FLOOR)
        center = rng.normal(0, 3, (k, h)) * spread
        radii = D._near_radii(center, spread)
        assert D._near_radii(center, spread) is radii  # kept for the reference's arrays
        for j in range(k):
            if radii[j] < 0:
                continue
            direction = rng.normal(size=h)
            direction /= np.sqrt(direction @ direction)
            for scale in (1 - 1e-12, 1.0, 1 + 1e-12):
                residual = direction * np.sqrt(radii[j]) * scale
                residual[rng.integers(h)] = np.sqrt(radii[j]) * scale * rng.choice([-1, 1])  # a pole
                residual[np.arange(h) != rng.integers(h)] *= rng.random()
                if not residual @ residual <= radii[j]:
                    continue
                for factor in (1.0, rng.random()):
                    deviation = np.abs(residual * factor - center[j]) / spread[j]
                    assert float(np.maximum.reduce(deviation)) <= D.RESIDUAL_K
                    checked += 1
            step = int(np.argmin(D.RESIDUAL_K * spread[j] - np.abs(center[j])))
            beyond = center[j].copy()
            beyond[step] += np.sign(center[j, step] or 1.0) * D.RESIDUAL_K * spread[j, step] * (1 + 1e-9)
            assert not beyond @ beyond <= radii[j]
    assert checked > 300
    # no radius where 0 lies beyond K spreads of the median at a step
    assert D._near_radii(np.array([[0.0, 11.0], [0.0, -9.0]]), np.array([[1.0, 1.0], [1.0, 1.0]]))[0] == -1.0


def test_a_short_or_empty_kept_history_is_continued_as_before():
    """A kept history of 0 or a few rows (a file may hold one), within a block and at its start: the same weights
    and state as the plain judging."""
    y = _series(11, 50.0, 220, [("burst", 0, 180, 10.0)])
    for rows in (0, 5):
        mine = _Logged(horizon=6, window=24, alpha=1e-3).fit(y[:150])
        mine.residual_history_ = mine.residual_history_[:, mine.residual_history_.shape[1] - rows :].copy()
        mine.residual_noise_ = mine.residual_noise_[:, mine.residual_noise_.shape[1] - rows :].copy()
        theirs = copy.deepcopy(mine)
        theirs.__class__ = _Plain
        for at in range(150, len(y)):
            mine.update(y[at : at + 1])
            theirs.update(y[at : at + 1])
            _same_judgment(mine.log[-1], theirs.log[-1])
            for name in JUDGING:
                np.testing.assert_array_equal(getattr(mine, name), getattr(theirs, name), err_msg=name)
        assert len(mine.one) == len(theirs.one) >= 60
