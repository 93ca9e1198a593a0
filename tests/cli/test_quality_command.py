"""``relay incident`` and ``relay quality`` from the command line."""

import pytest
from typer.testing import CliRunner

from core.landing import write_partition
from ingest.partition import ingest_day
from quality.records import record_override
from quality.run_checks import run_rule
from relay.cli import app

runner = CliRunner(env={"COLUMNS": "250"})


def test_incident_list_names_every_kind():
    result = runner.invoke(app, ["incident", "--list"], terminal_width=200)
    assert result.exit_code == 0
    for kind in ("missing_column", "unit_change", "swapped_ids", "feature_fanout", "partial_partition"):
        assert kind in result.output


def test_incident_needs_a_known_kind_and_a_date(settings, tiny_raw):
    write_partition(settings.landing_dir, "2026-01-05", tiny_raw)
    assert runner.invoke(app, ["incident", "missing_column"]).exit_code == 2
    unknown = runner.invoke(app, ["incident", "gremlins", "--date", "2026-01-05"])
    assert unknown.exit_code == 2 and "unknown incident 'gremlins'" in unknown.output


@pytest.mark.parametrize("kind", ["renamed_column"])
def test_quality_prints_accounting_and_check_results(settings, tiny_raw, kind):
    write_partition(settings.landing_dir, "2026-01-05", tiny_raw)
    assert runner.invoke(app, ["incident", kind, "--date", "2026-01-05"]).exit_code == 0
    ingest_day(settings, "2026-01-05")
    run_rule(settings, "duplicate_rate", ["2026-01-05"])
    result = runner.invoke(app, ["quality", "2026-01-05"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "landed 6 = clean 0 + quarantined 6 + duplicates 0 (balanced)" in result.output
    assert "BLOCKED" in result.output
    assert "missing column 'item_id'; unexpected column 'itemId'" in result.output
    assert "check_duplicate_rate" in result.output
    assert runner.invoke(app, ["quality", "2026-02-01"]).exit_code == 2


def test_quality_names_who_overrode_a_blocked_partition(settings, tiny_raw):
    write_partition(settings.landing_dir, "2026-01-05", tiny_raw)
    assert runner.invoke(app, ["incident", "renamed_column", "--date", "2026-01-05"]).exit_code == 0
    ingest_day(settings, "2026-01-05")
    record_override(settings, "2026-01-05", "the feed is known bad; keep the day", "ops")
    result = runner.invoke(app, ["quality", "2026-01-05"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "status: usable (override: {'date': '2026-01-05', 'reason': 'the feed is known bad" in result.output
    assert "'given_by': 'ops'" in result.output
