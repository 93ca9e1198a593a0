"""Judge a challenger: it and the champion on the identical holdout, compared, decided by the policy.

Everything the gate saw is recorded where people look for it: the metrics and the verdict on
the challenger's MLflow run, the verdict as tags of its registered version, an HTML report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from feast import FeatureStore

from core import lake
from core.settings import RelaySettings
from evaluation.comparison import Comparison, Holdout, ModelView, compare
from evaluation.holdout import K, configuration_views, holdout_data
from evaluation.lists import metrics_table
from promotion.outcome import GateOutcome
from promotion.policy import (
    DEFAULT_POLICY,
    GOAL_REWARD,
    NO_EXPLORATION_LOGS,
    OFFPOLICY_RULE,
    PromotionPolicy,
    Verdict,
    decide,
)
from promotion.report import report_dir, write_report
from training import registry
from training.ranker.bundle import CONFIGURATIONS, TWO_STAGE
from training.ranker.run import RankerRun
from training.split import TemporalSplit

if TYPE_CHECKING:
    from evaluation.offpolicy import OffPolicyLift

REASON_LIMIT = 5000  # MLflow caps a tag value at 5000 characters


def judge_challenger(
    settings: RelaySettings,
    store: FeatureStore,
    challenger_run: RankerRun,
    split: TemporalSplit,
    policy_path: Path = DEFAULT_POLICY,
    offpolicy: Mapping[str, Mapping[str, OffPolicyLift]] | None = None,
    policy: PromotionPolicy | None = None,
) -> GateOutcome:
    """Each configuration of the challenger (popularity, the first stage alone, the two-stage
    model) against the champion as it serves, on the identical holdout and served lists:
    accuracy, beyond-accuracy, calibration, score shift and business-rule replay with bootstrap
    CIs, the policy's verdict per configuration, and the best one that passes (by the primary
    metric) as the gate's choice; logged and tagged in MLflow, with an HTML report.

    ``offpolicy`` maps a configuration to its predicted online lifts against the champion
    ({"timespent": ..., "click": ...}) from exploration logs; the policy's goal rule judges them.
    ``policy`` (e.g. ``PromotionPolicy.proxy_only()``) overrides the file at ``policy_path``."""
    policy = policy or PromotionPolicy.load(policy_path)
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
        name: _judge(
            views[name],
            champion,
            data.holdout,
            thresholds,
            policy,
            name == TWO_STAGE,
            *configuration_lifts(offpolicy, name),
        )
        for name in CONFIGURATIONS
    }
    chosen = choose_configuration(judged, policy.primary_metric)
    comparison, verdict = judged[chosen or TWO_STAGE]
    reason = gate_reason(judged, chosen)
    table = metrics_table(results, k=K)
    header: dict[str, object] = {
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
    _record(settings, challenger_run, chosen, reason, comparison, flat, report, verdict)
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
                "predicted_timespent_lift": _goal(v, "relative_lift"),
                "predicted_timespent_ci_low": _goal(v, "relative_ci_low"),
                "reason": v.reason,
            }
            for name, (c, v) in judged.items()
        ),
        offpolicy=tuple(
            {**lift.as_dict(), "configuration": name, "reward": reward}
            for name, (_, v) in judged.items()
            for reward, lift in v.offpolicy.items()
        ),
    )


def configuration_lifts(
    offpolicy: Mapping[str, Mapping[str, OffPolicyLift]] | None, name: str
) -> tuple[Mapping[str, OffPolicyLift] | None, str]:
    """The configuration's predicted lifts, and why there are none when there are none."""
    if offpolicy is None:
        return None, NO_EXPLORATION_LOGS
    if name not in offpolicy:
        return None, f"no off-policy estimate for {name} (estimated: {', '.join(offpolicy) or 'none'})"
    return offpolicy[name], NO_EXPLORATION_LOGS


def _goal(verdict: Verdict, field: str) -> float:
    """A field of the predicted goal lift, NaN without one (a column of the configurations table)."""
    lift = verdict.offpolicy.get(GOAL_REWARD)
    return float(getattr(lift, field)) if lift is not None else float("nan")


def _judge(
    view: ModelView,
    champion: ModelView | None,
    holdout: Holdout,
    thresholds: list[float],
    policy: PromotionPolicy,
    two_stage: bool,
    offpolicy: Mapping[str, OffPolicyLift] | None = None,
    absent: str = NO_EXPLORATION_LOGS,
) -> tuple[Comparison, Verdict]:
    comparison = compare(view, champion, holdout, thresholds)
    return comparison, decide(comparison, policy, two_stage=two_stage, offpolicy=offpolicy, absent=absent)


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
    verdict: Verdict,
) -> None:
    """The gate's numbers and verdict on the challenger's run, and the verdict on its version;
    the off-policy goal rule and the predicted online lifts of the reported configuration too."""
    gate: dict[str, object] = {
        "gate": "passed" if chosen else "refused",
        "gate_reason": reason[:REASON_LIMIT],
        "gate_configuration": chosen or "none",
        **offpolicy_tags(verdict),
    }
    with registry.tracked_run(run_id=challenger_run.run_id):
        registry.log_metrics(holdout_metrics)
        registry.log_metrics(
            {f"gate_{row.metric}": row.challenger for row in comparison.rows if np.isfinite(row.challenger)}
        )
        registry.log_metrics(offpolicy_metrics(verdict))
        registry.log_artifacts(report.parent, artifact_path="promotion_report")
        registry.set_tags(gate)
    registry.tag_version(settings.ranker_model_name, challenger_run.version, gate)


def offpolicy_tags(verdict: Verdict) -> dict[str, str]:
    """``gate_offpolicy_goal``: the goal rule's result as the run and the version show it (none
    under a proxy-only policy or for a first model, where the rule does not exist)."""
    rule = verdict.rule(OFFPOLICY_RULE)
    if rule is None:
        return {}
    return {"gate_offpolicy_goal": f"{'ok' if rule.passed else 'FAILED'}: {rule.message}"[:REASON_LIMIT]}


def offpolicy_metrics(verdict: Verdict) -> dict[str, float]:
    """``gate_ope_<reward>_<field>``: the predicted online lifts, their CIs, support and ESS."""
    fields = (
        *("lift", "lift_ci_low", "lift_ci_high", "relative_lift", "relative_ci_low", "relative_ci_high"),
        *("support_control", "support_treatment", "ess_control", "ess_treatment", "n_sessions"),
    )
    values = {
        f"gate_ope_{reward}_{name}": float(getattr(lift, name))
        for reward, lift in verdict.offpolicy.items()
        for name in fields
    }
    return {key: value for key, value in values.items() if np.isfinite(value)}
