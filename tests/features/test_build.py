"""The DuckDB feature SQL on hand-written events, with exact expected windows."""

import math

import pandas as pd

from core import lake
from core.landing import write_catalog
from features.build import compute_feature_table, day_range, write_feature_partitions
from ingest.partition import publish_catalog, store_verdict
from quality.contracts import ItemFeatures, UserCategoryFeatures, UserFeatures
from quality.validation import validate_partition
from tests.conftest import raw_rows, utc

CATALOG = pd.DataFrame({"item_id": [10, 11, 12], "category": [0, 1, 1], "duration_s": [60.0, 40.0, 25.0]})


def _land(settings, frames: dict[str, pd.DataFrame]) -> None:
    write_catalog(settings.landing_dir, CATALOG)
    publish_catalog(settings)
    for day, frame in frames.items():
        store_verdict(settings, validate_partition(frame, day))


def _two_days(settings, tiny_raw):
    later = raw_rows([("f1", "2026-01-13 09:00:00", 1, 10, "impression", 1, 0.5, 0.0, "s9")])
    _land(settings, {"2026-01-05": tiny_raw, "2026-01-13": later})


def _table(settings, table: str, day: str) -> pd.DataFrame:
    with lake.connect(settings) as con:
        return compute_feature_table(con, table, day, day)


def test_user_windows_as_of_end_of_day(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    first = _table(settings, "user_features", "2026-01-05").set_index("user_id")
    later = _table(settings, "user_features", "2026-01-13").set_index("user_id")

    assert first.loc[1, "event_timestamp"] == utc("2026-01-06")  # known from the next midnight
    assert first.loc[1, "created_timestamp"] == utc("2026-01-06")  # knowledge time, even in a backfill
    for w in (1, 7, 30):
        assert first.loc[1, [f"user_impressions_{w}d", f"user_clicks_{w}d", f"user_categories_{w}d"]].tolist() == [
            2,
            1,
            1,
        ]
        assert first.loc[1, f"user_ctr_{w}d"] == 0.5
        assert first.loc[1, f"user_timespent_sum_{w}d"] == 30.0
        assert first.loc[2, f"user_timespent_mean_{w}d"] == 12.5
    assert first.loc[1, "user_last_event_ts"] == utc("2026-01-05 08:00:05").timestamp()

    # Eight days later the 1- and 7-day windows of user 1 hold one impression; the 30-day one both days.
    row = later.loc[1]
    assert [row.user_impressions_1d, row.user_clicks_1d, row.user_categories_1d] == [1, 0, 0]
    assert [row.user_impressions_7d, row.user_impressions_30d, row.user_clicks_30d, row.user_active_days_30d] == [
        1,
        3,
        1,
        2,
    ]
    assert row.user_ctr_1d == 0.0 and math.isnan(row.user_timespent_mean_1d)
    assert row.user_ctr_30d == 1 / 3 and row.user_categories_30d == 1
    assert row.user_last_event_ts == utc("2026-01-13 09:00:00").timestamp()
    # User 2 was active only outside the 7-day window: zero counts, undefined ratios.
    assert later.loc[2, ["user_impressions_7d", "user_clicks_7d", "user_clicks_30d"]].tolist() == [0, 0, 1]
    assert math.isnan(later.loc[2, "user_ctr_7d"])


def test_item_windows_popularity_ctr_completion(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    items = _table(settings, "item_features", "2026-01-05").set_index("item_id")
    assert items["item_impressions_1d"].to_dict() == {10: 1, 11: 2, 12: 1}
    assert items["item_clicks_7d"].to_dict() == {10: 1, 11: 0, 12: 1}
    assert items.loc[11, "item_ctr_7d"] == 0.0
    assert items.loc[10, "item_completion_mean_7d"] == 0.5  # 30 s of 60
    assert items.loc[12, "item_completion_mean_30d"] == 0.5  # 12.5 s of 25
    assert math.isnan(items.loc[11, "item_completion_mean_7d"])


def test_user_category_affinity(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    uc = _table(settings, "user_category_features", "2026-01-05").set_index(["user_id", "category"])
    assert uc["uc_impressions_30d"].to_dict() == {(1, 0): 1, (1, 1): 1, (2, 1): 2}
    assert uc["uc_clicks_30d"].to_dict() == {(1, 0): 1, (1, 1): 0, (2, 1): 1}
    assert uc["uc_affinity_30d"].to_dict() == {(1, 0): 1.0, (1, 1): 0.0, (2, 1): 1.0}
    assert uc.loc[(2, 1), "uc_ctr_30d"] == 0.5


def test_feature_tables_satisfy_contracts_and_partitions_are_idempotent(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    days = day_range("2026-01-05", "2026-01-13")
    with lake.connect(settings) as con:
        tables = {
            t: compute_feature_table(con, t, days[0], days[-1])
            for t in ("user_features", "item_features", "user_category_features")
        }
    UserFeatures.validate(tables["user_features"], lazy=True)
    ItemFeatures.validate(tables["item_features"], lazy=True)
    UserCategoryFeatures.validate(tables["user_category_features"], lazy=True)
    first = write_feature_partitions(settings.features_dir, "user_features", tables["user_features"], days)
    second = write_feature_partitions(settings.features_dir, "user_features", tables["user_features"], days)
    assert first == second
    assert sum(first.values()) == len(tables["user_features"])
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


def test_tombstone_row_the_day_activity_leaves_the_window(settings, tiny_raw):
    _two_days(settings, tiny_raw)
    # User 2's only events were on 2026-01-05: in the window through 02-03, a zero row on 02-04, then nothing.
    last_in = _table(settings, "user_features", "2026-02-03").set_index("user_id")
    tombstone = _table(settings, "user_features", "2026-02-04").set_index("user_id")
    gone = _table(settings, "user_features", "2026-02-05")
    assert last_in.loc[2, "user_clicks_30d"] == 1
    assert tombstone.loc[2, ["user_clicks_30d", "user_impressions_30d", "user_active_days_30d"]].tolist() == [0, 0, 0]
    assert math.isnan(tombstone.loc[2, "user_last_event_ts"]) and math.isnan(tombstone.loc[2, "user_ctr_30d"])
    assert 2 not in set(gone["user_id"])
    UserFeatures.validate(tombstone.reset_index(), lazy=True)
