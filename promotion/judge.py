"""Judge a challenger: it and the champion on the identical holdout, compared, decided by the policy.

Everything the gate saw is recorded where people look for it: the metrics and the verdict on
the challenger's MLflow run, the verdict as tags of its registered version, an HTML report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from feast import FeatureStore

from core import lake
from core.settings import RelaySettings
from evaluation.comparison import Comparison, compare
from evaluation.holdout import K, holdout_data, model_view
from evaluation.lists import metrics_table
from promotion.outcome import GateOutcome
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, Verdict, decide
from promotion.report import report_dir, write_report
from training import registry
from training.ranker.run import RankerRun
from training.split import TemporalSplit

REASON_LIMIT = 5000  # MLflow caps a tag value at 5000 characters


def judge_challenger(
    settings: RelaySettings,
    store: FeatureStore,
    challenger_run: RankerRun,
    split: TemporalSplit,
    policy_path: Path = DEFAULT_POLICY,
) -> GateOutcome:
    """Accuracy, beyond-accuracy, calibration, score shift and business-rule replay of the
    challenger against the current champion (if any, and if it is another version), with
    bootstrap CIs, the policy's verdict and an HTML report; logged and tagged in MLflow."""
    policy = PromotionPolicy.load(policy_path)
    registry.configure(settings)
    with lake.connect(settings) as con:
        data = holdout_data(con, split, lake.read_catalog(settings))

    version = challenger_run.version
    bundle, _ = registry.load_verified_ranker(settings.ranker_model_name, version)
    challenger, challenger_metrics = model_view(store, bundle, f"challenger v{version}", version, data)
    results = {f"challenger v{version}": challenger_metrics}
    champion = None
    current = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if current is not None and int(current.version) != version:
        champion_bundle, champion_version = registry.load_verified_ranker(
            settings.ranker_model_name, int(current.version)
        )
        champion, champion_metrics = model_view(
            store, champion_bundle, f"champion v{champion_version}", champion_version, data
        )
        results[f"champion v{champion_version}"] = champion_metrics

    comparison = compare(challenger, champion, data.holdout, list(policy.business_thresholds))
    verdict = decide(comparison, policy)
    table = metrics_table(results, k=K)
    header = {
        "challenger": version,
        "champion": champion.version if champion else "none",
        "holdout": f"{split.holdout_start}..{split.last_day}",
        "users": len(data.truth.users),
    }
    views = [challenger] + ([champion] if champion else [])
    report = write_report(
        report_dir(settings.root, version),
        verdict,
        comparison,
        views,
        data.holdout.impression_labels,
        header,
    )
    flat = {
        f"holdout_{'' if population == 'all' else population + '_'}{model}_{name}": value
        for population, by_model in challenger_metrics.items()
        for model, metrics in by_model.items()
        for name, value in metrics.as_dict(K).items()
    }
    _record(settings, challenger_run, verdict, comparison, flat, report)
    return GateOutcome(
        candidate_version=version,
        candidate_run_id=challenger_run.run_id,
        champion_version=champion.version if champion else None,
        passed=verdict.passed,
        reason=verdict.reason,
        rules=tuple(verdict.as_dict()["rules"]),
        table=tuple(table.to_dict(orient="records")),
        candidate_ndcg_at_10=float(comparison.get("ndcg_at_10").challenger),
        holdout_users=len(data.truth.users),
        report=str(report),
        comparison=tuple(comparison.frame().to_dict(orient="records")),
    )


def _record(
    settings: RelaySettings,
    challenger_run: RankerRun,
    verdict: Verdict,
    comparison: Comparison,
    holdout_metrics: dict[str, float],
    report: Path,
) -> None:
    """The gate's numbers and verdict on the challenger's run, and the verdict on its version."""
    gate = {"gate": "passed" if verdict.passed else "refused", "gate_reason": verdict.reason[:REASON_LIMIT]}
    with registry.tracked_run(run_id=challenger_run.run_id):
        registry.log_metrics(holdout_metrics)
        registry.log_metrics(
            {f"gate_{row.metric}": row.challenger for row in comparison.rows if np.isfinite(row.challenger)}
        )
        registry.log_artifacts(report.parent, artifact_path="promotion_report")
        registry.set_tags(gate)
    registry.tag_version(settings.ranker_model_name, challenger_run.version, gate)
