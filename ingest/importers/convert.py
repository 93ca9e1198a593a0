"""Turn an interaction log (who consumed what, when) into Relay's raw-log schema.

Implicit-feedback logs record only what users chose, never what they were shown. So the ranker
has contrast to learn from, each interaction becomes a one-slate session: the chosen item plus
``negatives`` items drawn uniformly (seeded) from the catalogue as unclicked impressions, with
their true sampling probability as propensity. ``negatives=0`` imports the choices alone.
Timespent carries the rating when there is one (``rating x 60`` seconds, against a catalogue
duration of 300 s), so engagement features stay informative. Ties on equal timestamps keep
the input order: event ids encode it, and every reader orders by (ts, event_id).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.schema import RAW_LOG_COLUMNS

SECONDS_PER_RATING_POINT = 60.0
CATALOG_DURATION_S = 300.0


@dataclass(frozen=True)
class Converted:
    days: dict[str, pd.DataFrame]
    catalog: pd.DataFrame
    interactions: int
    first_day: str
    last_day: str


def interactions_to_raw_logs(
    interactions: pd.DataFrame,
    catalog: pd.DataFrame,
    negatives: int = 4,
    seed: int = 0,
    source: str = "import",
) -> Converted:
    """``interactions`` has user_id, item_id, ts (UTC) and optionally rating, in tie-breaking order."""
    frame = interactions.reset_index(drop=True)
    n = len(frame)
    if n == 0:
        raise ValueError("the interaction log is empty")
    rng = np.random.default_rng(seed)
    items = catalog["item_id"].to_numpy(np.int64)
    slate = negatives + 1
    order = np.arange(n)
    chosen_position = rng.integers(1, slate + 1, size=n)
    # Negatives: uniform over the catalogue, never the chosen item itself.
    drawn = rng.choice(items, size=(n, max(negatives, 0)))
    clash = drawn == frame["item_id"].to_numpy()[:, None]
    drawn[clash] = rng.choice(items, size=int(clash.sum()))
    stamp = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]")
    rating = frame["rating"].to_numpy(float) if "rating" in frame.columns else np.zeros(n)
    session = np.char.add(f"{source}-s", order.astype(str))

    chosen = frame["item_id"].to_numpy(np.int64)
    timespent = np.maximum(rating, 0.0) * SECONDS_PER_RATING_POINT
    # (tag, items, type, position, propensity, timespent); the k-th negative takes the k-th
    # position the chosen item does not occupy. Tags sort impressions before the click.
    specs = [
        (
            f"i{k}",
            drawn[:, k],
            "impression",
            np.where(chosen_position <= k + 1, k + 2, k + 1),
            negatives / len(items),
            0.0,
        )
        for k in range(negatives)
    ]
    specs += [
        ("i", chosen, "impression", chosen_position, 1.0, 0.0),
        ("z", chosen, "click", chosen_position, 1.0, timespent),
    ]
    rows = [_events(order, stamp, frame["user_id"], session, source, *spec) for spec in specs]
    events = pd.concat(rows, ignore_index=True).sort_values(["ts", "event_id"], kind="stable")
    days = {
        str(day): part[RAW_LOG_COLUMNS].reset_index(drop=True)
        for day, part in events.groupby(events["ts"].dt.strftime("%Y-%m-%d"), sort=True)
    }
    return Converted(days=days, catalog=catalog, interactions=n, first_day=min(days), last_day=max(days))


def _events(order, ts, users, session, source, tag, items, kind, position, propensity, timespent) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": np.char.add(np.char.add(f"{source}-", np.char.zfill(order.astype(str), 9)), f"-{tag}"),
            "ts": ts,
            "user_id": np.asarray(users, dtype=np.int64),
            "item_id": np.asarray(items, dtype=np.int64),
            "event_type": kind,
            "position": np.asarray(position, dtype=np.int64),
            "propensity": np.full(len(order), float(propensity)),
            "timespent_s": np.broadcast_to(np.asarray(timespent, dtype=float), len(order)).copy(),
            "session_id": session,
        }
    )


def dense_ids(values: pd.Series) -> tuple[pd.Series, pd.DataFrame]:
    """Map arbitrary ids to 1..N (Relay's ids are positive integers); returns the mapping too."""
    codes, uniques = pd.factorize(values, sort=True)
    mapping = pd.DataFrame({"external_id": uniques.astype(str), "relay_id": np.arange(1, len(uniques) + 1)})
    return pd.Series(codes + 1, index=values.index, dtype="int64"), mapping
