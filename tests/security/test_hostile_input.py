"""Hostile strings through every CLI option that reaches the lake's SQL or its paths.

DuckDB SQL binds every value (``$day``, ``$days``), so a hostile day is data: it matches nothing,
drops nothing. One small ingested lake serves the whole module; after every command its files
must be byte-identical and its partition must still read back balanced.
"""

import hashlib
import shutil

import pytest
from typer.testing import CliRunner

from core.landing import write_partition
from core.settings import RelaySettings
from ingest.partition import ingest_day
from quality.partition_gate import blocked_partitions
from quality.records import partition_report, record_override
from relay.cli import app
from tests.conftest import raw_rows

DAY = "2026-01-05"
HOSTILE = [
    "2024-01-01'; DROP TABLE partition_status; --",
    "../../etc/passwd",
    'x" OR 1=1 --',
    "2024-01-01\x00",
    "9" * 10_000,
]
IDS = ["sql-quote", "traversal", "sql-double-quote", "nul", "10k"]
runner = CliRunner(env={"COLUMNS": "400"})


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> RelaySettings:
    """One ingested partition (accounting, checks, partition_status) under a private RELAY_HOME."""
    home = tmp_path_factory.mktemp("hostile") / "var"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RELAY_HOME", str(home))
        settings = RelaySettings(home=home)
        settings.ensure_dirs()
        rows = [
            ("e1", f"{DAY} 08:00:00", 1, 10, "impression", 1, 0.5, 0.0, "s1"),
            ("e2", f"{DAY} 08:00:05", 1, 10, "click", 1, 0.5, 30.0, "s1"),
        ]
        write_partition(settings.landing_dir, DAY, raw_rows(rows))
        ingest_day(settings, DAY)
        yield settings


def _files(settings: RelaySettings) -> dict[str, str]:
    """Every file under the data directory and the sha256 of its bytes."""
    files = (path for path in settings.root.rglob("*") if path.is_file())
    return {str(path.relative_to(settings.root)): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def _assert_lake_intact(settings: RelaySettings, before: dict[str, str]) -> None:
    assert _files(settings) == before
    report = partition_report(settings, DAY)
    assert report is not None and report.balanced and report.rows_landed == 2


def _message(result) -> str:
    return " ".join(result.output.replace("│", " ").split())


@pytest.mark.parametrize("day", HOSTILE, ids=IDS)
def test_relay_quality_treats_a_hostile_day_as_data(lake, day):
    before = _files(lake)
    result = runner.invoke(app, ["quality", day], terminal_width=400)
    assert result.exit_code == 2, result.output
    assert "has not been ingested" in _message(result)
    _assert_lake_intact(lake, before)


@pytest.mark.parametrize("day", HOSTILE, ids=IDS)
def test_the_gate_queries_behind_run_and_repair_bind_a_hostile_day(lake, day):
    """``relay run`` and ``relay repair`` reach the lake through these queries (quality/partition_gate.py)."""
    before = _files(lake)
    assert partition_report(lake, day) is None
    assert blocked_partitions(lake, [day, DAY]) == {}
    _assert_lake_intact(lake, before)


@pytest.mark.parametrize("option", ["--user-col", "--item-col", "--ts-col", "--rating-col", "--category-col"])
@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_relay_import_csv_names_the_option_of_a_hostile_column(lake, tmp_path, option, value):
    path = tmp_path / "log.csv"
    path.write_text("user,item,ts\n1,10,2026-01-06T08:00:00\n")
    columns = {"--user-col": "user", "--item-col": "item", "--ts-col": "ts", option: value}
    before = _files(lake)
    result = runner.invoke(app, ["import", "csv", str(path), *[x for kv in columns.items() for x in kv]])
    assert result.exit_code == 2, result.output
    assert f"({option})" in _message(result) and "no column(s)" in _message(result)
    _assert_lake_intact(lake, before)


@pytest.mark.parametrize("value", HOSTILE, ids=IDS)
def test_relay_import_csv_refuses_a_hostile_ts_unit(lake, tmp_path, value):
    path = tmp_path / "log.csv"
    path.write_text("user,item,ts\n1,10,1767600000\n")
    before = _files(lake)
    cli = ["import", "csv", str(path), "--user-col", "user", "--item-col", "item", "--ts-col", "ts", "--ts-unit", value]
    result = runner.invoke(app, cli)
    assert result.exit_code == 2 and "--ts-unit must be one of s, ms, us, ns" in _message(result), result.output
    _assert_lake_intact(lake, before)


def test_relay_incident_does_not_rewrite_a_parquet_outside_landing(lake):
    """``--date ../../victim`` names ``landing/raw_logs/../../victim.parquet``: today the incident rewrites it."""
    victim = lake.root / "victim.parquet"
    raw_rows([("v1", f"{DAY} 09:00:00", 2, 11, "impression", 1, 0.5, 0.0, "s")]).to_parquet(victim)
    before = victim.read_bytes()
    try:
        result = runner.invoke(app, ["incident", "renamed_column", "--date", "../../victim"])
        assert result.exit_code == 2 and "'--date'" in _message(result), result.output
        assert victim.read_bytes() == before
    finally:
        for path in lake.root.rglob("victim*.parquet"):  # the victim and the copy landing keeps of it
            path.unlink()


def test_an_override_for_a_hostile_day_is_refused_before_it_is_written(lake):
    """``relay repair DAY --accept`` records the override before Dagster ever sees DAY."""
    escaped = lake.root.parent / "escaped"  # lake/overrides/date=x/../../../../escaped
    try:
        with pytest.raises(ValueError, match="not an ISO date"):
            record_override(lake, "x/../../../../escaped", "hostile", "test")
        assert not escaped.exists()
    finally:
        shutil.rmtree(escaped, ignore_errors=True)
        shutil.rmtree(lake.lake_dir / "overrides" / "date=x", ignore_errors=True)
