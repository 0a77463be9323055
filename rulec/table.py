"""Sample sheets: a CSV or TSV file read as a dimension's values and fields.

``read`` gives the header and the rows with the line each starts on; the analyzer checks
them (duplicate and empty keys, rows of the wrong width) and reports each problem with the
file's line and the place of ``table(...)`` in the Rulefile.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Mapping

DELIMITERS = {".tsv": "\t", ".tab": "\t", ".csv": ","}


class TableError(Exception):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def delimiter_of(path: str, first_line: str) -> str:
    """By the extension (.csv, .tsv, .tab), else the most frequent of tab, comma and
    semicolon in the first line (a tab when there is none: one column)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in DELIMITERS:
        return DELIMITERS[ext]
    counts = [(first_line.count(c), c) for c in ("\t", ",", ";")]
    best = max(counts)
    return best[1] if best[0] else "\t"


def read(path: str, delimiter: str | None = None) -> tuple[list[str], list[list[str]], str, str, bytes]:
    """(header, rows, the delimiter, the text, the file's bytes). Blank lines are skipped;
    ``lines(text, delimiter)`` says where each row starts, when a message needs it."""
    try:
        if "://" in path:
            data = _read_remote(path)
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except FileNotFoundError:
        raise TableError("no such file") from None
    except IsADirectoryError:
        raise TableError("is a folder, not a file") from None
    except OSError as exc:
        raise TableError(exc.strerror or str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TableError(f"not UTF-8 text (byte {exc.start})", data[: exc.start].count(b"\n") + 1) from None
    if "\0" in text:
        raise TableError("holds a NUL byte: not a text table", text[: text.index("\0")].count("\n") + 1)
    if delimiter is None:
        delimiter = delimiter_of(path, text.split("\n", 1)[0])
    raise_field_limit()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    try:
        rows = [cells for cells in reader if cells and (len(cells) > 1 or cells[0].strip())]
    except csv.Error as exc:
        raise TableError(f"bad {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}", reader.line_num) from None
    if not rows:
        raise TableError("is empty: its first line names the columns")
    return rows[0], rows[1:], delimiter, text, data


def _read_remote(url: str) -> bytes:
    """A table at a URL (``s3://bucket/samples.tsv``), read whole through fsspec; an
    unreachable store raises ``storage.unreachable``'s StorageError."""
    from . import storage

    if not storage.is_remote(url):
        raise TableError(f"{url.split('://', 1)[0]}:// is no storage fsspec knows")
    try:
        fs, where = storage._fs(url)
        if fs.isdir(where):
            raise IsADirectoryError(url)
        return fs.cat_file(where)
    except (FileNotFoundError, IsADirectoryError):
        raise
    except Exception as exc:  # fsspec's and its backends' own errors: the store is not there
        raise storage.unreachable(url, exc) from None


def lines(text: str, delimiter: str) -> list[int]:
    """The line each row of ``read`` starts on, the header's first (a quoted cell may hold
    line breaks, so this reads the table again: only for messages)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    out = []
    start = 1
    for cells in reader:
        if cells and (len(cells) > 1 or cells[0].strip()):
            out.append(start)
        start = reader.line_num + 1
    return out


def raise_field_limit() -> None:
    """Cells may be long (a list of files): allow up to the platform's limit."""
    try:
        csv.field_size_limit(sys.maxsize)
    except OverflowError:  # pragma: no cover - 32-bit C long
        csv.field_size_limit(2**31 - 1)


class Rows(Mapping):
    """``value -> {field: text}`` over a table's columns, each row made when it is asked for:
    a sheet of 100k rows keeps its columns (which the formatters use), not 100k dicts."""

    __slots__ = ("_values", "_names", "_columns", "_index")

    def __init__(self, values: tuple[str, ...], names: tuple[str, ...], columns: dict[str, dict]):
        self._values = values
        self._names = names
        self._columns = columns
        self._index = columns[names[0]] if names else dict.fromkeys(values)

    def __getitem__(self, value: str) -> dict:
        if value not in self._index:
            raise KeyError(value)
        return {name: self._columns[name][value] for name in self._names}

    def __contains__(self, value) -> bool:
        return value in self._index

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
