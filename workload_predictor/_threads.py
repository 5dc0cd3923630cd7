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


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with BLAS limited to one thread."""
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


@contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n_threads)``; ``None`` keeps the caller's setting."""
    if n_threads is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
