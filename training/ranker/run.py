"""One ranker training run as the pipeline sees it: fitted, calibrated, bundled, registered."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RankerRun:
    version: int  # registered version of ``relay-ranker``
    run_id: str
    embedding_version: int  # the SASRec embedding version its features read
    kind: str = "lightgbm"
    best_iteration: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, float] = field(default_factory=dict)
    retrieval_recall: float = float("nan")
    feature_importance: dict[str, float] = field(default_factory=dict)
    reliability_diagram: str = ""
    guard: dict = field(default_factory=dict)

    @classmethod
    def from_legacy(cls, stored: dict) -> RankerRun:
        """The dict the ``ranker_model`` asset returned before typed results."""
        return cls(
            version=int(stored["version"]),
            run_id=str(stored["run_id"]),
            embedding_version=int(stored["embedding_version"]),
        )
