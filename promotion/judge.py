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
from evaluation.comparison import Comparison, Holdout, ModelView, compare
from evaluation.holdout import K, configuration_views, holdout_data
from evaluation.lists import metrics_table
from promotion.outcome import GateOutcome
from promotion.policy import DEFAULT_POLICY, PromotionPolicy, Verdict, decide
from promotion.report import report_dir, write_report
from training import registry
from training.ranker.bundle import CONFIGURATIONS, TWO_STAGE
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
    """Each configuration of the challenger (popularity, the first stage alone, the two-stage
    model) against the champion as it serves, on the identical holdout and served lists:
    accuracy, beyond-accuracy, calibration, score shift and business-rule replay with bootstrap
    CIs, the policy's verdict per configuration, and the best one that passes (by the primary
    metric) as the gate's choice; logged and tagged in MLflow, with an HTML report."""
    policy = PromotionPolicy.load(policy_path)
    registry.configure(settings)
    with lake.connect(settings) as con:
        data = holdout_data(con, split, lake.read_catalog(settings))

    version = challenger_run.version
    bundle, _ = registry.load_verified_ranker(settings.ranker_model_name, version)
    views, challenger_metrics = configuration_views(store, bundle, f"challenger v{version}", version, data)
    results = {f"challenger v{version}": challenger_metrics}
    champion = None
    current = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if current is not None and int(current.version) != version:
        champion_bundle, champion_version = registry.load_verified_ranker(
            settings.ranker_model_name, int(current.version)
        )
        serving_as = registry.version_configuration(settings.ranker_model_name, champion_version)
        champion_views, champion_metrics = configuration_views(
            store, champion_bundle, f"champion v{champion_version}", champion_version, data
        )
        champion = champion_views[serving_as]
        results[f"champion v{champion_version}"] = champion_metrics

    thresholds = list(policy.business_thresholds)
    judged = {
        name: _judge(views[name], champion, data.holdout, thresholds, policy, name == TWO_STAGE)
        for name in CONFIGURATIONS
    }
    chosen = choose_configuration(judged, policy.primary_metric)
    comparison, verdict = judged[chosen or TWO_STAGE]
    reason = gate_reason(judged, chosen)
    table = metrics_table(results, k=K)
    header = {
        "challenger": version,
        "champion": champion.version if champion else "none",
        "configuration": chosen or "none passed",
        "holdout": f"{split.holdout_start}..{split.last_day}",
        "users": len(data.truth.users),
    }
    report = write_report(
        report_dir(settings.root, version),
        verdict,
        comparison,
        [*views.values()] + ([champion] if champion else []),
        data.holdout.impression_labels,
        header,
    )
    flat = {
        f"holdout_{'' if population == 'all' else population + '_'}{model}_{name}": value
        for population, by_model in challenger_metrics.items()
        for model, metrics in by_model.items()
        for name, value in metrics.as_dict(K).items()
    }
    _record(settings, challenger_run, chosen, reason, comparison, flat, report)
    return GateOutcome(
        candidate_version=version,
        candidate_run_id=challenger_run.run_id,
        champion_version=champion.version if champion else None,
        passed=chosen is not None,
        reason=reason,
        rules=tuple(verdict.as_dict()["rules"]),
        table=tuple(table.to_dict(orient="records")),
        candidate_ndcg_at_10=float(comparison.get("ndcg_at_10").challenger),
        holdout_users=len(data.truth.users),
        report=str(report),
        comparison=tuple(comparison.frame().to_dict(orient="records")),
        configuration=chosen or "",
        configurations=tuple(
            {
                "configuration": name,
                "passed": v.passed,
                "ndcg_at_10": float(c.get("ndcg_at_10").challenger),
                "reason": v.reason,
            }
            for name, (c, v) in judged.items()
        ),
    )


def _judge(
    view: ModelView,
    champion: ModelView | None,
    holdout: Holdout,
    thresholds: list[float],
    policy: PromotionPolicy,
    two_stage: bool,
) -> tuple[Comparison, Verdict]:
    comparison = compare(view, champion, holdout, thresholds)
    return comparison, decide(comparison, policy, two_stage=two_stage)


def choose_configuration(judged: dict[str, tuple[Comparison, Verdict]], metric: str) -> str | None:
    """The passing configuration with the best ``metric``; on a tie the simpler one (the order of
    ``CONFIGURATIONS``: popularity, then the first stage, then two stages). None if none passed."""
    best, best_value = None, -np.inf
    for name in CONFIGURATIONS:
        comparison, verdict = judged[name]
        value = comparison.get(metric).challenger
        if verdict.passed and np.isfinite(value) and value > best_value:
            best, best_value = name, value
    return best


def gate_reason(judged: dict[str, tuple[Comparison, Verdict]], chosen: str | None) -> str:
    """The chosen configuration's verdict first, then one line per other configuration."""
    lines = []
    if chosen is not None:
        lines.append(f"serves {chosen}: {judged[chosen][1].reason}")
    else:
        lines.append("no configuration passed")
    for name, (comparison, verdict) in judged.items():
        if name == chosen:
            continue
        ndcg = comparison.get("ndcg_at_10").challenger
        state = "passed" if verdict.passed else verdict.reason
        lines.append(f"{name} (NDCG@10 {ndcg:.4f}): {state}")
    return " | ".join(lines)


def _record(
    settings: RelaySettings,
    challenger_run: RankerRun,
    chosen: str | None,
    reason: str,
    comparison: Comparison,
    holdout_metrics: dict[str, float],
    report: Path,
) -> None:
    """The gate's numbers and verdict on the challenger's run, and the verdict on its version."""
    gate = {
        "gate": "passed" if chosen else "refused",
        "gate_reason": reason[:REASON_LIMIT],
        "gate_configuration": chosen or "none",
    }
    with registry.tracked_run(run_id=challenger_run.run_id):
        registry.log_metrics(holdout_metrics)
        registry.log_metrics(
            {f"gate_{row.metric}": row.challenger for row in comparison.rows if np.isfinite(row.challenger)}
        )
        registry.log_artifacts(report.parent, artifact_path="promotion_report")
        registry.set_tags(gate)
    registry.tag_version(settings.ranker_model_name, challenger_run.version, gate)
