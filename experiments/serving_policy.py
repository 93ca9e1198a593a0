"""A frozen model version as a policy of the simulated world, through the real request path.

Each call is one request to ``serving``'s ``Recommender`` (Feast online features, the champion
bundle's configuration, calibration, business rules) at the simulated request time, so an
experiment measures what production would serve, not a re-implementation of it. Items the user
clicked during the experiment are excluded the way a client excludes what it has shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from serving.feedback import ImpressionLog
from serving.recommender import Recommender
from simulator.environment import ServedSlate

SLATE_SIZE = 10


@dataclass
class ServingPolicy:
    recommender: Recommender
    k: int = SLATE_SIZE
    seed: int = 0
    impressions: ImpressionLog | None = None  # where served slates land, as in production
    consumed: dict[int, list[int]] = field(default_factory=dict)
    requests: int = 0

    @property
    def version(self) -> int:
        return self.recommender.model_version

    @property
    def tag(self) -> str:
        return f"srv-v{self.version}"

    def __call__(self, user_id: int, ts: pd.Timestamp) -> ServedSlate:
        self.recommender.clock = lambda: ts  # the features' request time is the simulated time
        rng = np.random.default_rng([self.seed, int(user_id), int(ts.value) % 2**32])
        served = self.recommender.recommend(int(user_id), self.k, self.consumed.get(int(user_id)), rng)
        self.requests += 1
        if self.impressions is not None:
            request_id = f"{ts.value}-{user_id}"  # the A/B's outcomes land under the same session id
            self.impressions.record(
                request_id, int(user_id), served.item_ids, served.propensities, ts, model_version=self.version
            )
        return ServedSlate(
            item_ids=np.asarray(served.item_ids, dtype=np.int64),
            propensities=np.asarray(served.propensities, dtype=np.float64),
            tag=self.tag,
        )

    def observe(self, logs: pd.DataFrame) -> None:
        """Remember the items users clicked, so later requests exclude them."""
        clicks = logs[logs["event_type"] == "click"]
        for user_id, item_id in zip(clicks["user_id"].to_numpy(), clicks["item_id"].to_numpy(), strict=True):
            self.consumed.setdefault(int(user_id), []).append(int(item_id))


@dataclass
class SplitPolicy:
    """Routes each request to its user's arm (``experiments.arms``)."""

    control: ServingPolicy
    treatment: ServingPolicy
    treated: dict[int, bool]

    def __call__(self, user_id: int, ts: pd.Timestamp) -> ServedSlate:
        arm = self.treatment if self.treated[int(user_id)] else self.control
        return arm(user_id, ts)

    def observe(self, logs: pd.DataFrame) -> None:
        self.control.observe(logs)
        self.treatment.observe(logs)
