"""How the ensemble combines its members: convex weights of least squared or absolute error, how strongly
the validation tail's evidence supports a combination over a reference, and the choice of a combination
rule by cross-validation over rolling origins.

The candidates are *rules*, each a way to turn members' past forecasts into weights:

* ``("weights",)``: the least-squares convex weights over every step (:func:`convex_weights`:
  an exact solve in milliseconds; least absolute error would suit the MAE better but costs a
  hundred times more per fit, and the cross-validation scores every rule by its absolute error);
* ``("best", k, per_step)``: the plain mean of the ``k`` members with the lowest MAE,
  ranked over all steps (``per_step=False``) or at each horizon step on its own
  (``per_step=True``: the last value often wins the first steps, a mean the later ones).

Fitted weights can chase noise on short evidence, while a simple mean of the best few
members is hard to beat (the "forecast combination puzzle"), so neither is assumed:
each rule is scored by blocked cross-validation over the origins (fitted on all blocks
but one, scored on the one left out) and the lowest held-out error wins (:func:`choose`).

Pure functions of arrays; :class:`~workload_predictor.models.ensemble.Ensemble` uses them, and
``scripts/accuracy_benchmark.py``'s hindsight bounds use :func:`convex_weights_absolute`.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

EXACT_MEMBERS = 8  # at most 2**8 - 1 supports, solved as one stacked batch; the ensemble takes at most this many
#: Error sums and scores (in units of each target's size, :func:`target_size`) closer than this, per value they sum,
#: are the same up to rounding: the earlier member or rule wins, as on an exact tie. Members' forecasts that agree up
#: to rounding (a member exact on an idle stretch, two members that read the same points) differ by ~1e-16 of the
#: level, and a least-squares solve of nearly collinear members amplifies that by its condition number (scores of
#: fitted weights and of the mean they reproduce measured 5e-12 apart); a real difference of held-out errors is
#: orders of magnitude above 1e-9 of the level.
ROUNDING = 1e-9


def convex_weights(forecasts: np.ndarray, actual: np.ndarray, unit: float | None = None) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the squared error of ``w @ forecasts``.

    ``forecasts`` is ``(m, N)`` (one row per member, ``m <= EXACT_MEMBERS``), ``actual`` is
    ``(N,)``. Solved exactly by :func:`_simplex_least_squares`, on the values divided by their
    largest size, or by ``unit`` where that is larger: the size of the data they were taken from
    (the ensemble passes 1, its values being in units of each target's size), so values that are
    rounding residues of it (forecasts of an idle stretch) stay residues rather than become the
    scale. Ties between identical members are split evenly.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    m = f.shape[0]
    if m > EXACT_MEMBERS:
        raise ValueError(f"{m} members: the exact solver takes at most {EXACT_MEMBERS}")
    if m == 1:
        return np.ones(1)
    scale = max(float(np.abs(y).max(initial=0.0)), float(np.abs(f).max(initial=0.0)), unit or 0.0)
    if scale > 0:  # all zero: every weighting is exact, split evenly
        f, y = f / scale, y / scale
    gram = f @ f.T / f.shape[1]
    cross = f @ y / f.shape[1]
    return _simplex_least_squares(gram, cross)


def convex_weights_absolute(forecasts: np.ndarray, actual: np.ndarray, n_iter: int = 200) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the *absolute* error of ``w @ forecasts``.

    The MAE-optimal combination: on bursty counts (most buckets empty) the squared
    error favours the conditional mean, the absolute error the median. Solved by
    iteratively reweighted least squares on the smoothed loss ``sqrt(r^2 + d^2)``:
    each step is :func:`convex_weights` on rows weighted by ``(r^2 + d^2)^(-1/4)``
    (a majorise-minimise step for that convex loss), and ``d`` shrinks tenfold each
    time the weights settle, from a tenth of the data's scale to ``1e-7`` of it.
    Plain IRLS (``d = 0``) stalls at kinks where a residual is zero (measured: 0.4 %
    above the optimum); the smoothing path does not (within 3e-5 of a brute-force
    search in 300 random cases). The best weights seen are then polished by exact line
    searches that move weight between two members (:func:`_polish_absolute`): IRLS stops
    within ~1e-4 of the optimal weights, which left its error up to 4.4e-5 above the even
    mix's in 2 of 3000 random cases (a hypothesis test found one); polished, 0 of 3000.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    w = convex_weights(f, y)
    if f.shape[0] == 1:
        return w
    size = max(float(np.abs(y).mean()), float(np.abs(f).mean())) or 1.0  # all zero: no smoothing to shrink
    best, best_error = w, float(np.abs(y - w @ f).sum())
    smoothing = 0.1 * size
    for _ in range(n_iter):
        residual = y - w @ f
        rows = (residual * residual + smoothing * smoothing) ** -0.25
        w_next = convex_weights(f * rows, y * rows)
        error = float(np.abs(y - w_next @ f).sum())
        if error < best_error:
            best, best_error = w_next, error
        if np.abs(w_next - w).max() < 1e-4:
            if smoothing < 1e-7 * size:
                break
            smoothing *= 0.1
        w = w_next
    return _polish_absolute(f, y, best)


def line_absolute_minimum(residual: np.ndarray, direction: np.ndarray, low: float, high: float) -> float:
    """The ``t`` in ``[low, high]`` minimising ``sum |residual - t * direction|``.

    The sum is convex and piecewise linear in ``t`` with kinks at ``residual / direction``;
    its minimum is their median weighted by ``|direction|``, clipped to the interval.
    """
    moving = direction != 0
    if not moving.any():
        return 0.0
    with np.errstate(over="ignore"):  # a tiny direction puts its kink at +-inf: it sorts last and weighs ~0
        kinks = residual[moving] / direction[moving]
    weights = np.abs(direction[moving])
    order = np.argsort(kinks, kind="stable")
    cumulative = np.cumsum(weights[order])
    t = float(kinks[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])])
    return min(max(t, low), high)


def _polish_absolute(f: np.ndarray, y: np.ndarray, w: np.ndarray, sweeps: int = 20) -> np.ndarray:
    """Lower the absolute error of ``w @ f`` by exact line searches along pairwise transfers of weight.

    Moving ``t`` from member ``j`` to member ``i`` keeps the weights on the simplex for
    ``t`` in ``[-w_i, w_j]``; :func:`line_absolute_minimum` finds the best ``t`` exactly.
    Never returns weights with a larger error than ``w``.
    """
    w = np.array(w, dtype=np.float64)
    error = float(np.abs(y - w @ f).sum())
    for _ in range(sweeps):
        improved = False
        for i in range(len(w)):
            for j in range(len(w)):
                if i == j:
                    continue
                t = line_absolute_minimum(y - w @ f, f[i] - f[j], -w[i], w[j])
                if t == 0.0:
                    continue
                trial = w.copy()
                trial[i] += t
                trial[j] -= t
                trial = np.clip(trial, 0.0, None)
                trial /= trial.sum()
                trial_error = float(np.abs(y - trial @ f).sum())
                if trial_error < error * (1 - 1e-12):
                    w, error, improved = trial, trial_error, True
        if not improved:
            break
    return w


@lru_cache(maxsize=8)
def _supports(m: int) -> np.ndarray:
    """Every non-empty subset of ``range(m)`` as a ``(2**m - 1, m)`` 0/1 mask, largest subsets first."""
    masks = (np.arange(1, 2**m)[:, None] >> np.arange(m)[None, :]) & 1
    masks = masks[np.argsort(-masks.sum(axis=1), kind="stable")].astype(np.float64)
    masks.setflags(write=False)
    return masks


def _simplex_least_squares(gram: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Exact minimiser of ``w G w - 2 c w`` on the simplex, by trying every support.

    Exact rather than iterative: a projected gradient converges slowly when members
    are highly correlated (as forecasts of the same series are). On a support ``S`` the optimum solves the KKT system ``[G_SS 1; 1' 0][w; mu] = [c_S; 1]``
    (by pseudo-inverse, so identical members split evenly); the best feasible one wins.
    Every support is one system of the same size (members outside ``S`` get the rows
    ``w_j = 0``), so all are solved in one stacked call.
    ``cross`` is ``c``, ``gram`` is ``G``; returns ``w``.
    """
    m = len(cross)
    inside = _supports(m)  # (n, m)
    n = len(inside)
    system = np.zeros((n, m + 1, m + 1))
    system[:, :m, :m] = gram * inside[:, :, None] * inside[:, None, :] + np.eye(m) * (1.0 - inside)[:, None, :]
    system[:, :m, m] = system[:, m, :m] = inside
    rhs = np.concatenate([cross * inside, np.ones((n, 1))], axis=1)[..., None]
    w = (np.linalg.pinv(system) @ rhs)[:, :m, 0] * inside  # (n, m)
    feasible = np.where(inside > 0, w, np.inf).min(axis=1) >= -1e-12
    if not feasible.any():
        return np.full(m, 1.0 / m)
    w = np.clip(w[feasible], 0.0, None)
    w /= w.sum(axis=1, keepdims=True)
    values = np.einsum("ni,ij,nj->n", w, gram, w) - 2.0 * w @ cross
    # The first (largest) support within rounding of the minimum: a tie (identical members) keeps the even split.
    lowest = values.min()
    return w[int(np.flatnonzero(values <= lowest + 1e-15 * max(1.0, abs(lowest)))[0])]


# Two-sided 95 % critical values of Student's t for 1 .. 30 degrees of freedom (one-sided 97.5 %);
# beyond 30, the normal's 1.96.
_STUDENT_T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
                  2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
                  2.052, 2.048, 2.045, 2.042)


def student_t_critical(dof: int) -> float:
    """The 97.5 % quantile of Student's t with ``dof`` degrees of freedom (a table; 1.96 beyond 30)."""
    if dof < 1:
        raise ValueError(f"dof must be at least 1, got {dof}")
    return _STUDENT_T_975[dof - 1] if dof <= len(_STUDENT_T_975) else 1.96


def target_size(actual: np.ndarray) -> np.ndarray:
    """A common size per target ``[k]`` of windows ``[n, H, k]`` (or of a series ``[n, k]``: targets on the last
    axis), so token counts do not drown request counts: the mean absolute value, 1 where that is 0 (a target
    with no load: every error measured is then in its own units, whatever its scale). Errors divided by it are
    relative to the series' own scale, the units the thresholds of this module read."""
    size = np.abs(actual).mean(axis=tuple(range(np.ndim(actual) - 1)))
    return np.where(size > 0, size, 1.0)


def error_difference(candidate: np.ndarray, reference: np.ndarray, actual: np.ndarray,
                     size: np.ndarray | None = None) -> np.ndarray:
    """Per origin, the candidate's absolute error less the reference's, each target divided by ``size`` ``[k]``
    (default :func:`target_size` of ``actual``) and averaged over steps and targets: forecasts and actuals
    ``[n, H, k]`` -> ``[n]``, the ``difference`` :func:`evidence_shrinkage` and :func:`evidence_share` read."""
    size = target_size(actual) if size is None else size
    return ((np.abs(candidate - actual) - np.abs(reference - actual)) / size).mean(axis=(1, 2))


def evidence_shrinkage(difference: np.ndarray, origins: np.ndarray, horizon: int) -> tuple[float, float]:
    """How strongly validation errors say a candidate beats a reference: ``(t, shrinkage)``.

    ``difference`` holds, per validation origin, the candidate's error minus the
    reference's (negative: the candidate was better). Windows ``horizon`` steps long
    overlap, so neighbouring origins share most of their targets: the differences are
    averaged over blocks of ``horizon`` consecutive origins (by position), which are
    close to independent, and ``t`` is the blocks' mean over its standard error. The
    shrinkage, in ``[0, 1]``, is ``-t`` over Student's 97.5 % critical value for
    ``blocks - 1`` degrees of freedom, clipped: 0 when the candidate is not better
    on average, 1 once it is better by a significant margin. Fewer than two blocks
    give no evidence: ``(0.0, 0.0)``.
    """
    t, critical = _block_t(difference, origins, horizon)
    if critical is None:
        return 0.0, 0.0
    if not math.isfinite(t):  # every block the same: the sign decides
        return t, 1.0 if t < 0 else 0.0
    return t, float(np.clip(-t / critical, 0.0, 1.0)) + 0.0  # + 0.0: no negative zero


def significantly_better(differences: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Per row of ``differences`` ``[m, v]`` (a candidate's error less a reference's per origin, as
    :func:`evidence_shrinkage` reads them), whether :func:`evidence_shrinkage` gives the row a full shrinkage
    (``>= 1``): the candidate beats the reference by a significant margin. ``[m]`` bool.

    The same numbers as :func:`evidence_shrinkage` row by row, in the same order of operations (each block's sum
    accumulated origin by origin, as ``np.bincount`` adds them; the means and spreads reduced along each row), for
    ``m`` rows at once instead of a call per row.
    """
    differences = np.asarray(differences, dtype=np.float64)
    labels = _block_labels(origins, horizon)
    counts = np.bincount(labels)
    if len(counts) < 2 or len(differences) == 0:
        return np.zeros(len(differences), dtype=bool)
    sums = np.zeros((len(differences), len(counts)))
    for column, label in enumerate(labels):
        sums[:, label] += differences[:, column]
    means = sums / counts
    with np.errstate(divide="ignore", invalid="ignore"):  # a row holding an infinite or missing value decides no
        mean, spread = means.mean(axis=1), means.std(axis=1, ddof=1)
        t = mean / (spread / math.sqrt(len(counts)))
    constant = spread <= 1e-12 * np.maximum(1.0, np.abs(mean))
    return np.where(constant, mean < 0, -t / student_t_critical(len(counts) - 1) >= 1.0)


def evidence_share(difference: np.ndarray, origins: np.ndarray, horizon: int) -> tuple[float, float]:
    """The weight ``(t, share)`` a candidate takes beside a reference that has no prior claim to it.

    The t statistic of :func:`evidence_shrinkage`, read both ways: ``share = clip(0.5 -
    t / (2 t_crit), 0, 1)`` is 1 once the candidate is significantly better, 0 once it is
    significantly worse, and a half each where the errors show no difference (fewer than
    two blocks, or a mean difference of zero). For two forecasts with equal standing:
    the ensemble's combination (chosen on all the evidence) against its fallback.
    """
    t, critical = _block_t(difference, origins, horizon)
    if critical is None:
        return 0.0, 0.5
    if not math.isfinite(t):
        return t, 1.0 if t < 0 else 0.0
    return t, float(np.clip(0.5 - t / (2.0 * critical), 0.0, 1.0))


def _block_labels(origins: np.ndarray, horizon: int) -> np.ndarray:
    """Each origin's block of ``horizon`` consecutive origins (by position), numbered 0, 1, ... in order among the
    blocks some origin falls in (those in gaps between origins hold no evidence): the counts are as many as those
    blocks, not as the span of the origins (the history's origins spread over a whole series: counted over its span,
    10,000,000 buckets at horizon 1 take 170 MB for 600)."""
    origins = np.asarray(origins)
    blocks = (origins - origins.min()) // max(int(horizon), 1)  # non-negative block numbers
    _, labels = np.unique(blocks, return_inverse=True)
    return labels.reshape(-1)


def _block_t(difference: np.ndarray, origins: np.ndarray, horizon: int) -> tuple[float, float | None]:
    """The t statistic of the differences' means over blocks of ``horizon`` origins, and Student's critical value
    for it (None with fewer than two blocks); ``-inf``/``inf`` (or 0) when every block is the same, which includes
    a spread within ``1e-12`` of the unit (or of the mean, if larger): the differences are of errors on a common
    scale, where that is rounding."""
    difference = np.asarray(difference, dtype=np.float64)
    labels = _block_labels(origins, horizon)
    means = np.bincount(labels, weights=difference) / np.bincount(labels)
    if len(means) < 2:
        return 0.0, None
    critical = student_t_critical(len(means) - 1)
    mean, spread = float(means.mean()), float(means.std(ddof=1))
    if spread <= 1e-12 * max(1.0, abs(mean)):
        return (-math.inf if mean < 0 else (math.inf if mean > 0 else 0.0)), critical
    return mean / (spread / math.sqrt(len(means))), critical


#: The chance, over the members and the splits :func:`newest_shift` tests at once, that it moves weight where the
#: newest windows show no change.
SHIFT_LEVEL = 0.05


def newest_shift(difference: np.ndarray, newest: int, horizon: int,
                 level: float = SHIFT_LEVEL) -> tuple[int, float, float]:
    """Whether a candidate's errors on the newest windows fell far below what the older evidence shows:
    ``(row, t, share)``.

    ``difference`` ``[S, n]`` holds, per candidate (row) and evidence window (oldest first), the
    candidate's error less the current combination's. The differences are averaged over blocks of
    ``horizon`` windows, counted back from the newest (the oldest, partial block is dropped; not by
    origin, as :func:`evidence_shrinkage` blocks them). Each split sets the newest ``j`` blocks (within the
    ``newest`` windows, the validation tail's consecutive origins, leaving two of its blocks older)
    against the ``m >= j`` older blocks (the evidence the weights rest on):
    ``t = (mean_new - mean_old) / (s sqrt(1/j + 1/m))``, ``s`` the older blocks' spread, or the
    spread of the tail's older blocks where that is larger (the history's origins are spread
    apart, so its blocks vary less than the tail's consecutive ones). A change in the newest
    blocks widens neither. A level shift one member follows and the combination does not shows in
    the newest block long before in the error sums, or in a t test over the tail alone (one
    changed block of ten moves its mean a tenth of the way and widens the spread it is divided by).

    The block means are far from normal (on stationary Poisson counts, a one-sided Student's t at
    the level below moved weight in 11 % of one-bucket updates), so the critical value is
    Cantelli's, which holds for any distribution: ``P(t <= -k) <= 1 / (1 + k^2)``, with ``k`` for
    ``level / (S x splits)`` (Bonferroni over every candidate and split tested), so that the chance
    that any moves weight is at most about ``level`` (the spread is estimated). ``share`` is
    ``clip(-t / k - 1, 0, 1)`` for the candidate and split with the largest ``-t``: none up to the
    critical value, all of it at twice it; ``row`` is -1 with no share. No split (a tail of fewer than
    ``3 x horizon`` windows has none) gives no test (``(-1, 0.0, 0.0)``); a candidate with a non-finite
    difference gives none either (its t reads 0), nor do older blocks whose spread is within rounding of zero
    (on counts, block means can be equal by chance; after an idle stretch, every member exact, the first
    burst would take all the weight).
    """
    difference = np.asarray(difference, dtype=np.float64)
    rows, n = difference.shape
    horizon = max(int(horizon), 1)
    blocks = n // horizon
    means = difference[:, n - blocks * horizon :].reshape(rows, blocks, horizon).mean(axis=2)  # oldest first
    tail_blocks = min(newest // horizon, blocks)
    newest_blocks = np.arange(1, tail_blocks - 1)  # j, leaving at least two of the tail's blocks older
    newest_blocks = newest_blocks[blocks - newest_blocks >= newest_blocks]
    if rows == 0 or not len(newest_blocks):
        return -1, 0.0, 0.0
    older = blocks - newest_blocks  # [J]
    total, squares = np.cumsum(means, axis=1), np.cumsum(means * means, axis=1)  # [S, blocks]

    def spread_of(first: int) -> np.ndarray:  # of the blocks from ``first`` to the split, [S, J]
        count = older - first
        sums = total[:, older - 1] - (total[:, first - 1 : first] if first else 0.0)
        sum_squares = squares[:, older - 1] - (squares[:, first - 1 : first] if first else 0.0)
        return np.sqrt(np.maximum(sum_squares - sums * sums / count, 0.0) / (count - 1))

    centre = total[:, older - 1] / older
    spread = np.maximum(spread_of(0), spread_of(blocks - tail_blocks))
    change = (total[:, -1:] - total[:, older - 1]) / newest_blocks - centre
    rounding = 1e-12 * np.maximum(1.0, np.abs(centre))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(spread > rounding, change / (spread * np.sqrt(1.0 / newest_blocks + 1.0 / older)), 0.0)
    t = np.where(np.isfinite(t), t, 0.0)  # a candidate with a non-finite difference gives no evidence
    critical = math.sqrt(rows * len(older) / level - 1.0)
    row, split = np.unravel_index(int(np.argmin(t)), t.shape)
    share = float(np.clip(-t[row, split] / critical - 1.0, 0.0, 1.0))
    return (int(row), float(t[row, split]), share) if share > 0 else (-1, float(t[row, split]), 0.0)


# -- choosing a combination rule ---------------------------------------------------------------
#: Contiguous blocks of origins for the rule's cross-validation.
FOLDS = 5
#: At most this many (origin, step) points per target go into a convex-weights fit (evenly spaced origins).
WEIGHT_POINTS = 4000

Rule = tuple
#: The members' median at each step and target: robust to one member far off (a burst one member follows and the
#: others do not), and on counts whose median lies below their mean it tracks what the absolute error rewards. Not a
#: weighted sum: :func:`combine_rule` applies it.
MEDIAN: Rule = ("median",)


def describe(rule: Rule, names: list[str]) -> str:
    """A rule in words, e.g. ``"mean of the best 2 per step"``."""
    if rule[0] == "weights":
        return "fitted weights"
    if rule == MEDIAN:
        return "median of the members"
    if rule[0] == "median":  # the median beside the best weighted rule (see choose)
        return f"{rule[1]:.2f} x median of the members + {1 - rule[1]:.2f} x {describe(rule[2], names)}"
    _, k, per_step = rule
    return f"mean of the best {k}{' per step' if per_step else ''}" if k > 1 else (
        "best member per step" if per_step else "best member")


def candidate_rules(n_members: int) -> list[Rule]:
    """Every rule for ``n_members`` members: the best ``k`` over all steps and per step, fitted weights, and from
    three members on their median (of two it is their mean, a rule already)."""
    rules: list[Rule] = [("best", k, per_step) for per_step in (False, True) for k in range(1, n_members + 1)]
    if n_members < 2:
        return rules[:1]
    return [*rules, ("weights",), *([MEDIAN] if n_members >= 3 else [])]


def rule_weights(rule: Rule, forecasts: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """The weights ``[M, H]`` a rule gives members' forecasts ``[M, n, H, k]`` of ``actual`` ``[n, H, k]``.

    Forecasts and actual values are expected on a common scale per target (see :func:`choose`).
    """
    m, n, steps = forecasts.shape[:3]
    if rule == MEDIAN:  # no weighted sum (see combine_rule): no weights
        return np.zeros((m, steps))
    if rule[0] == "median":  # the median beside a weighted rule: that rule's weights, scaled by its share
        return (1.0 - rule[1]) * rule_weights(rule[2], forecasts, actual)
    if rule[0] == "weights":
        keep = np.unique(np.linspace(0, n - 1, max(1, min(n, WEIGHT_POINTS // max(steps, 1)))).round().astype(int))
        w = convex_weights(forecasts[:, keep].reshape(m, -1), actual[keep].ravel(), unit=1.0)
        return np.repeat(w[:, None], steps, axis=1)
    error = np.abs(forecasts - actual[None]).sum(axis=(1, 3))
    return best_weights(rule, error, ROUNDING * n * forecasts.shape[3])


def best_weights(rule: Rule, error: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """The weights ``[M, H]`` of a ``("best", k, per_step)`` rule from the members' absolute errors ``[M, H]``
    summed over origins (and targets): the ``k`` lowest share the weight evenly, ties to the earlier member
    (:func:`rank_members`, errors within ``tolerance`` per step of each other being ties)."""
    _, k, per_step = rule
    steps = error.shape[1]
    if not per_step:  # one ranking of the sums over the steps, for every step
        order = np.repeat(rank_members(error.sum(axis=1, keepdims=True), tolerance * steps, k), steps, axis=1)
    else:
        order = rank_members(error, tolerance, k)  # [k, H]
    weights = np.zeros(error.shape)
    np.put_along_axis(weights, order, 1.0 / k, axis=0)
    return weights


def rank_members(error: np.ndarray, tolerance: float, count: int) -> np.ndarray:
    """The ``count`` members ``[count, H]`` with the lowest ``error`` ``[M, H]`` at each step, lowest first; an
    error within ``tolerance`` of the lowest left is a tie, won by the earlier member (with ``tolerance`` 0,
    ``np.argsort(error, axis=0, kind="stable")[:count]``; NaN ranks last). Error sums of forecasts that agree
    up to rounding differ by rounding, in either direction at another scale of the same series: with a
    ``tolerance`` relative to the series' scale, they rank alike at every scale."""
    ranked = np.sort(error, axis=0)
    if not (ranked[1:] - ranked[:-1] <= tolerance).any():  # none within the tolerance (NaN's differences are none)
        return np.argsort(error, axis=0, kind="stable")[:count]
    left = np.where(np.isnan(error), np.inf, error)
    taken = np.zeros(error.shape, dtype=bool)
    steps = np.arange(error.shape[1])
    order = np.empty((min(count, len(error)), error.shape[1]), dtype=np.intp)
    for place in range(len(order)):
        first = np.argmax(~taken & (left <= left.min(axis=0) + tolerance), axis=0)
        order[place] = first
        taken[first, steps] = True
        left[first, steps] = np.inf
    return order


def combine(weights: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """The combined forecast ``[n, H, k]`` of weights ``[M, H]`` and forecasts ``[M, n, H, k]``."""
    return np.einsum("mh,mnhk->nhk", weights, forecasts)


def median_of_members(forecasts: np.ndarray) -> np.ndarray:
    """``np.median(forecasts, axis=0)``, bit for bit, for the few members of an ensemble (``[S, ...]``).

    With 2 to :data:`EXACT_MEMBERS` float64 rows and no NaN among them, the rows are sorted element by element by an
    odd-even transposition network (``np.minimum``/``np.maximum``: each output is one of its inputs) and the middle
    row, or the mean of the middle two as ``np.median`` takes it (their sum halved), is read: the median's value
    without a partition of every cell's few values (0.05 ms for 5 x 6000, ``np.median`` 0.3 ms). Only a zero's sign
    can depend on how ties between ``0.0`` and ``-0.0`` were ordered, so the cells whose median is zero (and those
    whose middle two are ``-inf`` and ``inf``) are taken from ``np.median`` itself (each cell's median reads that
    cell's values alone; its warnings stay). Otherwise ``np.median``."""
    rows = forecasts.shape[0] if forecasts.ndim > 1 else 0  # a cell per row: np.median's scalar
    if not 2 <= rows <= EXACT_MEMBERS or forecasts.dtype != np.float64 or np.isnan(forecasts).any():
        return np.median(forecasts, axis=0)
    ordered = list(forecasts)
    for start in range(rows):
        for i in range(start % 2, rows - 1, 2):
            low, high = ordered[i], ordered[i + 1]
            ordered[i], ordered[i + 1] = np.minimum(low, high), np.maximum(low, high)
    half = rows // 2
    if rows % 2:
        median = ordered[half].copy()
    else:
        with np.errstate(invalid="ignore"):  # -inf + inf: that cell is np.median's below, with its warning
            median = (ordered[half - 1] + ordered[half]) / 2.0
    again = (median == 0.0) | np.isnan(median)
    if again.any():
        median[again] = np.median(forecasts[:, again], axis=0)
    return median


def median_weight(rule: Rule | None) -> float:
    """The members' median's share of a rule's forecast: all of it for :data:`MEDIAN`, ``share`` for
    ``("median", share, rule)`` (see :func:`choose`), none for a weighted rule (or none at all)."""
    if rule is None or rule[0] != "median":
        return 0.0
    return float(rule[1]) if len(rule) > 1 else 1.0


def combine_rule(rule: Rule, weights: np.ndarray, forecasts: np.ndarray) -> np.ndarray:
    """The forecast ``[n, H, k]`` of a rule: :func:`combine` of its weights ``[M, H]`` and the forecasts
    ``[M, n, H, k]``, plus the members' median times :func:`median_weight`."""
    combined = combine(weights, forecasts)
    share = median_weight(rule)
    return combined + share * np.median(forecasts, axis=0) if share else combined


def fold_masks(n: int, folds: int = FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(test, train)`` boolean masks over ``n`` origins in time order: ``folds`` contiguous blocks, each held out
    once and the rest its training set. Fewer origins than folds: one block, trained and tested on itself."""
    if n < folds:
        every = np.ones(n, dtype=bool)
        return [(every, every)] if n else []
    blocks = np.minimum(np.arange(n) * folds // n, folds - 1)
    return [(blocks == block, blocks != block) for block in range(folds)]


def choose(forecasts: np.ndarray, actual: np.ndarray, folds: int = FOLDS, origins: np.ndarray | None = None,
           horizon: int | None = None) -> tuple[Rule, np.ndarray, dict[Rule, float], np.ndarray]:
    """The rule with the lowest cross-validated absolute error, its weights on all origins, every rule's score.

    ``forecasts`` ``[M, n, H, k]`` are out-of-sample forecasts of ``actual`` ``[n, H, k]`` at
    ``n`` origins in time order. Each target is divided by its mean absolute value so
    token counts do not drown request counts. The origins are cut into ``folds``
    contiguous blocks; each rule is fitted on all blocks but one and scored on that one
    (the score: the held-out mean absolute error, scaled). Returns ``(rule, weights [M, H],
    {rule: score}, held-out forecasts [n, H, k])``; the held-out forecasts of the chosen
    rule are out of sample twice over (members and combination), for calibration.
    Fewer origins than folds: every rule is scored in sample.

    The median (:data:`MEDIAN`), the one rule that is no weighted sum, where it scores lowest
    and the ``origins`` of the forecasts and the ``horizon`` are given, shares the weight with
    the best weighted rule as far as the evidence says it beats it: ``("median", share,
    rule)``, ``share`` from :func:`evidence_share` of its held-out errors less that rule's, per
    origin (a half without a significant difference, all of it with one).
    """
    size = target_size(actual)
    f, a = forecasts / size, actual / size
    n = f.shape[1]
    rules = candidate_rules(len(f))
    held_out = {rule: np.empty_like(a) for rule in rules}
    for test, train in fold_masks(n, folds):
        for rule in rules:
            held_out[rule][test] = combine_rule(rule, rule_weights(rule, f[:, train], a[train]), f[:, test])
    scores = {rule: float(np.abs(held_out[rule] - a).mean()) for rule in rules}
    # Ties, within rounding of the common unit (ROUNDING): the earlier (simpler) rule. A NaN score never wins.
    lowest = min((score for score in scores.values() if not math.isnan(score)), default=math.nan)
    best = next((rule for rule in rules if scores[rule] <= lowest + ROUNDING * max(1.0, lowest)), rules[0])
    chosen = held_out[best]
    if best == MEDIAN and origins is not None and horizon is not None:
        weighted = min((rule for rule in rules if rule != MEDIAN), key=lambda rule: scores[rule])
        difference = error_difference(held_out[MEDIAN], held_out[weighted], a, size=np.ones(a.shape[-1]))
        share = evidence_share(difference, np.asarray(origins), horizon)[1]
        best = ("median", share, weighted)
        chosen = share * held_out[MEDIAN] + (1.0 - share) * held_out[weighted]
    return best, rule_weights(best, f, a), scores, chosen * size
