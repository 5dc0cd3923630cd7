"""Thread limits around small kernels.

Our matrices are small (a few hundred columns): a BLAS thread pool costs more to
wake than it saves, and when another process keeps a core busy an oversubscribed
pool made a 0.4 ms solve take up to 470 ms (measured, see FINDINGS). So the
numeric kernels run on one BLAS thread; the caller's own settings are restored
afterwards.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_lock = threading.Lock()
_controller = None


def _blas_controller():
    global _controller
    with _lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController  # a few ms, paid on the first fit only

            _controller = ThreadpoolController()
        return _controller


_limited = 0  # blocks inside single_blas_thread, over all threads
_limiter = None


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with BLAS limited to one thread.

    The limit is process-wide, so concurrent blocks (fits in several threads) share
    one: the first sets it and the last restores the caller's setting. Nested
    limiters would each restore what the other had set and could leave BLAS at
    one thread for good.
    """
    global _limited, _limiter
    controller = _blas_controller()
    with _lock:
        if _limited == 0:
            _limiter = controller.limit(limits=1, user_api="blas")
        _limited += 1
    try:
        yield
    finally:
        with _lock:
            _limited -= 1
            if _limited == 0:
                _limiter.restore_original_limits()
                _limiter = None


_torch_lock = threading.Lock()
_torch_depth = 0
_torch_saved: int | None = None


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n_threads)``; ``None`` keeps the caller's setting.

    The setting is process-wide, so concurrent blocks share it: the first one in
    saves the caller's value and the last one out restores it.
    """
    if n_threads is None:
        yield
        return
    import torch

    global _torch_depth, _torch_saved
    with _torch_lock:
        if _torch_depth == 0:
            _torch_saved = torch.get_num_threads()
            torch.set_num_threads(int(n_threads))
        _torch_depth += 1
    try:
        yield
    finally:
        with _torch_lock:
            _torch_depth -= 1
            if _torch_depth == 0:
                torch.set_num_threads(_torch_saved)
