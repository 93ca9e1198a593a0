"""What every data rule returns, and the two ways it builds one.

Shared by the statistical rules (``quality.rules``), the semantic rules
(``quality.semantic_rules``) and the contract checks, so a Dagster check renders them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Profile = dict[str, Any]
Thresholds = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class RuleResult:
    passed: bool
    description: str
    column: str | None = None
    metrics: dict[str, float | str] = field(default_factory=dict)


def passed(day: str, what: str, metrics: dict | None = None) -> RuleResult:
    return RuleResult(True, f"partition {day}: {what}", None, metrics or {})


def failed(day: str, column: str | None, what: str, metrics: dict) -> RuleResult:
    """A failure whose description names the partition and, when one is to blame, the column."""
    where = f"column {column}: " if column else ""
    return RuleResult(False, f"partition {day}: {where}{what}", column, metrics)
