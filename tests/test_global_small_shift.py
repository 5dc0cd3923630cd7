"""A global LSTM's update where one key's level moves by less than ``LEVEL_SHIFT`` of its scales but far past where its
windows' means sit: it is scaled again, and the other keys' forecasts stay theirs (review h125)."""

from __future__ import annotations

import numpy as np
import pytest
from test_global_level_shift import FITTED, SERIES, _moved, _periodic, _updated, fitted  # noqa: F401 (a fixture)


@pytest.mark.parametrize("factor", [0.7, 1.3])
def test_a_level_shift_within_two_scales_moves_the_others_no_more_than_a_new_draw(fitted, factor):  # noqa: F811
    """Key 0 (50 requests, 11.9 of them a scale; its 24-bucket windows' means within 0.2 of its offset) at ``factor``
    times its level for 60 buckets: 1.26 of its scales out, short of ``LEVEL_SHIFT``, and its period (12) swings its
    points 1.6 scales either way, across its offset. Read on its old scale, its windows weighed about ``level^2 /
    0.07^2`` of its ordinary ones along the level in the shared base and moved key 1-3's forecasts by 0.39-0.54 of
    their scales (a new draw of its points: 0.055); scaled again, they are ordinary windows."""
    unshifted = _updated(fitted, SERIES[0][FITTED:])
    redrawn = _updated(fitted, _periodic(FITTED + 60, 50, 12, seed=11)[FITTED:])
    shifted = _updated(fitted, SERIES[0][FITTED:] * factor)
    assert _moved(fitted, shifted, unshifted) <= 2 * _moved(fitted, redrawn, unshifted)
    assert 0.8 * factor < shifted.offset_[0, 0] / fitted.offset_[0, 0] < 1.2 * factor
    np.testing.assert_array_equal(shifted.scale_[1:], fitted.scale_[1:])
    np.testing.assert_array_equal(shifted.offset_[1:], fitted.offset_[1:])
