"""The feature tables' one definition: names, columns, types, ranges and fill rules.

The DuckDB SQL produces these columns, the Feast views declare them, the pandera contracts
and the training/serving guard take their ranges from here, and retrieval fills absent
entities with ``fill``. Change a feature here and every layer follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

USER_FEATURES = "user_features"
ITEM_FEATURES = "item_features"
USER_CATEGORY_FEATURES = "user_category_features"
FEATURE_TABLES = (USER_FEATURES, ITEM_FEATURES, USER_CATEGORY_FEATURES)
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    USER_FEATURES: ("user_id",),
    ITEM_FEATURES: ("item_id",),
    USER_CATEGORY_FEATURES: ("user_id", "category"),
}
WINDOWS = (1, 7, 30)
MAX_TIMESPENT_S = 24 * 3600.0
SCORE_LIMIT = 1e4


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    table: str | None  # None: computed at request time from other features
    kind: str  # "int64" or "float64"
    low: float | None = None
    high: float | None = None
    nullable: bool = False  # may the stored value be null (an undefined ratio)?
    fill: float | None = 0.0  # value when the entity has no row in the window; None keeps it missing
    description: str = ""


def _user_specs() -> list[FeatureSpec]:
    specs = []
    for w in WINDOWS:
        specs += [
            FeatureSpec(f"user_impressions_{w}d", USER_FEATURES, "int64", 0, None, description=f"impressions in {w}d"),
            FeatureSpec(f"user_clicks_{w}d", USER_FEATURES, "int64", 0, None, description=f"clicks in {w}d"),
            FeatureSpec(f"user_ctr_{w}d", USER_FEATURES, "float64", 0, 1, True, None, f"clicks / impressions in {w}d"),
            FeatureSpec(
                f"user_timespent_sum_{w}d",
                USER_FEATURES,
                "float64",
                0,
                30 * MAX_TIMESPENT_S,
                description=f"seconds spent on clicked items in {w}d",
            ),
            FeatureSpec(
                f"user_timespent_mean_{w}d",
                USER_FEATURES,
                "float64",
                0,
                MAX_TIMESPENT_S,
                True,
                None,
                f"mean seconds per click in {w}d",
            ),
            FeatureSpec(
                f"user_categories_{w}d",
                USER_FEATURES,
                "int64",
                0,
                None,
                description=f"distinct categories clicked in {w}d",
            ),
        ]
    specs += [
        FeatureSpec(
            "user_active_days_30d", USER_FEATURES, "int64", 0, 30, description="days with events in 30d (0: tombstone)"
        ),
        FeatureSpec(
            "user_last_event_ts",
            USER_FEATURES,
            "float64",
            0,
            None,
            nullable=True,  # null on the tombstone row
            fill=None,
            description="epoch seconds of the user's last event (for recency)",
        ),
    ]
    return specs


def _item_specs() -> list[FeatureSpec]:
    specs = []
    for w in WINDOWS:
        specs += [
            FeatureSpec(f"item_impressions_{w}d", ITEM_FEATURES, "int64", 0, None, description=f"impressions in {w}d"),
            FeatureSpec(f"item_clicks_{w}d", ITEM_FEATURES, "int64", 0, None, description=f"clicks in {w}d"),
        ]
    for w in (7, 30):
        specs += [
            FeatureSpec(f"item_ctr_{w}d", ITEM_FEATURES, "float64", 0, 1, True, None, f"clicks / impressions in {w}d"),
            FeatureSpec(
                f"item_completion_mean_{w}d",
                ITEM_FEATURES,
                "float64",
                0,
                1,
                True,
                None,
                f"mean share of the item consumed per click in {w}d",
            ),
        ]
    return specs


def _user_category_specs() -> list[FeatureSpec]:
    return [
        FeatureSpec(
            "uc_impressions_30d",
            USER_CATEGORY_FEATURES,
            "int64",
            0,
            None,
            description="impressions of the category to the user in 30d",
        ),
        FeatureSpec(
            "uc_clicks_30d", USER_CATEGORY_FEATURES, "int64", 0, None, description="clicks in the category in 30d"
        ),
        FeatureSpec(
            "uc_ctr_30d", USER_CATEGORY_FEATURES, "float64", 0, 1, True, None, "the user's CTR on the category"
        ),
        FeatureSpec(
            "uc_affinity_30d",
            USER_CATEGORY_FEATURES,
            "float64",
            0,
            1,
            True,
            None,
            "share of the user's 30d clicks that fell in the category",
        ),
    ]


MAX_RETRIEVAL_RANK = 10_000
ON_THE_FLY = [
    FeatureSpec("user_recency_s", None, "float64", 0, None, True, None, "seconds since the user's last event"),
    FeatureSpec("sasrec_score", None, "float64", -SCORE_LIMIT, SCORE_LIMIT, True, None, "SASRec user-item score"),
    # Known only where the first stage ran: serving and the candidate rows carry it with the entity.
    FeatureSpec("retrieval_rank", None, "float64", 0, MAX_RETRIEVAL_RANK, True, None, "0-based rank in retrieval"),
]
SPECS: dict[str, FeatureSpec] = {
    s.name: s for s in [*_user_specs(), *_item_specs(), *_user_category_specs(), *ON_THE_FLY]
}


def table_specs(table: str) -> list[FeatureSpec]:
    return [s for s in SPECS.values() if s.table == table]


def table_columns(table: str) -> dict[str, str]:
    return {s.name: s.kind for s in table_specs(table)}


# The ranker reads every stored feature except the raw timestamp (it sees recency instead).
RANKER_FEATURES: tuple[str, ...] = tuple(name for name in SPECS if name != "user_last_event_ts")
USER_FEATURE_COLUMNS = table_columns(USER_FEATURES)
ITEM_FEATURE_COLUMNS = table_columns(ITEM_FEATURES)
USER_CATEGORY_FEATURE_COLUMNS = table_columns(USER_CATEGORY_FEATURES)


def table_dir(features_dir: Path, table: str) -> Path:
    return features_dir / table


def table_glob(features_dir: Path, table: str) -> str:
    """Glob over the table's daily partitions (``date=YYYY-MM-DD/part.parquet``)."""
    return str(table_dir(features_dir, table) / "*" / "*.parquet")


def embedding_dir(embeddings_dir: Path, version: int) -> Path:
    return embeddings_dir / f"v{version}"


def embedding_versions(embeddings_dir: Path) -> list[int]:
    """Embedding model versions with tables on disk, ascending."""
    if not embeddings_dir.exists():
        return []
    found = []
    for path in embeddings_dir.glob("v*"):
        if path.is_dir() and path.name[1:].isdigit() and (path / "user_embeddings.parquet").exists():
            found.append(int(path.name[1:]))
    return sorted(found)
