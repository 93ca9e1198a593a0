"""Statistical rules and the partition profile, on hand-made inputs with exact expected values."""

import math

import numpy as np
import pandas as pd
import pytest

from quality import all_rules, rules
from quality.profile import profile_partition
from quality.thresholds import load_thresholds
from tests.conftest import raw_rows

T = load_thresholds()


def profile(day: str, **overrides) -> dict:
    base = {
        "date": day,
        "rows_landed": 1000,
        "rows": 1000,
        "duplicates": 0,
        "columns": ["position"],
        "null_fraction": {"position": 0.0},
        "top_values": {"position": [["1", 0.2], ["2", 0.18], ["3", 0.1], ["4", 0.1], ["5", 0.1]]},
        "distinct": {"position": 10},
        "quantiles": {"timespent_s": {"p50": 30.0, "p99": 200.0, "mean": 40.0}},
        "histograms": {"timespent_s": [0, 10, 50, 30, 10]},
        "categories": {"event_type": {"impression": 0.9, "click": 0.1}},
        "hours": [60] * 24,
        "late": 0,
        "future": 0,
        "item_ids": [1, 2, 3, 4, 5],
    }
    return base | overrides


# Four Mondays-and-others of reference: 2026-01-05 is a Monday.
REFERENCE = [
    profile(d, rows_landed=n)
    for d, n in [("2026-01-05", 1000), ("2026-01-06", 800), ("2026-01-07", 820), ("2026-01-12", 1100)]
]


def test_volume_uses_the_same_weekday_median():
    ok = rules.volume(profile("2026-01-19", rows_landed=1050), REFERENCE, T)
    assert ok.passed and ok.metrics["reference_median"] == 1050.0 and ok.metrics["same_weekday_days"] == 2
    low = rules.volume(profile("2026-01-19", rows_landed=400), REFERENCE, T)
    assert not low.passed and low.metrics["ratio"] == pytest.approx(400 / 1050)
    assert (
        low.description == "partition 2026-01-19: column event_id: 400 rows landed, 0.38x the same-weekday median 1050"
    )


def test_null_fraction_against_the_reference_maximum():
    result = rules.null_fraction(profile("2026-01-19", null_fraction={"position": 0.05}), REFERENCE, T)
    assert not result.passed and result.column == "position" and result.metrics["allowed"] == pytest.approx(0.01)


def test_single_value_share_flags_a_new_dominant_value():
    sentinel = profile("2026-01-19", top_values={"position": [["999999", 0.3], ["1", 0.15]]})
    result = rules.single_value_share(sentinel, REFERENCE, T)
    assert not result.passed and result.column == "position" and result.metrics["value"] == "999999"
    # Unlisted on reference days that list 5 values: bounded by their 5th share (0.1) + 0.05.
    assert result.metrics["allowed"] == pytest.approx(0.15)
    usual = profile("2026-01-19", top_values={"position": [["1", 0.22]]})
    assert rules.single_value_share(usual, REFERENCE, T).passed  # 0.22 <= 0.20 + 0.05


def test_constant_column():
    result = rules.constant_columns(
        profile("2026-01-19", distinct={"position": 1}, top_values={"position": [["1", 1.0]]}), REFERENCE, T
    )
    assert not result.passed and result.description.endswith(
        "column position: constant (every row is 1) but varies on every reference day"
    )


def test_range_shift_catches_unit_changes_both_ways():
    ms = rules.range_shift(
        profile("2026-01-19", quantiles={"timespent_s": {"p50": 30000.0, "p99": 2e5, "mean": 4e4}}), REFERENCE, T
    )
    assert not ms.passed and ms.column == "timespent_s" and ms.metrics["factor"] == pytest.approx(1000.0)
    shrunk = rules.range_shift(
        profile("2026-01-19", quantiles={"timespent_s": {"p50": 0.03, "p99": 0.2, "mean": 0.04}}), REFERENCE, T
    )
    assert not shrunk.passed
    assert rules.range_shift(
        profile("2026-01-19", quantiles={"timespent_s": {"p50": 45.0, "p99": 300.0, "mean": 50.0}}), REFERENCE, T
    ).passed


def test_categorical_drift_is_l_infinity():
    result = rules.categorical_drift(
        profile("2026-01-19", categories={"event_type": {"impression": 0.7, "click": 0.3}}), REFERENCE, T
    )
    assert not result.passed and result.metrics["linf"] == pytest.approx(0.2)


def test_psi_by_hand():
    # p = [0.5, 0.5], q = [0.25, 0.75]: PSI = 0.25 ln 2 - 0.25 ln(2/3)
    value = rules.psi(np.array([5.0, 5.0]), np.array([1.0, 3.0]))
    expected = (0.5 + 1e-4 - 0.25 - 1e-4) * math.log((0.5 + 1e-4) / (0.25 + 1e-4)) + (0.5 - 0.75) * math.log(
        (0.5 + 1e-4) / (0.75 + 1e-4)
    )
    assert value == pytest.approx(expected)
    drifted = rules.numeric_drift(profile("2026-01-19", histograms={"timespent_s": [0, 0, 10, 30, 60]}), REFERENCE, T)
    assert not drifted.passed and drifted.column == "timespent_s"


def test_unknown_ids_and_rate_rules():
    swapped = rules.unknown_ids(profile("2026-01-19", item_ids=[1, 2, 6, 7, 8]), REFERENCE, T)
    assert not swapped.passed and swapped.metrics["share"] == pytest.approx(0.6)
    dupes = rules.duplicate_rate(profile("2026-01-19", rows_landed=1000, duplicates=3), REFERENCE, T)
    assert not dupes.passed and dupes.metrics["rate"] == pytest.approx(0.003) and dupes.column == "event_id"
    assert rules.late_events(profile("2026-01-19", late=2), REFERENCE, T).passed  # 0.2% is the limit
    assert not rules.future_timestamps(profile("2026-01-19", future=1), REFERENCE, T).passed


def test_partial_partition_counts_missing_expected_hours():
    hours = [60] * 14 + [0] * 10
    result = rules.partial_partition(profile("2026-01-19", hours=hours), REFERENCE, T)
    assert not result.passed and result.metrics["missing_hours"] == "14,15,16,17,18,19,20,21,22,23"
    assert rules.partial_partition(profile("2026-01-19", hours=[60] * 22 + [0, 0]), REFERENCE, T).passed


def test_rules_wait_for_a_reference():
    result = all_rules.evaluate("volume", profile("2026-01-19", rows_landed=1), REFERENCE[:2], T)
    assert result.passed and "insufficient reference (2 good days < 3)" in result.description


def test_profile_of_a_tiny_partition(tiny_raw):
    late = raw_rows([("e7", "2026-01-04 23:00:00", 1, 10, "impression", 1, 0.5, 0.0, "s3")])
    landed = pd.concat([tiny_raw, tiny_raw.iloc[[0]], late], ignore_index=True)
    deduped = landed.drop_duplicates()
    result = profile_partition(landed, deduped, "2026-01-05")
    assert (result["rows_landed"], result["rows"], result["duplicates"], result["late"], result["future"]) == (
        8,
        7,
        1,
        1,
        0,
    )
    assert result["categories"]["event_type"] == pytest.approx({"impression": 5 / 7, "click": 2 / 7})
    assert result["quantiles"]["timespent_s"]["p50"] == pytest.approx(21.25)  # clicks only: 30 and 12.5
    assert result["hours"][8] == 3 and result["hours"][20] == 3 and sum(result["hours"]) == 6
    assert result["item_ids"] == [10, 11, 12]


def test_a_deployment_can_lay_its_thresholds_over_the_defaults(settings):
    from quality.thresholds import thresholds_for

    (settings.root / "quality_thresholds.yaml").write_text(
        "volume: {enabled: false}\nduplicate_rate: {max_rate: 0.5}\n"
    )
    merged = thresholds_for(settings)
    assert merged["duplicate_rate"]["max_rate"] == 0.5
    assert merged["volume"]["min_ratio"] == T["volume"]["min_ratio"]  # untouched keys keep their default
    result = all_rules.evaluate("volume", profile("2026-01-19", rows_landed=1), REFERENCE, merged)
    assert result.passed and "disabled" in result.description
    (settings.root / "quality_thresholds.yaml").write_text("volumes: {}\n")
    with pytest.raises(ValueError, match="unknown sections"):
        thresholds_for(settings)
