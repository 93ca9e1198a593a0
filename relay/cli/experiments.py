"""``relay abtest``: a frozen treatment against the champion in the simulated world; ``relay
explore``: the champion's exploration log; ``relay catchup``: a new SASRec architecture trained
by a catch-up strategy and run through the rest of the cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from relay.cli.console import console, load_settings

if TYPE_CHECKING:
    from experiments.abtest import ABTestResult
    from orchestration.experiment_runner import CatchupOutcome


def abtest(
    treatment: int = typer.Option(None, help="Treatment ranker version (registered, not necessarily promoted)."),
    treatment_config: str = typer.Option(
        None, help="Train the treatment first from a named variant (experiments/variants.py), e.g. clickbait."
    ),
    control: int = typer.Option(None, help="Control version (default: the champion)."),
    days: int = typer.Option(5, min=1, help="Simulated days after the world's history."),
    share: float = typer.Option(0.5, min=0.01, max=0.99, help="Share of users in the treatment arm."),
    seed: int = typer.Option(0, help="Salts the user split and the world's responses."),
) -> None:
    """Serve two frozen versions to hashed user arms through the real request path, for N
    simulated days; report proxy and goal effects with 95% CIs, and the true effect."""
    from experiments.abtest import ABTestConfig
    from orchestration.experiment_runner import run_abtest_job, train_challenger

    settings = load_settings()
    if (treatment is None) == (treatment_config is None):
        raise typer.BadParameter("give exactly one of --treatment VERSION or --treatment-config NAME")
    if treatment_config is not None:
        console.rule(f"training the {treatment_config!r} variant as a challenger (never promoted)")
        outcome = train_challenger(settings, treatment_config)
        treatment = outcome.candidate_version
        console.print(f"registered v{treatment}; the gate says: {outcome.gate} ({outcome.reason})", soft_wrap=True)
    console.rule(f"A/B test: v{treatment} against {'the champion' if control is None else f'v{control}'}")
    result = run_abtest_job(
        settings, ABTestConfig(treatment=treatment, control=control, days=days, share=share, seed=seed)
    )
    print_abtest(result)


def print_abtest(result: ABTestResult) -> None:
    arms = Table(title=f"A/B test {result.first_day}..{result.last_day}: per arm")
    columns = ("version", "configuration", "users", "active_users", "ctr", "clicks_per_user")
    columns += ("timespent_per_active_user", "goal_per_user", "retention")
    arms.add_column("arm")
    for column in columns:
        arms.add_column(column.replace("_", " "), justify="right")
    for name, arm in result.arms.items():
        values = [getattr(arm, c) for c in columns]
        arms.add_row(name, *(f"{v:.4f}" if isinstance(v, float) else str(v) for v in values))
    effects = Table(title="treatment − control (95% CI, user bootstrap)")
    for column in ("metric", "control", "treatment", "relative", "95% CI", "verdict"):
        effects.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for effect in result.effects.values():
        effects.add_row(
            effect.metric,
            f"{effect.control:.4f}",
            f"{effect.treatment:.4f}",
            f"{effect.relative:+.2%}",
            f"[{effect.relative_ci_low:+.2%}, {effect.relative_ci_high:+.2%}]",
            effect.verdict,
        )
    console.print(arms)
    console.print(effects)
    truth = result.truth
    console.print(
        f"true effect ({truth.users} users, the world's expected values): proxy {truth.proxy_relative:+.2%} "
        f"({truth.proxy_verdict}), goal {truth.goal_relative:+.2%} ({truth.goal_verdict})",
        soft_wrap=True,
    )
    console.print(
        f"verdict: proxy {result.proxy_verdict}, goal {result.goal_verdict}; "
        f"MLflow run {result.mlflow_run_id}; {result.directory}/result.json",
        soft_wrap=True,
    )


TUNED_REQUESTS = 10_000  # about what promotion/policy.yaml's offpolicy_goal_margin was chosen with


def explore(
    days: int = typer.Option(3, min=1, help="Simulated days of exploration after the world's history."),
    temperature: float = typer.Option(1.0, min=0.01, help="Plackett-Luce temperature on the champion's score logits."),
    seed: int = typer.Option(0, help="Seeds the world's responses and the sampled slates."),
) -> None:
    """Let the champion explore in the simulated world and keep the log (with each request's
    candidate marginals) that the promotion gate's off-policy goal rule estimates from."""
    from experiments.offpolicy import explore_into

    settings = load_settings()
    log, directory = explore_into(settings, days, seed, temperature)
    logged = log.logged
    console.print(
        f"champion v{log.logging_version} explored {logged.n_sessions:,} requests "
        f"({len(log.shown):,} impressions, {int(logged.click.sum()):,} clicks); log in {directory}",
        soft_wrap=True,
    )
    console.print("the next `relay run` judges its challenger's predicted online goal from it", soft_wrap=True)
    if logged.n_sessions < TUNED_REQUESTS:
        console.print(
            f"[yellow]note:[/yellow] the gate's off-policy margin was tuned with ~{TUNED_REQUESTS:,} logged requests; "
            f"the CIs narrow as 1/sqrt(requests), so with {logged.n_sessions:,} they are about "
            f"{(TUNED_REQUESTS / logged.n_sessions) ** 0.5:.1f}x as wide and the gate refuses more challengers: "
            "explore for more days to judge closer ones",
            soft_wrap=True,
        )


def catchup(
    arch: str = typer.Option(
        ..., help="The challenger's architecture, e.g. sasrec_side (training/catchup/architectures.py)."
    ),
    strategy: str = typer.Option(
        ..., help="How it catches up with the champion's SASRec: scratch, recent, distill, transfer or combined."
    ),
    recent_days: int = typer.Option(None, min=1, help="Days trained on by recent/transfer (true targets: distill)."),
    replay_days: int = typer.Option(None, min=1, help="Days the teacher's soft targets reach back (combined)."),
) -> None:
    """Train a new SASRec architecture by a catch-up strategy, the champion's SASRec as teacher,
    then run the rest of the cycle on it through Dagster: embeddings backfilled over the ranker's
    window, the ranker retrained on them, the promotion gate (promoted only if it passes)."""
    from training.catchup.run import CatchupLaunch

    given = {"catchup_recent_days": recent_days, "catchup_replay_days": replay_days}
    launch = CatchupLaunch(
        catchup_arch=arch, catchup_strategy=strategy, **{k: v for k, v in given.items() if v is not None}
    )
    try:
        launch.config()
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    settings = load_settings()
    from orchestration.experiment_runner import run_catchup

    console.rule(f"catch-up: {arch} by {strategy}, the champion's SASRec as teacher")
    try:
        outcome = run_catchup(settings, launch)
    except RuntimeError as error:  # a step other than the gate failed: nothing new serves
        console.print(f"[red]{error}[/red]", soft_wrap=True)
        raise typer.Exit(1) from error
    print_catchup(outcome)


def print_catchup(outcome: CatchupOutcome) -> None:
    sasrec, ranker, evaluation, decision = outcome.sasrec, outcome.ranker, outcome.evaluation, outcome.decision
    teacher = f"v{sasrec.teacher_version}" if sasrec.teacher_version is not None else "none"
    table = Table(title=f"catch-up: relay-sasrec v{sasrec.version} ({sasrec.arch} by {sasrec.strategy})")
    table.add_column("")
    table.add_column("value", justify="right")
    rows = {
        "teacher (incumbent relay-sasrec)": teacher,
        "validation NDCG@10 (challenger)": f"{sasrec.best_metrics.get('val_ndcg_at_10', float('nan')):.4f}",
        "validation NDCG@10 (incumbent, same users)": f"{sasrec.incumbent_val_ndcg_at_10:.4f}",
        "training CPU-seconds": f"{sasrec.cpu_s:,.1f}",
        "training FLOPs": f"{sasrec.flops:.3g}",
        "sequences trained": f"{sasrec.sequences:,}",
        "embedding version": str(outcome.embedding_version),
        "ranker version": f"v{ranker.version}",
    }
    for name, value in rows.items():
        table.add_row(name, value)
    console.print(table)
    console.print(f"curve: {sasrec.curve} (MLflow run {sasrec.run_id})", soft_wrap=True)
    console.print(f"gate: {evaluation.gate} ({evaluation.reason})", soft_wrap=True)
    verdict = "PROMOTED" if decision.promoted else "KEPT CHAMPION"
    console.print(f"[bold]{verdict}[/bold]: {decision.reason}; Dagster run {outcome.run_id}", soft_wrap=True)
