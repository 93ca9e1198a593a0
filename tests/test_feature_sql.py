"""The DuckDB feature SQL on hand-written events, with exact expected windows."""

import math

import pandas as pd

from feature_repo.build import compute_feature_table, day_range, write_feature_partitions
from orchestration.contracts import ItemFeatures, UserFeatures
from orchestration.validation import validate_partition
from relay import lake
from relay.ingest import store_verdict
from tests.conftest import raw_rows, utc


def _land(settings, frames: dict[str, pd.DataFrame]) -> None:
    for day, frame in frames.items():
        store_verdict(settings, validate_partition(frame, day))


def _two_days(settings, tiny_raw):
    later = raw_rows([("f1", "2026-01-13 09:00:00", 1, 10, "impression", 1, 0.5, 0.0, "s9")])
    _land(settings, {"2026-01-05": tiny_raw, "2026-01-13": later})


def test_user_windows_as_of_end_of_day(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    with lake.connect(settings) as con:
        first = compute_feature_table(con, "user_features", "2026-01-05", "2026-01-05").set_index("user_id")
        later = compute_feature_table(con, "user_features", "2026-01-13", "2026-01-13").set_index("user_id")

    assert first.loc[1, "event_timestamp"] == utc("2026-01-06")  # known from the next midnight
    assert first.loc[
        1, ["user_impressions_7d", "user_clicks_7d", "user_clicks_30d", "user_active_days_30d"]
    ].tolist() == [2, 1, 1, 1]
    assert first.loc[1, "user_ctr_7d"] == 0.5
    assert first.loc[1, "user_timespent_mean_7d"] == 30.0
    assert first.loc[2, "user_timespent_mean_7d"] == 12.5

    # Eight days later the 7-day window of user 1 holds one impression; the 30-day one both days.
    assert later.loc[
        1, ["user_impressions_7d", "user_clicks_7d", "user_clicks_30d", "user_active_days_30d"]
    ].tolist() == [1, 0, 1, 2]
    assert later.loc[1, "user_ctr_7d"] == 0.0
    assert math.isnan(later.loc[1, "user_timespent_mean_7d"])
    # User 2 was active only outside the 7-day window: zero counts, undefined ratio.
    assert later.loc[2, ["user_impressions_7d", "user_clicks_7d", "user_clicks_30d"]].tolist() == [0, 0, 1]
    assert math.isnan(later.loc[2, "user_ctr_7d"])


def test_item_windows(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    with lake.connect(settings) as con:
        items = compute_feature_table(con, "item_features", "2026-01-05", "2026-01-05").set_index("item_id")
    assert items["item_impressions_7d"].to_dict() == {10: 1, 11: 2, 12: 1}
    assert items["item_clicks_7d"].to_dict() == {10: 1, 11: 0, 12: 1}
    assert items.loc[11, "item_ctr_7d"] == 0.0
    assert items.loc[12, "item_timespent_mean_7d"] == 12.5


def test_feature_tables_satisfy_contracts_and_partitions_are_idempotent(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    days = day_range("2026-01-05", "2026-01-13")
    with lake.connect(settings) as con:
        users = compute_feature_table(con, "user_features", days[0], days[-1])
        items = compute_feature_table(con, "item_features", days[0], days[-1])
    UserFeatures.validate(users, lazy=True)
    ItemFeatures.validate(items, lazy=True)
    first = write_feature_partitions(settings.features_dir, "user_features", users, days)
    second = write_feature_partitions(settings.features_dir, "user_features", users, days)
    assert first == second
    assert sum(first.values()) == len(users)
    assert len(list((settings.features_dir / "user_features").glob("date=*/part.parquet"))) == len(days)


def test_rejected_partition_is_invisible_downstream(settings, tiny_raw):
    _land(settings, {"2026-01-05": tiny_raw, "2026-01-06": tiny_raw.drop(columns=["position"])})
    with lake.connect(settings) as con:
        days = [row[0] for row in con.execute("SELECT DISTINCT date FROM accepted_events").fetchall()]
        accounting = con.execute(
            "SELECT date, accepted, rows_landed, rows_quarantined FROM accounting ORDER BY date"
        ).fetchall()
    assert days == ["2026-01-05"]
    assert accounting == [("2026-01-05", True, 6, 0), ("2026-01-06", False, 6, 6)]
    assert lake.accepted_days(settings) == ["2026-01-05"]
