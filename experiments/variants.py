"""Named ranker variants: challengers that differ from the champion the way real ones do.

``relay abtest --treatment-config NAME`` trains one of these as a challenger (registered, judged,
never promoted) and tests it online; ``benchmarks/offline_online.py`` builds its pairs from them.
Each is a plain ``RankerConfig``, so the Dagster launchpad can set the same fields by hand.
"""

from __future__ import annotations

from dataclasses import asdict

from feature_repo.tables import RANKER_FEATURES
from training.ranker.lgbm import RankerConfig


def _all_but(*prefixes: str, keep: tuple[str, ...] = ()) -> str:
    """The features to drop so that only names starting with ``prefixes`` (or in ``keep``) stay."""
    return ",".join(f for f in RANKER_FEATURES if not f.startswith(prefixes) and f not in keep)


def _only(*prefixes: str) -> str:
    return ",".join(f for f in RANKER_FEATURES if f.startswith(prefixes))


VARIANTS: dict[str, RankerConfig] = {
    # Clicks as the only signal, through the items' click appeal: ranks each user's pool by how
    # clicky its items are. Clickbait wins clicks and loses time spent.
    "clickbait": RankerConfig(drop_features=_all_but("item_ctr", "item_clicks")),
    # Long clicks as the label: a click counts only with half the item's duration spent on it.
    "long_clicks": RankerConfig(min_dwell_share=0.5),
    "fewer_features": RankerConfig(drop_features=_only("uc_", "user_")),
    "popularity_heavy": RankerConfig(drop_features=_all_but("item_", keep=("retrieval_rank",))),
    "no_retrieval_signal": RankerConfig(drop_features="sasrec_score,retrieval_rank"),
    "seed_1": RankerConfig(seed=1, subsample=0.7),
    "shallow": RankerConfig(num_leaves=7, n_estimators=120, min_child_samples=200),
    "lambdarank": RankerConfig(objective="lambdarank"),
}


def variant(name: str) -> RankerConfig:
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
    return VARIANTS[name]


def variant_run_config(name: str) -> dict:
    """The variant as the ``ranker_model`` asset's Dagster run config."""
    return {"ops": {"ranker_model": {"config": asdict(variant(name))}}}
