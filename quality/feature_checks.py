"""Feature-level checks beyond the contract: a stored feature table that is valid row by row but
broken as a whole, such as a feature a code change made constant for every entity.

A contract cannot see it: every value is in range. Only the table's own history can, so each
partition is compared with the previous stored partitions of the same table.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from core import lake
from core.settings import RelaySettings
from feature_repo.tables import table_specs
from quality.records import write_check_result
from quality.rule_result import RuleResult, failed, passed

HISTORY_DAYS = 7  # how far back the previous partitions are looked for
MIN_HISTORY = 3  # fewer previous partitions: not evaluated


def constant_features(frame: pd.DataFrame, history: list[pd.DataFrame], features: list[str]) -> list[str]:
    """Features with one value on every row of ``frame`` that varied in every ``history`` frame."""
    return [
        name
        for name in features
        if name in frame.columns
        and len(frame) > 1
        and frame[name].nunique(dropna=False) == 1
        and all(name in past.columns and past[name].nunique(dropna=False) > 1 for past in history)
    ]


def _previous_partitions(directory, day: str) -> list[pd.DataFrame]:
    frames = []
    for back in range(1, HISTORY_DAYS + 1):
        path = lake.partition_dir(directory, (date.fromisoformat(day) - timedelta(days=back)).isoformat())
        if (path / "part.parquet").exists():
            frames.append(pd.read_parquet(path / "part.parquet"))
    return frames


def check_constant_features(settings: RelaySettings, table: str, days: list[str]) -> list[tuple[str, RuleResult]]:
    """Judge each stored partition of ``table`` and persist the result (a blocking check)."""
    directory = settings.features_dir / table
    features = [spec.name for spec in table_specs(table)]
    results = []
    for day in days:
        path = lake.partition_dir(directory, day) / "part.parquet"
        history = _previous_partitions(directory, day)
        if not path.exists():
            result = failed(day, None, f"{table} has no stored partition", {})
        elif len(history) < MIN_HISTORY:
            result = passed(day, f"not evaluated: {len(history)} earlier {table} partitions < {MIN_HISTORY}", {})
        else:
            frame = pd.read_parquet(path)
            constant = constant_features(frame, history, features)
            metrics = {"rows": len(frame), "history_partitions": len(history), "constant": ", ".join(constant)}
            if constant:
                value = frame[constant[0]].iloc[0]
                result = failed(
                    day,
                    constant[0],
                    f"{table}.{constant[0]} is {value} for all {len(frame)} rows but varied in each of the "
                    f"{len(history)} previous partitions (a code change that broke the feature?)",
                    metrics,
                )
            else:
                result = passed(day, f"no {table} feature became constant", metrics)
        write_check_result(settings, table, f"check_{table}_constant_features", day, result)
        results.append((day, result))
    return results
