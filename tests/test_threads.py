"""single_blas_thread: one BLAS thread inside, the caller's setting restored after the last block leaves."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits

from workload_predictor._threads import _blas_libraries, single_blas_thread


@pytest.fixture
def blas():
    libraries = _blas_libraries()
    if not libraries:
        pytest.skip("no BLAS library loaded")
    with threadpool_limits(limits=2, user_api="blas"):  # a caller's setting other than 1
        yield libraries[0]


def test_blocks_limit_blas_and_restore_the_callers_setting_even_on_errors(blas):
    assert blas.get_num_threads() == 2
    with single_blas_thread():
        assert blas.get_num_threads() == 1
        with single_blas_thread():  # nested: the inner block leaves the limit to the outer one
            assert blas.get_num_threads() == 1
        assert blas.get_num_threads() == 1
    assert blas.get_num_threads() == 2
    with pytest.raises(KeyError), single_blas_thread():
        raise KeyError("inside")
    assert blas.get_num_threads() == 2
