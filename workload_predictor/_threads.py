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
from typing import Any, Iterator

_lock = threading.Lock()


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
#: The libraries set to one thread and not yet set back, each with its thread count before: recorded before a library
#: is set, removed once it is set back, so an interruption (``KeyboardInterrupt``) anywhere between leaves it here.
_restore: dict = {}


def _set_threads(library: Any, n: int) -> None:
    """Set ``library``'s thread count from this thread, whichever thread set it before.

    threadpoolctl's OpenBLAS controller (a pthreads build, from threadpoolctl 3.8) lets only the thread that first set
    OpenBLAS's count set it again and silently ignores every other one, until that thread clears its control: a
    block entered first in the main thread left every later block in another thread (an autoscaler's update
    thread, a thread pool's fits) on the full pool, where a solve took up to 0.25 s instead of 3 ms on a loaded
    2-core host. So control is given back after each change, as threadpoolctl's own ``threadpool_limits`` does; a
    thread of the caller's holding it (inside its own limit) still keeps it."""
    library.set_num_threads(n)
    release = getattr(type(library), "clear_controlling_thread", None)
    if release is not None:
        release()  # only a thread holding control clears it


def _put_back() -> None:
    """Set each library of ``_restore`` back to its count, removing it once set (call under ``_lock``)."""
    while _restore:
        library, n = next(iter(_restore.items()))
        _set_threads(library, n)
        del _restore[library]


class _SingleBlasThread:
    """The context manager :func:`single_blas_thread` returns (it holds no state of its own: one is shared).

    An interruption (``KeyboardInterrupt``, which lands at a Python function's start or after a call returns)
    leaves BLAS as the caller set it and the count of blocks right, but at one point: in ``__enter__`` after the
    block was counted, ``__enter__`` leaves it again before re-raising (``__exit__`` does not run for a ``with``
    whose ``__enter__`` raised); part way through setting the libraries back, ``__exit__`` sets the rest back before
    it goes on. The point left: one landing at ``__exit__``'s first instruction, before it runs, leaves the block
    counted, so BLAS stays at one thread (no Python code runs before that check; one that undid it as the object
    goes, a ``__del__``, would itself swallow a ``KeyboardInterrupt`` landing in it, at every block).
    """

    __slots__ = ()

    def __enter__(self) -> None:
        global _limited
        libraries = _blas if _blas is not None else _blas_libraries()
        counted = False
        try:
            with _lock:
                _limited += 1
                counted = True  # no call between the two: an interruption cannot land in between
                if _limited == 1:
                    for library in libraries:
                        n = library.get_num_threads()
                        if n not in (1, None) and library not in _restore:
                            _restore[library] = n
                        if library in _restore:
                            _set_threads(library, 1)
        except BaseException:
            if counted:
                self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc_info: object) -> None:
        global _limited
        with _lock:  # no call before the block is left (a with statement calls the lock's __enter__ without a check)
            _limited -= 1
            if _limited == 0:
                try:
                    _put_back()
                except BaseException:
                    _put_back()  # interrupted part way: the rest first, then the interruption goes on
                    raise


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
    saves the caller's value and the last one out restores it. The block is counted
    before torch is set, inside the ``try``: an interruption (``KeyboardInterrupt``)
    after either step restores the caller's value and the count.
    """
    if n_threads is None:
        yield
        return
    import torch

    global _torch_depth, _torch_saved
    counted = False
    try:
        with _torch_lock:
            _torch_depth += 1
            counted = True  # no call between the two: an interruption cannot land in between
            if _torch_depth == 1:
                _torch_saved = torch.get_num_threads()
                torch.set_num_threads(int(n_threads))
        yield
    finally:
        if counted:
            with _torch_lock:
                _torch_depth -= 1
                if _torch_depth == 0:
                    torch.set_num_threads(_torch_saved)


#: Held while torch's global RNG is borrowed (a seeded network's initialisation draws from it, and so does the int8
#: copy's build of its placeholder weights, each in a fork of it): one borrower at a time.
TORCH_GLOBAL_RNG = threading.Lock()
