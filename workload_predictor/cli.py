"""The ``workload-predictor`` command line: forecast, evaluate and inspect a trace.

A thin layer over the library (readers.read_trace, WorkloadPredictor, backtest,
plotting, synthetic_requests): every number it prints comes from those.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import click
import numpy as np
import pandas as pd

from .data import MAX_VALUE, steps_within_range
from .errors import (QUOTE_LIMIT, NoKeyFittedError, UpdateGapError, WorkloadDataError, cut, plural, quote,
                     quote_columns, renamed_rows)
from .models import registry
from .synthetic_requests import REQUEST_FORMATS

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_DATA, EXIT_DEPENDENCY, EXIT_BUSY = 0, 1, 2, 3, 4, 5
#: A run stopped by Ctrl-C (SIGINT) exits as a shell reports a command the signal ended (128 + 2), not as a bug.
EXIT_INTERRUPTED = 130
#: A run stopped by SIGTERM (systemd, a cron timeout, ``kill``) exits as a shell reports it (128 + 15), after its
#: cleanup: a file being written is left as it was, with no temporary file beside it.
EXIT_TERMINATED = 143
TARGETS = ("requests", "input_tokens", "output_tokens")

EXIT_CODES_HELP = """\b
Exit codes:
    0  success
    1  internal error (a bug: rerun with --debug and report the traceback)
    2  usage error (unknown option, missing argument, file not found, a request log
       without --freq, an --out suffix other than .csv or .json, an output path that
       cannot be written, an option --by does not support, --jobs without --by,
       --format without --requests, --lock-timeout without --model-file, a
       --test-size that is neither a fraction nor a whole number of buckets, a
       --model, --horizon or --target other than an existing --model-file's)
    3  bad input data (unreadable file, bad timestamps, too little history, ...)
    4  a missing optional dependency (matplotlib for --plot, pyarrow for Parquet)
    5  another run held the --model-file for longer than --lock-timeout
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM)"""

log = logging.getLogger(__name__)


class RegisteredModel(click.Choice):
    """A registered model name, read from the registry when the command runs (so a model registered after
    this module was imported is a valid choice too), in any case (``DLinear`` is ``dlinear``)."""

    def __init__(self, **capabilities: bool) -> None:
        self.capabilities = capabilities
        super().__init__((), case_sensitive=False)

    @property
    def choices(self) -> tuple[str, ...]:
        return registry.names(**self.capabilities)

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # always the registry's names


class Failure(Exception):
    """An error the command reports in one line, with its exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code

    def __reduce__(self):  # pickled with what its __init__ takes (a worker process raises it in the parent)
        return type(self), (str(self), self.code), self.__dict__


#: Set while a command writes its --out or --json to this process's standard output (``/dev/stdout``): the lines
#: :func:`_say` prints go to stderr then, so that stdout holds the file alone (``evaluate --json /dev/stdout | jq``).
_SAY_TO_STDERR = False


def _say(text: str = "") -> None:
    """Print to stdout (stderr while a file goes there); if the reader went away (``| head``), keep going silently so
    files still get written."""
    try:
        click.echo(text, err=_SAY_TO_STDERR)
    except BrokenPipeError:
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # later prints (and the exit flush) go nowhere


def _finite(value: float | None, wanted: str) -> float | None:
    """A float option's value, or a usage error (exit 2) for NaN or infinity, which click's float and
    FloatRange accept."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number; pass {wanted}.")
    return value


def _test_size(value: float) -> float:
    """--test-size: a usage error (exit 2) unless a fraction in (0, 1) or a whole number of buckets (>= 1)."""
    _finite(value, "a fraction in (0, 1) or a number of buckets")
    if value <= 0 or (value > 1 and not float(value).is_integer()):
        raise click.BadParameter(f"{value:g} is neither a fraction in (0, 1) nor a whole number of buckets; pass "
                                 "e.g. 0.25 (the last quarter of the series) or 100 (its last 100 buckets).")
    # A number of buckets: messages quote 100, not 100.0 (a float past 2**53 stays one: 1e+300, not its 301 digits).
    return int(value) if 1 <= value < 2**53 else value


def _jobs(value: int) -> int:
    """--jobs: a usage error (exit 2) unless a positive number of processes or -1."""
    if value < 1 and value != -1:
        raise click.BadParameter(f"{value} workers; pass a positive number of processes, or -1 for one per CPU.")
    return value


def _one_line(exc: BaseException) -> str:
    """``exc``'s message on one line, its numbers of absurd length cut (:func:`_short_numbers`)."""
    return _short_numbers(" ".join(str(exc).split())) or type(exc).__name__


# The library's messages name Python parameters; on the command line the same advice names the options.
_CLI_WORDS = [
    # The CLI has no --window (nor windows=): the advice keeps more history and the horizon.
    (re.compile(r", a smaller \w+= or (?=a smaller horizon=|horizon=\d)"), " or "),
    (re.compile(r"(Pass more history(?: \([^()]*\))?) or a smaller \w+=\."), r"\1."),
    (re.compile(r"unit='s', 'ms', 'us' or 'ns'"), "--unit s, ms, us or ns"),
    (re.compile(r"\bunit='(\w+)'"), r"--unit \1"),
    (re.compile(r"\b(unit|origin|freq)=\.\.\.?"), r"--\1 ..."),
    (re.compile(r"\borigin=<[^>]*>"), "--origin TIME"),
    (re.compile(r"\btimestamp=<column name>"), "--timestamp-col NAME"),
    (re.compile(r"\b(input|output)_column=<column name>"), r"--\1-col NAME"),
    (re.compile(r"\btarget=<column>"), "--target"),
    (re.compile(r"\bover max_buckets=(\d+)"), r"over the limit of \1"),
    (re.compile(r"\bwithout (unit|origin|freq)\b"), r"without --\1"),
    (re.compile(r"\b(unit|origin|freq|tz|horizon|level|stride|window)=(?=[),.;]|$)"), r"--\1"),
    (re.compile(r"\b(unit|origin|freq|tz|horizon|level|stride|window)="), r"--\1 "),
    (re.compile(r"\b(test_size|refit_every|max_epochs)="), lambda m: "--" + m.group(1).replace("_", "-") + " "),
    (re.compile(r"\bcoarser freq\b"), "coarser --freq"),
    (re.compile(r"\bmodel='(\w+)'"), r"--model \1"),
    (re.compile(r",? or raise max_buckets"), ""),
    (re.compile(r"For a request log \(one row per request\), call workload_predictor\.bucketize\(\.\.\.\) first\."),
     "A request log (one row per request) must have no requests column: pass it with --freq to bucket it."),
    (re.compile(r"For a request log or a series with missing buckets, call workload_predictor\.bucketize\(\.\.\.\) "
                r"first \(it fills empty buckets with zeros\)\."),
     "Pass the raw request log with --freq instead: it is bucketed with empty buckets as zeros; or, where the file "
     "leaves out its empty buckets, add them to it as rows of 0 (of one series, without --by, --fill-missing adds "
     "them)."),
    (re.compile(r"\bcall workload_predictor\.bucketize\(\.\.\.\) first"), "pass the raw request log with --freq instead"),
    (re.compile(r"\bconvert it with pd\.to_numeric\(\.\.\.\) first"), "fix the file so that it holds numbers only"),
    # A file's empty cell (or NA, n/a, null, which its reader takes for one) reaches the door as NaN.
    (re.compile(r"\bholds nan at ((?:data )?row \d+(?: of the frame(?: \(index label [^()]*\))?)?) "
                r"\((\d[\d,]* non-finite values?)\); drop or fill them explicitly first\."),
     r"has no value at \1 (an empty cell, or a missing-value marker such as NA, n/a or null; \2 in all): fill "
     "those cells or drop their rows in the file."),
    (re.compile(r"\bholds nan at ((?:data )?row \d+) \((\d[\d,]*) such values? among the rows drawn from\), no token "
                r"count \(a number in 0 \.\. ([^()]*)\); drop or fix those rows\."),
     lambda m: f"has no value at {m[1]} (an empty cell, or a missing-value marker such as NA, n/a or null; no token "
               f"count, a number in 0 .. {m[3]}, in {plural(int(m[2].replace(',', '')), 'cell')} of the rows drawn "
               "from): fill those cells or drop their rows in the file."),
    (re.compile(r"\bholds nan in the bucket of ([^()]+?) \((\d[\d,]* such buckets?)\), no token count \(a number in 0 \.\. "
                r"([^()]*)\); fix those rows, or drop the column\."),
     r"has no value in the bucket of \1 (an empty cell, or a missing-value marker such as NA, n/a or null; no token "
     r"count, a number in 0 .. \3, in \2): fill those cells or drop their rows in the file, or drop the column."),
    (re.compile(r"\bconvert the column with pd\.to_numeric\(df\[.*?\]\) \(or write them as JSON numbers\) and pass"),
     "write every timestamp of the column as an epoch (not some as dates) and pass"),
    (re.compile(r"\bconvert the column, e\.g\. data\[.*?\] = data\[.*?\]\.astype\(str\)"),
     "write every key of the column as text (in JSON, a string in quotes)"),
    (re.compile(r"\bconvert it with pd\.to_numeric\(data\[.*?\], errors='coerce'\) and drop or fill the rows that "
                r"become NaN, or fix the data at its source"), "fix the file so that it holds numbers only"),
]


# The library numbers rows from 0 (positions, as DataFrame.iloc; a fleet's "row 7 of the frame", with the row's
# index label where the frame's index is not 0, 1, 2 ...); TRACE's reader keeps the file's row order, so on the
# command line a row is the file's data row, counted from 1.
_ROW = re.compile(r"(?<!data )\brow (\d+)\b(?: of the frame(?: \(index label [^()]*\))?)?")
ROWS_NOTE = "Data rows count from 1, after any header line."


def _cli_phrases(message: str) -> str:
    """``message`` with the library's advice (parameter names, pandas calls) in the CLI's words."""
    for pattern, replacement in _CLI_WORDS:
        message = pattern.sub(replacement, message)
    return message


def in_cli_words(message: str) -> str:
    """``message`` with the library's parameter names (``unit='s'``) replaced by the CLI's options (``--unit s``),
    and its row positions (from 0) as TRACE's data rows, counted from 1, with a sentence that says so (a fleet's
    errors name the rows of the frame read from TRACE, in the file's order)."""
    message, found = _ROW.subn(lambda m: f"data row {int(m.group(1)) + 1}", _cli_phrases(message))
    return f"{message} {ROWS_NOTE}" if found and ROWS_NOTE not in message else message


class _Terminated(BaseException):
    """SIGTERM, raised where the command is, so that its ``finally`` blocks run (Python's default action ends the
    process at once, leaving a temporary output file beside its target)."""


@contextlib.contextmanager
def _terminated_as_exception() -> Iterator[None]:
    """While the command runs in the main thread, SIGTERM raises :class:`_Terminated`; the handler before is put
    back after (a test's process runs many commands)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum, frame):
        raise _Terminated

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def handle_errors(command: Callable) -> Callable:
    """Turn exceptions into one clear line on stderr and an exit code (a traceback with --debug)."""

    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> None:
        global _SAY_TO_STDERR
        logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                            format="%(levelname)s %(name)s: %(message)s")
        _SAY_TO_STDERR = False
        try:
            with _terminated_as_exception():
                command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("error: interrupted (Ctrl-C).", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except _Terminated:
            if debug:
                raise
            click.echo("error: terminated (SIGTERM).", err=True)
            sys.exit(EXIT_TERMINATED)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line unless --debug
            if debug:
                raise
            if isinstance(exc, Failure):
                message, code = str(exc), exc.code
            elif isinstance(exc, ImportError):
                message, code = in_cli_words(_one_line(exc)), EXIT_DEPENDENCY
            elif isinstance(exc, (ValueError, OSError)):  # WorkloadDataError and NotFittedError are ValueErrors
                message, code = in_cli_words(_one_line(exc)), EXIT_DATA
            else:
                message = f"internal error ({type(exc).__name__}: {_one_line(exc)}); rerun with --debug for the traceback"
                code = EXIT_INTERNAL
            click.echo(f"error: {message}", err=True)
            sys.exit(code)

    return click.option("--debug", is_flag=True, help="Show the full traceback on errors and debug logging.")(wrapper)


def input_options(command: Callable) -> Callable:
    """How to read TRACE: shared by every command."""
    options = [
        click.option("--timestamp-col", default=None, metavar="NAME",
                     help="Timestamp column (default: TIMESTAMP, timestamp, arrival_time, arrived_at, ... "
                          "whichever the file has, in any case). Times without a UTC offset are read as UTC "
                          "(or in --tz)."),
        click.option("--unit", type=click.Choice(["s", "ms", "us", "ns"]), default=None,
                     help="Unit of numeric timestamps (epochs, or offsets with --origin). Inferred from the "
                          "magnitude when unambiguous."),
        click.option("--origin", default=None, metavar="TIME",
                     help="Start of the trace for relative numeric timestamps, e.g. 2024-05-10T00:00:00Z."),
        click.option("--tz", default=None, metavar="ZONE",
                     help="Time zone of timestamps written without a UTC offset (a log in local wall-clock time), "
                          "e.g. America/New_York; they are read in it and shown in UTC. A wall time the zone's "
                          "clocks skip or pass twice (DST) is refused by row."),
        click.option("--input-col", default=None, metavar="NAME",
                     help="Prompt-token column of a request log (default: ContextTokens, input_tokens, ...)."),
        click.option("--output-col", default=None, metavar="NAME",
                     help="Output-token column of a request log (default: GeneratedTokens, output_tokens, ...)."),
        click.option("--keep-partial", is_flag=True,
                     help="Keep the first and last buckets of a request log (partial: the trace starts and "
                          "ends inside them), which are dropped by default; of a bucketed file summed to a wider "
                          "--freq, those holding fewer of its buckets."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def fill_missing_option(command: Callable) -> Callable:
    """--fill-missing: forecast and evaluate (one series; inspect reports missing buckets instead)."""
    return click.option("--fill-missing", is_flag=True,
                        help="Add the buckets a bucketed file leaves out (an exporter's SQL GROUP BY omits the "
                             "empty ones) as zeros, as a request log's empty buckets are; the trace line counts "
                             "them.")(command)


def _read(path: str, freq: str | None, opts: dict[str, Any], targets: tuple[str, ...] = (),
          model_file: str | None = None):
    """The trace at ``path``; of a bucketed series only the ``targets`` asked for (default: requests) must hold
    counts. ``model_file``: an existing --model-file, whose bucket width a log too short for it cannot change.
    --fill-missing on a request log, and --keep-partial on a bucketed file read at its own width, would change
    nothing: usage errors (exit 2)."""
    from .readers import AllPartialError, FreqRequiredError, read_trace

    try:
        data = read_trace(path, freq=freq, timestamp_column=opts["timestamp_col"], unit=opts["unit"],
                          origin=opts["origin"], input_column=opts["input_col"], output_column=opts["output_col"],
                          keep_partial=opts["keep_partial"], targets=targets or ("requests",),
                          fill_missing=opts.get("fill_missing", False), tz=opts.get("tz"))
    except FreqRequiredError as exc:  # a missing option is a usage error (exit 2), as --help says
        raise click.UsageError(f"{Path(path).name} is a request log (one row per request): pass --freq, "
                               f"e.g. --freq 10s. {NOT_BUCKETED_NOTE}") from exc
    except AllPartialError as exc:
        if model_file is None:
            raise
        raise WorkloadDataError(f"{exc.found}; pass a longer log (the buckets of --model-file "
                                f"{Path(model_file).name} are {freq} wide), or --keep-partial.") from None
    if data.log is not None and opts.get("fill_missing"):
        raise click.UsageError(f"--fill-missing adds the buckets a bucketed file leaves out, and {Path(path).name} "
                               "is a request log, whose empty buckets are zeros already: drop --fill-missing.")
    if data.log is None and opts["keep_partial"] and data.summed_from is None:
        raise _keep_partial_refused(path, summed=True)
    return data


def _keep_partial_refused(path: str, summed: bool = False) -> click.UsageError:
    """The usage error of --keep-partial given for the bucketed file ``path``, which it would not change (``summed``:
    where a wider --freq, to which its buckets are summed, would)."""
    when = " (or those of a bucketed file summed to a wider --freq)" if summed else ""
    return click.UsageError(f"--keep-partial keeps a request log's partial first and last buckets{when}, and "
                            f"{Path(path).name} is a bucketed series, read whole (every row a bucket, none dropped): "
                            "drop --keep-partial (and leave out of the file a bucket still filling).")


# A bucketed series is told from a request log by its `requests` column: one named otherwise (count, n) makes the
# file a request log, each of its rows one request.
NOT_BUCKETED_NOTE = ("(A file without a `requests` column is read as a request log; if yours is already bucketed, "
                     "name its count column `requests`.)")

OUT_SUFFIXES = (".csv", ".json")
REQUESTS_SUFFIXES = (".csv", ".csv.gz")


def _check_suffix(path: str | None, allowed: tuple[str, ...], option: str) -> None:
    """Refuse (exit 2) a file name whose suffix says a format the option does not write. A path without a suffix
    that names no regular file (``/dev/stdout``, a named pipe) is written in place, in the first format."""
    if path is not None and not Path(path).name.lower().endswith(allowed) and not _a_stream(path):
        raise click.BadParameter(f"{quote(path)}: the suffix says which format to write; use {' or '.join(allowed)}.",
                                 param_hint=option)


def _check_plotting(plot_path: str | None) -> None:
    """Fail at once (exit 4) when --plot cannot draw, or (exit 2) when its suffix names a format matplotlib does
    not write or a file has none, rather than after the fit. A stream (``/dev/stdout``, a pipe) takes a PNG."""
    if plot_path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'workload-predictor[plot]' (or drop --plot).") from None
    from matplotlib.backend_bases import FigureCanvasBase

    suffix = Path(plot_path).suffix.lower().lstrip(".")
    supported = sorted(FigureCanvasBase.get_supported_filetypes())
    if suffix and suffix not in supported:
        raise click.BadParameter(f"{quote(plot_path)}: matplotlib cannot write {quote('.' + suffix, 20)} files; "
                                 f"use one of .{', .'.join(supported)} (e.g. .png).", param_hint="--plot")
    if not suffix and not _a_stream(plot_path):
        raise click.BadParameter(f"{quote(plot_path)}: the suffix says which image format to write; add one, e.g. "
                                 f"{quote(Path(plot_path).name + '.png')}.", param_hint="--plot")


def _save_figure(figure: Any, path: str, to: str) -> None:
    """Draw ``figure`` into ``to`` (the temporary file of ``path``, or ``path`` itself) in the format ``path``'s
    suffix says, PNG for a stream: matplotlib would read the temporary name's last part as the format, and write a
    stream's image to a new file beside it (``/dev/stdout.png``). Written in place (a link, a pipe), the image is
    drawn in memory first: its PNG writer seeks, which a pipe cannot."""
    import io

    image_format = Path(path).suffix.lower().lstrip(".") or "png"
    if to != path:
        figure.savefig(to, dpi=110, format=image_format)
        return
    drawn = io.BytesIO()
    figure.savefig(drawn, dpi=110, format=image_format)
    with open(path, "wb") as stream:
        stream.write(drawn.getbuffer())


def _check_distinct(**paths: str | None) -> None:
    """Refuse (exit 2) one file named by two output options (``paths`` maps option names to values): the second
    write would overwrite the first (a forecast table over the --model-file it shares a name with)."""
    seen: dict[Path, str] = {}
    for name, path in paths.items():
        if path is None:
            continue
        option, resolved = "--" + name.replace("_", "-"), Path(path).resolve()
        if resolved in seen:
            raise click.UsageError(f"{seen[resolved]} and {option} name the same file {quote(path)}, and the second "
                                   "would overwrite the first: give each its own file.")
        seen[resolved] = option


def _a_stream(path: str) -> bool:
    """Whether ``path`` has no suffix and is what :func:`_writing` writes in place: a link (``/dev/stdout``, also
    where the shell redirected it to a file) or something that exists and is no regular file (a named pipe)."""
    import os

    return not Path(path).suffix and (os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)))


def _writes_stdout(*paths: str | None) -> None:
    """Print the command's lines to stderr (:data:`_SAY_TO_STDERR`) when one of ``paths`` (its --out, --json,
    --plot) names this process's standard output, so that stdout holds that file alone."""
    import os

    global _SAY_TO_STDERR
    try:
        mine = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's captured stdout): no path names it
        return
    for path in paths:
        try:
            theirs = os.stat(path) if path is not None else None
        except (OSError, ValueError):
            continue
        if theirs is not None and (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino):
            _SAY_TO_STDERR = True


def _check_output_paths(**paths: str | None) -> None:
    """Refuse (exit 2) an output path whose folder does not exist or cannot be written, before reading TRACE
    (rather than after a fit of minutes). ``paths`` maps option names (``out``, ``model_file``) to values."""
    for name, path in paths.items():
        if path is None:
            continue
        option = "--" + name.replace("_", "-")
        try:
            _check_output_path(name, option, path)
        except OSError as exc:  # a name too long for the file system, a folder that cannot be looked at
            raise click.BadParameter(f"{quote(path)} cannot be written ({exc.strerror or _one_line(exc)}); write "
                                     "somewhere else.", param_hint=option) from None


def _check_output_path(name: str, option: str, path: str) -> None:
    """:func:`_check_output_paths` for one path (an OSError where the file system refuses even to look at it)."""
    import os

    folder = Path(path).parent
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist; create it or"
        raise click.BadParameter(f"{quote(path)}: the folder {quote(str(folder))} {what} write somewhere else.",
                                 param_hint=option)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{quote(path)}: the folder {quote(str(folder))} is not writable; write "
                                 "somewhere else.", param_hint=option)
    # os.access says yes to root everywhere, and to folders no file can be made in (/proc, a read-only
    # mount): open the file as the command will, without changing one that exists. A model file is saved
    # to a new file beside it, then renamed over it: the folder must take a new file even where it exists
    # (checked beside it, so that another run never sees an empty model file appear).
    existed = Path(path).exists()
    if existed and name != "model_file" and not os.path.isfile(path) and not os.path.isdir(path):
        return  # a pipe or a device (/dev/stdout), written in place: opening and closing it here ends a reader's input
    # A signal landing between making the probe and removing it would leave an empty file where the output goes (a
    # SIGTERM sent as a run starts: tests/test_cli_stdout.py): held back until it is gone, then delivered.
    with _signals_held():
        if name == "model_file":
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{Path(path).name}.check-"):
                pass
        else:
            with open(path, "a" if existed else "x"):
                pass
            if not existed:
                Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the block runs (a step that must not be cut in two, such as a file made and
    removed), then delivered to the handlers they had: each is recorded by a handler of the block's own and raised
    again after it, in the order recorded, each one even where the handler of one before it raised (Ctrl-C's
    KeyboardInterrupt does not swallow a SIGTERM held with it); in the main thread, where Python runs signal
    handlers (as it is in any other thread)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    # A handler set outside Python (getsignal: None) could not be put back: such a signal is not held.
    kept = {number: signal.signal(number, lambda received, frame: pending.append(received))
            for number in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(number) is not None}
    try:
        yield
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)
        _raised_in_turn(list(dict.fromkeys(pending)))


def _raised_in_turn(numbers: list[int]) -> None:
    """Raise each signal of ``numbers`` in order, the next one also where the handler of one raised (its exception
    then propagates, with the earlier one as its context)."""
    import signal

    if numbers:
        try:
            signal.raise_signal(numbers[0])
        finally:
            _raised_in_turn(numbers[1:])


#: How often a run waiting for another's --model-file lock tries it again (seconds).
LOCK_POLL = 0.1


@contextlib.contextmanager
def _model_file_lock(path: str | None, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside --model-file ``path`` (nothing without one).

    Two runs at once on one model file (a cron job whose previous run is still going) would each update the
    version they loaded, and the later save would drop the other's buckets or zero-fill them. The lock makes
    the second wait, then load what the first saved. It waits ``timeout`` seconds at most (--lock-timeout), then
    exits :data:`EXIT_BUSY`: a run that hangs holding the lock must not make every later cron run wait behind it
    for good. Where the platform has no ``flock`` (Windows), runs are not kept apart.
    """
    try:
        import fcntl
    except ImportError:
        fcntl = None
    if path is None or fcntl is None:
        yield
        return
    lock = Path(path).with_name(f".{Path(path).name}.lock")
    try:
        handle = open(lock, "a")
    except OSError as exc:
        raise click.BadParameter(f"{quote(path)}: its lock file {quote(str(lock))} cannot be written "
                                 f"({exc.strerror or _one_line(exc)}); write somewhere else.",
                                 param_hint="--model-file") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            click.echo(f"waiting for another run on --model-file {quote(path)} to save it "
                       f"(--lock-timeout {timeout:g} s) ...", err=True)
            deadline = time.monotonic() + timeout
            while True:
                time.sleep(max(0.0, min(LOCK_POLL, deadline - time.monotonic())))
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Failure(f"another run held --model-file {quote(path)} (its lock {quote(str(lock))}) "
                                      f"for longer than --lock-timeout {timeout:g} s; this run changed nothing. "
                                      "Check that run, or raise --lock-timeout.", EXIT_BUSY) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _writing(path: str, option: str, write: Callable[[str], Any]) -> None:
    """Run ``write(temporary)``, which writes a new file beside ``path`` (its name ending in ``path``'s suffixes,
    which say the format), then rename that over ``path``: a reader polling ``path`` (an autoscaler reading a
    cron run's --out) sees the old file or the new one, never a part. The file keeps the mode of the one it
    replaces (a new one gets the umask's default); a link (``/dev/stdout``) and what is no file (a pipe) are
    written in place, as before. An OSError becomes one line naming the option (exit 3, as for --model-file), not
    the bare ``[Errno 2] ...`` of a file the checks before the fit let through."""
    import os
    import secrets
    import stat

    target = Path(path)
    # Ends in the target's suffixes (its format), and stays short: the target's whole name twice would pass the
    # file system's limit (255 bytes) for a name of 120 characters, which the checks before the fit let through.
    suffixes = "".join(target.suffixes[-2:])[-20:]
    temporary = target.with_name(f".{target.name[:40]}.tmp-{os.getpid()}-{secrets.token_hex(4)}{suffixes}")
    try:
        if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
            write(path)
            return
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = None
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the umask applies
        if mode is not None:
            os.chmod(temporary, mode)
        write(str(temporary))
        os.replace(temporary, target)
    except OSError as exc:
        raise Failure(f"cannot write {option} {quote(path)}: {exc.strerror or _one_line(exc)}; write somewhere "
                      "else.", EXIT_DATA) from exc
    finally:
        with contextlib.suppress(OSError):  # an error here would hide the one that made the write fail
            temporary.unlink(missing_ok=True)


def _refuse_with_by(**given: bool) -> None:
    """Refuse (exit 2) options that --by does not support, rather than ignore them without a word."""
    names = ["--" + name.replace("_", "-") for name, present in given.items() if present]
    if names:
        raise click.UsageError(f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not supported with --by; "
                               "drop " + ("it" if len(names) == 1 else "them") + ", or run once per key without --by.")


def _option_given(name: str) -> bool:
    """Whether the user passed the option whose parameter is ``name`` (not just its default)."""
    context = click.get_current_context(silent=True)
    if context is None:
        return False
    source = context.get_parameter_source(name)
    return source is not None and source != click.core.ParameterSource.DEFAULT


#: --requests draws token lengths from a request log's latest requests (by arrival time), this many
#: (Forecast.to_requests' recent).
RECENT_REQUESTS = 2000


def _token_lengths(data, opts: dict[str, Any]) -> pd.DataFrame | None:
    """Per-request ``input_tokens``/``output_tokens`` to draw synthetic requests from, or None if TRACE has none.

    A request log's token columns (found as :func:`~workload_predictor.readers.read_trace` finds them, so
    --input-col/--output-col apply), in arrival order (a log merged from several servers is out of time order in
    the file), whose last :data:`RECENT_REQUESTS` rows, the latest requests, those drawn from, are checked here,
    before the fit; for a bucketed series, the tokens per request of each busy bucket.
    """
    from .data import token_columns, utc_instants
    from .synthetic_requests import length_sample

    if data.log is not None:
        columns = token_columns(data.log.columns, opts["input_col"], opts["output_col"])
        if not columns:
            return None
        lengths = data.log[list(columns.values())].set_axis(list(columns), axis=1)
        # Parsed as the reader parsed them (it has, so no error here); stable, so equal stamps keep the file's order.
        arrivals = utc_instants(data.log[data.timestamp_column], unit=opts["unit"], origin=opts["origin"],
                                tz=opts.get("tz"), name=data.timestamp_column)
        order = None if (arrivals[1:] >= arrivals[:-1]).all() else np.argsort(arrivals, kind="stable")
        if order is not None:
            lengths = lengths.iloc[order].reset_index(drop=True)
        try:
            length_sample(None, lengths, RECENT_REQUESTS)
        except WorkloadDataError as exc:  # it names the columns as renamed above, and rows in arrival order
            message = _one_line(exc)
            for name, column in columns.items():
                message = message.replace(f"lengths column {quote(name)}", f"{data.path.name}'s column {quote(column)}")
            if order is not None:  # the file's row (from 0, as in_cli_words expects) of the arrival-order row
                message = _ROW.sub(lambda m: f"row {int(order[int(m.group(1))])}", message, count=1)
            raise WorkloadDataError(f"--requests draws token lengths from the log's latest {RECENT_REQUESTS:,} "
                                    f"requests: {message}") from None
        return lengths
    series = data.series
    present = [c for c in ("input_tokens", "output_tokens") if c in series.columns]
    if not present or "requests" not in series.columns:
        return None
    busy = series[pd.to_numeric(series["requests"], errors="coerce") > 0]
    if len(busy) == 0:
        return None
    # Only the requests column of a bucketed series is checked on reading: a token sum that is no count, in the
    # buckets drawn from, is refused here (before the fit), naming its bucket.
    drawn = busy.iloc[-RECENT_REQUESTS:]
    for column in present:
        values = pd.to_numeric(drawn[column], errors="coerce").to_numpy(float, na_value=np.nan)
        bad = np.flatnonzero(~((values >= 0) & (values <= MAX_VALUE)))
        if len(bad):
            value = drawn[column].iloc[int(bad[0])]
            raise WorkloadDataError(
                f"--requests draws token lengths from the tokens per request of {data.path.name}'s last "
                f"{RECENT_REQUESTS:,} buckets with requests, and its {column} column holds "
                f"{quote(value.item() if isinstance(value, np.generic) else value)} in the bucket of "
                f"{_stamp(drawn['timestamp'].iloc[int(bad[0])])} ({plural(len(bad), 'such bucket')}), no token "
                f"count (a number in 0 .. {MAX_VALUE:g}); fix those rows, or drop the column.")
    return pd.DataFrame({c: pd.to_numeric(busy[c], errors="coerce").to_numpy(float) / busy["requests"].to_numpy(float)
                         for c in present})


def _check_history(data, freq: str | None) -> None:
    """Refuse (exit 3) a series of one bucket before a fit, whose width cannot be inferred: with advice that fits
    the input (a --freq given for a request log is too wide; a bucketed series is too short)."""
    if len(data.series) >= 2:
        return
    if data.log is not None:
        raise WorkloadDataError(f"{data.path.name}: the log gives 1 bucket of {freq} (after the partial first and "
                                f"last are dropped unless --keep-partial), too few to fit: pass a smaller --freq "
                                f"than {freq}, or a longer log.")
    raise WorkloadDataError(f"{data.path.name} is a bucketed series of 1 bucket, too few to fit: pass a longer "
                            "series (or the raw request log, bucketed with --freq).")


def _targets(trace, targets: tuple[str, ...]) -> list[str]:
    chosen = list(dict.fromkeys(targets or ("requests",)))
    missing = [t for t in chosen if t not in trace.series.columns]
    if missing and trace.log is not None:  # the log's columns are what --input-col/--output-col would name
        options = " or ".join(f"--{name.split('_')[0]}-col" for name in missing)
        raise WorkloadDataError(
            f"{trace.path.name} has no column recognised as {' or '.join(missing)} (its columns: "
            f"{quote_columns(trace.log.columns)}); name the token column with {options}, or drop that --target."
        )
    if missing:
        raise WorkloadDataError(
            f"{trace.path.name} has no {', '.join(missing)} (it has {', '.join(c for c in trace.series.columns if c != 'timestamp')}); "
            "for token targets pass a log with token columns (see --input-col/--output-col)."
        )
    return chosen


def _check_freq(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--freq's value, refused as a usage error (exit 2) where it is no bucket width (abc, 0s, 60, 1w): it is the
    command that is wrong, not the data."""
    if value is None:
        return None
    from .data import parse_freq

    try:
        parse_freq(value, name="freq")
    except WorkloadDataError as exc:
        raise click.BadParameter(in_cli_words(str(exc)).removeprefix("--freq ")) from None
    return value


def _split_names(value: str, allowed: tuple[str, ...], option: str) -> list[str]:
    """The names of a comma-separated ``option``, each one of ``allowed`` in any case (``DLinear``: ``dlinear``)."""
    spelled = {name.lower(): name for name in allowed}
    names = [spelled.get(v.strip().lower(), v.strip()) for v in value.split(",") if v.strip()] if value else []
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise click.BadParameter(f"unknown {cut(', '.join(map(quote, unknown)), 200)}; choose from "
                                 f"{', '.join(allowed)}.", param_hint=option)
    twice = [n for n in dict.fromkeys(names) if names.count(n) > 1]
    if twice:
        raise click.BadParameter(f"{', '.join(map(quote, twice))} listed twice; name each once.", param_hint=option)
    return names


def _width(freq: pd.Timedelta) -> str:
    seconds = freq / pd.Timedelta(seconds=1)
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"


def _fraction_digits(*values: Any) -> int:
    """Decimals of a second that the timestamps (and widths) in ``values`` need: 0 when all are whole seconds
    (the output of whole-second traces stays as it was), else 3, 6 or 9."""
    remainders = []
    for value in values:
        if isinstance(value, pd.Timedelta):
            remainders.append(np.array([(value % pd.Timedelta(1, "s")) // pd.Timedelta(1, "ns")]))
        else:
            stamps = pd.DatetimeIndex(value if isinstance(value, (pd.Index, pd.Series, list)) else [value])
            remainders.append(np.asarray(stamps.microsecond, np.int64) * 1000 + np.asarray(stamps.nanosecond, np.int64))
    nanos = np.concatenate(remainders) if remainders else np.zeros(0, np.int64)
    for digits in (0, 3, 6):
        if not (nanos % 10 ** (9 - digits)).any():
            return digits
    return 9


def _stamps(values: Any, digits: int = 0, sep: str = " ") -> list[str]:
    """Timestamps as printed (``2024-05-10 00:00:10Z``), with ``digits`` decimals of a second."""
    stamps = pd.DatetimeIndex(values)
    text = stamps.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        nanos = np.asarray(stamps.microsecond, np.int64) * 1000 + np.asarray(stamps.nanosecond, np.int64)
        text = [f"{t}.{n // 10 ** (9 - digits):0{digits}d}" for t, n in zip(text, nanos)]
    zone = "Z" if stamps.tz is not None else ""
    return [f"{t}{zone}" for t in text]


def _iso_stamps(values: Any, digits: int | None = None) -> list[str]:
    """Timestamps as the files and JSON the command line writes hold them (``--out``, ``inspect --json``): ISO 8601
    in UTC marked ``Z`` (``2024-05-10T00:00:10Z``), with ``digits`` decimals of a second (by default as many as the
    stamps need: 0, 3, 6 or 9). A naive stamp is a UTC one, as the door reads it."""
    stamps = pd.DatetimeIndex(values)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    return _stamps(stamps, _fraction_digits(stamps) if digits is None else digits, sep="T")


def _stamp(ts: pd.Timestamp, digits: int = 0) -> str:
    return _stamps([ts], digits)[0]


def _echo_trace(trace, freq: pd.Timedelta) -> None:
    series = trace.series
    source = (plural(len(trace.log), "request") if trace.log is not None else
              plural(len(series) if trace.file_rows is None else trace.file_rows, "row"))
    first, last = _stamps(series["timestamp"].iloc[[0, -1]], _fraction_digits(series["timestamp"], freq))
    how = []
    if trace.filled:
        how.append(f"{plural(trace.filled, 'missing bucket')} zero-filled")
    if trace.summed_from is not None:
        dropped = trace.partial_dropped
        how.append(f"summed from its {_width(trace.summed_from)} buckets"
                   + (f", {plural(dropped, 'partial bucket')} at its ends dropped" if dropped else ""))
    _say(f"trace   {trace.path.name} ({trace.kind}, {source}) -> {plural(len(series), 'bucket')} of {_width(freq)}"
         f"{' (' + '; '.join(how) + ')' if how else ''}, {first} .. {last}")
    if trace.note:
        _say(f"note    {trace.note}")


def _freq_of(trace) -> pd.Timedelta:
    from .data import infer_freq, to_utc_index

    return infer_freq(to_utc_index(trace.series["timestamp"]))


#: A quoted value in click's own usage errors longer than this is cut to QUOTE_LIMIT characters.
LONG_QUOTED = 200
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.){%d,}'|\"(?:[^\"\\\n]|\\.){%d,}\"" % (LONG_QUOTED, LONG_QUOTED))


#: A whole number written with more digits than this in a message (a --horizon or --seed of 300 digits, which click
#: and the library's checks echo unquoted) is cut, as :func:`~workload_predictor.errors.plural` cuts a count.
LONG_NUMBER = QUOTE_LIMIT // 2
_LONG_NUMBER = re.compile(r"(?<![\w.'\"])\d{%d,}(?![\w.'\"])" % (LONG_NUMBER + 1))  # not a quoted value's


def _short_quotes(message: str) -> str:
    """``message`` (a usage error click words: ``File 'x...' does not exist.``) with each quoted value over
    :data:`LONG_QUOTED` characters cut as the command cuts the values it quotes itself, and each number of absurd
    length (:func:`_short_numbers`)."""
    def shortened(match: re.Match) -> str:
        mark = match.group(0)[0]
        inner = match.group(0)[1:-1]
        return f"{mark}{inner[:QUOTE_LIMIT]}{mark}... ({len(inner):,} characters)"

    return _short_numbers(_QUOTED.sub(shortened, message))


def _short_numbers(message: str) -> str:
    """``message`` with each number over :data:`LONG_NUMBER` digits (not in quotes) cut to its first and last
    digits."""
    return _LONG_NUMBER.sub(lambda m: f"{m.group(0)[:12]}...{m.group(0)[-6:]} ({len(m.group(0)):,} digits)", message)


#: The option a command writes its output with, for a user who gave it another command's (forecast --json): click's
#: own suggestion is the closest name (--jobs), which does something else.
_OUTPUT_OPTIONS = {
    ("forecast", "--json"): "forecast writes its table with --out FILE.json (or FILE.csv).",
    ("evaluate", "--out"): "evaluate writes its table with --json FILE.",
    ("inspect", "--out"): "inspect prints its report as JSON with --json (redirect it to a file).",
}


class _Group(click.Group):
    """The command group, whose usage errors (click's own too: a TRACE that does not exist, an unknown --model)
    quote what the user typed cut short, and name the output option of a command given another's
    (:data:`_OUTPUT_OPTIONS`)."""

    @contextlib.contextmanager
    def _short_errors(self) -> Iterator[None]:
        try:
            yield
        except click.NoSuchOption as exc:
            command = exc.ctx.info_name if exc.ctx is not None else None
            hint = _OUTPUT_OPTIONS.get((command, exc.option_name))
            if hint is not None:
                exc.message, exc.possibilities = f"No such option '{exc.option_name}': {hint}", None
            exc.message = _short_quotes(exc.message)
            raise
        except click.ClickException as exc:
            exc.message = _short_quotes(exc.message)
            raise

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with self._short_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with self._short_errors():
            return super().invoke(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(package_name="workload-predictor", prog_name="workload-predictor")
def main() -> None:
    """Forecast the load of an LLM-serving system from a request log.

    \b
    Examples: write the bundled Azure trace to conv.csv ('code' to code.csv), then
      python3 -c "from workload_predictor.datasets import azure_llm_trace; azure_llm_trace('conv').to_csv('conv.csv', index=False)"
      workload-predictor inspect conv.csv
      workload-predictor forecast conv.csv --freq 10s --horizon 30 --plot fc.png
      workload-predictor evaluate conv.csv --freq 10s --horizon 30

    Run `workload-predictor COMMAND --help` for each command's options.
    """


# -- forecast ---------------------------------------------------------------------------------
@main.command(epilog=EXIT_CODES_HELP)
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option("--freq", default=None, metavar="WIDTH", callback=_check_freq,
              help="Bucket width for a request log, e.g. 1s, 10s, 1min (a bucketed series keeps its own, or is "
                   "summed to a --freq that is a whole multiple of it; with --by a --freq must match each key's).")
@click.option("--horizon", default=10, show_default=True, type=click.IntRange(min=1), help="Buckets to forecast.")
@click.option("--model", type=RegisteredModel(), default="ensemble", show_default=True,
              help="The model to fit (an existing --model-file keeps its own).")
@click.option("--level", default=0.9, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              callback=lambda _c, _p, v: _finite(v, "a coverage in (0, 1), e.g. 0.9"),
              help="Coverage of the prediction interval.")
@click.option("--target", "targets", multiple=True, type=click.Choice(TARGETS, case_sensitive=False),
              help="What to forecast; repeat for several (default: requests).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, registry.MAX_SEED),
              help="Random seed (LSTM training, --requests).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the forecast table: .csv or .json.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Draw history, forecast and interval to an image, e.g. fc.png (needs matplotlib).")
@click.option("--requests", "requests_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write synthetic future requests (Poisson arrivals, token lengths from recent requests) as CSV.")
@click.option("--format", "requests_format", type=click.Choice(list(REQUEST_FORMATS), case_sensitive=False),
              default="native", show_default=True,
              help="--requests columns, named after what reads them: native (arrival_time_ns, input_tokens, "
                   "output_tokens); vidur-main (Vidur's repository, main branch: arrived_at seconds, "
                   "num_prefill_tokens, num_decode_tokens); vidur-0.0.26 (the released vidur 0.0.26 package's "
                   "trace replay: Date, Time seconds, PromptTokenCount, CompletionTokenCount).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--model-file", type=click.Path(dir_okay=False), default=None,
              help="Reuse a saved predictor: if the file exists, load it instead of fitting (it keeps its own "
                   "model, horizon and targets: --model, --horizon or --target that differ are refused; --level gives "
                   "the interval at that level from the file's validation errors), "
                   "append TRACE's buckets after its last one with update() and save it back (TRACE's buckets must "
                   "be as wide as the saved model's); otherwise fit on TRACE and save the predictor there. A second "
                   "run on the same file waits for the first to save it (a lock file .FILE.lock beside it).")
@click.option("--lock-timeout", default=600.0, show_default=True, type=click.FloatRange(0, 7 * 86400),
              metavar="SECONDS", callback=lambda _c, _p, v: _finite(v, "a number of seconds, e.g. 60"),
              help="How long a run waits for another run on the same --model-file to save it; then it exits 5, "
                   "changing nothing.")
@click.option("--by", default=None, metavar="COLUMN",
              help="Forecast one series per value of this column (model, endpoint, tenant): a fleet "
                   "(without --plot, --requests, --format and --model-file).")
@click.option("--jobs", default=1, show_default=True, type=int, callback=lambda _c, _p, v: _jobs(v),
              help="Worker processes for --by (-1: one per CPU).")
@fill_missing_option
@input_options
@handle_errors
def forecast(trace: str, freq: str | None, horizon: int, model: str, level: float, targets: tuple[str, ...],
             seed: int, out: str | None, plot_path: str | None, requests_path: str | None, requests_format: str,
             quiet: bool, model_file: str | None, lock_timeout: float = 600.0, by: str | None = None, jobs: int = 1,
             **opts: Any) -> None:
    """Fit a model on TRACE and forecast the next HORIZON buckets.

    TRACE is a request log (one row per request, e.g. the raw Azure CSV
    TIMESTAMP,ContextTokens,GeneratedTokens; also JSON Lines or Parquet) bucketed at
    --freq, or an already-bucketed CSV with a `requests` column. Prints the last
    observed bucket, the forecast table with its interval, the confidence
    (1 - WAPE of the model's out-of-sample validation forecasts) and the fit and
    predict times.

    conv.csv and code.csv in the examples are the bundled traces, written as
    `workload-predictor --help` shows.

    \b
    Examples:
      workload-predictor forecast conv.csv --freq 10s --horizon 30 \\
          --model ensemble --out fc.csv --plot fc.png
      workload-predictor forecast log.jsonl --timestamp-col t --unit ms --origin 2024-05-10T00:00:00Z \\
          --freq 1s --target requests --target input_tokens --target output_tokens \\
          --requests future.csv --format vidur-main
    """
    from .predictor import WorkloadPredictor
    from .synthetic_requests import needs_token_lengths

    if by is not None:
        _refuse_with_by(plot=plot_path is not None, requests=requests_path is not None,
                        format=_option_given("requests_format"), model_file=model_file is not None,
                        fill_missing=opts.get("fill_missing", False))
    elif _option_given("jobs"):
        raise click.UsageError("--jobs sets the worker processes of --by, one series per process; without --by "
                               "there is one series: drop --jobs, or pass --by COLUMN.")
    if requests_path is None and _option_given("requests_format"):
        raise click.UsageError("--format sets the columns of the --requests file, and no --requests was given: "
                               "pass --requests FILE.csv, or drop --format.")
    if model_file is None and _option_given("lock_timeout"):
        raise click.UsageError("--lock-timeout sets how long a run waits for another run on its --model-file, and "
                               "no --model-file was given: pass --model-file FILE, or drop --lock-timeout.")
    _check_suffix(out, OUT_SUFFIXES, "--out")
    _check_suffix(requests_path, REQUESTS_SUFFIXES, "--requests")
    _check_distinct(out=out, plot=plot_path, requests=requests_path, model_file=model_file)
    _check_output_paths(out=out, plot=plot_path, requests=requests_path, model_file=model_file)
    _check_plotting(plot_path)
    _writes_stdout(out, plot_path)
    if by is not None:
        return forecast_by(trace, by, freq, horizon, model, level, targets, seed, out, jobs, opts)
    data = _read(trace, freq, opts, targets, model_file if model_file and Path(model_file).exists() else None)
    lengths = _token_lengths(data, opts) if requests_path else None
    if requests_path and lengths is None and needs_token_lengths(requests_format):
        if data.log is not None:
            raise WorkloadDataError(
                f"--format {requests_format} needs token lengths, and {data.path.name} has no token columns "
                f"(columns: {quote_columns(data.log.columns)}); name them with --input-col/--output-col, or write "
                "--format native.")
        # A bucketed series is read for its targets only (--input-col/--output-col name a request log's columns).
        raise WorkloadDataError(
            f"--format {requests_format} needs token lengths, and the bucketed series {data.path.name} has none to "
            "draw from: that takes an input_tokens or output_tokens column (token sums per bucket) and a bucket with "
            "requests (--input-col/--output-col name a request log's columns only). Add such a column, pass the raw "
            "request log with --freq instead, or write --format native.")
    with _model_file_lock(model_file, lock_timeout):  # held from the load (or the fit) to the save
        appended = zero_filled = None
        if model_file and Path(model_file).exists():
            asked = {"model": model, "horizon": horizon, "targets": list(dict.fromkeys(targets))}
            asked = {name: value for name, value in asked.items() if _option_given(name)}
            predictor, appended, zero_filled = _reuse(Path(model_file), data, freq, asked)
            chosen, model = list(predictor.targets_), predictor.model
            # --level given: the interval at that level, from the file's validation errors (the file keeps its own)
            level = level if _option_given("level") else predictor.interval_level_
            if requests_path and "requests" not in chosen:  # a token forecast is no count of requests
                raise WorkloadDataError(
                    f"--requests draws requests from a forecast of request counts, and {Path(model_file).name} "
                    f"forecasts {', '.join(chosen)} only: refit with a new --model-file and --target requests "
                    f"({Path(model_file).name} was not changed)."
                )
        else:
            _check_history(data, freq)
            chosen = _targets(data, targets)
            if requests_path and "requests" not in chosen:
                chosen.insert(0, "requests")
            predictor = WorkloadPredictor(model=model, horizon=horizon, level=level, random_state=seed,
                                          verbose=False if quiet else None)
            predictor.fit(data.series, timestamp="timestamp", target=chosen)
        if model_file:
            try:
                predictor.save(model_file)
            except OSError as exc:  # its message names the temporary file the save writes first
                raise WorkloadDataError(f"cannot write --model-file {quote(model_file)}: "
                                        f"{exc.strerror or _one_line(exc)}; write somewhere else.") from exc
    # A series ending within its horizon of 2262-04-11 23:47:16 UTC forecasts the steps that fit, with a warning
    # (none fits: predict's error, exit 3): a --model-file's horizon is the file's, so no option would give fewer.
    fit = steps_within_range(predictor.last_timestamp_, predictor.freq_)
    steps = fit if 0 < fit < predictor.horizon else None
    started = time.perf_counter()
    result = predictor.predict(steps, level=level)
    predict_ms = (time.perf_counter() - started) * 1e3
    if steps is not None:
        newest = _stamp(predictor.last_timestamp_, _fraction_digits(predictor.last_timestamp_, predictor.freq_))
        click.echo(f"warning: forecast the first {plural(steps, 'step')} of the horizon's {predictor.horizon}: "
                   f"bucket {steps + 1} after {newest} would end past 2262-04-11 23:47:16 UTC, the last instant "
                   "pandas' timestamps hold. Are the timestamps right? (numeric epochs are read in the unit their "
                   "magnitude implies: pass --unit to read them in another)", err=True)

    _echo_trace(data, predictor.freq_)
    last = result.history.iloc[-1]  # the model's newest bucket (a reused model's may be after TRACE's last)
    observed = ", ".join(f"{t}={_observed(last[t])}" for t in chosen)
    digits = _fraction_digits(predictor.last_timestamp_, predictor.freq_)
    _say(f"last    {_stamp(predictor.last_timestamp_, digits)}  {observed}")
    weights = getattr(predictor, "weights_", None)
    parts = [f"weights {', '.join(f'{k} {v:.2f}' for k, v in weights.items())}"] if weights else []
    combination = getattr(predictor.model_, "combination_", None)
    if combination:
        parts.append(f"combination {combination}")
    shifted = getattr(predictor.model_, "shift_share_", 0.0)  # an ensemble's update: weight moved on the newest windows
    if shifted:
        slot = predictor.model_.shift_member_  # DLinear's slot is the LSTM's weight where it shares it
        shares = slot == "dlinear" and predictor.model_._lstm_shares_slot()
        held = " (the lstm's weight: it shares dlinear's slot)" if shares else ""
        parts.append(f"{shifted:.2f} of the weight moved to {slot}{held}, far better on the newest windows")
    share = getattr(predictor.model_, "correction_share_", None)  # an LSTM's: how much of its network counts
    if share is not None:
        from .backtest import lstm_combination

        parts.append(f"{lstm_combination(share)}, tail t {predictor.model_.correction_t_:.2f}")
    detail = f" ({'; '.join(parts)})" if parts else ""
    fitted = "loaded" if appended is not None else f"fit {predictor.fit_seconds_:.2f} s"
    _say(f"model   {model}{detail}: {fitted}, predict {predict_ms:.1f} ms")
    if model_file:
        how = f"loaded, {plural(appended, 'new bucket')} appended with update()" if appended is not None else "fitted"
        if zero_filled:
            how += f", {plural(zero_filled, 'missing bucket')} zero-filled"
            if data.log is not None:  # its partial first bucket was dropped, the one a previous log's run dropped last
                how += (" before this log's buckets (consecutive logs lose the bucket they straddle: start each log "
                        "a bucket before the previous one ended)")
        _say(f"file    {model_file} ({how}; saved)")
    by_target = ", ".join(f"{t} {c:.2f}" for t, c in result.confidence_by_target.items())
    _say(f"level   {level:g} interval; confidence {result.confidence:.2f}"
               + (f" ({by_target})" if len(chosen) > 1 else "") + " = 1 - WAPE on validation")
    _say("")
    _say(_format_forecast(result, digits).to_string())
    if out:
        _writing(out, "--out", lambda to: _write_forecast(result, Path(to)))
        _say(f"wrote   {out}")
    if plot_path:
        figure = result.plot()
        _writing(plot_path, "--plot", lambda to: _save_figure(figure, plot_path, to))
        _say(f"wrote   {plot_path}")
    if requests_path:
        frame = result.to_requests(random_state=seed, lengths=lengths, recent=RECENT_REQUESTS, format=requests_format)
        _writing(requests_path, "--requests", lambda to: _write_csv(frame, to, Path(requests_path).name))
        _say(f"wrote   {requests_path} ({plural(len(frame), 'synthetic request')}, {requests_format} format)")


def _observed(value: float) -> str:
    """A bucket's value as the ``last`` line prints it: every digit of a count (2344002, not :g's 2.344e+06), a
    fraction to 2 decimals as the table rounds (499098.5, not :g's 499098)."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


def _write_csv(frame: pd.DataFrame, path: str, name: str) -> None:
    """``frame`` as CSV at ``path``, gzipped if it ends in ``.gz`` (in any case): the gzip header names ``name`` (the
    file the temporary ``path`` becomes, less ``.gz``), which ``gunzip -N`` restores, not the temporary's name."""
    if not path.lower().endswith(".gz"):  # pandas reads the suffix in any case: fc.csv.GZ is gzipped too
        frame.to_csv(path, index=False)
        return
    import gzip

    with open(path, "wb") as raw, gzip.GzipFile(filename=name[:-3], mode="wb", fileobj=raw) as packed:
        frame.to_csv(packed, index=False, mode="wb")


def _freq_option(width: pd.Timedelta) -> str:
    """A bucket width as --freq takes it: 10s, 1min, 500ms."""
    nanos = int(width // pd.Timedelta(1, "ns"))
    for unit, size in (("min", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if nanos % size == 0:
            return f"{nanos // size}{unit}"
    return f"{nanos}ns"


def _load_model_file(path: Path):
    """The predictor saved at ``path`` (--model-file), or an error naming the option, the file and the fix."""
    from .errors import ModelFileError
    from .predictor import WorkloadPredictor

    try:
        return WorkloadPredictor.load(path)
    except ModelFileError as exc:
        reason = re.sub(r"\s*Load only files written by .*$", "", _one_line(exc)).rstrip(".")
        raise WorkloadDataError(
            f"--model-file {quote(str(path))} exists but cannot be loaded ({cut(reason, 200)}): pass the file an "
            "earlier forecast --model-file saved, or a new file name to fit a model and save it there "
            f"({path.name} was not changed)."
        ) from exc


def _refuse_other_settings(path: Path, predictor, asked: dict[str, Any]) -> None:
    """Refuse (exit 2) --model, --horizon, --level or --target given with a --model-file that holds other
    settings: the loaded model keeps its own, so they would be ignored without a word."""
    saved = {"model": predictor.model, "horizon": predictor.horizon, "targets": list(predictor.targets_)}
    options = {"model": "--model", "horizon": "--horizon", "targets": "--target"}
    differ = [name for name, value in asked.items()
              if (set(value) != set(saved[name]) if name == "targets" else value != saved[name])]
    if not differ:
        return
    def shown(name: str, value: Any) -> str:
        values = value if isinstance(value, list) else [value]
        return " ".join(f"{options[name]} {v:g}" if isinstance(v, float) else f"{options[name]} {v}" for v in values)

    dropped = [options[name] for name in differ]
    raise click.UsageError(
        f"{', '.join(shown(name, asked[name]) for name in differ)}: {path.name} was fitted with "
        f"{', '.join(shown(name, saved[name]) for name in differ)}, and a loaded --model-file keeps its own "
        f"settings; drop {' and '.join(dropped)}, or fit anew with a new --model-file ({path.name} was not changed)."
    )


def _reuse(path: Path, data, freq: str | None, asked: dict[str, Any] | None = None) -> tuple[Any, int, int]:
    """The predictor saved at ``path``, brought up to date with TRACE's buckets after its last one; with the
    number of buckets appended and of missing buckets (before or between them) that ``update`` zero-filled.

    A TRACE whose buckets are not as wide as the saved model's is refused before anything is updated: its
    buckets would be appended as the model's, a wrong series that would be saved back.
    """
    from .data import parse_freq, to_utc_index

    predictor = _load_model_file(path)
    _refuse_other_settings(path, predictor, asked or {})
    missing = [t for t in predictor.targets_ if t not in data.series.columns]
    if missing:
        raise WorkloadDataError(
            f"{path.name} forecasts {', '.join(predictor.targets_)}; {data.path.name} has no {', '.join(missing)} "
            f"(it has {', '.join(c for c in data.series.columns if c != 'timestamp')}): pass a trace with token "
            f"columns (see --input-col/--output-col), or refit with a new --model-file ({path.name} was not "
            "changed)."
        )
    stamps = to_utc_index(data.series["timestamp"])
    if data.log is not None and freq is not None:
        width = parse_freq(freq)
    else:
        width = _freq_of(data) if len(stamps) > 1 else None
    if width is not None and width != predictor.freq_:
        model_width = _freq_option(predictor.freq_)
        fix = (f"pass --freq {model_width}" if data.log is not None
               else f"pass the raw request log with --freq {model_width}")
        raise WorkloadDataError(
            f"{path.name} was fitted on {_width(predictor.freq_)} buckets; {data.path.name} has "
            f"{_width(width)} buckets: {fix}, or refit with a new --model-file ({path.name} was not changed)."
        )
    later = np.asarray(stamps > predictor.last_timestamp_)
    newer = data.series[later]
    places = np.flatnonzero(later)  # the update's rows among the series'
    off_grid = np.flatnonzero(np.asarray((stamps[later] - predictor.last_timestamp_) % predictor.freq_
                                         != pd.Timedelta(0)))
    if len(off_grid):  # update's own message advises bucketize(..., origin=...), no option of the CLI's
        first, row = stamps[later][off_grid[0]], _data_row(data, places[off_grid[0]])
        raise WorkloadDataError(
            f"{data.path.name}: its bucket {_stamp(first, _fraction_digits(first))}{f' at {row}' if row else ''} is "
            f"off {path.name}'s grid (buckets of {_width(predictor.freq_)} from {_stamp(predictor.last_timestamp_)}): "
            "pass a bucketed series on that grid, or the raw request log with --freq "
            f"{_freq_option(predictor.freq_)} ({path.name} was not changed).{f' {ROWS_NOTE}' if row else ''}"
        )
    zero_filled = 0
    if len(newer):
        before = predictor.last_timestamp_
        try:
            predictor.update(newer, timestamp="timestamp")
        except UpdateGapError as exc:  # its advice (drop the row, raise max_gap) names no option of the CLI's
            if data.log is None:
                finding = renamed_rows(exc, [_data_row(data, places[row]) for row in exc.rows]).finding
            else:  # a request log's bucket, which no row of the file is: named by its time alone
                finding = re.sub(r" at row \d+", "", exc.finding)
            raise WorkloadDataError(
                f"{data.path.name}: {finding} An update bridges at most that many missing buckets: fit anew with a "
                f"new --model-file, or pass a trace that continues {path.name}'s last bucket ({path.name} was not "
                f"changed).{f' {ROWS_NOTE}' if data.log is None else ''}"
            ) from exc
        zero_filled = max(int((stamps[-1] - before) // predictor.freq_) - len(newer), 0)
    return predictor, len(newer), zero_filled


def _data_row(data, place: int) -> str:
    """"data row N" for the ``place``-th row of ``data``'s series: the bucketed file's row (counted from 1, as the
    file's data rows are); "" for a request log's bucket, which no row of the file is."""
    if data.log is not None or data.summed_from is not None:  # a bucket summed from several rows is none of them
        return ""
    row = int(place if data.rows is None else data.rows[place])
    return f"data row {row + 1:,}" if row >= 0 else ""  # a bucket --fill-missing added is no row of the file


def _format_forecast(result, digits: int = 0) -> pd.DataFrame:
    frame = result.to_frame().round(2)
    frame.index = _stamps(frame.index, digits)
    frame.index.name = "timestamp"
    return frame


def _write_forecast(result, path: Path) -> None:
    frame = result.to_frame()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [f"{target}_{field}" for target, field in frame.columns]
    frame.index = pd.Index(_iso_stamps(frame.index), name="timestamp")  # as forecast --by writes them
    if path.suffix.lower() == ".json":
        records = frame.reset_index()
        # freq_seconds: the bucket width, which turns a bucket's counts into rates (a one-bucket forecast has no
        # second timestamp to take it from)
        payload = {"model": result.model, "freq_seconds": result.freq.total_seconds(), "level": result.level,
                   "confidence": result.confidence,
                   "confidence_by_target": result.confidence_by_target, "targets": list(result.targets),
                   "forecast": records.to_dict(orient="records")}
        path.write_text(json.dumps(payload, indent=2))
    else:
        frame.to_csv(path)


# -- evaluate ---------------------------------------------------------------------------------
@main.command(epilog=EXIT_CODES_HELP)
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option("--freq", default=None, metavar="WIDTH", callback=_check_freq,
              help="Bucket width for a request log, e.g. 1s, 10s (a bucketed series keeps its own, or is summed "
                   "to a --freq that is a whole multiple of it; with --by a --freq must match each key's).")
@click.option("--horizon", default=10, show_default=True, type=click.IntRange(min=1), help="Buckets forecast.")
@click.option("--models", default="dlinear,lstm,ensemble", show_default=True,
              help="Comma-separated models to score (any registered model, see `forecast --help`).")
@click.option("--baselines", default=",".join(registry.names(baseline=True)), show_default=True,
              help="Comma-separated baselines (the registered ones by default, or any registered model); '' for none.")
@click.option("--level", default=0.9, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              callback=lambda _c, _p, v: _finite(v, "a coverage in (0, 1), e.g. 0.9"),
              help="Interval level whose coverage is measured.")
@click.option("--target", "targets", multiple=True, type=click.Choice(TARGETS, case_sensitive=False),
              help="What to score; repeat for several (default: requests).")
@click.option("--test-size", default=0.25, show_default=True, type=float, callback=lambda _c, _p, v: _test_size(v),
              help="Test span: a fraction of the series (< 1) or a whole number of buckets.")
@click.option("--stride", default=1, show_default=True, type=click.IntRange(min=1),
              help="Buckets between forecast origins in the test span.")
@click.option("--refit-every", default=None, type=click.IntRange(min=1),
              help="Buckets between refits in the test span [default: three refits].")
@click.option("--max-epochs", default=None, type=click.IntRange(min=1), help="LSTM epoch cap (default: the model's).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0, registry.MAX_SEED),
              help="Random seed of the LSTM.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the table as a JSON list of records, one per model and baseline.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Draw the MAE by horizon step of the first --target to an image, e.g. steps.png (needs "
                   "matplotlib).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--by", default=None, metavar="COLUMN",
              help="Backtest one series per value of this column; prints a per-key table and a fleet summary "
                   "(without --plot).")
@fill_missing_option
@input_options
@handle_errors
def evaluate(trace: str, freq: str | None, horizon: int, models: str, baselines: str, level: float,
             targets: tuple[str, ...], test_size: float, stride: int, refit_every: int | None,
             max_epochs: int | None, seed: int, json_path: str | None, plot_path: str | None, quiet: bool,
             by: str | None = None, **opts: Any) -> None:
    """Backtest models against baselines on TRACE (rolling origin, expanding window).

    The last --test-size of the series is the test span; a forecast starts at every
    --stride-th bucket of it, and the models are refitted every --refit-every buckets
    on all data before that point. Prints one row per model and baseline: MAE, RMSE,
    sMAPE and WAPE (fractions), bias (sum of forecast - actual over sum of |actual|:
    above 0 over-forecasts), MASE (against the in-sample naive), coverage of the
    --level interval, mean interval width, the Winkler interval score, the model's own
    confidence, mean fit time (s) and predict time (ms).

    conv.csv and code.csv in the examples are the bundled traces, written as
    `workload-predictor --help` shows.

    \b
    Examples:
      workload-predictor evaluate conv.csv --freq 10s --horizon 30
      workload-predictor evaluate code.csv --freq 1s --horizon 10 \\
          --models dlinear,ensemble --refit-every 300 --json scores.json --plot steps.png
    """
    from .backtest import run_backtest
    from .predictor import WorkloadPredictor

    model_names = _split_names(models, registry.names(), "--models")
    baseline_names = _split_names(baselines, registry.names(), "--baselines")
    if click.get_current_context().get_parameter_source("baselines") is click.core.ParameterSource.DEFAULT:
        # --models naive compares naive with the other baselines: a name in both lists is refused only where both
        # were given.
        baseline_names = [name for name in baseline_names if name not in model_names]
    if not model_names and not baseline_names:
        raise click.BadParameter("name at least one model or baseline.", param_hint="--models")
    both = [n for n in model_names if n in baseline_names]
    if both:  # the table has one row per name: the model and the baseline would be one row
        raise click.UsageError(f"{', '.join(map(quote, both))} is in both --models and --baselines; name it in "
                               "one of them.")
    if by is not None:
        _refuse_with_by(plot=plot_path is not None, fill_missing=opts.get("fill_missing", False))
        if by in model_names + baseline_names:  # the per-key table has a column per model, and one for the keys
            raise click.BadParameter(f"{quote(by)} is also the name of a model in --models/--baselines, and the "
                                     "per-key table has one column per model: rename that column of TRACE (e.g. "
                                     "to endpoint) and pass --by endpoint, or drop the model.", param_hint="--by")
    _check_distinct(json=json_path, plot=plot_path)
    _check_output_paths(json=json_path, plot=plot_path)
    _check_plotting(plot_path)
    _writes_stdout(json_path, plot_path)
    if by is not None:
        return evaluate_by(trace, by, freq, horizon, model_names, baseline_names, level, targets, test_size, stride,
                           refit_every, seed, json_path, opts, max_epochs=max_epochs)
    data = _read(trace, freq, opts, targets)
    _check_history(data, freq)
    chosen = _targets(data, targets)
    # --max-epochs reaches every model (or ensemble member) that trains for epochs.
    epochs = {"max_epochs": max_epochs} if max_epochs is not None else {}
    templates = [WorkloadPredictor(model=name, horizon=horizon, level=level, random_state=seed, verbose=False,
                                   model_params=registry.params_for(name, **epochs) or None) for name in model_names]
    result = run_backtest(data.series, templates, baseline_names, horizon=horizon, level=level,
                          target=chosen, test_size=test_size, stride=stride, refit_every=refit_every,
                          random_state=seed, verbose=False if quiet else None)
    table = result.table  # each row's kind is the list it was named in: --models naive --baselines dlinear
    _echo_trace(data, _freq_of(data))
    origins, refits = len(result.origins), len(result.refits)
    _say(f"backtest {plural(origins, 'origin')} x {plural(horizon, 'step')}, {plural(refits, 'refit')}, expanding "
         f"window; interval level {level:g}")
    _say("")
    _say(format_table(table, multi_target=len(chosen) > 1))
    for line in _verdicts(table) + combination_lines(table):
        _say(line)
    if json_path:
        _writing(json_path, "--json", lambda to: Path(to).write_text(json.dumps(_records(table), indent=2)))
        _say(f"wrote   {json_path}")
    if plot_path:
        from .plotting import plot_error_by_step

        figure = plot_error_by_step(result.by_step, target=chosen[0],
                                    title=f"{data.path.name}: MAE by horizon step ({_width(_freq_of(data))} buckets)")
        _writing(plot_path, "--plot", lambda to: _save_figure(figure, plot_path, to))
        _say(f"wrote   {plot_path}")


def format_table(table: pd.DataFrame, multi_target: bool = False) -> str:
    """The backtest table as printed: one row per model (and target)."""
    columns = {"mae": "MAE", "rmse": "RMSE", "smape": "sMAPE", "wape": "WAPE", "bias": "bias", "mase": "MASE",
               "coverage": "coverage", "interval_width": "width", "interval_score": "winkler",
               "confidence": "confidence",
               "fit_seconds": "fit_s", "predict_ms": "predict_ms"}
    shown = table.set_index(["model", "target"] if multi_target else "model")[list(columns)].rename(columns=columns)
    return shown.to_string(float_format=lambda v: f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}")


def _verdicts(table: pd.DataFrame) -> list[str]:
    """One line per model: its MAE against the best baseline's."""
    lines = []
    for target, rows in table.groupby("target", sort=False):
        baselines = rows[rows["kind"] == "baseline"]
        if baselines.empty:
            continue
        best = baselines.loc[baselines["mae"].idxmin()]
        for _, row in rows[rows["kind"] == "model"].iterrows():
            if math.isclose(row["mae"], best["mae"], rel_tol=1e-9, abs_tol=MAE_ROUNDING):  # an idle series: 0 and 1e-17
                change = "+0.0% (a tie)"
            elif best["mae"] > 0:
                change = f"{(row['mae'] / best['mae'] - 1) * 100:+.1f}%"
            else:
                change = "above the baseline's exact forecast"
            lines.append(f"{row['model']} MAE {row['mae']:.3f} vs best baseline {best['model']} {best['mae']:.3f}: "
                         f"{change}" + (f" ({target})" if table["target"].nunique() > 1 else ""))
    return ([""] + lines) if lines else []


def combination_lines(table: pd.DataFrame) -> list[str]:
    """One line per model that combines members (the ensemble): the combination it chose at each refit."""
    if "combination" not in table:
        return []
    chosen = table.dropna(subset=["combination"]).drop_duplicates("model")
    lines = [f"{row['model']} combination per refit: {row['combination']}" for _, row in chosen.iterrows()]
    return ([""] + lines) if lines else []


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [_json_safe(row) for row in table.to_dict(orient="records")]


# -- inspect ----------------------------------------------------------------------------------
@main.command(epilog=EXIT_CODES_HELP)
@click.argument("trace", type=click.Path(exists=True, dir_okay=False))
@click.option("--freq", default="1s", show_default=True, metavar="WIDTH", callback=_check_freq,
              help="Bucket width used to count empty buckets and rates of a request log (its first and last "
                   "buckets, partial, are left out unless --keep-partial).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@input_options
@handle_errors
def inspect(trace: str, freq: str, as_json: bool, **opts: Any) -> None:
    """What to check first: span, rows, frequency, gaps, empty buckets, rate statistics.

    For a request log: requests, span, median inter-arrival time and the longest
    gaps between requests, then the series bucketed at --freq. For a bucketed
    series: its inferred frequency and missing buckets. Rate statistics are per
    bucket: mean, standard deviation, variance/mean (1 for Poisson arrivals; much
    more means bursts), percentiles.

    conv.csv and code.csv in the examples are the bundled traces, written as
    `workload-predictor --help` shows.

    \b
    Examples:
      workload-predictor inspect code.csv
      workload-predictor inspect requests.jsonl --timestamp-col t --unit ms --origin 2024-05-10T00:00:00Z --json
    """
    report = inspect_report(trace, freq, opts)
    if as_json:
        _say(json.dumps(_json_safe(report), indent=2))  # NaN and infinity are no JSON: null, as evaluate --json
        return
    labels = {key: key.removesuffix("_s").replace("_", " ") for key in report}
    width = max(len(label) for label in labels.values())
    for key, value in report.items():
        if key.endswith("_s") and isinstance(value, (int, float)):
            value = _duration(value)
        elif key == "inferred_frequency_s" and value is None:
            value = "none (fewer than 2 distinct timestamps)"
        elif key in ("missing_values", "non_numeric_values", "negative_values"):
            value = _problem_text(value)
        elif key == "rows_out_of_order":
            clock = ("; in local time, a clock change repeats an hour: give the timestamps their UTC offset"
                     if value["largest_step_back_s"] >= 1800 and value["without_utc_offset"] else "")
            value = (f"{value['count']:,} (the largest step back: {_duration(value['largest_step_back_s'])}, at data "
                     f"row {value['largest_at_row']}{clock})")
        elif key == "times_without_utc_offset":
            value = ("no" if not value else f"yes: read in {report['time_zone']}" if "time_zone" in report else
                     "yes: read as UTC (if the log's clock kept local time, pass --tz ZONE, e.g. --tz Europe/Berlin, "
                     "or write its stamps with their UTC offset, e.g. +02:00)")
        elif key == "repeated_requests":
            value = f"{value['count']:,}" + (
                f" (rows with the timestamp and token counts of an earlier row, each counted as a request: a log "
                f"exported twice? The first: data row {value['first_at_row']}, as data row {value['repeats_row']})"
                if value["count"] else "")
        elif key == "irregular_steps":
            value = f"{value['count']:,}" + (f" (the first: {_duration(value['first_step_s'])} after "
                                             f"{value['first_after']})" if value["count"] else "")
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {'n/a' if v is None else v}"
                              for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        _say(f"{labels[key]:<{width}}  {value}")


def _json_safe(value: Any) -> Any:
    """``value`` as JSON holds it, in nested dicts and lists: every non-finite float (NaN, infinity) None, numpy
    scalars Python ones."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _duration(seconds: float) -> str:
    """A duration as a person reads it: 250 ms, 12.5 s, 57 min 16 s, 3 h 5 min, 2 d 3 h."""
    if seconds == 0:
        return "0 s"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.3g} us"
    if seconds < 60:
        return f"{seconds:.3g} s"
    days, rest = divmod(round(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    first = next(i for i, (count, _) in enumerate(parts) if count)
    return " ".join(f"{count} {unit}" for count, unit in parts[first:first + 2] if count)


def _seconds(delta: pd.Timedelta) -> float:
    return float(delta / pd.Timedelta(seconds=1))


def inspect_report(path: str, freq: str, opts: dict[str, Any]) -> dict[str, Any]:
    """What ``inspect`` prints: JSON-ready values under keys that do not depend on the options.

    Durations are seconds under keys ending in ``_s``; rows (``first_row``) are data rows counted from 1.
    ``missing_values``, ``non_numeric_values`` and ``negative_values`` map each value column (a
    bucketed series' targets, a request log's token columns) that holds empty cells, text or numbers
    below 0 to how many and the first; a bucketed series' ``irregular_steps`` are steps that are no whole number of
    buckets (missing buckets and repeated timestamps are counted apart). A request log is bucketed by
    :func:`~workload_predictor.bucketize` (so its ``max_buckets`` guard refuses a span that
    would not fit), its partial first and last buckets dropped unless ``keep_partial``.
    """
    from .data import bucketize, check_span, infer_freq, parse_freq, to_utc_index, token_columns
    from .readers import coerced_numbers, epochs_as_numbers, find_timestamp_column, read_table

    frame = read_table(path)
    if len(frame) == 0:
        raise WorkloadDataError(f"{path}: the file holds no rows.")
    column = find_timestamp_column(frame, opts["timestamp_col"])
    frame = epochs_as_numbers(frame, column)
    in_file_order = to_utc_index(frame[column], unit=opts["unit"], origin=opts["origin"], tz=opts.get("tz"),
                                 name=column)
    stamps = in_file_order.sort_values()
    check_span(stamps[0], stamps[-1], column, opts["unit"])  # before the spans and steps below are measured
    digits = _fraction_digits(stamps)
    iso = lambda stamp: _iso_stamps([stamp], digits)[0]  # noqa: E731 - every stamp of the report to the same decimals
    bucketed = "requests" in frame.columns
    if bucketed and opts["keep_partial"]:
        raise _keep_partial_refused(path)
    report: dict[str, Any] = {
        # A name's bytes that are no UTF-8 (read as lone surrogates) as \xNN: JSON holds no half a character.
        "file": os.fsencode(str(path)).decode("utf-8", "backslashreplace"),
        "kind": "bucketed series" if bucketed else "request log", "rows": len(frame),
        "columns": list(map(str, frame.columns)), "timestamp_column": str(column),
        "first": iso(stamps[0]), "last": iso(stamps[-1]), "span_s": _seconds(stamps[-1] - stamps[0]),
    }
    # The first and the last stamp: a column mixing stamps with and without an offset is rare, and reading every
    # stamp alone would take longer than reading the log.
    report["times_without_utc_offset"] = _without_utc_offset(frame[column].iloc[[0, -1]])
    if opts.get("tz") is not None:  # the zone they were read in (to_utc_index refused offsets beside it)
        report["time_zone"] = str(opts["tz"]).strip()
    _steps_back(report, in_file_order, frame[column])
    steps = pd.Series(stamps[1:] - stamps[:-1])
    tokens = {} if bucketed else token_columns(frame.columns, opts["input_col"], opts["output_col"])
    _value_problems(report, frame, [c for c in TARGETS if c in frame.columns] if bucketed else list(tokens.values()))
    if bucketed:
        distinct = stamps.unique()  # a repeated timestamp is no step of the grid
        width = infer_freq(distinct) if len(distinct) > 1 else None
        report["inferred_frequency_s"] = _seconds(width) if width is not None else None
        report["missing_buckets"] = int(((steps // width) - 1).clip(lower=0).sum()) if width is not None else 0
        report["duplicate_timestamps"] = int(stamps.duplicated().sum())
        off = np.flatnonzero((steps % width != pd.Timedelta(0)).to_numpy()) if width is not None else []
        report["irregular_steps"] = {"count": len(off)}
        if len(off):
            report["irregular_steps"].update(first_after=iso(stamps[int(off[0])]),
                                             first_step_s=_seconds(steps.iloc[int(off[0])]))
        counts = coerced_numbers(frame["requests"]).to_numpy(float)
    else:
        width = parse_freq(freq)
        if len(steps):
            report["median_interarrival_s"] = _seconds(steps.median())
            longest = int(np.argmax(steps.to_numpy()))
            report["longest_gap_s"] = _seconds(steps.iloc[longest])
            report["longest_gap_after"] = iso(stamps[longest])
            threshold = max(10 * width, pd.Timedelta(seconds=60))
            report["long_gap_threshold_s"] = _seconds(threshold)
            report["long_gaps"] = int((steps > threshold).sum())
        series = bucketize(frame, timestamp=column, freq=width, unit=opts["unit"], origin=opts["origin"], sums={},
                           tz=opts.get("tz"))
        dropped = not opts["keep_partial"] and len(series) >= 3
        counts = series["requests"].to_numpy(float)[1:-1] if dropped else series["requests"].to_numpy(float)
        report["bucket_s"] = _seconds(width)
        report["buckets"] = len(counts)
        report["partial_buckets_dropped"] = dropped
        for side in ("input_tokens", "output_tokens"):
            if side in tokens:
                values = coerced_numbers(frame[tokens[side]]).to_numpy(float)
                report[f"{side}_per_request"] = {
                    "mean": float(np.nanmean(values)), "p50": float(np.nanmedian(values)),
                    "p99": float(np.nanpercentile(values, 99)), "max": float(np.nanmax(values))}
        if tokens:  # without token counts, requests in one timestamp (a log to the second) are no repetition
            _repeated_requests(report, in_file_order, frame, list(tokens.values()))
        missing = [side.split("_")[0] for side in ("input_tokens", "output_tokens") if side not in tokens]
        if missing:
            report["token_columns"] = (f"none recognised for {' and '.join(missing)} tokens; name them with "
                                       + " and ".join(f"--{side}-col" for side in missing))
    if len(counts):
        return _rate_statistics(report, counts)
    return report


def _repeated_requests(report: dict[str, Any], stamps: pd.DatetimeIndex, frame: pd.DataFrame,
                       token_columns: list) -> None:
    """``report["repeated_requests"]`` of a request log (``stamps`` in file order): its rows with the same timestamp
    and token counts (``token_columns``, at least one) as an earlier row, which a log exported twice or merged with
    an overlapping one holds and which are counted as requests each: how many, and the first with the earlier row it
    repeats (data rows counted from 1)."""
    from .readers import coerced_numbers

    report["repeated_requests"] = {"count": 0}
    shared = np.flatnonzero(stamps.duplicated(keep=False))  # only rows whose timestamp recurs can repeat a row
    if not len(shared):
        return
    # An empty or non-numeric cell (reported above) as -1, which no count is: equal to itself, as duplicated() has it.
    keys = pd.DataFrame({"timestamp": stamps[shared], **{
        f"tokens{i}": np.nan_to_num(coerced_numbers(frame[name].iloc[shared]).to_numpy(float), nan=-1.0)
        for i, name in enumerate(token_columns)}})
    repeated = keys.duplicated().to_numpy()
    report["repeated_requests"]["count"] = int(repeated.sum())
    if repeated.any():
        at = int(np.flatnonzero(repeated)[0])
        earlier = int(np.flatnonzero(keys.iloc[:at].eq(keys.iloc[at]).all(axis=1).to_numpy())[0])
        report["repeated_requests"].update(first_at_row=int(shared[at]) + 1, repeats_row=int(shared[earlier]) + 1)


def _steps_back(report: dict[str, Any], stamps: pd.DatetimeIndex, column: pd.Series) -> None:
    """``report["rows_out_of_order"]`` where a row's timestamp is before the previous row's (``stamps`` in file
    order, read from ``column``): how many, the largest step back with its row (a data row counted from 1), and
    whether the two timestamps of that step were written without a UTC offset (``without_utc_offset``: date strings
    or datetimes with no offset, which a clock in local time wrote; epochs and stamps with an offset are instants,
    which no clock change repeats). Every other statistic reads the sorted timestamps, so a log in naive local time
    whose clock went back (DST) would count that hour twice without a word."""
    back = np.flatnonzero(stamps[1:] < stamps[:-1])
    if len(back):
        sizes = stamps[back] - stamps[back + 1]
        largest = int(np.argmax(sizes))
        at = int(back[largest])
        report["rows_out_of_order"] = {"count": len(back), "largest_step_back_s": _seconds(sizes[largest]),
                                       "largest_at_row": at + 2,
                                       "without_utc_offset": _without_utc_offset(column.iloc[[at, at + 1]])}


def _without_utc_offset(values: pd.Series) -> bool:
    """Whether every one of ``values`` (raw timestamps as read) is a wall-clock time without a UTC offset: a naive
    datetime, or a date string that reads as one. Numbers (epochs, offsets from --origin) and stamps with an offset
    (``Z``, ``+02:00``) are not; a string pandas cannot read alone counts as without one."""
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype):
        return False
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return False
    for value in values:
        if isinstance(value, (int, float, np.number, pd.Timedelta)):
            return False
        try:
            stamp = pd.Timestamp(str(value).strip()) if isinstance(value, str) else pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            continue
        if stamp.tzinfo is not None:
            return False
    return True


def _value_problems(report: dict[str, Any], frame: pd.DataFrame, columns: list[str]) -> None:
    """Add to ``report`` the empty cells, the text and the negative numbers in the value ``columns`` of ``frame`` (in
    file order; no load or token count is below 0): per column, how many and the first (its data row, from 1)."""
    from .readers import coerced_numbers

    missing, text, negative = {}, {}, {}
    for name in columns:
        values = frame[name]
        absent = values.isna().to_numpy()
        numbers = values if pd.api.types.is_numeric_dtype(values.dtype) else coerced_numbers(values)
        words = numbers.isna().to_numpy() & ~absent
        if absent.any():
            missing[str(name)] = {"count": int(absent.sum()), "first_row": int(np.flatnonzero(absent)[0]) + 1}
        if words.any():
            row = int(np.flatnonzero(words)[0])
            text[str(name)] = {"count": int(words.sum()), "first": cut(values.iloc[row], 40), "first_row": row + 1}
        below = (numbers.to_numpy(dtype=np.float64, na_value=np.nan) < 0)
        if below.any():
            row = int(np.flatnonzero(below)[0])
            negative[str(name)] = {"count": int(below.sum()), "first": cut(values.iloc[row], 40), "first_row": row + 1}
    report["missing_values"] = missing
    report["non_numeric_values"] = text
    report["negative_values"] = negative


def _problem_text(value: dict[str, Any]) -> str:
    """A ``missing_values``/``non_numeric_values``/``negative_values`` entry as ``inspect`` prints it."""
    if not value:
        return "none"
    parts = []
    for column, found in value.items():
        example = f"{quote(found['first'])} " if "first" in found else ""
        parts.append(f"{column} {found['count']:,} (first {example}at data row {found['first_row']:,})")
    return "; ".join(parts)


def _rate_statistics(report: dict[str, Any], counts: np.ndarray) -> dict[str, Any]:
    """``report`` with the empty buckets and requests per bucket of ``counts`` (NaN left out, without numpy's
    warnings about all-NaN or infinite values: the report shows them as NaN, or null in JSON)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        empty = int((counts == 0).sum())
        report["empty_buckets"] = {"count": empty, "share": round(empty / len(counts), 4)}
        mean = float(np.nanmean(counts))
        report["requests_per_bucket"] = {
            "mean": mean, "std": float(np.nanstd(counts)),
            "var/mean": float(np.nanvar(counts) / mean) if mean > 0 else None,
            "p50": float(np.nanpercentile(counts, 50)), "p90": float(np.nanpercentile(counts, 90)),
            "p99": float(np.nanpercentile(counts, 99)), "max": float(np.nanmax(counts)),
        }
    return report



# -- fleets: one series per key (--by) ----------------------------------------------------------------
def _read_fleet(path: str, freq: str | None, by: str, opts: dict[str, Any], targets: tuple[str, ...] = (),
                doing: str = "fitted") -> tuple[pd.DataFrame, dict, str | None, bool, pd.Series]:
    """TRACE as a long frame with a ``by`` column: a bucketed CSV as it is, a request log bucketized per key; with
    the keys left out (``{key: error}``: of a request log, the rows without a key under ``None``, whose rows are
    dropped; of a bucketed file, the keys whose buckets are not ``freq`` wide, whose rows stay for the fit to refuse),
    the width the fleet is fitted at: ``freq`` (None for a bucketed file without --freq, whose keys keep their own
    widths), so a key of one bucket is one bucket too few, not a width to infer; whether the frame's rows are a
    request log's buckets (a message names a bucket then, not the file's row: :func:`_bucket_rows`); and TRACE's key
    column as read, in the file's order (:func:`_in_file_order` orders the skipped keys by it).

    A request log is bucketized at ``freq`` on one grid for all keys (the first and the last
    bucket are partial and dropped, unless --keep-partial), as ``bucketize(..., by=...)`` does. Of its token
    columns, those the ``targets`` need (default: requests only) are summed; a key whose value in one of them is no
    token count is left out, and so are the rows without a key, as a fleet's fit leaves them out of a bucketed
    series (``doing``: what the other keys are, for the message): one tenant's broken row does not stop the rest.
    """
    from .data import bucketize, check_span, column_key, to_utc_index, token_columns
    from .readers import epochs_as_numbers, find_timestamp_column, read_table

    frame = read_table(path, text_columns=(by,))  # keys as the file spells them: tenants 001 and 1, region NA
    if len(frame) == 0:
        raise WorkloadDataError(f"{path}: the file holds no rows.")
    if by not in frame.columns:  # the key column is named exactly: --by 'Endpoint Name', not endpoint_name
        near = [name for name in frame.columns if column_key(name) == column_key(by)]
        fix = (f"pass --by {quote(str(near[0]))}, as the file spells it" if near else
               "pass --by with the name of the column that tells the series apart, as the file spells it")
        raise WorkloadDataError(f"{Path(path).name} has no column {quote(by)} for --by (columns: "
                                f"{quote_columns(frame.columns)}): {fix}.")
    _refuse_keys_written_alike(frame[by], by)
    column = find_timestamp_column(frame, opts["timestamp_col"])
    frame = epochs_as_numbers(frame, column)
    if by in (column, "timestamp"):
        raise WorkloadDataError(f"--by {quote(by)} is the timestamp column of {Path(path).name}; --by names the "
                                "column that tells the series apart (a model, endpoint or tenant column).")
    if "requests" in frame.columns:
        if by in TARGETS:
            raise WorkloadDataError(f"--by {quote(by)} is a target column of {Path(path).name}; --by names the "
                                    "column that tells the series apart (a model, endpoint or tenant column).")
        if opts["keep_partial"]:
            raise _keep_partial_refused(path)
        out = frame[[by, *(c for c in ("requests", "input_tokens", "output_tokens") if c in frame.columns)]].copy()
        stamps = to_utc_index(frame[column], unit=opts["unit"], origin=opts["origin"], tz=opts.get("tz"), name=column)
        check_span(stamps.min(), stamps.max(), column, opts["unit"])
        out.insert(1, "timestamp", stamps)
        if freq is None:
            return out, {}, None, False, frame[by]
        return out, _keys_off_width(out, by, freq, path), freq, False, frame[by]
    if freq is None:
        raise click.BadParameter(f"a request log needs --freq (the bucket width), e.g. --freq 10s. {NOT_BUCKETED_NOTE}",
                                 param_hint="--freq")
    sums = token_columns(frame.columns, opts["input_col"], opts["output_col"])
    for side, name in sums.items():
        if by == name:
            raise WorkloadDataError(f"--by {quote(by)} is the {side.split('_')[0]}-token column of "
                                    f"{Path(path).name} (summed into the {side} target); --by names the column that "
                                    "tells the series apart (a model, endpoint or tenant column).")
    sums = {name: source for name, source in sums.items() if name in (targets or ("requests",))}
    keys = frame[by]
    frame, errors = _without_failing_keys(frame, by, list(dict.fromkeys(sums.values())), doing)
    frame, unreadable = _without_unreadable_stamps(frame, by, column, opts)
    errors.update(unreadable)
    if len(frame) == 0:
        raise _no_key_left(_in_file_order(errors, keys), by, doing)
    buckets = bucketize(frame, timestamp=column, freq=freq, sums=sums, by=by)  # its stamps read as UTC datetimes
    if not opts["keep_partial"]:
        first, last = buckets["timestamp"].min(), buckets["timestamp"].max()
        _refuse_all_partial(path, freq, first, last, _in_file_order(errors, keys), opts)
        buckets = buckets[(buckets["timestamp"] > first) & (buckets["timestamp"] < last)].reset_index(drop=True)
    return buckets, errors, freq, True, keys


def _keys_off_width(out: pd.DataFrame, by: str, freq: str, path: str) -> dict:
    """The keys of ``out`` (a bucketed fleet file: keys, UTC timestamps, targets) whose buckets are not ``freq``
    wide, each with why (``{key: error}``): a --freq the user gives is the width every key is fitted at, as one
    series' must match its buckets. Their rows stay (a message's row is the file's); the fit refuses them (their
    steps are not all ``freq``), and :func:`_skipped` gives this reason instead of the fit's. A key's width is the median step between its sorted timestamps (the lower of the
    two middle ones: a step the key has); a key of one row, or whose median step is not positive (repeated
    timestamps), is left to the fit, which words it. A file none of whose keys is ``freq`` wide is refused whole
    (exit 3), as one series at another width is."""
    from .data import duration_text, factorize_keys, parse_freq

    width = parse_freq(freq).to_timedelta64()
    codes, keys = factorize_keys(out[by], by, missing_ok=True)
    stamps = np.asarray(out["timestamp"].array, dtype="datetime64[ns]")
    order = np.lexsort((stamps, codes))
    sorted_codes, steps = codes[order], np.diff(stamps[order])
    within = (sorted_codes[1:] == sorted_codes[:-1]) & (sorted_codes[1:] >= 0)
    step_codes, steps = sorted_codes[1:][within], steps[within]
    by_key = np.lexsort((steps, step_codes))
    counts = np.bincount(step_codes, minlength=len(keys))
    has = np.flatnonzero(counts)
    medians = steps[by_key][(np.cumsum(counts) - counts)[has] + (counts[has] - 1) // 2]
    measured = medians > np.timedelta64(0, "ns")
    has, medians = has[measured], medians[measured]
    off = medians != width
    if not off.any():
        return {}
    if off.all():
        found = sorted(set(medians.tolist()))
        shown = [duration_text(w) for w in found[:3]] + (["others"] if len(found) > 3 else [])
        at = (f"at {shown[0]}" if len(found) == 1 else
              f"whose keys' buckets are {', '.join(shown[:-1])} or {shown[-1]} wide")
        raise WorkloadDataError(f"{path} is a bucketed series {at}, not --freq {freq}; drop --freq (each key keeps "
                                "its own width) or pass the raw request log to re-bucket it.")
    return {keys[code]: WorkloadDataError(
        f"the key's buckets are {duration_text(median)} wide (the median step between its rows), not --freq {freq}; "
        "drop --freq to fit each key at its own width, or pass the raw request log to re-bucket every key at --freq.")
        for code, median in zip(has[off], medians[off])}


def _skipped(left_out: dict, errors: dict, keys: pd.Series) -> dict:
    """The keys a fleet command skipped, with why, in the order of TRACE (:func:`_in_file_order`; ``keys``: its key
    column): those ``left_out`` when TRACE was read (:func:`_read_fleet`), whose reason stands where the fit or
    backtest refused the same key too (a bucketed key of another width than --freq), and the others of ``errors``."""
    return _in_file_order({**left_out, **{key: error for key, error in errors.items() if key not in left_out}}, keys)


def _in_file_order(errors: dict, keys: pd.Series) -> dict:
    """``errors`` (``{key: error}``) in the order their keys first appear in ``keys`` (TRACE's key column, in the
    file's order): the order of the ``skipped`` lines, whichever step refused each key (reading, fitting,
    backtesting). The rows without a key (under ``None``) stand where the first of them is; a key not found there
    (none is, but a key the fleet spells otherwise) after the others, in the order given."""
    if len(errors) < 2:
        return errors
    codes, found = pd.factorize(keys, sort=False)  # the keys in order of first appearance; a missing key -1
    _, first = np.unique(codes, return_index=True)  # each code's first row, code -1 first where there is one
    places = dict(zip(found.tolist(), first[-len(found):].tolist())) if len(found) else {}
    if len(first) > len(found):
        places[None] = int(first[0])
    last = len(keys)
    return dict(sorted(errors.items(), key=lambda item: places.get(item[0], last)))


def _refuse_keys_written_alike(keys: pd.Series, by: str) -> None:
    """Refuse (exit 3) a key column (a JSON Lines log's: values of several types) that holds two keys the printed
    tables and --out CSV write alike (:func:`_key_number`): the number ``1`` and the text ``"1"``, ``2.5`` and
    ``"2.5"``, ``true`` and ``"True"``. They would be two keys that no one reading the output could tell apart."""
    if keys.dtype != object or pd.api.types.infer_dtype(keys, skipna=True) == "string":
        return
    seen: dict[str, Any] = {}
    for key in pd.unique(keys.dropna()):  # equal numbers (1 and 1.0) are one key, written alike as they should be
        text = str(_key_number(key))
        if text not in seen:
            seen[text] = key
            continue
        first, second = seen[text], key
        rows = [next(i for i, v in enumerate(keys.array) if type(v) is type(k) and v == k) + 1 for k in (first, second)]
        kinds = ["a boolean" if isinstance(k, (bool, np.bool_)) else "text" if isinstance(k, str) else "a number"
                 for k in (first, second)]
        raise WorkloadDataError(
            f"key column {quote(by)} holds {quote(first, 40)} ({kinds[0]}) at data row {rows[0]:,} and "
            f"{quote(second, 40)} ({kinds[1]}) at data row {rows[1]:,}, two keys that the tables and --out would "
            "write alike: write every key of the column as text (in JSON, a string in quotes).")


def _refuse_all_partial(path: str, freq: str, first: pd.Timestamp, last: pd.Timestamp, errors: dict,
                        opts: dict[str, Any]) -> None:
    """The error a single series' log gets (:class:`~workload_predictor.readers.AllPartialError`) for a fleet's grid
    from ``first`` to ``last`` (its buckets' starts) of fewer than 3 buckets, all partial; with the first key skipped
    before, if any (the keys left may span less than the file did)."""
    from .data import duration_text, parse_freq
    from .readers import AllPartialError

    width = parse_freq(freq)
    count = (last - first) // width + 1
    if count >= 3:
        return
    span = f"from {_stamp(first)} to {_stamp(last)}" if count > 1 else f"at {_stamp(first)}"
    skipped = [(key, error) for key, error in errors.items() if key is not None]
    before = (f" (after {plural(len(skipped), 'key')} skipped, the first, {quote(str(skipped[0][0]), 40)}: "
              f"{cut(_one_line(skipped[0][1]), KEY_REASON)})" if skipped else "")
    unit = opts["unit"] if opts["origin"] is None else None  # epochs read in the --unit given: a wrong one may be why
    raise AllPartialError(f"{path}: the log spans {plural(count, 'bucket')} of {duration_text(width)}, "
                          f"all partial (the first and the last are dropped), {span}{before}", freq, unit)


def _without_failing_keys(frame: pd.DataFrame, by: str, columns: list[str], doing: str) -> tuple[pd.DataFrame, dict]:
    """``frame`` (a request log, as read: its index the file's data rows from 0) less its rows without a key and the
    rows of each key whose value in ``columns`` is no token count, with why (``{key: error}``, the rows without a key
    under ``None``; rows are the file's data rows). The rows are checked at once;
    :func:`~workload_predictor.readers.check_numbers` words each key's error. The rows kept keep their index."""
    from .data import factorize_keys, keyless_error
    from .readers import check_numbers, coerced_numbers

    codes, keys = factorize_keys(frame[by], by, missing_ok=True)
    errors = keyless_error(codes, by, doing)
    suspect = codes < 0
    for name in columns:
        values = frame[name]
        if pd.api.types.is_bool_dtype(values.dtype):
            suspect[:] = True
            continue
        numbers = values if pd.api.types.is_numeric_dtype(values.dtype) else coerced_numbers(values)
        numbers = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        suspect |= ~((numbers >= 0) & (numbers <= MAX_VALUE))
    dropped = codes < 0
    for code in np.unique(codes[suspect & (codes >= 0)]):
        rows = np.flatnonzero(codes == code)
        try:
            check_numbers(frame.iloc[rows], columns)
        except WorkloadDataError as exc:
            errors[keys[code]] = _at_file_rows(exc, frame.index[rows])
            dropped[rows] = True
    return (frame[~dropped] if dropped.any() else frame), errors


def _at_file_rows(exc: WorkloadDataError, rows: pd.Index) -> WorkloadDataError:
    """``exc`` (raised on some rows of TRACE, its row a position among them) with that row as the file's data row
    (``rows``: those rows' positions in the file, from 0)."""
    message, found = _ROW.subn(lambda m: f"data row {int(rows[int(m.group(1))]) + 1}", _one_line(exc), count=1)
    return WorkloadDataError(f"{message} {ROWS_NOTE}" if found else message)


def _without_unreadable_stamps(frame: pd.DataFrame, by: str, column: str,
                               opts: dict[str, Any]) -> tuple[pd.DataFrame, dict]:
    """``frame`` (a request log whose rows all have a key; its index the file's data rows from 0) with its
    timestamps read (UTC datetimes, by --unit and --origin), less the keys whose timestamps cannot be read, with why
    (``{key: error}``). All the stamps are read at once; where that fails, halves of the keys are read, down to
    the keys that fail on their own (so a bad key costs about twice the log's reading). The kept rows' stamps are
    read together again: a fault of the whole column and no key's (naive stamps in one key, stamps with offsets in
    another) ends the run, as for one series, and so do stamps centuries apart, which would stretch the grid all
    keys share."""
    from .data import check_span, factorize_keys, to_utc_index

    def read(rows: np.ndarray) -> pd.DatetimeIndex:
        return to_utc_index(frame[column].iloc[rows], unit=opts["unit"], origin=opts["origin"], tz=opts.get("tz"),
                            name=column)

    try:
        stamps = read(np.arange(len(frame)))
    except WorkloadDataError:
        if len(frame) == 0:
            raise
        codes, keys = factorize_keys(frame[by], by)
        order = np.argsort(codes, kind="stable")  # each key's rows in file order, keys one after another
        starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(keys)))])
        errors, dropped, pending = {}, np.zeros(len(frame), dtype=bool), [(0, len(keys))]
        while pending:
            first, last = pending.pop()
            rows = order[starts[first]:starts[last]]
            try:
                read(rows)
            except WorkloadDataError as exc:
                if last - first == 1:
                    errors[keys[first]] = _at_file_rows(exc, frame.index[rows])
                    dropped[rows] = True
                else:
                    middle = (first + last) // 2
                    pending += [(middle, last), (first, middle)]
        if not errors:
            raise
        frame = frame[~dropped]
        errors = dict(sorted(errors.items(), key=lambda item: keys.get_loc(item[0])))
        if len(frame) == 0:
            return frame, errors
        stamps = read(np.arange(len(frame)))
    else:
        errors = {}
    check_span(stamps.min(), stamps.max(), column, opts["unit"])
    return frame.assign(**{column: pd.Series(stamps, index=frame.index)}).reset_index(drop=True), errors


def _fleet_targets(frame: pd.DataFrame, targets: tuple[str, ...], path: str) -> list[str]:
    chosen = list(dict.fromkeys(targets or ("requests",)))
    missing = [t for t in chosen if t not in frame.columns]
    if missing:
        raise WorkloadDataError(f"{Path(path).name} has no {', '.join(missing)}; for token targets pass a log with "
                                "token columns (see --input-col/--output-col).")
    return chosen


#: Characters of a skipped key's reason printed: the library's messages, whose user values are quoted cut short,
#: end with their fix (an irregular key's runs to about 220 characters).
KEY_REASON = 400
#: Characters of a key the printed tables and lines show (--out and --json write keys whole).
KEY_WIDTH = 40
#: A printed key's control characters as escapes: a line break would split its line in two, and an escape sequence
#: (ESC, CSI) would be run by the terminal (clear the screen, set the title); the line and paragraph separators
#: break a line in some terminals and editors.
_CONTROLS = {**{code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))},
             **{code: f"\\u{code:04x}" for code in (0x2028, 0x2029)},
             ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


#: Whole numbers a float holds exactly, each its own: a float key within them that is whole is written as an integer.
_EXACT_WHOLE = 2.0**53


def _key_number(key: Any) -> Any:
    """A fleet key as the command line writes it: a float key that is a whole number as the integer it equals
    (``2.0``: ``2``), every other key as it is. JSON has one kind of number, and pandas reads a JSON Lines log's
    tenant ``2`` as ``2.0`` beside a tenant ``1.5`` or a row without a tenant (a float64 column): it is written ``2``
    as the log spells it. Equal numbers are one key, so the output joins back to the input on its key column."""
    if isinstance(key, (float, np.floating)) and math.isfinite(key) and key == math.trunc(key) \
            and abs(key) < _EXACT_WHOLE:
        return int(key)
    return key


def _written_keys(keys: pd.Series) -> pd.Series:
    """:func:`_key_number` of every key of a fleet's key column (of a forecast table: one row per key, target and
    step), as an object column where a key changes, else ``keys`` itself."""
    if keys.dtype.kind == "f":
        values = keys.to_numpy()
        whole = np.isfinite(values) & (np.trunc(values) == values) & (np.abs(values) < _EXACT_WHOLE)
        if not whole.any():
            return keys
        written = values.astype(object)
        written[whole] = values[whole].astype(np.int64).astype(object)  # Python ints
        return pd.Series(written, index=keys.index, name=keys.name, dtype=object)
    if keys.dtype == object and "float" in pd.api.types.infer_dtype(keys, skipna=True):  # floats beside text
        return keys.map(_key_number).astype(object)
    return keys


def _key_text(key: Any) -> str:
    """A fleet key as printed: as the file spells it (a whole float key as the integer it equals,
    :func:`_key_number`), cut to :data:`KEY_WIDTH` characters; the rows a fit left out for want of a key (the fleet's
    error under the key ``None``) as such."""
    if key is None:
        return "rows without a key"
    text = str(_key_number(key))
    shown = text[:KEY_WIDTH].translate(_CONTROLS)  # cut before the escapes, none of which is cut in two
    return shown if len(text) <= KEY_WIDTH else shown + "..."


def _key_count(keys: Any) -> int:
    """The keys among ``keys`` (a fleet's ``errors_`` holds the rows without a key under ``None``, no key)."""
    return sum(key is not None for key in keys)


def _bucket_rows(errors: dict, frame: pd.DataFrame) -> dict:
    """A fleet's ``errors`` on the buckets of a request log (``frame``, bucketized from TRACE), each row they name
    written as its bucket (no row of the file is that row), in place; returns them."""
    for error in errors.values():
        if getattr(error, "rows", ()):
            renamed_rows(error, [f"the bucket of {_stamp(frame['timestamp'].iloc[row])}" for row in error.rows])
    return errors


def _echo_errors(errors: dict) -> None:
    for key, error in list(errors.items())[:5]:
        # In the CLI's words before it is cut: advice cut in half cannot be put in them. A fleet's rows are the
        # file's (it reads them in the file's order).
        _say(f"skipped {_key_text(key)}: {in_cli_words(cut(_cli_phrases(_one_line(error)), KEY_REASON))}")
    more = [_key_text(key) for key in list(errors)[5:25]]
    if more:
        listed = ", ".join(more) + (f" and {len(errors) - 25:,} more" if len(errors) > 25 else "")
        _say(f"skipped {plural(len(errors) - 5, 'more key')}: {listed}")


#: The share of a request log's shared grid a key's first request may lie after the grid's start before forecast --by
#: notes it: the buckets before it are zeros the key's model is fitted on, and a mean over the key's history (the
#: mean baseline; the level the models learn) is pulled down by that share; a tenth is the most it is left to pass.
LATE_KEY_SHARE = 0.1
#: Late keys noted by name; the rest are counted.
LATE_KEYS_NAMED = 5


def _echo_late_keys(frame: pd.DataFrame, by: str, freq: str, fitted: set) -> None:
    """A ``note`` per fitted key of a request log's buckets (``frame``: one grid for all keys, ``freq`` wide) whose
    first request lies at least :data:`LATE_KEY_SHARE` of the grid's span after its start: its buckets before it are
    zeros, which the fit reads as idle time, not as a key that did not exist yet."""
    from .data import duration_text, parse_freq

    stamps = frame["timestamp"]
    start = stamps.min()
    span = stamps.max() - start + parse_freq(freq)
    busy = frame[frame["requests"].to_numpy() > 0]
    firsts = busy.groupby(by, sort=False, dropna=True, observed=True)["timestamp"].min()
    late = [(key, first - start) for key, first in firsts.items()
            if key in fitted and first - start >= LATE_KEY_SHARE * span]
    for key, lead in late[:LATE_KEYS_NAMED]:
        _say(f"note    key {_key_text(key)}: first request {duration_text(lead)} after the grid starts "
             f"({lead / span:.0%} of its {duration_text(span)}); its buckets before it are zeros, fitted as idle "
             "time: if the key did not exist then, forecast it from a log of its own rows")
    if len(late) > LATE_KEYS_NAMED:
        _say(f"note    {plural(len(late) - LATE_KEYS_NAMED, 'more key')} start at least "
             f"{LATE_KEY_SHARE:.0%} of the grid late: "
             + ", ".join(_key_text(key) for key, _ in late[LATE_KEYS_NAMED:LATE_KEYS_NAMED + 20])
             + (" ..." if len(late) > LATE_KEYS_NAMED + 20 else ""))


def _no_key_left(errors: dict, by: str, doing: str) -> Failure:
    """The error (exit 3) for a fleet none of whose keys could be fitted (or backtested): the first key's reason
    (or, where no key was found, the rows without one), its rows the file's."""
    keyed = [(key, error) for key, error in errors.items() if key is not None]
    key, error = (keyed or list(errors.items()) or [(None, "TRACE holds no keys")])[0]
    if errors:
        first = f"the first, {quote(str(_key_number(key)), 40)}" if key is not None else "the rows without a key"
        first = f"{first}: {cut(_one_line(error), KEY_REASON)}"
    else:
        first = str(error)
    skipped = plural(_key_count(errors), "key")
    return Failure(in_cli_words(f"no key of --by {quote(by)} could be {doing} ({skipped} skipped; {first})"),
                   EXIT_DATA)


def _csv_quoting(keys: pd.Series) -> int:
    """How a fleet's forecast table is quoted in CSV: as pandas quotes (a field holding the separator, a quote or a
    line feed), unless a key holds a carriage return, which that leaves bare and every CSV reader takes for the end
    of a line; then every text field is quoted (``csv.QUOTE_NONNUMERIC``), so the key reads back whole."""
    import csv

    texts = [key for key in pd.unique(keys) if isinstance(key, str)]
    return csv.QUOTE_NONNUMERIC if any("\r" in key for key in texts) else csv.QUOTE_MINIMAL


def forecast_by(trace: str, by: str, freq: str | None, horizon: int, model: str, level: float,
                targets: tuple[str, ...], seed: int, out: str | None, jobs: int, opts: dict[str, Any]) -> None:
    """``forecast --by KEY``: one forecast per key of TRACE, printed as one long table (and written with --out)."""
    from .fleet import FleetPredictor, forecast_columns

    taken = forecast_columns(list(dict.fromkeys(targets)) or "requests")
    if by in taken[1:]:  # the forecast table's own columns would be written over the keys (timestamp: see below)
        raise click.BadParameter(f"{quote(by)} is the name of a column of the forecast table ({', '.join(taken)}): "
                                 "rename that column of TRACE (e.g. to endpoint) and pass --by endpoint.",
                                 param_hint="--by")
    frame, left_out, width, from_log, keys = _read_fleet(trace, freq, by, opts, targets)
    chosen = _fleet_targets(frame, targets, trace)
    fleet = FleetPredictor(model=model, horizon=horizon, level=level, random_state=seed, n_jobs=jobs)
    try:
        fleet.fit(frame, key=by, target=chosen, freq=width)
    except NoKeyFittedError as exc:
        raise _no_key_left(_skipped(left_out, _bucket_rows(exc.errors, frame) if from_log else exc.errors, keys), by,
                           "fitted") from None
    errors = _skipped(left_out, _bucket_rows(fleet.errors_, frame) if from_log else fleet.errors_, keys)
    if not fleet.keys_:
        raise _no_key_left(errors, by, "fitted")
    started = time.perf_counter()
    # A key whose buckets would pass 2262 is skipped, as a key the fit refused (every key refused: exit 3).
    result, refused = fleet._forecast(None, None)
    predict_ms = (time.perf_counter() - started) * 1e3
    errors = _in_file_order({**errors, **refused}, keys)
    skipped = _key_count(errors)
    forecast = len(fleet.keys_) - len(refused)
    _say(f"fleet   {Path(trace).name}: {plural(forecast + skipped, 'key')} by {quote(by)}, "
         f"{forecast:,} fitted, {skipped:,} skipped; model {model}: fit {fleet.fit_seconds_:.2f} s, "
         f"predict {predict_ms:.1f} ms")
    if from_log:
        _echo_late_keys(frame, by, width, set(fleet.keys_) - set(refused))
    confidence = fleet.confidence_
    if len(confidence):
        _say(f"level   {level:g} interval; confidence (1 - WAPE on validation) median {confidence.median():.2f}, "
             f"lowest {confidence.min():.2f} ({_key_text(confidence.idxmin())})")
    _echo_errors(errors)
    _say("")
    result = result.assign(**{by: _written_keys(result[by])})
    digits = _fraction_digits(result["timestamp"])
    # Timestamps as the single-series table prints them (UTC, marked Z); the keys as the file spells them (the float
    # format below would print 1.001 and 1.004 both as 1.00), cut short: --out writes them whole.
    shown = result.assign(timestamp=_stamps(result["timestamp"], digits), **{by: result[by].map(_key_text)})
    _say(shown.head(60).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if len(result) > 60:
        _say(f"... {plural(len(result) - 60, 'more row')}" + ("" if out else " (write them all with --out)"))
    if out:
        table = result.assign(timestamp=_iso_stamps(result["timestamp"], digits))
        if Path(out).suffix.lower() == ".json":  # the suffix chooses the format, as for one series
            _writing(out, "--out", lambda to: Path(to).write_text(json.dumps(_records(table), indent=2)))
        else:
            _writing(out, "--out", lambda to: table.to_csv(to, index=False, quoting=_csv_quoting(table[by])))
        _say(f"wrote   {out}")


def evaluate_by(trace: str, by: str, freq: str | None, horizon: int, models: list[str], baselines: list[str],
                level: float, targets: tuple[str, ...], test_size: float, stride: int, refit_every: int | None,
                seed: int, json_path: str | None, opts: dict[str, Any], max_epochs: int | None = None) -> None:
    """``evaluate --by KEY``: the backtest on every key's series, a per-key MAE table and a fleet summary."""
    from .backtest import run_backtest
    from .data import factorize_keys, keyless_error, split_by_key
    from .predictor import WorkloadPredictor

    if not models or not baselines:
        raise click.BadParameter("--by compares models with baselines: name at least one of each.",
                                 param_hint="--models")
    frame, left_out, width, from_log, keys = _read_fleet(trace, freq, by, opts, targets, doing="backtested")
    chosen = _fleet_targets(frame, targets, trace)
    # The rows without a key (of a bucketed file: a request log's are left out when read) are left out, as forecast
    # --by leaves them out, and the other keys backtested.
    series, errors, names = split_by_key(frame, key=by, target=chosen, freq=width, missing_ok=True)
    if None in errors:
        errors.update(keyless_error(factorize_keys(frame[by], by, missing_ok=True)[0], by, "backtested"))
    errors = _skipped(left_out, _bucket_rows(errors, frame) if from_log else errors, keys)
    epochs = {"max_epochs": max_epochs} if max_epochs is not None else {}
    rows = []
    for item in series:
        templates = [WorkloadPredictor(model=name, horizon=horizon, level=level, random_state=seed, verbose=False,
                                       model_params=registry.params_for(name, **epochs) or None) for name in models]
        try:
            result = run_backtest(item.to_bucketed(names), templates, baselines, horizon=horizon, level=level,
                                  test_size=test_size, stride=stride, refit_every=refit_every, random_state=seed,
                                  verbose=False)
        except WorkloadDataError as exc:
            errors[item.key] = exc
            continue
        mae = result.table.groupby("model", sort=False)["mae"].mean()  # mean over targets
        rows.append({by: item.key, **{name: float(mae[name]) for name in mae.index}})
    errors = _in_file_order(errors, keys)  # the keys the backtest refused among those refused before
    if not rows:
        raise _no_key_left(errors, by, "backtested")
    _echo_errors(errors)
    table = fleet_summary_table(pd.DataFrame(rows), by, models, baselines)
    table["per_key"][by] = _written_keys(table["per_key"][by])
    _say(f"fleet   {Path(trace).name}: {plural(len(rows), 'key')} backtested by {quote(by)} "
         f"({_key_count(errors):,} skipped), horizon {horizon}, MAE (mean over targets {', '.join(chosen)})")
    _say("")
    per_key = table["per_key"].assign(**{by: table["per_key"][by].map(_key_text)})  # keys as in forecast --by
    _say(per_key.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    _say("")
    _say(table["summary"].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if json_path:
        # Every digit, as evaluate --json writes its table (DataFrame.to_json keeps 10 decimals: 3e-11 became 0).
        records = {"per_key": _records(table["per_key"]), "summary": _records(table["summary"])}
        _writing(json_path, "--json", lambda to: Path(to).write_text(json.dumps(records, indent=2, default=str)))
        _say(f"wrote   {json_path}")


#: MAEs closer than this (a millionth of a request or token per bucket) compare as equal in the fleet summary.
MAE_ROUNDING = 1e-6


def fleet_summary_table(per_key: pd.DataFrame, by: str, models: list[str],
                        baselines: list[str]) -> dict[str, pd.DataFrame]:
    """The per-key MAE table and, per model and baseline, the fleet summary: the share of keys where the
    model's MAE is below the baseline's, and the median and worst (largest) ratio model MAE / baseline MAE (MAEs
    within ``MAE_ROUNDING`` of each other: a tie, ratio 1)."""
    summary = []
    for model in models:
        for baseline in baselines:
            if per_key.empty:
                continue
            # MAEs within float rounding of each other are a tie (ratio 1): on an idle key one model's MAE is exactly
            # 0 and another's 3e-17, which would read as an infinite ratio.
            tie = np.isclose(per_key[model], per_key[baseline], rtol=1e-9, atol=MAE_ROUNDING)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = per_key[model] / per_key[baseline]
            ratio = ratio.where(~tie, 1.0)
            summary.append({"model": model, "baseline": baseline, "keys": len(per_key),
                            "share_beats": float(((per_key[model] < per_key[baseline]) & ~tie).mean()),
                            "median_ratio": float(ratio.median()), "worst_ratio": float(ratio.max())})
    return {"per_key": per_key, "summary": pd.DataFrame(summary, columns=["model", "baseline", "keys", "share_beats",
                                                                        "median_ratio", "worst_ratio"])}


if __name__ == "__main__":  # pragma: no cover
    main()
