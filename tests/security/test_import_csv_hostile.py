"""``relay import csv`` refuses hostile files with the file, the line and the column, and lands nothing."""

import io
import os
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.importers.guard import (
    DEFAULT_MAX_ROW_BYTES,
    ImportRejected,
    _field_index,
    row_label,
    scan_csv,
    shown,
)
from ingest.importers.run import _source_name, import_csv
from relay.cli import app

runner = CliRunner(env={"COLUMNS": "400"})
COLUMNS = ["--user-col", "user", "--item-col", "item", "--ts-col", "ts"]
HEADER = b"user,item,ts\n"


def _import(path: Path, *extra: str):
    return runner.invoke(app, ["import", "csv", str(path), *COLUMNS, *extra], terminal_width=400)


def _landed_nothing(settings) -> bool:
    return not any(settings.landing_dir.iterdir()) and not (settings.root / "relay.json").exists()


def _refused(result, *fragments: str) -> None:
    """Exit 2 (a usage error, not a crash) with every fragment in the one-line message."""
    message = " ".join(result.output.replace("│", " ").split())  # rich wraps long lines in its error box
    assert result.exit_code == 2, result.output
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_a_well_formed_file_still_imports(settings, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(HEADER + b"-5,a,2025-06-01T08:00:00\n7,b,2025-06-02T08:00:00\n")  # a negative number is an id
    converted = import_csv(settings, path, "user", "item", "ts", negatives=0)
    assert converted.interactions == 2 and converted.first_day == "2025-06-01"


def test_a_symlink_to_etc_passwd_is_refused(settings, tmp_path):
    link = tmp_path / "log.csv"
    link.symlink_to("/etc/passwd")
    _refused(_import(link), f"{link}: is a symbolic link; pass the file it points to")
    assert _landed_nothing(settings)


@pytest.mark.parametrize("make", ["directory", "missing"])
def test_a_directory_or_a_missing_path_is_refused_by_the_argument_check(settings, tmp_path, make):
    path = tmp_path / "log.csv"
    if make == "directory":
        path.mkdir()
    _refused(_import(path), "Invalid value for 'path'", "is a directory" if make == "directory" else "does not exist")
    assert _landed_nothing(settings)


def test_a_fifo_is_refused_without_waiting_for_a_writer(settings, tmp_path):
    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    results = []
    reader = threading.Thread(target=lambda: results.append(_import(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "the import blocked on the FIFO"
    _refused(results[0], f"{fifo}: is a FIFO, not a regular file")


def test_a_character_device_is_refused(settings):
    _refused(_import(Path("/dev/zero")), "/dev/zero: is a character device, not a regular file")


def test_a_row_over_the_limit_is_refused_with_its_line_and_column(settings, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(HEADER + b"1,a,2025-06-01\n2," + b"x" * (5 << 20) + b",2025-06-01\n")
    _refused(
        _import(path, "--max-row-bytes", str(1 << 20)),
        f"{path}, line 3, column 2 ('item'): row longer than 1,048,576 bytes; refused unread",
    )
    assert _landed_nothing(settings)


class _EndlessLine(io.RawIOBase):
    """A header, then one line that never ends (a 1 GB line without writing 1 GB); counts bytes served."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = HEADER if self.served == 0 else b"a" * len(buffer)
        size = min(len(chunk), len(buffer))
        buffer[:size] = chunk[:size]
        self.served += size
        return size


def test_the_default_limit_refuses_an_endless_line_after_reading_about_the_limit():
    source = _EndlessLine()
    with pytest.raises(ImportRejected, match=r"^feed, line 2, column 1 \('user'\): row longer than 1,048,576 bytes"):
        scan_csv(io.BufferedReader(source), "feed")
    assert DEFAULT_MAX_ROW_BYTES == 1 << 20
    assert source.served < DEFAULT_MAX_ROW_BYTES + (64 << 10)  # the limit plus one buffer, not the line


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (HEADER + b"1,a\x00b,2025-06-01\n", "line 2, column 2 ('item'): NUL byte: binary data, not a CSV text file"),
        (HEADER + b"1,caf\xe9,2025-06-01\n", "line 2, column 2 ('item'): byte 0xe9 is not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "line 1, column 1: byte 0x89 is not UTF-8 text"),
        (HEADER + b'1,"open,2025-06-01\n', "line 2, column 2 ('item'): a quoted field is never closed"),
    ],
    ids=["nul", "latin-1", "png", "unclosed-quote"],
)
def test_binary_or_broken_text_is_refused_with_its_line_and_column(settings, tmp_path, data, where):
    path = tmp_path / "log.csv"
    path.write_bytes(data)
    _refused(_import(path), f"{path}, {where}")
    assert _landed_nothing(settings)


@pytest.mark.parametrize(
    ("column", "cell", "line"),
    [
        ("item", '"=HYPERLINK(""http://evil.example"",""x"")"', "line 3, column 'item' (--item-col)"),
        ("user", "@SUM(A1)", "line 3, column 'user' (--user-col)"),
        ("user", "-2+3+cmd|' /C calc'!A0", "line 3, column 'user' (--user-col)"),
        ("user", "+1-1", "line 3, column 'user' (--user-col)"),
    ],
    ids=["equals", "at", "minus-dde", "plus"],
)
def test_formula_ids_are_refused_not_rewritten(settings, tmp_path, column, cell, line):
    path = tmp_path / "log.csv"
    user, item = (cell, "b") if column == "user" else ("2", cell)
    path.write_bytes(HEADER + b"1,a,2025-06-01\n" + f"{user},{item},2025-06-01\n".encode())
    _refused(_import(path), f"{path}, {line}: id", "would run as a spreadsheet formula; refused")
    assert _landed_nothing(settings) and not (settings.root / "imports").exists()


def test_an_unparseable_timestamp_or_an_absurd_span_names_its_row(settings, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(HEADER + b"1,a,2025-06-01\n2,b,not-a-date\n")
    _refused(_import(path), f"{path}, line 3, column 'ts' (--ts-col): 'not-a-date' is not a timestamp")
    path.write_bytes(HEADER + b"1,a,1970-01-01\n2,b,2025-06-01\n")  # an epoch-0 sentinel: 20,000 empty days
    _refused(_import(path), f"{path}, column 'ts' (--ts-col): the stamps span 20,240 days", "is on line 3")
    assert _landed_nothing(settings)


def test_a_missing_column_names_the_option_that_asked_for_it(settings, tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(HEADER + b"1,a,2025-06-01\n")
    _refused(_import(path, "--rating-col", "stars"), "no column(s) ['stars']: 'stars' (--rating-col)")


def test_the_mapping_folder_is_named_safely():
    assert _source_name(Path("/data/...csv")) == "import"  # not imports/..
    assert _source_name(Path("/data/=cmd|calc.csv")) == "cmd_calc"
    assert _source_name(Path("/data/ml-100k_u.data.csv")) == "ml-100k_u_data"


def test_the_helpers_count_fields_and_rows_exactly():
    assert _field_index(b'a,"x,y",') == 2  # the quoted comma is data
    assert _field_index(b'a,"x""y",b') == 2  # a doubled quote stays inside the field
    assert row_label(0, lines_match_rows=True) == "line 2"
    assert row_label(0, lines_match_rows=False) == "data row 1"
    assert shown("9" * 10_000) == "'" + "9" * 58 + "…"
