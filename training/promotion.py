"""The promotion rule: a challenger replaces the champion only if it is better on the same window."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    candidate_version: int
    champion_version: int | None
    metric: str
    candidate_value: float
    champion_value: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def decide_promotion(
    candidate_version: int,
    candidate_value: float,
    champion_version: int | None,
    champion_value: float | None,
    metric: str = "ndcg_at_10",
    min_improvement: float = 0.0,
) -> PromotionDecision:
    """Promote when there is no champion, or the candidate beats it by more than ``min_improvement``."""

    def decision(promote: bool, reason: str) -> PromotionDecision:
        return PromotionDecision(
            promote, reason, candidate_version, champion_version, metric, candidate_value, champion_value
        )

    if not math.isfinite(candidate_value):
        return decision(False, f"candidate v{candidate_version} {metric} is not finite ({candidate_value})")
    if champion_version is None or champion_value is None:
        return decision(True, f"no champion yet; candidate v{candidate_version} {metric}={candidate_value:.4f}")
    if champion_version == candidate_version:
        return decision(False, f"candidate v{candidate_version} is already the champion")
    delta = candidate_value - champion_value
    if delta > min_improvement:
        return decision(
            True,
            f"candidate v{candidate_version} {metric}={candidate_value:.4f} beats champion v{champion_version} "
            f"{champion_value:.4f} by {delta:+.4f}",
        )
    return decision(
        False,
        f"candidate v{candidate_version} {metric}={candidate_value:.4f} does not beat champion v{champion_version} "
        f"{champion_value:.4f} (delta {delta:+.4f} <= {min_improvement})",
    )
