"""The per-home thresholds file written by a calibration, and how it is recognised.

The file opens with ``FITTED_MARKER`` and records what the thresholds were fitted on (days,
budget, date) in its header, so ``relay import`` can tell a fitted file from one it may replace,
and a reader can tell what the numbers rest on.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from quality.all_rules import RULES
from quality.calibrate import Calibration

FITTED_MARKER = "# Thresholds fitted on this feed's own history"
FILE_NAME = "quality_thresholds.yaml"


def is_fitted(path: Path) -> bool:
    """Whether ``path`` holds thresholds a calibration fitted (its first line is the marker)."""
    if not path.is_file():
        return False
    with path.open(encoding="utf-8") as stream:
        return stream.readline().startswith(FITTED_MARKER)


def header(calibration: Calibration, fitted_at: str, source: str) -> list[str]:
    """The comment lines recording the data, the budget and the date of a fit."""
    days, budget = calibration.fit_days, calibration.budget
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    floor = "widening the repository defaults only" if budget.widen_only else "tightening allowed"
    return [
        f"{FITTED_MARKER} by `{source}`; `relay import` leaves this file alone.",
        f"# fitted on: {len(days)} days, {span} (the {budget.weeks} weeks up to {days[-1] if days else '-'})",
        f"# budget: {budget.alarms_per_quarter:g} false alarm(s) per quarter across all rules "
        f"({len(calibration.fitted)} thresholds, {budget.tail_probability:.2e} each per day), {floor}",
        f"# fitted at: {fitted_at}",
        "# Every rule is on. Keys not listed keep quality/thresholds.yaml's values; by_weekday holds a",
        "# rule's per-weekday values (the plain value is the loosest weekday).",
    ]


def sections(calibration: Calibration) -> dict[str, dict]:
    """Every rule enabled, with the keys whose fitted value differs from its default."""
    body: dict[str, dict] = {rule: {"enabled": True} for rule in RULES}
    for fitted in calibration.fitted:
        if fitted.value != fitted.default:
            body[fitted.rule][fitted.key] = fitted.value
            if fitted.by_weekday is not None:
                weekdays = body[fitted.rule].setdefault("by_weekday", {})
                for weekday, value in fitted.by_weekday.items():
                    weekdays.setdefault(weekday, {})[fitted.key] = value
    return body


def render(calibration: Calibration, fitted_at: str, source: str = "relay quality calibrate") -> str:
    lines = header(calibration, fitted_at, source)
    return "\n".join(lines) + "\n" + yaml.safe_dump(sections(calibration), sort_keys=False, default_flow_style=None)


def write_fitted(root: Path, calibration: Calibration, fitted_at: str, source: str = "relay quality calibrate") -> Path:
    """Replace ``<root>/quality_thresholds.yaml`` with the fitted thresholds."""
    path = root / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".yaml.tmp")
    temporary.write_text(render(calibration, fitted_at, source), encoding="utf-8")
    temporary.replace(path)
    return path
