"""Guards between ``relay import csv`` and a file nobody vetted.

The file is opened once, without following a final symlink and only if it is a regular file
(not a FIFO, a device or a directory), then read a bounded line at a time before pandas parses
it: a row longer than the limit, a NUL byte or bytes that are not UTF-8 are refused, and the
error names the file, the line and the column. Ids that a spreadsheet would run as a formula are
refused too (not rewritten: a rewritten id would no longer match the system it came from).
"""

from __future__ import annotations

import csv
import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:  # the CLI imports this module for its defaults: no pandas at `relay --help`
    import pandas as pd

DEFAULT_MAX_ROW_BYTES = 1 << 20  # an interaction row is a few hundred bytes; a 1 MiB one is not a log
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets evaluate (OWASP "CSV injection")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")  # "-5" is an id, "-2+cmd|..." is not
SHOWN_CHARS = 60


class ImportRejected(ValueError):
    """The file or an option of ``relay import csv`` was refused; the message says where and why."""


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """``repr`` cut to ``limit`` characters: an error echoes hostile input, not 10,000 characters of it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@dataclass(frozen=True)
class Scanned:
    """What one pass over the bytes found: the header and whether line numbers equal row numbers."""

    header: list[str]
    rows: int
    lines_match_rows: bool  # no blank line and no quoted field spanning lines: data row i is line i + 2


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device"}
    kinds |= {stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}
    return next((kind for test, kind in kinds.items() if test(mode)), "not a regular file")


def open_regular_file(path: Path) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file reached without a final symlink.

    ``O_NOFOLLOW`` refuses the link itself, ``O_NONBLOCK`` keeps a FIFO without a writer from
    blocking the open, and the type is checked on the opened descriptor, so the file cannot be
    swapped between the check and the read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ImportRejected(f"{path}: no such file") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ImportRejected(f"{path}: is a symbolic link; pass the file it points to") from None
        raise ImportRejected(f"{path}: cannot be opened ({error.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ImportRejected(f"{path}: is {_file_kind(mode)}, not a regular file")
    return os.fdopen(fd, "rb")


def _field_index(prefix: bytes) -> int:
    """0-based field of the byte after ``prefix`` in a comma-separated row (commas inside quotes
    do not count: the text between an odd and an even quote is quoted)."""
    return sum(part.count(b",") for part in prefix.split(b'"')[::2])


def _column(prefix: bytes, header: list[str] | None) -> str:
    index = _field_index(prefix)
    if header is not None and index < len(header):
        return f"column {index + 1} ({shown(header[index])})"
    return f"column {index + 1}"


class _Scanner:
    """The state of one pass: the current row's bytes (at most the limit), its quote count, the line."""

    def __init__(self, name: str, max_row_bytes: int) -> None:
        self.name, self.max_row_bytes = name, max_row_bytes
        self.header: list[str] | None = None
        self.row, self.quotes, self.line, self.rows = bytearray(), 0, 0, 0
        self.lines_match_rows = True

    def refuse(self, offset: int, problem: str) -> ImportRejected:
        column = _column(bytes(self.row[:offset]), self.header)
        return ImportRejected(f"{self.name}, line {self.line}, {column}: {problem}")

    def feed(self, line: bytes) -> None:
        """One physical line (or the first ``limit + 1`` bytes of one)."""
        self.line += 1
        start = len(self.row)
        self.row += line
        if len(self.row) > self.max_row_bytes:
            raise self.refuse(self.max_row_bytes, f"row longer than {self.max_row_bytes:,} bytes; refused unread")
        if (nul := line.find(b"\0")) >= 0:
            raise self.refuse(start + nul, "NUL byte: binary data, not a CSV text file")
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise self.refuse(start + error.start, f"byte {line[error.start]:#04x} is not UTF-8 text") from None
        self.quotes += line.count(b'"')
        if line.endswith(b"\n") and self.quotes % 2:
            self.lines_match_rows = False  # a quoted field goes on on the next line
        elif line.endswith(b"\n"):
            self.end_row()

    def end_row(self) -> None:
        if self.quotes % 2:
            raise self.refuse(len(self.row), "a quoted field is never closed")
        text = self.row.decode("utf-8").lstrip("\ufeff")
        if self.header is None:
            self.header = next(csv.reader([text]), [])
        elif text.strip():
            self.rows += 1
        else:
            self.lines_match_rows = False  # pandas skips blank lines
        self.row, self.quotes = bytearray(), 0


def scan_csv(stream: BinaryIO, name: str, max_row_bytes: int = DEFAULT_MAX_ROW_BYTES) -> Scanned:
    """Read ``stream`` once, at most ``max_row_bytes + 1`` bytes of a row at a time, refusing an
    over-long row, a NUL byte or non-UTF-8 bytes with the line and column where they start."""
    scanner = _Scanner(name, max_row_bytes)
    while line := stream.readline(max_row_bytes + 1 - len(scanner.row)):
        scanner.feed(line)
    if scanner.row:
        scanner.end_row()  # the last row has no newline
    if not scanner.header:
        raise ImportRejected(f"{name}: empty file (no header row)")
    return Scanned(scanner.header, scanner.rows, scanner.lines_match_rows)


def row_label(index: int, lines_match_rows: bool) -> str:
    """Where data row ``index`` (0-based) is: its line when lines and rows coincide."""
    return f"line {index + 2}" if lines_match_rows else f"data row {index + 1}"


def refuse_formula_ids(raw: pd.DataFrame, columns: dict[str, str], name: str, lines_match_rows: bool) -> None:
    """Refuse an id that starts with = + - @ (or a tab or CR) and is not a number: ids are written
    to ``imports/<source>/*.csv``, which people open in spreadsheets, where such a cell runs."""
    for option, column in columns.items():
        text = raw[column].astype(str)
        bad = text.str.startswith(FORMULA_PREFIXES) & ~text.str.fullmatch(NUMBER.pattern)
        if bad.any():
            index = int(bad.to_numpy().argmax())  # the first refused row
            raise ImportRejected(
                f"{name}, {row_label(index, lines_match_rows)}, column {shown(column)} ({option}): "
                f"id {shown(text.iloc[index])} would run as a spreadsheet formula; refused "
                f"({int(bad.sum()):,} such ids; ids may not start with = + - @ unless they are numbers)"
            )
