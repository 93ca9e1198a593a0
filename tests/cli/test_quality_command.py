"""``relay incident`` and ``relay quality`` from the command line."""

import pandas as pd
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


def _shifted(frame, days: int):
    """``frame`` moved ``days`` days later, with event and session ids of its own."""
    tag = f"d{days}-"
    return frame.assign(
        ts=frame["ts"] + pd.Timedelta(days=days), event_id=tag + frame["event_id"], session_id=tag + frame["session_id"]
    )


def test_quality_calibrate_fits_the_thresholds_and_quality_day_still_reports(settings, tiny_raw):
    assert runner.invoke(app, ["quality", "calibrate"]).exit_code == 2  # nothing ingested yet
    days = [f"2026-01-{5 + i:02d}" for i in range(7)]
    for i, day in enumerate(days):
        write_partition(settings.landing_dir, day, _shifted(tiny_raw, i))
        ingest_day(settings, day)
    result = runner.invoke(
        app, ["quality", "calibrate", "--weeks", "2", "--alarms-per-quarter", "2"], terminal_width=250
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # rich wraps lines at the terminal's width
    assert "thresholds fitted on 7 days (2026-01-05..2026-01-11), 2 false alarm(s) per quarter" in said
    assert "duplicate_rate" in result.output and "max_rate" in result.output
    written = (settings.root / "quality_thresholds.yaml").read_text()
    assert written.startswith("# Thresholds fitted on this feed's own history by `relay quality calibrate`")
    assert "# fitted on: 7 days, 2026-01-05..2026-01-11 (the 2 weeks up to 2026-01-11)" in written
    until = runner.invoke(app, ["quality", "calibrate", "--until", "2026-01-08"], terminal_width=250)
    assert until.exit_code == 0 and "fitted on 4 days (2026-01-05..2026-01-08)" in " ".join(until.output.split())
    assert runner.invoke(app, ["quality", "calibrate", "--until", "Jan 8"]).exit_code == 2
    report = runner.invoke(app, ["quality", "2026-01-05"], terminal_width=200)
    assert report.exit_code == 0 and "landed 6 = clean 6" in report.output
