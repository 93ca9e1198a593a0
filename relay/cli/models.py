"""The registered models: ``relay report`` (the promotion gate's verdict) and ``relay rollback``."""

from __future__ import annotations

import typer
from rich.table import Table

from relay.cli.console import console, load_settings


def _number(value: object) -> str:
    return "" if value is None or value != value else f"{value:.4f}"  # NaN (no champion) prints empty


def report(version: int = typer.Option(None, help="Ranker version (default: the newest evaluated).")) -> None:
    """Print the promotion gate's verdict on a challenger: every guardrail and every metric with its CI."""
    from promotion.report import find_report, read_verdict

    settings = load_settings()
    folder = find_report(settings.root, version)
    if folder is None:
        raise typer.BadParameter(
            f"no promotion report{f' for v{version}' if version else ''} in {settings.root / 'reports'}"
        )
    payload = read_verdict(folder)
    verdict = payload["verdict"]
    header = " · ".join(f"{k}: {v}" for k, v in payload["header"].items())
    console.print(f"[bold]{'PROMOTABLE' if verdict['passed'] else 'REFUSED'}[/bold] — {header}", soft_wrap=True)
    rules = Table(title="guardrails")
    for column in ("rule", "result", "what it saw"):
        rules.add_column(column, overflow="fold")
    for rule in verdict["rules"]:
        rules.add_row(rule["rule"], "[green]ok[/green]" if rule["passed"] else "[red]FAILED[/red]", rule["message"])
    console.print(rules)
    metrics = Table(title="challenger vs champion (paired bootstrap 95% CI)")
    for column in ("metric", "challenger", "champion", "delta", "95% CI"):
        metrics.add_column(column, justify="left" if column == "metric" else "right")
    for row in payload["comparison"]:
        ci = f"[{_number(row['ci_low'])}, {_number(row['ci_high'])}]" if row["ci_low"] is not None else ""
        metrics.add_row(row["metric"], _number(row["challenger"]), _number(row["champion"]), _number(row["delta"]), ci)
    console.print(metrics)
    _print_online_lift(payload.get("online_lift"))
    console.print(f"full report: {folder / 'report.html'}")


def _percent(value: object) -> str:
    return "" if value is None or value != value else f"{value:+.2%}"


def _print_online_lift(online: dict | None) -> None:
    """The offline proxy and the predicted online proxy and goal, side by side (reports written
    before off-policy estimates have none)."""
    if not online:
        return
    table = Table(title="offline proxy vs predicted online lift (95% CI)")
    for column in ("measure", "estimator", "relative lift", "95% CI", "verdict", "support", "ESS"):
        table.add_column(column, justify="left" if column in ("measure", "estimator", "verdict") else "right")
    for row in online.get("rows", []):
        ci = f"[{_percent(row.get('relative_ci_low'))}, {_percent(row.get('relative_ci_high'))}]"
        support, ess = row.get("support_treatment"), row.get("ess_treatment")
        table.add_row(
            row["measure"],
            row["estimator"],
            _percent(row.get("relative_lift")),
            ci,
            row.get("refusal") or row["verdict"],
            "" if support is None else f"{support:.0%}",
            "" if ess is None else f"{ess:,.0f}",
        )
    console.print(table)
    if online.get("note"):
        console.print(online["note"], soft_wrap=True)


def rollback(reason: str = typer.Option("manual rollback", help="Why (recorded on the version).")) -> None:
    """Restore the previous champion (champion and previous swap)."""
    from promotion.promoter import rollback as swap
    from training import registry

    settings = load_settings()
    registry.configure(settings)
    try:
        move = swap(settings, reason)
    except RuntimeError as error:
        raise typer.BadParameter(str(error)) from error
    console.print(
        f"champion is v{move.champion} again (previous: v{move.previous}); "
        "running servers swap to it within RELAY_SERVING_POLL_S seconds"
    )
