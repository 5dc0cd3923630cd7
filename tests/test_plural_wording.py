"""Messages write a count and its noun as English does ("1 key", "2 keys"), through one helper, ``errors.plural``.

Before: "no key could be fitted (1 keys in error)", "1 points are too few", "(the series has 1 buckets)"."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import workload_predictor
from workload_predictor import FleetPredictor
from workload_predictor.backtest import backtest_origins
from workload_predictor.errors import NoKeyFittedError, WorkloadDataError


def test_plural_writes_the_count_and_its_noun():
    from workload_predictor.errors import plural

    assert [plural(n, "key") for n in (0, 1, 2, 1000)] == ["0 keys", "1 key", "2 keys", "1,000 keys"]
    assert plural(1, "series", "series") == "1 series" and plural(3, "child", "children") == "3 children"
    assert len(plural(10**300, "bucket")) < 80  # a setting's absurd count is cut short, as quote cuts it


def test_one_key_of_one_point_is_written_in_the_singular():
    data = pd.DataFrame({"key": ["a"], "timestamp": [pd.Timestamp("2024-03-01", tz="UTC")], "requests": [3.0]})
    with pytest.raises(NoKeyFittedError) as error:
        FleetPredictor(model="naive", horizon=2).fit(data, freq="10s")
    assert str(error.value).startswith("no key could be fitted (1 key in error); the first, key 'a': 1 point is too "
                                       "few for window"), str(error.value)


def test_a_series_of_one_bucket_is_written_in_the_singular():
    with pytest.raises(WorkloadDataError, match=r"gives a test span of 0 buckets; .*\(the series has 1 bucket\)"):
        backtest_origins(1, 2, 0.25, 1)


# A plural made by hand: "bucket(s)", or a suffix chosen by the count ('' if n == 1 else 's').
_BY_HAND = re.compile(r"""\w\(s\)|else ["']s["']|["']s["'] if |else ["']s are""")


def test_no_message_makes_its_plural_by_hand():
    package = Path(workload_predictor.__file__).parent
    found = [f"{path.relative_to(package)}:{number}: {line.strip()}"
             for path in sorted(package.rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if ('f"' in line or "f'" in line) and _BY_HAND.search(line)]
    assert not found, "\n".join(found)
