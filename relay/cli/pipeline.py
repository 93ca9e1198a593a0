"""The pipeline through Dagster: ``relay run``, ``relay demo``, ``relay repair``.

Ctrl-C during any of them ends the command with one line and exit code 130 (see ``interrupts``);
the interrupted Dagster run is recorded as failed in the instance that ``relay ui`` shows.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any

import typer

from core.settings import RelaySettings, get_settings
from relay.cli.console import console, load_settings, metrics_table
from relay.cli.interrupts import stop_on_ctrl_c

if TYPE_CHECKING:
    from orchestration.runner import CycleResult

DEMO_WORLD = {"n_days": 60, "n_users": 2_000, "n_items": 1_000, "seed": 7, "sessions_per_user_day": 0.45}


def _training_config(epochs: int) -> dict[str, Any]:
    return {"ops": {"sasrec_model": {"config": {"epochs": epochs}}}}


def _print_cycle(cycle: CycleResult) -> None:
    console.print(metrics_table(cycle.evaluation.metrics))
    decision = cycle.decision
    console.print(f"[bold]{'PROMOTED' if decision.promoted else 'KEPT CHAMPION'}[/bold]: {decision.reason}")
    _print_configurations(cycle)


def _print_configurations(cycle: CycleResult) -> None:
    """One line per configuration the gate judged, and which one serves."""
    for row in cycle.evaluation.configurations:
        state = "passed" if row["passed"] else "refused"
        console.print(f"  {row['configuration']:<12} NDCG@10 {row['ndcg_at_10']:.4f}  {state}", soft_wrap=True)
    chosen = cycle.evaluation.configuration
    console.print(f"configuration chosen by the gate: [bold]{chosen or 'none passed'}[/bold]", soft_wrap=True)


def run_pipeline(
    first_day: str = typer.Option(None, help="First partition (default: first landed day)."),
    last_day: str = typer.Option(None, help="Last partition (default: last landed day)."),
    epochs: int = typer.Option(30, min=1, help="SASRec epochs (early stopping usually ends sooner)."),
) -> None:
    """Run the data job over a day range and then the training cycle, through Dagster."""
    from core.landing import landed_days

    settings = load_settings()
    days = landed_days(settings.landing_dir)
    if not days:
        raise typer.BadParameter(f"no landing partitions in {settings.landing_dir}; run `relay simulate` first")
    with stop_on_ctrl_c("relay run"):
        from orchestration.runner import run_cycle

        cycle = run_cycle(
            settings, first_day or days[0], last_day or days[-1], training_config=_training_config(epochs)
        )
    console.print(metrics_table(cycle.evaluation.metrics))
    console.print(cycle.decision.reason)
    _print_configurations(cycle)


def demo(
    fresh: bool = typer.Option(False, help="Delete the data directory first."),
    epochs: int = typer.Option(30, min=1, help="SASRec epochs (early stopping usually ends sooner)."),
) -> None:
    """Simulate a world, run the whole pipeline through Dagster, promote a champion, serve it."""
    from core.landing import landed_days

    settings = get_settings()
    if fresh and settings.root.exists():
        shutil.rmtree(settings.root)
    settings.ensure_dirs()
    started = time.perf_counter()
    with stop_on_ctrl_c("relay demo"):
        if not landed_days(settings.landing_dir):
            from relay.cli.world import land_world
            from simulator.world import WorldConfig

            console.rule("1/4 simulate a world")
            land_world(settings, WorldConfig(**DEMO_WORLD, start_date=settings.partitions_start))
        days = landed_days(settings.landing_dir)
        console.rule(f"2/4 Dagster: ingest + features for {days[0]}..{days[-1]}, then the training cycle")
        from orchestration.runner import run_cycle

        cycle = run_cycle(settings, days[0], days[-1], training_config=_training_config(epochs))
        console.rule("3/4 evaluation and promotion")
        _print_cycle(cycle)
        console.rule("4/4 serve a recommendation from the champion")
        _print_recommendations(settings)
    console.print(
        f"\n[green]demo finished in {time.perf_counter() - started:.0f}s[/green]; state is in {settings.root}"
    )
    console.print("Open the UIs:  [bold]make ui[/bold]  (Dagster http://127.0.0.1:3000, MLflow http://127.0.0.1:5000)")
    console.print("Serve the API: [bold].venv/bin/relay serve[/bold]  then  curl 127.0.0.1:8000/recommend/42?k=10")
    console.print(
        "Test a challenger online: [bold].venv/bin/relay abtest --treatment-config clickbait[/bold] "
        "(a simulated A/B test against the champion, with the world's true effect)",
        soft_wrap=True,
    )


def _print_recommendations(settings: RelaySettings) -> None:
    """Ask the champion, over HTTP, for the most active user's and an unknown user's top 10."""
    from core import lake
    from core.events import most_active_user
    from relay.serving_probe import recommend_over_http

    with lake.connect(settings) as con:
        active_user = most_active_user(con)
    for response in recommend_over_http(settings, [active_user, 10**9]):
        items = ", ".join(
            f"{item['item_id']}" + (f" ({item['score']:.3f})" if item["score"] is not None else "")
            for item in response["items"]
        )
        label = f"fallback={response['fallback']}" if response["fallback"] else f"{response['candidates']} candidates"
        console.print(
            f"GET /recommend/{response['user_id']}?k=10 -> model v{response['model_version']} "
            f"(embeddings v{response['embedding_version']}, {label}): {items}"
        )


def repair(
    day: str = typer.Argument(..., help="Partition to re-materialize (YYYY-MM-DD)."),
    accept: bool = typer.Option(False, help="Accept the partition's failing rows/checks explicitly."),
    reason: str = typer.Option("", help="Why the partition is accepted (required with --accept)."),
    by: str = typer.Option("", help="Who accepts it (required with --accept)."),
    retrain: bool = typer.Option(True, help="Run the training cycle afterwards."),
) -> None:
    """Re-materialize a partition and everything downstream of it, after a fix or an explicit override."""
    settings = load_settings()
    if accept and not (reason.strip() and by.strip()):
        raise typer.BadParameter("--accept needs --reason and --by", param_hint="--accept")
    with stop_on_ctrl_c("relay repair"):
        from orchestration.repair import repair_day
        from orchestration.runner import dagster_instance

        result = repair_day(
            settings, day, dagster_instance(settings), accept=(reason, by) if accept else None, retrain=retrain
        )
    if not result.repaired:
        for blocked_day, reasons in result.blocked.items():
            console.print(f"[red]{blocked_day} still blocked[/red]: " + " | ".join(reasons))
        raise typer.Exit(code=1)
    console.print(f"[green]{day} repaired[/green] in runs {', '.join(result.runs)}")
    if result.decision:
        console.print(result.decision.reason)
