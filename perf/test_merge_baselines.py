"""perf/merge_baselines.py keeps, per case, the least disturbed of runs saved from one commit."""

import pytest

from perf.merge_baselines import add, merge


def _run(commit, when, normalised, growth):
    return {"commit_info": {"id": commit}, "machine_info": {"node": "ci", "cpu": {"brand_raw": "x"}}, "datetime": when,
            "benchmarks": [
                {"fullname": "perf/a.py::test_fit", "extra_info": {"normalised": normalised}},
                {"fullname": "perf/a.py::test_memory", "extra_info": {"growth_fit_mb": growth, "growth_predict_mb": 0.0}},
                {"fullname": "perf/a.py::test_import", "extra_info": {"figure": normalised}},
            ]}


def test_each_case_comes_from_its_least_disturbed_run():
    merged = merge([_run("c1", "t1", 2.0, 1.0), _run("c1", "t2", 1.5, 3.0)])
    cases = {b["fullname"]: b["extra_info"] for b in merged["benchmarks"]}
    assert cases["perf/a.py::test_fit"]["normalised"] == 1.5  # the second run was less contended
    assert cases["perf/a.py::test_memory"]["growth_fit_mb"] == 1.0  # the first grew less
    assert cases["perf/a.py::test_import"]["figure"] == 2.0  # figures the test measured: the first run's
    assert [m["cases"] for m in merged["merged_from"]] == [2, 1]


def test_runs_of_different_commits_are_refused():
    with pytest.raises(SystemExit, match="different commits"):
        merge([_run("c1", "t1", 2.0, 1.0), _run("c2", "t2", 1.5, 3.0)])


def test_cases_a_baseline_lacks_are_added_and_its_own_kept():
    baseline = _run("c0", "t0", 1.0, 1.0)
    later = [{**_run("c1", f"t{i}", n, 0.0), "benchmarks": [{"fullname": "perf/a.py::test_new",
                                                             "extra_info": {"normalised": n}}]} for i, n in ((1, 3.0), (2, 2.5))]
    merged = add(baseline, later)
    cases = {b["fullname"]: b["extra_info"] for b in merged["benchmarks"]}
    assert merged["commit_info"] == {"id": "c0"}  # the gate still pairs with the baseline's code
    assert cases["perf/a.py::test_fit"]["normalised"] == 1.0 and cases["perf/a.py::test_new"]["normalised"] == 2.5
    assert merged["added"] == [{"commit": "c1", "dirty": None, "datetime": ["t1", "t2"], "cases": ["perf/a.py::test_new"]}]


def test_adding_a_case_the_baseline_has_is_refused():
    with pytest.raises(SystemExit, match="already has perf/a.py::test_fit"):
        add(_run("c0", "t0", 1.0, 1.0), [_run("c1", "t1", 2.0, 1.0)])
