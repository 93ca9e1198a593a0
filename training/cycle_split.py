"""The split of one training cycle, chosen by what the data directory holds.

A simulated world or a live feed holds out its last ``holdout_days``; an imported log holds out
its last 10% of interactions, moved earlier until the holdout has enough warm users
(``training.split.imported_holdout_start``), because a dump's last week can hold a few dozen
users and no confidence interval separates models on that.
"""

from __future__ import annotations

from core import lake
from core.dataset import read_dataset_span
from core.events import read_events
from core.settings import RelaySettings
from training.split import ImportedHoldout, SplitConfig, TemporalSplit, imported_holdout_start, temporal_split


def cycle_split(
    settings: RelaySettings, config: SplitConfig, rule: ImportedHoldout = ImportedHoldout()
) -> TemporalSplit:
    days = lake.accepted_days(settings)
    span = read_dataset_span(settings.root)
    if span is None or span.kind != "historical":
        return temporal_split(days, config)
    with lake.connect(settings) as con:
        clicks = read_events(con, event_type="click")
    interactions = clicks.assign(day=clicks["ts"].dt.strftime("%Y-%m-%d"))[["user_id", "day"]]
    return temporal_split(days, config, imported_holdout_start(interactions, rule))
