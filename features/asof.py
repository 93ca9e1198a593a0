"""Point-in-time retrieval as one DuckDB ASOF JOIN, generated from a Feast FeatureService.

Feast stays the definition and registry of the features; this path reads the same views'
sources, keys, TTLs and fields and answers the same question for large training-set builds,
at the speed of a hand-written ASOF JOIN. ``tests/test_point_in_time.py`` proves it returns
what Feast returns.

Preconditions (checked, loudly): each source has at most one row per key and event time, and
no row was created after its event time. Relay's tables satisfy both by construction (daily
partitions are replaced, rows are stamped with their knowledge time); a table that does not
should go through Feast with ``filter_by_created_timestamp=True`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb
import pandas as pd
from feast import FeatureService, FeatureStore


@dataclass(frozen=True)
class ViewRead:
    name: str
    path: str
    timestamp: str
    created: str | None
    keys: list[str]
    features: list[str]
    ttl: timedelta | None


def view_reads(store: FeatureStore, service: FeatureService) -> list[ViewRead]:
    reads = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        source = view.batch_source
        reads.append(
            ViewRead(
                name=projection.name_to_use(),
                path=source.path,
                timestamp=source.timestamp_field,
                created=source.created_timestamp_column or None,
                keys=[column.name for column in view.entity_columns],
                features=[feature.name for feature in projection.features],
                ttl=view.ttl if view.ttl and view.ttl.total_seconds() > 0 else None,
            )
        )
    return reads


def _check_preconditions(con: duckdb.DuckDBPyConnection, read: ViewRead) -> None:
    keys = ", ".join([*read.keys, read.timestamp])
    duplicates, late = con.execute(
        f"SELECT count(*) - count(DISTINCT ({keys})), "
        f"{f'count(*) FILTER (WHERE {read.created} > {read.timestamp})' if read.created else '0'} "
        f"FROM read_parquet('{read.path}')"
    ).fetchone()
    if duplicates:
        raise ValueError(
            f"{read.name}: {duplicates} rows share a key and event time; the ASOF path needs unique "
            "keys (use Feast with filter_by_created_timestamp=True)"
        )
    if late:
        raise ValueError(
            f"{read.name}: {late} rows were created after their event time; the ASOF path cannot "
            "apply a knowledge-time cutoff (use Feast with filter_by_created_timestamp=True)"
        )


def asof_historical_features(
    store: FeatureStore,
    service: FeatureService,
    entity_df: pd.DataFrame,
    check: bool = True,
    fills: dict[str, float] | None = None,
    derived: dict[str, str] | None = None,
    drop: tuple[str, ...] = (),
) -> pd.DataFrame:
    """The entity rows with every feature of ``service`` as of each row's ``event_timestamp``.

    ``fills`` replaces a missing value (absent or expired row) per feature, ``derived`` adds
    SQL expressions over the features (computed in DuckDB, not pandas), ``drop`` removes
    columns from the result. ``check=False`` skips the preconditions for tables whose
    contracts already guarantee them.
    """
    fills, derived = fills or {}, derived or {}
    reads = view_reads(store, service)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    entities = entity_df.reset_index(drop=True).assign(_row=lambda f: range(len(f)))
    con.register("entity_rows", entities)
    # Parquet stamps may be nanoseconds and entity stamps microseconds: compare both as TIMESTAMPTZ.
    con.execute(
        "CREATE VIEW entities AS SELECT * REPLACE (CAST(event_timestamp AS TIMESTAMPTZ) AS event_timestamp) "
        "FROM entity_rows"
    )
    selects, joins = ["e.*"], []
    for index, read in enumerate(reads):
        if check:
            _check_preconditions(con, read)
        alias = f"v{index}"
        on = " AND ".join(
            [*(f"e.{k} = {alias}.{k}" for k in read.keys), f"e.event_timestamp >= {alias}.{read.timestamp}"]
        )
        columns = ", ".join([*read.keys, f"CAST({read.timestamp} AS TIMESTAMPTZ) AS {read.timestamp}", *read.features])
        joins.append(f"ASOF LEFT JOIN (SELECT {columns} FROM read_parquet('{read.path}')) {alias} ON {on}")
        ttl_s = int(read.ttl.total_seconds()) if read.ttl is not None else None
        for feature in read.features:
            value = f"{alias}.{feature}"
            if ttl_s is not None:
                age = f"e.event_timestamp - {alias}.{read.timestamp}"
                value = f"CASE WHEN {age} <= INTERVAL {ttl_s} SECOND THEN {value} END"
            if feature in fills:
                value = f"coalesce(CAST({value} AS DOUBLE), {float(fills[feature])})"
            selects.append(f"{value} AS {feature}")
    joined = f"SELECT {', '.join(selects)} FROM entities e {' '.join(joins)}"
    extra = "".join(f", {expression} AS {name}" for name, expression in derived.items())
    excluded = f" EXCLUDE ({', '.join(drop)})" if drop else ""
    sql = f"SELECT *{excluded}{extra} FROM ({joined}) ORDER BY _row"
    return con.execute(sql).df().drop(columns="_row")
