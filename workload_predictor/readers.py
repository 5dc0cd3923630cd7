"""Read a trace file (request log or bucketed series) into a bucketed frame, for the command line.

Formats, by extension (:data:`SUFFIXES`): CSV (``.csv``, ``.tsv``, ``.txt``), JSON Lines (``.jsonl``, ``.ndjson``),
JSON (``.json``), each also gzipped (``.csv.gz``, ...), and Parquet (``.parquet``; needs pyarrow: the ``parquet``
extra).
Messages give rows as positions counting from 0 (as ``DataFrame.iloc``); the command line shows them as data
rows counting from 1. A file with a ``requests`` column is taken as an
already-bucketed series; any other file is a request log (one row per request)
and goes through :func:`workload_predictor.bucketize`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .data import (MAX_VALUE, _sorted_unique_instants, _target_matrix, bucketize, check_span, column_key,
                   columns_by_key, duration_text, parse_freq, refuse_alike, to_numbers, to_utc_index, token_columns)
from .errors import WorkloadDataError, cut, plural, quote, quote_columns

# pandas 3 stops guessing dates with dtype=False (and deprecates convert_dates); pandas 2 needs both.
_NO_DATE_GUESSING = {} if int(pd.__version__.split(".")[0]) >= 3 else {"convert_dates": False}
#: Longest line (bytes) read from a CSV or JSON Lines file: a request log's rows are tens of bytes. A longer
#: line (a 100 MB field) is refused before pandas parses it; pass ``max_line_bytes`` to read one anyway.
MAX_LINE_BYTES = 1 << 20
#: The most buckets a bucketed series' missing buckets are zero-filled to (``read_trace(fill_missing=True)``), as
#: :func:`bucketize`'s ``max_buckets``: a gap of years between two rows of 1 s buckets is refused, not allocated.
MAX_FILLED_BUCKETS = 10_000_000
#: The file name endings read, by format: what :func:`read_table` accepts, and all it accepts.
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
JSON_SUFFIXES = (".json", ".json.gz")
PARQUET_SUFFIXES = (".parquet",)
SUFFIXES = CSV_SUFFIXES + JSON_LINES_SUFFIXES + JSON_SUFFIXES + PARQUET_SUFFIXES
# The byte-order marks UTF-16 text starts with (little- and big-endian): its every other byte is a NUL.
UTF16_MARKS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# The names pandas gives columns without a header (a trailing comma on the header line makes one).
_UNNAMED = re.compile(r"Unnamed: \d+")
# ``created``: OpenAI's responses (epoch seconds), whose token counts are nested under ``usage``.
TIMESTAMP_COLUMNS = ("timestamp", "time", "arrival_time", "arrival_time_ns", "arrived_at", "ts", "datetime", "date",
                     "created", "created_at")


@dataclass
class Trace:
    """What the command line works on."""

    series: pd.DataFrame  # timestamp, requests, [input_tokens, output_tokens]: every bucket present
    log: pd.DataFrame | None  # the raw request log (None for a bucketed input)
    kind: str  # "request log" or "bucketed series"
    timestamp_column: str
    path: Path
    note: str | None = None  # what the summary adds about how the file was read (a log that reads as buckets)
    # A bucketed series' rows sorted by time: each row's data row in the file (from 0); None where the file's rows
    # are in time order, or for a request log (whose series is buckets, no row of the file)
    rows: np.ndarray | None = None
    filled: int = 0  # a bucketed series' missing buckets zero-filled (fill_missing)
    # A bucketed series summed to a whole multiple of its width: its own width (its rows are then no file's rows),
    # and how many partial buckets of the wider width were dropped at its ends
    summed_from: pd.Timedelta | None = None
    partial_dropped: int = 0
    file_rows: int | None = None  # the rows of a bucketed file (its series may have more or fewer buckets)


def check_line_lengths(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES) -> None:
    """Raise :class:`WorkloadDataError` if a line of the (possibly gzipped) text file is over ``max_line_bytes``,
    or if the file holds a NUL byte (UTF-16 text, named as such, holds many).

    Reads the file once in blocks of ``max_line_bytes`` and looks for newlines and NUL
    bytes only (memchr speed: 0.1 s on a 166 MB CSV that pandas reads in 10 s). A line
    inside a block is shorter than the block; a longer one spans a block boundary, where
    its length is measured exactly. A NUL byte is refused because pandas' readers differ
    on it: pandas 2's C parser ends the field there and drops the rest of it without a
    word (``2024-01-01T00:00:10Z\\0junk`` reads as a valid timestamp), pandas 3 keeps it.
    """
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    since_newline, line = 0, 1  # bytes of the current line so far; its number
    with opener(path, "rb") as stream:
        while block := stream.read(max_line_bytes):
            nul = block.find(b"\0")
            if nul >= 0 and line == 1 and block.startswith(UTF16_MARKS):
                name = cut(path.name, 60)
                raise WorkloadDataError(
                    f"{path} is UTF-16 text (as Excel's 'Unicode Text' writes it); re-encode the file as UTF-8, "
                    f"e.g. iconv -f UTF-16 -t UTF-8 {name} > utf8-{name}."
                )
            if nul >= 0:
                at = line + block.count(b"\n", 0, nul)
                raise WorkloadDataError(
                    f"{path}: line {at:,} holds a NUL byte; a trace is text: "
                    "fix the file (a binary or truncated file?)."
                )
            first = block.find(b"\n")
            if since_newline + (len(block) if first < 0 else first) > max_line_bytes:
                raise WorkloadDataError(
                    f"{path}: line {line:,} is longer than {max_line_bytes:,} bytes, far longer than a row of a "
                    "trace; fix the file (an unclosed quote?) or pass a larger max_line_bytes."
                )
            if first < 0:
                since_newline += len(block)
                continue
            line += block.count(b"\n")
            since_newline = len(block) - block.rfind(b"\n") - 1


def _refuse_model_file(path: Path) -> None:
    """A model file passed where a trace goes (``forecast model.wp``, the arguments swapped) is named as what it is,
    not as a file of an unknown type or a text file holding a NUL byte."""
    from .persistence import MAGIC

    try:
        with open(path, "rb") as stream:
            head = stream.read(len(MAGIC))
    except OSError:
        return  # the reader below words it
    if head == MAGIC:
        raise WorkloadDataError(f"{path} is a model file (saved by save() or --model-file), not a trace: pass it as "
                                "--model-file FILE, and the request log or bucketed series as TRACE.")


def read_table(path: str | Path, max_line_bytes: int = MAX_LINE_BYTES,
               text_columns: Sequence[str] = ()) -> pd.DataFrame:
    """The file as a DataFrame, by extension; a WorkloadDataError saying why if it cannot be read.

    CSV and JSON Lines files whose lines are longer than ``max_line_bytes`` are refused
    before they are parsed (see :func:`check_line_lengths`). A CSV file's ``text_columns`` (a fleet's key column)
    hold the text the file holds, an empty cell missing: pandas would read tenants ``001`` and ``1`` as the number
    1 and a region ``NA`` as missing. A JSON file is refused where a column name, or a value of its
    ``text_columns``, holds half a character (:func:`check_lone_surrogates`).
    """
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        if path.exists():  # a pipe (``<(zcat log.csv.gz)``), a device
            raise WorkloadDataError(f"{path}: not a regular file (a pipe or a device?); write the trace to a file "
                                    "and pass that.")
        raise WorkloadDataError(f"{path}: no such file.")
    _refuse_model_file(path)
    try:
        if name.endswith(CSV_SUFFIXES + JSON_LINES_SUFFIXES):
            check_line_lengths(path, max_line_bytes)
        if name.endswith(CSV_SUFFIXES):
            # index_col=False: a trailing comma on every data line (one field more than the header names) would
            # otherwise make the first column the index and shift every column's name one to the right.
            sep = csv_delimiter(path)
            # pandas drops the values of a first data row longer than the header (index_col=False) with a
            # ParserWarning only (a longer row after it is a parse error): silently wrong counts. Checked here, not by
            # turning the warning into an error: warnings.catch_warnings changes the filters of every thread.
            longer = _longer_than_header(path, sep)
            if longer is not None:
                raise WorkloadDataError(longer)
            _refuse_names_twice(path, sep)
            frame = pd.read_csv(path, index_col=False, sep=sep)
            return _with_known_names(_without_empty_unnamed(_as_text(frame, path, sep, text_columns)))
        if name.endswith(JSON_LINES_SUFFIXES + JSON_SUFFIXES):
            lines = not name.endswith(JSON_SUFFIXES)
            try:
                # No date guessing: numeric timestamps stay numbers until the door reads them with --unit. utf-8-sig:
                # a byte-order mark (as some Windows tools write) is dropped, as the CSV reader drops it.
                check_lone_surrogates(path, lines, text_columns)  # in every file: its column names
                frame = pd.read_json(path, lines=lines, dtype=False, encoding="utf-8-sig", **_NO_DATE_GUESSING)
                return _with_known_names(_flattened(frame))
            except UnicodeEncodeError:  # a lone second half of a surrogate pair: named, with its fix
                check_lone_surrogates(path, lines, None)
                raise
            except (TypeError, ValueError, AttributeError) as exc:
                # A line that is JSON but no object ([1, 2], 5, "text", null) fails the rows' dict(); a line that is
                # no JSON at all is a parse error whose message says where (no need to read the file again).
                if lines and (not isinstance(exc, ValueError) or "dictionary update sequence" in str(exc)):
                    check_json_objects(path)  # names the first line that is no object
                raise
        if name.endswith(PARQUET_SUFFIXES):
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise ImportError(f"{path}: reading Parquet needs pyarrow: "
                                  "pip install 'workload-predictor[parquet]'.") from None
            frame = pd.read_parquet(path)
            if any(name is not None for name in frame.index.names):
                # A frame saved with its timestamps as the index (df.set_index("timestamp").to_parquet(...)) reads
                # back with that index: its named levels are columns here, as in a CSV of the same frame.
                frame = frame.reset_index()
            return _with_known_names(frame)
    except (WorkloadDataError, ImportError):
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        broken = ("is not gzip-compressed (or its header is damaged); if it is plain text, drop the .gz from its "
                  "name, else re-compress it" if isinstance(exc, gzip.BadGzipFile) else
                  "is a truncated gzip stream (the download or copy stopped early); re-download or re-compress it"
                  if isinstance(exc, EOFError) else
                  "is a corrupt gzip stream; re-download or re-compress it")
        raise WorkloadDataError(f"{path} {broken} ({cut(exc)}).") from None
    except UnicodeDecodeError:
        raise WorkloadDataError(_not_utf8(path)) from None
    except (TypeError, AttributeError) as exc:  # the JSON reader's error on rows of different shapes
        raise WorkloadDataError(f"{path}: cannot read it as {_format(name)} ({cut(exc)}); a trace holds "
                                "one JSON object per row.") from None
    except pd.errors.EmptyDataError:  # no header line: nothing but blanks (a gzip of nothing too)
        raise WorkloadDataError(f"{path}: the file is empty (no header line); a trace holds a header line naming "
                                "its columns, then one row per request or bucket.") from None
    except (ValueError, OSError) as exc:  # pandas' parse errors are ValueErrors
        raise WorkloadDataError(f"{path}: cannot read it as {_format(name)} ({cut(_in_lines(exc))}); "
                                f"{_FORMAT_FIX[_format(name)]}") from None
    raise WorkloadDataError(
        f"{path}: unknown file type; name it by its format: {', '.join(CSV_SUFFIXES)} (CSV), "
        f"{', '.join(JSON_LINES_SUFFIXES)} (JSON Lines), {', '.join(JSON_SUFFIXES)} (JSON) or "
        f"{', '.join(PARQUET_SUFFIXES)} (Parquet)."
    )


def _as_text(frame: pd.DataFrame, path: Path, sep: str, text_columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` (a CSV file read by pandas) with its ``text_columns`` (names as :func:`_with_known_names` strips
    them) read again as the file's text: only an empty cell is missing."""
    names = [n.strip() if isinstance(n, str) else n for n in frame.columns]
    positions = [i for i, n in enumerate(names) if n in text_columns and names.count(n) == 1]
    if not positions:
        return frame
    text = pd.read_csv(path, index_col=False, sep=sep, usecols=positions, dtype=str, keep_default_na=False,
                       na_values=[""])
    frame = frame.copy()
    for position in positions:
        frame.isetitem(position, text[frame.columns[position]].to_numpy(dtype=object))
    return frame


#: What a file of each format must hold, for the error of one that its reader could not parse.
_FORMAT_FIX = {
    "CSV": "a CSV trace holds a header line naming its columns, then one line per request or bucket.",
    "JSON Lines": "a JSON Lines trace holds one JSON object per line, e.g. {\"timestamp\": ..., \"requests\": 5}.",
    "JSON": "a JSON trace holds a list of row objects ([{\"timestamp\": ..., ...}, ...]) or an object of columns "
            "({\"timestamp\": [...], ...}).",
    "Parquet": "write the trace again as Parquet (DataFrame.to_parquet), or as CSV.",
}


def _format(name: str) -> str:
    """The format a file name (lower case) says: ``CSV`` for ``log.csv.gz`` (whose last suffix is ``gz``)."""
    for suffixes, label in ((CSV_SUFFIXES, "CSV"), (JSON_LINES_SUFFIXES, "JSON Lines"), (JSON_SUFFIXES, "JSON"),
                            (PARQUET_SUFFIXES, "Parquet")):
        if name.endswith(suffixes):
            return label
    return Path(name).suffix.lstrip(".")


# pandas' CSV parser names the line where an unclosed quote starts as a "row" counted from 0 over every line, the
# header's too: the file's line one more (a "row" in this package's messages is a position in the frame).
_PANDAS_ROW = re.compile(r"\bstarting at row (\d+)\b")


def _in_lines(exc: BaseException) -> str:
    """A pandas parse error's message with its "starting at row N" as the file's line (counted from 1)."""
    return _PANDAS_ROW.sub(lambda m: f"starting at line {int(m.group(1)) + 1:,}", str(exc))


#: Separators a CSV file's header line is read for, besides the comma: tab, semicolon (what spreadsheets write
#: where the comma is the decimal mark) and the vertical bar.
OTHER_DELIMITERS = ("\t", ";", "|")


def csv_delimiter(path: str | Path) -> str:
    """The field separator of the (possibly gzipped) CSV file: a comma, unless its first line holds none and
    holds one of :data:`OTHER_DELIMITERS` (the most frequent). The line is at most ``max_line_bytes`` long
    (:func:`check_line_lengths` checked it)."""
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        header = stream.readline().decode("utf-8", "replace")
    if "," in header:
        return ","
    counts = {delimiter: header.count(delimiter) for delimiter in OTHER_DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _longer_than_header(path: Path, sep: str) -> str | None:
    """The message for a CSV file whose first data row holds values past the header's fields (which pandas would
    drop): that line, its fields, the header's, and the likely fixes; ``None`` for a file without one. Reads the
    header and the first row that is not blank (each at most ``max_line_bytes``: :func:`check_line_lengths`). A field
    over the csv module's limit (128 KiB: a 100 KB column name) is left to pandas."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as stream:
        rows = csv.reader(stream, delimiter=sep)
        try:
            header = next(rows, [])
            first = next(((number, row) for number, row in enumerate(rows, start=2) if any(f.strip() for f in row)),
                         None)
        except csv.Error:
            return None
    if first is None or len(first[1]) <= len(header) or not any(f.strip() for f in first[1][len(header):]):
        return None
    where = f"line {first[0]:,} holds {len(first[1])} fields ({quote(sep.join(first[1]))})"
    return (f"{path}: {where}, more than the {len(header)} the header line names ({quote_columns(header)}); reading "
            "it would drop the values past them. Fix the file: a number written with a thousands separator "
            "(1,234), a separator inside an unquoted field, or a title or comment line above the header?")


def _refuse_names_twice(path: Path, sep: str) -> None:
    """A typed error for a CSV file whose header line names a column twice: pandas would read the second as
    ``NAME.1``, and the first alone would be the timestamps, a token count or the keys. Empty names (a trailing
    separator) are left to :func:`_without_empty_unnamed`; names that differ in their blanks (``requests`` and
    ``requests ``) are two columns (:func:`_with_known_names`). Reads the header line only (at most
    ``max_line_bytes``: :func:`check_line_lengths`); a field over the csv module's limit is left to pandas."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as stream:
        try:
            header = next(csv.reader(stream, delimiter=sep), [])
        except csv.Error:
            return
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name and name in seen:
            raise WorkloadDataError(
                f"{path}: the header line names column {quote(name)} twice (fields {seen[name]} and {position}); "
                "a trace names each column once: rename or drop one of them.")
        seen.setdefault(name, position)


#: A bucketed series' columns, by their names in this package: ``requests`` tells a bucketed series.
KNOWN_COLUMNS = ("requests", "input_tokens", "output_tokens")


def _flattened(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each column of JSON objects (``{"usage": {"prompt_tokens": 10}}``) spread into one column
    per key, named ``usage.prompt_tokens`` (nested objects alike); a column is one of objects if any of its values
    is one (``"n/a"`` or null in another row has no value under any key: a missing count, refused at its row)."""
    nested = [name for name in frame.columns if _holds_objects(frame[name])]
    if not nested:
        return frame
    parts = [frame.drop(columns=nested)]
    for name in nested:
        values = [value if isinstance(value, dict) else {} for value in frame[name]]
        parts.append(pd.json_normalize(values, sep=".").add_prefix(f"{name}.").set_axis(frame.index))
    return pd.concat(parts, axis=1)


def _holds_objects(column: pd.Series) -> bool:
    # pandas' type inference (a C pass) rules out a column of strings or numbers only; a mixed one is looked through.
    return (column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in ("mixed", "mixed-integer")
            and any(isinstance(value, dict) for value in column.array))


def _with_known_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column names stripped of surrounding blanks (``" timestamp "`` from a header written
    ``timestamp , requests``), and a column named ``requests`` in another case or spelling (``Requests``;
    :func:`~workload_predictor.data.column_key`) renamed to it: the file is then a bucketed series, whose
    token columns are renamed alike (``Input Tokens``). Read as a request log, a ``Requests`` column would
    count one request per row. Names that would collide stay as they are; a request log's token columns keep
    their names (``--input-col`` names them; :func:`~workload_predictor.data.token_columns` finds them)."""
    names = [name.strip() if isinstance(name, str) else name for name in frame.columns]
    if len(set(names)) < len(names):
        names = list(frame.columns)
    for known in KNOWN_COLUMNS:
        matches = [i for i, name in enumerate(names) if column_key(name) == column_key(known)]
        if known not in names and len(matches) == 1 and (known == "requests" or "requests" in names):
            names[matches[0]] = known
    return frame if names == list(frame.columns) else frame.set_axis(names, axis=1)


def _without_empty_unnamed(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` less the empty columns without a header name (``Unnamed: 2``, from a trailing comma on every
    line, the header's too)."""
    empty = [c for c in frame.columns if isinstance(c, str) and _UNNAMED.fullmatch(c) and frame[c].isna().all()]
    return frame.drop(columns=empty) if empty else frame


def _not_utf8(path: Path) -> str:
    """The message for a file that is not UTF-8: where its first byte that is no UTF-8 is, and the fix.

    pandas' own message gives a position inside one of its read buffers, not in the file;
    this reads the (decompressed) file again, in blocks, to find the offset and the line.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    offset, line = 0, 1  # bytes decoded before the block; the line the block starts on
    with opener(path, "rb") as stream:
        while True:
            block = stream.read(1 << 20)
            pending = decoder.getstate()[0]  # the start of a character cut by the last block's end
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                text = pending + block
                at = offset - len(pending) + exc.start
                line += text.count(b"\n", 0, exc.start)
                byte = f"0x{text[exc.start]:02X}" if exc.start < len(text) else "a cut-off character"
                where = f"line {line:,} (byte offset {at:,}{' of the decompressed text' if opener is gzip.open else ''})"
                name = cut(path.name, 60)
                return (f"{path}: {where} holds {byte}, which is not UTF-8; re-encode the file as UTF-8, e.g. from "
                        f"Latin-1: iconv -f LATIN1 -t UTF-8 {name} > utf8-{name}.")
            if not block:
                break
            offset += len(block)
            line += block.count(b"\n")
    return f"{path}: the file is not UTF-8; re-encode it as UTF-8."


def check_json_objects(path: str | Path) -> None:
    """Raise :class:`WorkloadDataError` naming the first line of the (possibly gzipped) JSON Lines file that is
    valid JSON but no object (``[1, 2]``, ``5``, ``null``): a request log has one object per line.

    Lines that are not JSON at all are left to the reader, whose message names the parse error.
    """
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if not isinstance(value, dict):
                raise WorkloadDataError(
                    f"{path}: line {number:,} is {quote(line.strip().decode('utf-8', 'replace'))}, not a JSON "
                    "object; each line of a JSON Lines trace must be one object, e.g. "
                    '{"timestamp": "2024-05-10T00:00:00Z", "input_tokens": 10}: fix or drop that line.'
                )


#: A JSON string escape of a UTF-16 surrogate (``\\ud800`` .. ``\\udfff``, in any case): only a file holding one is
#: parsed again (a regular expression scans 1 MB in about a millisecond).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a UTF-16 surrogate that is no half of a pair (``json.loads`` joins a pair into one
    character): half a character, which UTF-8 cannot write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_lone_surrogates(path: str | Path, lines: bool, columns: Sequence[str] | None,
                          block_bytes: int = 1 << 20) -> None:
    """Raise :class:`WorkloadDataError` naming the first column name of the (possibly gzipped) JSON or JSON Lines
    file, or value of its ``columns`` (a fleet's key column; ``None``: any column), that holds a lone UTF-16
    surrogate escape (``"\\ud800x"``): pandas' JSON reader drops a first half (the key ``"\\ud800x"`` would be
    read as, and merged with, the key ``"x"``; the column ``"tenant\\ud800"`` as ``"tenant"``, beside or in place of
    another) and fails on a second half.

    Reads the file once in blocks, looking for a surrogate escape only; only a file holding one is parsed again
    with :mod:`json`, which keeps a lone surrogate (a JSON Lines file: only the lines holding one). A value under a
    column's name in an object nested in another (``{"meta": {"tenant": ...}}``, read as ``meta.tenant``) counts
    under its dotted name; a name at any depth is a column's (or part of one).
    """
    path = Path(path)
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    wanted = None if columns is None else {name.strip() if isinstance(name, str) else name for name in columns}
    with opener(path, "rb") as stream:
        tail = b""
        while block := stream.read(block_bytes):
            if _SURROGATE_ESCAPE.search(tail + block):
                break
            tail = block[-3:]  # an escape cut by the block's end (its first 4 bytes tell it)
        else:
            return
    with opener(path, "rb") as stream:
        rows = enumerate(stream, start=1) if lines else [(None, stream.read())]
        for number, raw in rows:
            if not _SURROGATE_ESCAPE.search(raw):
                continue
            try:
                document = json.loads(raw.decode("utf-8-sig"))
            except ValueError:
                continue  # no JSON: the reader words it
            found = _surrogate_value(document, "", wanted, wanted is None)
            if found is None:
                continue
            what, name, value = found
            where = f"line {number:,}" if number is not None else "it"
            lone = next(ord(c) for c in value if 0xD800 <= ord(c) <= 0xDFFF)
            if what == "column name":
                read = "".join(c for c in value if not 0xD800 <= ord(c) <= 0xDFFF)
                then = ("fails on it" if lone >= 0xDC00 else
                        f"drops it, and the column would be read as {quote(read, 40)}, beside or in place of another")
                found_text = f"column name {quote(value, 40)}"
            else:
                then = ("fails on it" if lone >= 0xDC00 else "drops it" if wanted is None else
                        "drops it, and the key would merge with another")
                found_text = f"{what} {quote(value, 40)} in column {quote(name)}"
            raise WorkloadDataError(
                f"{path}: {where} holds {found_text}, whose escape \\u{lone:04x} is half of a UTF-16 surrogate pair, "
                f"no character: pandas' JSON reader {then}. "
                "Fix the file: write the character whole (both halves of the pair, e.g. \\ud83d\\ude00, or the "
                "character itself) or drop the escape.")


def _surrogate_value(value: Any, name: str, wanted: set | None, under: bool) -> tuple[str, str, str] | None:
    """The first name of an object (at any depth: a column's, or part of a nested column's) or string under one of
    the ``wanted`` names (dotted, as :func:`_flattened` names nested objects; at any depth below: a JSON file's
    columns hold objects of rows; ``under``: ``value`` is below one already) in the parsed JSON ``value`` that holds
    a lone surrogate: ``("column name", name, name)`` or ``("key" or "value", its column's name, the string)``
    ("value" where ``wanted`` is ``None``, any column's); ``None`` if none does."""
    stack = [(value, name, under)]
    while stack:
        value, name, under = stack.pop()
        if isinstance(value, str):
            if under and _lone_surrogate(value):
                return ("value" if wanted is None else "key"), name, value
        elif isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and _lone_surrogate(key):
                    return "column name", key, key
            for key, item in reversed(list(value.items())):
                dotted = f"{name}.{key}" if name and not under else key
                stack.append((item, name if under and name else dotted,
                              under or (wanted is not None and dotted.strip() in wanted)))
        elif isinstance(value, list):
            stack.extend((item, name, under) for item in reversed(value))
    return None


def find_timestamp_column(frame: pd.DataFrame, given: str | None) -> str:
    """The timestamp column of ``frame``: ``given`` (--timestamp-col), else the first of :data:`TIMESTAMP_COLUMNS`
    the frame has, in any case or spelling of its separators (:func:`~workload_predictor.data.column_key`). Two
    columns that are both that name (``TIMESTAMP`` and ``timestamp``) are refused: which one holds the arrivals is
    the user's to say, with --timestamp-col."""
    if given is not None:
        if given not in frame.columns:
            raise WorkloadDataError(
                f"no timestamp column {quote(given)} (columns: {quote_columns(frame.columns)}); fix --timestamp-col."
            )
        return given
    loose = columns_by_key(frame.columns)
    for candidate in TIMESTAMP_COLUMNS:
        if column_key(candidate) in loose:
            refuse_alike([name for name in frame.columns if column_key(name) == column_key(candidate)],
                         "the timestamp", "the times with --timestamp-col")
            return loose[column_key(candidate)]
    raise WorkloadDataError(
        f"no timestamp column found (columns: {quote_columns(frame.columns)}); name it with --timestamp-col."
    )


# An epoch written as text: '1715342400', '1715342400.5' (as the door's own check reads one).
_EPOCH_TEXT = re.compile(r"\s*[-+]?\d+(\.\d*)?\s*")
_INTEGER_TEXT = re.compile(r"\s*[-+]?\d+\s*")


def epochs_as_numbers(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``frame`` with its timestamp ``column`` of epochs written as text (JSON Lines' ``"1715342400"``, which a CSV
    file's reader reads as the number) as those numbers, read with --unit as numeric timestamps are; a column
    that holds anything else (ISO stamps, a mix) as it is, for the door to read or word."""
    values = frame[column]
    if values.dtype != object and not pd.api.types.is_string_dtype(values.dtype):
        return frame
    first = values.first_valid_index()
    if first is None or not isinstance(values.loc[first], str) or not _EPOCH_TEXT.fullmatch(values.loc[first]):
        return frame
    numbers = to_numbers(values)
    if (numbers.isna() != values.isna()).any():
        return frame
    if np.abs(numbers).max() >= 2.0**63:  # no epoch in any unit: read as pandas 3's CSV reader reads the integers
        # past 64 bits, as Python ints (pandas 2.2 keeps them as text), which the door names as such
        whole = [int(v) if isinstance(v, str) and _INTEGER_TEXT.fullmatch(v) else n for v, n in zip(values, numbers)]
        return frame.assign(**{column: pd.Series(whole, index=values.index, dtype=object)})
    return frame.assign(**{column: numbers})


class FreqRequiredError(WorkloadDataError):
    """A request log was given without the bucket width that turns it into a series."""


class AllPartialError(WorkloadDataError):
    """A request log spanning fewer than 3 buckets of its width: all partial, so none is left once the first and the
    last are dropped. ``found`` says so without the advice (a caller whose width is fixed gives its own)."""

    def __init__(self, found: str, freq: Any, unit: str | None = None):
        other_unit = f"; or, if its numbers do not count {unit}, the --unit they count" if unit else ""
        super().__init__(f"{found}; pass a smaller --freq than {freq}, or --keep-partial{other_unit}.")
        self.found, self.freq, self.unit = found, freq, unit

    def __reduce__(self):  # pickled with what its __init__ takes (a worker process or Dask raises it in the parent)
        return type(self), (self.found, self.freq, self.unit), self.__dict__


def read_trace(
    path: str | Path,
    freq: Any = None,
    timestamp_column: str | None = None,
    unit: str | None = None,
    origin: Any = None,
    input_column: str | None = None,
    output_column: str | None = None,
    keep_partial: bool = False,
    targets: Sequence[str] | None = None,
    tz: Any = None,
    fill_missing: bool = False,
    max_buckets: int = MAX_FILLED_BUCKETS,
) -> Trace:
    """Read ``path`` and return every bucket of the series.

    A request log is bucketized at ``freq`` (required); its first and last buckets
    are partial (the trace starts and ends inside them) and are dropped unless
    ``keep_partial``; of its token columns, those ``targets`` names (default: every one
    it has) are summed per bucket, and must hold counts, checked in the file's row order.
    A bucketed series is read at its own width (the lower middle of its sorted steps); ``freq``, if
    given, must match it or be a whole multiple of it, to which its buckets are summed (each wider bucket
    starts a whole number of ``freq`` after the Unix epoch, as :func:`bucketize`'s; one at either end that
    the file covers only in part is dropped unless ``keep_partial``). With ``fill_missing`` its missing
    buckets (steps that are a whole number of buckets) are added as zeros, at most ``max_buckets``
    buckets in all (checked before any is made). Its columns ``targets`` (default: every one of
    ``requests``, ``input_tokens`` and ``output_tokens`` it has) must hold counts, checked in the file's row order; its
    other columns are read as they are. ``tz``: the zone of timestamps without a UTC offset
    (:func:`~workload_predictor.data.to_utc_index`).
    """
    frame = read_table(path)
    if len(frame) == 0:
        raise WorkloadDataError(f"{path}: the file holds no rows.")
    column = find_timestamp_column(frame, timestamp_column)
    frame = epochs_as_numbers(frame, column)
    if "requests" in frame.columns:
        stamps = to_utc_index(frame[column], unit=unit, origin=origin, tz=tz, name=column)
        check_span(stamps.min(), stamps.max(), column, unit)
        series = pd.DataFrame({"timestamp": stamps})
        names = [name for name in ("requests", "input_tokens", "output_tokens") if name in frame.columns]
        # In the file's order, so that a message's row is the file's.
        checked = names if targets is None else [name for name in names if name in targets]
        check_numbers(frame, checked)
        for name in names:  # the checked columns as the numbers they hold (a file's 1e26 is read as text)
            series[name] = (pd.to_numeric(frame[name]) if name in checked else frame[name]).to_numpy()
        # Sorted by time; a timestamp repeated is refused here, naming the file's rows (a fit of the sorted series
        # would name its own).
        _, _, rows = _sorted_unique_instants(np.asarray(stamps.array, dtype="datetime64[ns]"),
                                             np.empty((len(stamps), 0)))
        if rows is not None:
            series = series.iloc[rows].reset_index(drop=True)
        # Its width is measured (a sort of its steps) only where a --freq or a fill needs it.
        width = file_width(series["timestamp"].diff()) if freq is not None or fill_missing else None
        if freq is not None:
            check_bucket_width(series["timestamp"].diff(), freq, path, multiple=True)
        filled, summed_from, dropped = 0, None, 0
        if freq is not None and width is not None and parse_freq(freq) != width:
            # The columns no target needs are summed where they hold counts only, else left out (as unread).
            summable = [name for name in names if name in checked or _counts_only(series[name])]
            series = series[["timestamp", *summable]].assign(
                **{name: coerced_numbers(series[name]) for name in summable if name not in checked})
            series, dropped, filled = _summed(series, parse_freq(freq), width, keep_partial, path, summable,
                                              fill_missing, max_buckets)
            summed_from, rows = width, None
        elif fill_missing and width is not None:
            series, rows, filled = _zero_filled(series, rows, width, path, max_buckets)
        return Trace(series=series, log=None, kind="bucketed series", timestamp_column=column, path=Path(path),
                     rows=rows, note=_low_last_bucket(series) if "requests" in checked else None, filled=filled,
                     summed_from=summed_from, partial_dropped=dropped, file_rows=len(frame))
    if freq is None:
        raise FreqRequiredError(f"{path} is a request log (one row per request): pass freq, e.g. freq='10s'.")
    sums = token_columns(frame.columns, input_column, output_column)
    if targets is not None:  # a token column no target needs is neither summed nor checked
        sums = {name: source for name, source in sums.items() if name in targets}
    # In the file's order, and in its column's name, so that a message's row and column are the file's.
    check_numbers(frame, list(sums.values()))
    # A column of numbers written as text (JSON Lines' "12") is read as the numbers check_numbers found it holds,
    # as a bucketed series' columns are: bucketize sums numeric columns only.
    text = {source: pd.to_numeric(frame[source]) for source in dict.fromkeys(sums.values())
            if not pd.api.types.is_numeric_dtype(frame[source].dtype)}
    if text:
        frame = frame.assign(**text)
    head_dropped = False
    try:
        series = bucketize(frame, timestamp=column, freq=freq, unit=unit, origin=origin, sums=sums, tz=tz)
    except WorkloadDataError:
        later = _after_a_first_bucket_before_the_range(frame[column], freq, unit, origin, tz)
        if later is None:
            raise
        if keep_partial:
            raise WorkloadDataError(
                f"{path}: the log's first bucket of {duration_text(parse_freq(freq))} starts before 1677-09-21 "
                "00:12:43.145224193 UTC, the first instant of nanosecond timestamps, and --keep-partial keeps it: drop "
                "--keep-partial (that partial bucket is then dropped), or the log's rows in it.") from None
        # The log's first bucket, partial, starts before 1677-09-21 00:12:43.145 and would be dropped: its later
        # rows are bucketed alone (the same epoch grid), their first bucket the log's second.
        series = bucketize(frame[later], timestamp=column, freq=freq, unit=unit, origin=origin, sums=sums, tz=tz)
        head_dropped = True
    if not keep_partial:
        if len(series) + head_dropped < 3:
            stamps = series["timestamp"]
            span = (f"from {_utc_text(stamps.iloc[0])} to {_utc_text(stamps.iloc[-1])}" if len(series) > 1 else
                    f"at {_utc_text(stamps.iloc[0])}")
            raise AllPartialError(f"{path}: the log spans {plural(len(series) + head_dropped, 'bucket')} of "
                                  f"{duration_text(parse_freq(freq))}, all partial (the first and the last are "
                                  f"dropped), {span}", freq, _epoch_unit(frame[column], unit, origin))
        series = series.iloc[0 if head_dropped else 1:-1].reset_index(drop=True)
    note = None
    if _reads_as_buckets(frame[column], series, freq, unit, origin, tz):
        note = (f"every row of {Path(path).name} starts a bucket of {freq}, one row a bucket: a bucketed series? "
                "Without a `requests` column it is read as a request log, each row one request; name its count "
                f"column `requests` (its columns: {quote_columns(frame.columns)}).")
    return Trace(series=series, log=frame, kind="request log", timestamp_column=column, path=Path(path), note=note)


def _after_a_first_bucket_before_the_range(stamps: pd.Series, freq: Any, unit: str | None, origin: Any,
                                           tz: Any = None) -> np.ndarray | None:
    """Where a request log's first bucket of ``freq`` (on :func:`bucketize`'s epoch grid) starts before the first
    instant nanoseconds hold (1677-09-21 00:12:43.145224193 UTC) though every timestamp lies after it: which rows
    lie after that bucket (at least one); None otherwise (the error was another)."""
    from .data import NS_EPOCH, epoch_ns

    width = parse_freq(freq)
    instants = to_utc_index(stamps, unit=unit, origin=origin, tz=tz)
    low = epoch_ns(pd.Timestamp.min)
    step = int(width // pd.Timedelta(1, "ns"))
    start = -(-low // step) * step  # the first bucket start within the range, as nanoseconds after the epoch
    boundary = pd.Timestamp(NS_EPOCH + np.timedelta64(start, "ns"), tz="UTC")
    first = instants.min()
    if not first < boundary:  # its bucket starts at boundary or later: within the range
        return None
    later = np.asarray(instants >= boundary)
    return later if later.any() else None


def _low_last_bucket(series: pd.DataFrame) -> str | None:
    """The note of a bucketed series (sorted by time) whose last bucket counts fewer requests than every bucket
    before it, as an exporter's bucket still filling does (the Azure per-minute series end with 7 requests after
    200 or more a minute): the file is read whole, so the forecast follows that count; None otherwise."""
    counts = series["requests"].to_numpy(float)
    if len(counts) < 2 or not counts[-1] < counts[:-1].min():
        return None
    last = series["timestamp"].iloc[-1]
    return (f"the last bucket ({_utc_text(last)}, {counts[-1]:g} requests) counts fewer than any before it (at least "
            f"{counts[:-1].min():g}): one still filling? A bucketed file is read whole, so the forecast follows it; "
            "leave out a bucket whose period had not ended.")


def _utc_text(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%d %H:%M:%S") + "Z"


def _epoch_unit(stamps: pd.Series, unit: str | None, origin: Any) -> str | None:
    """The --unit a column of numeric epochs was read in where the user gave it (a wrong one reads a log of hours as
    seconds of 1970); ``None`` for a unit the numbers' magnitude implied, datetimes, text, and offsets from ``origin``
    (whose span is the user's own)."""
    if unit is None or origin is not None or not pd.api.types.is_numeric_dtype(stamps.dtype):
        return None
    return unit


def _reads_as_buckets(stamps: pd.Series, series: pd.DataFrame, freq: Any, unit: str | None, origin: Any,
                      tz: Any = None) -> bool:
    """Whether a request log of at least 10 rows holds one row per bucket, each at a bucket's start: a bucketed
    series whose count column is named otherwise (``request``, ``count``), whose forecast would be of one request a
    bucket. The timestamps are read again only where no bucket holds two requests."""
    if len(stamps) < 10 or len(series) == 0 or series["requests"].max() > 1:
        return False
    instants = to_utc_index(stamps, unit=unit, origin=origin, tz=tz)
    return bool(((instants - series["timestamp"].iloc[0]) % parse_freq(freq) == pd.Timedelta(0)).all())


def check_numbers(frame: pd.DataFrame, names: list[str]) -> None:
    """Raise :class:`WorkloadDataError` for the first value of the columns ``names`` that is no count: a string
    (quoted, with its row and how many there are), a missing, negative or absurdly large value.

    A column of text that holds numbers only (an integer wider than int64 makes a CSV
    column text) is checked as the numbers it holds.
    """
    numbers = {}
    for name in names:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
            converted = coerced_numbers(column)
            bad = np.flatnonzero(converted.isna().to_numpy() & column.notna().to_numpy())
            if len(bad):
                row = int(bad[0])
                raise WorkloadDataError(
                    f"column {quote(name)} holds {quote(column.iloc[row])} at row {row}, not a number "
                    f"({plural(len(bad), 'such value')}); fix the file so that it holds numbers only."
                )
            if not pd.api.types.is_bool_dtype(column.dtype):  # booleans are refused by dtype below
                column = converted
        numbers[name] = column
    if numbers:
        _target_matrix(pd.DataFrame(numbers), names)


def coerced_numbers(column: pd.Series) -> pd.Series:
    """:func:`~workload_predictor.data.to_numbers` (``pd.to_numeric(column, errors="coerce")``, text past float's
    range as ``inf``); a column holding an integer past float's range (a CSV's corrupt 400-digit count, which
    pandas 3 reads as a Python int and cannot coerce, pandas 2.2 as text) has it as ``inf``, which the count check
    then refuses."""
    try:
        return to_numbers(column)
    except OverflowError:
        return to_numbers(column.map(lambda v: str(v) if isinstance(v, int) else v))


def file_width(steps: pd.Series) -> pd.Timedelta | None:
    """The width of a bucketed series whose sorted bucket starts step by ``steps``: the lower of the two middle
    steps (a step the series has, as for a fleet's keys); None for a series of one row."""
    steps = np.sort(steps.dropna().to_numpy())
    return pd.Timedelta(steps[(len(steps) - 1) // 2]) if len(steps) else None


def check_bucket_width(steps: pd.Series, freq: Any, path: Any, multiple: bool = False) -> None:
    """Raise :class:`WorkloadDataError` if the width of a bucketed series (:func:`file_width` of ``steps``) is not
    ``freq``: a bucketed series keeps its own width, which a --freq the user gives must match; with ``multiple``, a
    --freq that is a whole multiple of it (its buckets are then summed) is accepted too."""
    width, median = parse_freq(freq), file_width(steps)
    if median is None or median == width or (multiple and width % median == pd.Timedelta(0)):
        return
    fix = (f"drop --freq, pass a whole multiple of {duration_text(median)} (its buckets are then summed) or "
           if multiple else "drop --freq or ")
    raise WorkloadDataError(
        f"{path} is a bucketed series at {duration_text(median)}, not --freq {freq}; {fix}"
        "pass the raw request log to re-bucket it."
    )


def _zero_filled(series: pd.DataFrame, rows: np.ndarray | None, width: pd.Timedelta, path: Any,
                 max_buckets: int) -> tuple[pd.DataFrame, np.ndarray | None, int]:
    """``series`` (sorted, one row per bucket of ``width``) with a row of zeros for each bucket missing between its
    rows; ``rows``, the file's row of each series row, with -1 for each added one; and how many were added. A step
    that is no whole number of buckets is refused, and so are more than ``max_buckets`` buckets in all, before any
    is made."""
    stamps = series["timestamp"]
    steps = stamps.diff().iloc[1:]
    off = np.flatnonzero((steps % width != pd.Timedelta(0)).to_numpy())
    if len(off):
        at = int(off[0])
        raise WorkloadDataError(
            f"{path}: --fill-missing adds whole buckets of {duration_text(width)} (its width), and "
            f"{_utc_text(stamps.iloc[at])} -> {_utc_text(stamps.iloc[at + 1])} is {duration_text(steps.iloc[at])} "
            f"({plural(len(off), 'such step')}), no whole number of them: fix those rows of the file.")
    count = (stamps.iloc[-1] - stamps.iloc[0]) // width + 1  # Timedelta // Timedelta: a Python int
    if count > max_buckets:
        raise WorkloadDataError(
            f"{path}: filling its missing buckets would make {count:,} buckets of {duration_text(width)} (it spans "
            f"{duration_text(stamps.iloc[-1] - stamps.iloc[0])} from {_utc_text(stamps.iloc[0])}), over the limit of "
            f"{max_buckets:,} buckets. Check for stray timestamps, or sum its buckets to a wider --freq (a whole "
            "multiple of its width).")
    if count == len(series):
        return series, rows, 0
    places = np.asarray((stamps - stamps.iloc[0]) // width, dtype=np.int64)
    out = {"timestamp": pd.date_range(start=stamps.iloc[0], periods=count, freq=width).as_unit("ns")}
    for name in series.columns.drop("timestamp"):
        values = series[name].to_numpy()
        column = np.zeros(count, dtype=values.dtype if values.dtype.kind in "iuf" else object)
        column[places] = values
        out[name] = column
    filled_rows = np.full(count, -1, dtype=np.int64)
    filled_rows[places] = np.arange(len(series)) if rows is None else rows
    return pd.DataFrame(out), filled_rows, int(count - len(series))


def _counts_only(column: pd.Series) -> bool:
    """Whether ``column`` holds numbers in ``[0, MAX_VALUE]`` only (what :func:`bucketize` sums without refusing)."""
    values = coerced_numbers(column).to_numpy(float)
    return bool(((values >= 0) & (values <= MAX_VALUE)).all())


def _summed(series: pd.DataFrame, freq: pd.Timedelta, width: pd.Timedelta, keep_partial: bool, path: Any,
            names: Sequence[str], fill_missing: bool, max_buckets: int) -> tuple[pd.DataFrame, int, int]:
    """``series`` (sorted, one row per bucket of ``width``) summed into buckets of ``freq``, a whole multiple of
    ``width``, on :func:`bucketize`'s grid (a whole number of ``freq`` after the Unix epoch); the first and the last
    of them, where the series starts after its start or ends before its end (partial), dropped unless
    ``keep_partial``; how many were dropped; and how many buckets of ``width`` were missing between its rows, each
    summed as zero. Missing buckets are refused unless ``fill_missing``, and so are steps that are no whole number of
    buckets and buckets off the wider grid (one would straddle two of ``freq``). At most ``max_buckets`` buckets of
    ``freq`` are made (:func:`bucketize`'s bound), however long the gaps."""
    stamps = series["timestamp"]
    steps = stamps.diff().iloc[1:]
    wrong = (steps % width != pd.Timedelta(0)) if fill_missing else (steps != width)
    if wrong.any():
        at = int(np.flatnonzero(wrong.to_numpy())[0])
        fix = ("a bucketed file's steps are whole buckets: fix the file" if fill_missing else
               "pass --fill-missing where the file leaves out its empty buckets (they are then zeros)")
        raise WorkloadDataError(
            f"{path}: summing its {duration_text(width)} buckets into --freq {duration_text(freq)} needs every bucket, "
            f"and {_utc_text(stamps.iloc[at])} -> {_utc_text(stamps.iloc[at + 1])} is {duration_text(steps.iloc[at])}; "
            f"{fix}, or drop --freq.")
    if (stamps.iloc[0] - pd.Timestamp(0, tz="UTC")) % width != pd.Timedelta(0):
        raise WorkloadDataError(
            f"{path}: its buckets start at {_utc_text(stamps.iloc[0])}, off the grid of --freq {duration_text(freq)} "
            f"(a whole number of {duration_text(freq)} after 1970-01-01 00:00Z), so a bucket of it would straddle two "
            "of --freq: drop --freq, or pass the raw request log to re-bucket it.")
    missing = int((stamps.iloc[-1] - stamps.iloc[0]) // width + 1 - len(series))
    summed = bucketize(series, timestamp="timestamp", freq=freq, count="rows", sums={name: name for name in names},
                       max_buckets=max_buckets).drop(columns="rows")
    keep = np.ones(len(summed), dtype=bool)
    if not keep_partial:
        keep[0] = stamps.iloc[0] == summed["timestamp"].iloc[0]
        keep[-1] = keep[-1] and stamps.iloc[-1] + width == summed["timestamp"].iloc[-1] + freq
    if not keep.any():
        raise WorkloadDataError(
            f"{path}: its {plural(len(series), 'bucket')} of {duration_text(width)} fill no whole bucket of --freq "
            f"{duration_text(freq)} (the partial first and last are dropped): pass a smaller --freq, or "
            "--keep-partial.")
    return summed[keep].reset_index(drop=True), int((~keep).sum()), missing
