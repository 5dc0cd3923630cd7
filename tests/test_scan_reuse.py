"""The scan a fit keeps (anomaly._Scanned) serves only the series it scanned: the same values bit for bit, unwritten
since, for the same floor; any other series is scanned afresh."""

import numpy as np
import pytest

from workload_predictor import anomaly


def _series(n=600):
    values = np.random.default_rng(0).poisson(50, n).astype(float)[:, None]
    values[100::20] = 4294967295.0  # flagged from bucket 100 on
    return values


def _scans(monkeypatch):
    calls = []
    leading = anomaly._leading
    monkeypatch.setattr(anomaly, "_leading", lambda values, floor: calls.append(len(values)) or leading(values, floor))
    return calls


def _kept_then(values, floor, other, other_floor=None, between=None):
    """``series_flags`` of ``values`` (kept), then of ``other`` in the same fit: its flags."""
    def fit():
        anomaly.series_flags(values, floor)
        if between is not None:
            between()
        return anomaly.series_flags(other, floor if other_floor is None else other_floor)
    return anomaly.keeping_scans(fit)()


def _afresh(values, floor):
    anomaly._SCANNED.__dict__.pop("last", None)
    return anomaly.series_flags(values, floor)


@pytest.mark.parametrize("length", [600, 450])  # the whole series, its start
def test_an_equal_copy_reuses_the_kept_scan(monkeypatch, length):
    values = _series()
    floor = anomaly.floor_of(values)
    scans = _scans(monkeypatch)
    flags = _kept_then(values, floor, values[:length].copy())
    assert scans == [600]  # one scan
    assert flags == _afresh(values[:length], floor)


@pytest.mark.parametrize("length", [600, 450])
def test_a_series_that_differs_in_one_bucket_is_scanned_afresh(monkeypatch, length):
    values = _series()
    floor = anomaly.floor_of(values)
    other = values[:length].copy()
    other[length - 1] = 4294967295.0  # a sentinel the kept scan did not see there
    scans = _scans(monkeypatch)
    flags = _kept_then(values, floor, other)
    assert scans == [600, length]
    assert flags == _afresh(other, floor) and (length - 1, 0) in anomaly.flagged_of(flags)


def test_a_series_that_differs_only_in_the_sign_of_a_zero_is_scanned_afresh(monkeypatch):
    values = _series()
    values[300] = 0.0
    floor = anomaly.floor_of(values)
    other = values.copy()
    other[300] = -0.0  # equal as numbers, not bit for bit
    scans = _scans(monkeypatch)
    _kept_then(values, floor, other)
    assert scans == [600, 600]


def test_a_kept_series_written_in_place_since_its_scan_is_not_reused(monkeypatch):
    """The kept scan holds the series itself, not a copy: a write into it after the scan is seen (its checksum), and
    neither the written series nor a copy of it as it was scanned reads the kept flags."""
    values = _series()
    floor = anomaly.floor_of(values)
    as_scanned = values.copy()
    scans = _scans(monkeypatch)

    def write():
        values[599] = 4294967295.0

    flags = _kept_then(values, floor, values, between=write)
    assert scans == [600, 600]
    assert flags == _afresh(values, floor) and (599, 0) in anomaly.flagged_of(flags)
    values[:] = as_scanned
    scans.clear()

    def write_early():
        values[301] = 4294967295.0

    flags = _kept_then(values, floor, as_scanned[:450].copy(), between=write_early)
    assert scans == [600, 450]
    assert flags == _afresh(as_scanned[:450], floor)


def test_another_floor_is_scanned_afresh(monkeypatch):
    values = _series()
    floor = anomaly.floor_of(values)
    scans = _scans(monkeypatch)
    flags = _kept_then(values, floor, values.copy(), other_floor=floor * 1e12)
    assert scans == [600, 600]
    assert flags == _afresh(values, floor * 1e12) == []


def test_a_series_of_other_targets_is_scanned_afresh(monkeypatch):
    values = _series()
    two = np.hstack([values, values])
    floor = anomaly.floor_of(values)
    scans = _scans(monkeypatch)
    _kept_then(values, floor, two[:450], other_floor=np.repeat(floor, 2))
    assert scans == [600, 450]
