"""One ranker training run as the pipeline sees it: fitted, calibrated, bundled, registered.

``train_and_register_ranker`` is the whole run, callable without an orchestrator; the frozen
``RankerRun`` it returns is what the ``ranker_model`` asset passes to the evaluation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from core import lake
from core.events import read_events
from core.settings import RelaySettings
from feature_repo.views import ranker_service_name
from training import registry
from training.calibration import plot_reliability
from training.ranker.candidates import POPULAR_CANDIDATES, POPULARITY_DAYS
from training.ranker.fit import (
    RETRIEVAL_K,
    fit_calibrated_ranker,
    make_bundle,
    retrieval_recall,
)
from training.ranker.lgbm import RankerConfig
from training.ranker.training_set import LABEL_DAYS, RankerTrainingData
from training.ranker.variants import relabel_by_dwell
from training.split import TemporalSplit
from training.topk import popular_items


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


def train_and_register_ranker(
    settings: RelaySettings,
    config: RankerConfig,
    training_set: RankerTrainingData,
    embedding_version: int,
    sasrec_version: int,
    split: TemporalSplit,
    work: Path,
    tags: dict[str, str] | None = None,
) -> RankerRun:
    """Train the ranker (LightGBM lambdarank or the neural one), calibrate it with isotonic
    regression on the window's last day, bundle it with the SASRec retrieval it depends on, and
    register it with its lineage (embedding and SASRec versions, feature service, partitions)."""
    frame = pd.read_parquet(training_set.path)
    with lake.connect(settings) as con:
        # The popular list as the training rows saw it: the POPULARITY_DAYS before the cut-off.
        start = split.holdout_start_ts - pd.Timedelta(days=POPULARITY_DAYS)
        recent_clicks = read_events(con, start=start, end=split.holdout_start_ts, event_type="click")
        if config.min_dwell_share > 0:
            window_clicks = read_events(con, end=split.holdout_start_ts, event_type="click")
    if config.min_dwell_share > 0:
        durations = lake.read_catalog(settings)
        frame = relabel_by_dwell(frame, window_clicks, durations, config.min_dwell_share, LABEL_DAYS)
    fitted = fit_calibrated_ranker(frame, config, popular_items(recent_clicks, POPULAR_CANDIDATES))
    result = fitted.result
    service = ranker_service_name(embedding_version)
    catalog = lake.read_catalog(settings)
    bundle = make_bundle(fitted, settings.embeddings_dir, embedding_version, split, service, catalog)
    recall = retrieval_recall(bundle, settings.embeddings_dir, embedding_version)
    calibration = fitted.ece()
    work.mkdir(parents=True, exist_ok=True)
    diagram = plot_reliability(
        {f"{config.kind} (calibrated)": (fitted.calibration["probability"], fitted.calibration["label"])},
        work / "reliability_calibration_day.png",
        "reliability on the calibration day",
    )
    lineage = {
        "embedding_version": embedding_version,
        "sasrec_version": sasrec_version,
        "feature_service": service,
        "ranker_kind": config.kind,
        **{f"partitions_{k}": v for k, v in split.as_dict().items()},
    }
    registry.configure(settings)
    with registry.tracked_run(run_name=f"ranker-{config.kind}"):
        registry.set_tags({"relay.stage": "ranker", **(tags or {})})
        registry.log_params(
            {
                **asdict(config),
                **split.as_dict(),
                "feature_service": service,
                "embedding_version": embedding_version,
                "training_set": Path(training_set.path).name,
            }
        )
        registry.log_metrics({**result.metrics, **calibration, f"retrieval_recall_at_{RETRIEVAL_K}": recall})
        registry.log_artifact(diagram, artifact_path="calibration")
        registered = registry.log_ranker(bundle, frame.head(50), settings.ranker_model_name, lineage)
    return RankerRun(
        version=registered.version,
        run_id=registered.run_id,
        embedding_version=embedding_version,
        kind=config.kind,
        best_iteration=result.best_iteration,
        metrics=dict(result.metrics),
        calibration=calibration,
        retrieval_recall=recall,
        feature_importance=result.ranker.feature_importance(),
        reliability_diagram=str(diagram),
        guard=result.guard_report.as_dict() if result.guard_report else {},
    )
