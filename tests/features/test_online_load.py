"""Which stamps an online load covers: only new data, and a long backfill only its tail."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from features.online_load import ONLINE_DAYS, online_window


class _Store:
    def __init__(self, loaded_until: datetime | None) -> None:
        self.loaded_until = loaded_until

    def get_feature_view(self, name: str) -> SimpleNamespace:
        return SimpleNamespace(most_recent_end_time=self.loaded_until)


def day(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)


def test_a_daily_run_loads_its_own_day():
    assert online_window(_Store(day(10)), day(10), day(11)) == (day(11), day(12))


def test_a_long_backfill_into_an_empty_store_loads_only_its_tail():
    start, stop = online_window(_Store(None), day(0), day(730))
    assert (start, stop) == (day(731) - timedelta(days=ONLINE_DAYS), day(731))


def test_a_store_loaded_long_ago_is_caught_up_from_where_it_stopped():
    assert online_window(_Store(day(100)), day(0), day(730)) == (day(100), day(731))
