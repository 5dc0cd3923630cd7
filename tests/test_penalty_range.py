"""A DLinear ridge penalty (``alpha`` times the windows' mean variance) outside the normal floats is a typed error
naming ``alpha`` (review h219), at both ends and on every path that forms one: 0.46.0 refused a penalty past the
largest float in DLinear's own rules (h213), but a penalty below the smallest normal float (an ``alpha`` near 0, a
file's ``alpha_``) fitted and then forecast NaN after an update, or raised numpy's bare ``LinAlgError``; and a
fleet's batched DLinear, which forms its penalties apart, raised a bare ``ValueError`` ("max() arg is an empty
sequence") for either."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from test_model_file_fuzz import node, pack, stored_fields, unpack
from workload_predictor import FleetPredictor, NoKeyFittedError, WorkloadDataError, WorkloadPredictor
from workload_predictor.models.dlinear import DLinear

BELOW = (r"alpha=(1e-300|4\.94066e-324) \(the relative ridge penalty.*below the smallest normal float"
         r".*pass a larger alpha")
PAST = r"alpha=1e\+307 \(the relative ridge penalty.*past the largest float.*pass a smaller alpha"


def constant_frame(n: int = 400, value: float = 5.0) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.date_range("2024-01-01", periods=n, freq="1min"),
                         "requests": np.full(n, value)})


@pytest.mark.parametrize("alpha", [1e-300, 5e-324])
def test_an_alpha_whose_penalty_is_below_the_smallest_normal_float_is_a_typed_error_at_fit(alpha):
    """A constant series' windows' variance is the floor 1e-12: alpha=1e-300 gives a subnormal penalty (fitted, then
    NaN forecasts after an update), the smallest float a penalty of 0 (numpy's bare LinAlgError "Singular matrix")."""
    with pytest.raises(WorkloadDataError, match=BELOW):
        DLinear(window=24, horizon=6, alpha=alpha).fit(np.full(300, 5.0))


def test_a_model_file_whose_alpha_gives_a_subnormal_penalty_is_refused_at_its_update(tmp_path):
    """A file's alpha_ of 1e-300 (finite and above 0, which load's check asks) loaded, and its first update's
    penalty was subnormal: the forecast after it NaN (predict raised). The update is a typed error naming alpha and
    the model stays as it was."""
    frame = constant_frame()
    predictor = WorkloadPredictor(model="dlinear", horizon=6, window=24).fit(frame.iloc[:300])
    path = tmp_path / "model.wp"
    predictor.save(path)
    header, state, arrays = unpack(path.read_bytes())
    (where,) = [p for p, name in stored_fields(state) if name == "state.model_.state.alpha_"]
    stored = node(state, where[:-1])
    stored[where[-1]] = 1e-300
    path.write_bytes(pack(header, state, arrays))
    loaded = WorkloadPredictor.load(path)
    before = loaded.predict()
    with pytest.raises(WorkloadDataError, match=BELOW):
        loaded.update(frame.iloc[300:301])
    after = loaded.predict()
    assert np.isfinite(after.yhat).all()
    np.testing.assert_array_equal(after.yhat, before.yhat)


def fleet_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    t = pd.date_range("2024-01-01", periods=400, freq="1min", tz="UTC")
    return pd.concat([pd.DataFrame({"timestamp": t, "key": "busy", "requests": rng.poisson(100, 400).astype(float)}),
                      pd.DataFrame({"timestamp": t, "key": "idle", "requests": np.full(400, 5.0)})])


@pytest.mark.parametrize("alpha, match", [(1e307, PAST), (1e-300, BELOW)], ids=["past", "below"])
def test_a_fleets_batched_dlinear_alpha_outside_the_floats_is_a_typed_error(alpha, match):
    """The batched fit's window search scored every window NaN and raised max()'s bare ValueError."""
    frame = fleet_frame()
    with pytest.raises(NoKeyFittedError, match=match):
        FleetPredictor(model="dlinear", horizon=6, model_params={"alpha": alpha}).fit(frame)
    with pytest.raises(WorkloadDataError, match=match):
        FleetPredictor(model="dlinear", horizon=6, model_params={"alpha": alpha}, strict=True).fit(frame)
    # the same setting with a window given (no search): the refit's penalties
    with pytest.raises(NoKeyFittedError, match=match):
        FleetPredictor(model="dlinear", horizon=6, window=24, model_params={"alpha": alpha}).fit(frame)


def test_the_batched_penalties_name_the_alpha_of_the_first_series_outside_the_floats():
    """Per-series alphas (the window search's penalties): the error names the offending series' alpha and scale;
    the others' penalties are those of 0.46.0's arithmetic."""
    from workload_predictor.models.dlinear_batched import relative_penalties

    gram = np.stack([np.eye(4) * 2.0, np.eye(4) * 3.0, np.eye(4) * 5.0])  # mean variances 2, 3, 5
    fine = relative_penalties(gram, np.array([1.0, 1e-3, 1e300]), checked=True)
    np.testing.assert_array_equal(fine, np.array([1.0, 1e-3, 1e300]) * np.array([2.0, 3.0, 5.0]))
    with pytest.raises(WorkloadDataError, match=r"alpha=1e\+308 .* mean variance 3 is past the largest float"):
        relative_penalties(gram, np.array([1.0, 1e308, 1e-320]), checked=True)
    with pytest.raises(WorkloadDataError, match=r"alpha=1e-310 .* mean variance 5 is below the smallest normal"):
        relative_penalties(gram, np.array([1.0, 1.0, 1e-310]), checked=True)
    assert relative_penalties(gram, np.array([1.0, 1e308, 1e-320]))[1] == np.inf  # unchecked: the caller's call


@pytest.mark.parametrize("targets", [["requests"], ["requests", "input_tokens"]])
@pytest.mark.parametrize("window", [None, 24], ids=["search", "given"])
def test_a_batched_fleets_penalty_error_names_the_key_whose_numbers_it_quotes(targets, window):
    """Review h219: every key of the batch got the first bad series' error, quoting its variance as if it were the
    key's own. Three keys, the idle one (variance at its floor 1e-12, so alpha 1e-300 gives a subnormal penalty) in
    the middle: each key's error names 'idle' as the key whose windows' variance it quotes, and says why the busy
    keys are refused with it."""
    rng = np.random.default_rng(0)
    t = pd.date_range("2024-01-01", periods=400, freq="1min", tz="UTC")

    def key(name: str, values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"timestamp": t, "key": name, "requests": values, "input_tokens": values * 300.0})

    frame = pd.concat([key("busy", rng.poisson(100, 400).astype(float)), key("idle", np.full(400, 5.0)),
                       key("other", rng.poisson(40, 400).astype(float))])
    with pytest.raises(NoKeyFittedError) as caught:
        FleetPredictor(model="dlinear", horizon=6, window=window, model_params={"alpha": 1e-300}).fit(
            frame, target=targets)
    errors = caught.value.errors
    assert sorted(errors) == ["busy", "idle", "other"]
    for name, error in errors.items():
        assert isinstance(error, WorkloadDataError)
        assert ("alpha=1e-300 (the relative ridge penalty; a fitted model's alpha_) times the windows' mean variance "
                "of key 'idle', 1e-12, is below the smallest normal float") in str(error), (name, str(error))
        assert "the 2 other keys of this batch are refused with it." in str(error), (name, str(error))
