"""One SASRec training run as the pipeline sees it: trained, logged, registered.

The frozen result is what the ``sasrec_model`` asset returns and ``sasrec_embeddings`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SASRecRun:
    version: int  # registered version of ``relay-sasrec``
    run_id: str  # the MLflow run that logged it
    sha256: str  # digest of the final checkpoint
    launch: str = "in_process"
    warm_started_from: int | None = None
    train_clicks: int = 0
    sequences: int = 0
    best_epoch: int = 0
    fit_s: float = 0.0
    parameters: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_legacy(cls, stored: dict) -> SASRecRun:
        """The dict the ``sasrec_model`` asset returned before typed results."""
        return cls(version=int(stored["version"]), run_id=str(stored["run_id"]), sha256=str(stored["sha256"]))
