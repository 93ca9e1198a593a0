"""What the promotion gate decided, and what the promoter did: the typed results that the
``holdout_evaluation`` and ``champion`` assets pass on, and that ``relay run`` prints."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class GateOutcome:
    """The challenger judged against the champion on the identical holdout."""

    candidate_version: int
    candidate_run_id: str
    champion_version: int | None  # None: there was no champion to compare with
    passed: bool
    reason: str
    rules: tuple[dict, ...] = ()  # one {rule, passed, observed, limit, message} per policy rule
    table: tuple[dict, ...] = ()  # metrics_table records: candidate, model, metric values
    candidate_ndcg_at_10: float = float("nan")
    holdout_users: int = 0
    report: str = ""  # path of the HTML report
    comparison: tuple[dict, ...] = ()  # Comparison.frame() records: metric, challenger, champion, delta, CI
    configuration: str = ""  # the configuration that passed and serves ("" when none passed)
    configurations: tuple[dict, ...] = ()  # one {configuration, passed, ndcg_at_10, predicted_timespent_*, reason}
    offpolicy: tuple[dict, ...] = ()  # OffPolicyLift.as_dict() + configuration, one per configuration and reward

    @property
    def offpolicy_frame(self) -> pd.DataFrame:
        """The predicted online lifts (empty without exploration logs)."""
        return pd.DataFrame.from_records(list(self.offpolicy))

    @property
    def gate(self) -> str:
        """The verdict as the ``gate`` tag spells it."""
        return "passed" if self.passed else "refused"

    @property
    def metrics(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(list(self.table))

    @property
    def comparison_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(list(self.comparison))

    @classmethod
    def from_legacy(cls, stored: dict) -> GateOutcome:
        """The dict the ``holdout_evaluation`` asset returned before typed results."""
        verdict, candidate = stored["verdict"], stored["candidate"]
        return cls(
            candidate_version=int(candidate["version"]),
            candidate_run_id=str(candidate["run_id"]),
            champion_version=int(stored["champion"]["version"]) if stored.get("champion") else None,
            passed=bool(verdict["passed"]),
            reason=str(verdict["reason"]),
            rules=tuple(verdict.get("rules", ())),
            table=tuple(stored.get("table", ())),
            candidate_ndcg_at_10=float(candidate.get("ndcg_at_10", float("nan"))),
            report=str(stored.get("report", "")),
        )


@dataclass(frozen=True)
class PromotionDecision:
    """Whether ``champion`` moved, and to what."""

    promoted: bool
    candidate_version: int
    reason: str
    serving_version: int | None = None  # the champion after the decision (None: still no champion)
    previous_version: int | None = None
    override: bool = False

    @classmethod
    def refused(cls, outcome: GateOutcome) -> PromotionDecision:
        return cls(promoted=False, candidate_version=outcome.candidate_version, reason=outcome.reason)

    @classmethod
    def from_legacy(cls, stored: dict) -> PromotionDecision:
        """The dict the ``champion`` asset returned before typed results."""
        return cls(
            promoted=bool(stored["promote"]),
            candidate_version=int(stored["candidate_version"]),
            reason=str(stored["reason"]),
            serving_version=stored.get("serving_version"),
            previous_version=stored.get("previous_version"),
            override=bool(stored.get("override", False)),
        )
