"""The landing contract and the clean/quarantine split, on tiny hand-written frames."""

import pandas as pd

from quality.validation import IngestPolicy, validate_partition

DAY = "2026-01-05"


def test_clean_partition_passes_with_exact_accounting(tiny_raw):
    verdict = validate_partition(tiny_raw, DAY)
    assert verdict.accepted
    assert (verdict.rows_landed, verdict.rows_clean, verdict.rows_quarantined, verdict.duplicates_dropped) == (
        6,
        6,
        0,
        0,
    )
    assert list(verdict.clean["date"].unique()) == [DAY]


def test_missing_column_rejects_partition_naming_column_and_partition(tiny_raw):
    verdict = validate_partition(tiny_raw.drop(columns=["item_id"]), DAY)
    assert not verdict.accepted
    assert verdict.reason == f"partition {DAY} rejected: missing column 'item_id'"
    assert verdict.rows_clean == 0
    assert verdict.rows_quarantined == 6  # every row kept, with the reason, never lost
    assert set(verdict.quarantine["reasons"]) == {verdict.reason}


def test_wrong_dtype_and_naive_timestamps_are_structural(tiny_raw):
    bad = tiny_raw.assign(user_id=tiny_raw["user_id"].astype(str), ts=tiny_raw["ts"].dt.tz_localize(None))
    verdict = validate_partition(bad, DAY)
    assert not verdict.accepted
    assert "column 'user_id' has dtype object, expected int64" in verdict.structural_failures
    assert "column 'ts' has dtype datetime64[ns], expected datetime64[ns, UTC]" in verdict.structural_failures


def test_row_failures_are_quarantined_with_reasons(tiny_raw):
    bad = tiny_raw.copy()
    bad.loc[1, "propensity"] = 1.7
    bad.loc[4, "event_type"] = "purchase"
    bad.loc[5, "ts"] = pd.Timestamp("2026-01-06 00:00:00", tz="UTC")  # next day: outside the partition
    verdict = validate_partition(bad, DAY, IngestPolicy(max_quarantine_share=0.5))
    assert verdict.accepted
    assert verdict.rows_clean == 3 and verdict.rows_quarantined == 3
    assert verdict.rows_landed == verdict.rows_clean + verdict.rows_quarantined + verdict.duplicates_dropped
    reasons = dict(zip(verdict.quarantine["event_id"], verdict.quarantine["reasons"], strict=True))
    assert reasons["e2"] == "propensity: less_than_or_equal_to(1.0) (got 1.7)"
    assert reasons["e5"] == "event_type: isin(['impression', 'click']) (got purchase)"
    assert reasons["e6"].startswith(f"ts: ts outside partition {DAY}")


def test_too_many_bad_rows_reject_the_partition(tiny_raw):
    bad = tiny_raw.assign(propensity=[0.5, 2.0, 0.5, 0.6, 0.3, 0.3])
    verdict = validate_partition(bad, DAY)  # default policy tolerates 1%
    assert not verdict.accepted
    assert "16.67% of rows quarantined" in verdict.reason


def test_exact_duplicates_are_dropped_and_counted(tiny_raw):
    replayed = pd.concat([tiny_raw, tiny_raw.iloc[[0, 3]]], ignore_index=True)
    verdict = validate_partition(replayed, DAY)
    assert verdict.accepted
    assert (verdict.rows_landed, verdict.rows_clean, verdict.duplicates_dropped) == (8, 6, 2)


def test_conflicting_event_ids_are_quarantined(tiny_raw):
    bad = tiny_raw.copy()
    bad.loc[1, "event_id"] = "e1"  # same id, different content: not a replay
    verdict = validate_partition(bad, DAY, IngestPolicy(max_quarantine_share=0.5))
    assert sorted(verdict.quarantine["row_number"]) == [0, 1]
    assert verdict.rows_clean == 4


def test_empty_partition_is_rejected(tiny_raw):
    verdict = validate_partition(tiny_raw.head(0), DAY)
    assert not verdict.accepted
    assert verdict.reason == f"partition {DAY} rejected: partition is empty"
