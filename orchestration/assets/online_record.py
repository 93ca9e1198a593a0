"""Online stage: the realised record of every served model version, one daily partition a day.

The asset reads the day's and the next day's served folders, makes the one plain call
``evaluation.online_record.online_record`` and stores the record; its metadata holds a table per
version, one numeric entry per version and metric (``v3/ctr``: Dagster's "Plots" tab draws each
across the partitions) and a chart of every version over the recorded days. The check
``proxy_up_goal_down`` warns, without blocking anything, when a version's clicks per user rose
while its timespent per user fell.
"""

import base64
import math
import warnings

import dagster as dg
import pandas as pd

from core.dataset import next_day
from core.schema import empty_raw_logs
from evaluation import online_record as realised
from orchestration.partitions import daily_partitions
from orchestration.resources import LakeResource

ASSET = "online_record"
CHECK = "proxy_up_goal_down"
PLOTTED = ("impressions", "users", "ctr", "clicks_per_user", "timespent_per_user", "next_day_return_rate")


@dg.asset(
    deps=[
        dg.AssetDep(
            "raw_logs",  # the served folders land beside the producers' partitions
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=0, end_offset=1, allow_nonexistent_upstream_partitions=True
            ),
        )
    ],
    partitions_def=daily_partitions,
    group_name="online",
)
def online_record(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    """What each served model version realised on the day: impressions, sessions, users, clicks,
    CTR, clicks and timespent per user, and the next-day return rate (once the next day landed;
    re-materialize the day then)."""
    settings = lake.settings()
    day = context.partition_key
    events = realised.read_served_day(settings.served_dir, day)
    following = realised.read_served_day(settings.served_dir, next_day(day))
    if events is None:
        context.log.info(f"nothing was served on {day}")
    record = realised.online_record(empty_raw_logs() if events is None else events, following)
    path = realised.write_record(settings.lake_dir, day, record)
    if record.unattributed_rows:
        context.log.warning(f"{record.unattributed_rows} served rows on {day} name no model version")
    history = realised.read_history(settings.lake_dir, through=day)
    return dg.MaterializeResult(metadata={**_record_metadata(record, history), "path": dg.MetadataValue.path(path)})


def _record_metadata(record: realised.OnlineRecord, history: pd.DataFrame) -> dict[str, dg.MetadataValue]:
    frame = record.as_frame()
    schema = dg.TableSchema(
        columns=[dg.TableColumn(c, "int" if frame[c].dtype.kind == "i" else "float") for c in frame.columns]
    )
    rows = [dg.TableRecord({k: _cell(v) for k, v in row.items()}) for row in frame.to_dict(orient="records")]
    metadata: dict[str, dg.MetadataValue] = {
        "versions": dg.MetadataValue.text(", ".join(f"v{v.version}" for v in record.versions) or "none served"),
        "unattributed_rows": dg.MetadataValue.int(record.unattributed_rows),
        "next_day": dg.MetadataValue.text("landed" if record.next_day_landed else "not landed: return rate pending"),
        "record": dg.MetadataValue.table(rows, schema=schema),
    }
    for version in record.versions:
        for name in PLOTTED:
            value = getattr(version, name)
            if value is not None:
                metadata[f"v{version.version}/{name}"] = dg.MetadataValue.float(float(value))
    if len(history):
        image = base64.b64encode(realised.history_chart(history)).decode()
        days = f"{history['date'].iloc[0]}..{history['date'].iloc[-1]}"
        metadata["history"] = dg.MetadataValue.md(
            f"Online record of every version, {days}\n\n![online record per version](data:image/png;base64,{image})"
        )
    return metadata


def _cell(value: object) -> object:
    """Four decimals are what a person compares in the table (the numeric entries keep them all)."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def build_online_record_check(partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    """The WARN check over ``partitions_def`` (a check's partitions are fixed when it is defined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks are "preview" in Dagster 1.13

        @dg.asset_check(
            asset=ASSET,
            name=CHECK,
            partitions_def=partitions_def,
            blocking=False,
            description="Warns when a version's proxy (clicks per user) rose versus its previous recorded "
            "day while its goal (timespent per user) fell.",
        )
        def _check(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
            day = context.partition_key
            history = realised.read_history(lake.settings().lake_dir, through=day)
            found = realised.divergences(history, day)
            today = history[history["date"] == day]
            return dg.AssetCheckResult(
                passed=not found,
                severity=dg.AssetCheckSeverity.WARN,
                description="; ".join(d.message() for d in found)
                or (f"no version's proxy rose while its goal fell on {day}" if len(today) else f"no record on {day}"),
                metadata={
                    "versions_recorded": dg.MetadataValue.int(len(today)),
                    "diverging": dg.MetadataValue.text(", ".join(f"v{d.version}" for d in found) or "none"),
                },
            )

    return _check
