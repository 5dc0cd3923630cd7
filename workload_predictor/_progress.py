"""Progress bars that appear only where someone is watching.

``verbose=None`` (the library default) means "on a terminal": a bar is drawn when
standard error is a TTY and nothing is written otherwise (logs, pipes, CI, tests).
``verbose=True`` forces a bar, ``verbose=False`` silences it. tqdm is imported only
when a bar is actually drawn. A bar is updated once per LSTM epoch or backtest fit,
so its cost is microseconds against milliseconds of work (measured: see CHANGELOG).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterator


class _SilentBar:
    """The do-nothing stand-in used when no bar is wanted."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass


def wants_progress(verbose: bool | None, stream: Any = None) -> bool:
    """Whether to draw a bar: ``verbose`` if given, else whether ``stream`` (stderr) is a terminal."""
    if verbose is not None:
        return bool(verbose)
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


@contextmanager
def progress_bar(total: int | None, desc: str, verbose: bool | None, unit: str = "it") -> Iterator[Any]:
    """A tqdm bar on stderr when :func:`wants_progress`, else a silent stand-in; closed on exit."""
    if not wants_progress(verbose):
        yield _SilentBar()
        return
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a missing bar must never break a fit
        yield _SilentBar()
        return
    bar = tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def epoch_callback(bar: Any, then=None):
    """The ``progress(epoch, train_loss, validation_loss)`` hook of ``train_network`` driving ``bar``.

    ``then`` is another hook called first (e.g. the memory check). With a silent bar
    the hook is ``then`` itself, so a fit without a bar pays nothing.
    """
    if isinstance(bar, _SilentBar):
        return then

    def report(epoch: int, train_loss: float, validation_loss: float) -> None:
        if then is not None:
            then(epoch, train_loss, validation_loss)
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{validation_loss:.4g}", refresh=False)
        bar.update(1)

    return report
