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


def _blas_libraries() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries (found once: a few ms, paid on the first fit)."""
    global _blas
    with _lock:
        if _blas is None:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController().select(user_api="blas").lib_controllers
        return _blas


_blas: list | None = None
_limited = 0  # blocks inside single_blas_thread, over all threads
_restore: list = []  # (library controller, its thread count before the first block) for those changed


class _SingleBlasThread:
    """The context manager :func:`single_blas_thread` returns (it holds no state of its own: one is shared)."""

    __slots__ = ()

    def __enter__(self) -> None:
        global _limited, _restore
        libraries = _blas if _blas is not None else _blas_libraries()
        with _lock:
            if _limited == 0:
                _restore = [(library, n) for library in libraries if (n := library.get_num_threads()) not in (1, None)]
                for library, _ in _restore:
                    library.set_num_threads(1)
            _limited += 1

    def __exit__(self, *exc_info: object) -> None:
        global _limited, _restore
        with _lock:
            _limited -= 1
            if _limited == 0:
                for library, n in _restore:
                    library.set_num_threads(n)
                _restore = []


_SINGLE_BLAS_THREAD = _SingleBlasThread()


def single_blas_thread() -> _SingleBlasThread:
    """Run the block (``with single_blas_thread(): ...``) with BLAS limited to one thread.

    The limit is process-wide, so concurrent blocks (fits in several threads) share
    one: the first sets it and the last restores the caller's setting. Nested
    limiters would each restore what the other had set and could leave BLAS at
    one thread for good. It calls the library controllers' ``get_num_threads`` /
    ``set_num_threads`` directly: ``ThreadpoolController.limit`` re-reads every
    library's details on each entry, 11 us of a 0.7 ms ``update``. A plain class, not a
    generator-based context manager: entering and leaving one of those cost another 5-10 us.
    """
    return _SINGLE_BLAS_THREAD


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


#: Held while torch's global RNG is borrowed (a seeded network's initialisation draws from it, and so does the int8
#: copy's build of its placeholder weights, each in a fork of it): one borrower at a time.
TORCH_GLOBAL_RNG = threading.Lock()
