"""Cross-partition event-id lookups against stored clean partitions."""

import pandas as pd

from core import lake
from core.settings import RelaySettings
from quality.identity import event_ids_stored_elsewhere


def test_ids_stored_in_a_neighbour_are_counted_and_an_empty_partition_is_harmless(tmp_path):
    settings = RelaySettings(home=tmp_path / "var")
    events = lake.table_dir(settings, lake.EVENTS)
    lake.write_partition(events, "2026-01-03", pd.DataFrame({"event_id": pd.Series([None], dtype=object)}).head(0))
    lake.write_partition(events, "2026-01-04", pd.DataFrame({"event_id": ["a", "b", "c"]}))
    lake.write_partition(events, "2026-01-05", pd.DataFrame({"event_id": ["a", "x"]}))  # the day itself: excluded
    lake.write_partition(events, "2026-03-01", pd.DataFrame({"event_id": ["x"]}))  # outside the window
    incoming = pd.Series(["a", "b", "x", "y"])
    assert event_ids_stored_elsewhere(settings, "2026-01-05", incoming, window_days=28) == 2
    assert event_ids_stored_elsewhere(settings, "2026-01-05", incoming, window_days=0) == 0
