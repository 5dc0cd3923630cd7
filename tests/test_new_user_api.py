"""What a new user of the library trips on outside the CLI: ``update`` given what ``fit`` was given, messages that
name the parameter (and, in the CLI, the option) to fix, counts written with their noun's number."""
import copy
import types

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from workload_predictor import FleetPredictor, ModelFileError, WorkloadDataError, WorkloadPredictor, model_file
from workload_predictor.cli import main
from workload_predictor.data import token_columns
from workload_predictor.fleet import _Stranded
from workload_predictor.readers import check_numbers
from workload_predictor.synthetic_requests import length_sample

START = pd.Timestamp("2024-05-10", tz="UTC")
STAMPS = pd.date_range(START, periods=66, freq="5min")


def _long(stamps: pd.DatetimeIndex) -> pd.DataFrame:
    """Two endpoints' buckets under the column names a user's export has (no "key", "timestamp" or "requests")."""
    rng = np.random.default_rng(3)
    return pd.concat([pd.DataFrame({"Endpoint Name": name, "when": stamps,
                                    "calls": rng.poisson(20, len(stamps)).astype(float)}) for name in ("a", "b")],
                     ignore_index=True)


@pytest.fixture(scope="module")
def fleet() -> FleetPredictor:
    return FleetPredictor(model="naive", horizon=2).fit(_long(STAMPS[:-2]), key="Endpoint Name", timestamp="when",
                                                        target="calls")


def test_fleet_update_takes_the_key_fit_took(fleet):
    """Before: ``TypeError: FleetPredictor.update() got an unexpected keyword argument 'key'``."""
    rows = _long(STAMPS[-2:-1])
    updated = copy.deepcopy(fleet).update(rows, key="Endpoint Name", timestamp="when")
    assert updated.update_errors_ == {}
    assert updated.predict()["timestamp"].min() == STAMPS[-1]
    assert updated.predict().equals(copy.deepcopy(fleet).update(rows, timestamp="when").predict())


@pytest.mark.parametrize("key, shown", [("Endpoint", "key='Endpoint'"), (["Endpoint Name"], "key=['Endpoint Name']")])
def test_fleet_update_refuses_another_key_column_naming_both(fleet, key, shown):
    """A key column other than fit's is refused before a row is read, naming both and the fix; a list is no column."""
    before = fleet.predict()
    with pytest.raises(WorkloadDataError) as error:
        fleet.update(_long(STAMPS[-2:-1]).rename(columns={"Endpoint Name": "Endpoint"}), key=key, timestamp="when")
    assert shown in str(error.value), str(error.value)
    if isinstance(key, str):
        assert "key='Endpoint Name'" in str(error.value) and "leave key out" in str(error.value), str(error.value)
    assert fleet.predict().equals(before)


def test_an_empty_update_is_an_idle_tick_for_a_fleet_and_refused_with_the_fix_by_a_predictor(fleet):
    """A fleet's tick of no rows updates no key (as a key without rows keeps its fit); a predictor's update of one
    series refuses it. Before, the predictor said "the input is empty; pass a series with at least one bucket per
    row", fit's words, which give no fix for an update."""
    updated = copy.deepcopy(fleet).update(_long(STAMPS[:0]), timestamp="when")
    assert updated.update_errors_ == {} and updated.predict().equals(fleet.predict())
    series = _long(STAMPS).query("`Endpoint Name` == 'a'")
    predictor = WorkloadPredictor(model="naive", horizon=2).fit(series.iloc[:-2], timestamp="when", target="calls")
    with pytest.raises(WorkloadDataError, match="no rows.*skip the call while no new bucket has closed"):
        predictor.update(series.iloc[:0], timestamp="when")
    assert predictor.n_updates_ == 0


def test_one_value_that_is_no_number_is_counted_as_one():
    """Before: ``column 'requests' holds 'ERR' at row 1, not a number (1 such values)``."""
    with pytest.raises(WorkloadDataError, match=r"\(1 such value\)"):
        check_numbers(pd.DataFrame({"requests": ["3", "ERR", "4"]}), ["requests"])
    with pytest.raises(WorkloadDataError, match=r"\(2 such values\)"):
        check_numbers(pd.DataFrame({"requests": ["3", "ERR", "x"]}), ["requests"])


@pytest.mark.parametrize("given, option", [({"input_column": "prompt"}, "input"), ({"output_column": "reply"}, "output")])
def test_a_token_column_the_log_lacks_names_the_parameter_to_fix(given, option):
    """Before: ``no token column 'prompt' (columns: [...]).``, naming neither input_column= nor a fix."""
    with pytest.raises(WorkloadDataError) as error:
        token_columns(["timestamp", "input_tokens", "output_tokens"], **given)
    assert f"pass {option}_column=<column name>" in str(error.value), str(error.value)


def test_the_cli_names_the_option_for_a_token_column_the_log_lacks(tmp_path):
    """Before: ``error: no token column 'prompt' (columns: [...]).``; the library's ``input_column=`` reads as the
    CLI's ``--input-col``."""
    path = tmp_path / "log.csv"
    path.write_text("timestamp,input_tokens\n" + "".join(f"2024-05-10T00:00:{i:02d}Z,5\n" for i in range(40)))
    result = CliRunner().invoke(main, ["inspect", str(path), "--input-col", "prompt"])
    assert result.exit_code != 0
    assert "pass --input-col NAME with the column" in result.output and "input_column" not in result.output, \
        result.output


def test_the_cli_calls_an_empty_token_cell_of_a_bucketed_series_a_missing_value(tmp_path):
    """Before: ``its input_tokens column holds nan in the bucket of ... (1 such bucket), no token count``."""
    path = tmp_path / "series.csv"
    rows = [f"{stamp:%Y-%m-%dT%H:%M:%SZ},5,{'' if i == 60 else 500}" for i, stamp in enumerate(STAMPS)]
    path.write_text("timestamp,requests,input_tokens\n" + "\n".join(rows) + "\n")
    result = CliRunner().invoke(main, ["forecast", str(path), "--model", "naive", "-q", "--requests",
                                       str(tmp_path / "r.csv")])
    assert result.exit_code != 0
    assert "has no value in the bucket of 2024-05-10 05:00:00Z" in result.output, result.output
    assert "1 such bucket)" in result.output and "holds nan" not in result.output, result.output



def _two_targets(stamps: pd.DatetimeIndex) -> pd.DataFrame:
    return _long(stamps).query("`Endpoint Name` == 'a'").assign(load=lambda f: f["calls"] * 2)


@pytest.fixture(scope="module")
def predictor() -> WorkloadPredictor:
    return WorkloadPredictor(model="naive", horizon=2).fit(_two_targets(STAMPS[:-2]), timestamp="when",
                                                           target=["calls", "load"])


@pytest.mark.parametrize("target", [["calls", "load"], ("load", "calls")])
def test_update_takes_the_targets_fit_took_in_any_order(fleet, predictor, target):
    """Before: ``TypeError: WorkloadPredictor.update() got an unexpected keyword argument 'target'`` (the fleet's
    likewise)."""
    rows = _two_targets(STAMPS[-2:-1])
    given = copy.deepcopy(predictor).update(rows, timestamp="when", target=target).predict()
    plain = copy.deepcopy(predictor).update(rows, timestamp="when").predict()
    assert given.index[0] == STAMPS[-1] and np.array_equal(given.yhat, plain.yhat)
    one = ["calls"] if isinstance(target, list) else "calls"
    updated = copy.deepcopy(fleet).update(_long(STAMPS[-2:-1]), timestamp="when", key="Endpoint Name", target=one)
    assert updated.update_errors_ == {} and updated.predict()["timestamp"].min() == STAMPS[-1]


@pytest.mark.parametrize("target, shown", [("calls", "target='calls'"), (["calls", "load", "x"], "'x'")])
def test_predictor_update_refuses_other_targets_naming_both(predictor, target, shown):
    """Targets other than fit's are refused before a row is read, naming both and the fix; nothing changes."""
    with pytest.raises(WorkloadDataError) as error:
        predictor.update(_two_targets(STAMPS[-2:-1]), timestamp="when", target=target)
    message = str(error.value)
    assert shown in message and "fitted with target=['calls', 'load']" in message, message
    assert "leave target out" in message and predictor.n_updates_ == 0, message


def test_fleet_update_refuses_other_targets_naming_both(fleet):
    """As the predictor's: a fleet fitted on 'calls' given rows of 'load' and target='load'."""
    before = fleet.predict()
    with pytest.raises(WorkloadDataError) as error:
        fleet.update(_long(STAMPS[-2:-1]).rename(columns={"calls": "load"}), timestamp="when", target="load")
    message = str(error.value)
    assert "target='load', but the fleet was fitted with target='calls'" in message, message
    assert "leave target out" in message and fleet.predict().equals(before), message


def test_a_request_lengths_count_of_bad_values_is_written_with_its_noun_in_number():
    """Before: ``(1 such values among the rows drawn from)`` and ``(1 such buckets with requests)``."""
    with pytest.raises(WorkloadDataError, match=r"\(1 such value among the rows drawn from\)"):
        length_sample(None, pd.DataFrame({"input_tokens": ["5", "x", "7"]}), None)
    with pytest.raises(WorkloadDataError, match=r"\(2 such values among"):
        length_sample(None, pd.DataFrame({"input_tokens": ["5", "x", "-7"]}), None)
    history = pd.DataFrame({"requests": [3.0, 4.0], "input_tokens": [30.0, np.nan]}, index=STAMPS[:2])
    with pytest.raises(WorkloadDataError, match=r"\(1 such bucket with requests\)"):
        length_sample(types.SimpleNamespace(history=history), None, None)


def test_the_cli_counts_one_row_left_out_of_a_fleet_table_as_one(tmp_path):
    """Before: ``... 1 more rows (write them all with --out)`` for a table of 61 rows (60 are printed)."""
    path = tmp_path / "fleet.csv"
    stamps = pd.date_range(START, periods=140, freq="5min")  # enough for a horizon of 61
    path.write_text("timestamp,key,requests\n" + "".join(f"{stamp:%Y-%m-%dT%H:%M:%SZ},a,{20 + i % 7}\n"
                                                         for i, stamp in enumerate(stamps)))
    result = CliRunner().invoke(main, ["forecast", str(path), "--by", "key", "--horizon", "61", "--model", "naive"])
    assert result.exit_code == 0, result.output
    assert "... 1 more row (write them all with --out)" in result.output, result.output


def test_a_fleets_stranded_partitions_are_counted_with_their_verb_in_number():
    """Before: ``1 partitions wait for workers that have left``."""
    assert str(_Stranded([object()])) == "1 partition waits for workers that have left"
    assert str(_Stranded([object(), object()])) == "2 partitions wait for workers that have left"


def test_a_damaged_fleet_files_key_counts_are_written_with_their_noun_in_number(fleet, tmp_path):
    """Before: ``lists 1 keys in keys_``, ``outside its 1 keys' windows`` and ``outside its 1 keys' newest``."""
    damaged = copy.deepcopy(fleet)
    damaged.keys_.pop()
    path = tmp_path / "fleet.wp"
    damaged.save(path)
    with pytest.raises(ModelFileError, match=r"lists 1 key in keys_ \(1 distinct\) but holds the state of 2"):
        FleetPredictor.load(path)

    def refuse(reason):
        raise ModelFileError(reason)

    block = types.SimpleNamespace(flag_at=np.array([[0, -1, 0]], np.int64), flag_median=np.array([1.0]),
                                  window=np.array([10]))
    with pytest.raises(ModelFileError, match=r"outside its 1 key's windows \(and the \d+ buckets before each\)"):
        model_file._check_block_flags(block, 1, 20, 1, refuse)
    recent = types.SimpleNamespace(recent_flags=np.array([[0, 20]], np.int64))
    with pytest.raises(ModelFileError, match=r"recent flagged bucket outside its 1 key's newest \d+ buckets"):
        model_file._check_block_recent(recent, 1, 20, refuse)
