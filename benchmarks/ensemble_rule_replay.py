"""Issue #11: can a rule reading only the past bring the ensemble within 2 % of the best simple baseline on more of
the 42 grid settings? Each refit's evidence, replayed under other combination rules.

``scripts/accuracy_benchmark.py --only grid``'s protocol (the last quarter, every origin, three refits): at each
refit the ensemble is fitted once, and what its combination read is kept (every slot's out-of-sample forecasts
of the history and of the validation tail, ``evidence_forecast_``, with the origins) with the slots' forecasts
of the test origins up to the next refit. A rule is then a function of that evidence alone (the same code for
every series); its slot weights times the slots' test forecasts are its forecasts (clipped at 0, as
``predict`` gives them). The ensemble's own rule, replayed, reproduces its forecasts exactly (checked), so a
rule's figures are what the library would give with that rule at fit.

Rules replayed (``RULES``): the ensemble's own; the fallback (best baseline) chosen on all the evidence instead
of the history alone; the combination's share against the fallback from every evidence origin (the chosen rule's
cross-validated forecasts against the fallback chosen on the other folds) with no evidence giving a half or
none; a hard switch on the tail's sign; the weighted median of the final weights; the fallback chosen on the
baselines' own longer history; the moving median as fallback unless a baseline is significantly better, with
no share to the combination without evidence. For reference (not rules: they use the test span): always the
moving median, and the hindsight bounds against the best baseline (a baseline, a member, convex weights, each
chosen on the other nine tenths of the test span).

Per rule: within 2 % of the best baseline and of the best member (counts of 42), geometric-mean ratio to the
best member, the worst ratio to the best baseline, and the change against the ensemble's own rule as evidence
(``accuracy_benchmark.paired_change``: settings significantly better / worse, the mean relative change and its t
over the 33 settings whose test span holds two or more blocks of a horizon; the other nine cannot tell).

Run: OMP_NUM_THREADS=1 python3 benchmarks/ensemble_rule_replay.py   (~3 minutes on 2 busy cores; the fits)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "scripts"))

import accuracy_benchmark as ab  # noqa: E402 - after sys.path
from workload_predictor import WorkloadPredictor  # noqa: E402
from workload_predictor.backtest import run_backtest  # noqa: E402
from workload_predictor.data import BucketedSeries  # noqa: E402
from workload_predictor.errors import WorkloadDataError  # noqa: E402
from workload_predictor.models import combination as C  # noqa: E402
from workload_predictor.models import registry  # noqa: E402

BASELINES = set(registry.names(baseline=True))
OWN_HISTORY = ("naive", "moving_average", "moving_median")  # baselines forecast on their own longer history


def harvest(values, index, freq, horizon, test_size, stride, refit_every, **_) -> dict:
    """One setting: the baselines' backtest, and per refit the ensemble's evidence and its slots' test forecasts."""
    base = run_backtest(BucketedSeries(index=index, values=values, targets=("y",), freq=freq), (), ab.BASELINES,
                        horizon=horizon, test_size=test_size, stride=stride, refit_every=refit_every, verbose=False)
    origins, actual = base.origins, base.actual[..., 0]
    frame = pd.DataFrame(values, index=index, columns=["y"])
    bounds = np.searchsorted(origins, base.refits, side="left").tolist() + [len(origins)]
    yhat, refits, members = np.empty_like(actual), [], {}
    for point, first, stop in zip(base.refits, bounds[:-1], bounds[1:]):
        predictor = WorkloadPredictor(model="ensemble", horizon=horizon, level=ab.LEVEL, random_state=0, verbose=False)
        predictor.fit(frame.iloc[:point], timestamp=None, target=["y"], freq=freq)
        at, model = origins[first:stop], predictor.model_
        yhat[first:stop] = np.clip(predictor._forecasts_at(values, at), 0.0, None)[..., 0]
        for name, member in model.members_.items():  # as accuracy_benchmark scores the members
            members.setdefault(name, np.full_like(actual, np.nan))[first:stop] = np.clip(
                member.predict_at(values, at), 0.0, None)[..., 0]
        test = {}
        for name, member in model.members_.items():  # as the ensemble's own forecast reads them
            predictor.model_ = member
            test[name] = predictor._forecasts_at(values, at)[..., 0]
        predictor.model_ = model
        slots = model._slots()
        shared = model._lstm_shares_slot()
        first_tail = int(model.validation_origins_[0])
        own = np.arange(max(model.members_[n].context_length() for n in OWN_HISTORY), first_tail - horizon + 1)
        own = np.unique(np.round(np.linspace(own[0], own[-1], min(len(own), 500))).astype(np.int64)) if len(own) else own
        refits.append(dict(
            first=first, stop=stop, slots=slots,
            test=np.stack([test["lstm"] if n == "dlinear" and shared else test[n] for n in slots]),
            evidence=model.evidence_forecast_, actual=model.evidence_actual_,
            origins=np.concatenate([model._history_origins(values[:point]), model.validation_origins_]),
            n_hist=model.n_history_origins_,
            own=dict(forecasts={n: model.members_[n]._predict_at(values[:point], own) for n in OWN_HISTORY},
                     actual=values[:point][own[:, None] + np.arange(horizon)] if len(own) else None)))
    members = {n: f for n, f in members.items() if not np.isnan(f).any()}
    return dict(actual=actual, yhat=yhat, horizon=horizon, refits=refits,
                baselines={b: np.clip(base.forecasts[b]["yhat"][..., 0], 0.0, None) for b in base.forecasts
                           if b in ab.BASELINES},
                members=members)


# -- rules: evidence in, slot weights [S, H] and the median's share out -------------------------------------------

def _fallback_rows(slots):
    return [i for i, n in enumerate(slots) if n in BASELINES] + (
        [slots.index("seasonal_median")] if "seasonal_median" in slots else [])


def _one_hot(S, H, row):
    w = np.zeros((S, H))
    w[row] = 1.0
    return w


def _best(F, A, rows):
    """The ensemble's fallback: the row with the lowest scaled absolute error (ties to the earlier)."""
    error = (np.abs(F[rows] - A[None]) / C.target_size(A)).sum(axis=(1, 2, 3))
    return rows[int(np.argmin(error))]


def _block_t(difference, origins, horizon):
    return C._block_t(difference, origins, horizon)


def make_rule(fallback="history", share="tail", prior=0.5, combine="mean"):
    """A rule: the fallback chosen on ``fallback`` (history, all, own, median_prior); the combination's share from
    the ``share`` evidence (tail, all, hard), ``prior`` where it has none (0.5: a half; 0: none)."""

    def rule(r):
        F, A, origins, nh = r["evidence"], r["actual"], r["origins"], r["n_hist"]
        S, n, H = F.shape[:3]
        chosen_rule, _, _, held = C.choose(F, A, origins=origins, horizon=H)
        size = C.target_size(A)
        error = (np.abs(F - A[None]) / size).sum(axis=(1, 3))

        def apply(rule):  # as Ensemble._rule_weights
            if rule[0] == "best":
                return C.best_weights(rule, error)
            if rule[0] == "median" and len(rule) > 1:
                return (1.0 - C.median_weight(rule)) * apply(rule[2])
            return C.rule_weights(rule, F / size, A / size)

        chosen, rows = apply(chosen_rule), _fallback_rows(r["slots"])

        def pick(mask):
            if fallback == "own" and r["own"]["actual"] is not None:
                a = r["own"]["actual"]
                errors = {k: np.abs(f - a).mean() for k, f in r["own"]["forecasts"].items()}
                return r["slots"].index(min(errors, key=errors.get))
            if fallback == "median_prior":  # the moving median unless the best is significantly better
                mm, best = r["slots"].index("moving_median"), _best(F[:, mask], A[mask], rows)
                e = (np.abs(F[:, mask] - A[mask][None]) / size).mean(axis=(2, 3))
                t, critical = _block_t(e[best] - e[mm], origins[mask], H)
                return best if critical is not None and t < -critical else mm
            return _best(F[:, mask], A[mask], rows)

        hist = np.arange(n) < (nh or n)
        fb = _one_hot(S, H, pick(np.ones(n, bool) if fallback == "all" else hist))
        if share in ("tail", "hard"):
            difference = C.error_difference(C.combine_rule(chosen_rule, chosen, F[:, nh:]), C.combine(fb, F[:, nh:]),
                                            A[nh:], size)
            at = origins[nh:]
        else:  # every origin: the rule's held-out forecasts against the fallback chosen on the other folds
            held_fb = np.empty_like(held)
            for test, train in C.fold_masks(n):
                mask = train if fallback == "all" else train & hist
                held_fb[test] = C.combine(_one_hot(S, H, pick(mask)) if mask.any() else fb, F[:, test])
            difference, at = C.error_difference(held, held_fb, A, size), origins
        t, critical = _block_t(difference, at, H)
        if critical is None:
            s = prior
        elif share == "hard":
            s = 1.0 if t < 0 else 0.0
        elif prior == 0.0:
            s = C.evidence_shrinkage(difference, at, H)[1]
        else:
            s = C.evidence_share(difference, at, H)[1]
        return s * chosen + (1.0 - s) * fb, s * C.median_weight(chosen_rule), combine

    return rule


def always(name):
    def rule(r):
        S, H = r["evidence"].shape[0], r["evidence"].shape[2]
        return _one_hot(S, H, r["slots"].index(name)), 0.0, "mean"
    return rule


RULES = {
    "the ensemble's own (0.26.0)": make_rule(),
    "fallback chosen on all evidence": make_rule(fallback="all"),
    "share from every origin, a half without evidence": make_rule(share="all"),
    "share from every origin, none without evidence": make_rule(share="all", prior=0.0),
    "tail's sign switches (hard), a half without": make_rule(share="hard"),
    "weighted median of the final weights": make_rule(combine="median"),
    "fallback on the baselines' own history": make_rule(fallback="own"),
    "moving-median fallback, no share without evidence": make_rule(fallback="median_prior", prior=0.0),
    "reference, not a rule: always the moving median": always("moving_median"),
}


def _weighted_median(values, weights):
    """``values`` [S, t, H], ``weights`` [S, H]: the lower weighted median over S, [t, H]."""
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    cum = np.cumsum(np.take_along_axis(np.broadcast_to(weights[:, None], values.shape), order, axis=0), axis=0)
    return np.take_along_axis(v, np.argmax(cum >= 0.5 * cum[-1:] - 1e-12, axis=0)[None], axis=0)[0]


def replay(setting, rule):
    out = np.empty_like(setting["actual"])
    for r in setting["refits"]:
        weights, median_share, how = rule(r)
        test = r["test"]
        if how == "median":
            if median_share:
                test = np.concatenate([test, np.median(test, axis=0)[None]])
                weights = np.concatenate([weights, np.full((1, weights.shape[1]), median_share)])
            f = _weighted_median(test, weights)
        else:
            f = np.einsum("sh,sth->th", weights, test) + (median_share * np.median(test, axis=0) if median_share else 0)
        out[r["first"]:r["stop"]] = np.clip(f, 0.0, None)
    return out


def _cv(stack, actual, folds=ab.CV_FOLDS):
    out = np.empty_like(actual)
    for fold in np.array_split(np.arange(len(actual)), min(folds, len(actual))):
        train = np.ones(len(actual), bool)
        train[fold] = False
        out[fold] = stack[int(np.argmin(np.abs(stack[:, train] - actual[train]).mean(axis=(1, 2))))][fold]
    return out


def main():
    settings = []
    for label, setting in ab.grid_settings(readme_only=False):
        try:
            settings.append(dict(label, **harvest(**setting)))
        except WorkloadDataError:
            continue
        print(f"fitted {label['name']}", flush=True)
    mae = lambda s, f: float(np.abs(s["actual"] - f).mean())  # noqa: E731
    best_base = [min(mae(s, f) for f in s["baselines"].values()) for s in settings]
    best_member = [min(mae(s, f) for f in s["members"].values()) for s in settings]
    own = None
    print(f"\n{'rule':52s} {'/baseline':>9s} {'/member':>8s} {'geo/mem':>8s} {'worst/b':>8s}  paired change vs own")
    for name, rule in RULES.items():
        forecasts = [replay(s, rule) for s in settings]
        if own is None:
            own = forecasts
            assert all(np.allclose(f, s["yhat"], rtol=1e-9, atol=1e-9) for f, s in zip(forecasts, settings)), \
                "the replayed own rule must reproduce the ensemble's forecasts"
        e = np.array([mae(s, f) for s, f in zip(settings, forecasts)])
        b, m = e / best_base, e / best_member
        paired = [ab.paired_change(np.abs(s["actual"] - o).mean(axis=1), np.abs(s["actual"] - f).mean(axis=1),
                                   s["horizon"]) for s, o, f in zip(settings, own, forecasts)]
        tested = [(c, t, n) for c, t, n in paired if n >= 2]
        critical = [C.student_t_critical(n - 1) for *_, n in tested]
        changes = np.array([c for c, _, _ in tested])
        spread = changes.std(ddof=1)
        print(f"{name:52s} {np.sum(b <= 1.02):6d}/42 {np.sum(m <= 1.02):5d}/42 {np.exp(np.log(m).mean()):8.4f} "
              f"{b.max():8.3f}  better {sum(t < -c for (_, t, _), c in zip(tested, critical))} worse "
              f"{sum(t > c for (_, t, _), c in zip(tested, critical))} of {len(tested)}, mean {changes.mean():+.2%}"
              f" (t {changes.mean() / (spread / np.sqrt(len(changes))) if spread else 0.0:+.2f})")
    print("\nhindsight against the best baseline (chosen on the rest of the test span, ten folds):")
    for name, stacks in (("a baseline", [np.stack(list(s["baselines"].values())) for s in settings]),
                         ("a member", [np.stack(list(s["members"].values())) for s in settings])):
        r = np.array([mae(s, _cv(x, s["actual"])) / bb for s, x, bb in zip(settings, stacks, best_base)])
        print(f"  {name:10s}: within 2 % {np.sum(r <= 1.02)}/42, geometric mean {np.exp(np.log(r).mean()):.4f}, "
              f"worst {r.max():.3f}")


if __name__ == "__main__":
    main()
