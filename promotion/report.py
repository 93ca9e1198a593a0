"""The promotion report: the verdict, every compared metric with its CI, and the plots people
would rather look at than read, as one self-contained HTML file (plus JSON for `relay report`)."""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evaluation.comparison import Comparison, Difference, ModelView
from promotion.policy import GOAL_REWARD, NO_EXPLORATION_LOGS, OFFPOLICY_RULE, PROXY_REWARD, RuleOutcome, Verdict
from training.calibration import plot_reliability

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from evaluation.offpolicy import OffPolicyLift

VERDICT_FILE = "verdict.json"
ONLINE_LIFT_ID = "online-lift"  # the section a browser test looks for
MEASURES = (  # (key, label): the offline proxy, then the off-policy proxy and goal, side by side
    ("ndcg_at_10", "offline proxy: NDCG@10 on the holdout"),
    (PROXY_REWARD, "OPE proxy: clicks/slate"),
    (GOAL_REWARD, "OPE goal: timespent/slate"),
)


def _png(figure) -> str:
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return base64.b64encode(buffer.getvalue()).decode()


def _histograms(views: list[ModelView]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, 1, 41)
    for view in views:
        scores = view.candidate_scores[np.isfinite(view.candidate_scores)]
        axis.hist(np.clip(scores, 0, 1), bins=bins, alpha=0.5, density=True, label=f"{view.label}")
    axis.set_xlabel("calibrated score of retrieved candidates")
    axis.set_ylabel("density")
    axis.legend()
    figure.tight_layout()
    return figure


def _deltas(comparison: Comparison):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = comparison.frame().dropna(subset=["delta"])
    figure, axis = plt.subplots(figsize=(6, 0.4 * max(len(frame), 3) + 1))
    y = np.arange(len(frame))
    errors = np.vstack([frame["delta"] - frame["ci_low"], frame["ci_high"] - frame["delta"]]).clip(min=0)
    axis.errorbar(frame["delta"], y, xerr=errors, fmt="o", capsize=3)
    axis.axvline(0, color="grey", linewidth=1)
    axis.set_yticks(y, frame["metric"])
    axis.set_xlabel("challenger - champion (95% bootstrap CI)")
    figure.tight_layout()
    return figure


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class LiftRow:
    """One measure of challenger vs champion: the offline proxy, or a predicted online lift."""

    measure: str
    reward: str  # "ndcg_at_10" (offline), or the OffPolicyLift's reward
    estimator: str
    control: float | None
    treatment: float | None
    lift: float | None
    lift_ci_low: float | None
    lift_ci_high: float | None
    relative_lift: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    verdict: str
    refusal: str | None = None
    support_control: float | None = None
    support_treatment: float | None = None
    ess_control: float | None = None
    ess_treatment: float | None = None
    n_sessions: int | None = None

    @classmethod
    def offline(cls, ndcg: Difference) -> LiftRow:
        """The holdout NDCG@10 delta, made relative to the champion so it shares the lifts' axis."""
        champion, delta = _finite(ndcg.champion), _finite(ndcg.delta)
        low, high = _finite(ndcg.ci_low), _finite(ndcg.ci_high)

        def relative(value: float | None) -> float | None:
            return value / champion if value is not None and champion else None

        if champion is None:
            verdict = "no champion"
        elif low is None or high is None:
            verdict = "no CI"
        else:  # the rule the off-policy verdicts use: the 95% CI against 0
            verdict = "win" if low > 0 else "loss" if high < 0 else "no difference"
        return cls(
            MEASURES[0][1],
            MEASURES[0][0],
            "paired bootstrap",
            champion,
            _finite(ndcg.challenger),
            delta,
            low,
            high,
            relative(delta),
            relative(low),
            relative(high),
            verdict,
        )

    @classmethod
    def predicted(cls, label: str, lift: OffPolicyLift) -> LiftRow:
        return cls(
            label,
            lift.reward,
            lift.estimator,
            _finite(lift.control.value),
            _finite(lift.treatment.value),
            _finite(lift.lift),
            _finite(lift.lift_ci_low),
            _finite(lift.lift_ci_high),
            _finite(lift.relative_lift),
            _finite(lift.relative_ci_low),
            _finite(lift.relative_ci_high),
            lift.verdict or "no verdict",
            lift.refusal,
            _finite(lift.support_control),
            _finite(lift.support_treatment),
            _finite(lift.ess_control),
            _finite(lift.ess_treatment),
            int(lift.n_sessions),
        )


@dataclass(frozen=True)
class OnlineLift:
    """The offline proxy delta and the predicted online lifts (proxy and goal) side by side, with
    a sentence on what the gate made of them: what people read to see whether offline and predicted
    online agree, and what `relay report` prints from the JSON."""

    rows: tuple[LiftRow, ...]
    note: str
    goal_rule: RuleOutcome | None  # None: proxy-only policy, or a first model
    has_estimate: bool

    @property
    def goal_margin(self) -> float | None:
        return None if self.goal_rule is None or self.goal_rule.limit is None else -self.goal_rule.limit

    def as_dict(self) -> dict:
        return {
            "rows": [asdict(row) for row in self.rows],
            "note": self.note,
            "goal_rule": None if self.goal_rule is None else asdict(self.goal_rule),
            "goal_margin": self.goal_margin,
            "has_estimate": self.has_estimate,
        }


def online_lift(comparison: Comparison, verdict: Verdict) -> OnlineLift:
    """What the report's online-lift section shows, from the comparison and the verdict's lifts."""
    rows = [LiftRow.offline(comparison.get("ndcg_at_10"))]
    lifts = verdict.offpolicy
    rows += [LiftRow.predicted(label, lifts[key]) for key, label in MEASURES[1:] if key in lifts]
    rule = verdict.rule(OFFPOLICY_RULE)
    goal = verdict.offpolicy.get(GOAL_REWARD)
    if goal is not None:
        if rule is None:
            gate = "the gate has no goal rule here (proxy-only policy, or no champion)"
        else:
            gate = f"goal rule {'ok' if rule.passed else 'FAILED'}: {rule.message}"
        refusal = f" ({goal.refusal})" if goal.verdict is None and goal.refusal else ""
        note = f"Predicted online lift in timespent/slate: {goal.verdict or 'no verdict'}{refusal}; {gate}."
    else:
        why = rule.message.removeprefix("not applied: ") if rule is not None else NO_EXPLORATION_LOGS
        note = f"No off-policy estimate of the online lift: {why}. The gate judged the offline proxy metrics only."
    return OnlineLift(tuple(rows), note, rule, bool(verdict.offpolicy))


def _forest(rows: list[LiftRow], margin: float | None) -> Figure:
    """Relative lifts with their 95% CIs on one axis, so NDCG, clicks and timespent compare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 0.55 * max(len(rows), 2) + 1.2))
    for y, row in zip(range(len(rows) - 1, -1, -1), rows, strict=True):
        assert row.relative_lift is not None and row.relative_ci_low is not None and row.relative_ci_high is not None
        point = 100 * row.relative_lift
        errors = [[max(point - 100 * row.relative_ci_low, 0)], [max(100 * row.relative_ci_high - point, 0)]]
        colour = "tab:grey" if row.reward == "ndcg_at_10" else "tab:blue"
        axis.errorbar([point], [y], xerr=errors, fmt="o", capsize=4, color=colour)
    axis.axvline(0, color="grey", linewidth=1)
    if margin is not None:
        axis.axvline(-100 * margin, color="tab:red", linestyle="--", linewidth=1, label="goal margin")
        axis.legend(loc="lower right", fontsize="small")
    axis.set_yticks(range(len(rows) - 1, -1, -1), [row.measure for row in rows])
    axis.set_xlabel("challenger vs champion: relative lift in % (95% CI)")
    figure.tight_layout()
    return figure


def _online_lift_html(section: OnlineLift, image: str | None) -> str:
    def number(value: float | None, percent: bool = False) -> str:
        return "" if value is None else f"{value:+.2%}" if percent else f"{value:.4f}"

    def interval(point: float | None, low: float | None, high: float | None, percent: bool) -> str:
        ci = f" [{number(low, percent)}, {number(high, percent)}]" if low is not None and high is not None else ""
        return "" if point is None else number(point, percent) + ci

    def pair(control: float | None, treatment: float | None, spec: str) -> str:
        shown = ["?" if value is None else f"{value:{spec}}" for value in (control, treatment)]
        return "" if control is None and treatment is None else " / ".join(shown)

    table = pd.DataFrame(
        [
            {
                "measure": row.measure,
                "estimator": row.estimator,
                "champion": number(row.control),
                "challenger": number(row.treatment),
                "lift (95% CI)": interval(row.lift, row.lift_ci_low, row.lift_ci_high, False),
                "relative lift (95% CI)": interval(row.relative_lift, row.relative_ci_low, row.relative_ci_high, True),
                "verdict": row.verdict + (f": {row.refusal}" if row.refusal else ""),
                "support (champion / challenger)": pair(row.support_control, row.support_treatment, ".0%"),
                "ESS (champion / challenger)": pair(row.ess_control, row.ess_treatment, ".0f"),
                "sessions": "" if row.n_sessions is None else str(row.n_sessions),
            }
            for row in section.rows
        ]
    ).to_html(index=False, na_rep="")
    plot = f'<img alt="forest plot of the lifts" src="data:image/png;base64,{image}">' if image else ""
    return (
        f'<section id="{ONLINE_LIFT_ID}"><h2>Predicted online lift (off-policy)</h2>'
        f"<p>{html.escape(section.note)}</p>{table}{plot}</section>"
    )


def write_report(
    directory: Path,
    verdict: Verdict,
    comparison: Comparison,
    views: list[ModelView],
    labels: np.ndarray,
    header: dict[str, object],
) -> Path:
    """Write ``report.html`` and ``verdict.json`` into ``directory``; returns the HTML path."""
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    reliability = directory / "reliability.png"
    plot_reliability(
        {v.label: (v.impression_scores, labels) for v in views}, reliability, "reliability on the holdout impressions"
    )
    images = {"reliability": base64.b64encode(reliability.read_bytes()).decode(), "scores": _png(_histograms(views))}
    if any(row.delta is not None for row in comparison.rows):
        images["deltas"] = _png(_deltas(comparison))
    lift = online_lift(comparison, verdict)
    plotted = [row for row in lift.rows if row.relative_ci_low is not None and row.relative_ci_high is not None]
    if lift.has_estimate and any(row.reward != "ndcg_at_10" for row in plotted):
        images["online_lift"] = _png(_forest(plotted, lift.goal_margin))
    plt.close("all")
    table = comparison.frame().to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")
    rules = pd.DataFrame([vars(rule) for rule in verdict.rules]).to_html(index=False, na_rep="")
    status = "PROMOTABLE" if verdict.passed else "REFUSED"
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Relay promotion report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}} .refused{{color:#b00}} .passed{{color:#070}}</style></head><body>
<h1>Promotion report: <span class="{"passed" if verdict.passed else "refused"}">{status}</span></h1>
<p>{" · ".join(f"{k}: {v}" for k, v in header.items())}</p><p>{verdict.reason}</p>
<h2>Guardrails</h2>{rules}
{_online_lift_html(lift, images.get("online_lift"))}
<h2>Metrics (challenger vs champion, paired bootstrap 95% CI)</h2>{table}
<h2>Reliability</h2><img src="data:image/png;base64,{images["reliability"]}">
<h2>Score distributions</h2><img src="data:image/png;base64,{images["scores"]}">
{f'<h2>Metric deltas</h2><img src="data:image/png;base64,{images["deltas"]}">' if "deltas" in images else ""}
</body></html>"""
    path = directory / "report.html"
    path.write_text(html)
    payload = {
        "header": header,
        "verdict": verdict.as_dict(),
        "comparison": comparison.frame().to_dict(orient="records"),
        "diagnostics": comparison.diagnostics,
        "online_lift": lift.as_dict(),
    }
    (directory / VERDICT_FILE).write_text(json.dumps(payload, indent=2, default=str))
    return path


def report_dir(root: Path, version: int) -> Path:
    """Where the gate's report on ranker ``version`` lives under the data directory ``root``."""
    return root / "reports" / f"ranker-v{version}"


def find_report(root: Path, version: int | None = None) -> Path | None:
    """The report folder of ``version``, or of the newest evaluated version; None if there is none."""
    folders = sorted((root / "reports").glob("ranker-v*"), key=lambda p: int(p.name.removeprefix("ranker-v")))
    if version is not None:
        folders = [f for f in folders if f == report_dir(root, version)]
    return folders[-1] if folders else None


def read_verdict(directory: Path) -> dict:
    return json.loads((directory / VERDICT_FILE).read_text())
