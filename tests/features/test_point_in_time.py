"""Point-in-time correctness, proven: Feast retrieval against a brute-force oracle computed from
clean events, the ASOF path against Feast, a canary from the future, created-timestamp ties,
and the online store against the offline store at materialization time."""

from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import torch
from feast import FeatureService, FeatureView, Field, FileSource
from feast.data_format import ParquetFormat
from feast.types import Float64

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from feature_repo.entities import user
from feature_repo.tables import RANKER_FEATURES
from feature_repo.views import ranker_service_name
from features.asof import asof_historical_features
from features.feast_store import open_store
from features.retrieval import historical_features, online_features, with_categories
from tests.pipeline import materialize_days, tiny_world
from training.ranker.fit import build_training_set, item_vectors
from training.ranker.training_set import LABEL_DAYS, labelled_rows
from training.sasrec.data import Vocabulary
from training.sasrec.embedding_tables import serve_embeddings, write_embedding_tables
from training.sasrec.model import SASRec, SASRecConfig

pytestmark = pytest.mark.slow
VERSION = 1
SAMPLE = 3_000


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """36 days through the data job, plus embedding tables of an (untrained) SASRec as version 1."""
    settings = RelaySettings(home=tmp_path_factory.mktemp("pit") / "var")
    settings.ensure_dirs()
    # 300 users: in a 150-user world one heavy user's Poisson day can pass 10% of the rows, which
    # the single-value-share data check rightly blocks; this module tests point-in-time joins.
    config = tiny_world(settings, days=36, users=300, items=80, seed=11)
    last = config.start + timedelta(days=config.n_days - 1)
    assert materialize_days(settings, config.start_date, last.isoformat(), dg.DagsterInstance.ephemeral()).success
    with lake.connect(settings) as con:
        events = read_events(con)
    torch.manual_seed(0)
    vocabulary = Vocabulary.from_items(events["item_id"].to_numpy())
    model = SASRec(SASRecConfig(n_items=len(vocabulary), dim=16, n_blocks=1, dropout=0.0)).eval()
    clicks = events[events["event_type"] == "click"]
    write_embedding_tables(settings, model, vocabulary, clicks, VERSION, pd.Timestamp(config.start_date, tz="UTC"))
    store = open_store(settings)
    first = pd.Timestamp(config.start_date, tz="UTC")
    end = pd.Timestamp(last.isoformat(), tz="UTC") + pd.Timedelta(days=1)
    loads = serve_embeddings(store, settings, VERSION, first, end)
    return settings, store, events, lake.read_catalog(settings), first, end, loads


def _sample(events: pd.DataFrame, catalog: pd.DataFrame, first: pd.Timestamp, end: pd.Timestamp, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    span = (end - first).total_seconds()
    return pd.DataFrame(
        {
            "user_id": rng.integers(1, events["user_id"].max() + 1, n),
            "item_id": rng.choice(catalog["item_id"].to_numpy(), n),
            "event_timestamp": first
            + pd.Timedelta(days=2)
            + pd.to_timedelta(rng.uniform(0, span - 2 * 86400, n), unit="s"),
        }
    )


def _window(frame: pd.DataFrame, ts_col: str, days: int) -> pd.Series:
    end = frame[ts_col].dt.floor("D")  # features as of the last midnight: events strictly before it
    return (frame["ts"] >= end - pd.Timedelta(days=days)) & (frame["ts"] < end)


def _oracle(entities: pd.DataFrame, events: pd.DataFrame, catalog: pd.DataFrame) -> pd.DataFrame:
    """Every compared feature recomputed from clean events, row by row, with no shared code."""
    rows = with_categories(entities, catalog).reset_index(names="row")
    ev = events.merge(catalog, on="item_id", how="left")
    ev["completion"] = np.minimum(ev["timespent_s"] / ev["duration_s"], 1.0)
    out = pd.DataFrame(index=rows["row"])
    by_user = rows.merge(ev, on="user_id", suffixes=("", "_event"))
    for w in (1, 7, 30):
        inside = by_user[_window(by_user, "event_timestamp", w)]
        clicks = inside[inside["event_type"] == "click"]
        impressions = inside[inside["event_type"] == "impression"].groupby("row").size()
        out[f"user_impressions_{w}d"] = impressions.reindex(out.index, fill_value=0).astype(float)
        out[f"user_clicks_{w}d"] = clicks.groupby("row").size().reindex(out.index, fill_value=0).astype(float)
        out[f"user_ctr_{w}d"] = (out[f"user_clicks_{w}d"] / out[f"user_impressions_{w}d"]).where(
            out[f"user_impressions_{w}d"] > 0
        )
        out[f"user_timespent_sum_{w}d"] = clicks.groupby("row")["timespent_s"].sum().reindex(out.index, fill_value=0.0)
        out[f"user_categories_{w}d"] = (
            clicks.groupby("row")["category_event"].nunique().reindex(out.index, fill_value=0).astype(float)
        )
    inside30 = by_user[_window(by_user, "event_timestamp", 30)]
    last = inside30.groupby("row")["ts"].max()
    out["user_recency_s"] = ((rows.set_index("row")["event_timestamp"] - last).dt.total_seconds()).reindex(out.index)

    by_item = rows.merge(ev, on="item_id", suffixes=("", "_event"))
    for w in (1, 7, 30):
        inside = by_item[_window(by_item, "event_timestamp", w)]
        out[f"item_clicks_{w}d"] = (
            (inside["event_type"] == "click")
            .groupby(inside["row"])
            .sum()
            .reindex(out.index, fill_value=0)
            .astype(float)
        )
    inside7 = by_item[_window(by_item, "event_timestamp", 7)]
    clicks7 = inside7[inside7["event_type"] == "click"]
    out["item_completion_mean_7d"] = clicks7.groupby("row")["completion"].mean().reindex(out.index)

    by_uc = rows.merge(ev, left_on=["user_id", "category"], right_on=["user_id", "category"], suffixes=("", "_event"))
    inside = by_uc[_window(by_uc, "event_timestamp", 30)]
    shown = (inside["event_type"] == "impression").groupby(inside["row"]).sum().reindex(out.index, fill_value=0)
    clicked = (inside["event_type"] == "click").groupby(inside["row"]).sum().reindex(out.index, fill_value=0)
    out["uc_clicks_30d"] = clicked.astype(float)
    out["uc_affinity_30d"] = (clicked / out["user_clicks_30d"]).where((shown > 0) & (out["user_clicks_30d"] > 0))
    return out


def test_feast_retrieval_matches_a_brute_force_oracle(world):
    _, store, events, catalog, first, end, _ = world
    entities = _sample(events, catalog, first, end, SAMPLE)
    got = historical_features(store, entities, VERSION, catalog, method="feast")
    expected = _oracle(entities, events, catalog)
    for column in expected.columns:
        np.testing.assert_allclose(
            got[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-6,
            equal_nan=True,
            err_msg=column,
        )
    assert (got["user_clicks_30d"] > 0).mean() > 0.5  # the sample exercises real windows, not only empty ones


def test_asof_path_returns_exactly_what_feast_returns(world):
    _, store, events, catalog, first, end, _ = world
    entities = _sample(events, catalog, first, end, SAMPLE, seed=1)
    feast = historical_features(store, entities, VERSION, catalog, method="feast")
    asof = historical_features(store, entities, VERSION, catalog, method="asof")
    # Equal up to float32 rounding of the embedding dot product (DuckDB vs numpy).
    pd.testing.assert_frame_equal(
        asof[list(RANKER_FEATURES)], feast[list(RANKER_FEATURES)], check_exact=False, rtol=1e-5, atol=1e-6
    )
    assert asof["sasrec_score"].notna().mean() > 0.5  # the embeddings were joined, not just missing


def _canary_view(settings: RelaySettings, name: str, frame: pd.DataFrame) -> FeatureView:
    path = settings.lake_dir / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    source = FileSource(
        name=f"{name}_source",
        path=str(path),
        file_format=ParquetFormat(),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
    )
    return FeatureView(
        name=name, entities=[user], ttl=timedelta(0), schema=[Field(name=f"{name}_value", dtype=Float64)], source=source
    )


def test_a_value_known_only_after_the_label_time_comes_back_null(world):
    settings, store, _, _, first, _, _ = world
    users = np.arange(1, 101)
    label_time = first + pd.Timedelta(days=10) + pd.to_timedelta(users * 600, unit="s")  # one row per user
    entities = pd.DataFrame({"user_id": users, "event_timestamp": label_time})
    future = _canary_view(
        settings,
        "canary_future",
        pd.DataFrame(
            {
                "user_id": users,
                "event_timestamp": label_time + pd.Timedelta(seconds=1),
                "created_timestamp": label_time + pd.Timedelta(seconds=1),
                "canary_future_value": 1.0,
            }
        ),
    )
    past = _canary_view(
        settings,
        "canary_past",
        pd.DataFrame(
            {
                "user_id": users,
                "event_timestamp": label_time - pd.Timedelta(seconds=1),
                "created_timestamp": label_time - pd.Timedelta(seconds=1),
                "canary_past_value": 1.0,
            }
        ),
    )
    service = FeatureService(name="canaries", features=[future, past])
    store.apply([future, past, service])
    by_feast = store.get_historical_features(
        entity_df=entities, features=service, filter_by_created_timestamp=True
    ).to_df()
    by_asof = asof_historical_features(store, service, entities)
    for frame in (by_feast, by_asof):
        assert frame["canary_future_value"].isna().all()
        assert (frame["canary_past_value"] == 1.0).all()  # the control: a value known in time is returned


def test_created_timestamp_ties_do_not_leak_a_later_value(world):
    settings, store, _, _, first, _, _ = world
    label_time = first + pd.Timedelta(days=5, hours=12)
    event_time = first + pd.Timedelta(days=5)
    tie = _canary_view(
        settings,
        "backfilled",
        pd.DataFrame(
            {
                "user_id": [7, 7],
                "event_timestamp": [event_time, event_time],
                "created_timestamp": [event_time, label_time + pd.Timedelta(days=3)],  # a backfill wrote v2 later
                "backfilled_value": [1.0, 2.0],
            }
        ),
    )
    store.apply([tie])
    entities = pd.DataFrame({"user_id": [7], "event_timestamp": [label_time]})
    known_then = store.get_historical_features(
        entity_df=entities, features=["backfilled:backfilled_value"], filter_by_created_timestamp=True
    ).to_df()
    leaked = store.get_historical_features(entity_df=entities, features=["backfilled:backfilled_value"]).to_df()
    assert known_then["backfilled_value"].tolist() == [1.0]  # what Relay's Feast path asks for
    assert leaked["backfilled_value"].tolist() == [2.0]  # Feast's default: the value written after the label time
    with pytest.raises(ValueError, match="share a key and event time"):
        asof_historical_features(store, FeatureService(name="ties", features=[tie]), entities)


def test_online_store_serves_exactly_the_offline_values_at_materialization_time(world):
    _, store, events, catalog, _, end, _ = world
    now = end + pd.Timedelta(hours=1)  # the online store was materialized through `end`
    rng = np.random.default_rng(3)
    for user_id in rng.choice(events["user_id"].unique(), 25, replace=False):
        items = rng.choice(catalog["item_id"].to_numpy(), 8, replace=False)
        categories = with_categories(pd.DataFrame({"item_id": items}), catalog)["category"].to_numpy()
        online = online_features(store, int(user_id), items, categories, VERSION, now)
        offline = historical_features(
            store,
            pd.DataFrame({"user_id": int(user_id), "item_id": items, "event_timestamp": now}),
            VERSION,
            catalog,
            method="feast",
        )
        pd.testing.assert_frame_equal(
            online[list(RANKER_FEATURES)].reset_index(drop=True),
            offline[list(RANKER_FEATURES)].reset_index(drop=True),
            check_exact=False,
            rtol=1e-6,
        )


def test_online_embedding_loads_are_incremental(world):
    settings, store, _, _, first, end, first_loads = world
    assert all(load["rows"] > 0 for load in first_loads.values())
    again = serve_embeddings(store, settings, VERSION, first, end)
    assert all(load["rows"] == 0 for load in again.values())  # nothing new since the last load
    assert {v["from"] for v in again.values()} == {(end + pd.Timedelta(days=2)).isoformat()}
    assert ranker_service_name(VERSION) in {s.name for s in store.list_feature_services()}


def test_the_candidate_training_set_is_point_in_time(world):
    """The ranker's candidate rows: features equal the oracle as of each row's midnight, the
    retrieval ranks follow the as-of-day embedding the features read, and labels are the user's
    clicks in the label horizon, never past the window's end."""
    settings, store, events, catalog, _, end, _ = world
    window = (end - pd.Timedelta(days=6), end)
    inside = events[(events["ts"] >= window[0]) & (events["ts"] < window[1])]
    days = list(pd.date_range(window[0], window[1] - pd.Timedelta(days=1), freq="D"))
    vectors = item_vectors(settings.embeddings_dir, VERSION)
    rows = labelled_rows(store, inside, vectors, VERSION, days, real_impressions=True, label_days=LABEL_DAYS)
    frame, _ = build_training_set(store, rows, VERSION, window, catalog, method="feast")
    assert set(frame["source"]) == {"candidate", "impression", "calibration"}

    checked = frame.groupby("source").sample(n=500, replace=True, random_state=0).drop_duplicates()
    expected = _oracle(checked.rename(columns={"ts": "event_timestamp"}).reset_index(drop=True), events, catalog)
    for column in expected.columns:
        np.testing.assert_allclose(
            checked[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=1e-9,
            atol=1e-6,
            equal_nan=True,
            err_msg=column,
        )
    candidates = frame[frame["source"] == "candidate"]
    assert (candidates["ts"] == candidates["ts"].dt.floor("D")).all()
    for _, session in candidates.groupby("session_id"):
        scores = session.sort_values("retrieval_rank")["sasrec_score"].to_numpy()
        assert (np.diff(scores) <= 1e-4).all()  # ranked by the same as-of-day embedding
    clicks = inside[inside["event_type"] == "click"]
    for row in candidates.sample(200, random_state=0).itertuples():
        horizon = (clicks["ts"] >= row.ts) & (clicks["ts"] < row.ts + pd.Timedelta(days=LABEL_DAYS))
        clicked = ((clicks["user_id"] == row.user_id) & (clicks["item_id"] == row.item_id) & horizon).any()
        assert row.label == int(clicked)
