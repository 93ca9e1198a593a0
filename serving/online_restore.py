"""Re-materialize the online store from the offline store after it lost its keys.

The Feast registry records every interval each view was loaded online over. Loading each view
again over the span of its intervals (Feast keeps each entity's latest row in the span) rebuilds
what the incremental loads had built, for the feature tables and every served embedding version
alike, and a second restore writes the same rows. Called by the ``online_store_restore`` job,
which the ``online_store_sensor`` requests when ``online_probe`` finds the store empty.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from feast import FeatureStore


@dataclass(frozen=True)
class RestoredSpan:
    start: datetime
    end: datetime
    views: tuple[str, ...]


def loaded_spans(store: FeatureStore) -> list[RestoredSpan]:
    """Per span (the first start to the last end of a view's online loads), the views loaded over it."""
    by_span: dict[tuple[datetime, datetime], list[str]] = defaultdict(list)
    for view in store.list_feature_views():
        intervals = view.materialization_intervals
        if intervals:
            by_span[(min(i[0] for i in intervals), max(i[1] for i in intervals))].append(view.name)
    return [RestoredSpan(start, end, tuple(sorted(names))) for (start, end), names in sorted(by_span.items())]


def restore_online_store(store: FeatureStore) -> list[RestoredSpan]:
    """Load every view that was ever loaded online again, over its recorded span; returns what was loaded."""
    spans = loaded_spans(store)
    for span in spans:
        store.materialize(start_date=span.start, end_date=span.end, feature_views=list(span.views))
    return spans
